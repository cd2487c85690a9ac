#!/bin/sh
# A node container's entry point: echo-agent in the foreground (PID 1, so
# `stop` drains it), configured by ECHO_AGENT_* variables (see
# agent/README.md).  With MESH_SIM_MODELS set, an Ollama simulator serves
# those models on the container's loopback, as a model-free Ollama would
# (space-separated ollama-sim --model specs); without it, ECHO_AGENT_OLLAMA
# names a real Ollama.
set -eu

: "${ECHO_AGENT_SECRET_FILE:=/run/mesh-secret/mesh.secret}"
export ECHO_AGENT_SECRET_FILE

i=0
until [ -s "$ECHO_AGENT_SECRET_FILE" ]; do
    i=$((i + 1))
    if [ "$i" -gt 120 ]; then
        echo "mesh-node: no mesh secret in $ECHO_AGENT_SECRET_FILE" \
             "after 60 s" >&2
        exit 1
    fi
    sleep 0.5
done

if [ -n "${MESH_SIM_MODELS:-}" ]; then
    set --
    for m in $MESH_SIM_MODELS; do
        set -- "$@" --model "$m"
    done
    ollama-sim --listen 127.0.0.1:11434 --tokens "${MESH_SIM_TOKENS:-24}" \
        --token-delay-ms "${MESH_SIM_TOKEN_DELAY_MS:-40}" "$@" &
    ECHO_AGENT_OLLAMA=http://127.0.0.1:11434
    export ECHO_AGENT_OLLAMA
fi

exec setpriv --reuid=echo-agent --regid=echo-agent --init-groups \
    echo-agent
