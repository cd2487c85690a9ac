# A node this orchestrator marked down after a failed connect stays down
# through the periodic resync from Redis (every 5 s): Redis still lists
# it with its last heartbeat, which is not news.  Only a heartbeat newer
# than the one the node was last seen with brings it back.
#
# The heartbeat interval is long (10 s, 3 misses), so the health sweep
# never marks the node down: only the failed connect does, and only the
# resync could bring it back.  Resyncs are counted in Redis' own command
# statistics (ZRANGEBYSCORE is the resync's first command).
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;
use Mesh::Proc;

our ($Resyncs);

Mesh::Orch::suite(http_extra => "    mesh_heartbeat_interval 10s;\n");
Mesh::Orch::sim('B', '--model', 'mistral:7b', '--tokens', 2);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

# nothing listens there: a dispatch to it fails to connect
our $DEAD_PORT = Mesh::Proc::free_port();

# Node "a" (preferred: more free RAM) on a port where nothing listens,
# node "b" before sim B; each joined with one heartbeat.
sub mesh {
    Mesh::Orch::reset_scene();
    Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} },
                           15);
    Mesh::Chaos::heartbeat(node_id => 'a', port => $DEAD_PORT,
                           ram_free_gb => 12,
                           models => [['mistral:7b', 'text']]) == 200
        && Mesh::Chaos::heartbeat(node_id => 'b',
                                  port => $Mesh::Orch::Sims{B}->port,
                                  ram_free_gb => 4,
                                  models => [['mistral:7b', 'text']]) == 200
        or Test::More::diag('the nodes did not join');
    Mesh::Chaos::record_events();
}

# How many ZRANGEBYSCORE Redis has run.
sub resyncs {
    my ($n) = Mesh::Chaos::redis('INFO', 'commandstats')
        =~ /^cmdstat_zrangebyscore:calls=(\d+)/m;
    return $n // 0;
}

# Waits until the worker has resynced $n more times (deadline: a hang).
sub wait_resyncs {
    my ($n) = @_;
    my $from = resyncs();
    my $ok = Mesh::Orch::wait_until(sub { resyncs() >= $from + $n }, 20);
    $Resyncs = resyncs() - $from;
    return $ok;
}

# Redis still lists node $id live, with a score no newer than the
# registry's last_seen (the heartbeat's time; the registry may have it a
# moment later, from the node's own event coming back).
sub redis_has_last_seen {
    my ($id) = @_;
    my $score = Mesh::Chaos::redis('ZSCORE', 'mesh:nodes', $id);
    my $seen = Mesh::Chaos::node($id)->{last_seen} // -1;
    $Mesh::Checks::Why = "ZSCORE '$score', last_seen $seen";
    return $score =~ /^\d+$/ && $score <= $seen;
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: marked down by a failed connect, still down after two resyncs
--- init
main::mesh();
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"resync","stream":false}
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] resync","done":true
--- checks
Mesh::Chaos::seen_line(qr/^node\.down node_id=a$/)
Mesh::Chaos::node('a')->{up} == 0
main::wait_resyncs(2)
Mesh::Chaos::node('a')->{up} == 0
Mesh::Chaos::node('b')->{up} == 1
# Redis still has a's last heartbeat: the resync read it and kept a down
main::redis_has_last_seen('a')
Mesh::Chaos::unseen(event => 'node.up', node_id => 'a')
--- error_log
mesh: node "a" is down: connect failed
--- no_error_log
no heartbeat for
[crit]



=== TEST 2: a newer heartbeat brings the node back at once, and a resync keeps it up
--- init
main::mesh();
Mesh::Chaos::request(path => '/api/generate',
    body => '{"model":"mistral:7b","prompt":"x","stream":false}');
Mesh::Orch::wait_until(sub { !Mesh::Chaos::node('a')->{up} }, 5);
Mesh::Chaos::record_events();
Mesh::Chaos::heartbeat(node_id => 'a', port => $main::DEAD_PORT,
                       ram_free_gb => 12, models => [['mistral:7b', 'text']]);
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a",.*"up":true,
--- checks
Mesh::Chaos::seen_line(qr/^node\.up .* node_id=a /)
main::wait_resyncs(1)
Mesh::Chaos::node('a')->{up} == 1
--- error_log
mesh: node "a" is down: connect failed
mesh: node "a" is up
--- no_error_log
[crit]
