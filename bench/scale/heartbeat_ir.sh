#!/bin/bash
# Instructions per heartbeat (callgrind: load-proof), with the registry
# in Redis and the zone holding NODES nodes: nginx as one process under
# callgrind (vgdb does not follow fork), the registry loaded by its resync
# from Redis, counters zeroed, COUNT heartbeats from those nodes, dumped.
# The one process handles each heartbeat and applies its own pub/sub
# message, as a one-worker nginx does.  The baseline, in the same
# invocation: plain nginx (no module) under callgrind answering the same
# COUNT requests with the mesh's reply.  Not a test.
#
#   bench/scale/heartbeat_ir.sh [nodes, default 10000] [count, default 300]
#
# The zone's nodes are down by the time the counted heartbeats come (9 s
# after the fill, under callgrind), so those are node.up heartbeats.
# WARM=1 first sends the counted nodes one heartbeat each, a few seconds
# before: the counted ones then find their node up and unchanged, as an
# agent's every heartbeat but its first does (node.heartbeat).
set -u
. "$(dirname "$0")/../lib/common.sh"
NODES=${1:-10000}
COUNT=${2:-300}
# other ports where another run holds these
RP=${BENCH_REDIS_PORT:-16681}
HP=${BENCH_PORT:-16671}
bench_init scale-ir

start_redis $RP
N=$W/nginx
nginx_prefix "$N"
{ mesh_head 1 $RP 80m; cat <<CONF
    mesh_node_networks 127.0.0.0/8;
    mesh_auth_window 600s;
    server {
        listen 127.0.0.1:$HP;
        location /mesh/v1/nodes { mesh_node_api; }
    }
}
CONF
} > "$N/conf/nginx.conf"
# fill the registry natively
start_nginx "$N" 0
wait_port $HP
perl "$TOP/bench/lib/sign_hb.pl" "$SECRET" "$NODES" "$NODES" > "$W/fill"
MESH_HB_FILE=$W/fill taskset -c 1 wrk -t1 -c8 -d30s \
    -s "$TOP/bench/lua/heartbeat_paced.lua" http://127.0.0.1:$HP \
    > "$W/fill.out" 2>&1
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null
in_redis=$(redis-cli -p $RP --scan --pattern '*' | grep -c "bench-")

mkdir -p "$W/cg"
taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$W/cg/out.%p" \
    /usr/sbin/nginx -p "$N" -c conf/nginx.conf \
    -g 'daemon off; master_process off;' >"$N/logs/valgrind.log" 2>&1 &
pids+=($!); NGINX_PID=$!
wait_port $HP
sleep 20    # the resync from Redis fills the zone
perl "$TOP/bench/lib/sign_hb.pl" "$SECRET" "$COUNT" "$NODES" > "$W/hb"
if [ "${WARM:-0}" = 1 ]; then
    perl "$TOP/bench/lib/sign_hb.pl" "$SECRET" "$COUNT" "$NODES" > "$W/warm"
    MESH_HB_FILE=$W/warm taskset -c 1 wrk -t1 -c2 -d3s \
        -s "$TOP/bench/lua/heartbeat_paced.lua" http://127.0.0.1:$HP \
        > "$W/warm.out" 2>&1
fi
# the counted run: $1 the process under callgrind, $2 wrk's output,
# $3 the callgrind file's prefix; sets f to its dump
counted() {
    callgrind_control -z "$1" >/dev/null 2>&1
    MESH_HB_FILE=$W/hb taskset -c 1 wrk -t1 -c2 -d60s \
        -s "$TOP/bench/lua/heartbeat_paced.lua" http://127.0.0.1:$HP \
        > "$2" 2>&1
    callgrind_control -d "$1" >/dev/null 2>&1
    f=$(ls -t "$W/cg"/$3.$1.* | head -1)
}
counted "$NGINX_PID" "$W/hb.out" out
n=$(awk '/ requests in / {print $1}' "$W/hb.out")
bad=$(awk '/non-200 replies/ {print $3}' "$W/hb.out")
awk -v n="$n" -v nodes="$NODES" -v r="$in_redis" -v bad="$bad" \
    '/^totals:/ { printf "%5d nodes (%d keys in Redis): %d heartbeats (non-200 %d), %.0f instructions each\n", nodes, r, n, bad, $2 / n; exit }' "$f"
callgrind_annotate --auto=no --threshold=100 "$f" 2>/dev/null | \
    grep -E "registry_find|strcmp|yajl_parse|libcrypto" | head -4 | \
    awk '{ printf "    %s %s %s %s\n", $1, $2, $3, $4 }'
# where it goes, inclusive, per heartbeat (the run's timers included;
# a function listed under two file names is summed)
echo "    inclusive, instructions per heartbeat:"
callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$f" \
    2>/dev/null | tr -d , | awk -v n="$n" '
    $2 ~ /^\(/ {
        for (i = 3; i <= NF; i++) if ($i ~ /:/) { fn = $i; break }
        sub(/^.*:/, "", fn)
        if (fn ~ /^(ngx_http_mesh_(node_heartbeat|sync_on_message|parse_caps|sync_flush_load|sync_sweep_handler|sync_resync_node|sign_verify)|redisvFormatCommand|redisFormatCommandArgv)$/)
            ir[fn] += $1 }
    END { for (fn in ir) printf "    %9.0f  %s\n", ir[fn] / n, fn }' | sort -rn

# the baseline: the same requests to plain nginx, one process, counted
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null
P=$W/plain
plain_heartbeat_conf "$P" $HP 1
rm -f "$W"/cg/plain.*
taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$W/cg/plain.%p" \
    /usr/sbin/nginx -p "$P" -c conf/nginx.conf \
    -g 'daemon off; master_process off;' >"$P/logs/valgrind.log" 2>&1 &
pids+=($!); PLAIN_PID=$!
wait_port $HP
sleep 5
mesh_ir=$(awk -v n="$n" '/^totals:/ { printf "%.0f", $2 / n; exit }' "$f")
counted "$PLAIN_PID" "$W/plain.out" plain
pf=$f
pn=$(awk '/ requests in / {print $1}' "$W/plain.out")
awk -v n="$pn" -v m="$mesh_ir" '/^totals:/ {
    p = $2 / n; printf "plain nginx, the same %d requests: %.0f instructions each; mesh %.2fx plain, %.0f more\n", n, p, m / p, m - p; exit }' "$pf"
