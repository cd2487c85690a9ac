# The OpenAI-compatible front door: POST /v1/chat/completions,
# /v1/completions, /v1/embeddings are routed by "model" (a model of the
# mesh, or mesh:code|vision|summarize|text|auto) and relayed to the
# node's own /v1 endpoints with the served model's name in the body, so
# the reply says which model ran; GET /v1/models is the union of the live
# nodes' models in OpenAI's list shape; every error is OpenAI's
# {"error":{"message","type","param","code"}}.
#
# Node a (sim A, 4 tokens): mistral:7b, llava (vision), nomic-embed-text;
# node b (sim B, 6 tokens): mistral:7b, codellama:7b (code).  The token
# count of a reply shows which node served it.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::OpenAI qw(sse);
use Mesh::Orch;

our @MODELS = map { ('--model', $_) } 'mistral:7b',
    'llava,caps=completion+vision', 'codellama:7b',
    'nomic-embed-text,caps=embedding';

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--tokens', 4, '--embed-dim', 3, @MODELS);
Mesh::Orch::sim('B', '--tokens', 6, '--embed-dim', 5, @MODELS);

sub two_nodes {
    Mesh::Orch::scene(
        a => { sim => 'A', ram_free_gb => 12,
               models => [['mistral:7b', 'text', 4.1], ['llava', 'vision', 4.5],
                          ['nomic-embed-text', 'embedding', 0.3]] },
        b => { sim => 'B', ram_free_gb => 3,
               models => [['mistral:7b', 'text', 4.1],
                          ['codellama:7b', 'code', 3.8]] });
}

