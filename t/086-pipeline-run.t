# Pipelines run across nodes: with real agents, node a has only llava:7b
# and node b only mistral:7b.  describe-and-summarize runs step 1 on a
# and step 2 on b, and what b's simulator received contains a's output:
# the simulator's reply is its model's name, then the prompt's words in
# turn, so step 2's reply repeats step 2's prompt as the simulator got it.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Chaos;
use Mesh::Orch;
use Mesh::Pipeline;

our ($R, @L);

Mesh::Pipeline::suite();
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

sub line { my ($i) = @_; return $main::L[$i] // {} }

__DATA__

=== TEST 1: describe-and-summarize, streamed: step 1 on a (vision), step 2 on b, b received a's output
--- init
Mesh::Pipeline::mesh(a => { model => 'llava:7b', sim => ['--tokens', 6] },
                     b => { model => 'mistral:7b', sim => ['--tokens', 11] });
--- request eval
"POST /mesh/v1/pipelines/describe-and-summarize\n"
. '{"prompt":"what is this?","images":["aGVsbG8="]}'
--- response_headers
Content-Type: application/x-ndjson
--- response_body_like: "event":"pipeline_done"
--- checks
(@L = Mesh::Pipeline::lines($Body)) >= 6
main::line(0)->{event} eq 'step' && main::line(0)->{index} == 1 && main::line(0)->{node} eq 'a' && main::line(0)->{model} eq 'llava:7b'
main::line(1)->{event} eq 'step_done' && main::line(1)->{index} == 1 && main::line(1)->{output} eq '[llava:7b] Describe this image in detail.'
main::line(1)->{tokens} == 6
main::line(2)->{event} eq 'step' && main::line(2)->{index} == 2 && main::line(2)->{node} eq 'b' && main::line(2)->{model} eq 'mistral:7b'
Mesh::Pipeline::streamed_text(@L[3 .. $#L]) eq '[mistral:7b] Summarize in one sentence: [llava:7b] Describe this image in detail.'
$L[-2]{done} && $L[-2]{eval_count} == 11
$L[-1]{event} eq 'pipeline_done' && join(',', map { "$_->{index}:$_->{node}:$_->{model}:$_->{tokens}" } @{ $L[-1]{steps} }) eq '1:a:llava:7b:6,2:b:mistral:7b:11'
Mesh::Chaos::seen(event => 'pipeline.started', name => 'describe-and-summarize', steps => 2)
Mesh::Chaos::seen(event => 'pipeline.step', index => 1, node_id => 'a', task_id => main::line(0)->{task_id})
Mesh::Chaos::seen(event => 'task.done', node_id => 'a', task_id => main::line(0)->{task_id})
Mesh::Chaos::seen(event => 'pipeline.step', index => 2, node_id => 'b', task_id => main::line(2)->{task_id})
Mesh::Chaos::seen(event => 'task.done', node_id => 'b', task_id => main::line(2)->{task_id})
Mesh::Chaos::seen(event => 'pipeline.done', name => 'describe-and-summarize', steps => 2)
Mesh::Chaos::settled_load('a') eq '0/0' && Mesh::Chaos::settled_load('b') eq '0/0'
--- no_error_log
[error]



=== TEST 2: "stream":false: one object with each step's node, model and output, and the final text
--- init
Mesh::Pipeline::mesh(a => { model => 'llava:7b', sim => ['--tokens', 6] },
                     b => { model => 'mistral:7b', sim => ['--tokens', 11] });
--- request eval
"POST /mesh/v1/pipelines/describe-and-summarize\n"
. '{"prompt":"what is this?","images":["aGVsbG8="],"stream":false}'
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"pipeline_id":"p[^"]+","name":"describe-and-summarize","steps":\[\{"index":1,"node":"a","model":"llava:7b","task_id":"[^"]+","output":"\[llava:7b\] Describe this image in detail\.","tokens":6,"duration_ms":\d+\},\{"index":2,"node":"b","model":"mistral:7b","task_id":"[^"]+","output":"\[mistral:7b\] Summarize in one sentence: \[llava:7b\] Describe this image in detail\.","tokens":11,"duration_ms":\d+\}\],"response":"\[mistral:7b\] Summarize in one sentence: \[llava:7b\] Describe this image in detail\.","duration_ms":\d+,"done":true\}$
--- checks
Mesh::Chaos::seen(event => 'pipeline.done', name => 'describe-and-summarize')
Mesh::Chaos::settled_load('a') eq '0/0' && Mesh::Chaos::settled_load('b') eq '0/0'
--- no_error_log
[error]



=== TEST 3: ad hoc steps: {{input}}, {{step1}} and {{previous}}, a step by model only, options reach Ollama
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b' });
--- request eval
"POST /mesh/v1/pipelines\n"
. '{"prompt":"one two","stream":false,"steps":['
. '{"type":"text","prompt":"Echo {{input}}","options":{"num_predict":3}},'
. '{"model":"mistral:7b","prompt":"{{step1}} and {{previous}}","options":{"num_predict":8}}]}'
--- response_body_like: "response":"\[mistral:7b\] \[mistral:7b\] Echo one and \[mistral:7b\] Echo one","duration_ms":\d+,"done":true\}$
--- checks
$Body =~ /"steps":\[\{"index":1,"node":"b","model":"mistral:7b","task_id":"[^"]+","output":"\[mistral:7b\] Echo one","tokens":3,/
$Body !~ /"name"/
Mesh::Chaos::seen(event => 'pipeline.started', name => undef, steps => 2)
--- no_error_log
[error]



=== TEST 4: GET /mesh/v1/pipelines lists the named pipelines and their steps
--- request
GET /mesh/v1/pipelines
--- response_body
{"pipelines":[{"name":"describe-and-summarize","steps":[{"type":"vision","prompt":"Describe this image in detail.","max_output":262144},{"type":"summarize","prompt":"Summarize in one sentence: {{previous}}","max_output":262144}]},{"name":"code-review","steps":[{"type":"code","prompt":"{{input}}","max_output":262144},{"type":"text","prompt":"Review this code for bugs and unclear names: {{step1}}","max_output":262144}]}],"max_steps":8}
--- response_headers
Content-Type: application/json
--- no_error_log
[error]



=== TEST 5: step 1's node dies before its first byte: the step completes on the other vision node
--- init
Mesh::Pipeline::mesh(a  => { model => 'llava:7b', sim => ['--tokens', 6] },
                     a2 => { model => 'llava:7b', sim => ['--tokens', 6] },
                     b  => { model => 'mistral:7b', sim => ['--tokens', 11] });
# a2 busy with a task sent to it directly: a is preferred, then killed
Mesh::Chaos::background(
    port => $Mesh::Chaos::Agent{a2}->port, path => '/api/generate',
    headers => Mesh::Chaos::task_headers('a2'), timeout => 30,
    body => '{"model":"llava:7b","prompt":"load","options":{"num_predict":2000}}');
Mesh::Orch::wait_until(sub { (Mesh::Chaos::node('a2')->{active_tasks} // 0) == 1 }, 10);
$Mesh::Chaos::Agent{a}->kill;
--- request eval
"POST /mesh/v1/pipelines/describe-and-summarize\n"
. '{"prompt":"x","images":["aGVsbG8="]}'
--- response_body_like: "event":"pipeline_done"
--- checks
(@L = Mesh::Pipeline::lines($Body)) >= 6
main::line(0)->{event} eq 'step' && main::line(0)->{index} == 1 && main::line(0)->{node} eq 'a2'
main::line(1)->{event} eq 'step_done' && main::line(1)->{output} eq '[llava:7b] Describe this image in detail.'
main::line(2)->{event} eq 'step' && main::line(2)->{node} eq 'b'
Mesh::Pipeline::streamed_text(@L[3 .. $#L]) eq '[mistral:7b] Summarize in one sentence: [llava:7b] Describe this image in detail.'
Mesh::Chaos::seen(event => 'task.routed', node_id => 'a', task_id => main::line(0)->{task_id}, reason => undef)
Mesh::Chaos::seen(event => 'task.retried', node_id => 'a', task_id => main::line(0)->{task_id}, reason => 'failed')
Mesh::Chaos::seen(event => 'task.routed', node_id => 'a2', task_id => main::line(0)->{task_id}, reason => 'retry')
Mesh::Chaos::unseen(event => 'pipeline.failed')
--- error_log
mesh: node "a" is down: connect failed
--- no_error_log
[crit]
