# The gRPC door (echo.mesh.Mesh) with a real client: python3-grpcio and
# stubs generated from proto/mesh.proto at test time.  Every RPC, and the
# statuses a call ends with before any message, as Trailers-Only (checked
# on the wire with curl: grpc-status in the one header block, no body).
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Chaos;
use Mesh::Grpc;
use Mesh::Orch;
use Mesh::Pipeline;

our ($R, $W);

Mesh::Grpc::suite();
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

# generate calls simulator $id took (the agent's own polls not counted)
sub requests {
    my $s = Mesh::Pipeline::sim_stats($_[0]);
    return ($s->{active} // 0) + ($s->{completed} // 0) + ($s->{failed} // 0)
         + ($s->{cancelled} // 0);
}
sub msg { my ($i) = @_; return $main::R->{messages}[$i] // {} }
sub failed {
    my ($code, $re) = @_;
    return $main::R->{code} eq $code && $main::R->{details} =~ $re
        && !@{ $main::R->{messages} };
}
# the curl view of a call: a Trailers-Only reply
sub trailers_only {
    my ($status) = @_;
    # the header block only: curl shows trailers after an empty "< " line
    my @l;
    for (@{ $main::W->{lines} }) { last if $_ eq '< '; push @l, $_ }
    return (grep { $_ eq "< grpc-status: $status" } @l)
        && (grep { $_ eq '< content-type: application/grpc' } @l)
        && (grep { /^< HTTP\/2 200/ } @l) && $main::W->{size} == 0;
}

__DATA__

=== TEST 1: RunTask streams TaskChunks: the node first, then the tokens, done with stats; OK
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--tokens', 3] });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'hello grpc' }))->{code} eq 'OK'
main::msg(0)->{node_id} eq 'b' && main::msg(0)->{model} eq 'mistral:7b' && main::msg(0)->{task_id} =~ /\S/
Mesh::Grpc::text($R) eq '[mistral:7b] hello grpc'
$R->{messages}[-1]{done} && $R->{messages}[-1]{stats}{eval_count} == 3 && $R->{messages}[-1]{stats}{total_duration_ns} > 0
@{ $R->{messages} } == 5
Mesh::Chaos::seen(event => 'task.done', node_id => 'b', task_id => main::msg(0)->{task_id})
Mesh::Chaos::settled_load('b') eq '0/0'
--- no_error_log
[error]



=== TEST 2: RunTask by model, with options and a system prompt: they reach Ollama
--- init
Mesh::Pipeline::mesh(a => { model => 'llava:7b' }, b => { model => 'mistral:7b' });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunTask', { model => 'mistral:7b', prompt => 'one two three', system => 'be brief', options => { num_predict => '2', temperature => '0.5' } }))->{code} eq 'OK'
main::msg(0)->{node_id} eq 'b'
Mesh::Grpc::text($R) eq '[mistral:7b] one'
$R->{messages}[-1]{stats}{eval_count} == 2
--- no_error_log
[error]



=== TEST 3: ListNodes (unary): every node, its models and types, up
--- init
Mesh::Pipeline::mesh(a => { model => 'llava:7b' }, b => { model => 'mistral:7b' });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('ListNodes', {}))->{code} eq 'OK'
join(',', sort map { $_->{node_id} } @{ main::msg(0)->{nodes} }) eq 'a,b'
(grep { $_->{node_id} eq 'a' && $_->{up} && $_->{models}[0]{name} eq 'llava:7b' && $_->{models}[0]{type} eq 'TASK_TYPE_VISION' && $_->{port} > 0 && $_->{host} eq '127.0.0.1' } @{ main::msg(0)->{nodes} }) == 1
(grep { $_->{node_id} eq 'b' && $_->{up} && $_->{models}[0]{type} eq 'TASK_TYPE_TEXT' && $_->{max_tasks} == 4 } @{ main::msg(0)->{nodes} }) == 1
@{ $R->{messages} } == 1
--- no_error_log
[error]



=== TEST 4: RunPipeline, a named one: each step's node, step 1's output, the last step's tokens, done; OK
--- init
Mesh::Pipeline::mesh(a => { model => 'llava:7b', sim => ['--tokens', 6] },
                     b => { model => 'mistral:7b', sim => ['--tokens', 11] });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunPipeline', { name => 'describe-and-summarize', prompt => 'what is this?', images => ['aGVsbG8='] }))->{code} eq 'OK'
main::msg(0)->{step} == 1 && main::msg(0)->{node_id} eq 'a' && main::msg(0)->{model} eq 'llava:7b'
main::msg(1)->{step} == 1 && main::msg(1)->{step_done} && main::msg(1)->{output} eq '[llava:7b] Describe this image in detail.' && main::msg(1)->{stats}{eval_count} == 6
main::msg(2)->{step} == 2 && main::msg(2)->{node_id} eq 'b'
Mesh::Grpc::text($R) eq '[mistral:7b] Summarize in one sentence: [llava:7b] Describe this image in detail.'
$R->{messages}[-2]{stats}{eval_count} == 11 && $R->{messages}[-1]{done}
Mesh::Chaos::seen(event => 'pipeline.done', name => 'describe-and-summarize', steps => 2)
--- no_error_log
[error]



=== TEST 5: RunPipeline with its own steps: {{input}} and {{step1}}
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--tokens', 4] });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunPipeline', { prompt => 'red green blue', steps => [{ type => 'TASK_TYPE_TEXT', prompt => '{{input}}' }, { model => 'mistral:7b', prompt => 'again {{step1}}' }] }))->{code} eq 'OK'
main::msg(1)->{step_done} && main::msg(1)->{output} eq '[mistral:7b] red green blue'
Mesh::Grpc::text($R) eq '[mistral:7b] again [mistral:7b] red'
--- no_error_log
[error]



