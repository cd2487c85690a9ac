#!/bin/bash
# Section 4: scale.  (1) one routing decision with 2, 1,000 and 10,000
# nodes (bench/route); (2) heartbeats from 1,000 and then 10,000 agents,
# each every 3 s, paced, against one nginx with 2 workers (every worker
# applies every pub/sub message) and a private Redis: the CPU of all nginx
# processes and of Redis, and the heartbeat reply time.  Not a test.
# The baseline, in the same invocation just before and after the 10,000-
# agent run: plain nginx (no module, 2 workers, the same CPU) answering the
# same requests at the same pace with a reply of the same size, so what
# the mesh costs above any HTTP server is the difference.  Redis' own
# split (INFO commandstats) says how much of its CPU is command execution.
#
#   bench/scale/run.sh [seconds per paced run, default 10]
#
# The CPU is also split into user and kernel (system) time.  PROFILE=1
# adds, during the 10,000-agent run, the system calls of one worker and of
# Redis over 5 s (strace -c) and a perf profile of the workers (perf
# record -g, kernel included), in build/bench-scale/; both slow what they
# watch, so that run's CPU figures are not comparable with others.
set -u
. "$(dirname "$0")/../lib/common.sh"
DUR=${1:-10}
# other ports where another run holds these
RP=${BENCH_REDIS_PORT:-16680}
HP=${BENCH_PORT:-16670}
PP=$((HP + 1))              # the plain nginx
bench_init scale

echo "== one routing decision (bench/route, the module's router.c) =="
make -s -C "$TOP/bench/route" BUILD="$B" "$B/bench/route_bench" >/dev/null
[ "${ROUTE:-1}" = 0 ] || taskset -c 1 "$B/bench/route_bench"

start_redis $RP
N=$W/nginx
nginx_prefix "$N"
{ mesh_head 2 $RP 80m; cat <<CONF
    mesh_node_networks 127.0.0.0/8;
    mesh_auth_window 120s;
    server {
        listen 127.0.0.1:$HP;
        location /mesh/v1/nodes { mesh_node_api; }
    }
}
CONF
} > "$N/conf/nginx.conf"
start_nginx "$N" 0
wait_port $HP
mesh_pid=$NGINX_PID

# the baseline (bench/lib/common.sh)
P=$W/plain
plain_heartbeat_conf "$P" $PP 2
start_nginx "$P" 0
wait_port $PP
plain_all="$NGINX_PID $(worker_pids "$NGINX_PID")"
sleep 1
nginx_all="$mesh_pid $(worker_pids "$mesh_pid")"

ticks_split() {             # user and system ticks of the pids: "user sys"
    local p u=0 k=0
    for p in "$@"; do
        read -r a b <<< "$(awk '{print $14, $15}' "/proc/$p/stat")"
        u=$((u + a)); k=$((k + b))
    done
    echo "$u $k"
}

profile() {           # $1 agents: strace and perf of a run under way
    local w1 t
    [ "${PROFILE:-0}" = 1 ] && [ "$1" -ge 10000 ] || return 0
    sleep 2
    w1=$(worker_pids "$mesh_pid" | awk '{print $1}')
    timeout -s INT 5 strace -c -f -p "$w1" -o "$W/strace-worker.txt" \
        >/dev/null 2>&1 &
    timeout -s INT 5 strace -c -f -p "$REDIS_PID" -o "$W/strace-redis.txt" \
        >/dev/null 2>&1 &
    wait $!
    sleep 1
    perf record -g -o "$W/perf.data" \
        -p "$(worker_pids "$mesh_pid" | tr ' ' ',' | sed 's/,$//'),$REDIS_PID" \
        -- sleep 3 >/dev/null 2>&1
}

# wrk stops sending at the file's end but runs its whole -d
hb_run() {    # $1 file, $2 connections, $3 delay ms, $4 s [$5 port] -> $W/hb.out
    MESH_HB_FILE=$1 MESH_HB_DELAY_MS=$3 taskset -c 1 wrk -t1 -c"$2" \
        -d"$4s" --latency -s "$TOP/bench/lua/heartbeat_paced.lua" \
        "http://127.0.0.1:${5:-$HP}" > "$W/hb.out" 2>&1
}

