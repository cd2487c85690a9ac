# echo-agent relays Ollama's OpenAI-compatible API (/v1): the task
# endpoints with the mesh credential and the node's checks, GET /v1/models
# too, refusals in OpenAI's error shape, token counting on SSE streams,
# and a stream that breaks ends with an SSE error event, never a raw
# NDJSON line and never a [DONE].
use strict;
use warnings;

use Test::More;

use Mesh::Agent;
use Mesh::OpenAI qw(sse error_ok);
use Mesh::Proc;

my $sim = Mesh::Agent::start_sim('--tokens', 5, '--token-delay-ms', 20,
    '--embed-dim', 4,
    '--model', 'llama3.2,caps=completion',
    '--model', 'all-minilm,caps=embedding');
my $agent = Mesh::Agent::start(
    sim => $sim, node_id => 'node-o',
    args => ['--heartbeat-interval', $Mesh::Agent::IDLE_INTERVAL]);
my $sim_url = 'http://127.0.0.1:' . $sim->port;

my $chat = '{"model":"llama3.2","messages":[{"role":"user",'
         . '"content":"one two three"}]';

sub metric {
    my ($re) = @_;
    my $m = Mesh::Agent::call($agent, GET => '/metrics')->content;
    my ($v) = $m =~ /^\Q$re\E (\S+)$/m;
    return $v;
}

# the same reply but for the id and the clock
sub unstamped {
    my ($text) = @_;
    $text =~ s/"id":"(chatcmpl|cmpl)-\d+"/"id":"$1-"/g;
    $text =~ s/"created":\d+/"created":0/g;
    return $text;
}

subtest 'chat, not streamed: relayed as Ollama wrote it' => sub {
    my $body = "$chat}";
    my $direct = Mesh::Agent::ua()->post("$sim_url/v1/chat/completions",
                                         Content => $body);
    my $res = Mesh::Agent::call($agent, POST => '/v1/chat/completions',
                                $body);
    is $res->code, 200, 'status';
    is $res->header('X-Mesh-Node'), 'node-o', 'names the node';
    like $res->header('Content-Type'), qr{^application/json}, 'JSON';
    is unstamped($res->content), unstamped($direct->content),
        'the body the simulator sends';
};

