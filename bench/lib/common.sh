# Shared pieces of the benchmark scripts (sourced, bash).  Not a test.
#   bench_init NAME      work folder build/bench-NAME, cleanup on exit
#   start_redis PORT     a private redis-server (REDIS_UNIX=1: also on
#                        a unix socket, which mesh_head then uses)
#   start_standin PORT CPU   the stand-in node (below)
#   start_nginx DIR CPU  nginx from prefix DIR (conf/nginx.conf), pinned
#   wait_port PORT, ticks PID..., worker_pids DIR, wrk_parse FILE
# One benchmark runs at a time (a lock, waited for): two at once would
# share the cores, and the same ports (the stand-in listens with
# reuseport, so a second one would not even fail).
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=$TOP/build
# the module under test (MODULE=... measures another build of it)
MODULE=${MODULE:-$B/nginx/ngx_http_mesh_module.so}
SECRET=benchmark-secret-0123456789abcdef
HZ=$(getconf CLK_TCK)
pids=()

bench_cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}

bench_init() {
    W=$B/bench-$1
    rm -rf "$W"; mkdir -p "$W"
    echo "$SECRET" > "$W/mesh.secret"; chmod 600 "$W/mesh.secret"
    trap bench_cleanup EXIT
    trap 'exit 1' INT TERM
    exec 9>"${TMPDIR:-/tmp}/echo-system-bench.lock"
    if ! flock -n 9; then
        echo "bench: waiting for another benchmark to end" >&2
        flock 9
    fi
    # run alone (not through make bench-*), a missing tool would print
    # figures of nothing
    local t
    for t in wrk valgrind perf redis-server; do
        if ! command -v $t >/dev/null; then
            echo "bench: $t is missing: run tools/install-deps.sh bench" >&2
            exit 1
        fi
    done
    if [ "$(nproc)" -lt 2 ]; then
        echo "bench: needs two cores (nginx and the load apart)" >&2
        exit 1
    fi
}

wait_port() {
    local i
    for i in $(seq 1 400); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench: nothing listens on port $1" >&2
    exit 1
}

port_free() {         # dies when something already listens on a port
    local p
    for p in "$@"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "bench: port $p is already in use" >&2
            exit 1
        fi
    done
}

start_redis() {
    port_free "$1"
    mkdir -p "$W/redis"
    local sock=()
    # the workers run as nobody: the socket must be theirs to open
    [ "${REDIS_UNIX:-0}" = 1 ] &&
        sock=(--unixsocket "$W/redis/redis.sock" --unixsocketperm 777)
    redis-server --bind 127.0.0.1 --port "$1" --save '' --appendonly no \
        "${sock[@]}" --dir "$W/redis" --daemonize no >"$W/redis.log" 2>&1 &
    pids+=($!); REDIS_PID=$!
    wait_port "$1"
}

nginx_prefix() {      # $1 prefix: the folders nginx -p needs
    mkdir -p "$1/conf" "$1/logs" "$1/tmp"
    cp "$W/mesh.secret" "$1/conf/mesh.secret"
}

NGINX_TEMPS='client_body_temp_path tmp/body; proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/f; uwsgi_temp_path tmp/u; scgi_temp_path tmp/s;'

# The start of an nginx.conf, up to the http block's common settings:
# $1 workers, $2 worker_connections (default 4096)
nginx_head() {
    [ "${2:-4096}" -gt 4096 ] && echo "worker_rlimit_nofile $(($2 * 2));"
    cat <<CONF
worker_processes $1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections ${2:-4096}; }
http {
    access_log off;
    $NGINX_TEMPS
    keepalive_requests 1000000;
CONF
}

# ... with the module: $1 workers, $2 Redis port, $3 zone size, $4 as above
mesh_head() {
    local url=redis://127.0.0.1:$2
    [ "${REDIS_UNIX:-0}" = 1 ] && url=unix:$W/redis/redis.sock
    echo "load_module $MODULE;"
    nginx_head "$1" "${4:-4096}"
    cat <<CONF
    mesh_registry $url;
    mesh_zone mesh $3;
    mesh_secret_file mesh.secret;
CONF
}

# proxying as conf/mesh_proxy.conf does it, minus the retries
PROXY_CONF='proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;'
# The mesh side's headers, in a server{} or location{}: a proxy_set_header
# there drops every one inherited from http{}, and without Connection ""
# nginx sends "Connection: close" and every task opens a new connection to
# its node (the agent closes it after the reply).
MESH_HEADERS='proxy_set_header Connection "";
        proxy_set_header Authorization $mesh_agent_auth;'