# agents, connections, pause: connections x 1000 / pause = agents / 3
# heartbeats a second at most (less by the reply time); the file has twice
# what the run can send, so the rate is the pace, not the file
# $4 (optional) "plain": the same run against the baseline nginx, whose
# processes alone are counted (Redis' line then shows it idle)
paced() {
    local agents=$1 conns=$2 pause=$3 count n0 r0 n1 r1 t0 t1 prof
    local nu0 nk0 ru0 rk0 nu1 nk1 ru1 rk1 port=$HP procs=$nginx_all
    [ "${4:-}" = plain ] && { port=$PP; procs=$plain_all; echo "  plain nginx:"; }
    count=$((agents / 3 * DUR * 2))
    [ "${4:-}" = plain ] || redis-cli -p $RP CONFIG RESETSTAT >/dev/null
    perl "$TOP/bench/lib/sign_hb.pl" "$SECRET" "$count" "$agents" \
        > "$W/hb-paced.signed"
    t0=$(date +%s.%N); n0=$(ticks $procs); r0=$(ticks "$REDIS_PID")
    read -r nu0 nk0 <<< "$(ticks_split $procs)"
    read -r ru0 rk0 <<< "$(ticks_split "$REDIS_PID")"
    [ "${4:-}" = plain ] || { profile "$agents" & prof=$!; }
    hb_run "$W/hb-paced.signed" "$conns" "$pause" "$DUR" "$port"
    [ "${4:-}" = plain ] || wait "$prof"
    t1=$(date +%s.%N); n1=$(ticks $procs); r1=$(ticks "$REDIS_PID")
    read -r nu1 nk1 <<< "$(ticks_split $procs)"
    read -r ru1 rk1 <<< "$(ticks_split "$REDIS_PID")"
    read -r rps n p50 p99 bad <<< "$(wrk_parse "$W/hb.out")"
    bad=$(awk '/non-200 replies/ {print $3}' "$W/hb.out")
    awk -v a="$agents" -v n="$n" -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        -v nt=$((n1 - n0)) -v rt=$((r1 - r0)) -v hz="$HZ" -v p50="$p50" \
        -v p99="$p99" -v bad="$bad" -v nu=$((nu1 - nu0)) -v nk=$((nk1 - nk0)) \
        -v ru=$((ru1 - ru0)) -v rk=$((rk1 - rk0)) 'BEGIN {
        rate = n / t; nus = nt / hz / n * 1e6; rus = rt / hz / n * 1e6;
        printf "%6d agents: %6d heartbeats in %.1f s (%.0f/s), non-200 %d\n",
            a, n, t, rate, bad;
        printf "        CPU per heartbeat: nginx (all processes) %.1f us, redis %.1f us\n", nus, rus;
        printf "        of it in the kernel: nginx %.1f us (user %.1f), redis %.1f us (user %.1f)\n",
            nk / hz / n * 1e6, nu / hz / n * 1e6, rk / hz / n * 1e6, ru / hz / n * 1e6;
        printf "        at %d agents every 3 s (%.0f/s): nginx %.1f%% of one core, redis %.1f%%\n",
            a, a / 3, nus * a / 3 / 1e4, rus * a / 3 / 1e4;
        printf "        heartbeat reply: p50 %.0f us, p99 %.0f us\n", p50, p99 }'
    [ "${4:-}" = plain ] && return
    # Redis executing commands (usec, its own clock) per heartbeat: the
    # rest of its CPU is reading, writing (replies, pub/sub) and expiry
    redis-cli -p $RP INFO commandstats | tr -d '\r' | awk -F'[:=,]' -v n="$n" '
        /^cmdstat_/ { sub(/^cmdstat_/, "", $1); c[$1] = $3; u[$1] = $5; t += $5 }
        END { printf "        redis commands per heartbeat (calls, us):";
              for (k in c) if (c[k] / n >= 0.01)
                  printf " %s %.2f/%.2f", k, c[k] / n, u[k] / n;
              printf "; all %.1f us\n", t / n }'
}

echo
echo "== heartbeats every 3 s, nginx (master + 2 workers) on CPU 0, wrk on CPU 1, ${DUR}s each =="
# register the agents first (each once), then the paced run
perl "$TOP/bench/lib/sign_hb.pl" "$SECRET" 1000 1000 > "$W/hb-fill.signed"
hb_run "$W/hb-fill.signed" 8 0 5
paced 1000 2 6
perl "$TOP/bench/lib/sign_hb.pl" "$SECRET" 10000 10000 > "$W/hb-fill.signed"
hb_run "$W/hb-fill.signed" 8 0 15
nodes=$(curl -s http://127.0.0.1:$HP/mesh/v1/nodes | grep -o '"node_id"' | wc -l)
echo "  (registry: $nodes nodes listed by /mesh/v1/nodes)"
paced 10000 20 6 plain
paced 10000 20 6
paced 10000 20 6 plain
