# The gRPC Watch call (python3-grpcio): the live feed's third kind of
# client.  The snapshot comes first, then the registry and task events as
# they happen (a node joins, a task is routed and done); WatchRequest.only
# filters by kind; a cancel (RST_STREAM) frees the feed client; a reader
# too slow for mesh_feed_buffer ends with RESOURCE_EXHAUSTED; 20 watchers
# at once each get every event published once they are in (the worker's
# subscription already in place, as a Watch before them holds it); a
# deadline (grpc-timeout, from grpcio's
# timeout= and from curl, which ignores it) ends the call with
# DEADLINE_EXCEEDED and frees the feed client.  A graceful stop
# (UNAVAILABLE "server going away") is t/135's.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Chaos;
use Mesh::Feed;
use Mesh::Grpc;
use Mesh::Orch;
use Mesh::Pipeline;
use Mesh::Proc;
use Mesh::SimClient;

our ($W, $R, $T, $H);

# mesh_metrics on a port of its own: the block defaults have no /metrics
$ENV{TEST_NGINX_METRICS_PORT} = Mesh::Proc::free_port();
Mesh::Grpc::suite(http_extra => <<"_EOC_");
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_METRICS_PORT};
        location = /metrics { mesh_metrics; }
    }
_EOC_
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

# mesh_feed_clients, mesh-wide (-1: no answer)
sub feed_clients {
    my $r = Mesh::SimClient->new($ENV{TEST_NGINX_METRICS_PORT})
        ->request('GET', '/metrics', undef, timeout => 10);
    return -1 unless ($r->{status} // 0) == 200;
    return $r->{content} =~ /^mesh_feed_clients (\d+)$/m ? $1 : -1;
}

# the kinds received; a second snapshot right after the first is one
# (see Mesh::Feed::read: it comes before any event)
sub kinds {
    my @k = map { $_->{kind} // '?' } @{ $_[0] };
    splice @k, 1, 1 while @k > 1 && $k[0] eq 'snapshot'
                          && $k[1] eq 'snapshot';
    return join ' ', @k;
}
sub event { return JSON::PP::decode_json($_[0]{json} // '{}') }
sub publish_kinds {
    Mesh::Feed::publish(map {
        [(/^task/ ? 'mesh:tasks' : 'mesh:events'), qq({"event":"$_"})]
    } @_);
    return 1;
}

__DATA__

=== TEST 1: the snapshot first, then a node joining and a task routed and done, as they happen
--- init
Mesh::Chaos::teardown();
Mesh::Orch::reset_scene();
--- request
GET /mesh/status
--- checks
($main::W = Mesh::Grpc::watch({}, until => 'task.done')) && Mesh::Grpc::watch_saw($W, 15, 'snapshot')
(main::event(Mesh::Grpc::watch_messages($W)->[0])->{nodes} // 0) && !@{ main::event(Mesh::Grpc::watch_messages($W)->[0])->{nodes} }
Mesh::Orch::wait_until(sub { Mesh::Feed::listening() }, 15)
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--tokens', 3] }) || 1
Mesh::Grpc::watch_saw($W, 20, 'snapshot', 'node.join')
($main::T = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'watched' }))->{code} eq 'OK'
Mesh::Grpc::watch_saw($W, 20, 'snapshot', 'node.join', 'task.routed', 'task.done')
($main::R = Mesh::Grpc::watch_end($W))->{code} eq 'CANCELLED'
(grep { $_->{kind} eq 'task.routed' && main::event($_)->{node_id} eq 'b' && main::event($_)->{task_id} eq $T->{messages}[0]{task_id} } @{ $R->{messages} }) == 1
(grep { $_->{kind} eq 'node.join' && main::event($_)->{node_id} eq 'b' } @{ $R->{messages} }) == 1
--- no_error_log
[error]



=== TEST 2: WatchRequest.only: the snapshot, then only the kinds asked for ("node.*" a prefix)
--- request
GET /mesh/status
--- checks
($main::W = Mesh::Grpc::watch({ only => ['node.*', 'task.done'] }, until => 'node.down')) && Mesh::Grpc::watch_saw($W, 15, 'snapshot')
main::publish_kinds(qw(task.queued node.load task.routed task.done node.heartbeat x.other node.down))
($main::R = Mesh::Grpc::watch_end($W))->{code} eq 'CANCELLED'
main::kinds($R->{messages}) eq 'snapshot node.load task.done node.heartbeat node.down'
--- no_error_log
[error]



=== TEST 3: a bad filter is INVALID_ARGUMENT
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('Watch', { only => ['node.load,task.done'] }))->{code} eq 'INVALID_ARGUMENT'
$R->{details} =~ /comma/ && !@{ $R->{messages} }
main::feed_clients() == 0
--- no_error_log
[error]



=== TEST 4: a cancel (RST_STREAM) frees the feed client: mesh_feed_clients goes back to 0
--- request
GET /mesh/status
--- checks
($main::W = Mesh::Grpc::watch({}, until => 'x.stop')) && Mesh::Grpc::watch_saw($W, 15, 'snapshot')
main::feed_clients() == 1
main::publish_kinds('x.stop')
Mesh::Grpc::watch_end($W)->{code} eq 'CANCELLED'
Mesh::Orch::wait_until(sub { main::feed_clients() == 0 }, 10)
--- no_error_log
[error]



=== TEST 5: a slow reader passes mesh_feed_buffer: the call ends with RESOURCE_EXHAUSTED after what was in flight
--- init
Mesh::Orch::later(sub { main::feed_clients() == 1 },
                  sub { sleep 1; Mesh::Feed::publish(Mesh::Feed::burst(2000, pad => 1000)) }, 30);
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::run('slow', 'Watch', {}, n => 4))->{code} eq 'RESOURCE_EXHAUSTED'
$R->{details} =~ /mesh_feed_buffer/
$R->{messages}[0]{kind} eq 'snapshot' && @{ $R->{messages} } > 1 && @{ $R->{messages} } < 2001
Mesh::Orch::reap_later()
Mesh::Orch::wait_until(sub { main::feed_clients() == 0 }, 10)
--- error_log
client too slow
--- no_error_log
[alert]



=== TEST 6: 20 watchers at once: each gets the snapshot and the event
--- request
GET /mesh/status
--- checks
($main::H = Mesh::Grpc::watch({}, until => 'x.held')) && Mesh::Grpc::watch_saw($H, 15, 'snapshot')
Mesh::Orch::wait_until(sub { Mesh::Feed::listening() }, 15)
Mesh::Orch::later(sub { main::feed_clients() == 21 }, sub { main::publish_kinds('node.load', 'x.all') }, 110)
@{ ($main::R = Mesh::Grpc::run('concurrent', 'Watch', {}, n => 20, until => 'x.all'))->{results} || [] } == 20
(grep { $_->{code} eq 'CANCELLED' && main::kinds($_->{messages}) eq 'snapshot node.load x.all' } @{ $R->{results} }) == 20
Mesh::Orch::reap_later()
main::publish_kinds('x.held') && Mesh::Grpc::watch_end($H)->{code} eq 'CANCELLED'
Mesh::Orch::wait_until(sub { main::feed_clients() == 0 }, 10)
--- no_error_log
[error]



=== TEST 7: a Watch with a deadline (grpc-timeout, python's timeout=): DEADLINE_EXCEEDED, and the feed client is freed
--- init
Mesh::Chaos::teardown();
--- request
GET /mesh/status
--- checks
main::feed_clients() == 0
($main::W = Mesh::Grpc::watch({}, timeout => 2 * $Mesh::Orch::Slow)) && Mesh::Grpc::watch_saw($W, 15, 'snapshot')
main::feed_clients() == 1
($main::R = Mesh::Grpc::watch_end($W))->{code} eq 'DEADLINE_EXCEEDED'
main::kinds($R->{messages}) eq 'snapshot'
Mesh::Orch::wait_until(sub { main::feed_clients() == 0 }, 10)
--- no_error_log
[error]



=== TEST 8: the server keeps a Watch's deadline itself: a client that ignores grpc-timeout (curl) gets the snapshot, then grpc-status 4 in the trailers; the feed client is freed
--- request
GET /mesh/status
--- checks
main::feed_clients() == 0
($main::R = Mesh::Grpc::raw('/echo.mesh.Mesh/Watch', Mesh::Grpc::frame(''), 'grpc-timeout: ' . (1500 * $Mesh::Orch::Slow) . 'm')) && (grep { $_ eq '< grpc-status: 4' } @{ $R->{lines} })
(grep { $_ eq '< grpc-message: the deadline (grpc-timeout) was exceeded' } @{ $R->{lines} }) && (grep { /^< HTTP\/2 200/ } @{ $R->{lines} }) && $R->{size} > 0
Mesh::Orch::wait_until(sub { main::feed_clients() == 0 }, 10)
--- error_log
grpc deadline of
--- no_error_log
[error]
