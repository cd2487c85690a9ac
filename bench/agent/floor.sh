#!/bin/bash
# The agent's memory floor, apart from the agent (issue 13, section 5):
#  1. what loading its libraries costs: a program that only links a set
#     of them and sleeps (floor_libs.c), PSS and private per set;
#  2. what the relay's curl handles cost per connection thread: 20
#     threads holding a curl multi and easy handle after one POST to the
#     simulator, against 20 threads doing nothing (curl_threads.c).
# Figures depend on what else maps the same libraries: the script prints
# how many other processes map libcurl.  Not a test: it prints.  Since
# the agent has its own HTTP client it needs libcurl4-openssl-dev only
# for this comparison (tools/install-deps.sh no longer installs it).
#
#   bench/agent/floor.sh [build dir, default ./build]
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../../build}
SIM=$BUILD/bin/ollama-sim
[ -x "$SIM" ] || { echo "$SIM is missing: run make build" >&2; exit 1; }
T=$(mktemp -d)
SIM_PID=
cleanup() {
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" || true
    rm -rf "$T"
}
trap cleanup EXIT

libcurl_users() {
    grep -l 'libcurl[-a-z]*\.so' /proc/[0-9]*/maps 2>/dev/null | wc -l
}

# private = Private_Clean + Private_Dirty, as bench.pl --memory counts it
measure() {
    local name=$1; shift
    local pid
    "$@" > "$T/out" &
    pid=$!
    for _ in $(seq 50); do [ -s "$T/out" ] && break; sleep 0.1; done
    awk -v n="$name" '
        /^Pss:/ { pss = $2 } /^Private_(Clean|Dirty):/ { priv += $2 }
        END { printf "  %-58s %6d %8d\n", n, pss, priv }' \
        "/proc/$pid/smaps_rollup"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

AGENT="-lmicrohttpd -lyajl -lcrypto -lavahi-client -lavahi-common"
CC="cc -O2 -Wl,--no-as-needed"
$CC -o "$T/libc" "$HERE/floor_libs.c"
$CC -o "$T/nocurl" "$HERE/floor_libs.c" $AGENT
$CC -o "$T/nocurl_ssl" "$HERE/floor_libs.c" -lssl $AGENT
$CC -DWITH_CURL -o "$T/curl" "$HERE/floor_libs.c" -lcurl $AGENT
$CC -DWITH_CURL -DCURL_INIT -o "$T/curl_init" "$HERE/floor_libs.c" \
    -lcurl $AGENT
cc -O2 -pthread -o "$T/curl_threads" "$HERE/curl_threads.c" -lcurl

echo "other processes mapping libcurl: $(libcurl_users)"
echo "library floor (KiB):                                            PSS  private"
measure "libc only" "$T/libc"
measure "the agent's libraries without libcurl" "$T/nocurl"
measure "the same and libssl" "$T/nocurl_ssl"
measure "the agent's libraries (libcurl loaded)" "$T/curl"
measure "the same after curl_global_init()" "$T/curl_init"

PORT=$(perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1")->sockport')
"$SIM" --listen "127.0.0.1:$PORT" --parallel 64 --queue 256 --tokens 20 \
    > "$T/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
done
echo "per connection thread (private dirty, KiB):"
for run in 1 2; do
    for what in none curl; do
        printf '  run %d: ' "$run"
        "$T/curl_threads" "http://127.0.0.1:$PORT/api/generate" 20 "$what"
    done
done
