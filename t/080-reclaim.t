# Node ids that churn (agents renamed, machines re-imaged) never fill the
# registry for good.  When a new node id finds no free slot in the zone,
# it takes the slot of the node that has been silent longest, if that
# node is not routable (marked down, or it left), runs no task, and has
# been silent for 10 x the liveness window (mesh_heartbeat_interval x
# mesh_heartbeat_misses).  A live node's slot is never taken: with none
# to reclaim the new node still gets 503 "the registry is full".
#
# The zone is the smallest that holds a few nodes (64k); the block finds
# how many by filling it.  The liveness window is 500 ms (more under
# valgrind), so a node is reclaimable 5 s after its last heartbeat.
use strict;
use warnings;

use Time::HiRes ();

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;

our (@X, $Full, $Joined, $JoinedAfter);

my $MISSES = 5 * $Mesh::Orch::Slow;
my $HTTP = "    mesh_heartbeat_interval 100ms;\n"
         . "    mesh_heartbeat_misses $MISSES;\n";

Mesh::Orch::suite(http_extra => $HTTP);
Mesh::Orch::sim('S', '--model', 'mistral:7b', '--tokens', 2);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

sub small_zone {
    (my $conf = Mesh::Orch::http_config($HTTP))
        =~ s/mesh_zone mesh 4m;/mesh_zone mesh 64k;/ or die;
    return $conf;
}

sub join_once {
    my ($id) = @_;
    return Mesh::Chaos::heartbeat(node_id => $id, port => 9,
                                  models => [['churn', 'text']]);
}

# Node "live" heartbeats all along; nodes x1, x2, ... join once each
# until the zone is full ($Full: the 503 came); then node "z" tries to
# join every 200 ms until it gets in ($Joined), which must wait until
# x1 is reclaimable.
sub churn {
    Mesh::Orch::scene(live => { sim => 'S', models => [['mistral:7b',
                                                         'text']] });
    Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} },
                           15);
    @X = ();
    $Full = 0;
    for my $i (1 .. 40) {
        my $status = join_once("x$i");
        if ($status == 503) {
            $Full = 1;
            last;
        }
        push @X, "x$i";
    }
    my $start = Time::HiRes::time();
    $Joined = Mesh::Orch::wait_until(sub { join_once('z') == 200 }, 60);
    $JoinedAfter = Time::HiRes::time() - $start;
}

sub listed {
    return join ' ', sort keys %{ Mesh::Orch::nodes() };
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a full registry: the node silent longest gives its slot to a new id, the live node keeps its own
--- http_config eval
main::small_zone()
--- init
main::churn();
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"z"
--- checks
$Full && @X >= 2
$Joined
# x1 had been silent longest: only its slot was taken
main::listed() eq join ' ', sort 'live', 'z', @X[1 .. $#X]
Mesh::Chaos::node('live')->{up} == 1
Mesh::Chaos::node('z')->{up} == 1
!Mesh::Chaos::node('x2')->{up}
# the next new id finds x2's slot
Mesh::Orch::wait_until(sub { main::join_once('y') == 200 }, 10)
main::listed() eq join ' ', sort 'live', 'y', 'z', @X[2 .. $#X]
--- error_log eval
[qr/mesh: the registry is full/,
 qr/mesh: slot of node "x1" \(silent for \d+ ms\) reclaimed for node "z"/]
--- no_error_log
[crit]
