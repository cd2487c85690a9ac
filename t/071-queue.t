# The wait queue: with every capable node at its max_tasks a task waits,
# and is dispatched as soon as a node frees up or a new one joins; it
# expires after mesh_queue_ttl with 503 queue_timeout, a full queue
# answers 503 queue_full at once (both with estimated_wait_s and the same
# Retry-After), and a client that hangs up while queued leaves the queue
# at once, long before its TTL.
#
# Nodes are stand-ins (Mesh::Node) before ollama-sims: a heartbeat's
# active_tasks is the node's mesh-wide load, so "busy" and "free" are
# exact.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;

our ($Waiter, $GENERATE);

Mesh::Orch::suite(sent_task => 1);
Mesh::Orch::sim($_, '--model', 'mistral:7b', '--tokens', 3) for qw(A B);

$GENERATE = '{"model":"mistral:7b","prompt":"queued task","stream":false}';

# Node "a" (sim A) with its one slot taken; events from now on.
sub busy_mesh {
    Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']],
                             max_tasks => 1, active_tasks => 1 });
    Mesh::Chaos::record_events();
}

# A task sent in the background, waiting in the queue once this returns.
sub waiter {
    $Waiter = Mesh::Chaos::background(path => '/api/generate',
                                      body => $GENERATE, timeout => 20);
    Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == 1 }, 10)
        or Test::More::diag('the background task was never queued');
}

# The same task sent again, in the block's state: its 503 has a
# Retry-After equal to its estimated_wait_s.  (A body check gets the
# block's body only, under either runner; the block's own response has
# its Retry-After checked by --- response_headers_like.)
sub retry_after_matches {
    my $r = Mesh::Chaos::request(path => '/api/generate', body => $GENERATE);
    my $h = $r->{headers}{'retry-after'} // '';
    my ($s) = $r->{body} =~ /"estimated_wait_s":(\d+)/;
    $Mesh::Checks::Why = "status $r->{status}, Retry-After: $h, body: "
                       . $r->{body};
    return ($r->{status} // 0) == 503 && defined $s && $s >= 1 && $h eq $s;
}

# $n tasks sent in the background, all waiting once this returns.
our @Waiters;
sub waiters {
    my ($n) = @_;
    @Waiters = map { Mesh::Chaos::background(path => '/api/generate',
                                             body => $GENERATE,
                                             timeout => 60) } 1 .. $n;
    Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == $n }, 30)
        or Test::More::diag("the $n background tasks were never all queued");
}

