#!/bin/bash
# Section 3: the mesh against the Portkey AI gateway (@portkey-ai/gateway,
# from npm, run with Node), both before the same OpenAI-compatible backend
# (the stand-in node, bench/lib/common.sh), same load, alternating in one
# run: non-streamed /v1/chat/completions throughput and p50/p99, and the
# stand-in called directly as the baseline for added latency; then streamed
# time to first token before a zero-delay simulator (llama3.2:3b, also a
# node of the mesh), alternating request by request with the simulator
# direct.  Plain nginx proxy_pass to the same backend, in the mesh's nginx,
# shows what the nginx hop alone adds.  The gateway or nginx runs alone on
# CPU 0; wrk, the stand-in and the simulator on CPU 1.
# Not a test: it prints figures.
#
#   bench/portkey/run.sh [seconds per run, default 5] [rounds, default 3]
#                        [TTFT requests per target, default 300]
#
# The mesh side needs a module with "mesh_route openai" (issue 11); it is
# measured when $MODULE has that directive (nginx -t says so), and skipped
# with a note otherwise.
set -u
. "$(dirname "$0")/../lib/common.sh"
DUR=${1:-5}
ROUNDS=${2:-3}
NTTFT=${3:-300}
bench_init portkey
PK=$TOP/bench/portkey
[ -f "$PK/node_modules/@portkey-ai/gateway/build/start-server.js" ] || \
    (cd "$PK" && npm ci --no-audit --no-fund --loglevel=error) || exit 1

start_redis 16880
start_standin 16891 1
taskset -c 1 "$B/bin/ollama-sim" --listen 127.0.0.1:16892 \
    --model llama3.2:3b --tokens 8 --parallel 64 >"$W/sim.log" 2>&1 &
pids+=($!)
wait_port 16892
taskset -c 0 node "$PK/node_modules/@portkey-ai/gateway/build/start-server.js" \
    --port=16881 --headless >"$W/portkey.log" 2>&1 &
pids+=($!); PORTKEY_PID=$!
wait_port 16881

N=$W/nginx
nginx_prefix "$N"
{ mesh_head 1 16880 16m; cat <<CONF
    upstream mesh_agents { mesh_balancer; keepalive 64; }
    upstream plain_backend { server 127.0.0.1:16891; keepalive 64; }
    $PROXY_CONF
    server {
        listen 127.0.0.1:16871;
        location /v1/ { proxy_pass http://plain_backend; }
    }
    server {
        listen 127.0.0.1:16870;
        $MESH_HEADERS
        location /v1/ { mesh_route openai; proxy_pass http://mesh_agents; }
        location /mesh/v1/nodes { mesh_node_api; }
    }
}
CONF
} > "$N/conf/nginx.conf"
mesh=0
if /usr/sbin/nginx -p "$N" -c conf/nginx.conf -t >"$W/nginx-t.log" 2>&1; then
    start_nginx "$N" 0
    wait_port 16870
    start_hb 16870 "standin=127.0.0.1:16891:100000:mistral:7b" \
        "sim=127.0.0.1:16892:64:llama3.2:3b"
    mesh=1
else
    echo "(mesh side skipped: this module has no \"mesh_route openai\";"
    echo " MODULE=<a build of issue 11> bench/portkey/run.sh measures it)"
fi

BODY='{"model":"mistral:7b","messages":[{"role":"user","content":"why is the sky blue"}]}'
PKH="x-portkey-provider: ollama|x-portkey-custom-host: http://127.0.0.1:16891"
run_wrk() {   # $1 port, $2 connections, $3 seconds, $4 headers
    DOOR_PATH=/v1/chat/completions DOOR_BODY=$BODY DOOR_HEADERS=$4 \
        taskset -c 1 wrk -t1 -c"$2" -d"$3s" --latency --timeout 10s \
        -s "$TOP/bench/lua/door.lua" "http://127.0.0.1:$1" > "$W/wrk.out" 2>&1
}
# the gateway must really reach the backend: one reply checked by content
reply=$(curl -s -H 'Content-Type: application/json' \
    -H 'x-portkey-provider: ollama' \
    -H 'x-portkey-custom-host: http://127.0.0.1:16891' -d "$BODY" \
    http://127.0.0.1:16881/v1/chat/completions)
case "$reply" in
    *"why is the sky blue"*) ;;
    *) echo "portkey did not relay the stand-in's reply: $reply" >&2; exit 1 ;;
