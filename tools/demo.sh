#!/bin/bash
# make demo: a local mesh in the foreground on 127.0.0.1.
#   a private redis-server, Debian's nginx with ngx_http_mesh_module on 8080,
#   two echo-agents, each beside an Ollama (the real one where it answers,
#   the simulator otherwise).  Ctrl-C stops everything this script started.
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${MESH_BUILD:-$TOP/build}
DEMO=$BUILD/demo
BIN=$BUILD/bin
NGINX=${NGINX:-/usr/sbin/nginx}
HTTP_PORT=${MESH_DEMO_PORT:-8080}

pids=()
names=()

say() { printf 'demo: %s\n' "$*"; }

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local p=$1
    while port_busy "$p"; do p=$((p + 1)); done
    echo "$p"
}

wait_port() {
    local i
    for i in $(seq 1 100); do
        port_busy "$1" && return 0
        sleep 0.1
    done
    return 1
}

start() {
    local name=$1; shift
    "$@" >"$DEMO/logs/$name.log" 2>&1 &
    pids+=($!)
    names+=("$name")
}

cleanup() {
    trap - INT TERM EXIT
    say "stopping"
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[$i]}" 2>/dev/null
    done
    for i in $(seq 1 100); do
        local alive=0 p
        for p in "${pids[@]}"; do
            kill -0 "$p" 2>/dev/null && alive=1
        done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${pids[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
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
         "$DEMO/nginx/tmp"

# the mesh credential: a fresh random secret, readable by us only
umask 077
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DEMO/mesh.secret"
umask 022

redis_port=$(free_port 6390)
start redis redis-server --bind 127.0.0.1 --port "$redis_port" --save '' \
    --appendonly no --dir "$DEMO/redis" --daemonize no
wait_port "$redis_port" || { say "redis-server did not start"; exit 1; }
say "redis-server    127.0.0.1:$redis_port (private, no persistence)"

cp "$TOP/conf/mesh_proxy.conf" "$DEMO/nginx/conf/"
cp "$DEMO/mesh.secret" "$DEMO/nginx/conf/mesh.secret"
sed -e "s|^load_module .*|load_module $BUILD/nginx/ngx_http_mesh_module.so;|" \
    -e "s|redis://127.0.0.1:6379|redis://127.0.0.1:$redis_port|" \
    -e "s|listen       8080;|listen       127.0.0.1:$HTTP_PORT;|" \
    -e "s|root .*/dashboard;|root $BUILD/dashboard;|" \
    "$TOP/conf/nginx.conf" > "$DEMO/nginx/conf/nginx.conf"

"$NGINX" -p "$DEMO/nginx" -c conf/nginx.conf -t -q \
    || { say "nginx -t failed"; exit 1; }
start nginx "$NGINX" -p "$DEMO/nginx" -c conf/nginx.conf -g 'daemon off;'
wait_port "$HTTP_PORT" || { say "nginx did not start"; exit 1; }
say "nginx           http://127.0.0.1:$HTTP_PORT (module ngx_http_mesh_module)"

# node 1: vision + text, node 2: code + text
node_models=("llava:7b,family=llava,size=4700000000,caps=completion+vision --model mistral:7b,family=llama,size=4100000000"
             "codellama:7b,family=llama,size=3800000000 --model mistral:7b,family=llama,size=4100000000")
node_names=(node-vision node-code)
sim_port=11434
agent_port=50052

if [ ! -x "$BIN/echo-agent" ]; then
    say "echo-agent is not built yet: the mesh has no nodes"
fi

for i in 0 1; do
    ollama_url=""
    if [ "$i" = 0 ] && curl -fs -m 1 http://127.0.0.1:11434/api/version \
            >/dev/null 2>&1; then
        ollama_url=http://127.0.0.1:11434
        say "ollama (real)   $ollama_url for ${node_names[$i]}"
    else
        sim_port=$(free_port "$sim_port")
        # shellcheck disable=SC2086
        start "sim-$i" "$BIN/ollama-sim" --listen "127.0.0.1:$sim_port" \
            --model ${node_models[$i]} --tokens 24 --token-delay-ms 40
        wait_port "$sim_port" || { say "simulator did not start"; exit 1; }
        ollama_url=http://127.0.0.1:$sim_port
        say "ollama-sim      $ollama_url for ${node_names[$i]}"
        sim_port=$((sim_port + 1))
    fi

    if [ -x "$BIN/echo-agent" ]; then
        agent_port=$(free_port "$agent_port")
        start "agent-$i" "$BIN/echo-agent" \
            --orchestrator "http://127.0.0.1:$HTTP_PORT" \
            --listen "127.0.0.1:$agent_port" \
            --advertise-host 127.0.0.1 \
            --ollama "$ollama_url" \
            --node-id "${node_names[$i]}" \
            --secret-file "$DEMO/mesh.secret"
        wait_port "$agent_port" || { say "echo-agent did not start"; exit 1; }
        say "echo-agent      ${node_names[$i]} on 127.0.0.1:$agent_port"
        agent_port=$((agent_port + 1))
    fi
done

cat <<MSG

The mesh is up.  Dashboard: http://127.0.0.1:$HTTP_PORT/
Try:
  curl -s http://127.0.0.1:$HTTP_PORT/mesh/v1/nodes
  curl -sN http://127.0.0.1:$HTTP_PORT/mesh/v1/tasks \\
       -d '{"type":"code","prompt":"write a binary search in C"}'
  curl -sN http://127.0.0.1:$HTTP_PORT/api/generate \\
       -d '{"model":"mistral:7b","prompt":"hello mesh"}'
Press Ctrl-C to stop everything.
MSG

# stay in the foreground; if a piece dies, say so and stop
while :; do
    for idx in "${!pids[@]}"; do
        if ! kill -0 "${pids[$idx]}" 2>/dev/null; then
            say "${names[$idx]} exited; see $DEMO/logs/${names[$idx]}.log"
            exit 1
        fi
    done
    # an interruptible wait: Ctrl-C runs the trap at once
    sleep 1 &
    wait $!
done
