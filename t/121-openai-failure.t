# The OpenAI door when things go wrong: an agent SIGKILLed mid-stream
# ends the client's SSE stream with an error event in OpenAI's shape and
# never a [DONE]; a node that fails before the first byte is retried on
# the other node invisibly; a task that waits longer than mesh_queue_ttl,
# or finds the queue full, gets 503 in OpenAI's shape with Retry-After.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::OpenAI qw(sse);
use Mesh::Orch;
use Mesh::Proc;

our ($Cut, $Killed, $Task, $Ev);

Mesh::Orch::suite(http_extra => "    mesh_heartbeat_interval 300ms;\n");
Mesh::Orch::sim('A', '--model', 'mistral:7b', '--tokens', 3);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

our $CHAT = '{"model":"mistral:7b","messages":[{"role":"user",'
          . '"content":"queued task"}]}';

# Node "a" (sim A) with its one slot taken.
sub busy_mesh {
    Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']],
                             max_tasks => 1, active_tasks => 1 });
    Mesh::Chaos::record_events();
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: an agent SIGKILLed mid-stream: an SSE error event, no [DONE], a cut transfer
--- init
Mesh::Chaos::agents(a => { sim => ['--token-delay-ms', 100] },
                    b => { sim => ['--token-delay-ms', 100] });
$main::Cut = Mesh::Chaos::request(
    path => '/v1/chat/completions', timeout => 20,
    body => '{"model":"mistral:7b","stream":true,"max_tokens":60,'
          . '"messages":[{"role":"user","content":"one two three"}]}',
    on_line => sub {
        my ($line, $r) = @_;
        my $events = grep { /^data: \{/ } @{ $r->{lines} };
        return if $main::Killed || $events < 3;
        $main::Killed = $r->{headers}{'x-mesh-node'};
        $main::Task = $r->{headers}{'x-mesh-task'};
        $Mesh::Chaos::Agent{$main::Killed}->kill;
    });
$main::Ev = Mesh::OpenAI::sse($main::Cut->{body});
--- request
GET /mesh/v1/nodes
--- response_body_like: "queued":0
--- checks
$Cut->{status} == 200 && $Killed =~ /^[ab]$/
$Cut->{headers}{'content-type'} eq 'text/event-stream'
!defined $Ev->{bad}
!$Ev->{done}
$Ev->{json}[0]{object} eq 'chat.completion.chunk' && $Ev->{json}[0]{model} eq 'mistral:7b'
$Ev->{data}[-1] eq qq({"error":{"message":"mesh: node \\"$Killed\\" failed mid-stream (task $Task)","type":"server_error","param":null,"code":"node_failed"}})
$Cut->{eof} && !$Cut->{clean_end} && $Cut->{raw} !~ /\r\n0\r\n\r\n\z/
Mesh::Chaos::seen_line(qr/^task\.failed model=mistral:7b node_id=$Killed reason=node_failed_mid_stream task_id=T type=text$/, $Task => 'T')
Mesh::Chaos::settled_load($Killed) eq '0/0'
--- error_log eval
[qr/mesh: node "[ab]" failed mid-stream, task /]
--- no_error_log
[crit]



=== TEST 2: the preferred agent is SIGKILLed before the request: the other serves it
--- init
Mesh::Chaos::agents(a => {}, b => {});
Mesh::Chaos::load_directly('b');
$Mesh::Chaos::Agent{a}->kill;
--- request eval
"POST /v1/chat/completions\n$::CHAT"
--- response_headers
X-Mesh-Node: b
--- response_body_like: ^\{"id":"chatcmpl-\d+","object":"chat.completion",.*"finish_reason":"stop"
--- error_log
mesh: node "a" is down: connect failed



=== TEST 3: a task waits longer than mesh_queue_ttl: 503 in OpenAI's shape, Retry-After
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_ttl 1s;\n")
--- init
main::busy_mesh();
--- request eval
"POST /v1/chat/completions\n$::CHAT"
--- error_code: 503
--- response_headers_like
Retry-After: ^[1-9]\d*$
Content-Type: application/json
--- json_is eval
{ error => { message => qr/^no capable node is free \(queue_timeout\), estimated wait [1-9]\d* s$/,
             type => 'server_error', param => undef, code => 'queue_timeout' } }
--- checks
Mesh::Chaos::seen_line(qr/^task\.expired task_id=#1$/)
Mesh::Orch::nodes_queued() == 0
--- no_error_log
[error]



=== TEST 4: the queue is full: 503 queue_full at once
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_size 1;\n    mesh_queue_ttl 10s;\n")
--- init
main::busy_mesh();
$main::Cut = Mesh::Chaos::background(path => '/v1/chat/completions',
                                     body => $::CHAT, timeout => 20);
Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == 1 }, 10)
    or Test::More::diag('the background task was never queued');
--- request eval
"POST /v1/chat/completions\n$::CHAT"
--- error_code: 503
--- response_headers_like
Retry-After: ^[1-9]\d*$
--- json_is eval
{ error => { message => qr/^no capable node is free \(queue_full\)/,
             type => 'server_error', param => undef, code => 'queue_full' } }
--- no_error_log
[error]
