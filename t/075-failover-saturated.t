# Failover when the mesh is saturated: a task whose node refuses the
# connection while every other capable node is at its max_tasks goes back
# into the wait queue for what is left of its TTL (no 503 at once), and
# is dispatched to the next node that frees up.  A node's 429 before the
# first byte is retried elsewhere like its 503.  $upstream_addr names
# every node a task tried, in order.
#
# Stand-in nodes (Mesh::Node) make "full" and "refuses" exact: a node
# whose port has nothing listening refuses every connect; a heartbeat's
# active_tasks equal to max_tasks makes a node full.  The last block runs
# real agents and kills one for real.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;
use Mesh::Proc;
use Mesh::Script;

our ($DEAD, $GENERATE, @Clients, $Busy);

Mesh::Orch::suite();
Mesh::Orch::sim('B', '--model', 'mistral:7b', '--tokens', 3);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

# a port with nothing listening: every connect to it is refused
$DEAD = Mesh::Proc::free_port();

$GENERATE = '{"model":"mistral:7b","prompt":"saturated mesh",'
          . '"stream":false}';

# "a" is preferred (more free RAM) and refuses; "b" is full.
sub refused_and_full {
    Mesh::Orch::scene(
        a => { port => $DEAD, models => [['mistral:7b', 'text']],
               ram_free_gb => 16 },
        b => { sim => 'B', models => [['mistral:7b', 'text']],
               max_tasks => 1, active_tasks => 1 });
    Mesh::Chaos::record_events();
}

