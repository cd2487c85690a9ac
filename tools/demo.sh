#!/bin/bash
# make demo: a local mesh in the foreground on 127.0.0.1.
#   a private redis-server, Debian's nginx with ngx_http_mesh_module on 8080,
#   NODES echo-agents (2 by default), each beside an Ollama (the real one
#   where it answers, the simulator otherwise).
#
# The mesh outlives its nodes: when an agent or a simulator exits, the demo
# says which node and where its log is, and goes on; so does it when Redis
# exits (nginx routes from its snapshot).  Only nginx exiting, or Ctrl-C,
# stops everything this script started.
#
#   tools/demo.sh                   run the mesh (MESH_DEMO_NODES=2)
#   tools/demo.sh restart NAME      ask the running demo to restart the
#                                   dead pieces of node NAME, or redis
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${MESH_BUILD:-$TOP/build}
DEMO=${MESH_DEMO_DIR:-$BUILD/demo}
BIN=$BUILD/bin
NGINX=${NGINX:-/usr/sbin/nginx}
HTTP_PORT=${MESH_DEMO_PORT:-8080}
NODES=${MESH_DEMO_NODES:-2}
# the first port tried for Redis, the simulators and the agents
REDIS_PORT=${MESH_DEMO_REDIS_PORT:-6390}
SIM_PORT=${MESH_DEMO_SIM_PORT:-11434}
AGENT_PORT=${MESH_DEMO_AGENT_PORT:-50052}
GRPC_PORT=${MESH_DEMO_GRPC_PORT:-50051}
NODES_MAX=8
CONTROL=$DEMO/control
ME="tools/demo.sh"

say() { printf 'demo: %s\n' "$*"; }

# ---- "tools/demo.sh restart NAME", run from another terminal ----------------

# The running demo owns every process (so Ctrl-C stops restarted ones too):
# this only drops a request in its control folder and waits for the answer.
request_restart() {
    local what=${1:-} pid i
    case $what in
        '' | *[!A-Za-z0-9._-]*)
            echo "usage: $ME restart <node name>|redis" >&2
            return 2 ;;
    esac
    pid=$(cat "$DEMO/demo.pid" 2>/dev/null)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        say "no demo is running (nothing in $DEMO/demo.pid)" >&2
        return 1
    fi
    rm -f "$CONTROL/$what.done"
    echo "$what" > "$CONTROL/$what.tmp" \
        && mv "$CONTROL/$what.tmp" "$CONTROL/$what.restart" || return 1
    for i in $(seq 1 600); do
        if [ -e "$CONTROL/$what.done" ]; then
            cat "$CONTROL/$what.done"
            grep -q "^demo: restarted" "$CONTROL/$what.done"
            return
        fi
        kill -0 "$pid" 2>/dev/null || { say "the demo stopped" >&2; return 1; }
        sleep 0.1
    done
    say "the demo (pid $pid) did not answer within 60 s" >&2
    return 1
}

if [ $# -gt 0 ]; then
    case $1 in
        restart) request_restart "${2:-}"; exit ;;
        *) echo "usage: $ME [restart <node name>|redis]" >&2; exit 2 ;;
    esac
fi

# ---- the demo itself --------------------------------------------------------

case $NODES in
    '' | *[!0-9]*) NODES=0 ;;
esac
if [ "$NODES" -lt 1 ] || [ "$NODES" -gt $NODES_MAX ]; then
    say "NODES must be a number from 1 to $NODES_MAX (got \"$MESH_DEMO_NODES\")"
    exit 2
fi

pids=()         # every process the demo started, by index
names=()        # their log names
gone=()         # set when the demo has reported the process dead
redis_idx=""
nginx_idx=""

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local p=$1
    while port_busy "$p"; do p=$((p + 1)); done
    echo "$p"
}

# wait_port PORT PID: until PORT accepts, while PID (ours) still runs
# (30 s at most: a start-up that hangs)
wait_port() {
    local i
    for i in $(seq 1 300); do
        kill -0 "$2" 2>/dev/null || return 1
        port_busy "$1" && return 0
        sleep 0.1
    done
    return 1
}

log_of() { echo "$DEMO/logs/${names[$1]}.log"; }

# launch IDX NAME CMD...: start CMD in the background as process IDX
# (a new one, or one that died), appending to its log.  Job control makes
# it the leader of a process group of its own, so that stopping the group
# also stops what outlives it: nginx's workers when its master was killed.
launch() {
    local idx=$1 name=$2; shift 2
    names[$idx]=$name
    set -m
    "$@" >>"$DEMO/logs/$name.log" 2>&1 &
    pids[$idx]=$!
    set +m
    gone[$idx]=""
}

