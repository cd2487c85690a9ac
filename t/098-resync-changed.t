# The periodic resync (every 5 s) reads from Redis only what the zone
# lacks: a node whose score in mesh:nodes (its last heartbeat) the zone
# already has gets its mesh-wide count alone (HGET active), never its
# capabilities again (HMGET caps active, then a parse).  What the resync
# is for still holds: a node, or a node's newer heartbeat, whose event
# this nginx missed is read and applied, and a count changed in Redis
# without its node.load reaches the zone.  Redis' own command statistics
# count the commands (ZRANGEBYSCORE is the resync's first).  A block fails
# with resyncs that read every node (TEST 1 and TEST 2 count HMGETs).
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Node;
use Mesh::Orch;
use Mesh::Proc;
use Time::HiRes ();

our ($Resyncs);

# a long heartbeat interval (10 s, 3 misses): the nodes stay live through
# the resyncs a block waits for without heartbeating again
Mesh::Orch::suite(http_extra => "    mesh_heartbeat_interval 10s;\n");
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

# Nodes "a" and "b" joined with one heartbeat each through this nginx,
# then Redis' command statistics zeroed.
sub mesh {
    Mesh::Orch::reset_scene();
    Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} },
                           15);
    for my $id ('a', 'b') {
        Mesh::Chaos::heartbeat(node_id => $id, port => 1,
                               models => [['mistral:7b', 'text']]) == 200
            or Test::More::diag("node $id did not join");
    }
    Mesh::Chaos::redis('CONFIG', 'RESETSTAT');
}

# How many times Redis ran a command since mesh().
sub calls {
    my ($cmd) = @_;
    my ($n) = Mesh::Chaos::redis('INFO', 'commandstats')
        =~ /^cmdstat_\Q$cmd\E:calls=(\d+)/m;
    $Mesh::Checks::Why = "$cmd: " . ($n // 0) . " calls";
    return $n // 0;
}

# Waits until the worker has resynced $n more times (deadline: a hang).
sub wait_resyncs {
    my ($n) = @_;
    my $from = calls('zrangebyscore');
    my $ok = Mesh::Orch::wait_until(
        sub { calls('zrangebyscore') >= $from + $n }, 20);
    $Resyncs = calls('zrangebyscore') - $from;
    return $ok;
}

# Waits until Redis has run $cmd at least $n times (deadline: a hang).
sub calls_reach {
    my ($cmd, $n) = @_;
    Mesh::Orch::wait_until(sub { calls($cmd) >= $n }, 10);
    return calls($cmd) >= $n;
}

# Node $id as another orchestrator's heartbeat leaves it in Redis (the
# hash, then its score), without the event: this nginx never hears of it
# but from a resync.
sub redis_heartbeat {
    my (%caps) = @_;
    my $now = int(Time::HiRes::time() * 1000);
    my $json = Mesh::Node::caps_json({ caps => \%caps });
    Mesh::Chaos::redis('HSET', "mesh:node:$caps{node_id}", 'caps', $json,
                       'last_seen', $now, 'active', 0);
    Mesh::Chaos::redis('ZADD', 'mesh:nodes', $now, $caps{node_id});
}

# The model names node $id is listed with.
sub models_of {
    my ($id) = @_;
    my $node = Mesh::Chaos::node($id);
    my $names = join ',', map { $_->{name} } @{ $node->{models} // [] };
    $Mesh::Checks::Why = "node $id models: $names";
    return $names;
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: nodes whose heartbeat the zone has: their count is read, never their capabilities
--- init
main::mesh();
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"b",
--- checks
main::wait_resyncs(2)
# two nodes, each asked for its count by each resync
main::calls_reach('hget', 4)
main::calls('hmget') == 0
Mesh::Chaos::node('a')->{up} == 1
Mesh::Chaos::node('b')->{up} == 1
--- no_error_log
[error]



=== TEST 2: a node, and a node's newer heartbeat, whose events were missed: read once each
--- init
main::mesh();
main::redis_heartbeat(node_id => 'c', port => 2,
                      models => [['codellama:7b', 'code']]);
main::redis_heartbeat(node_id => 'a', port => 1,
                      models => [['mistral:7b', 'text'],
                                 ['llava:7b', 'vision']]);
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"b",
--- checks
main::wait_resyncs(3)
Mesh::Chaos::node('c')->{up} == 1
main::models_of('c') eq 'codellama:7b'
main::models_of('a') eq 'mistral:7b,llava:7b'
# read once, on the first resync after they were written; then known
main::calls('hmget') == 2
main::calls_reach('hget', 4)
--- no_error_log
[error]



=== TEST 3: a count changed in Redis without its node.load reaches the zone
--- init
main::mesh();
Mesh::Chaos::redis('HINCRBY', 'mesh:node:a', 'active', 2);
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"b",
--- checks
main::wait_resyncs(2)
Mesh::Chaos::node('a')->{active_tasks} == 2
Mesh::Chaos::node('b')->{active_tasks} == 0
main::calls('hmget') == 0
--- no_error_log
[error]
