#!/bin/sh
# Installs the Debian 12 packages Echo-System needs, only those missing.
# Usage: tools/install-deps.sh
#        [build|test|demo|fuzz|bench|realtn|deb|cross|compose]
#        (default: test; "cross" adds the arm64 and armhf architectures)
set -eu

what=${1:-test}

build_pkgs="nginx nginx-dev build-essential pkg-config libhiredis-dev
    libprotobuf-c-dev protobuf-c-compiler libyajl-dev
    libavahi-client-dev libmicrohttpd-dev libssl-dev curl"
run_pkgs="redis-server"
test_pkgs="libtest-base-perl libtext-diff-perl libwww-perl libipc-run-perl
    valgrind procps iproute2 python3-websockets chromium chromium-driver
    dbus avahi-daemon avahi-utils prometheus python3-grpcio
    python3-grpc-tools openssl"
# the dashboard's build needs Node.js and npm; a machine that already has
# a node (a newer one from elsewhere, say) keeps it
node_pkgs=""
command -v node >/dev/null 2>&1 || node_pkgs="nodejs npm"
# what a copy of the real Test::Nginx (openresty/test-nginx) needs beyond
# Test::Base and Text::Diff (make test-real-test-nginx)
realtn_pkgs="liblist-moreutils-perl libtest-longstring-perl libwww-perl"
deb_pkgs="debhelper dpkg-dev fakeroot lintian man-db"
# The Compose mesh (docker/) with podman: podman-compose, runc (crun
# fails in sandboxes like CI's), the CNI plugin that gives services their
# names on the compose network, iptables for its bridge and published
# ports, and debootstrap for the base image.
compose_pkgs="podman podman-compose runc
    golang-github-containernetworking-plugin-dnsname iptables debootstrap"
# The agent for a Raspberry Pi: Debian's cross compilers, the agent's
# libraries for each architecture (multiarch, beside the amd64 ones) and
# qemu-user to run the result here; qemu-system-arm, cpio, kmod (depmod)
# and file for tools/arm-vm.sh, the whole emulated machine, and t/096.
cross_archs="arm64 armhf"
cross_pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user-static
    qemu-system-arm cpio kmod file"
for a in $cross_archs; do
    cross_pkgs="$cross_pkgs libmicrohttpd-dev:$a
        libyajl-dev:$a libavahi-client-dev:$a libssl-dev:$a"
done

case "$what" in
    build) pkgs="$build_pkgs $node_pkgs" ;;
    demo)  pkgs="$build_pkgs $node_pkgs $run_pkgs" ;;
    test)  pkgs="$build_pkgs $node_pkgs $run_pkgs $test_pkgs" ;;
    fuzz)  pkgs="$build_pkgs clang libclang-rt-14-dev" ;;
    bench) pkgs="$build_pkgs $node_pkgs $run_pkgs wrk valgrind linux-perf procps
        curl" ;;
    realtn) pkgs="$build_pkgs $run_pkgs $test_pkgs $realtn_pkgs" ;;
    deb)   pkgs="$build_pkgs $deb_pkgs" ;;
    cross) pkgs="$build_pkgs $deb_pkgs $cross_pkgs" ;;
    compose) pkgs="$compose_pkgs" ;;
    *) echo "install-deps: unknown set \"$what\"" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
        | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages:$missing (run as root to install)" >&2
    exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
if [ "$what" = cross ]; then
    for a in $cross_archs; do
        dpkg --print-foreign-architectures | grep -qx "$a" \
            || dpkg --add-architecture "$a"
    done
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

# Debian's nginx package tries to start a system nginx on port 80; the mesh
# runs its own nginx from a prefix, so keep the system one out of the way.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q nginx 2>/dev/null; then
    systemctl stop nginx || true
fi
exit 0
