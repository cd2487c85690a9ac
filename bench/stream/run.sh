#!/bin/bash
# Section 2: streaming.  100 concurrent streams of 2,000 tokens each from a
# zero-delay simulator: nginx worker CPU per relayed token, mesh vs plain
# proxy_pass to the same simulator; then time to first token, alternating
# request by request: the simulator direct, plain nginx, the mesh, and the
# mesh through an echo-agent (before a second simulator).  nginx alone on
# CPU 0; wrk, the simulators and the agent on CPU 1.  Not a test.
#
#   bench/stream/run.sh [seconds per run, default 5] [rounds, default 3]
#                       [TTFT requests per target, default 300]
set -u
. "$(dirname "$0")/../lib/common.sh"
DUR=${1:-5}
ROUNDS=${2:-3}
NTTFT=${3:-300}
TOKENS=2000
bench_init stream

start_redis 16780
for p in 16790 16791; do
    model=mistral:7b; [ $p = 16791 ] && model=llama3.2:3b
    taskset -c 1 "$B/bin/ollama-sim" --listen 127.0.0.1:$p --model $model \
        --tokens $TOKENS --parallel 256 --queue 512 >"$W/sim$p.log" 2>&1 &
    pids+=($!)
    wait_port $p
done
N=$W/nginx
nginx_prefix "$N"
{ mesh_head 1 16780 16m; cat <<CONF
    upstream mesh_agents { mesh_balancer; keepalive 256; }
    upstream plain_sim { server 127.0.0.1:16790; keepalive 256; }
    $PROXY_CONF
    proxy_read_timeout 120s;
    server {
        listen 127.0.0.1:16770;
        $MESH_HEADERS
        location = /api/generate { mesh_route ollama; proxy_pass http://mesh_agents; }
        location /mesh/v1/nodes { mesh_node_api; }
    }
    server {
        listen 127.0.0.1:16771;
        location / { proxy_pass http://plain_sim; }
    }
}
CONF
} > "$N/conf/nginx.conf"
start_nginx "$N" 0
wait_port 16770
worker=$(worker_pids "$NGINX_PID")
# the first simulator registered as a node itself (it ignores the task
# token); the second behind a real echo-agent
start_hb 16770 "sim=127.0.0.1:16790:256:mistral:7b"
taskset -c 1 "$B/bin/echo-agent" --orchestrator http://127.0.0.1:16770 \
    --listen 127.0.0.1:16792 --advertise-host 127.0.0.1 \
    --ollama http://127.0.0.1:16791 --node-id bench-agent \
    --secret-file "$W/mesh.secret" --max-tasks 64 --log-level warn --mdns off \
    >"$W/agent.log" 2>&1 &
pids+=($!)
for i in $(seq 1 100); do
    curl -s http://127.0.0.1:16770/mesh/v1/nodes | grep -q bench-agent && break
    sleep 0.1
done

BODY='{"model":"mistral:7b","prompt":"why is the sky blue"}'
run_wrk() {   # $1 port, $2 connections, $3 seconds
    DOOR_PATH=/api/generate DOOR_BODY=$BODY taskset -c 1 wrk -t1 -c"$2" \
        -d"$3s" --latency --timeout 60s -s "$TOP/bench/lua/door.lua" \
        "http://127.0.0.1:$1" > "$W/wrk.out" 2>&1
}
run_wrk 16771 10 1; run_wrk 16770 10 1     # warm-up

echo "== $TOKENS-token streams, wrk -t1 -c100, nginx (1 worker) alone on CPU 0; $ROUNDS rounds of ${DUR}s =="
printf '%-6s %-8s %10s %12s %14s %6s\n' side round 'streams/s' 'tokens/s' \
    'ns CPU/token' bad
for r in $(seq 1 "$ROUNDS"); do
    for side in plain mesh; do
        port=16771; [ $side = mesh ] && port=16770
        t0=$(ticks $worker)
        run_wrk $port 100 "$DUR"
        t1=$(ticks $worker)
        read -r rps n p50 p99 bad <<< "$(wrk_parse "$W/wrk.out")"
        awk -v s=$side -v r="$r" -v rps="$rps" -v n="$n" -v t=$((t1 - t0)) \
            -v hz="$HZ" -v k=$TOKENS -v bad="$bad" 'BEGIN {
            printf "%-6s %-8s %10.1f %12.0f %14.0f %6d\n", s, r, rps,
                rps * k, n ? t / hz / (n * k) * 1e9 : 0, bad }'
    done
done

echo
echo "== time to first token, $NTTFT streamed requests each, alternating (kept-alive, one write each) =="
taskset -c 1 perl "$TOP/bench/stream/ttft.pl" "$NTTFT" \
    "simulator direct=16790" "plain nginx -> simulator=16771" \
    "mesh -> simulator=16770" "simulator 2 direct=16791=llama3.2:3b" \
    "mesh -> echo-agent -> simulator 2=16770=llama3.2:3b" | tee "$W/ttft.out"
awk '{ v[NR] = $(NF - 4) }
     END { printf "  added at p50: by nginx (mesh) %.3f ms, by the agent %.3f ms, together %.3f ms\n",
               v[3] - v[1], (v[5] - v[4]) - (v[3] - v[1]), v[5] - v[4] }' "$W/ttft.out"
