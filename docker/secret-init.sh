#!/bin/sh
# The "secret" service: writes a fresh random mesh secret into the shared
# volume once, and keeps the one already there (an `up` after a `stop`
# keeps the mesh's secret; `down -v` removes it).  Mounted in its place, a
# secret of your own is kept the same way.  Owned by the agents' user,
# 0640: nginx reads it as root, no other user can.
set -eu

secret=/run/mesh-secret/mesh.secret
if [ -s "$secret" ]; then
    echo "mesh-secret: keeping the secret in $secret"
    exit 0
fi
umask 077
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret.tmp"
chown echo-agent:echo-agent "$secret.tmp"
chmod 0640 "$secret.tmp"
mv "$secret.tmp" "$secret"
echo "mesh-secret: wrote a new secret to $secret"
