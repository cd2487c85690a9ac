# Redis restarted without persistence comes back empty.  The orchestrator
# writes the live nodes it knows back into Redis as soon as it is
# connected again (capabilities, last_seen and the liveness set, as a
# heartbeat would), instead of waiting for the agents' next heartbeats,
# which may be 30 s away after their backoff.  A node that left is not
# written back.  Nothing newer in Redis is overwritten.
#
# The nodes heartbeat once, and the heartbeat interval is long (20 s,
# 3 misses), so no heartbeat can refill Redis during the block: only the
# write-back can.  The time from the restart to the registry being back
# is printed (prove -v); the check has only a deadline that catches a
# hang.
use strict;
use warnings;

use JSON::PP ();
use Time::HiRes ();

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;

our ($Back, %Before);

Mesh::Orch::suite(http_extra => "    mesh_heartbeat_interval 20s;\n");
Mesh::Orch::sim('S', '--model', 'mistral:7b', '--tokens', 2);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);
add_test_cleanup_handler(
    sub { Mesh::Chaos::redis_restart() unless $Mesh::Orch::Redis->alive });

sub join_once {
    my ($id, %o) = @_;
    return Mesh::Chaos::heartbeat(node_id => $id,
                                  port => $Mesh::Orch::Sims{S}->port,
                                  models => [['mistral:7b', 'text']], %o);
}

# Nodes a and b joined with one heartbeat each, c joined and left;
# Redis killed and started again, empty, on the same port.  Waits (a
# deadline only) until Redis holds a and b again.
sub restart_empty {
    Mesh::Orch::reset_scene();
    Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} },
                           15);
    join_once('a', ram_free_gb => 6) == 200
        && join_once('b', ram_free_gb => 4) == 200
        && join_once('c') == 200
        or Test::More::diag('the nodes did not join');
    Mesh::Node::leave(Mesh::Orch::port(), 'c');
    Mesh::Orch::wait_until(sub { !Mesh::Orch::nodes()->{c} }, 5);
    %Before = %{ Mesh::Orch::nodes() };
    Mesh::Chaos::redis_kill();
    Mesh::Orch::wait_until(sub {
        my $st = Mesh::Chaos::redis_state();
        return defined $st->{connected} && !$st->{connected};
    }, 5);
    Mesh::Chaos::redis_restart();
    my $start = Time::HiRes::time();
    $Back = Mesh::Orch::wait_until(sub {
        return in_redis('a') && in_redis('b');
    }, 30);
    Test::More::note(sprintf 'the registry was back in Redis %.3f s after '
                     . 'Redis started again', Time::HiRes::time() - $start);
}

sub in_redis {
    my ($id) = @_;
    return Mesh::Chaos::redis('ZSCORE', 'mesh:nodes', $id) =~ /^\d+$/
        && Mesh::Chaos::redis('HGET', "mesh:node:$id", 'caps') =~ /^\{/;
}

# Redis holds node $id as its last heartbeat wrote it: the capabilities
# the node sent, its last_seen in the hash and as its liveness score.
sub written_back {
    my ($id) = @_;
    my $caps = eval { JSON::PP->new->decode(
        Mesh::Chaos::redis('HGET', "mesh:node:$id", 'caps')) } || {};
    my $seen = $Before{$id}{last_seen} // -1;
    my %got = (node_id => $caps->{node_id} // '',
               port => $caps->{port} // 0,
               models => join(',', map { "$_->{name}/$_->{type}" }
                                   @{ $caps->{models} || [] }),
               ram_free_gb => $caps->{hardware}{ram_free_gb} // -1,
               last_seen => Mesh::Chaos::redis('HGET', "mesh:node:$id",
                                               'last_seen'),
               score => Mesh::Chaos::redis('ZSCORE', 'mesh:nodes', $id),
               active => Mesh::Chaos::redis('HGET', "mesh:node:$id",
                                            'active'));
    $Mesh::Checks::Why = "node $id in Redis: "
        . JSON::PP->new->canonical->encode(\%got) . ", last_seen $seen";
    return $got{node_id} eq $id
        && $got{port} == $Mesh::Orch::Sims{S}->port
        && $got{models} eq 'mistral:7b/text'
        && $got{ram_free_gb} == $Before{$id}{hardware}{ram_free_gb}
        && $got{last_seen} == $seen && $got{score} == $seen
        && $got{active} eq '0';
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: Redis comes back empty: the live nodes are written back at once, the node that left is not
--- init
main::restart_empty();
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"refilled","stream":false}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] refilled","done":true
--- checks
$Back
main::written_back('a')
main::written_back('b')
Mesh::Chaos::redis('EXISTS', 'mesh:node:c') eq '0'
Mesh::Chaos::redis('ZSCORE', 'mesh:nodes', 'c') eq ''
Mesh::Chaos::node('a')->{up} == 1 && Mesh::Chaos::node('b')->{up} == 1
Mesh::Chaos::redis_state()->{connected} == 1
--- no_error_log
is down
[crit]
