#!/bin/bash
# Section 6: the queue at scale.  One node (a simulator registered as a
# node, max_tasks 4, each task about 1 s), so 4 slots free up each second;
# N clients send a task at once and wait in the queue.  Measured over a
# window once every task is queued: nginx worker CPU per dispatch out of
# the queue (a wake-up), with 1,000 waiters and, as the baseline in the
# same run, 10.  If a wake-up re-routed every waiter, the 1,000-waiter
# figure would be ~100 times the other.  mesh_metrics' counters give the
# routing decisions per wake-up over the same window (MODULE= another
# build to compare).  Not a test: it prints figures.
#
#   bench/queue/run.sh [window seconds, default 15]
set -u
. "$(dirname "$0")/../lib/common.sh"
WIN=${1:-15}
bench_init queue

start_redis 16980
taskset -c 1 "$B/bin/ollama-sim" --listen 127.0.0.1:16990 --model mistral:7b \
    --tokens 1 --prompt-delay-ms 1000 --parallel 64 --queue 2000 \
    >"$W/sim.log" 2>&1 &
pids+=($!)
wait_port 16990
N=$W/nginx
nginx_prefix "$N"
{ mesh_head 1 16980 16m 8192; cat <<CONF
    mesh_queue_size 2000;
    mesh_queue_ttl 600s;
    upstream mesh_agents { mesh_balancer; keepalive 16; }
    $PROXY_CONF
    proxy_read_timeout 600s;
    server {
        listen 127.0.0.1:16970 backlog=4096;
        $MESH_HEADERS
        location = /api/generate { mesh_route ollama; proxy_pass http://mesh_agents; }
        location /mesh/v1/nodes { mesh_node_api; }
        location = /metrics { mesh_metrics; }
    }
}
CONF
} > "$N/conf/nginx.conf"
start_nginx "$N" 0
wait_port 16970
worker=$(worker_pids "$NGINX_PID")
start_hb 16970 "sim=127.0.0.1:16990:4:mistral:7b"

completed() {
    curl -s http://127.0.0.1:16990/_sim/stats | sed 's/.*"completed":\([0-9]*\).*/\1/'
}

# a counter of mesh_metrics (0 when the module has none)
counter() {
    curl -s http://127.0.0.1:16970/metrics | \
        awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'
}

BODY='{"model":"mistral:7b","prompt":"why is the sky blue","stream":false}'
ulimit -n 8192
echo "== the queue: 1 node x 4 slots, ~1 s tasks; CPU per wake-up over ${WIN}s once every client waits =="
printf '%-9s %9s %10s %14s %16s %9s %10s %14s\n' waiters queued dispatched \
    'worker ticks' 'us CPU/wake-up' wake-ups decisions 'decisions/wake'
for waiters in 10 1000 10 1000; do
    DOOR_PATH=/api/generate DOOR_BODY=$BODY taskset -c 1 wrk -t1 \
        -c"$waiters" -d"$((WIN + 8))s" --timeout 600s \
        -s "$TOP/bench/lua/door.lua" http://127.0.0.1:16970 \
        > "$W/wrk.out" 2>&1 &
    wrk_pid=$!
    sleep 4
    q=$(curl -s http://127.0.0.1:16970/mesh/v1/nodes | \
        sed -n 's/.*"queue[a-z_]*":\([0-9]*\).*/\1/p' | head -1)
    c0=$(completed); t0=$(ticks $worker)
    k0=$(counter mesh_queue_wakeups_total)
    r0=$(counter mesh_queue_route_decisions_total)
    sleep "$WIN"
    c1=$(completed); t1=$(ticks $worker)
    k1=$(counter mesh_queue_wakeups_total)
    r1=$(counter mesh_queue_route_decisions_total)
    awk -v w="$waiters" -v q="$q" -v d=$((c1 - c0)) -v t=$((t1 - t0)) \
        -v hz="$HZ" -v k=$((k1 - k0)) -v r=$((r1 - r0)) 'BEGIN {
        printf "%-9d %9s %10d %14d %16.1f %9d %10d %14.1f\n", w, q, d,
        t, d ? t / hz / d * 1e6 : 0, k, r, k ? r / k : 0 }'
    wait "$wrk_pid"
    sleep 3   # the last tasks end, the queue empties
done
