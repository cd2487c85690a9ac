# The ARM agent, cross-built by make agent ARCH=arm64 (and armhf), run
# against the real amd64 orchestrator (Debian's nginx with the module, a private
# Redis) and a simulator as Ollama: it joins (listed up, with the
# simulator's models and the guest's own memory), keeps heartbeating, and
# streams a routed task, every token in order.
#
# In a whole emulated machine (qemu-system-aarch64 -M virt, TCG, booted by
# tools/arm-vm.sh from Debian's arm64 kernel and a busybox initramfs; for
# armhf qemu-system-arm and Debian's armmp kernel, the same way): the
# guest reaches the host's loopback as 10.0.2.2 and its task port is
# forwarded from 127.0.0.1, so every packet stays on loopback or in the
# emulator.  The guest also reports the agent's idle CPU over 60 s and its
# RSS/PSS from its own /proc (bench/RESULTS.md: a sanity check of the
# emulator, not a Pi's figure); then the agent drains, exits 0 and the
# guest powers off.
#
# Under qemu-user as well (arm64), when this host's qemu-aarch64-static
# can start a thread: Debian 12's 7.2 cannot on some hosts (README, "On a Raspberry
# Pi"), and a probe finds out first and says so.
#
# Not under valgrind: nginx and the agent run plainly (the agent is an
# arm64 binary; the module suites cover nginx under memcheck).  Deadlines
# are generous (TCG on a loaded two-core machine boots in minutes, not
# seconds); nothing here asserts on time.

use strict;
use warnings;

use Cwd ();
use File::Path qw(make_path);
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep time);

use Mesh::Nginx;
use Mesh::Proc;
use Mesh::Stream;

my $QEMU_USER = '/usr/bin/qemu-aarch64-static';
my %VM = (
    arm64 => { qemu => '/usr/bin/qemu-system-aarch64', file => 'ARM aarch64',
               uname => 'aarch64' },
    armhf => { qemu => '/usr/bin/qemu-system-arm', file => 'ARM, EABI5',
               uname => 'armv7l' },
);
my $QEMU_SYSTEM = $VM{arm64}{qemu};
my $SYSROOT = '/usr/aarch64-linux-gnu';
my $TOP = Cwd::abs_path("$0/../..");
my $BUILD = Mesh::Proc::build_dir();
my $MODEL = 'tinyllama:1.1b';
my $TOKENS = 8;
my $PROMPT = 'one two three four five six seven';

plan skip_all => 'needs tools/install-deps.sh cross (aarch64 gcc, qemu)'
    unless `sh -c 'command -v aarch64-linux-gnu-gcc'`
        && (-x $QEMU_USER || -x $QEMU_SYSTEM);

# qemu-user first: can it start a thread at all here?
my $user_ok = 0;
if (-x $QEMU_USER) {
    my $probe = "$BUILD/arm64/thread-probe";
    make_path("$BUILD/arm64");
    system('aarch64-linux-gnu-gcc', '-pthread', '-o', $probe,
           "$TOP/t/fixtures/thread-probe.c") == 0
        or die "cannot build the probe\n";
    $user_ok = `timeout -s KILL 20 $QEMU_USER -L $SYSROOT $probe 2>&1`
        eq "threads ok\n";
}
plan skip_all => "this host's $QEMU_USER cannot start a thread and "
    . "$QEMU_SYSTEM is missing (tools/install-deps.sh cross)"
    unless $user_ok || -x $QEMU_SYSTEM;

for my $arch (sort keys %VM) {
    my $out = `make -C $TOP --no-print-directory agent ARCH=$arch 2>&1`;
    is($? >> 8, 0, "make agent ARCH=$arch") or diag($out);
    like(`file -b $BUILD/$arch/bin/echo-agent`, qr/\Q$VM{$arch}{file}\E/,
         "$arch: an $VM{$arch}{file} binary");
}
my $agent_bin = "$BUILD/arm64/bin/echo-agent";

