#!/bin/bash
# The cross-built echo-agent in a full-system ARM emulator (qemu-system,
# TCG): Debian's own ARM kernel, and an initramfs made here holding a
# static busybox, the kernel modules for virtio networking, the agent and
# the shared libraries it needs.  qemu-user cannot run the agent on some
# hosts (README, "On a Raspberry Pi"); a whole emulated machine can.
#
#   tools/arm-vm.sh [--arch arm64|armhf] build
#       downloads (cached in build/ARCH/vm/debs) and builds
#       build/ARCH/vm/initrd.base.gz around build/ARCH/bin/echo-agent
#       (make agent ARCH=... first)
#   tools/arm-vm.sh [--arch arm64|armhf] boot --orchestrator-port PORT
#       --ollama-port PORT --secret-file FILE [--agent-port PORT]
#       [--control-port PORT] [--node-id ID] [--heartbeat TIME]
#       [--memory MB] [--run-dir DIR]
#       boots it in the foreground, serial console on stdout.  The guest
#       (10.0.2.15, qemu user-mode networking) reaches the host's loopback
#       as 10.0.2.2: the agent joins http://10.0.2.2:ORCHESTRATOR-PORT and
#       reads Ollama at http://10.0.2.2:OLLAMA-PORT.  Its task port is
#       forwarded from 127.0.0.1:AGENT-PORT on the host, which is the
#       address it advertises, and a busybox httpd in the guest answers on
#       127.0.0.1:CONTROL-PORT (absent: not forwarded):
#         /cgi-bin/idle?SECONDS  the agent's CPU over that time, its RSS and
#                                PSS, all read from /proc in the guest
#         /cgi-bin/stop          SIGTERM to the agent; the guest powers off
#                                when it has exited
#       Ctrl-A X leaves the emulator.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${MESH_BUILD:-$TOP/build}
ARCH=arm64
ME=tools/arm-vm.sh

say() { printf 'arm-vm: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

if [ "${1:-}" = --arch ]; then
    ARCH=${2:?--arch needs arm64 or armhf}
    shift 2
fi

case "$ARCH" in
    arm64)
        QEMU=qemu-system-aarch64
        MACHINE="-M virt -cpu cortex-a57"
        KFLAVOUR=cloud-arm64
        TRIPLET=aarch64-linux-gnu
        ;;
    armhf)
        QEMU=qemu-system-arm
        # highmem=off: a 32-bit kernel cannot claim the PCIe ECAM window
        # qemu places above 4 GB
        MACHINE="-M virt,highmem=off -cpu cortex-a15"
        KFLAVOUR=armmp
        TRIPLET=arm-linux-gnueabihf
        ;;
    *) die "unknown architecture \"$ARCH\" (arm64 or armhf)" ;;
esac

VM=$BUILD/$ARCH/vm
DEBS=$VM/debs
AGENT=$BUILD/$ARCH/bin/echo-agent
# the virtio modules the guest needs when the kernel has them as modules
# (Debian's do); their dependencies come from modules.dep
MODULES="virtio_pci virtio_net virtio-rng"
# the guest's own side of the forwarded ports
GUEST_AGENT_PORT=50052
GUEST_CONTROL_PORT=8000


# The newest Debian kernel of the flavour (through its metapackage) and
# busybox, each downloaded once: apt-get download, from Debian's archive.
fetch_deb() {
    local pkg=$1 f
    f=$(find "$DEBS" -maxdepth 1 -name "${pkg}_*_$ARCH.deb" | sort | tail -1)
    if [ -z "$f" ]; then
        say "downloading $pkg:$ARCH"
        (cd "$DEBS" && apt-get download -q "$pkg:$ARCH" >&2) \
            || die "apt-get download $pkg:$ARCH failed" \
                "(tools/install-deps.sh cross adds the architecture)"
        f=$(find "$DEBS" -maxdepth 1 -name "${pkg}_*_$ARCH.deb" | sort \
            | tail -1)
    fi
    printf '%s\n' "$f"
}

kernel_package() {
    apt-cache depends "linux-image-$KFLAVOUR:$ARCH" 2>/dev/null \
        | awk '/Depends: linux-image-/ { sub(":.*", "", $2); print $2; exit }'
}

