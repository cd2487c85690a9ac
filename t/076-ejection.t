# Passive outlier ejection (mesh_eject), the way Envoy does it: a node
# whose tasks fail N times in a row (a 5xx reply from the node, a reset,
# a failure mid-stream; N is 5 by default) is ejected from routing for
# time x the number of its ejections so far (capped by max_time), even
# though it still heartbeats.  One success resets the count.  Busy
# replies (503, 429) are not failures.  An ejection is a node.ejected
# event and shows in /mesh/v1/nodes.
#
# Stand-in nodes (Mesh::Node) heartbeat fine throughout; behind "a" is an
# ollama-sim answering 500 to everything, or a scripted node.  "a" has
# more free RAM, so it is preferred whenever it is routable.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;
use Mesh::Proc;
use Mesh::Script;
use Mesh::SimClient;

our ($GENERATE, @Seen, $Script, $Before);

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--model', 'mistral:7b', '--tokens', 3);
Mesh::SimClient->new($Mesh::Orch::Sims{A}->port)->set_fault('500');
Mesh::Orch::sim('B', '--model', 'mistral:7b', '--tokens', 3);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

$GENERATE = '{"model":"mistral:7b","prompt":"outlier","stream":false}';

our $OK = '{"model":"mistral:7b","created_at":"2024-01-01T00:00:00Z",'
       . '"response":"fine","done":true,"eval_count":1}';

# a: the given port (or sim A), preferred; b: sim B.
sub mesh {
    my (%a) = @_;
    Mesh::Orch::scene(
        a => { ($a{port} ? (port => $a{port}) : (sim => 'A')),
               models => [['mistral:7b', 'text']], ram_free_gb => 16 },
        b => { sim => 'B', models => [['mistral:7b', 'text']] });
    Mesh::Chaos::record_events();
}

# A scripted "a": a prompt with "fail" gets 500, "cut" a stream cut after
# one line, "reset" a reset before any reply, "busy" a 503; anything else
# a good reply.
sub script_node {
    $Script = Mesh::Chaos::own(Mesh::Script::start(name => 'node-a',
        replies => [
        { match => '"fail', steps => [['send', Mesh::Script::reply(500,
              '{"error":"model runner has unexpectedly stopped"}')]] },
        { match => '"cut', steps => [
              ['send', Mesh::Script::head(200)],
              ['send', Mesh::Script::chunk('{"model":"mistral:7b",'
                  . '"created_at":"2024-01-01T00:00:00Z","response":"x",'
                  . qq("done":false}\n))],
              ['reset']] },
        { match => '"reset', steps => [['reset']] },
        { match => '"busy', steps => [['send', Mesh::Script::reply(503,
              '{"error":"server busy, please try again."}')]] },
        { steps => [['send', Mesh::Script::reply(200, $OK)]] },
    ]));
    return $Script->port;
}