# Every background task answered 200 with the node's reply.
sub waiters_served {
    my @bad = grep { ($_->result->{status} // 0) != 200
                     || $_->result->{body} !~ /queued task","done":true/ }
              @Waiters;
    $Mesh::Checks::Why = @bad . ' of ' . @Waiters . ' not served: '
                       . join(' | ', map { $_->result->{error}
                                           // $_->result->{body} } @bad);
    return !@bad;
}

# A counter of /metrics (undef when absent).
sub metric {
    my ($name) = @_;
    my ($code, $body) = Mesh::Orch::http('GET', '/metrics');
    return ($body // '') =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

# A wake-up routes waiters until one asking the same gets "busy": so at
# most one decision per task it dispatches plus one per wake-up (routing
# every waiter on every wake-up would make about n^2/2 of them).
sub decisions_bounded {
    my ($dispatched) = @_;
    my $wakeups = metric('mesh_queue_wakeups_total');
    my $routes = metric('mesh_queue_route_decisions_total');
    $Mesh::Checks::Why = "wake-ups $wakeups, routing decisions $routes, "
                       . "$dispatched tasks dispatched from the queue";
    return defined $routes && $wakeups >= 1 && $routes >= $dispatched
        && $routes <= $wakeups + $dispatched;
}

add_test_cleanup_handler(\&Mesh::Chaos::teardown);

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: every node busy: the task waits, then runs when the node frees up
--- init
main::busy_mesh();
Mesh::Chaos::later(sub { Mesh::Orch::nodes_queued() == 1 },
                   sub { $Mesh::Orch::Nodes{a}->set(active_tasks => 0) });
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] queued task","done":true
--- checks
Mesh::Chaos::reap_later()
Mesh::Chaos::seen_line(qr/^task\.queued position=1 task_id=T$/, Mesh::Orch::sent_task() => 'T')
Mesh::Chaos::seen_line(qr/^task\.routed model=mistral:7b node_id=a task_id=T type=text$/, Mesh::Orch::sent_task() => 'T')
Mesh::Orch::nodes_queued() == 0
--- no_error_log
[error]



=== TEST 2: every node busy: the task waits, then runs on a node that joins
--- init
main::busy_mesh();
Mesh::Chaos::later(sub { Mesh::Orch::nodes_queued() == 1 }, sub {
    Mesh::Chaos::heartbeat(node_id => 'b', port => $Mesh::Orch::Sims{B}->port,
                           models => [['mistral:7b', 'text']]) == 200 });
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] queued task","done":true
--- checks
Mesh::Chaos::reap_later()
Mesh::Chaos::seen_line(qr/^task\.queued position=1 task_id=T$/, Mesh::Orch::sent_task() => 'T')
Mesh::Chaos::seen_line(qr/^node\.join .* node_id=b /)
Mesh::Chaos::seen_line(qr/^task\.routed model=mistral:7b node_id=b task_id=T type=text$/, Mesh::Orch::sent_task() => 'T')
Mesh::Orch::nodes_queued() == 0
--- no_error_log
[error]



=== TEST 3: a task waits longer than mesh_queue_ttl: 503 queue_timeout
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_ttl 1s;\n")
--- init
main::busy_mesh();
--- request eval
"POST /api/generate\n$::GENERATE"
--- error_code: 503
--- response_body_like: ^\{"error":"no capable node is free","reason":"queue_timeout","estimated_wait_s":[1-9]\d*\}$
--- response_headers_like
Retry-After: [1-9]\d*
--- checks
main::retry_after_matches()
Mesh::Chaos::seen_line(qr/^task\.queued position=1 task_id=#1$/)
Mesh::Chaos::seen_line(qr/^task\.expired task_id=#1$/)
Mesh::Orch::nodes_queued() == 0
--- no_error_log
[error]



=== TEST 4: the queue is full (mesh_queue_size 1, one waiter): 503 queue_full at once
--- http_config eval
# the TTL only has to outlast the moment from the waiter's queueing to the
# block's request, however slow the machine
Mesh::Orch::http_config("    mesh_queue_size 1;\n    mesh_queue_ttl 10s;\n")
--- init
main::busy_mesh();
main::waiter();
--- request eval
"POST /api/generate\n$::GENERATE"
--- error_code: 503
--- response_body_like: ^\{"error":"no capable node is free","reason":"queue_full","estimated_wait_s":[1-9]\d*\}$
--- response_headers_like
Retry-After: [1-9]\d*
--- checks
main::retry_after_matches()
# the waiter kept its place, and expired in its turn
Mesh::Orch::nodes_queued() == 1
$Waiter->result->{status} == 503
$Waiter->result->{body} =~ /"reason":"queue_timeout"/
Mesh::Orch::nodes_queued() == 0
--- no_error_log
[error]



=== TEST 5: a client that hangs up while queued leaves the queue at once
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_ttl 30s;\n")
--- init
main::busy_mesh();
main::waiter();
$main::Waiter->stop;
Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == 0 });
--- request
GET /mesh/status
--- response_body_like: "worker_queue":0\}$
--- checks
Mesh::Orch::nodes_queued() == 0
Mesh::Chaos::seen_line(qr/^task\.cancelled reason=client_gone task_id=#1$/)
Mesh::Chaos::unseen(event => qr/^task\.(expired|routed)$/)
--- no_error_log
[error]



=== TEST 6: 30 tasks wait for one node: each wake-up routes them only until one is refused busy
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_ttl 300s;\n")
--- config eval
$Mesh::Orch::LOCATIONS . "    location = /metrics { mesh_metrics; }\n"
--- init
main::busy_mesh();
main::waiters(30);
$Mesh::Orch::Nodes{a}->set(active_tasks => 0);
--- request
GET /metrics
--- response_body_like: \nmesh_queue_route_decisions_total \d+\n
--- checks
main::waiters_served()
Mesh::Orch::nodes_queued() == 0
main::decisions_bounded(30)
--- no_error_log
[error]