unpack() {
    local deb=$1 dir=$2
    if [ ! -f "$dir/.from" ] || [ "$(cat "$dir/.from")" != "$deb" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        dpkg-deb -x "$deb" "$dir"
        printf '%s\n' "$deb" > "$dir/.from"
    fi
}

# A library the agent (or a library of it) names in DT_NEEDED, from the
# multiarch folders the :ARCH packages install into.
find_lib() {
    local d
    for d in /lib/$TRIPLET /usr/lib/$TRIPLET /usr/$TRIPLET/lib; do
        if [ -e "$d/$1" ]; then
            printf '%s\n' "$d/$1"
            return 0
        fi
    done
    return 1
}

copy_libs() {
    local root=$1 todo seen="" f lib path interp
    interp=$("$TRIPLET-readelf" -l "$AGENT" \
        | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
    [ -n "$interp" ] || die "$AGENT names no program interpreter"
    todo="$AGENT $(find_lib "$(basename "$interp")")"
    mkdir -p "$root/lib/$TRIPLET" "$root$(dirname "$interp")"
    while [ -n "$todo" ]; do
        # shellcheck disable=SC2086 # a list of paths without blanks
        set -- $todo
        f=$1
        shift
        todo="$*"
        for lib in $("$TRIPLET-readelf" -d "$f" \
                | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            case " $seen " in *" $lib "*) continue ;; esac
            seen="$seen $lib"
            path=$(find_lib "$lib") \
                || die "$lib (needed by $f) is not installed for $ARCH:" \
                    "tools/install-deps.sh cross"
            cp -L "$path" "$root/lib/$TRIPLET/$lib"
            todo="$todo $path"
        done
    done
    cp -L "$(find_lib "$(basename "$interp")")" "$root$interp"
}

# A module after every module it needs (from modules.dep, which depmod
# writes: Debian's package leaves that to its postinst).
MODULE_ORDER=""
add_module() {
    local mdir=$1 rel=$2 dep
    case " $MODULE_ORDER " in *" $rel "*) return 0 ;; esac
    for dep in $(sed -n "s|^$rel: *||p" "$mdir/modules.dep"); do
        add_module "$mdir" "$dep"
    done
    MODULE_ORDER="$MODULE_ORDER $rel"
}

copy_modules() {
    local root=$1 mdir=$2 m rel cfg
    depmod -b "$KDIR" "$(basename "$mdir")" \
        || die "depmod failed on $mdir"
    mkdir -p "$root/lib/modules"
    MODULE_ORDER=""
    for m in $MODULES; do
        rel=$(grep -oE "^[^:]*/${m//[-_]/[-_]}\.ko(\.[a-z]+)?:" \
            "$mdir/modules.dep" || true)
        if [ -z "$rel" ]; then
            cfg=CONFIG_$(printf '%s' "$m" | tr 'a-z-' 'A-Z_')
            grep -q "^$cfg=y" "$KDIR"/boot/config-* \
                || say "no module $m and no $cfg=y: the guest may lack it"
            continue
        fi
        add_module "$mdir" "${rel%:}"
    done
    for rel in $MODULE_ORDER; do
        cp "$mdir/$rel" "$root/lib/modules/"
        case "$rel" in
            *.ko.xz) unxz -f "$root/lib/modules/$(basename "$rel")" ;;
        esac
        printf '%s\n' "$(basename "${rel%.ko*}").ko" \
            >> "$root/lib/modules/load"
    done
}

