# The gRPC door's streams under stress, with a real client (python3-grpcio):
# a deadline (grpc-timeout) ends the call with DEADLINE_EXCEEDED and
# cancels the node's Ollama call; so does a client's cancel (RST_STREAM);
# 50 concurrent streams each get their whole reply; a node killed
# mid-stream ends the call with UNAVAILABLE, never OK; a slow reader does
# not make nginx buffer the reply (HTTP/2 flow control reaches the node).
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Chaos;
use Mesh::Grpc;
use Mesh::Orch;
use Mesh::Pipeline;

our ($R, $W, @S, $Rss0, $Rss1);

Mesh::Grpc::suite();
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

sub msg { my ($i) = @_; return $main::R->{messages}[$i] // {} }
sub cancelled { return Mesh::Pipeline::sim_stats($_[0])->{cancelled} // 0 }
sub wait_cancelled {
    my ($id, $n) = @_;
    return Mesh::Orch::wait_until(sub { cancelled($id) == $n }, 15);
}

# kB of memory of nginx's worker (the master's child; under valgrind,
# without a master, nginx itself)
sub worker_rss {
    my $pidfile = "$Test::Nginx::Util::ServRoot/logs/nginx.pid";
    open my $fh, '<', $pidfile or return -1;
    chomp(my $master = <$fh> // '');
    my $pid = $master;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $s, '<', $stat or next;
        my @f = split ' ', (<$s> // '');
        $pid = $f[0] if ($f[3] // '') eq $master;
    }
    open my $st, '<', "/proc/$pid/status" or return -1;
    my ($kb) = join('', <$st>) =~ /^VmRSS:\s+(\d+)/m;
    return $kb // -1;
}

# what the later() child of TEST 6 wrote: the worker's memory, sim stats
sub recorded {
    open my $in, '<', "$Test::Nginx::Util::ServRoot/rss" or return 0;
    my ($rss, $json) = split ' ', (<$in> // ''), 2;
    $main::Rss1 = $rss;
    @main::S = (JSON::PP::decode_json($json));
    return $rss > 0;
}

__DATA__

=== TEST 1: a deadline shorter than the reply: DEADLINE_EXCEEDED, and the node's Ollama call is cancelled
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--tokens', 200, '--token-delay-ms', 50] });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'slow' }, timeout => 1 * $Mesh::Orch::Slow))->{code} eq 'DEADLINE_EXCEEDED'
main::msg(0)->{node_id} eq 'b'
main::wait_cancelled('b', 1)
Mesh::Chaos::settled_load('b') eq '0/0'
--- no_error_log
[error]



=== TEST 2: the server keeps the deadline itself: a client that ignores grpc-timeout (curl) gets grpc-status 4 in the trailers
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--tokens', 200, '--token-delay-ms', 50] });
--- request
GET /mesh/status
--- checks
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/RunTask', Mesh::Grpc::frame("\x08\x01\x1a\x04slow"), 'grpc-timeout: ' . (1000 * $Mesh::Orch::Slow) . 'm')) && (grep { $_ eq '< grpc-status: 4' } @{ $W->{lines} })
($Mesh::Checks::Why = join(' | ', @{ $W->{lines} }) . " size $W->{size}") && (grep { /^< HTTP\/2 200/ } @{ $W->{lines} }) && $W->{size} > 0
main::wait_cancelled('b', 1)
Mesh::Chaos::settled_load('b') eq '0/0'
--- no_error_log
[error]



=== TEST 3: the client cancels after two messages (RST_STREAM): the node's Ollama call is cancelled
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--tokens', 200, '--token-delay-ms', 50] });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::run('cancel', 'RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'stop me' }, n => 2))->{got} == 2
$R->{code} eq 'CANCELLED'
main::wait_cancelled('b', 1)
Mesh::Chaos::settled_load('b') eq '0/0'
--- no_error_log
[error]



=== TEST 4: 50 concurrent streams on two nodes: every one OK with its whole reply, nothing left counted
--- init
Mesh::Pipeline::mesh(a => { model => 'mistral:7b', sim => ['--tokens', 4] },
                     b => { model => 'mistral:7b', sim => ['--tokens', 4] });
--- request
GET /mesh/status
--- checks
@{ ($main::R = Mesh::Grpc::run('concurrent', 'RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'many at once' }, n => 50))->{results} || [] } == 50
(grep { $_->{code} eq 'OK' } @{ $R->{results} }) == 50
(grep { Mesh::Grpc::text($_) eq '[mistral:7b] many at once' && $_->{messages}[-1]{done} } @{ $R->{results} }) == 50
(grep { ($_->{messages}[0]{node_id} // '') =~ /^[ab]$/ } @{ $R->{results} }) == 50
Mesh::Chaos::settled_load('a') eq '0/0' && Mesh::Chaos::settled_load('b') eq '0/0'
--- no_error_log
[error]



=== TEST 5: the node is killed mid-stream: UNAVAILABLE naming the failure, after the tokens it sent; never OK
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--tokens', 200, '--token-delay-ms', 50] });
Mesh::Orch::later(sub { (Mesh::Pipeline::sim_stats('b')->{active} // 0) == 1 },
                  sub { sleep 0.5; $Mesh::Chaos::Agent{b}->kill }, 20);
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'die' }))->{code} eq 'UNAVAILABLE'
$R->{details} =~ /node "b" failed mid-stream/
main::msg(0)->{node_id} eq 'b' && Mesh::Grpc::text($R) =~ /^\[mistral:7b\]( die)*$/ && !grep { $_->{done} } @{ $R->{messages} }
Mesh::Orch::reap_later()
--- no_error_log
[crit]
[alert]



=== TEST 6: a slow reader: nginx does not take the node's reply in while the client does not read, and the reply arrives whole
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--tokens', 2000, '--token-delay-ms', 0] });
$main::Rss0 = main::worker_rss();
Mesh::Orch::later(sub { my $s = Mesh::Pipeline::sim_stats('b'); ($s->{active} // 0) + ($s->{completed} // 0) == 1 },
                  sub { sleep 5 * $Mesh::Orch::Slow; open my $o, '>', "$Test::Nginx::Util::ServRoot/rss"; print $o main::worker_rss(), ' ', JSON::PP::encode_json(Mesh::Pipeline::sim_stats('b')); close $o }, 30);
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::run('slow', 'RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'y' x 5000 }, n => 8 * $Mesh::Orch::Slow))->{code} eq 'OK'
@{ $R->{messages} } == 2002 && $R->{messages}[-1]{stats}{eval_count} == 2000
(grep { ($_->{text} // '') eq ' ' . 'y' x 5000 } @{ $R->{messages} }) == 1999
Mesh::Orch::reap_later() && main::recorded()
# 10 MB of tokens: nginx held no more than a few MB of them (not
# measured under memcheck, whose quarantine of freed blocks makes VmRSS
# say nothing, as in t/105)
$ENV{TEST_NGINX_USE_VALGRIND} || (($Mesh::Checks::Why = "worker rss $Rss0 kB, then $Rss1 kB") && $Rss1 - $Rss0 < 8192)
--- no_error_log
[error]
