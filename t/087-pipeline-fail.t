# Pipelines that cannot run or that fail: every request is checked before
# a step runs (400 naming the step, 404 for an unknown pipeline or a step
# no node of the mesh could ever serve); a step that fails ends the
# pipeline with an explicit line naming the step, the node and the
# reason, and no later step runs (the later step's simulator never gets a
# request); a client that goes away cancels the running step.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Chaos;
use Mesh::Orch;
use Mesh::Pipeline;

our ($R, @L, $Cut, $Killed, $Bg);

Mesh::Pipeline::suite();
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

sub line { my ($i) = @_; return $main::L[$i] // {} }
# generate calls simulator $id took (the agent's own polls not counted)
sub requests {
    my $s = Mesh::Pipeline::sim_stats($_[0]);
    return ($s->{active} // 0) + ($s->{completed} // 0) + ($s->{failed} // 0)
         + ($s->{cancelled} // 0);
}

__DATA__

=== TEST 1: an unknown pipeline: 404 listing the names
--- request
POST /mesh/v1/pipelines/nope
{"prompt":"x"}
--- error_code: 404
--- response_body
{"error":"no pipeline is named \"nope\"","pipelines":["describe-and-summarize","code-review"]}
--- response_headers
Content-Type: application/json
--- no_error_log
[error]



=== TEST 2: no node of the mesh has a step's model or type: 404 before any step runs
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b' });
--- request eval
["POST /mesh/v1/pipelines\n"
 . '{"prompt":"x","steps":[{"type":"text","prompt":"a"},{"model":"nope:1b","prompt":"b"}]}',
 "POST /mesh/v1/pipelines/describe-and-summarize\n"
 . '{"prompt":"x","images":["aGVsbG8="]}']
--- error_code eval
[404, 404]
--- response_body eval
[qq({"error":"step 2: no node of the mesh has model \\"nope:1b\\"","index":2}\n),
 qq({"error":"step 1: no node of the mesh has a model of type \\"vision\\"","index":1}\n)]
--- checks
main::requests('b') == 0
--- no_error_log
[error]



=== TEST 3: bad requests: 400 naming the step and the problem, nothing runs
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b' });
--- request eval
[map { "POST $_->[0]\n$_->[1]" }
 ['/mesh/v1/pipelines/describe-and-summarize', '{"prompt":"x"}'],
 ['/mesh/v1/pipelines', '{"prompt":"x"}'],
 ['/mesh/v1/pipelines', '{"prompt":"x","steps":[]}'],
 ['/mesh/v1/pipelines', '{"steps":[{"type":"text","prompt":"a {{nope}}"}]}'],
 ['/mesh/v1/pipelines', '{"steps":[{"type":"text","prompt":"a"},{"prompt":"b"}]}'],
 ['/mesh/v1/pipelines', '{"steps":[{"type":"text"}]}'],
 ['/mesh/v1/pipelines', '{"steps":[{"type":"text","prompt":"{{previous}}"}]}'],
 ['/mesh/v1/pipelines', '{"steps":[{"type":"text","prompt":"a"},{"type":"text","prompt":"{{step2}}"}]}'],
 ['/mesh/v1/pipelines', '{"steps":[{"type":"text","prompt":"a {{input"}]}'],
 ['/mesh/v1/pipelines', '{"steps":[' . CORE::join(',', ('{"type":"text","prompt":"a"}') x 9) . ']}'],
 ['/mesh/v1/pipelines', '{"steps":[{"type":"embedding","prompt":"a"}]}'],
 ['/mesh/v1/pipelines', '{"steps":[{"type":"text","prompt":"a","max_output":"1g"}]}'],
 ['/mesh/v1/pipelines/code-review', '{"prompt":"x","steps":[{"type":"text","prompt":"a"}]}'],
 ['/mesh/v1/pipelines', '{"steps":[{"type":"text","prompt":"a"}]'],
]
--- error_code eval
[(400) x 14]
--- response_body eval
[qq({"error":"step 1 is a vision step and the request has no \\"images\\"","index":1}\n),
 qq({"error":"\\"steps\\" is missing"}\n),
 qq({"error":"\\"steps\\" is empty"}\n),
 qq({"error":"step 1: unknown variable \\"{{nope}}\\" in the prompt","index":1}\n),
 qq({"error":"step 2 has neither a type nor a model","index":2}\n),
 qq({"error":"step 1 has no prompt","index":1}\n),
 qq({"error":"step 1: \\"{{previous}}\\" has no step before it","index":1}\n),
 qq({"error":"step 2: \\"{{step2}}\\" does not run before it","index":2}\n),
 qq({"error":"step 1: unclosed variable \\"{{input\\" in the prompt","index":1}\n),
 qq({"error":"the pipeline has 9 steps, more than mesh_pipeline_max_steps 8"}\n),
 qq({"error":"\\"steps[0].type\\" must be code, vision, summarize or text"}\n),
 qq({"error":"\\"steps[0].max_output\\" must be a size from 1 to 16m (bytes, or with k or m)"}\n),
 qq({"error":"a named pipeline takes no \\"steps\\": POST them to /mesh/v1/pipelines"}\n),
 qr/^\{"error":"invalid JSON at byte \d+/]
--- checks
main::requests('b') == 0
--- no_error_log
[error]



=== TEST 4: step 1's output over its max_output: the pipeline fails there, its node stops, step 2 never runs
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b',
                            sim => ['--tokens', 400, '--token-delay-ms', 20] });
--- request eval
"POST /mesh/v1/pipelines\n"
. '{"prompt":"x","steps":[{"type":"text","prompt":"one two three","max_output":20},'
. '{"type":"text","prompt":"{{previous}}"}]}'
--- response_body_like: "event":"pipeline_failed"
--- checks
(@L = Mesh::Pipeline::lines($Body)) == 2
main::line(0)->{event} eq 'step' && main::line(0)->{index} == 1 && main::line(0)->{node} eq 'b'
main::line(1)->{error} eq 'the output of step 1 is larger than its max_output, 20 bytes'
main::line(1)->{index} == 1 && main::line(1)->{node} eq 'b' && main::line(1)->{reason} eq 'output_too_large' && main::line(1)->{task_id} eq main::line(0)->{task_id}
Mesh::Chaos::seen(event => 'pipeline.failed', index => 1, node_id => 'b', reason => 'output_too_large', task_id => main::line(0)->{task_id})
# the node's Ollama call was cancelled, and no second call came
Mesh::Orch::wait_until(sub { Mesh::Pipeline::sim_stats('b')->{cancelled} == 1 }, 10)
main::requests('b') == 1
Mesh::Chaos::settled_load('b') eq '0/0'
--- error_log
mesh: pipeline p
failed at step 1, node "b": the output of step 1 is larger than its max_output, 20 bytes
--- no_error_log
[crit]



=== TEST 5: "stream":false and a failing step: 502 with the step, the node and the reason
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b',
                            sim => ['--tokens', 100, '--token-delay-ms', 1] });
--- request eval
"POST /mesh/v1/pipelines\n"
. '{"stream":false,"steps":[{"type":"text","prompt":"a b","max_output":"1k"},'
. '{"type":"text","prompt":"again {{step1}}","max_output":8}]}'
--- error_code: 502
--- response_body_like: ^\{"error":"the output of step 2 is larger than its max_output, 8 bytes","pipeline_id":"p[^"]+","index":2,"node":"b","reason":"output_too_large","task_id":"[^"]+","steps":\[\{"index":1,"node":"b","model":"mistral:7b","task_id":"[^"]+","output":"\[mistral:7b\]( a b){49} a","tokens":100,"duration_ms":\d+\}\]\}$
--- checks
Mesh::Chaos::seen(event => 'pipeline.failed', index => 2, reason => 'output_too_large')
--- no_error_log
[crit]



=== TEST 6: step 1's node dies mid-stream: an explicit line naming step, node and reason; step 2 never runs
--- init
Mesh::Pipeline::mesh(a => { model => 'llava:7b', sim => ['--tokens', 400, '--token-delay-ms', 50] },
                     b => { model => 'mistral:7b' });
$main::Cut = Mesh::Chaos::request(
    path => '/mesh/v1/pipelines/describe-and-summarize', timeout => 20,
    body => '{"prompt":"x","images":["aGVsbG8="]}',
    on_line => sub {
        my ($line, $r) = @_;
        return if $main::Killed || $line !~ /"event":"step"/;
        $main::Killed = 1;
        Mesh::Orch::wait_until(sub { Mesh::Pipeline::sim_stats('a')->{active} == 1 }, 5);
        # killed at once: a heartbeat it sent before and nginx reads
        # after the task's end must not leave the dead node a count
        # (t/099 makes that order for certain)
        select undef, undef, undef, 0.2;
        $Mesh::Chaos::Agent{a}->kill;
    });
@main::L = Mesh::Pipeline::lines(join "\n", @{ $main::Cut->{lines} });
--- request
GET /mesh/v1/pipelines
--- response_body_like: "pipelines"
--- checks
$Cut->{status} == 200 && $Cut->{clean_end}
@L == 2
main::line(0)->{event} eq 'step' && main::line(0)->{node} eq 'a'
main::line(1)->{event} eq 'pipeline_failed' && main::line(1)->{index} == 1 && main::line(1)->{node} eq 'a' && main::line(1)->{reason} eq 'node_failed_mid_stream'
main::line(1)->{error} eq 'step 1 failed on node "a" mid-stream'
!grep { /"done":true/ } @{ $Cut->{lines} }
main::requests('b') == 0
Mesh::Chaos::seen(event => 'task.failed', node_id => 'a', reason => 'node_failed_mid_stream', task_id => main::line(0)->{task_id})
Mesh::Chaos::seen(event => 'pipeline.failed', index => 1, node_id => 'a', reason => 'node_failed_mid_stream')
Mesh::Chaos::settled_load('a') eq '0/0'
--- error_log eval
[qr/mesh: node "a" failed mid-stream, task /,
 qr/pipeline p\S+ failed at step 1, node "a": step 1 failed on node "a" mid-stream/]
--- no_error_log
[crit]



=== TEST 7: step 2 waits in the queue past mesh_queue_ttl: the pipeline fails at step 2 with queue_timeout
--- http_config eval
Mesh::Orch::http_config("    mesh_heartbeat_interval 300ms;\n    mesh_queue_ttl 1s;\n"
                        . $Mesh::Pipeline::PIPELINES)
--- init
Mesh::Pipeline::mesh(a => { model => 'llava:7b', sim => ['--tokens', 6] },
                     b => { model => 'mistral:7b', agent => ['--max-tasks', 1] });
# b is full: one task sent to it directly
Mesh::Chaos::load_directly('b');
--- request eval
"POST /mesh/v1/pipelines/describe-and-summarize\n"
. '{"prompt":"x","images":["aGVsbG8="]}'
--- response_body_like: "event":"pipeline_failed"
--- checks
(@L = Mesh::Pipeline::lines($Body)) == 3
main::line(0)->{event} eq 'step' && main::line(0)->{node} eq 'a'
main::line(1)->{event} eq 'step_done' && main::line(1)->{output} eq '[llava:7b] Describe this image in detail.'
main::line(2)->{event} eq 'pipeline_failed' && main::line(2)->{index} == 2 && !defined(main::line(2)->{node}) && main::line(2)->{reason} eq 'queue_timeout'
main::line(2)->{error} =~ /^step 2 failed with status 503: \{"error":.*"reason":"queue_timeout"/
Mesh::Chaos::seen(event => 'task.expired', task_id => main::line(2)->{task_id})
Mesh::Chaos::seen(event => 'pipeline.failed', index => 2, reason => 'queue_timeout')
--- no_error_log
[crit]



=== TEST 8: the client goes away during step 1: its node's Ollama call is cancelled, step 2 never runs
--- init
Mesh::Pipeline::mesh(a => { model => 'llava:7b', sim => ['--tokens', 400, '--token-delay-ms', 50] },
                     b => { model => 'mistral:7b' });
$main::Bg = Mesh::Chaos::background(
    path => '/mesh/v1/pipelines/describe-and-summarize', timeout => 20,
    body => '{"prompt":"x","images":["aGVsbG8="]}');
Mesh::Orch::wait_until(sub { Mesh::Pipeline::sim_stats('a')->{active} == 1 }, 10);
select undef, undef, undef, 0.3;
$main::Bg->stop;
--- request
GET /mesh/v1/pipelines
--- response_body_like: "pipelines"
--- checks
Mesh::Orch::wait_until(sub { Mesh::Pipeline::sim_stats('a')->{cancelled} == 1 }, 10)
Mesh::Pipeline::sim_stats('a')->{completed} == 0
Mesh::Chaos::seen(event => 'task.failed', node_id => 'a', reason => 'client_gone')
Mesh::Chaos::seen(event => 'pipeline.failed', index => 1, node_id => 'a', reason => 'client_gone')
Mesh::Chaos::unseen(event => 'pipeline.step', index => 2)
main::requests('b') == 0
Mesh::Chaos::settled_load('a') eq '0/0'
--- no_error_log
[crit]



=== TEST 9: the only vision node is dead before step 1's first byte, queueing off: node_failed, nothing after it runs
--- http_config eval
Mesh::Orch::http_config("    mesh_heartbeat_interval 300ms;\n    mesh_queue_size 0;\n"
                        . $Mesh::Pipeline::PIPELINES)
--- init
Mesh::Pipeline::mesh(a => { model => 'llava:7b' }, b => { model => 'mistral:7b' });
$Mesh::Chaos::Agent{a}->kill;
--- request eval
"POST /mesh/v1/pipelines/describe-and-summarize\n"
. '{"prompt":"x","images":["aGVsbG8="]}'
--- response_body_like: "event":"pipeline_failed"
--- checks
(@L = Mesh::Pipeline::lines($Body)) == 1
main::line(0)->{index} == 1 && main::line(0)->{node} eq 'a' && main::line(0)->{reason} eq 'node_failed'
main::line(0)->{error} eq 'step 1 failed on node "a" before its reply (status 502)'
main::requests('b') == 0
Mesh::Chaos::seen(event => 'task.failed', node_id => 'a', reason => 'no_node_left')
Mesh::Chaos::seen(event => 'pipeline.failed', index => 1, node_id => 'a', reason => 'node_failed')
--- error_log
mesh: node "a" is down: connect failed
--- no_error_log
[crit]
