#!/bin/bash
# The Compose mesh with podman + podman-compose (Debian 12), no registry:
# the base image debian:bookworm is made here with debootstrap.
#
#   tools/compose.sh base    debootstrap bookworm (cached in build/compose)
#                            and import it as docker.io/library/debian:bookworm
#   tools/compose.sh build   build the images of docker/docker-compose.yml
#   tools/compose.sh up      base, build, then up -d
#   tools/compose.sh down    down, with the project's volumes
#   tools/compose.sh ARGS... any other podman-compose command
#
# MESH_COMPOSE_PROJECT (default echo-mesh) names the project;
# MESH_HTTP_PORT and MESH_GRPC_PORT move the published ports.
# podman runs with build/compose/containers.conf (CONTAINERS_CONF): the
# settings this kind of machine needs (runc, cgroupfs, no default ulimits).
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${MESH_BUILD:-$TOP/build}
DIR=$BUILD/compose
PROJECT=${MESH_COMPOSE_PROJECT:-echo-mesh}
BASE=docker.io/library/debian:bookworm
MIRROR=${MESH_DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { printf 'compose: %s\n' "$*"; }

mkdir -p "$DIR"
# written every time (a fresh clone has none), used unless the caller
# names another one
cat > "$DIR/containers.conf" <<'CONF'
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
export CONTAINERS_CONF=${CONTAINERS_CONF:-$DIR/containers.conf}

pc() {
    podman-compose -p "$PROJECT" -f "$TOP/docker/docker-compose.yml" "$@"
}

base() {
    local root=$DIR/rootfs
    if podman image exists "$BASE"; then
        return 0
    fi
    if [ ! -e "$root/.complete" ]; then
        rm -rf "$root" "$root.tmp"
        say "debootstrap bookworm into $root (a minute or two)"
        debootstrap --variant=minbase bookworm "$root.tmp" "$MIRROR" \
            > "$DIR/debootstrap.log" 2>&1 \
            || { tail -20 "$DIR/debootstrap.log"; exit 1; }
        # what an official debian:bookworm has: updates and security, no
        # downloaded packages or lists
        cat > "$root.tmp/etc/apt/sources.list" <<LIST
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST
        rm -rf "$root.tmp"/var/cache/apt/archives/*.deb \
               "$root.tmp"/var/lib/apt/lists/*
        mv "$root.tmp" "$root"
        touch "$root/.complete"
    fi
    say "importing $root as $BASE"
    tar -C "$root" --exclude=./.complete -c . \
        | podman import - "$BASE" > /dev/null
}

build() {
    base
    # host networking for apt and npm inside the build; never pull; the
    # host's CA bundle for npm, where the way out re-signs TLS
    local ca=${MESH_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt} args
    args="--network host --pull=never"
    [ -s "$ca" ] && args="$args --volume $ca:/run/host-ca.crt:ro"
    # podman-compose 1.0.3 exits 0 when an image fails to build (and an
    # older image of that name would then run): its "exit code: N" says
    local log=$DIR/build.log
    pc --podman-build-args="$args" build 2>&1 | tee "$log"
    if grep -q '^exit code: [1-9]' "$log"; then
        say "an image failed to build (above; all of it in $log)"
        exit 1
    fi
}

case ${1:-} in
    base)  base ;;
    build) build ;;
    up)    build; pc up -d ;;
    down)
        pc down -v
        # podman-compose 1.0.3 leaves the project's network behind
        podman network ls -q \
            --filter "label=io.podman.compose.project=$PROJECT" \
            | xargs -r podman network rm > /dev/null ;;
    '')    sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
    *)     pc "$@" ;;
esac
