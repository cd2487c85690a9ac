#!/bin/sh
# One-directional layering of ngx_echo_module/ (ARCHITECTURE.md, "Module
# layering"): a file may include the mesh headers of its own layer and of
# the layers below, never one above.  Every file of the module must be
# listed here, so a new file gets a layer when it is added.
#
# Calls are checked too: a lower file naming a function that a higher
# file defines fails, whatever it declared to get there.
#
#   tools/check-layering.sh [module-dir]     exit 0: clean, 1: violations
#   tools/check-layering.sh --self-test      proves that violations fail

self=$0

if [ "$1" = --self-test ]; then
    src=$(dirname "$0")/../ngx_echo_module
    tmp=$(mktemp -d) || exit 1
    trap 'rm -rf "$tmp"' EXIT
    fails=0

    for how in include call; do
        rm -rf "$tmp/m" && mkdir "$tmp/m" || exit 1
        cp "$src"/ngx_http_mesh_*.[ch] "$tmp/m/" || exit 1

        # the registry (layer 1) reaching up into the queue (layer 5)
        if [ $how = include ]; then
            printf '#include "ngx_http_mesh_queue.h"\n' \
                >> "$tmp/m/ngx_http_mesh_registry.c"
        else
            printf 'void ngx_http_mesh_queue_wake(void);\n%s\n' \
                'static void f(void) { ngx_http_mesh_queue_wake(); }' \
                >> "$tmp/m/ngx_http_mesh_registry.c"
        fi

        if sh "$self" "$tmp/m" > /dev/null 2>&1; then
            echo "check-layering: self-test: a $how upwards passed" >&2
            fails=1
        fi
    done

    sh "$self" "$src" > /dev/null 2>&1 || {
        echo "check-layering: self-test: the module itself fails" >&2
        fails=1
    }

    [ $fails -eq 0 ] && echo "check-layering: self-test passed"
    exit $fails
fi

dir=${1:-$(dirname "$0")/../ngx_echo_module}

# layer of a file, by its name without ngx_http_mesh_ and extension
layer() {
    case $1 in
    module.h|caps|util|zone|json|ndjson|parse_core|parse|parse_feed) echo 0 ;;
    sse)                                                         echo 0 ;;
    reply|body|ws|pipeline_parse|sign|stats|keys|grpc_codec)     echo 0 ;;
    hmac)                                                        echo 0 ;;
    registry|router)                                             echo 1 ;;
    redis)                                                       echo 2 ;;
    sync|events)                                                 echo 3 ;;
    dispatch)                                                    echo 4 ;;
    queue)                                                       echo 5 ;;
    task|balancer|filter|pipeline|vars)                          echo 6 ;;
    api|node_api|tags|status|pipeline_api|feed|openai|metrics)   echo 7 ;;
    grpc)                                                        echo 7 ;;
    module.c)                                                    echo 8 ;;
    *)                                                           echo "" ;;
    esac
}

# ngx_http_mesh_module.h is shared declarations, its .c the top of all
name() {
    n=${1#ngx_http_mesh_}
    case $n in
    module.h|module.c) echo "$n" ;;
    *)                 echo "${n%.[ch]}" ;;
    esac
}

rc=0

# every function a .c defines at the start of a line, with the file's layer
defs=$(mktemp) || exit 1
trap 'rm -f "$defs"' EXIT

for path in "$dir"/ngx_http_mesh_*.c; do
    file=$(basename "$path")
    sed -n "s/^\(ngx_http_mesh_[a-z0-9_]*\)(.*/\1 $file/p" "$path"
done > "$defs"

for path in "$dir"/ngx_http_mesh_*.[ch]; do
    file=$(basename "$path")
    own=$(layer "$(name "$file")")

    if [ -z "$own" ]; then
        echo "check-layering: $file has no layer in $0" >&2
        rc=1
        continue
    fi

    for inc in $(sed -n 's/^#include "\(ngx_http_mesh_[a-z_]*\.h\)".*/\1/p' \
                 "$path")
    do
        other=$(layer "$(name "$inc")")

        if [ -z "$other" ]; then
            echo "check-layering: $file includes $inc, which has no layer" >&2
            rc=1

        elif [ "$other" -gt "$own" ]; then
            echo "check-layering: $file (layer $own) includes $inc" \
                 "(layer $other): a lower layer offers a hook instead" >&2
            rc=1
        fi
    done

    case $file in *.c) ;; *) continue ;; esac

    for fn in $(grep -o 'ngx_http_mesh_[a-z0-9_]*(' "$path" | tr -d '(' \
                | sort -u)
    do
        def=$(awk -v f="$fn" '$1 == f { print $2; exit }' "$defs")

        [ -n "$def" ] && [ "$def" != "$file" ] || continue

        other=$(layer "$(name "$def")")

        if [ -n "$other" ] && [ "$other" -gt "$own" ]; then
            echo "check-layering: $file (layer $own) calls $fn of $def" \
                 "(layer $other): a lower layer offers a hook instead" >&2
            rc=1
        fi
    done
done

[ $rc -eq 0 ] && echo "check-layering: ngx_echo_module is one-directional"

exit $rc
