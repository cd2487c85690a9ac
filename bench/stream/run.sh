#!/bin/bash
# Section 2: streaming.  100 concurrent streams of 2,000 tokens each from a
# zero-delay simulator: nginx worker CPU per relayed token, mesh vs plain
# proxy_pass to the same simulator; then time to first token, alternating
# request by request: the simulator direct, plain nginx, the mesh, and the
# mesh through an echo-agent (before a second simulator).  nginx alone on
# CPU 0; wrk, the simulators and the agent on CPU 1.  Not a test.
#
# Time to first token is measured three ways in one run, every path
# alternating request by request:
#   - "flood": as before, against the 2,000-token zero-delay simulators
#     (the rest of the reply keeps the client's CPU busy while the first
#     token travels: the client waits for the CPU, not for the token);
#   - "paced": simulators shaped like a model (8 tokens, 1 ms apart), so
#     nothing but the first token's own path runs; nginx still on CPU 0,
#     so each hop to and from it is a wake-up across CPUs;
#   - "one CPU": the same, through a second nginx on CPU 1 beside the
#     client, the simulators and the agents: what the hops cost without
#     this machine's cross-CPU wake-ups, whose price wakeup.pl prints.
#
#   bench/stream/run.sh [seconds per run, default 5] [rounds, default 3]
#                       [TTFT requests per target, default 300]
#   bench/stream/run.sh callgrind [streams per side, default 20]
#
# MODULE=... (bench/lib/common.sh) and AGENT=... (an echo-agent binary)
# measure other builds: a "before" tree built apart, in the same run.
#
# The callgrind mode counts instructions per relayed token instead (a
# figure the machine's load does not move): the same nginx, one process
# under callgrind, relays the streams through plain proxy_pass and then
# through the mesh, 4 at a time, each run to its end, first by the Ollama
# door (/api/generate), then by the OpenAI door (/v1/chat/completions,
# "stream":true: server-sent events); counters are zeroed before and
# dumped after each side.
set -u
. "$(dirname "$0")/../lib/common.sh"
CG=0
if [ "${1:-}" = callgrind ]; then
    CG=1; NCG=${2:-20}; set -- 
fi
DUR=${1:-5}
ROUNDS=${2:-3}
NTTFT=${3:-300}
TOKENS=2000
AGENT=${AGENT:-$B/bin/echo-agent}
bench_init stream

start_redis 16780
for p in 16790 16791; do
    model=mistral:7b; [ $p = 16791 ] && model=llama3.2:3b
    taskset -c 1 "$B/bin/ollama-sim" --listen 127.0.0.1:$p --model $model \
        --tokens $TOKENS --parallel 256 --queue 512 >"$W/sim$p.log" 2>&1 &
    pids+=($!)
    wait_port $p
done
# paced like a model, for time to first token: the first token at once,
# then a pause before each of the other 7, so the rest of the reply does
# not compete for the CPU while the first token travels
for p in 16793 16794; do
    model=phi3:mini; [ $p = 16794 ] && model=qwen2.5:0.5b
    taskset -c 1 "$B/bin/ollama-sim" --listen 127.0.0.1:$p --model $model \
        --tokens 8 --token-delay-ms 1 --parallel 16 --queue 16 \
        >"$W/sim$p.log" 2>&1 &
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
        location = /v1/chat/completions { mesh_route openai; proxy_pass http://mesh_agents; }
        location /mesh/v1/nodes { mesh_node_api; }
    }
    server {
        listen 127.0.0.1:16771;
        location / { proxy_pass http://plain_sim; }
    }
    upstream paced_sim { server 127.0.0.1:16793; keepalive 16; }
    server {
        listen 127.0.0.1:16772;
        location / { proxy_pass http://paced_sim; }
    }
}
CONF
} > "$N/conf/nginx.conf"
# the same nginx again, on CPU 1, for the one-CPU paths: it shares the
# registry through Redis
N1=$W/nginx1
nginx_prefix "$N1"
sed 's/:16770;/:16773;/; s/:16771;/:16774;/; s/:16772;/:16775;/' \
    "$N/conf/nginx.conf" > "$N1/conf/nginx.conf"

