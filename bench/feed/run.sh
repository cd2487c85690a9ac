#!/bin/sh
# Live feed benchmark (not a test): 500 WebSocket clients on one nginx
# worker receive every event of a burst.  Needs make build, redis-server,
# python3-websockets.  Usage: bench/feed/run.sh [clients] [events]
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
clients=${1:-500}
events=${2:-1000}
dir=$top/build/bench-feed
rm -rf "$dir" && mkdir -p "$dir/conf" "$dir/logs" "$dir/tmp"
rport=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
nport=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')

cat > "$dir/conf/nginx.conf" <<EOC
load_module $top/build/nginx/ngx_http_mesh_module.so;
worker_processes 1;
worker_rlimit_nofile 4096;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 2048; }
http {
    access_log off;
    client_body_temp_path tmp/b; proxy_temp_path tmp/p;
    fastcgi_temp_path tmp/f; uwsgi_temp_path tmp/u; scgi_temp_path tmp/s;
    mesh_registry redis://127.0.0.1:$rport;
    mesh_zone mesh 4m;
    mesh_feed_max_clients 1000;
    server {
        listen 127.0.0.1:$nport;
        location = /mesh/v1/feed { mesh_feed; }
    }
}
EOC

redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no \
    --dir "$dir" --daemonize yes --logfile "$dir/logs/redis.log"
/usr/sbin/nginx -p "$dir/" -c conf/nginx.conf
trap '/usr/sbin/nginx -p "$dir/" -c conf/nginx.conf -s stop; redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true' EXIT
sleep 0.5
worker=$(pgrep -P "$(cat "$dir/logs/nginx.pid")" | head -1)
ulimit -n 4096
/usr/bin/python3 "$top/bench/feed/feed_bench.py" \
    "ws://127.0.0.1:$nport/mesh/v1/feed" "$rport" "$worker" "$clients" \
    "$events"
echo "baseline, 1 client:"
/usr/bin/python3 "$top/bench/feed/feed_bench.py" \
    "ws://127.0.0.1:$nport/mesh/v1/feed" "$rport" "$worker" 1 "$events"
grep -E '\[(alert|crit|error)\]' "$dir/logs/error.log" || true
