# The README's main command: tools/demo.sh (what `make demo` runs after the
# build) brings up Redis, nginx with the module and two agents with their
# simulators, routes a task, and Ctrl-C (SIGINT to its process group, as a
# terminal sends it) stops every process it started.

use strict;
use warnings;

use Test::More;
use POSIX qw(setsid :sys_wait_h);
use Time::HiRes qw(sleep time);
use Cwd qw(abs_path);
use IO::Socket::INET;
use File::Basename qw(dirname);

use Mesh::Proc;

my $top = abs_path(dirname(__FILE__) . '/..');
my $port = Mesh::Proc::free_port();
my $log = "$top/t/servroot-procs/090-demo.log";
system('mkdir', '-p', "$top/t/servroot-procs");
unlink $log;    # never read the last run's log

my $pid = fork // die "fork: $!";
if ($pid == 0) {
    setsid();
    $SIG{INT} = 'DEFAULT';
    open STDOUT, '>', $log or die;
    open STDERR, '>&', \*STDOUT or die;
    $ENV{MESH_DEMO_PORT} = $port;
    exec "$top/tools/demo.sh" or die "exec: $!";
}

sub demo_log { open my $fh, '<', $log or return ''; local $/; <$fh> }

my $up = 0;
for (1 .. 300) {
    if (demo_log() =~ /The mesh is up/) { $up = 1; last }
    last if waitpid($pid, WNOHANG) == $pid;
    sleep 0.1;
}
ok($up, 'the demo says the mesh is up') or diag(demo_log());
like(demo_log(), qr{nginx\s+http://127\.0\.0\.1:$port}, 'it says where nginx listens');
like(demo_log(), qr/redis-server\s+127\.0\.0\.1:\d+/, 'and Redis');
like(demo_log(), qr/echo-agent\s+node-vision on 127\.0\.0\.1:\d+/, 'and the first agent');
like(demo_log(), qr/echo-agent\s+node-code on 127\.0\.0\.1:\d+/, 'and the second');

# both nodes joined, then a code task is routed to the node with codellama
my ($code, $body);
for (1 .. 100) {
    ($code, $body) = Mesh::Proc::http_get($port, '/mesh/v1/nodes');
    last if defined $body && $body =~ /node-vision/ && $body =~ /node-code/;
    sleep 0.1;
}
like($body // '', qr/"node_id":"node-vision"/, 'node-vision joined');
like($body // '', qr/"node_id":"node-code"/, 'node-code joined');

my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10);
my $task = '{"type":"code","prompt":"hello demo","stream":false}';
print $sock "POST /mesh/v1/tasks HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n"
    . "Content-Length: " . length($task) . "\r\n\r\n$task";
my $reply = do { local $/; <$sock> } // '';
like($reply, qr{^HTTP/1\.1 200}, 'a task through the demo mesh answers 200');
like($reply, qr/^X-Mesh-Node: node-code\r$/m, 'on the node with the code model');
like($reply, qr/"response":"\[codellama:7b\] hello demo/, 'with the simulator\'s reply');

# the processes of the demo's session, before Ctrl-C
my @group = grep { $_ != $pid } session_pids($pid);
ok(@group >= 6, 'redis, nginx (master and workers), two simulators and '
              . 'two agents run') or diag("pids: @group");

kill 'INT', -$pid;
my $status;
my $t0 = time;
while (time - $t0 < 30) {
    if (waitpid($pid, WNOHANG) == $pid) { $status = $?; last }
    sleep 0.1;
}
is($status, 0, 'Ctrl-C: the demo exits 0');

my @left;
for (1 .. 50) {
    @left = grep { kill 0, $_ } @group;
    last unless @left;
    sleep 0.1;
}
is(scalar @left, 0, 'and nothing it started is left running')
    or diag(`ps -o pid,args -p @left`);
kill 'KILL', @left if @left;

done_testing();

# every process whose session id is the demo's
sub session_pids {
    my ($sid) = @_;
    my @pids;
    opendir my $d, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // next;
        $stat =~ s/^.*\)\s+//;
        my @f = split ' ', $stat;
        push @pids, $p if $f[3] == $sid;    # field 6 (session)
    }
    return @pids;
}