# --- sse: a strict SSE body; "done" (ends with [DONE]), "chunks" (JSON
# events), "model" (every chunk's), "text" (the deltas joined), "no_done"
Mesh::Orch::add_check(sse => sub {
    my ($block, $want, $body) = @_;
    my %w = map { /^\s*(\w+)\s*:\s*(.*?)\s*$/ ? ($1 => $2) : () }
            split /\n/, $want;
    my $ev = sse($body // '');
    my @why;
    push @why, "framing: $ev->{bad}" if defined $ev->{bad};
    push @why, 'no [DONE] at the end' if $w{done} && !$ev->{done};
    push @why, 'a [DONE]' if $w{no_done} && $ev->{done};
    my @j = @{ $ev->{json} };
    push @why, scalar(@j) . " chunks, want $w{chunks}"
        if defined $w{chunks} && @j != $w{chunks};
    if (defined $w{model}) {
        my @other = grep { ($_->{model} // '') ne $w{model} } @j;
        push @why, scalar(@other) . " chunks not of model $w{model}"
            if @other;
    }
    Test::More::ok(!@why, $block->name . ' - sse')
        or Test::More::diag(join("\n", @why) . "\nbody:\n" . ($body // ''));
});

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: chat, not streamed: routed by model, relayed as the node wrote it
--- init
main::two_nodes();
--- request
POST /v1/chat/completions
{"model":"codellama:7b","messages":[{"role":"user","content":"sort a list"}]}
--- response_headers
X-Mesh-Node: b
X-Mesh-Model: codellama:7b
Content-Type: application/json; charset=utf-8
--- same_as_sim: B
--- no_error_log
[error]



=== TEST 2: chat, streamed: SSE relayed, [DONE] at the end, tokens counted
--- init
main::two_nodes();
Mesh::Orch::subscribe();
--- request
POST /v1/chat/completions
{"model":"mistral:7b","stream":true,"messages":[{"role":"user","content":"hello there mesh"}]}
--- response_headers
X-Mesh-Node: a
Content-Type: text/event-stream
--- sse
done: 1
chunks: 5
model: mistral:7b
--- same_as_sim: A
--- events
task.routed model=mistral:7b node_id=a task_id=#1 type=text
task.first_token model=mistral:7b node_id=a task_id=#1 type=text
task.done duration_ms=N model=mistral:7b node_id=a task_id=#1 tokens=4 tokens_per_sec=N type=text
--- no_error_log
[error]



=== TEST 3: mesh:code lands on the code node; the reply names the real model
--- init
main::two_nodes();
--- request
POST /v1/chat/completions
{"model":"mesh:code","stream":false,"messages":[{"role":"user","content":"write a binary search"}]}
--- response_headers
X-Mesh-Node: b
X-Mesh-Model: codellama:7b
--- json_is eval
{ id => qr/^chatcmpl-\d+$/, object => 'chat.completion', created => qr/^\d+$/,
  model => 'codellama:7b', system_fingerprint => 'fp_ollama',
  choices => [{ index => 0, finish_reason => 'stop',
                message => { role => 'assistant',
                             content => qr/^\[codellama:7b\] write a binary search/ } }],
  usage => { prompt_tokens => 4, completion_tokens => 6, total_tokens => 10 } }
--- no_error_log
[error]



=== TEST 4: mesh:code, streamed: every chunk names the real model
The usage chunk is no token: 6 counted of 8 chunks.
--- init
main::two_nodes();
Mesh::Orch::subscribe();
--- request
POST /v1/chat/completions
{"stream":true,"messages":[{"role":"user","content":"x"}],"model":"mesh:code","stream_options":{"include_usage":true}}
--- response_headers
X-Mesh-Node: b
--- sse
done: 1
chunks: 8
model: codellama:7b
--- events
task.routed model=codellama:7b node_id=b task_id=#1 type=code
task.first_token model=codellama:7b node_id=b task_id=#1 type=code
task.done duration_ms=N model=codellama:7b node_id=b task_id=#1 tokens=6 tokens_per_sec=N type=code
--- no_error_log
[error]



=== TEST 5: mesh:auto with an image part goes to the vision model
--- init
main::two_nodes();
--- request
POST /v1/chat/completions
{"model":"mesh:auto","messages":[{"role":"user","content":[{"type":"text","text":"what is it"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}
--- response_headers
X-Mesh-Node: a
X-Mesh-Model: llava
--- json_is eval
{ id => qr/^chatcmpl-/, object => 'chat.completion', created => qr/^\d+$/,
  model => 'llava', system_fingerprint => 'fp_ollama',
  choices => [{ index => 0, finish_reason => 'stop',
                message => { role => 'assistant', content => qr/\S/ } }],
  usage => sub { ref $_[0] eq 'HASH' } }
--- no_error_log
[error]



=== TEST 6: mesh:auto without an image, and mesh:text: a text model
The text model both nodes have: the one with more free RAM (a) serves.
--- init
main::two_nodes();
--- request eval
[ "POST /v1/chat/completions\n" . '{"model":"mesh:auto","messages":[{"role":"user","content":"hi"}]}',
  "POST /v1/chat/completions\n" . '{"model":"mesh:text","messages":[{"role":"user","content":"hi"}]}' ]
--- response_headers eval
[ "X-Mesh-Model: mistral:7b", "X-Mesh-Model: mistral:7b" ]
--- response_body_like eval
[ qr/"model":"mistral:7b"/, qr/"model":"mistral:7b"/ ]
--- no_error_log eval
[ '[error]', '[error]' ]



=== TEST 7: the model name written with escapes is routed and replaced
"mesh:\u0063ode" is mesh:code; the served name replaces the whole string.
--- init
main::two_nodes();
--- request
POST /v1/chat/completions
{"messages":[{"role":"user","content":"q"}],"model":"mesh:\u0063ode"}
--- response_headers
X-Mesh-Node: b
--- response_body_like: ^\{"id":"chatcmpl-\d+","object":"chat.completion","created":\d+,"model":"codellama:7b",
--- no_error_log
[error]



=== TEST 8: completions, streamed, through mesh:auto
--- init
main::two_nodes();
--- request
POST /v1/completions
{"model":"mesh:auto","prompt":"once upon a time","stream":true}
--- response_headers
X-Mesh-Model: mistral:7b
Content-Type: text/event-stream
--- sse
done: 1
chunks: 5
model: mistral:7b
--- no_error_log
[error]



=== TEST 9: embeddings by name and by mesh:auto (the embedding model)
--- init
main::two_nodes();
--- request eval
[ "POST /v1/embeddings\n" . '{"model":"nomic-embed-text","input":["a b","c"]}',
  "POST /v1/embeddings\n" . '{"model":"mesh:auto","input":"a b"}' ]
--- response_headers eval
[ "X-Mesh-Node: a", "X-Mesh-Model: nomic-embed-text" ]
--- response_body_like eval
[ qr/^\{"object":"list","data":\[\{"object":"embedding","embedding":\[[^\]]+\],"index":0\},\{"object":"embedding","embedding":\[[^\]]+\],"index":1\}\],"model":"nomic-embed-text","usage":\{"prompt_tokens":3,"total_tokens":3\}\}$/,
  qr/^\{"object":"list","data":\[\{"object":"embedding","embedding":\[[^,\]]+,[^,\]]+,[^,\]]+\],"index":0\}\],"model":"nomic-embed-text",/ ]
--- no_error_log eval
[ '[error]', '[error]' ]



=== TEST 10: an unknown model: 404 model_not_found
--- init
main::two_nodes();
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- error_code: 404
--- json_is eval
{ error => { message => 'model "gpt-4o" is not on any node of the mesh',
             type => 'invalid_request_error', param => undef,
             code => 'model_not_found' } }
--- no_error_log
[error]



=== TEST 11: bad bodies: 400 in OpenAI's shape
--- init
main::two_nodes();
--- request eval
[ "POST /v1/chat/completions\n" . '{"model":',
  "POST /v1/chat/completions\n" . '{"messages":[]}',
  "POST /v1/completions\n" . '{"model":"mistral:7b","stream":"yes"}',
  "POST /v1/chat/completions\n" . '{"model":"x","messages":[1]}' ]
--- error_code eval
[ 400, 400, 400, 400 ]
--- json_is eval
[ { error => { message => qr/\S/, type => 'invalid_request_error',
               param => undef, code => undef } },
  { error => { message => 'model is required', type => 'invalid_request_error',
               param => undef, code => undef } },
  { error => { message => qr/stream/, type => 'invalid_request_error',
               param => undef, code => undef } },
  { error => { message => qr/messages/, type => 'invalid_request_error',
               param => undef, code => undef } } ]
--- no_error_log eval
[ '[error]', '[error]', '[error]', '[error]' ]



=== TEST 12: not a task of the door: 404, and GET on a task: 405
--- init
main::two_nodes();
--- request eval
[ "POST /v1/files\n{}", "GET /v1/chat/completions" ]
--- error_code eval
[ 404, 405 ]
--- json_is eval
[ { error => { message => qr/^Invalid URL/, type => 'invalid_request_error',
               param => undef, code => undef } },
  { error => { message => 'method not allowed',
               type => 'invalid_request_error', param => undef,
               code => undef } } ]
--- no_error_log eval
[ '[error]', '[error]' ]



=== TEST 13: a body over client_max_body_size: 413 in OpenAI's shape
--- config eval
(my $c = $Mesh::Orch::LOCATIONS) =~ s/(mesh_route openai;\n)/$1        client_max_body_size 64;\n/;
$c
--- init
main::two_nodes();
--- request eval
"POST /v1/chat/completions\n" . '{"model":"mistral:7b","messages":[{"role":"user","content":"' . ('x' x 200) . '"}]}'
--- error_code: 413
--- json_is eval
{ error => { message => 'request body is too large',
             type => 'invalid_request_error', param => undef, code => undef } }



=== TEST 14: GET /v1/models: the union of the live nodes' models
--- init
main::two_nodes();
--- request
GET /v1/models
--- response_headers
Content-Type: application/json
--- json_is eval
{ object => 'list', data => [
    { id => 'mistral:7b', object => 'model', created => qr/^\d+$/, owned_by => 'library' },
    { id => 'llava', object => 'model', created => qr/^\d+$/, owned_by => 'library' },
    { id => 'nomic-embed-text', object => 'model', created => qr/^\d+$/, owned_by => 'library' },
    { id => 'codellama:7b', object => 'model', created => qr/^\d+$/, owned_by => 'library' } ] }
--- no_error_log
[error]



=== TEST 15: GET /v1/models/{model}: a model, a mesh name, an unknown one
--- init
main::two_nodes();
--- request eval
[ "GET /v1/models/codellama:7b", "GET /v1/models/mesh:vision",
  "GET /v1/models/nope", "POST /v1/models\n{}" ]
--- error_code eval
[ 200, 200, 404, 405 ]
--- json_is eval
[ { id => 'codellama:7b', object => 'model', created => qr/^\d+$/, owned_by => 'library' },
  { id => 'mesh:vision', object => 'model', created => qr/^\d+$/, owned_by => 'mesh' },
  { error => { message => 'model "nope" is not on any node of the mesh',
               type => 'invalid_request_error', param => undef,
               code => 'model_not_found' } },
  { error => { message => 'method not allowed', type => 'invalid_request_error',
               param => undef, code => undef } } ]
--- no_error_log eval
[ '[error]', '[error]', '[error]', '[error]' ]



=== TEST 16: an empty mesh: an empty list, and a model is unknown
--- init
Mesh::Orch::reset_scene();
--- request eval
[ "GET /v1/models",
  "POST /v1/chat/completions\n" . '{"model":"mistral:7b","messages":[{"role":"user","content":"q"}]}' ]
--- error_code eval
[ 200, 404 ]
--- json_is eval
[ { object => 'list', data => [] },
  { error => { message => qr/is not on any node/, type => 'invalid_request_error',
               param => undef, code => 'model_not_found' } } ]
--- no_error_log eval
[ '[error]', '[error]' ]



=== TEST 17: chat and completions, not streamed: task.done counts the reply's usage.completion_tokens
Node b's codellama:7b writes 6 tokens, node a's mistral:7b 4.
--- init
main::two_nodes();
Mesh::Orch::subscribe();
--- request eval
[ "POST /v1/chat/completions\n" . '{"model":"mesh:code","messages":[{"role":"user","content":"count me"}]}',
  "POST /v1/completions\n" . '{"model":"mesh:text","prompt":"count me"}' ]
--- response_body_like eval
[ qr/"usage":\{"prompt_tokens":\d+,"completion_tokens":6,/,
  qr/"usage":\{"prompt_tokens":\d+,"completion_tokens":4,/ ]
--- events_filter: ^task\.done
--- events
task.done duration_ms=N model=codellama:7b node_id=b task_id=#1 tokens=6 tokens_per_sec=N type=code
task.done duration_ms=N model=mistral:7b node_id=a task_id=#2 tokens=4 tokens_per_sec=N type=text
--- no_error_log eval
[ '[error]', '[error]' ]



=== TEST 18: embeddings count as the native door counts them: one, the reply (Ollama's /api/embed has no eval_count, /v1/embeddings no completion_tokens)
--- init
main::two_nodes();
Mesh::Orch::subscribe();
--- request eval
[ "POST /api/embed\n" . '{"model":"nomic-embed-text","input":["a b","c"]}',
  "POST /v1/embeddings\n" . '{"model":"nomic-embed-text","input":["a b","c"]}' ]
--- response_body_like eval
[ qr/"embeddings":\[\[/, qr/"usage":\{"prompt_tokens":3,"total_tokens":3\}/ ]
--- events_filter: ^task\.done
--- events
task.done duration_ms=N model=nomic-embed-text node_id=a task_id=#1 tokens=1 tokens_per_sec=N type=text
task.done duration_ms=N model=nomic-embed-text node_id=a task_id=#2 tokens=1 tokens_per_sec=N type=text
--- no_error_log eval
[ '[error]', '[error]' ]
