#!/bin/bash
# What of OpenSSL costs the agent memory: openssl_probe.c built five ways
# (see there), each one's PSS and private, and libcrypto's, libssl's and
# [heap]'s resident pages from /proc/PID/smaps (KiB).  Other processes
# mapping libcrypto make its pages shared, not private: the script says
# how many there are.  Not a test: it prints.
#
#   bench/agent/openssl_probe.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

LIBS="-lmicrohttpd -lyajl -lavahi-client -lavahi-common -pthread"
CC="cc -O2 -Wl,--no-as-needed"
$CC -DNO_OPENSSL -o "$T/no-openssl" "$HERE/openssl_probe.c" $LIBS
$CC -o "$T/loaded" "$HERE/openssl_probe.c" -lssl -lcrypto $LIBS
$CC -DDO_DIGEST -o "$T/digest" "$HERE/openssl_probe.c" -lssl -lcrypto $LIBS
$CC -DDO_HMAC -o "$T/hmac" "$HERE/openssl_probe.c" -lssl -lcrypto $LIBS
$CC -DDO_CTX -o "$T/ssl-ctx" "$HERE/openssl_probe.c" -lssl -lcrypto $LIBS

# Rss/Private_Clean/Private_Dirty of the mappings whose name matches $2
lib() {
    awk -v l="$2" '
        /^[0-9a-f]+-/ { cur = ($6 ~ l) }
        cur && /^Rss:/ { r += $2 }
        cur && /^Private_Clean:/ { c += $2 }
        cur && /^Private_Dirty:/ { d += $2 }
        END { printf "%d/%d/%d", r, c, d }' "$1"
}

echo "other processes mapping libcrypto:" \
    "$(grep -l 'libcrypto\.so' /proc/[0-9]*/maps 2>/dev/null | wc -l)"
printf "%-11s %6s %8s  %-17s %-17s %s\n" program PSS private \
    "libcrypto r/pc/pd" "libssl r/pc/pd" "[heap] r/pc/pd"
for p in no-openssl loaded digest hmac ssl-ctx; do
    "$T/$p" > "$T/$p.out" &
    pid=$!
    for _ in $(seq 50); do [ -s "$T/$p.out" ] && break; sleep 0.1; done
    cp "/proc/$pid/smaps" "$T/smaps"
    printf "%-11s %6d %8d  %-17s %-17s %s\n" "$p" \
        "$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup")" \
        "$(awk '/^Private_(Clean|Dirty):/ { v += $2 } END { print v }' \
            "/proc/$pid/smaps_rollup")" \
        "$(lib "$T/smaps" libcrypto)" "$(lib "$T/smaps" libssl)" \
        "$(lib "$T/smaps" '^\\[heap\\]$')"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done
