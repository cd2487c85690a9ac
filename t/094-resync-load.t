# A node's load while nothing runs on it, read right after each of many
# tasks, with the periodic resync (every 5 s) reading Redis' count in
# between.  A task's -1 reaches Redis with the next load flush (up to
# 100 ms after its end); a resync whose HGET active answered in that gap
# once took this nginx's part of Redis' count from the tasks running
# here (none), so Redis' 1 showed as another orchestrator's task: a
# phantom load that sent the next task elsewhere (t/141 TEST 1 failed so
# in a CI run; fixed in a02601a).  The gap is narrow, so the block runs
# tasks back to back for 20 s (four resyncs or more) with 2 workers, each
# task spanning a flush, six nodes each with a client of its own, and
# counts the reads that show a load on a node whose client is between
# tasks and whose every task this nginx has counted done.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;
use Time::HiRes ();

use POSIX ();

our ($Tasks, $Failed, $Reads, $Phantom, $Seen) = (0, 0, 0, 0, '');

# NODES nodes, each with its own model and its own client, so that every
# resync has NODES gaps to fall into; one simulator serves them all
our $NODES = 6;
# each task takes ~120 ms (6 tokens, 20 ms apart): its +1 and -1 reach
# Redis in different flushes
Mesh::Orch::sim('S', (map { ('--model', "m$_") } 1 .. $NODES),
                '--parallel', 2 * $NODES, '--tokens', 6,
                '--token-delay-ms', 20);
# 10 s, 3 misses: the nodes stay live between the heartbeats sent below
Mesh::Orch::suite(http_extra => "    mesh_heartbeat_interval 10s;\n");
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

sub hb {
    my ($k) = @_;
    return Mesh::Chaos::heartbeat(
        node_id => "n$k", port => $Mesh::Orch::Sims{S}->port,
        models => [["m$k", 'text']]);
}

# Node n$k's client: tasks for model m$k one after another until $end;
# after each, its load read for 100 ms (a gap is at most one flush, 100
# ms).  Prints "tasks failed reads phantom seen".
sub client {
    my ($k, $end) = @_;
    my ($tasks, $failed, $reads, $phantom, $seen) = (0, 0, 0, 0, '');
    while (Time::HiRes::time() < $end) {
        my $r = Mesh::Chaos::request(
            path => '/mesh/v1/tasks', timeout => 10,
            body => qq({"type":"text","model":"m$k","prompt":"x",)
                  . qq("stream":false}));
        $tasks++;
        unless (($r->{status} // 0) == 200
                && ($r->{headers}{'x-mesh-node'} // '') eq "n$k") {
            $seen .= " failed:" . ($r->{status} // 0) . ":"
                     . substr($r->{body} // '', 0, 60) unless $failed++;
        }
        # the task's request finalized in its worker before the reads
        Time::HiRes::sleep(0.005);
        my $until = Time::HiRes::time() + 0.1;
        while (Time::HiRes::time() < $until) {
            my $node = Mesh::Chaos::node("n$k");
            my $load = $node->{active_tasks} // -1;
            $reads++;
            next if $load == 0;
            # a worker still between the task's end and its release
            # (descheduled on a busy machine) has not counted it done
            next if ($node->{tasks_done} // 0) < $tasks - $failed;
            $phantom++;
            $seen .= " n$k=$load" if length $seen < 40;
        }
    }
    return "$tasks $failed $reads $phantom$seen";
}

# The clients run for $secs seconds of wall time (not scaled: a slower
# machine runs fewer tasks), in processes of their own; this one sends
# each node's heartbeat every 4 s, as an agent does, reporting no task.
sub run_tasks {
    my ($secs) = @_;
    Mesh::Orch::reset_scene();
    Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} },
                           15);
    for my $k (1 .. $NODES) {
        hb($k) == 200 or Test::More::diag("node n$k did not join");
    }
    my $end = Time::HiRes::time() + $secs;
    my @kids;
    for my $k (1 .. $NODES) {
        pipe(my $rd, my $wr) or die "pipe: $!";
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            close $rd;
            print {$wr} client($k, $end), "\n";
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [$pid, $rd];
    }
    while (Time::HiRes::time() < $end) {
        Time::HiRes::sleep(4);
        for my $k (1 .. $NODES) {
            hb($k) == 200 or Test::More::diag("heartbeat of n$k refused");
        }
    }
    for my $kid (@kids) {
        my ($pid, $rd) = @$kid;
        my $line = readline($rd) // '0 1 0 0 (no result)';
        close $rd;
        waitpid $pid, 0;
        my ($t, $f, $r, $p, $s) = split ' ', $line, 5;
        $Tasks += $t; $Failed += $f; $Reads += $r; $Phantom += $p;
        $Seen .= " $s" if defined $s;
    }
}

# What the clients counted, as a check's explanation.
sub counted {
    $Mesh::Checks::Why = "$Tasks tasks ($Failed failed), $Reads reads, "
                       . "$Phantom with a load:$Seen";
    return 1;
}

master_on();
workers(2);
repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: tasks back to back across resyncs: no read shows a load while none runs
--- init
main::run_tasks(20);
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"n6",
--- checks
main::counted() && $main::Tasks >= 20 && $main::Failed == 0
main::counted() && $main::Phantom == 0
Mesh::Chaos::settled_load('n1') eq '0/0'
--- no_error_log
[error]
