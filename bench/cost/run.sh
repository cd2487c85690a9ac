#!/bin/bash
# Section 1: the module's cost per request, mesh (mesh_route + mesh_balancer)
# vs plain proxy_pass to the same backend, for each door, side by side in
# one run.  The backend is the stand-in node (bench/lib/common.sh), a plain
# nginx answering from memory.  The nginx under test runs alone on CPU 0;
# wrk and the stand-in share CPU 1.  Not a test: it prints figures.
#
#   bench/cost/run.sh [seconds per run, default 5] [rounds, default 3]
#   CALLGRIND=0 skips the instruction counts.
set -u
. "$(dirname "$0")/../lib/common.sh"
DUR=${1:-5}
ROUNDS=${2:-3}
bench_init cost

start_redis 16580
start_standin 16591 1
N=$W/nginx
nginx_prefix "$N"
{ mesh_head 1 16580 16m; cat <<CONF
    upstream mesh_agents { mesh_balancer; keepalive 64; }
    upstream plain_agents { server 127.0.0.1:16591; keepalive 64; }
    $PROXY_CONF
    proxy_read_timeout 120s;
    server {
        listen 127.0.0.1:16570;
        $MESH_HEADERS
        location = /api/generate { mesh_route ollama; proxy_pass http://mesh_agents; }
        location = /mesh/v1/tasks { mesh_route task; proxy_pass http://mesh_agents; }
        location = /v1/chat/completions { mesh_route openai; proxy_pass http://mesh_agents; }
        location /mesh/v1/nodes { mesh_node_api; }
    }
    server {
        listen 127.0.0.1:16571;
        location / { proxy_pass http://plain_agents; }
    }
}
CONF
} > "$N/conf/nginx.conf"

OLLAMA_BODY='{"model":"mistral:7b","prompt":"why is the sky blue","stream":false}'
NATIVE_BODY='{"type":"text","model":"mistral:7b","prompt":"why is the sky blue","stream":false}'
OPENAI_BODY='{"model":"mistral:7b","messages":[{"role":"user","content":"why is the sky blue"}]}'
doors=("ollama /api/generate $OLLAMA_BODY" "native /mesh/v1/tasks $NATIVE_BODY"
       "openai /v1/chat/completions $OPENAI_BODY")

run_wrk() {   # $1 port, $2 path, $3 body, $4 connections, $5 seconds -> wrk.out
    DOOR_PATH=$2 DOOR_BODY=$3 taskset -c 1 wrk -t1 -c"$4" -d"$5s" --latency \
        -s "$TOP/bench/lua/door.lua" "http://127.0.0.1:$1" > "$W/wrk.out" 2>&1
}

start_up() {
    wait_port 16570
    start_hb 16570 "standin=127.0.0.1:16591:100000:mistral:7b"
    sleep 0.5
    # warm-up: keepalive connections and the first-request paths
    for d in "${doors[@]}"; do
        read -r name path body <<< "$d"
        run_wrk 16571 "$path" "$body" 4 1; run_wrk 16570 "$path" "$body" 4 1
    done
}

start_nginx "$N" 0
start_up
worker=$(worker_pids "$NGINX_PID")

echo "== module cost per request: nginx (1 worker) alone on CPU 0, wrk and the stand-in node on CPU 1; $ROUNDS rounds of ${DUR}s =="
printf '%-7s %-6s %-22s %10s %9s %9s %9s %6s\n' door side load \
    'req/s' 'us CPU/rq' 'p50 us' 'p99 us' bad
for r in $(seq 1 "$ROUNDS"); do
    for d in "${doors[@]}"; do
        read -r name path body <<< "$d"
        for c in 16 1; do
            for side in plain mesh; do
                port=16571; [ $side = mesh ] && port=16570
                t0=$(ticks $worker)
                run_wrk $port "$path" "$body" $c "$DUR"
                t1=$(ticks $worker)
                read -r rps n p50 p99 bad <<< "$(wrk_parse "$W/wrk.out")"
                cpu=$(awk -v t=$((t1 - t0)) -v n="$n" -v hz="$HZ" \
                    'BEGIN { printf "%.1f", n ? t / hz / n * 1e6 : 0 }')
                printf '%-7s %-6s %-22s %10s %9s %9s %9s %6s\n' "$name" \
                    $side "wrk -t1 -c$c, round $r" "$rps" "$cpu" "$p50" \
                    "$p99" "$bad"
            done
        done
    done
done

[ "${CALLGRIND:-1}" = 0 ] && exit 0

# Instructions per request: the same nginx under callgrind, counters
# zeroed before and dumped after each side's run (load-proof figures).
# callgrind_control reaches only the process valgrind started (vgdb does
# not follow fork), so this nginx runs as one process (master_process off).
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null
for p in "${pids[@]}"; do   # the heartbeat poster goes with the old nginx
    case "$(tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline")" in
        *hb.pl*) kill "$p" ;;
    esac
done
mkdir -p "$W/cg"
taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$W/cg/out.%p" \
    /usr/sbin/nginx -p "$N" -c conf/nginx.conf \
    -g 'daemon off; master_process off;' >"$N/logs/valgrind.log" 2>&1 &
pids+=($!); NGINX_PID=$!
start_up
sleep 2

cg_total() {  # Ir since the last zero (callgrind_control -d waits for it)
    local f
    callgrind_control -d "$NGINX_PID" >/dev/null 2>&1
    f=$(ls -t "$W/cg"/out.$NGINX_PID.* 2>/dev/null | head -1)
    awk '/^totals:/ {print $2; exit}' "$f"
}

echo
echo "== instructions per request (callgrind, nginx worker, wrk -t1 -c2 -d${DUR}s each) =="
printf '%-7s %10s %10s %8s\n' door plain mesh ratio
for d in "${doors[@]}"; do
    read -r name path body <<< "$d"
    declare -A ir=()
    for side in plain mesh; do
        port=16571; [ $side = mesh ] && port=16570
        callgrind_control -z "$NGINX_PID" >/dev/null 2>&1
        run_wrk $port "$path" "$body" 2 "$DUR"
        total=$(cg_total)
        read -r rps n p50 p99 bad <<< "$(wrk_parse "$W/wrk.out")"
        ir[$side]=$(awk -v t="$total" -v n="$n" 'BEGIN { printf "%.0f", n ? t / n : 0 }')
        [ "$bad" = 0 ] || echo "  ($side: $bad replies were not 2xx)"
        cp "$(ls -t "$W/cg"/out.$NGINX_PID.* | head -1)" "$W/cg/$name-$side.out"
    done
    awk -v d="$name" -v p="${ir[plain]}" -v m="${ir[mesh]}" 'BEGIN {
        printf "%-7s %10d %10d %7.2fx\n", d, p, m, p ? m / p : 0 }'
done
