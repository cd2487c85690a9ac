# A node: echo-agent, and the Ollama simulator for a model-free demo
# (MESH_SIM_MODELS; see node-entrypoint.sh).  Pointed at a real Ollama
# instead with ECHO_AGENT_OLLAMA (docker/docker-compose.ollama.yml).
# Build from the top of the tree:
#   podman build -f docker/node-agent.Dockerfile -t echo-mesh/node .
# The same image runs the "secret" service (secret-init.sh).  No secret is
# baked in: the agent reads /run/mesh-secret/mesh.secret.

# ---- the agent and the simulator.  The apt line is the same in
# orchestrator.Dockerfile, so the two builders share that layer.
FROM debian:bookworm AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential pkg-config dpkg-dev make nginx-dev \
        libhiredis-dev libprotobuf-c-dev protobuf-c-compiler libyajl-dev \
        libmicrohttpd-dev libssl-dev libavahi-client-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY common common
COPY agent agent
COPY tools/ollama-sim tools/ollama-sim
RUN make -C agent BUILD=/src/build \
    && make -C tools/ollama-sim BUILD=/src/build

# ---- the image
FROM debian:bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libyajl2 libssl3 libavahi-client3 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin echo-agent \
    && mkdir -p /run/mesh-secret
COPY --from=builder /src/build/bin/echo-agent /src/build/bin/ollama-sim \
    /usr/local/bin/
COPY docker/node-entrypoint.sh /usr/local/bin/mesh-node
COPY docker/secret-init.sh /usr/local/bin/mesh-secret-init
ENV ECHO_AGENT_LISTEN=0.0.0.0:50052
EXPOSE 50052
ENTRYPOINT ["/usr/local/bin/mesh-node"]