# the orchestrator, from conf/nginx.conf in a prefix
my $redis = Mesh::Proc::start_redis();
my $sim = Mesh::Proc::start_sim('--tokens', $TOKENS, '--model', $MODEL);
my $port = Mesh::Proc::free_port();
my $prefix = Mesh::Proc::log_dir() . '/nginx';
make_path(map { "$prefix/$_" } qw(conf logs tmp));
my $secret = "$prefix/conf/mesh.secret";
open my $fh, '>', $secret or die;
print $fh "arm-test-secret-0123456789abcdef\n";
close $fh;
chmod 0600, $secret;
Mesh::Nginx::shipped_conf(root => $prefix, port => $port, workers => 1,
                          redis_port => $redis->port,
                          module => "$BUILD/nginx/ngx_http_mesh_module.so");
my $nginx = Mesh::Proc->start(name => 'nginx', valgrind => 0, port => $port,
    cmd => ['/usr/sbin/nginx', '-p', "$prefix/", '-c', 'conf/nginx.conf',
            '-g', 'daemon off;']);

my $JSON = JSON::PP->new;

sub node {
    my ($id) = @_;
    my (undef, $body) = Mesh::Proc::http_get($port, '/mesh/v1/nodes');
    my $list = eval { $JSON->decode($body // '') } or return;
    $list = $list->{nodes} if ref $list eq 'HASH';
    my ($n) = grep { $_->{node_id} eq $id } @$list;
    return $n;
}

# The node is listed up with the simulator's model, heartbeats over
# several intervals, and serves a routed task whose tokens all arrive in
# order, the stream ending done.
sub check_node {
    my ($id, $what) = @_;
    my $n;
    ok(Mesh::Proc::wait_for(sub { ($n = node($id)) && $n->{up} }, 600),
       "$what: the node joins and is listed up")
        or return;
    is(join(',', map { $_->{name} } @{ $n->{models} }), $MODEL,
       "$what: with the simulator's model");

    my $seen = $n->{last_seen};
    my $advanced = 0;
    for (1 .. 3) {
        last unless Mesh::Proc::wait_for(sub {
            my $now = node($id);
            return 0 unless $now && $now->{last_seen} > $seen;
            $seen = $now->{last_seen};
            return 1;
        }, 120);
        $advanced++;
    }
    is($advanced, 3, "$what: last_seen advances over three heartbeats");

    my $r = Mesh::Stream::request(port => $port, method => 'POST',
        path => '/mesh/v1/tasks', timeout => 300,
        body => qq({"type":"text","model":"$MODEL","prompt":"$PROMPT"}));
    is($r->{status}, 200, "$what: a routed task answers 200");
    is($r->{headers}{'x-mesh-node'}, $id, "$what: served by that agent");
    my @lines = map { eval { $JSON->decode($_) } // {} } @{ $r->{lines} };
    my @tokens = map { $_->{response} }
                 grep { defined $_->{response} && !$_->{done} } @lines;
    my @words = split / /, $PROMPT;
    my @want = ("[$MODEL]", map { " $words[$_ % @words]" } 0 .. $TOKENS - 2);
    is_deeply(\@tokens, \@want, "$what: its $TOKENS tokens, in order");
    ok($lines[-1] && $lines[-1]{done} && $JSON->encode($lines[-1])
           =~ /"done":true/, "$what: and the stream ends done:true");
    return $n;
}

# ---- a whole emulated ARM machine per architecture ----------------------

sub vm_proof {
    my ($arch) = @_;
    my $v = $VM{$arch};
    my $id = "pi-vm-$arch";

    my $out = `$TOP/tools/arm-vm.sh --arch $arch build 2>&1`;
    is($? >> 8, 0, "$arch: tools/arm-vm.sh build: kernel, busybox, initramfs")
        or diag($out);

    my $aport = Mesh::Proc::free_port();
    my $cport = Mesh::Proc::free_port();
    my $run = Mesh::Proc::log_dir() . "/vm-$arch";
    make_path($run);
    my $started = time;
    my $vm = Mesh::Proc->start(name => "$arch-vm", valgrind => 0,
        cmd => ["$TOP/tools/arm-vm.sh", '--arch', $arch, 'boot',
                '--orchestrator-port', $port, '--ollama-port', $sim->port,
                '--secret-file', $secret, '--agent-port', $aport,
                '--control-port', $cport, '--node-id', $id,
                '--run-dir', $run]);
    my $console = sub { $vm->log_text };
    ok(Mesh::Proc::wait_for(sub {
           !$vm->alive || $console->() =~ /echo-vm: eth0 up/ }, 900)
       && $vm->alive, "$arch: the guest boots and brings up eth0")
        or diag($console->());
    like($console->(), qr/^echo-vm: arch \Q$v->{uname}\E,/m,
         "$arch: the guest is an $v->{uname} machine (uname -m)");
    my ($memkb) = $console->() =~ /^echo-vm: MemTotal:\s+(\d+) kB/m;

    my $n = check_node($id, "emulated $arch");
    if ($n) {
        is(sprintf('%.1f', $n->{hardware}{ram_total_gb}),
           sprintf('%.1f', ($memkb // 0) / 1024 / 1024),
           "$arch: its hardware is the guest's own (MemTotal "
           . ($memkb // '?') . ' kB)');
        is($n->{port}, $aport, "$arch: it advertises the forwarded port");
    }
    diag(sprintf "emulated $arch: boot to a streamed task took %.0f s here",
         time - $started);

    # idle: nothing is routed to it while the guest measures
    my $idle = `curl -s -m 900 'http://127.0.0.1:$cport/cgi-bin/idle?60'`;
    like($idle, qr/^idle\ cpu_ticks=\d+\ over=[\d.]+s\ cpu=[\d.]+%
                   \ rss_kb=[1-9]\d*\ pss_kb=[1-9]\d*$/mx,
         "$arch: the guest reports the idle agent's CPU, RSS and PSS");
    chomp $idle;
    diag("emulated $arch, idle agent over 60 s of guest time: $idle");
    like($console->(), qr/^echo-vm: \Q$idle\E/m,
         "$arch: also on the serial console");

    `curl -s -m 60 'http://127.0.0.1:$cport/cgi-bin/stop'`;
    ok(Mesh::Proc::wait_for(sub {
           $console->() =~ /echo-vm: the agent exited with status/ }, 300),
       "$arch: SIGTERM: the agent exits");
    like($console->(), qr/echo-vm: the agent exited with status 0\r?$/m,
         "$arch: with status 0, after draining");
    ok(Mesh::Proc::wait_for(sub { my $g = node($id); !$g || !$g->{up} },
                            60), "$arch: and has left the mesh");
    is($vm->wait_exit(300), 0, "$arch: the guest powers off, qemu exits 0");
    $vm->stop;
    diag(sprintf "emulated $arch: the whole run took %.0f s here",
         time - $started);
}

for my $arch (qw(arm64 armhf)) {
    SKIP: {
        skip "$VM{$arch}{qemu} is missing (tools/install-deps.sh cross)", 1
            unless -x $VM{$arch}{qemu};
        vm_proof($arch);
    }
}

# ---- qemu-user, where it can start threads ------------------------------

SKIP: {
    skip "this host's $QEMU_USER cannot start a thread (a bare "
        . 'pthread_create hangs: an emulator fault, see README)', 1
        unless $user_ok;

    my $aport = Mesh::Proc::free_port();
    my $agent = Mesh::Proc->start(
        name => 'echo-agent-arm64', valgrind => 0, port => $aport,
        timeout => 60,
        cmd => [$QEMU_USER, '-L', $SYSROOT, $agent_bin,
                '--listen', "127.0.0.1:$aport", '--node-id', 'pi-emu',
                '--ollama', 'http://127.0.0.1:' . $sim->port,
                '--orchestrator', "http://127.0.0.1:$port", '--mdns', 'off',
                '--secret-file', $secret, '--heartbeat-interval', '1s']);
    check_node('pi-emu', 'qemu-user arm64');
    ok($agent->stop, 'qemu-user arm64: the agent drains and exits');
}

ok($nginx->stop, 'nginx stops cleanly');
done_testing();