# start NAME CMD...: launch as a new process; its index is in $started
start() {
    started=${#pids[@]}
    launch "$started" "$@"
}

cleanup() {
    trap - INT TERM EXIT
    say "stopping"
    local i p alive
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM -- "-${pids[$i]}" 2>/dev/null
    done
    for i in $(seq 1 100); do
        alive=0
        for p in "${pids[@]}"; do
            kill -0 -- "-$p" 2>/dev/null && alive=1
        done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${pids[@]}"; do
        kill -KILL -- "-$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -f "$DEMO/demo.pid"
    say "stopped; logs in $DEMO/logs"
}

trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

if port_busy "$HTTP_PORT"; then
    say "port $HTTP_PORT is in use: set MESH_DEMO_PORT=<port>"
    exit 1
fi

rm -rf "$DEMO"
mkdir -p "$DEMO/logs" "$DEMO/redis" "$DEMO/nginx/conf" "$DEMO/nginx/logs" \
         "$DEMO/nginx/tmp" "$CONTROL"
echo $$ > "$DEMO/demo.pid"

# the mesh credential: a fresh random secret, readable by us only
umask 077
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DEMO/mesh.secret"
umask 022

start_redis() {
    launch "$1" redis redis-server --bind 127.0.0.1 --port "$redis_port" \
        --save '' --appendonly no --dir "$DEMO/redis" --daemonize no
    wait_port "$redis_port" "${pids[$1]}"
}

redis_port=$(free_port "$REDIS_PORT")
start_redis "${#pids[@]}" || { say "redis-server did not start"; exit 1; }
redis_idx=$((${#pids[@]} - 1))
say "redis-server    127.0.0.1:$redis_port (pid ${pids[$redis_idx]}; private," \
    "no persistence)"

grpc_port=$(free_port "$GRPC_PORT")

cp "$TOP/conf/mesh_proxy.conf" "$DEMO/nginx/conf/"
cp "$DEMO/mesh.secret" "$DEMO/nginx/conf/mesh.secret"
sed -e "s|^load_module .*|load_module $BUILD/nginx/ngx_http_mesh_module.so;|" \
    -e "s|redis://127.0.0.1:6379|redis://127.0.0.1:$redis_port|" \
    -e "s|listen       8080;|listen       127.0.0.1:$HTTP_PORT;|" \
    -e "s|listen       50051 http2;|listen       127.0.0.1:$grpc_port http2;|" \
    -e "s|root .*/dashboard;|root $BUILD/dashboard;|" \
    "$TOP/conf/nginx.conf" > "$DEMO/nginx/conf/nginx.conf"

"$NGINX" -p "$DEMO/nginx" -c conf/nginx.conf -t -q \
    || { say "nginx -t failed"; exit 1; }
start nginx "$NGINX" -p "$DEMO/nginx" -c conf/nginx.conf -g 'daemon off;'
nginx_idx=$started
wait_port "$HTTP_PORT" "${pids[$nginx_idx]}" \
    || { say "nginx did not start"; exit 1; }
say "nginx           http://127.0.0.1:$HTTP_PORT (module" \
    "ngx_http_mesh_module, pid ${pids[$nginx_idx]})"
say "gRPC            127.0.0.1:$grpc_port (echo.mesh.Mesh, HTTP/2)"

# Node profiles, used in turn: together they have a vision, a code and two
# text models, and mistral:7b and llava:7b are each on two nodes.
profile_names=(node-vision node-code node-text)
llava=llava:7b,family=llava,size=4700000000,caps=completion+vision
mistral=mistral:7b,family=llama,size=4100000000
codellama=codellama:7b,family=llama,size=3800000000
llama=llama3.2:3b,family=llama,size=2000000000
profile_models=("$llava --model $mistral" "$codellama --model $mistral"
                "$llama --model $llava")

node_name=()    # per node: its node id
node_models=()  # the simulator's --model arguments
node_ollama=()  # the Ollama its agent relays to
node_sim=()     # its simulator's port, empty with the real Ollama
node_port=()    # its agent's port
node_sim_idx=() # process indexes, empty when not started
node_agent_idx=()

start_sim() {
    local n=$1 idx=${2:-${#pids[@]}}
    node_sim_idx[$n]=$idx
    # shellcheck disable=SC2086
    launch "$idx" "${node_name[$n]}-sim" "$BIN/ollama-sim" \
        --listen "127.0.0.1:${node_sim[$n]}" --model ${node_models[$n]} \
        --tokens 24 --token-delay-ms 40
    wait_port "${node_sim[$n]}" "${pids[$idx]}"
}

start_agent() {
    local n=$1 idx=${2:-${#pids[@]}}
    node_agent_idx[$n]=$idx
    launch "$idx" "${node_name[$n]}-agent" "$BIN/echo-agent" \
        --orchestrator "http://127.0.0.1:$HTTP_PORT" \
        --listen "127.0.0.1:${node_port[$n]}" \
        --advertise-host 127.0.0.1 \
        --ollama "${node_ollama[$n]}" \
        --node-id "${node_name[$n]}" \
        --secret-file "$DEMO/mesh.secret" \
        --mdns off    # loopback-only demo nodes: nothing to announce on the LAN
    wait_port "${node_port[$n]}" "${pids[$idx]}"
}

if [ ! -x "$BIN/echo-agent" ]; then
    say "echo-agent is not built yet: the mesh has no nodes"
fi

sim_port=$SIM_PORT
agent_port=$AGENT_PORT
for ((n = 0; n < NODES; n++)); do
    p=$((n % ${#profile_names[@]}))
    if [ "$n" -lt ${#profile_names[@]} ]; then
        node_name[$n]=${profile_names[$p]}
    else
        node_name[$n]=node-$((n + 1))
    fi
    node_models[$n]=${profile_models[$p]}
    node_sim[$n]=""
    node_sim_idx[$n]=""
    node_agent_idx[$n]=""

    if [ "$n" = 0 ] && [ "${MESH_DEMO_OLLAMA:-auto}" != sim ] \
            && curl -fs -m 1 http://127.0.0.1:11434/api/version \
            >/dev/null 2>&1; then
        node_ollama[$n]=http://127.0.0.1:11434
        say "ollama (real)   ${node_ollama[$n]} for ${node_name[$n]}"
    else
        sim_port=$(free_port "$sim_port")
        node_sim[$n]=$sim_port
        node_ollama[$n]=http://127.0.0.1:$sim_port
        start_sim "$n" || { say "simulator did not start"; exit 1; }
        say "ollama-sim      ${node_ollama[$n]} for ${node_name[$n]}" \
            "(pid ${pids[${node_sim_idx[$n]}]})"
        sim_port=$((sim_port + 1))
    fi

    if [ -x "$BIN/echo-agent" ]; then
        agent_port=$(free_port "$agent_port")
        node_port[$n]=$agent_port
        start_agent "$n" || { say "echo-agent did not start"; exit 1; }
        say "echo-agent      ${node_name[$n]} on 127.0.0.1:$agent_port" \
            "(pid ${pids[${node_agent_idx[$n]}]})"
        agent_port=$((agent_port + 1))
    fi
done

url=http://127.0.0.1:$HTTP_PORT
cat <<MSG

The mesh is up with $NODES node(s).  Dashboard: $url/
Try:
  curl -s  $url/mesh/v1/nodes
  curl -sN $url/mesh/v1/tasks \\
       -d '{"type":"code","prompt":"write a binary search in C"}'
  curl -si $url/api/generate \\
       -d '{"model":"mistral:7b","prompt":"hello mesh","stream":false}'
MSG
if [ "$NODES" -ge 2 ] && [ -n "${node_agent_idx[0]}" ]; then
    cat <<MSG

Failover: mistral:7b is on ${node_name[0]} and ${node_name[1]}.
  kill ${pids[${node_agent_idx[0]}]}        # the echo-agent of ${node_name[0]}
  This console says "${node_name[0]}: echo-agent ... exited", the node list
  no longer shows ${node_name[0]}, and the mistral:7b request above is
  answered by ${node_name[1]} (its X-Mesh-Node header).  Then
  $ME restart ${node_name[0]}
  brings it back: it is listed again a moment later.
MSG
fi
if [ "$NODES" -ge 2 ] && [ "$NODES" -lt 5 ]; then
    cat <<MSG

The queue: codellama:7b is on node-code only, 4 tasks at a time.  Send 8:
  for i in 1 2 3 4 5 6 7 8; do
    curl -s -o /dev/null -w '%{http_code}\\n' $url/api/generate \\
         -d '{"model":"codellama:7b","prompt":"q","stream":false}' & done; wait
  For a second the node list shows node-code with "active_tasks":4, and
  the mesh's "queued":4 after the nodes; then the waiting ones run, and the
  loop prints 200 eight times.
MSG
fi
cat <<MSG
Press Ctrl-C to stop everything.
MSG

# "exited with status 3" or "killed by SIGTERM", from wait's status
how_it_ended() {
    local st=$1
    if [ "$st" -gt 128 ]; then
        echo "killed by SIG$(kill -l $((st - 128)))"
    else
        echo "exited with status $st"
    fi
}

# A piece died: say so once; only nginx stops the demo.
report_death() {
    local idx=$1 st n what
    wait "${pids[$idx]}" 2>/dev/null
    st=$?
    gone[$idx]=1
    what="(pid ${pids[$idx]}) $(how_it_ended "$st")"
    if [ "$idx" = "$nginx_idx" ]; then
        say "nginx $what; see $(log_of "$idx") and" \
            "$DEMO/nginx/logs/error.log"
        say "the mesh cannot run without nginx: stopping everything"
        exit 1
    fi
    if [ "$idx" = "$redis_idx" ]; then
        say "redis-server $what; see $(log_of "$idx")"
        say "nginx and the nodes stay up: tasks are routed from nginx's" \
            "last snapshot of the registry, heartbeats get 503 and the" \
            "agents retry.  Restart it: $ME restart redis"
        return
    fi
    for ((n = 0; n < NODES; n++)); do
        if [ "$idx" = "${node_agent_idx[$n]}" ]; then
            say "${node_name[$n]}: echo-agent $what; see $(log_of "$idx")"
            say "the mesh goes on with the other nodes.  Restart it:" \
                "$ME restart ${node_name[$n]}"
        elif [ "$idx" = "${node_sim_idx[$n]}" ]; then
            say "${node_name[$n]}: ollama-sim $what; see $(log_of "$idx")"
            say "its agent stays up without an Ollama; tasks go to the" \
                "other nodes.  Restart it: $ME restart ${node_name[$n]}"
        fi
    done
}

# Restarts the dead pieces of node or "redis" $1, on the same ports;
# the outcome, one line for the requester, goes in $answer (a function
# run in $(...) would start the processes in a subshell).
restart() {
    local what=$1 n idx part fn label done_any=""
    answer=""
    if [ "$what" = redis ]; then
        if [ -z "${gone[$redis_idx]}" ]; then
            answer="not restarted: redis-server is running"
            return
        fi
        start_redis "$redis_idx" \
            || { answer="not restarted: redis-server did not start"; return; }
        answer="restarted redis-server (pid ${pids[$redis_idx]})"
        return
    fi
    for ((n = 0; n < NODES; n++)); do
        [ "${node_name[$n]}" = "$what" ] && break
    done
    if [ "$n" = "$NODES" ]; then
        answer="not restarted: no node \"$what\" (nodes: ${node_name[*]})"
        return
    fi
    for part in sim:ollama-sim:"${node_sim_idx[$n]}" \
                agent:echo-agent:"${node_agent_idx[$n]}"; do
        IFS=: read -r fn label idx <<< "$part"
        [ -n "$idx" ] && [ -n "${gone[$idx]}" ] || continue
        if ! "start_$fn" "$n" "$idx"; then
            answer="not restarted: $what's $label did not start"
            return
        fi
        done_any="${done_any:+$done_any and }$label (pid ${pids[$idx]})"
    done
    if [ -z "$done_any" ]; then
        answer="not restarted: every piece of $what is running"
        return
    fi
    answer="restarted $what: $done_any"
}

# Requests from "tools/demo.sh restart NAME" in the control folder.
serve_requests() {
    local req what answer
    for req in "$CONTROL"/*.restart; do
        [ -e "$req" ] || continue
        what=$(basename "$req" .restart)
        rm -f "$req"
        restart "$what"
        say "$answer"
        echo "demo: $answer" > "$CONTROL/$what.tmp-done"
        mv "$CONTROL/$what.tmp-done" "$CONTROL/$what.done"
    done
}

# Stay in the foreground: report deaths, serve restarts.  The shell's own
# notices ("line N: 1234 Killed ...") go to the demo's log: the console has
# ours.
exec 2>>"$DEMO/logs/demo.log"
while :; do
    for idx in "${!pids[@]}"; do
        [ -n "${gone[$idx]}" ] && continue
        kill -0 "${pids[$idx]}" 2>/dev/null || report_death "$idx"
    done
    serve_requests
    # an interruptible wait: Ctrl-C runs the trap at once
    sleep 1 &
    wait $!
done
