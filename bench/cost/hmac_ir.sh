#!/bin/bash
# Instructions per task-token MAC for three ways of computing it (see
# hmac_ir.c), under callgrind: (Ir of 1001 MACs - Ir of 1 MAC) / 1000.
# Not a test: it prints figures.
#
#   bench/cost/hmac_ir.sh [build dir, default build]
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$TOP/build}/bench-hmac
mkdir -p "$B"
cc -O2 -o "$B/hmac_ir" "$TOP/bench/cost/hmac_ir.c" \
    "$TOP/ngx_echo_module/ngx_http_mesh_hmac.c" -lcrypto

ir() {  # $1 mode, $2 count -> total Ir
    valgrind --tool=callgrind --callgrind-out-file="$B/hmac_ir.cg" \
        "$B/hmac_ir" "$1" "$2" >/dev/null 2>&1
    awk '/^totals:/ {print $2; exit}' "$B/hmac_ir.cg"
}

printf '%-8s %12s\n' mode 'Ir per MAC'
for mode in evp_mac md_copy sha256; do
    a=$(ir $mode 1); b=$(ir $mode 1001)
    printf '%-8s %12d\n' $mode $(( (b - a) / 1000 ))
done
rm -f "$B/hmac_ir.cg"
