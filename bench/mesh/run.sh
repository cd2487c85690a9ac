#!/bin/bash
# Orchestrator benchmark, side by side in one run (see bench/RESULTS.md):
#   1. non-streamed /api/generate through plain nginx proxy_pass round robin
#      vs through the mesh, same nginx, same agents, zero-delay simulators;
#   2. the CPU cost of 1,000 agents heartbeating every 3 s.
# Usage: bench/mesh/run.sh [seconds per run, default 5] [rounds, default 3]
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=$TOP/build
W=$B/bench-mesh
DUR=${1:-5}
ROUNDS=${2:-3}
CONN=${CONN:-16}

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}
trap cleanup EXIT INT TERM

rm -rf "$W"; mkdir -p "$W/nginx/conf" "$W/nginx/logs" "$W/nginx/tmp" "$W/redis"
secret=benchmark-secret-0123456789abcdef
echo "$secret" > "$W/nginx/conf/mesh.secret"; chmod 600 "$W/nginx/conf/mesh.secret"

redis-server --bind 127.0.0.1 --port 16480 --save '' --appendonly no \
    --dir "$W/redis" --daemonize no >"$W/redis.log" 2>&1 & pids+=($!)
for i in 0 1; do
    "$B/bin/ollama-sim" --listen 127.0.0.1:$((16490 + i)) --model mistral:7b \
        --tokens 8 --parallel 64 --queue 512 >"$W/sim$i.log" 2>&1 & pids+=($!)
done
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
    mesh_registry redis://127.0.0.1:16480;
    mesh_zone mesh 16m;
    mesh_secret_file mesh.secret;
    upstream mesh_agents { mesh_balancer; keepalive 64; }
    upstream plain_agents {
        server 127.0.0.1:16500; server 127.0.0.1:16501; keepalive 64;
    }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Authorization $mesh_agent_auth;
    proxy_buffering off;
    server {
        listen 127.0.0.1:16470;
        location = /api/generate { mesh_route ollama; proxy_pass http://mesh_agents; }
        location /mesh/v1/nodes { mesh_node_api; }
    }
    server {
        listen 127.0.0.1:16471;
        location = /api/generate { proxy_pass http://plain_agents; }
    }
}
CONF
/usr/sbin/nginx -p "$W/nginx" -c conf/nginx.conf -g 'daemon off;' & pids+=($!)
sleep 0.5
for i in 0 1; do
    "$B/bin/echo-agent" --orchestrator http://127.0.0.1:16470 \
        --listen 127.0.0.1:$((16500 + i)) --advertise-host 127.0.0.1 \
        --ollama http://127.0.0.1:$((16490 + i)) --node-id bench-agent-$i \
        --secret-file "$W/nginx/conf/mesh.secret" --max-tasks 256 \
        --log-level warn >"$W/agent$i.log" 2>&1 & pids+=($!)
done
sleep 2

run_wrk() {   # $1 label, $2 port
    MODEL=mistral:7b wrk -t1 -c"$CONN" -d"${DUR}s" --latency \
        -s "$TOP/bench/lua/generate.lua" "http://127.0.0.1:$2" > "$W/wrk.out"
    local rps p50 p99 bad
    rps=$(awk '/Requests\/sec/ {print $2}' "$W/wrk.out")
    p50=$(awk '$1 == "50%" {print $2}' "$W/wrk.out")
    p99=$(awk '$1 == "99%" {print $2}' "$W/wrk.out")
    bad=$(awk '/non-200/ {print $3}' "$W/wrk.out")
    printf '%-12s %10s req/s   p50 %8s   p99 %8s   non-200 %s\n' \
        "$1" "$rps" "$p50" "$p99" "$bad"
}

echo "== /api/generate, stream:false, wrk -t1 -c$CONN -d${DUR}s, $ROUNDS rounds =="
for r in $(seq 1 "$ROUNDS"); do
    run_wrk "plain nginx" 16471
    run_wrk "mesh" 16470
done

echo "== heartbeats from 1,000 nodes: CPU per heartbeat =="
nginx_pids=$(pgrep -f "nginx: worker process" -P "$(cat "$W/nginx/logs/nginx.pid")")
redis_pid=${pids[0]}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
n0=0; for p in $nginx_pids; do n0=$((n0 + $(ticks "$p"))); done
r0=$(ticks "$redis_pid")
# each heartbeat is signed once (a nonce is accepted once): sign enough of
# them ahead, with the suites' signer, so wrk only replays files
perl -I"$TOP/t/lib" -MMesh::Sign -e '
    my ($secret, $n) = @ARGV;
    for my $i (1 .. $n) {
        my $id = $i % 1000;
        my $body = sprintf(q({"node_id":"bench-%d","host":"127.0.0.%d",)
            . q("port":%d,"models":[{"name":"mistral:7b","type":"text",)
            . q("size_gb":4.1},{"name":"codellama:7b","type":"code",)
            . q("size_gb":3.8}],"hardware":{"ram_total_gb":16,)
            . q("ram_free_gb":%d,"has_gpu":false,"gpu_vram_gb":0},)
            . q("status":"idle","active_tasks":0,"max_tasks":4}),
            $id, 2 + $id % 200, 40000 + $id, $id % 16);
        print Mesh::Sign::node($secret, "POST", "/mesh/v1/nodes/heartbeat",
                               $body), "\t$body\n";
    }' "$secret" $((DUR * 20000)) > "$W/heartbeats.signed"
MESH_HB_FILE="$W/heartbeats.signed" wrk -t1 -c8 -d"${DUR}s" -s "$TOP/bench/lua/heartbeat.lua" \
    http://127.0.0.1:16470 > "$W/hb.out"
n1=0; for p in $nginx_pids; do n1=$((n1 + $(ticks "$p"))); done
r1=$(ticks "$redis_pid")
reqs=$(awk '/requests in/ {print $1}' "$W/hb.out")
awk -v n=$((n1 - n0)) -v r=$((r1 - r0)) -v q="$reqs" -v hz="$hz" 'BEGIN {
    per = n / hz / q * 1e6; rper = r / hz / q * 1e6;
    printf "heartbeats %d; nginx %.1f us CPU each, redis %.1f us each\n", q, per, rper;
    printf "1,000 agents every 3 s = 333/s: nginx %.2f%% of one core, redis %.2f%%\n",
        per * 333.3 / 1e4, rper * 333.3 / 1e4 }'
grep -c "non-200 replies: 0" "$W/hb.out" >/dev/null || grep non-200 "$W/hb.out"
