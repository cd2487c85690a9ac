# The orchestrator: Debian 12's own nginx with ngx_http_mesh_module, and
# the dashboard it serves.  Build from the top of the tree:
#   podman build -f docker/orchestrator.Dockerfile -t echo-mesh/orchestrator .
# (docker/docker-compose.yml does this.)  No secret is baked in: nginx
# reads it from /run/mesh-secret/mesh.secret, a volume or a bind mount.

# ---- the module, with Debian's recipe (dh_nginx), as `make module` does.
# The apt line is the same in node-agent.Dockerfile, so the two builders
# share that layer.
FROM debian:bookworm AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential pkg-config dpkg-dev make nginx-dev \
        libhiredis-dev libprotobuf-c-dev protobuf-c-compiler libyajl-dev \
        libmicrohttpd-dev libssl-dev libavahi-client-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY proto proto
COPY ngx_echo_module ngx_echo_module
RUN make proto module BUILD=/src/build

# ---- the dashboard: Debian's npm installs the lock files' packages;
# Vite needs Node 20, which comes as Node's own binary from the npm
# registry (docker/node), since Debian 12's nodejs is 18.
# A machine whose way out re-signs TLS (a proxy with its own CA) mounts its
# CA bundle at /run/host-ca.crt during the build (tools/compose.sh does);
# this stage is not part of the image, and node only warns without it.
FROM debian:bookworm AS dashboard
ENV NODE_EXTRA_CA_CERTS=/run/host-ca.crt
RUN apt-get update \
    && apt-get install -y --no-install-recommends npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /node
COPY docker/node/package.json docker/node/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
    && case "$(dpkg --print-architecture)" in \
        amd64) a=x64 ;; *) a=$(dpkg --print-architecture) ;; esac \
    && ln -s "/node/node_modules/node-linux-$a/bin/node" /usr/local/bin/node \
    && node --version | grep '^v20\.'
WORKDIR /src/dashboard
COPY dashboard/package.json dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY dashboard/index.html dashboard/vite.config.js ./
COPY dashboard/src src
RUN DASHBOARD_OUT=/out npx vite build --logLevel warn

# ---- the image: nginx, the module's libraries, the conf from conf/
FROM debian:bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        nginx libhiredis0.14 libprotobuf-c1 libyajl2 libssl3 curl \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default
COPY --from=builder /src/build/nginx/ngx_http_mesh_module.so \
    /usr/lib/nginx/modules/
COPY --from=dashboard /out /usr/share/echo-system/dashboard
COPY conf/nginx.conf conf/mesh_proxy.conf /srv/mesh/conf/
COPY docker/orchestrator-entrypoint.sh /usr/local/bin/mesh-orchestrator
# In a container: logs to stderr/stdout, Redis by its service name, the
# secret from its mount.
RUN sed -i \
        -e 's|^error_log .*|error_log  stderr notice;|' \
        -e 's|^\( *access_log\) .*|\1  /dev/stdout;|' \
        -e 's|redis://127.0.0.1:6379|redis://redis:6379|' \
        -e 's|mesh_secret_file .*|mesh_secret_file  /run/mesh-secret/mesh.secret;|' \
        /srv/mesh/conf/nginx.conf \
    && grep -q 'redis://redis:6379' /srv/mesh/conf/nginx.conf \
    && grep -q '^error_log  stderr' /srv/mesh/conf/nginx.conf \
    && mkdir -p /srv/mesh/logs /srv/mesh/tmp
EXPOSE 8080 50051
ENTRYPOINT ["/usr/local/bin/mesh-orchestrator"]
