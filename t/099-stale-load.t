# A node's load count after the tasks it ran ended, as /mesh/v1/nodes and
# Redis' mesh:node:<id> "active" show it.  A heartbeat carries the
# agent's own count as of its signed timestamp: one sent while a task
# still ran and read after the task ended here must not set the count
# back to the agent's older view (it stayed so for as long as the node
# was silent: t/087 TEST 6 showed it for a node that died).  A node
# marked down runs nothing, whoever counted its tasks: its count is what
# this nginx still has running there (0), in the zone and in Redis.
# With several orchestrators, another one's heartbeat event carries the
# heartbeat's signed time ("sent"): this nginx takes its own tasks' ends
# since off that count too.  The heartbeats are signed by hand, their
# timestamps chosen (Redis' event too: published by hand).
use strict;
use warnings;

use JSON::PP ();
use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Log;
use Mesh::Node;
use Mesh::Orch;
use Mesh::Stream;
use Time::HiRes ();

our ($T0, $Task, $Up, $Event);

our $HB = '/mesh/v1/nodes/heartbeat';

# each task takes ~300 ms: its +1 and its -1 reach Redis in two flushes
Mesh::Orch::sim('S', '--model', 'mistral:7b', '--tokens', 6,
                '--token-delay-ms', 50);
# 10 s, 3 misses: a node stays live through a block without heartbeating
Mesh::Orch::suite(http_extra => "    mesh_heartbeat_interval 10s;\n");
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

# One heartbeat of node "a" (the simulator S behind it) reporting
# $active tasks, signed at $ts (unix seconds).  Returns the status.
sub hb {
    my ($active, $ts) = @_;
    $ts = int $ts;
    my $body = Mesh::Node::caps_json({ caps => {
        node_id => 'a', port => $Mesh::Orch::Sims{S}->port,
        models => [['mistral:7b', 'text']], active_tasks => $active } });
    my $r = Mesh::Stream::request(
        port => $ENV{TEST_NGINX_SERVER_PORT}, path => $HB,
        headers => { Authorization => Mesh::Sign::node(
            $Mesh::Node::SECRET, 'POST', $HB, $body, ts => $ts) },
        body => $body, timeout => 10 * $Mesh::Orch::Slow);
    return $r->{status} // 0;
}

# Node "a" joined (count 0), subscribed nginx, $T0 the second it joined.
sub mesh {
    Mesh::Orch::reset_scene();
    Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} },
                           15);
    $T0 = time;
    hb(0, $T0) == 200 or Test::More::diag('node a did not join');
}

# One task through nginx to node "a", to its end: its status.
sub task {
    $Task = Mesh::Chaos::request(
        path => '/mesh/v1/tasks', timeout => 10,
        body => '{"type":"text","prompt":"x","stream":false}');
    return $Task->{status} // 0;
}