write_init() {
    local root=$1
    cat > "$root/init" <<'EOF'
#!/bin/busybox sh
# PID 1 of the emulated node: network, the agent, and a control httpd.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
. /etc/echo-vm.env
echo "echo-vm: arch $(uname -m), kernel $(uname -r)"
echo "echo-vm: $(grep MemTotal /proc/meminfo)"
for m in $(cat /lib/modules/load); do
    insmod "/lib/modules/$m" || echo "echo-vm: insmod $m failed"
done
ip link set lo up
if ! ip link set eth0 up; then
    echo "echo-vm: no eth0 (see the kernel's virtio lines above)"
    poweroff -f
fi
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
httpd -p "$CONTROL_PORT" -h /www
echo "echo-vm: eth0 up, starting the agent"
LD_LIBRARY_PATH=/lib/$TRIPLET /bin/echo-agent --config /etc/echo-agent.conf &
echo $! > /run/agent.pid
wait $!
echo "echo-vm: the agent exited with status $?"
sync
poweroff -f
EOF
    mkdir -p "$root/www/cgi-bin"
    # the agent's CPU ticks (utime + stime of all its threads; USER_HZ is
    # 100 on Linux for every architecture) over a span of guest uptime
    cat > "$root/www/cgi-bin/idle" <<'EOF'
#!/bin/sh
ticks() { set -- $(cat /proc/$1/stat); echo $((${14} + ${15})); }
pid=$(cat /run/agent.pid)
secs=${QUERY_STRING:-60}
case "$secs" in ''|*[!0-9]*) secs=60 ;; esac
[ "$secs" -ge 1 ] && [ "$secs" -le 600 ] || secs=60
t0=$(cut -d' ' -f1 /proc/uptime)
c0=$(ticks $pid)
sleep "$secs"
c1=$(ticks $pid)
t1=$(cut -d' ' -f1 /proc/uptime)
rss=$(awk '/^Rss:/ { print $2 }' /proc/$pid/smaps_rollup)
pss=$(awk '/^Pss:/ { print $2 }' /proc/$pid/smaps_rollup)
line=$(awk -v c=$((c1 - c0)) -v t0=$t0 -v t1=$t1 -v r=$rss -v p=$pss \
    'BEGIN { printf "idle cpu_ticks=%d over=%.1fs cpu=%.2f%% ", c, t1 - t0,
                    c / (t1 - t0);
             printf "rss_kb=%d pss_kb=%d", r, p }')
echo "echo-vm: $line" > /dev/console
printf 'Content-Type: text/plain\r\n\r\n%s\n' "$line"
EOF
    cat > "$root/www/cgi-bin/stop" <<'EOF'
#!/bin/sh
kill -TERM "$(cat /run/agent.pid)"
printf 'Content-Type: text/plain\r\n\r\nstopping\n'
EOF
    chmod 755 "$root/init" "$root/www/cgi-bin/idle" "$root/www/cgi-bin/stop"
}