# Routing prefers the lower load first: a task starts only once the last
# one's load has come back to 0 everywhere (zone and Redis), so "a" is
# preferred by its RAM alone.
sub settle {
    Mesh::Orch::wait_until(sub {
        my $nodes = Mesh::Orch::nodes();
        return !grep { ($_->{active_tasks} // 0) != 0 } values %$nodes;
    }, 10);
}

# POST /api/generate with this prompt: "status/node".
sub task {
    my ($prompt, %o) = @_;
    settle();
    my $r = Mesh::Chaos::request(path => '/api/generate',
        body => qq({"model":"mistral:7b","prompt":"$prompt")
              . ($o{stream} ? '' : ',"stream":false') . '}');
    return ($r->{status} // 0) . '/' . ($r->{headers}{'x-mesh-node'} // '');
}

sub ejected {
    my ($id) = @_;
    my $n = Mesh::Chaos::node($id);
    $Mesh::Checks::Why = "node $id: " . JSON::PP->new->canonical->encode($n);
    return $n->{ejected} ? 1 : 0;
}

sub back {
    my ($id) = @_;
    return Mesh::Orch::wait_until(sub { !ejected($id) }, 15);
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: Ollama answers 500 to every task while the node heartbeats: after 5 in a row it is ejected
--- init
main::mesh();
@main::Seen = map { main::task('outlier') } 1 .. 5;
main::settle();
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] outlier[^"]*","done":true
--- checks
join(' ', @Seen) eq '500/a 500/a 500/a 500/a 500/a'
Mesh::Chaos::seen(event => 'node.ejected', node_id => 'a', failures => 5, ejections => 1, duration_ms => 30000)
main::ejected('a') == 1
# it still heartbeats: up, but not routed to
Mesh::Chaos::node('a')->{up} == 1
Mesh::Chaos::node('a')->{ejections} == 1
Mesh::Chaos::node('a')->{ejected_for_ms} > 0
Mesh::Chaos::node('a')->{tasks_failed} == 5
main::ejected('b') == 0
--- error_log
mesh: node "a" ejected for 30000 ms after 5 failures in a row
--- no_error_log
[crit]



=== TEST 2: one success resets the count of failures in a row
--- http_config eval
Mesh::Orch::http_config("    mesh_eject failures=3;\n")
--- init
main::mesh(port => main::script_node());
@main::Seen = map { main::task($_) } qw(fail fail fine fail fail);
$main::Before = main::ejected('a');
main::settle();
--- request eval
"POST /api/generate\n" . '{"model":"mistral:7b","prompt":"fail","stream":false}'
--- error_code: 500
--- response_headers
X-Mesh-Node: a
--- checks
join(' ', @Seen) eq '500/a 500/a 200/a 500/a 500/a'
$Before == 0
Mesh::Chaos::seen(event => 'node.ejected', node_id => 'a', failures => 3, ejections => 1)
main::ejected('a') == 1
$Script->requests == 6
--- error_log
mesh: node "a" ejected for 30000 ms after 3 failures in a row



=== TEST 3: each ejection lasts time x the ejections so far, capped by max_time
--- http_config eval
Mesh::Orch::http_config(
    "    mesh_eject failures=2 time=1s max_time=2500ms;\n")
--- init
main::mesh(port => main::script_node());
@main::Seen = map { main::task('fail') } 1 .. 2;
push @main::Seen, main::back('a') ? 'back' : 'still ejected';
push @main::Seen, map { main::task('fail') } 1 .. 2;
push @main::Seen, main::back('a') ? 'back' : 'still ejected';
push @main::Seen, map { main::task('fail') } 1 .. 2;
main::settle();
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: b
--- checks
join(' ', @Seen) eq '500/a 500/a back 500/a 500/a back 500/a 500/a'
Mesh::Chaos::seen(event => 'node.ejected', node_id => 'a', ejections => 1, duration_ms => 1000)
Mesh::Chaos::seen(event => 'node.ejected', node_id => 'a', ejections => 2, duration_ms => 2000)
Mesh::Chaos::seen(event => 'node.ejected', node_id => 'a', ejections => 3, duration_ms => 2500)
main::ejected('a') == 1
--- error_log
mesh: node "a" ejected for 1000 ms after 2 failures in a row
mesh: node "a" ejected for 2000 ms after 2 failures in a row
mesh: node "a" ejected for 2500 ms after 2 failures in a row



=== TEST 4: a failure mid-stream and a reset before the reply count as failures too
--- http_config eval
Mesh::Orch::http_config("    mesh_eject failures=2;\n")
--- init
main::mesh(port => main::script_node());
@main::Seen = (main::task('cut', stream => 1));
main::settle();
--- request eval
"POST /api/generate\n" . '{"model":"mistral:7b","prompt":"reset","stream":false}'
--- response_headers
X-Mesh-Node: b
--- response_body_like: "done":true
--- checks
join(' ', @Seen) eq '200/a'
Mesh::Chaos::seen(event => 'task.failed', node_id => 'a', reason => 'node_failed_mid_stream')
Mesh::Chaos::seen(event => 'task.retried', node_id => 'a', reason => 'failed')
Mesh::Chaos::seen(event => 'node.ejected', node_id => 'a', failures => 2)
main::ejected('a') == 1
--- error_log
mesh: node "a" ejected for 30000 ms after 2 failures in a row



=== TEST 5: busy replies (503) are not failures: the node is never ejected for them
--- http_config eval
Mesh::Orch::http_config("    mesh_eject failures=2;\n")
--- init
main::mesh(port => main::script_node());
@main::Seen = map { main::task('busy') } 1 .. 3;
main::settle();
--- request eval
"POST /api/generate\n" . '{"model":"mistral:7b","prompt":"fine","stream":false}'
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"fine"
--- checks
join(' ', @Seen) eq '200/b 200/b 200/b'
Mesh::Chaos::unseen(event => 'node.ejected')
main::ejected('a') == 0
--- no_error_log
ejected for



=== TEST 6: mesh_eject off: a failing node keeps its tasks
--- http_config eval
Mesh::Orch::http_config("    mesh_eject off;\n")
--- init
main::mesh();
@main::Seen = map { main::task('outlier') } 1 .. 6;
main::settle();
--- request eval
"POST /api/generate\n$::GENERATE"
--- error_code: 500
--- response_headers
X-Mesh-Node: a
--- checks
join(' ', @Seen) eq '500/a 500/a 500/a 500/a 500/a 500/a'
Mesh::Chaos::unseen(event => 'node.ejected')
main::ejected('a') == 0
--- no_error_log
ejected for



=== TEST 7: a bad mesh_eject parameter is refused
--- http_config eval
Mesh::Orch::http_config("    mesh_eject failures=none;\n")
--- must_die
--- error_log
invalid parameter "failures=none"



=== TEST 8: mesh_eject without failures= is refused
--- http_config eval
Mesh::Orch::http_config("    mesh_eject time=1s;\n")
--- must_die
--- error_log
"mesh_eject" needs "failures=" or "off"
