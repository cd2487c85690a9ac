# A task's duration, its tokens/s and the wait estimate behind
# Retry-After count from the dispatch to the node that served it, per
# attempt: neither the time the task waited in the queue nor a failed
# try on another node is part of it.
#
# The checks compare with intervals the block makes itself: the task
# waits $HOLD s in the queue (or its first node hangs for the proxy's
# read timeout, $HOLD s too), while the task itself is 3 tokens of a
# simulator that does not pause.  So a duration that counted the wait
# would be at least $HOLD s; one from the dispatch is far below it.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;

our $HOLD = 2;
our $GENERATE = '{"model":"mistral:7b","prompt":"timed","stream":false}';

Mesh::Orch::suite(http_extra => "    mesh_queue_ttl " . 3 * $HOLD . "s;\n",
                  sent_task => 1);
Mesh::Orch::sim('A', '--model', 'mistral:7b', '--tokens', 3);
# node a's backend in TEST 2: it takes a request and never answers (its
# fault is set once it is up: the fault holds /api/version too)
Mesh::Orch::sim('H', '--model', 'mistral:7b');
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

# Node "a" with its one slot taken; it frees up $HOLD s after the task
# is queued.
sub queued_for_hold {
    Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']],
                             max_tasks => 1, active_tasks => 1 });
    Mesh::Chaos::record_events();
    Mesh::Chaos::later(sub { Mesh::Orch::nodes_queued() == 1 }, sub {
        sleep $HOLD;
        $Mesh::Orch::Nodes{a}->set(active_tasks => 0);
    });
}

# The task.done event of the block's task (its X-Mesh-Task), decoded.
sub done {
    my $id = Mesh::Orch::sent_task();
    my ($ev);
    Mesh::Orch::wait_until(sub {
        ($ev) = grep { ($_->{event} // '') eq 'task.done'
                       && ($_->{task_id} // '') eq $id }
            Mesh::Chaos::events();
        return $ev;
    }, 3);
    $Mesh::Checks::Why = 'task.done of ' . $id . ': '
        . JSON::PP->new->canonical->encode($ev // {});
    return $ev // {};
}

# The task's duration is below the $HOLD s it waited or lost, and its
# tokens/s agree with its duration (a task shorter than the clock's 1 ms
# counts as 1 ms).
sub timed_from_dispatch {
    my $ev = done();
    my $ms = $ev->{duration_ms} // -1;
    return $ms >= 0 && $ms < $HOLD * 1000 && $ev->{tokens} == 3
        && abs($ev->{tokens_per_sec} - 3000 / ($ms || 1)) < 0.01;
}

# Node $id's recent tokens/s: one task, weighed 0.2, at 3 tokens in
# less than $HOLD s is above 0.2 x 3 / $HOLD.
sub node_tps_ok {
    my ($id) = @_;
    my $tps = Mesh::Chaos::node($id)->{recent_tokens_per_sec} // -1;
    $Mesh::Checks::Why = "node $id: recent_tokens_per_sec $tps";
    return $tps > 0.2 * 3 / $HOLD;
}

# With node "a" busy again, a task that waits out its TTL: the
# estimated wait of its 503 (one queued task, one slot) is the recent
# task time, which one short task brought below 1 s.
sub estimate_now {
    $Mesh::Orch::Nodes{a}->set(active_tasks => 1);
    Mesh::Orch::wait_until(sub { Mesh::Chaos::node('a')->{active_tasks}
                                 == 1 }, 5);
    my $r = Mesh::Chaos::request(path => '/api/generate', body => $GENERATE,
                                 timeout => 6 * $HOLD);
    my ($s) = ($r->{body} // '') =~ /"estimated_wait_s":(\d+)/;
    $Mesh::Checks::Why = 'status ' . ($r->{status} // '?') . ', '
        . ($r->{body} // '');
    return $r->{status} == 503 && ($r->{headers}{'retry-after'} // '') eq
        ($s // '-') ? $s : -1;
}

# The estimate that one task of duration_ms d gives from the default
# 1000 ms (weighed 0.1; one waiting task, one slot; whole seconds,
# at least 1): 1 for a task of up to 1 s.  Had the duration counted the
# $HOLD s wait, it would be 2 or more.
sub estimate_from_task {
    my $avg = 1000 * 0.9 + (done()->{duration_ms} // 1e9) * 0.1;
    return $avg < 1000 ? 1 : int(($avg + 999) / 1000);
}

# (the task's duration read before the 503 request, which is a request
# of the block too)
sub estimate_is_from_task {
    my $want = estimate_from_task();
    my $got = estimate_now();
    $Mesh::Checks::Why .= " (estimate $got, want $want)";
    return $got == $want;
}

sub hang_first {
    (my $config = $Mesh::Orch::LOCATIONS)
        =~ s/proxy_read_timeout +300s;/proxy_read_timeout ${HOLD}s;/ or die;
    return $config;
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a task that waited in the queue: duration, tokens/s and the wait estimate leave the wait out
--- main_config
# its own nginx: the recent task time starts from its default
--- init
main::queued_for_hold();
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] timed timed","done":true
--- checks
Mesh::Chaos::reap_later()
Mesh::Chaos::seen_line(qr/^task\.queued position=1 task_id=T$/, Mesh::Orch::sent_task() => 'T')
main::timed_from_dispatch()
main::node_tps_ok('a')
main::estimate_is_from_task()
--- no_error_log
[error]



=== TEST 2: a first try that hangs until the read timeout: the task's duration and tokens/s start at the retry
--- main_config
# its own nginx
--- config eval
main::hang_first()
--- init
Mesh::SimClient->new($Mesh::Orch::Sims{H}->port)->set_fault('hang');
Mesh::Orch::scene(a => { sim => 'H', models => [['mistral:7b', 'text']],
                         ram_free_gb => 12 },
                  b => { sim => 'A', models => [['mistral:7b', 'text']],
                         ram_free_gb => 4 });
Mesh::Chaos::record_events();
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] timed timed","done":true
--- checks
Mesh::Chaos::seen_line(qr/^task\.retried model=mistral:7b node_id=a reason=failed task_id=T type=text$/, Mesh::Orch::sent_task() => 'T')
main::timed_from_dispatch()
main::node_tps_ok('b')
--- error_log
upstream timed out
--- no_error_log
[crit]
