# Redis goes away under traffic: routing goes on from the last known
# registry (every task still 200, also once the node has been silent for
# longer than the liveness window: its agent is backing off, not dead),
# heartbeats answer 503, nothing crashes.  Redis back on the same port:
# the worker reconnects, heartbeats answer 200 again and Redis holds the
# registry again, all within a bounded poll.  For a grace period after
# the reconnect the nodes' silence still says nothing (their agents are
# backing off): they stay up, no node.down, no flapping.
#
# The nodes are real echo-agents (they back off after a 503), the
# traffic a client in the background sending one task after another.
# Queueing is off (mesh_queue_size 0): a moment without a routable node
# would fail a task at once instead of letting it wait for a heartbeat.
use strict;
use warnings;

use Time::HiRes ();

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;

our ($Traffic, $Outage, $KilledAt, $Back, $BackAt, @Looks);

Mesh::Orch::suite(http_extra => "    mesh_heartbeat_interval 300ms;\n"
                              . "    mesh_queue_size 0;\n");
add_test_cleanup_handler(\&Mesh::Chaos::teardown);
# first of the handlers: Redis back for the next block and the others
add_test_cleanup_handler(
    sub { Mesh::Chaos::redis_restart() unless $Mesh::Orch::Redis->alive });

our $TASK = '{"model":"mistral:7b","prompt":"outage","stream":false,'
          . '"options":{"num_predict":2}}';

