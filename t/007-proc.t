# Harness self test: Mesh::Proc runs real processes on free ports, stops
# them (children too), and reports one that exits early.
use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(time);
use Mesh::Proc;

sub redis_ping {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 2) or return '';
    print $s "*1\r\n\$4\r\nPING\r\n";
    my $reply = '';
    sysread $s, $reply, 64;
    return $reply;
}

# The children of this test process running $comm (zombies too).
sub children {
    my ($comm) = @_;
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my ($pid, $name, $rest) = (<$fh> // '') =~ /^(\d+) \((.*)\) (.*)/
            or next;
        push @pids, $pid if $name eq $comm && (split ' ', $rest)[1] == $$;
    }
    return @pids;
}

subtest 'redis-server' => sub {
    my $redis = Mesh::Proc::start_redis();
    like $redis->port, qr/^\d+$/, 'on a free port';
    is redis_ping($redis->port), "+PONG\r\n", 'PING answers PONG';
    ok -d $redis->{dir}, 'in a private directory';
    my $pid = $redis->pid;
    ok $redis->stop, 'stops cleanly';
    ok !kill(0, $pid), 'the process is gone';
    is redis_ping($redis->port), '', 'the port is closed';
};

subtest 'a process that exits early is reported' => sub {
    my $port = Mesh::Proc::free_port();
    my $p = eval {
        Mesh::Proc->start(name => 'early',
                          cmd  => ['/bin/sh', '-c', 'echo boom >&2; exit 3'],
                          port => $port);
    };
    ok !$p, 'start() dies';
    like $@, qr/early exited early \(status 3\).*boom/s,
        'naming the process, its status and its log';
};

subtest 'a process that never gets ready is killed' => sub {
    my $t0 = time;
    my $p = eval {
        Mesh::Proc->start(name => 'never', cmd => ['/bin/sleep', '30'],
                          ready => sub { 0 }, timeout => 1);
    };
    like $@, qr/never was not ready within 1 s/, 'start() dies';
    ok time - $t0 >= 1, 'not before the time limit';
    is_deeply [children('sleep')], [], 'and the process is killed and reaped';
};

subtest 'signals, exit codes, environment, logs' => sub {
    my $p = Mesh::Proc->start(
        name => 'shell',
        cmd  => ['/bin/sh', '-c',
                 'echo "v=$MESH_T"; trap "exit 7" HUP; '
                 . 'while :; do sleep 0.05; done'],
        env   => { MESH_T => 'hello' },
        ready => sub { $_[0]->log_text =~ /v=/ },
    );
    like $p->log_text, qr/^v=hello$/m, 'env reaches it, output is logged';
    ok -f $p->log_path, 'log file exists';
    is $p->wait_exit(0.2), undef, 'wait_exit times out while it runs';
    $p->signal('HUP');
    is $p->wait_exit(5), 7, 'its exit code after a signal';

    my $k = Mesh::Proc->start(name => 'killme', cmd => ['/bin/sleep', '30']);
    is $k->kill, 128 + 9, 'kill() is SIGKILL';
};

subtest 'children die with their process group' => sub {
    my $p = Mesh::Proc->start(
        name  => 'parent',
        cmd   => ['/bin/sh', '-c', 'sleep 30 & echo "child=$!"; wait'],
        ready => sub { $_[0]->log_text =~ /child=\d+/ },
    );
    my ($child) = $p->log_text =~ /child=(\d+)/;
    ok kill(0, $child), 'the child runs';
    ok $p->stop, 'stop';
    ok Mesh::Proc::wait_for(sub {
        !kill(0, $child) || `ps -o stat= -p $child` =~ /Z/ }),
        'the child is gone too';
};

subtest 'END stops what is still running' => sub {
    local $ENV{TEST_NGINX_SERVROOT} = tempdir(CLEANUP => 1);
    my $out = `$^X -It/lib -MMesh::Proc -e '
        my \$p = Mesh::Proc->start(name => "left", cmd => ["/bin/sleep", "30"]);
        print \$p->pid, "\\n";' 2>&1`;
    my ($pid) = $out =~ /^(\d+)$/m or diag($out);
    ok $pid && Mesh::Proc::wait_for(sub { !kill(0, $pid) }),
        'no process left after the script ends';
};

SKIP: {
    skip 'ollama-sim not built', 1 unless -x Mesh::Proc::bin('ollama-sim');
    subtest 'ollama-sim' => sub {
        my $sim = Mesh::Proc::start_sim();
        my ($code, $body) = Mesh::Proc::http_get($sim->port, '/api/version');
        is $code, 200, 'GET /api/version answers';
        like $body, qr/"version"/, 'with a version';
        ok $sim->stop, 'stops cleanly';
    };
}

done_testing();
