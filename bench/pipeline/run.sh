#!/bin/bash
# Pipeline benchmark, side by side in one run (see bench/RESULTS.md): the
# time a two-step pipeline takes through the orchestrator
# (describe-and-summarize, stream:false) against the same two steps
# called one after the other by a client (/mesh/v1/tasks twice, the
# second prompt built from the first reply), same nginx, same agents,
# zero-delay simulators.  The difference is what running the chain inside
# nginx adds (or saves) per pipeline.
# Usage: bench/pipeline/run.sh [iterations per side, default 500] [rounds, default 3]
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=$TOP/build
W=$B/bench-pipeline
N=${1:-500}
ROUNDS=${2:-3}
BASE=${BENCH_PORT_BASE:-16680}

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}
trap cleanup EXIT INT TERM

rm -rf "$W"; mkdir -p "$W/nginx/conf" "$W/nginx/logs" "$W/nginx/tmp" "$W/redis"
secret=benchmark-secret-0123456789abcdef
echo "$secret" > "$W/nginx/conf/mesh.secret"; chmod 600 "$W/nginx/conf/mesh.secret"

redis-server --bind 127.0.0.1 --port $BASE --save '' --appendonly no \
    --dir "$W/redis" --daemonize no >"$W/redis.log" 2>&1 & pids+=($!)
"$B/bin/ollama-sim" --listen 127.0.0.1:$((BASE + 1)) --model llava:7b \
    --tokens 8 --parallel 64 >"$W/sim-a.log" 2>&1 & pids+=($!)
"$B/bin/ollama-sim" --listen 127.0.0.1:$((BASE + 2)) --model mistral:7b \
    --tokens 8 --parallel 64 >"$W/sim-b.log" 2>&1 & pids+=($!)
sleep 0.5

cat > "$W/nginx/conf/nginx.conf" <<CONF
load_module $B/nginx/ngx_http_mesh_module.so;
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path tmp/body; proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/f; uwsgi_temp_path tmp/u; scgi_temp_path tmp/s;
    mesh_registry redis://127.0.0.1:$BASE;
    mesh_zone mesh 16m;
    mesh_secret_file mesh.secret;
    upstream mesh_agents { mesh_balancer; keepalive 64; }
    mesh_pipeline describe-and-summarize {
        step type=vision    "prompt=Describe this image in detail.";
        step type=summarize "prompt=Summarize in one sentence: {{previous}}";
    }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Authorization \$mesh_agent_auth;
    proxy_buffering off;
    server {
        listen 127.0.0.1:$((BASE + 5));
        location = /mesh/v1/tasks { mesh_route task; proxy_pass http://mesh_agents/api/generate; }
        location /mesh/v1/pipelines { mesh_pipelines /mesh/internal/step; }
        location = /mesh/internal/step {
            internal; mesh_route task; proxy_pass http://mesh_agents/api/generate;
        }
        location /mesh/v1/nodes { mesh_node_api; }
    }
}
CONF
/usr/sbin/nginx -p "$W/nginx" -c conf/nginx.conf -g 'daemon off;' & pids+=($!)
sleep 0.5
for n in a b; do
    off=$([ $n = a ] && echo 1 || echo 2)
    "$B/bin/echo-agent" --orchestrator http://127.0.0.1:$((BASE + 5)) \
        --listen 127.0.0.1:$((BASE + 10 + off)) --advertise-host 127.0.0.1 \
        --ollama http://127.0.0.1:$((BASE + off)) --node-id node-$n \
        --secret-file "$W/nginx/conf/mesh.secret" --max-tasks 64 \
        --log-level warn --mdns off >"$W/agent-$n.log" 2>&1 & pids+=($!)
done
sleep 2

echo "== two steps (vision on node-a, summarize on node-b), stream:false, $N sequential requests per side, $ROUNDS rounds =="
for r in $(seq 1 "$ROUNDS"); do
    perl "$TOP/bench/pipeline/client.pl" $((BASE + 5)) "$N" || exit 1
done