if [ $CG = 1 ]; then
    mkdir -p "$W/cg"
    taskset -c 0 valgrind --tool=callgrind \
        --callgrind-out-file="$W/cg/out.%p" \
        /usr/sbin/nginx -p "$N" -c conf/nginx.conf \
        -g 'daemon off; master_process off;' >"$N/logs/valgrind.log" 2>&1 &
    pids+=($!); NGINX_PID=$!
    wait_port 16770
    start_hb 16770 "sim=127.0.0.1:16790:256:mistral:7b"
    BODY='{"model":"mistral:7b","prompt":"why is the sky blue"}'
    OA_BODY='{"model":"mistral:7b","stream":true,"messages":[{"role":"user","content":"why is the sky blue"}]}'
    streams() {   # $1 port, $2 streams, $3 path, $4 body, $5 end -> completed
        local j i w=()
        rm -f "$W"/s.*
        for j in 1 2 3 4; do
            for i in $(seq $j 4 "$2"); do
                taskset -c 1 curl -s -o "$W/s.$i" --max-time 300 \
                    -d "$4" "http://127.0.0.1:$1$3"
            done &
            w+=($!)
        done
        wait "${w[@]}"
        grep -lF "$5" "$W"/s.* 2>/dev/null | wc -l
    }
    OLLAMA=(/api/generate "$BODY" '"done":true')
    OPENAI=(/v1/chat/completions "$OA_BODY" 'data: [DONE]')
    # warm-up
    for port in 16771 16770; do
        streams $port 4 "${OLLAMA[@]}" >/dev/null
        streams $port 4 "${OPENAI[@]}" >/dev/null
    done
    echo "== instructions per relayed token (callgrind, nginx alone on CPU 0; $NCG streams of $TOKENS tokens per side, 4 at a time) =="
    printf '%-16s %8s %14s %12s\n' side streams instructions 'per token'
    declare -A ir=()
    for side in plain mesh plain-openai mesh-openai; do
        port=16771; [ "${side%-openai}" = mesh ] && port=16770
        door=("${OLLAMA[@]}"); [ "${side#*-}" = openai ] && door=("${OPENAI[@]}")
        callgrind_control -z "$NGINX_PID" >/dev/null 2>&1
        n=$(streams $port "$NCG" "${door[@]}")
        callgrind_control -d "$NGINX_PID" >/dev/null 2>&1
        f=$(ls -t "$W/cg"/out.$NGINX_PID.* | head -1)
        total=$(awk '/^totals:/ {print $2; exit}' "$f")
        ir[$side]=$(awk -v t="$total" -v n="$n" -v k=$TOKENS \
            'BEGIN { printf "%.0f", n ? t / (n * k) : 0 }')
        printf '%-16s %8d %14d %12d\n' $side "$n" "$total" "${ir[$side]}"
        cp "$f" "$W/cg/$side.out"
    done
    awk -v p="${ir[plain]}" -v m="${ir[mesh]}" \
        -v po="${ir[plain-openai]}" -v mo="${ir[mesh-openai]}" 'BEGIN {
        printf "mesh / plain: %.2fx\n", p ? m / p : 0
        printf "openai mesh / plain: %.2fx\n", po ? mo / po : 0 }'
    echo "(profiles: $W/cg/{plain,mesh}{,-openai}.out, callgrind_annotate --inclusive=yes)"
    exit 0
fi

start_nginx "$N1" 1
wait_port 16773
start_nginx "$N" 0
wait_port 16770
worker=$(worker_pids "$NGINX_PID")
# the first simulator registered as a node itself (it ignores the task
# token); the second behind a real echo-agent
start_hb 16770 "sim=127.0.0.1:16790:256:mistral:7b" \
    "paced-sim=127.0.0.1:16793:256:phi3:mini"
for a in 16792:16791:bench-agent 16795:16794:paced-agent; do
    IFS=: read -r port ollama id <<< "$a"
    taskset -c 1 "$AGENT" --orchestrator http://127.0.0.1:16770 \
        --listen 127.0.0.1:$port --advertise-host 127.0.0.1 \
        --ollama http://127.0.0.1:$ollama --node-id $id \
        --secret-file "$W/mesh.secret" --max-tasks 64 --log-level warn \
        --mdns off >"$W/agent-$id.log" 2>&1 &
    pids+=($!)
done
for port in 16770 16773; do
    for i in $(seq 1 100); do
        curl -s http://127.0.0.1:$port/mesh/v1/nodes | grep -q paced-agent \
            && curl -s http://127.0.0.1:$port/mesh/v1/nodes \
               | grep -q bench-agent && break
        sleep 0.1
    done
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
echo "== time to first token, $NTTFT streamed requests each, every path alternating (kept-alive, one write each) =="
echo "the floor: a wake-up on this machine (client, simulators, agents on CPU 1; nginx on CPU 0, the one-CPU nginx on CPU 1)"
taskset -c 1 perl "$TOP/bench/stream/wakeup.pl" 2000 1 0
taskset -c 1 perl "$TOP/bench/stream/ttft.pl" "$NTTFT" \
    "flood: simulator direct=16790" \
    "flood: plain nginx -> simulator=16771" \
    "flood: mesh -> simulator=16770" \
    "flood: simulator 2 direct=16791=llama3.2:3b" \
    "flood: mesh -> agent -> simulator 2=16770=llama3.2:3b" \
    "paced: simulator direct=16793=phi3:mini" \
    "paced: plain nginx -> simulator=16772=phi3:mini" \
    "paced: mesh -> simulator=16770=phi3:mini" \
    "paced: simulator 2 direct=16794=qwen2.5:0.5b" \
    "paced: mesh -> agent -> simulator 2=16770=qwen2.5:0.5b" \
    "one CPU: plain nginx -> simulator=16775=phi3:mini" \
    "one CPU: mesh -> simulator=16773=phi3:mini" \
    "one CPU: mesh -> agent -> simulator 2=16773=qwen2.5:0.5b" \
    | tee "$W/ttft.out"
# p50s by row: direct, plain, mesh, direct 2, mesh -> agent, per way
awk '{ v[NR] = $(NF - 4) }
     function added(name, d, p, m, d2, a) {
         printf "  added at p50, %-8s plain nginx %.3f ms; by nginx (mesh) %.3f ms, by the agent %.3f ms, together %.3f ms\n",
             name ":", v[p] - v[d], v[m] - v[d], (v[a] - v[d2]) - (v[m] - v[d]),
             v[a] - v[d2] }
     END { added("flood", 1, 2, 3, 4, 5); added("paced", 6, 7, 8, 9, 10)
           added("one CPU", 6, 11, 12, 9, 13) }' "$W/ttft.out"