esac
run_wrk 16881 16 2 "$PKH"
[ $mesh = 1 ] && run_wrk 16870 16 2 "" && run_wrk 16871 16 2 ""

echo "== /v1/chat/completions, non-streamed; gateway alone on CPU 0, wrk and the backend on CPU 1; $ROUNDS rounds of ${DUR}s =="
printf '%-18s %-8s %10s %10s %10s %6s\n' target load 'req/s' 'p50 us' \
    'p99 us' bad
for r in $(seq 1 "$ROUNDS"); do
    for c in 16 1; do
        for t in direct portkey plain mesh; do
            case $t in
                direct)  port=16891; h="" ;;
                portkey) port=16881; h=$PKH ;;
                plain)   [ $mesh = 1 ] || continue; port=16871; h="" ;;
                mesh)    [ $mesh = 1 ] || continue; port=16870; h="" ;;
            esac
            run_wrk $port $c "$DUR" "$h"
            read -r rps n p50 p99 bad <<< "$(wrk_parse "$W/wrk.out")"
            printf '%-18s %-8s %10s %10s %10s %6s\n' "$t" "c$c r$r" \
                "$rps" "$p50" "$p99" "$bad"
        done
    done
done | tee "$W/rounds.out"
# the target's two ratios, round by round: throughput at -c16, and the
# p50 each adds over the backend direct at -c1 (plain nginx: the hop alone)
awk '{ k = $1 " " $2 " " $3; rps[k] = $4; p50[k] = $5 }
     $2 == "c16" { r = substr($3, 2) + 0; if (r > n) n = r }
     END {
        if (!(("mesh c16 r1") in rps)) exit
        for (r = 1; r <= n; r++) {
            d = p50["direct c1 r" r]
            printf "  round %d: throughput mesh / Portkey %.1fx; added p50 at -c1: Portkey %d us, plain nginx %d us, mesh %d us, mesh / Portkey 1/%.0f\n",
                r, rps["mesh c16 r" r] / rps["portkey c16 r" r],
                p50["portkey c1 r" r] - d, p50["plain c1 r" r] - d,
                p50["mesh c1 r" r] - d,
                (p50["portkey c1 r" r] - d) / (p50["mesh c1 r" r] - d)
        } }' "$W/rounds.out"

echo
echo "== streamed /v1/chat/completions, time to first token, $NTTFT requests each, alternating (kept-alive) =="
targets=("simulator direct=16892=llama3.2:3b=openai")
# Portkey 1.15.2 (and 1.9.8) on Node 20 answer a streamed chat with 500
# "TypeError: immutable" (Portkey-AI/gateway issues 1389, 1550): said, not
# measured, when it still does
code=$(curl -s -o "$W/pk-stream.out" -w '%{http_code}' \
    -H 'Content-Type: application/json' -H 'x-portkey-provider: ollama' \
    -H 'x-portkey-custom-host: http://127.0.0.1:16892' \
    -d '{"model":"llama3.2:3b","messages":[{"role":"user","content":"hi"}],"stream":true}' \
    http://127.0.0.1:16881/v1/chat/completions)
if [ "$code" = 200 ]; then
    targets+=("portkey -> simulator=16881=llama3.2:3b=openai=x-portkey-provider: ollama|x-portkey-custom-host: http://127.0.0.1:16892")
else
    echo "  portkey cannot stream here: $code $(head -c 200 "$W/pk-stream.out")"
    grep -m1 -o 'TypeError: [a-z]*' "$W/portkey.log" | sed 's/^/  portkey log: /'
fi
[ $mesh = 1 ] && targets+=("mesh -> simulator=16870=llama3.2:3b=openai")
taskset -c 1 perl "$TOP/bench/stream/ttft.pl" "$NTTFT" "${targets[@]}" | \
    tee "$W/ttft.out"
awk '/TTFT/ { v[$1] = $(NF - 4) }
     END { if ("portkey" in v) printf "  added at p50: by Portkey %.3f ms\n",
               v["portkey"] - v["simulator"];
           if ("mesh" in v) printf "  added at p50: by the mesh %.3f ms\n",
               v["mesh"] - v["simulator"];
           if (("portkey" in v) && ("mesh" in v) && v["mesh"] > v["simulator"])
               printf "  mesh / Portkey added: 1/%.0f\n",
                   (v["portkey"] - v["simulator"]) / (v["mesh"] - v["simulator"]) }' "$W/ttft.out"
