#!/bin/sh
# The orchestrator container's entry point.  nginx resolves the Redis
# name and reads the secret once, at start: wait (bounded) until the
# compose network knows "redis" and the secret service has written the
# secret, then run nginx in the foreground as PID 1.
set -eu

secret=/run/mesh-secret/mesh.secret
wait_for() {
    what=$1; shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 120 ]; then
            echo "mesh-orchestrator: no $what after 60 s" >&2
            exit 1
        fi
        sleep 0.5
    done
}
wait_for "mesh secret in $secret" test -s "$secret"
wait_for "address for \"redis\"" getent hosts redis

nginx -p /srv/mesh -c conf/nginx.conf -t -q
exec nginx -p /srv/mesh -c conf/nginx.conf -g 'daemon off;'