=== TEST 6: NOT_FOUND: a model no node has, an unknown pipeline; nothing reaches a node
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b' });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunTask', { model => 'nope:1b', prompt => 'x' })) && main::failed('NOT_FOUND', qr/no node of the mesh has model "nope:1b"/)
($main::R = Mesh::Grpc::call('RunPipeline', { name => 'nope', prompt => 'x' })) && main::failed('NOT_FOUND', qr/no pipeline is named "nope"/)
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/RunTask', Mesh::Grpc::frame("\x12\x07nope:1b\x1a\x01x"))) && main::trailers_only(5)
main::requests('b') == 0
--- no_error_log
[error]



=== TEST 7: INVALID_ARGUMENT: no prompt, neither type nor model, a vision task without images, a bad template, bad protobuf, two messages, no message, a malformed grpc-timeout
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b' });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT' })) && main::failed('INVALID_ARGUMENT', qr/prompt is empty/)
($main::R = Mesh::Grpc::call('RunTask', { prompt => 'x' })) && main::failed('INVALID_ARGUMENT', qr/a type or a model/)
($main::R = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_VISION', prompt => 'x' })) && main::failed('INVALID_ARGUMENT', qr/vision task and the request has no images/)
($main::R = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'x', options => { 'Bad-Name' => '1' } })) && main::failed('INVALID_ARGUMENT', qr/option/)
($main::R = Mesh::Grpc::call('RunPipeline', { prompt => 'x', steps => [{ type => 'TASK_TYPE_TEXT', prompt => '{{previous}}' }] })) && main::failed('INVALID_ARGUMENT', qr/step 1: "\{\{previous\}\}" has no step before it/)
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/RunTask', Mesh::Grpc::frame("\xff\xff"))) && main::trailers_only(3)
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/RunTask', Mesh::Grpc::frame("\x1a\x01x") x 2)) && main::trailers_only(3)
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/RunTask', '')) && main::trailers_only(3)
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/RunTask', Mesh::Grpc::frame("\x08\x01\x1a\x01x"), 'grpc-timeout: 1x')) && main::trailers_only(3)
main::requests('b') == 0
--- no_error_log
[error]



=== TEST 8: UNIMPLEMENTED: a compressed message (gzip), an unknown method; RESOURCE_EXHAUSTED: a prompt over 1 MiB, a message over the limit
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b' });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'x ' x 5000 }, gzip => 1)) && main::failed('UNIMPLEMENTED', qr/compressed messages are not supported/)
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/Nope', Mesh::Grpc::frame(''))) && main::trailers_only(12)
($main::R = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'x' x (1024 * 1024 + 1) })) && main::failed('RESOURCE_EXHAUSTED', qr/larger than 1 MiB/)
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/RunTask', "\x00\xff\xff\xff\xff" . 'abc')) && main::trailers_only(8)
main::requests('b') == 0
--- no_error_log
[error]



=== TEST 9: the HTTP/2 port is gRPC only: another content-type is HTTP 415, not a gRPC status
--- request
GET /mesh/status
--- checks
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/RunTask', '', 'content-type: application/json')) && (grep { /^< HTTP\/2 415/ } @{ $W->{lines} }) && !(grep { /grpc-status/ } @{ $W->{lines} })
--- no_error_log
[error]