cmd_build() {
    local kdeb bbdeb root kver
    [ -x "$AGENT" ] || die "$AGENT is missing: make agent ARCH=$ARCH"
    command -v "$TRIPLET-readelf" >/dev/null \
        || die "$TRIPLET-readelf is missing: tools/install-deps.sh cross"
    mkdir -p "$DEBS"
    kver=$(kernel_package)
    [ -n "$kver" ] || kver=$(cd "$DEBS" && ls linux-image-*-"$KFLAVOUR"_*.deb \
        2>/dev/null | sed 's/_.*//' | sort | tail -1)
    [ -n "$kver" ] \
        || die "no linux-image-$KFLAVOUR:$ARCH known to apt (apt-get update?)"
    kdeb=$(fetch_deb "$kver")
    bbdeb=$(fetch_deb busybox-static)
    KDIR=$VM/kernel
    unpack "$kdeb" "$KDIR"
    unpack "$bbdeb" "$VM/busybox"
    cp "$(ls "$KDIR"/boot/vmlinuz-* | head -1)" "$VM/vmlinuz"

    root=$VM/root
    rm -rf "$root"
    mkdir -p "$root/bin" "$root/etc"
    cp "$VM/busybox/bin/busybox" "$root/bin/busybox"
    cp "$AGENT" "$root/bin/echo-agent"
    copy_libs "$root"
    copy_modules "$root" "$(ls -d "$KDIR"/lib/modules/* | head -1)"
    write_init "$root"
    printf 'TRIPLET=%s\n' "$TRIPLET" > "$root/etc/echo-vm.arch"
    (cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 \
        > "$VM/initrd.base.gz.new"
    mv "$VM/initrd.base.gz.new" "$VM/initrd.base.gz"
    say "built $VM/initrd.base.gz" \
        "($(du -k "$VM/initrd.base.gz" | cut -f1) KiB)," \
        "kernel $(basename "$kdeb")"
}

cmd_boot() {
    local orch="" ollama="" secret="" aport="" cport="" node=echo-vm
    local hb=3s mem=512 run="" over fwd p
    while [ $# -gt 0 ]; do
        case "$1" in
            --orchestrator-port) orch=$2 ;;
            --ollama-port) ollama=$2 ;;
            --secret-file) secret=$2 ;;
            --agent-port) aport=$2 ;;
            --control-port) cport=$2 ;;
            --node-id) node=$2 ;;
            --heartbeat) hb=$2 ;;
            --memory) mem=$2 ;;
            --run-dir) run=$2 ;;
            *) die "unknown option \"$1\" (see the head of $ME)" ;;
        esac
        [ $# -ge 2 ] || die "$1 needs a value"
        shift 2
    done
    if [ -z "$orch" ] || [ -z "$ollama" ] || [ -z "$secret" ]; then
        die "boot needs --orchestrator-port, --ollama-port and --secret-file"
    fi
    [ -r "$secret" ] || die "cannot read the secret file $secret"
    # each becomes one line of the guest's config: the agent checks the
    # rest of the value there
    case "$node$hb" in
        *[!A-Za-z0-9._-]*)
            die "--node-id and --heartbeat take [A-Za-z0-9._-]" ;;
    esac
    for p in "$orch" "$ollama" "${aport:-1}" "${cport:-1}" "$mem"; do
        case "$p" in
            ''|*[!0-9]*) die "\"$p\" is not a port number (or MB)" ;;
        esac
        [ "$p" -ge 1 ] && [ "$p" -le 65535 ] \
            || die "\"$p\" is out of range (1-65535)"
    done
    [ -f "$VM/initrd.base.gz" ] || die "no initramfs: $ME --arch $ARCH build"
    command -v "$QEMU" >/dev/null \
        || die "$QEMU is missing: tools/install-deps.sh cross"
    aport=${aport:-$GUEST_AGENT_PORT}
    run=${run:-$VM/run}

    # this boot's settings: a second cpio archive after the cached one
    # (the kernel unpacks them in turn, the later one adding files)
    over=$run/overlay
    rm -rf "$over"
    mkdir -p "$over/etc"
    cp "$VM/root/etc/echo-vm.arch" "$over/etc/echo-vm.env"
    printf 'CONTROL_PORT=%s\n' "$GUEST_CONTROL_PORT" >> "$over/etc/echo-vm.env"
    install -m 600 "$secret" "$over/etc/echo-agent.secret"
    cat > "$over/etc/echo-agent.conf" <<EOF
orchestrator = http://10.0.2.2:$orch
ollama = http://10.0.2.2:$ollama
listen = 0.0.0.0:$GUEST_AGENT_PORT
advertise_host = 127.0.0.1
advertise_port = $aport
node_id = $node
secret_file = /etc/echo-agent.secret
mdns = off
heartbeat_interval = $hb
EOF
    (cd "$over" && find . | cpio -o -H newc --quiet) | gzip -1 \
        | cat "$VM/initrd.base.gz" - > "$run/initrd.gz"

    fwd="hostfwd=tcp:127.0.0.1:$aport-:$GUEST_AGENT_PORT"
    [ -n "$cport" ] \
        && fwd="$fwd,hostfwd=tcp:127.0.0.1:$cport-:$GUEST_CONTROL_PORT"
    # shellcheck disable=SC2086
    exec "$QEMU" $MACHINE -smp 1 -m "$mem" -nographic -no-reboot \
        -kernel "$VM/vmlinuz" -initrd "$run/initrd.gz" \
        -append "console=ttyAMA0 panic=-1 loglevel=4" \
        -netdev "user,id=n0,$fwd" \
        -device virtio-net-pci,netdev=n0,romfile= \
        -device virtio-rng-pci
}

case "${1:-}" in
    build) cmd_build ;;
    boot) shift; cmd_boot "$@" ;;
    *) die "usage: $ME [--arch arm64|armhf] build|boot OPTIONS" ;;
esac