sub queued_event {
    return grep { ($_->{event} // '') eq 'task.queued' }
        Mesh::Chaos::events();
}

# --- the 24 clients of the last block

sub results { map { $_->result } @Clients }

sub count_of {
    my ($pred) = @_;
    my @bad = grep { $pred->($_) } results();
    $Mesh::Checks::Why = join "\n", map {
        my $r = $_;
        "status " . ($r->{status} // 'none') . ", node "
            . ($r->{headers}{'x-mesh-node'} // '-') . ", clean_end "
            . ($r->{clean_end} // 0) . ", last line: "
            . ($r->{lines}[-1] // '(none)') . ($r->{error} // '')
    } @bad;
    return scalar @bad;
}

# The stream ended with the done line (and a clean chunked end), or it
# came from the killed node and ends with the mid-stream error line.
sub ended_right {
    my ($r, $killed) = @_;
    my $last = $r->{lines}[-1] // '';
    my $node = $r->{headers}{'x-mesh-node'} // '';
    return 1 if $last =~ /"done":true/ && $r->{clean_end}
        && $r->{lines}[0] =~ /^\{"event":"routed",/;
    return 1 if $node eq $killed && !$r->{clean_end}
        && $last =~ /^\{"error":"mesh: node \\"\Q$killed\E\\" failed mid-stream"/;
    return 0;
}

# Tasks on node $id that relayed their first token and have not ended.
sub streaming_on {
    my ($id) = @_;
    my %open;
    for my $ev (Mesh::Chaos::events()) {
        next unless ($ev->{node_id} // '') eq $id && $ev->{task_id};
        my $e = $ev->{event} // '';
        $open{ $ev->{task_id} } = 1 if $e eq 'task.first_token';
        delete $open{ $ev->{task_id} } if $e =~ /^task\.(done|failed|retried)$/;
    }
    return scalar keys %open;
}

sub cut {
    my ($r, $killed) = @_;
    return ($r->{lines}[-1] // '') =~ /failed mid-stream/;
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the node refuses and every other node is full: the task waits, then runs where a slot frees
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_ttl 20s;\n"
    . qq{    log_format mesh_up "up=\$upstream_addr st=\$upstream_status";\n})
--- config eval
"    access_log logs/access.log mesh_up;\n" . $Mesh::Orch::LOCATIONS
--- init
main::refused_and_full();
Mesh::Chaos::later(sub { main::queued_event() },
                   sub { $Mesh::Orch::Nodes{b}->set(active_tasks => 0) },
                   20);
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] saturated mesh","done":true
--- checks
Mesh::Chaos::reap_later()
Mesh::Chaos::seen(event => 'task.routed', node_id => 'a')
Mesh::Chaos::seen(event => 'task.retried', node_id => 'a', reason => 'failed')
Mesh::Chaos::seen(event => 'node.down', node_id => 'a')
Mesh::Chaos::seen(event => 'task.queued', position => 1)
Mesh::Chaos::seen(event => 'task.routed', node_id => 'b')
Mesh::Chaos::seen(event => 'task.done', node_id => 'b')
Mesh::Chaos::unseen(event => 'task.failed')
Mesh::Orch::nodes_queued() == 0
Mesh::Chaos::node('b')->{active_tasks} == 0
--- access_log
up=a : b st=502 : 200
--- error_log
mesh: node "a" is down: connect failed
--- no_error_log
no other node can take task
no live upstreams



=== TEST 2: nothing frees within the TTL: 503 queue_timeout, not "no node could take the task"
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_ttl 2s;\n")
--- init
main::refused_and_full();
--- request eval
"POST /api/generate\n$::GENERATE"
--- error_code: 503
--- response_body_like: ^\{"error":"no capable node is free","reason":"queue_timeout","estimated_wait_s":[1-9]\d*\}$
--- response_headers_like
Retry-After: [1-9]\d*
--- checks
Mesh::Chaos::seen(event => 'task.retried', node_id => 'a', reason => 'failed')
Mesh::Chaos::seen(event => 'task.queued', position => 1)
Mesh::Chaos::seen(event => 'task.expired')
Mesh::Orch::nodes_queued() == 0
Mesh::Chaos::node('b')->{active_tasks} == 1
--- no_error_log
no other node can take task



=== TEST 3: a retry after a refused connect: $upstream_addr names both nodes, in order
--- http_config eval
Mesh::Orch::http_config(
    qq{    log_format mesh_up "up=\$upstream_addr st=\$upstream_status";\n})
--- config eval
"    access_log logs/access.log mesh_up;\n" . $Mesh::Orch::LOCATIONS
--- init
Mesh::Orch::scene(
    a => { port => $main::DEAD, models => [['mistral:7b', 'text']],
           ram_free_gb => 16 },
    b => { sim => 'B', models => [['mistral:7b', 'text']] });
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: b
--- response_body_like: "done":true
--- access_log
up=a, b st=502, 200
--- error_log
mesh: node "a" is down: connect failed



=== TEST 4: a node answers 429 before the first byte: the task is retried on the other node
--- init
$main::Busy = Mesh::Script::start(name => 'node-429', replies => [
    { steps => [['send', Mesh::Script::reply(429,
        '{"error":"too many requests"}')]] }]);
Mesh::Orch::scene(
    a => { port => $main::Busy->port, models => [['mistral:7b', 'text']],
           ram_free_gb => 16 },
    b => { sim => 'B', models => [['mistral:7b', 'text']] });
Mesh::Chaos::own($main::Busy);
Mesh::Chaos::record_events();
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] saturated mesh","done":true
--- checks
$Busy->requests == 1
Mesh::Chaos::seen(event => 'task.retried', node_id => 'a', reason => 'busy')
Mesh::Chaos::seen(event => 'task.done', node_id => 'b')
# busy is not down
Mesh::Chaos::node('a')->{up} == 1
Mesh::Chaos::node('a')->{active_tasks} == 0
--- no_error_log
[error]
is down



=== TEST 5: 3 nodes x 4 slots, 24 streamed clients, one agent SIGKILLed mid-run: no 503, no silent truncation
--- init
Mesh::Chaos::agents(map { $_ => { sim => ['--token-delay-ms', 60] } }
                    qw(a b c));
@main::Clients = map {
    Mesh::Chaos::background(
        path => '/mesh/v1/tasks', timeout => 60,
        body => qq({"type":"text","prompt":"client $_ of the mesh",)
              . q("options":{"num_predict":40}}))
} 1 .. 24;
# every slot taken, the other tasks waiting, streams running on b
Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() >= 8 }, 30)
    or Test::More::diag('the clients never filled the mesh');
# kill b once streams have begun there (a first token relayed, not yet
# done): a loaded machine can hold b's tasks before their first byte
Mesh::Orch::wait_until(sub { main::streaming_on('b') >= 2 }, 30)
    or Test::More::diag('no two streams were running on b');
$Mesh::Chaos::Agent{b}->kill;
--- request
GET /mesh/status
--- response_body_like: "version"
--- checks
scalar(main::results()) == 24
main::count_of(sub { ($_[0]{status} // 0) != 200 }) == 0
main::count_of(sub { !main::ended_right($_[0], 'b') }) == 0
# the kill did cut streams that had begun on b, and only those
main::count_of(sub { main::cut($_[0]) }) >= 1
main::count_of(sub { main::cut($_[0]) && ($_[0]{headers}{'x-mesh-node'} // '') ne 'b' }) == 0
# b's streams end at the kill; whether a waiter then tries b (connect
# refused: down at once) or the sweep marks it (no heartbeat for 9 s)
# depends on timing, so the deadline covers the heartbeat timeout
Mesh::Chaos::seen_within(12, event => 'node.down', node_id => 'b')
Mesh::Orch::nodes_queued() == 0
Mesh::Chaos::settled_load('a') eq '0/0'
Mesh::Chaos::settled_load('c') eq '0/0'
--- no_error_log
no other node can take task
[crit]
