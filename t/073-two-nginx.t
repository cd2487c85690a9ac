# Two orchestrators on one Redis: the nginx under test ("B") and a
# second nginx ("A", its own prefix and port, started per block).  A node
# that joins through A is routable through B within a second (A publishes
# node.join, B's subscriber applies it), and the load of a task running
# through A shows in B's /mesh/v1/nodes while it runs and goes back to 0
# after it: B learns it only from A's node.load events, because the
# node's heartbeats (which also carry a load) are paused meanwhile.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Node;
use Mesh::Orch;

our ($A, $Node, $Joined, $Busy, $Idle, $Stream, $BDone);

# 20 misses of 300 ms: a node whose heartbeats pause stays up for 6 s
my $HTTP = "    mesh_heartbeat_interval 300ms;\n"
         . "    mesh_heartbeat_misses 20;\n";

Mesh::Orch::suite(http_extra => $HTTP);
Mesh::Orch::sim('S', '--model', 'mistral:7b', '--token-delay-ms', 50);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

# nginx A, and node "a" (sim S) heartbeating through A only; returns
# whether B lists the node up within 1 s (scaled) of its first heartbeat.
sub join_through_a {
    Mesh::Orch::reset_scene();
    $A = Mesh::Chaos::own(Mesh::Chaos::nginx(
        name => 'nginx-a', http_config => Mesh::Orch::http_config($HTTP),
        config => $Mesh::Orch::LOCATIONS));
    Mesh::Chaos::record_events();
    $Node = Mesh::Chaos::own(Mesh::Node->start(
        nginx_port => $A->port, node_id => 'a',
        port => $Mesh::Orch::Sims{S}->port,
        models => [['mistral:7b', 'text']], interval_ms => 300));
    return Mesh::Orch::wait_until(
        sub { Mesh::Chaos::node('a')->{up} }, 1);
}

sub b_load {
    return Mesh::Chaos::node('a')->{active_tasks} // -1;
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a node that joins through nginx A is routable through nginx B within a second
--- init
$main::Joined = main::join_through_a();
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"joined elsewhere","stream":false,"options":{"num_predict":2}}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] joined","done":true
--- checks
$Joined
Mesh::Chaos::node('a', $A->port)->{up} == 1
Mesh::Chaos::seen(event => 'node.join', node_id => 'a')
# B served the task itself: A never saw it
Mesh::Chaos::node('a')->{tasks_done} == 1
Mesh::Chaos::node('a', $A->port)->{tasks_done} == 0
$A->stop
--- no_error_log
[error]



=== TEST 2: load counted through nginx A shows in nginx B's node list (node.load events)
--- init
main::join_through_a();
$main::BDone = Mesh::Chaos::node('a')->{tasks_done};
# from now on only node.load events can change what B knows of the load
$main::Node->{proc}->signal('STOP');
$main::Stream = Mesh::Chaos::background(
    port => $main::A->port, path => '/api/generate',
    body => '{"model":"mistral:7b","prompt":"x","options":{"num_predict":30}}');
$main::Busy = Mesh::Orch::wait_until(sub { main::b_load() == 1 }, 1);
$main::Stream->result;
$main::Idle = Mesh::Orch::wait_until(sub { main::b_load() == 0 }, 1);
$main::Node->{proc}->signal('CONT');
--- request
GET /mesh/v1/nodes
--- response_body_like: ^\{"nodes":\[\{"node_id":"a",
--- checks
$Busy
$Idle
$Stream->result->{status} == 200 && $Stream->result->{clean_end}
$Stream->result->{headers}{'x-mesh-node'} eq 'a'
Mesh::Chaos::seen(event => 'node.load', node_id => 'a', active => 1)
Mesh::Chaos::seen(event => 'node.load', node_id => 'a', active => 0)
# B dispatched nothing: the counts it showed were A's
Mesh::Chaos::node('a')->{tasks_done} == $BDone
Mesh::Chaos::node('a', $A->port)->{tasks_done} == 1
$A->stop
--- no_error_log
[error]
