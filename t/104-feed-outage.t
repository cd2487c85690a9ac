# The live feed across a Redis outage: the clients stay connected while
# Redis is away, and once the worker's subscription is back every client
# (WebSocket and SSE) gets a fresh snapshot, taken after Redis came back,
# then the events published from then on.
use strict;
use warnings;

use Time::HiRes ();

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Feed;
use Mesh::Orch;

our $PING = $ENV{TEST_NGINX_USE_VALGRIND} ? '1500ms' : '300ms';

Mesh::Orch::suite();
Mesh::Feed::add_check();
add_test_cleanup_handler(
    sub { Mesh::Chaos::redis_restart() unless $Mesh::Orch::Redis->alive });

# the next message that is not a ping (SSE comments are skipped by json)
sub next_msg {
    my ($c) = @_;
    return $c->json(30) // { event => 'nothing' };
}

# the next message that is not a snapshot
sub past_snapshots {
    my ($c) = @_;
    for (;;) {
        my $m = next_msg($c);
        return $m unless $m->{event} eq 'snapshot';
    }
}

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: Redis killed and started again: each client gets a fresh
snapshot, then the events after it
--- http_config eval
Mesh::Orch::http_config("    mesh_feed_ping_interval $main::PING;\n")
--- request
GET /mesh/status
--- feed_run
Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{connected} }, 15);
my $ws = Mesh::Feed->ws;
my $sse = Mesh::Feed->sse;
my @first = map { main::next_msg($_) } $ws, $sse;
Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} }, 15);
Mesh::Feed::publish(['mesh:tasks', '{"event":"task.queued","seq":1}']);
# (a slow subscription may have given a client a second snapshot first)
my @before = map { main::past_snapshots($_) } $ws, $sse;
Mesh::Chaos::redis_kill();
my $down = Mesh::Orch::wait_until(sub {
    my $st = Mesh::Chaos::redis_state();
    defined $st->{connected} && !$st->{connected} }, 15);
# the clients are kept while Redis is away: pings go on
$ws->frame(0x9, 'during');
my ($op, $pong);
do { ($op, $pong) = $ws->read(10) } while defined $op && $op != 0xa;
my $back_at = Time::HiRes::time();
Mesh::Chaos::redis_restart();
my @again = map { main::next_msg($_) } $ws, $sse;
Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} }, 15);
Mesh::Feed::publish(['mesh:events', '{"event":"node.load","seq":2}']);
my @after = map { main::next_msg($_) } $ws, $sse;
my @out;
for my $i (0, 1) {
    my $who = $i ? 'sse' : 'ws';
    push @out, "$who: $first[$i]{event}, $before[$i]{event}:"
        . ($before[$i]{seq} // '-') . ", $again[$i]{event}, "
        . "$after[$i]{event}:" . ($after[$i]{seq} // '-');
    push @out, "$who: the second snapshot is fresh"
        if ($again[$i]{ts} // 0) > ($first[$i]{ts} // 0)
           && ($again[$i]{ts} // 0) >= int($back_at * 1000) - 5
           && ref $again[$i]{nodes} eq 'ARRAY'
           && defined $again[$i]{queued};
}
join "\n", ($down ? 'redis down seen' : 'redis down not seen'),
    (defined $op && $op == 0xa ? "pong $pong" : 'no pong'), @out;
--- feed
redis down seen
pong during
ws: snapshot, task.queued:1, snapshot, node.load:2
ws: the second snapshot is fresh
sse: snapshot, task.queued:1, snapshot, node.load:2
sse: the second snapshot is fresh
--- no_error_log
[crit]