# "zone/redis": node a's count in /mesh/v1/nodes and in Redis, after
# $wait s (default 0.5, scaled) for a late flush to show: what these
# blocks expect is a count that does not change.
sub load_now {
    my ($wait) = @_;
    Time::HiRes::sleep(($wait // 0.5) * $Mesh::Orch::Slow);
    my $zone = Mesh::Chaos::node('a')->{active_tasks} // -1;
    my $redis = Mesh::Chaos::redis('HGET', 'mesh:node:a', 'active');
    chomp $redis;
    $Mesh::Checks::Why = "node a: zone active_tasks=$zone, "
                       . "redis active=$redis";
    return "$zone/$redis";
}

# Sleeps into the second after the current one.
sub next_second {
    my $now = Time::HiRes::time();
    Time::HiRes::sleep(int($now) + 1.05 - $now);
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
# Another orchestrator publishes node a's heartbeat (the agent's count 1,
# signed at second $sent); waits until this nginx applied it.
sub other_heartbeat {
    my ($sent) = @_;
    my $event = Mesh::Node::caps_json({ caps => {
        node_id => 'a', port => $Mesh::Orch::Sims{S}->port,
        models => [['mistral:7b', 'text']], active_tasks => 1,
        ram_free_gb => 5 } });
    $event =~ s/^\{/{"event":"node.heartbeat","ts":1,"by":"another-orch-001","sent":$sent,/;
    Mesh::Chaos::redis('PUBLISH', 'mesh:events', $event);
    # applied: its free RAM shows
    Mesh::Orch::wait_until(
        sub { Mesh::Chaos::node('a')->{hardware}{ram_free_gb} == 5 }, 5);
}

run_tests();

__DATA__

=== TEST 1: a heartbeat sent before a task ended and read after: the count stays 0
--- init
main::mesh();
main::task() == 200 or Test::More::diag("task: $main::Task->{status}");
Mesh::Chaos::settled_load('a');
# the agent's heartbeat, built while the task ran, arrives now
main::hb(1, $main::T0) == 200 or Test::More::diag('late heartbeat refused');
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a",
--- checks
$Task->{status} == 200 && $Task->{headers}{'x-mesh-node'} eq 'a'
main::load_now() eq '0/0'
Mesh::Chaos::node('a')->{up} == 1
--- no_error_log
[error]



=== TEST 2: a heartbeat sent after the task ended: its count (a task sent to the node directly) is taken
--- init
main::mesh();
main::task() == 200 or Test::More::diag("task: $main::Task->{status}");
Mesh::Chaos::settled_load('a');
main::next_second();
main::hb(1, int time) == 200 or Test::More::diag('heartbeat refused');
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a",
--- checks
$Task->{status} == 200
main::load_now() eq '1/1'
--- no_error_log
[error]



=== TEST 3: a node silent while it reports a task is marked down: it runs nothing, in the zone and in Redis
--- http_config eval
Mesh::Orch::http_config("    mesh_heartbeat_interval 300ms;\n")
--- init
main::mesh();
main::hb(1, int time) == 200 or Test::More::diag('heartbeat refused');
Mesh::Orch::wait_until(sub { Mesh::Chaos::node('a')->{active_tasks} == 1 }, 5);
# no heartbeat after it: not live after 3 x 300 ms, then the next
# sweep marks it down
Mesh::Log::wait_for(qr/mesh: node "a" is down: no heartbeat/, 10);
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a",
--- checks
Mesh::Chaos::node('a')->{up} == 0
main::load_now() eq '0/0'
--- wait_error_log
mesh: node "a" is down: no heartbeat for 900 ms
--- error_log
mesh: node "a" is down: no heartbeat for 900 ms
--- no_error_log
[error]



=== TEST 4: another orchestrator marks the node down (node.down): this nginx's count of it is its own, 0
--- init
main::mesh();
main::hb(2, int time) == 200 or Test::More::diag('heartbeat refused');
Mesh::Orch::wait_until(sub { Mesh::Chaos::node('a')->{active_tasks} == 2 }, 5);
Mesh::Chaos::redis('PUBLISH', 'mesh:events',
    '{"event":"node.down","ts":1,"node_id":"a","by":"another-orch-0001"}');
Mesh::Orch::wait_until(sub { !Mesh::Chaos::node('a')->{up} }, 10);
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a",
--- checks
Mesh::Chaos::node('a')->{up} == 0
Mesh::Chaos::node('a')->{active_tasks} == 0
--- no_error_log
[error]



=== TEST 5: the node comes back: its heartbeat's count is taken again
--- http_config eval
Mesh::Orch::http_config("    mesh_heartbeat_interval 300ms;\n")
--- init
main::mesh();
main::hb(1, int time) == 200 or Test::More::diag('heartbeat refused');
Mesh::Log::wait_for(qr/mesh: node "a" is down: no heartbeat/, 10);
$main::Up = main::hb(1, int time);
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a",
--- checks
$Up == 200
# at once: silent again, the node is down after 900 ms
main::load_now(0) eq '1/1'
--- no_error_log
[error]



=== TEST 6: another orchestrator's heartbeat event, sent before a task ended here: this nginx takes its end off the count
--- init
main::mesh();
main::task() == 200 or Test::More::diag("task: $main::Task->{status}");
Mesh::Chaos::settled_load('a');
# the node heartbeats to another orchestrator, which publishes it with
# the agent's count and the heartbeat's signed time
main::other_heartbeat($main::T0);
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a",
--- checks
$Task->{status} == 200
Mesh::Chaos::node('a')->{hardware}{ram_free_gb} == 5
Mesh::Chaos::node('a')->{active_tasks} == 0
Mesh::Chaos::node('a')->{up} == 1
--- no_error_log
[error]



=== TEST 7: a heartbeat signed ahead of this nginx's clock (inside the auth window), built before a task ended and read after: the count stays 0
--- init
main::mesh();
main::task() == 200 or Test::More::diag("task: $main::Task->{status}");
Mesh::Chaos::settled_load('a');
# the agent's clock is 20 s ahead: its heartbeat, built while the task
# ran, arrives now
main::hb(1, time + 20) == 200 or Test::More::diag('heartbeat refused');
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a",
--- checks
$Task->{status} == 200
main::load_now() eq '0/0'
--- no_error_log
[error]



=== TEST 8: another orchestrator's heartbeat event with a "sent" ahead of this nginx's clock, built before a task ended here: this nginx takes its end off the count
--- init
main::mesh();
main::task() == 200 or Test::More::diag("task: $main::Task->{status}");
# at once: a "sent" bounded by this nginx's now finds the end in the two
# seconds kept (so no wait for Redis to settle; the zone's count is read)
# the other orchestrator's clock (or the agent's, as it bounded it) is
# 20 s ahead of this one's
main::other_heartbeat(time + 20);
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a",
--- checks
$Task->{status} == 200
Mesh::Chaos::node('a')->{hardware}{ram_free_gb} == 5
Mesh::Chaos::node('a')->{active_tasks} == 0
--- no_error_log
[error]