# The stand-in node: a plain nginx (no module) answering Ollama-shaped and
# OpenAI-shaped replies from memory, so the backend is never what limits a
# benchmark.  It is registered in the mesh like an agent (bench/lib/hb.pl)
# and plain proxy_pass sends to the same port.  It ignores the task token.
start_standin() {     # $1 port, $2 cpu
    local d=$W/standin
    port_free "$1"
    nginx_prefix "$d"
    { nginx_head 1; cat <<CONF
    default_type application/json;
    server {
        listen 127.0.0.1:$1 reuseport;
        location = /api/chat {
            return 200 '{"model":"mistral:7b","created_at":"2026-12-01T00:00:00Z","message":{"role":"assistant","content":"[mistral:7b] why is the sky blue"},"done_reason":"stop","done":true,"total_duration":1000,"eval_count":8,"eval_duration":800}\n';
        }
        location = /v1/chat/completions {
            return 200 '{"id":"chatcmpl-1","object":"chat.completion","created":1764547200,"model":"mistral:7b","system_fingerprint":"fp_ollama","choices":[{"index":0,"message":{"role":"assistant","content":"[mistral:7b] why is the sky blue"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":8,"total_tokens":13}}\n';
        }
        location / {
            return 200 '{"model":"mistral:7b","created_at":"2026-12-01T00:00:00Z","response":"[mistral:7b] why is the sky blue","done":true,"done_reason":"stop","total_duration":1000,"eval_count":8,"eval_duration":800}\n';
        }
    }
}
CONF
    } > "$d/conf/nginx.conf"
    taskset -c "$2" /usr/sbin/nginx -p "$d" -c conf/nginx.conf \
        -g 'daemon off;' >"$d/logs/stderr" 2>&1 &
    pids+=($!)
    wait_port "$1"
}

# The heartbeat baseline: plain nginx (no module) in prefix $1 on port $2,
# $3 workers, answering POST /mesh/v1/nodes/heartbeat with the mesh's reply
# (its JSON and a 64-hex X-Mesh-Reply-Signature) and nothing else done
plain_heartbeat_conf() {
    nginx_prefix "$1"
    { nginx_head "$3"; cat <<CONF
    server {
        listen 127.0.0.1:$2;
        location = /mesh/v1/nodes/heartbeat {
            default_type application/json;
            add_header X-Mesh-Reply-Signature $(printf '0%.0s' $(seq 64));
            return 200 '{"ok":true,"heartbeat_interval_ms":3000}\n';
        }
    }
}
CONF
    } > "$1/conf/nginx.conf"
}

start_nginx() {       # $1 prefix with conf/nginx.conf, $2 cpu; sets NGINX_PID
    port_free $(sed -n 's/.*listen 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
                    "$1/conf/nginx.conf")
    taskset -c "$2" /usr/sbin/nginx -p "$1" -c conf/nginx.conf \
        -g 'daemon off;' >"$1/logs/stderr" 2>&1 &
    pids+=($!); NGINX_PID=$!
}

worker_pids() {       # $1 master pid
    pgrep -P "$1" | tr '\n' ' '
}

ticks() {             # user + system clock ticks of the pids, summed
    local p t=0
    for p in "$@"; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}

# Keeps NODE... registered in the mesh on $1 (port): bench/lib/hb.pl
start_hb() {
    local port=$1; shift
    perl "$TOP/bench/lib/hb.pl" "$W/mesh.secret" "http://127.0.0.1:$port" 2 \
        "$@" >"$W/hb-$port.log" 2>&1 &
    pids+=($!)
    local i
    for i in $(seq 1 200); do
        grep -q registered "$W/hb-$port.log" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench: nodes did not register:" >&2; cat "$W/hb-$port.log" >&2
    exit 1
}

# wrk's output -> "rps requests p50_us p99_us non2xx"
wrk_parse() {
    awk 'function us(v) {
             if (v ~ /us$/) return v + 0;
             if (v ~ /ms$/) return v * 1000;
             if (v ~ /s$/) return v * 1000000;
             return v }
         /Requests\/sec/ { rps = $2 }
         / requests in / { n = $1 }
         $1 == "50%" { p50 = us($2) }
         $1 == "99%" { p99 = us($2) }
         /Non-2xx/ { bad = $5 }
         END { printf "%s %d %.1f %.1f %d\n", rps, n, p50, p99, bad + 0 }' "$1"
}
