# The arm64 agent, cross-built by make agent ARCH=arm64, run under
# qemu-user against the real amd64 orchestrator (Debian's nginx with the
# module, a private Redis) and a simulator as Ollama: it joins, keeps
# heartbeating, and streams a routed task.  Debian 12's qemu-user 7.2
# cannot start any thread on some hosts (README, "On a Raspberry Pi"):
# a probe finds out first, and the file skips, saying so, when even a
# bare pthread_create hangs under the emulator.

use strict;
use warnings;

use Cwd ();
use File::Path qw(make_path);
use Test::More;
use Time::HiRes qw(sleep time);

use Mesh::Proc;
use Mesh::Stream;

my $QEMU = '/usr/bin/qemu-aarch64-static';
my $SYSROOT = '/usr/aarch64-linux-gnu';
my $TOP = Cwd::abs_path("$0/../..");
my $BUILD = Mesh::Proc::build_dir();

plan skip_all => 'needs tools/install-deps.sh cross (qemu-user, aarch64 gcc)'
    unless -x $QEMU && `sh -c 'command -v aarch64-linux-gnu-gcc'`;

my $probe = "$BUILD/arm64/thread-probe";
make_path("$BUILD/arm64");
system('aarch64-linux-gnu-gcc', '-pthread', '-o', $probe,
       "$TOP/t/fixtures/thread-probe.c") == 0 or die "cannot build the probe\n";
my $said = `timeout -s KILL 20 $QEMU -L $SYSROOT $probe 2>&1`;
plan skip_all => "this host's $QEMU cannot start a thread (a bare "
    . 'pthread_create hangs: an emulator fault, see README)'
    unless $said eq "threads ok\n";

my $out = `make -C $TOP --no-print-directory agent ARCH=arm64 2>&1`;
is($? >> 8, 0, 'make agent ARCH=arm64') or diag($out);
my $agent_bin = "$BUILD/arm64/bin/echo-agent";
like(`file -b $agent_bin`, qr/ARM aarch64/, 'an aarch64 binary');

# the orchestrator, from conf/nginx.conf in a prefix
my $redis = Mesh::Proc::start_redis();
my $sim = Mesh::Proc::start_sim('--tokens', 8);
my $port = Mesh::Proc::free_port();
my $prefix = Mesh::Proc::log_dir() . '/nginx';
make_path(map { "$prefix/$_" } qw(conf logs tmp));
my $secret = "$prefix/conf/mesh.secret";
open my $fh, '>', $secret or die;
print $fh "arm-test-secret-0123456789abcdef\n";
close $fh;
chmod 0600, $secret;
system('cp', "$TOP/conf/mesh_proxy.conf", "$prefix/conf/") == 0 or die;
open my $in, '<', "$TOP/conf/nginx.conf" or die;
my $conf = do { local $/; <$in> };
$conf =~ s{^load_module .*$}{load_module $BUILD/nginx/ngx_http_mesh_module.so;}m;
$conf =~ s{listen\s+8080;}{listen 127.0.0.1:$port;};
$conf =~ s{redis://127\.0\.0\.1:6379}{'redis://127.0.0.1:' . $redis->port}e;
$conf =~ s{worker_processes\s+2;}{worker_processes 1;};
open my $o, '>', "$prefix/conf/nginx.conf" or die;
print $o $conf;
close $o;
my $nginx = Mesh::Proc->start(name => 'nginx', valgrind => 0, port => $port,
    cmd => ['/usr/sbin/nginx', '-p', "$prefix/", '-c', 'conf/nginx.conf',
            '-g', 'daemon off;']);

my $aport = Mesh::Proc::free_port();
my $agent = Mesh::Proc->start(
    name => 'echo-agent-arm64', valgrind => 0, port => $aport, timeout => 60,
    cmd => [$QEMU, '-L', $SYSROOT, $agent_bin,
            '--listen', "127.0.0.1:$aport", '--node-id', 'pi-emu',
            '--ollama', 'http://127.0.0.1:' . $sim->port,
            '--orchestrator', "http://127.0.0.1:$port",
            '--secret-file', $secret, '--heartbeat-interval', '1s']);

sub node_seen {
    my (undef, $body) = Mesh::Proc::http_get($port, '/mesh/v1/nodes');
    return ($body // '') =~ /"node_id":"pi-emu".*?"last_seen":(\d+)/s
        ? $1 : undef;
}

ok(Mesh::Proc::wait_for(sub { defined node_seen() }, 60),
   'the emulated agent joins');
my $first = node_seen() // 0;
ok(Mesh::Proc::wait_for(sub { (node_seen() // 0) > $first }, 30),
   'and heartbeats again');

my $r = Mesh::Stream::request(port => $port, method => 'POST',
    path => '/mesh/v1/tasks', body => '{"type":"text","prompt":"hi pi"}');
is($r->{status}, 200, 'a routed task answers 200');
is($r->{headers}{'x-mesh-node'}, 'pi-emu', 'served by the arm64 agent');
my @tokens = grep { /"response":"[^"]+"/ } @{ $r->{lines} };
is(scalar @tokens, 8, 'its 8 tokens stream through');
like($r->{lines}[-1] // '', qr/"done":true/, 'and the stream ends done');
ok($agent->stop, 'the agent drains and exits');

done_testing();