subtest 'chat, streamed: SSE through, tokens counted' => sub {
    my $tokens0 = metric('echo_agent_tokens_total') // 0;
    my ($res, $p) = Mesh::Agent::stream($agent, '/v1/chat/completions',
                                        "$chat,\"stream\":true}");
    is $res->code, 200, 'status';
    is $res->header('Content-Type'), 'text/event-stream', 'SSE';
    my $ev = sse(join '', map { $_->[1] } @$p);
    ok !defined $ev->{bad}, 'SSE framing intact' or diag $ev->{bad};
    ok $ev->{done}, '[DONE]';
    is scalar @{ $ev->{json} }, 6, 'five tokens and the finish chunk';
    ok Mesh::Agent::wait_for(sub {
            (metric('echo_agent_tokens_total') // 0) == $tokens0 + 5 }, 10),
        'five tokens counted: the chunks but the finish one';

    my $t1 = metric('echo_agent_tokens_total');
    ($res, $p) = Mesh::Agent::stream($agent, '/v1/chat/completions',
        "$chat,\"stream\":true,\"max_tokens\":3,"
        . '"stream_options":{"include_usage":true}}');
    is sse(join '', map { $_->[1] } @$p)->{json}[-1]{usage}
        {completion_tokens}, 3,
        'a usage chunk';
    ok Mesh::Agent::wait_for(sub {
            (metric('echo_agent_tokens_total') // 0) == $t1 + 3 }, 10),
        'its completion_tokens counted';
    ok Mesh::Agent::wait_for(sub {
            (metric('echo_agent_tasks_total{endpoint="openai_chat",'
                    . 'outcome="ok"}') // 0) == 3 }, 10),
        'three openai_chat tasks';
};

subtest 'completions and embeddings' => sub {
    my $res = Mesh::Agent::call($agent, POST => '/v1/completions',
        '{"model":"llama3.2","prompt":"a b"}');
    is $res->code, 200, 'completions';
    is Mesh::Agent::json($res->content)->{object}, 'text_completion',
        'a text_completion';

    $res = Mesh::Agent::call($agent, POST => '/v1/embeddings',
        '{"model":"all-minilm","input":["a","b"]}');
    is $res->code, 200, 'embeddings';
    is scalar @{ Mesh::Agent::json($res->content)->{data} }, 2,
        'two vectors';
};

subtest 'GET /v1/models: relayed with the credential' => sub {
    my $res = Mesh::Agent::call($agent, GET => '/v1/models');
    is $res->code, 200, 'status';
    my $direct = Mesh::Agent::ua()->get("$sim_url/v1/models");
    is $res->content, $direct->content, 'Ollama\'s list';

    $res = Mesh::Agent::call($agent, GET => '/v1/models/all-minilm:latest');
    is $res->code, 200, 'one model';
    is Mesh::Agent::json($res->content)->{id}, 'all-minilm:latest', 'it';

    $res = Mesh::Agent::call($agent, GET => '/v1/models', undef,
                             auth => undef);
    is $res->code, 401, 'no credential: 401';
    error_ok Mesh::Agent::json($res->content), 'api_error', undef,
        'in OpenAI\'s shape';

    $res = Mesh::Agent::call($agent, POST => '/v1/models', '{}');
    is $res->code, 405, 'POST /v1/models is not relayed';
};

subtest 'refusals on /v1 paths: OpenAI\'s shape' => sub {
    my $res = Mesh::Agent::call($agent, POST => '/v1/chat/completions',
        "$chat}", auth => 'Bearer nope');
    is $res->code, 401, 'a bad credential';
    error_ok Mesh::Agent::json($res->content), 'api_error', undef, '401';

    $res = Mesh::Agent::call($agent, POST => '/v1/chat/completions',
        '{"model":"nope","messages":[]}');
    is $res->code, 404, 'a model the node does not have';
    error_ok Mesh::Agent::json($res->content), 'not_found_error', undef,
        '404';

    $res = Mesh::Agent::call($agent, POST => '/v1/chat/completions', '{');
    is $res->code, 400, 'bad JSON';
    error_ok Mesh::Agent::json($res->content), 'invalid_request_error',
        undef, '400';

    $res = Mesh::Agent::call($agent, POST => '/api/generate', '{');
    is $res->code, 400, 'the Ollama door keeps its own shape';
    like $res->content, qr/^\{"error":"/, '{"error":"..."}';
};

subtest 'Ollama dying mid-stream: an SSE error event ends it' => sub {
    my $body = '{"model":"llama3.2","stream":true,"max_tokens":400,'
             . '"messages":[{"role":"user","content":"go"}]}';
    my ($sock, $data) = Mesh::Agent::open_stream($agent,
                                                 '/v1/chat/completions',
                                                 $body);
    like $data, qr{^HTTP/1.1 200}, 'streaming';
    $sim->kill;
    $data = Mesh::Agent::read_rest($sock, $data);
    my ($status, $sse) = Mesh::Agent::parse_chunked($data);
    like $data, qr/\r\n0\r\n\r\n\z/, 'the reply ends properly (chunked)';
    my $ev = sse($sse);
    ok !defined $ev->{bad}, 'still a valid SSE stream, no raw line'
        or diag $ev->{bad};
    ok !$ev->{done}, 'never a [DONE]';
    cmp_ok scalar @{ $ev->{json} }, '>=', 2, 'chunks, then';
    error_ok $ev->{json}[-1], 'api_error', undef, 'the last event';
    like $ev->{json}[-1]{error}{message}, qr/^ollama stream failed: /,
        'says why';
    unlike $sse, qr/^\{"error"/m, 'no NDJSON error line';
    ok Mesh::Agent::wait_for(sub {
            (metric('echo_agent_tasks_total{endpoint="openai_chat",'
                    . 'outcome="stream_failed"}') // 0) == 1 }, 10),
        'counted as a failed stream';
};

ok $agent->stop, 'agent stopped cleanly';
done_testing;