# The tasks the nodes have served, as this nginx counts them (in its
# zone: the count goes on while Redis is away).
sub tasks_done {
    my $n = Mesh::Orch::nodes();
    return ($n->{a}{tasks_done} // 0) + ($n->{b}{tasks_done} // 0);
}

# Agents a and b, then Redis killed while tasks flow; returns once the
# worker knows, both nodes have been silent for longer than
# heartbeat_interval x misses (900 ms), and 3 tasks have ended since the
# kill (however slow the machine).
sub outage {
    Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} },
                           15);
    Mesh::Chaos::agents(a => { agent => ['--log-level', 'debug'] },
                        b => {});
    $Traffic = Mesh::Chaos::background(path => '/api/generate',
                                       body => $TASK, repeat => 1);
    Mesh::Orch::wait_until(sub {
        my $n = Mesh::Orch::nodes();
        return $n->{a}{tasks_done} + $n->{b}{tasks_done} >= 2;
    });
    Mesh::Chaos::redis_kill();
    $KilledAt = Time::HiRes::time();
    my $done = tasks_done();
    $Outage = Mesh::Orch::wait_until(sub {
        my $st = Mesh::Chaos::redis_state();
        return defined $st->{connected} && !$st->{connected};
    });
    Mesh::Orch::wait_until(sub {
        my $n = Mesh::Orch::nodes();
        return ($n->{a}{last_seen_ago_ms} // 0) > 1000
            && ($n->{b}{last_seen_ago_ms} // 0) > 1000
            && tasks_done() >= $done + 3;
    }, 15);
}

# Every task of the background traffic was served, a few of them after
# $since (default: the kill, so during the outage).
sub traffic_ok {
    my ($since) = @_;
    my $r = $Traffic->finish;
    my @all = @{ $r->{results} || [] };
    my @bad = grep { $_->{status} != 200 } @all;
    my @during = grep { $_->{end} > ($since // $KilledAt) } @all;
    $Mesh::Checks::Why = @all . ' tasks, ' . @during . ' after '
        . ($since ? 'the reconnect' : 'the kill') . ', '
        . 'not 200: ' . JSON::PP->new->canonical->encode(\@bad)
        . ($r->{error} // '');
    return @during >= 3 && !@bad;
}

# After outage(), $silent s more of it (the agents deep in backoff,
# retrying seconds apart), Redis restarted: waits for the worker to
# reconnect (polling fast: an agent's retry must not slip in before the
# first look), then looks at /mesh/v1/nodes every 50 ms for $secs s, and
# on until there are 20 looks and 3 tasks have ended since the reconnect
# (@Looks: [seconds since the reconnect, nodes]), recording the events
# from the first look on.  (The grace after the reconnect, 35 s, outlasts
# that on any machine this runs on.)
sub after_restart {
    my ($silent, $secs) = @_;
    Time::HiRes::sleep($silent);
    Mesh::Chaos::redis_restart();
    my $deadline = Time::HiRes::time() + 15 * $Mesh::Orch::Slow;
    my $back = 0;
    while (!$back && Time::HiRes::time() < $deadline) {
        $back = Mesh::Chaos::redis_state()->{connected};
        Time::HiRes::sleep(0.005) unless $back;
    }
    $BackAt = Time::HiRes::time();
    @Looks = $back ? ([0, Mesh::Orch::nodes()]) : ();
    Mesh::Chaos::record_events();
    my $done = tasks_done();
    $deadline = $BackAt + 30;    # a hang, well inside the grace
    while ($back && (Time::HiRes::time() < $BackAt + $secs || @Looks < 20
                     || tasks_done() < $done + 3)
           && Time::HiRes::time() < $deadline)
    {
        push @Looks, [Time::HiRes::time() - $BackAt, Mesh::Orch::nodes()];
        Time::HiRes::sleep(0.05);
    }
    return $back;
}

# The longest silence (last_seen_ago_ms) of node $id in a look after the
# reconnect that listed it up: beyond the liveness window (900 ms), only
# the grace keeps it up.  A refused heartbeat counts as seen too, so
# each agent is silent from its last retry in the outage to its next.
sub silent_up_ms {
    my ($id) = @_;
    my ($max) = sort { $b <=> $a } map { $_->{last_seen_ago_ms} }
        grep { $_->{up} } map { $_->[1]{$id} // {} } @Looks;
    my @show = @Looks > 10 ? @Looks[0 .. 9] : @Looks;
    $Mesh::Checks::Why = "node $id in " . @Looks . ' looks, the first: '
        . join ', ', map { node_text($_->[1]{$id}) } @show;
    return $max // -1;
}

sub node_text {
    my ($n) = @_;
    return 'unlisted' unless $n;
    return ($n->{up} ? 'up' : 'down') . " ($n->{last_seen_ago_ms} ms)";
}

# Both nodes listed up in every look after the reconnect.
sub stayed_up {
    my @bad = grep { !($_->[1]{a}{up} && $_->[1]{b}{up}) } @Looks;
    my @show = @bad > 5 ? @bad[0 .. 4] : @bad;
    $Mesh::Checks::Why = @Looks . ' looks, ' . @bad . ' without both up'
        . join '', map {
            sprintf "\n%.2f s: a %s, b %s", $_->[0],
                node_text($_->[1]{a}), node_text($_->[1]{b})
        } @show;
    return @Looks >= 20 && !@bad;
}

sub heartbeat_status {
    return Mesh::Chaos::heartbeat(node_id => 'probe', port => 9,
                                  models => [['probe-model', 'text']]);
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: Redis killed under traffic: tasks still routed, heartbeats 503, nothing crashes
--- init
main::outage();
--- request eval
"POST /api/generate\n$::TASK"
--- response_body_like: "response":"\[mistral:7b\] outage","done":true
--- response_headers_like
X-Mesh-Node: [ab]
--- checks
$Outage
main::heartbeat_status() == 503
main::traffic_ok()
Mesh::Chaos::redis_state()->{connected} == 0
Mesh::Chaos::node('a')->{up} == 1 && Mesh::Chaos::node('b')->{up} == 1
$Mesh::Chaos::Agent{a}->log_text =~ /heartbeat to \S+ failed/
$Mesh::Chaos::Agent{a}->alive && $Mesh::Chaos::Agent{b}->alive
--- error_log eval
[qr/\[warn\] .*redis command connection to 127\.0\.0\.1:\d+ lost/]
--- no_error_log
no heartbeat for
is down
[crit]



=== TEST 2: Redis back on the same port: reconnected, heartbeats 200, the registry in Redis again
--- init
main::outage();
$main::Traffic->finish;
Mesh::Chaos::redis_restart();
# the agents' own heartbeats: scores newer than the kill (the registry the
# worker writes back at once has their scores from before it, t/081)
Mesh::Orch::wait_until(sub {
    Mesh::Chaos::redis_state()->{subscribed}
        && (Mesh::Chaos::redis('ZSCORE', 'mesh:nodes', 'a') || 0) > $main::KilledAt * 1000
        && (Mesh::Chaos::redis('ZSCORE', 'mesh:nodes', 'b') || 0) > $main::KilledAt * 1000 }, 20);
Mesh::Chaos::record_events();
--- request eval
"POST /api/generate\n$::TASK"
--- response_body_like: "response":"\[mistral:7b\] outage","done":true
--- response_headers_like
X-Mesh-Node: [ab]
--- checks
main::heartbeat_status() == 200
Mesh::Chaos::redis_state()->{connected} == 1
Mesh::Chaos::redis('HGET', 'mesh:node:a', 'caps') =~ /^\{"node_id":"a",/
Mesh::Chaos::redis('HGET', 'mesh:node:b', 'caps') =~ /^\{"node_id":"b",/
Mesh::Chaos::seen(event => 'node.heartbeat', node_id => 'a')
Mesh::Chaos::seen_line(qr/^task\.done duration_ms=N model=mistral:7b node_id=[ab] task_id=#\d+ tokens=2 tokens_per_sec=N type=text$/)
Mesh::Chaos::node('a')->{up} == 1 && Mesh::Chaos::node('b')->{up} == 1
--- error_log eval
[qr/\[notice\] .*redis command connection to 127\.0\.0\.1:\d+ restored/,
 qr/\[notice\] .*redis subscriber connection to 127\.0\.0\.1:\d+ restored/]
--- no_error_log
[crit]



=== TEST 3: Redis back: nodes silent beyond the liveness window stay up a while
--- main_config
# its own nginx: no grace left from the reconnects of the blocks before
--- init
main::outage();
$main::Back = main::after_restart(1, 3);
--- request eval
"POST /api/generate\n$::TASK"
--- response_body_like: "response":"\[mistral:7b\] outage","done":true
--- checks
$Back
main::silent_up_ms('a') > 900
main::silent_up_ms('b') > 900
main::stayed_up()
Mesh::Chaos::unseen(event => 'node.down')
Mesh::Chaos::unseen(event => 'node.up')
main::traffic_ok($BackAt)
Mesh::Chaos::redis_state()->{connected} == 1
--- no_error_log
is down
[crit]
