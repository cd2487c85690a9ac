# Two orchestrators on one Redis: the nginx under test ("B") and a
# second nginx ("A", its own prefix and port, started per block).  A node
# that joins through A is routable through B, which learned it from A's
# node.join event (B's subscriber applies it), and the load of a task
# running through A shows in B's /mesh/v1/nodes while it runs and goes
# back to 0 after it: B learns it only from A's node.load events, because
# the node's heartbeats (which also carry a load) are paused meanwhile.
#
# "Learned from the event" is shown by order, not by speed: a MONITOR of
# Redis shows that B did not read the node's hash (its periodic resync,
# HMGET mesh:node:a, does) between A's PUBLISH and the moment B showed
# the change.  A resync that happens to fall in between proves nothing
# either way, and that step is tried again (at most 3 times).
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Node;
use Mesh::Orch;
use Mesh::Proc;

our ($A, $Node, $Joined, $Busy, $Idle, $Stream, $BDone, $Tries);

# 20 misses of 300 ms: a node whose heartbeats pause stays up for 6 s
my $HTTP = "    mesh_heartbeat_interval 300ms;\n"
         . "    mesh_heartbeat_misses 20;\n";

Mesh::Orch::suite(http_extra => $HTTP);
Mesh::Orch::sim('S', '--model', 'mistral:7b', '--token-delay-ms', 50);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

my %BConn;      # B's Redis connections (client addresses)
my $Monitor;    # redis-cli MONITOR of the test's Redis
my $Marks = 0;

# Every command Redis has run so far: a marker sent now, waited for in
# the MONITOR's output, ends the list.
sub ran_so_far {
    my $mark = 'mark-' . ++$Marks;
    Mesh::Chaos::redis('ECHO', $mark);
    Mesh::Orch::wait_until(sub { $Monitor->log_text =~ /"\Q$mark\E"/ });
    my ($upto) = $Monitor->log_text =~ /\A(.*?"\Q$mark\E")/s;
    return [split /\n/, $upto // ''];
}

# Whether B read node a's hash in @$lines after the first line that
# matches $from (from the start without one).
sub b_read_a {
    my ($lines, $from) = @_;
    my $on = !defined $from;
    for (@$lines) {
        $on ||= $_ =~ $from;
        return 1 if $on && /\[\d+ (\S+)\] "hmget" "mesh:node:a"/i
                    && $BConn{$1};
    }
    return 0;
}

# A PUBLISH by A of $event for node a ($more: the rest of its JSON).
sub published {
    my ($event, $more) = @_;
    return qr/"publish" "mesh:events" ".*\\"event\\":\\"\Q$event\E\\".*\\"node_id\\":\\"a\\"\Q$more\E/i;
}

# nginx A, and node "a" (sim S) heartbeating through A only; returns
# whether B lists the node up, learned from A's node.join event.
sub join_through_a {
    for my $try (1 .. 3) {
        Mesh::Orch::reset_scene();
        $_ && $_->stop for $Node, $A, $Monitor;
        Mesh::Orch::wait_until(sub {
            Mesh::Chaos::redis_state()->{subscribed} });
        %BConn = map { /\baddr=(\S+)/ ? ($1 => 1) : () }
            split /\n/, Mesh::Chaos::redis('CLIENT', 'LIST');
        $Monitor = Mesh::Chaos::own(Mesh::Proc->start(
            name => 'monitor', valgrind => 0,
            cmd => ['redis-cli', '-p', $Mesh::Orch::Redis->port, 'MONITOR'],
            ready => sub { $_[0]->log_text =~ /^OK$/m }));
        $A = Mesh::Chaos::own(Mesh::Chaos::nginx(
            name => 'nginx-a', http_config => Mesh::Orch::http_config($HTTP),
            config => $Mesh::Orch::LOCATIONS));
        Mesh::Chaos::record_events();
        $Node = Mesh::Chaos::own(Mesh::Node->start(
            nginx_port => $A->port, node_id => 'a',
            port => $Mesh::Orch::Sims{S}->port,
            models => [['mistral:7b', 'text']], interval_ms => 300));
        Mesh::Orch::wait_until(sub { Mesh::Chaos::node('a')->{up} })
            or return 0;
        return 1 unless b_read_a(ran_so_far());
        Test::More::note("B resynced while node a joined (try $try)");
    }
    return 0;
}

sub b_load {
    return Mesh::Chaos::node('a')->{active_tasks} // -1;
}

# Whether B shows load $n for node a, learned from A's node.load event.
sub b_load_from_event {
    my ($n) = @_;
    Mesh::Orch::wait_until(sub { b_load() == $n }) or return 0;
    return !b_read_a(ran_so_far(), published('node.load', ",\\\"active\\\":$n"));
}

# A task through A while node a's heartbeats are paused: sets $Stream,
# $Busy and $Idle (B showed the load 1, then 0, from node.load events),
# and $Tries.
sub load_through_a {
    for my $try (1 .. 3) {
        $Tries = $try;
        $Node->{proc}->signal('STOP');
        $Stream = Mesh::Chaos::background(
            port => $A->port, path => '/api/generate',
            body => '{"model":"mistral:7b","prompt":"x",'
                  . '"options":{"num_predict":40}}');
        $Busy = b_load_from_event(1);
        $Stream->result;
        $Idle = b_load_from_event(0);
        $Node->{proc}->signal('CONT');
        return if $Busy && $Idle;
        Test::More::note("B resynced during the task (try $try)");
    }
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a node that joins through nginx A is routable through nginx B, from A's event
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
main::load_through_a();
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
Mesh::Chaos::node('a', $A->port)->{tasks_done} == $Tries
$A->stop
--- no_error_log
[error]
