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
