# Bad input to the routed locations gets a clear JSON error and never
# reaches a node: malformed JSON, missing or wrongly typed fields, an
# unknown task type, a model no node has (404 with the mesh's models),
# bodies over client_max_body_size (413), methods other than POST (405).
# The harness fails a block whose nginx logs [alert]/[crit] or crashes.
# Every block has a node that could serve the task, so an accepted task
# would answer 200: the status proves the refusal.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Orch;

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--tokens', 2, '--model', 'mistral:7b',
                '--model', 'llava,caps=completion+vision');

sub one_node {
    Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text'],
                                                    ['llava', 'vision']] });
}

# The sim's request counter: proves a refused task never reached it.
sub sim_requests {
    my (undef, $stats) = Mesh::Proc::http_get($Mesh::Orch::Sims{A}->port,
                                              '/_sim/stats');
    return ($stats // '') =~ /"requests":(\d+)/ ? $1 : -1;
}

our $Before;

add_block_preprocessor(sub {
    my ($block) = @_;
    $block->set_value(init => "main::one_node();\n"
                              . "\$main::Before = main::sim_requests();\n")
        unless defined $block->init;
});

# --- sim_untouched: the node's simulator got no request
Mesh::Orch::add_check(sim_untouched => sub {
    my ($block) = @_;
    Test::More::is(main::sim_requests(), $main::Before,
                   $block->name . ' - the node got no request');
});

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: malformed JSON (cut short): 400 with the reason
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"hi"
--- error_code: 400
--- response_headers
Content-Type: application/json
!X-Mesh-Node
--- response_body
{"error":"invalid JSON at byte 35: parse error: premature EOF"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 2: malformed JSON (missing comma) on the native API
--- request
POST /mesh/v1/tasks
{"type":"text" "prompt":"x"}
--- error_code: 400
--- response_body_like: ^\{"error":"invalid JSON at byte \d+: [^"]+"\}$
--- sim_untouched
--- no_error_log
[error]



=== TEST 3: trailing garbage after the object
--- request
POST /api/chat
{"model":"mistral:7b","messages":[]} {"x":1}
--- error_code: 400
--- response_body_like: ^\{"error":"invalid JSON at byte \d+: parse error: trailing garbage"\}$
--- sim_untouched
--- no_error_log
[error]



=== TEST 4: a JSON value that is not an object
--- request
POST /api/generate
["model","mistral:7b"]
--- error_code: 400
--- response_body
{"error":"body must be a JSON object"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 5: an empty body
--- request
POST /mesh/v1/tasks
--- more_headers
Content-Length: 0
--- error_code: 400
--- response_body
{"error":"a JSON body is required"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 6: no model on /api/generate
--- request
POST /api/generate
{"prompt":"hello","stream":false}
--- error_code: 400
--- response_body
{"error":"model is required"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 7: no model on /api/chat (an empty one is none either)
--- request
POST /api/chat
{"model":"","messages":[{"role":"user","content":"x"}]}
--- error_code: 400
--- response_body
{"error":"model is required"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 8: a model that is not a string
--- request
POST /api/generate
{"model":7,"prompt":"x"}
--- error_code: 400
--- response_body
{"error":"\"model\" must be 1-127 printable characters without spaces or quotes"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 9: a model name longer than 127 bytes
--- request eval
"POST /api/generate\n" . '{"model":"' . ('m' x 128) . '","prompt":"x"}'
--- error_code: 400
--- response_body
{"error":"\"model\" must be 1-127 printable characters without spaces or quotes"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 10: native task without a type
--- request
POST /mesh/v1/tasks
{"prompt":"what type am I"}
--- error_code: 400
--- response_body
{"error":"\"type\" is missing"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 11: native task of an unknown type: 400 naming it
--- request
POST /mesh/v1/tasks
{"type":"poetry","prompt":"roses"}
--- error_code: 400
--- response_body
{"error":"unknown task type \"poetry\""}
--- sim_untouched
--- no_error_log
[error]



=== TEST 12: "embedding" is a model type, not a task type
--- request
POST /mesh/v1/tasks
{"type":"embedding","prompt":"x"}
--- error_code: 400
--- response_body
{"error":"unknown task type \"embedding\""}
--- sim_untouched
--- no_error_log
[error]



=== TEST 13: a type that is not a string
--- request
POST /mesh/v1/tasks
{"type":["text"],"prompt":"x"}
--- error_code: 400
--- response_body
{"error":"\"type\" must be a string"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 14: "stream" that is not a boolean
--- request
POST /mesh/v1/tasks
{"type":"text","prompt":"x","stream":"yes"}
--- error_code: 400
--- response_body
{"error":"\"stream\" must be true or false"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 15: "images" that is not an array of strings
--- request
POST /mesh/v1/tasks
{"type":"vision","prompt":"x","images":"aGVsbG8="}
--- error_code: 400
--- response_body
{"error":"\"images\" must be an array"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 16: a key twice
--- request
POST /mesh/v1/tasks
{"type":"text","prompt":"x","type":"code"}
--- error_code: 400
--- response_body
{"error":"\"type\" appears twice"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 17: JSON nested deeper than 32 levels
--- request eval
"POST /api/generate\n" . '{"model":"mistral:7b","options":' . ('[' x 40) . (']' x 40) . '}'
--- error_code: 400
--- response_body
{"error":"JSON nested deeper than 32 levels at byte 64"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 18: invalid UTF-8 in a string
--- request eval
"POST /mesh/v1/tasks\n" . qq({"type":"text","prompt":"bad \xff\xfe bytes"})
--- error_code: 400
--- response_body
{"error":"invalid JSON at byte 30: lexical error: invalid bytes in UTF8 string."}
--- sim_untouched
--- no_error_log
[error]



=== TEST 19: a model no node has: 404 listing the mesh's models
--- request
POST /api/chat
{"model":"gpt-5","messages":[{"role":"user","content":"x"}]}
--- error_code: 404
--- response_body
{"error":"model \"gpt-5\" is not on any node of the mesh","models":["mistral:7b","llava"]}
--- sim_untouched
--- no_error_log
[error]



=== TEST 20: a native task naming a model no node has: 404 too
--- request
POST /mesh/v1/tasks
{"type":"code","model":"starcoder2:3b","prompt":"x"}
--- error_code: 404
--- response_body
{"error":"model \"starcoder2:3b\" is not on any node of the mesh","models":["mistral:7b","llava"]}
--- sim_untouched
--- no_error_log
[error]



=== TEST 21: a body over client_max_body_size: 413
--- config eval
$Mesh::Orch::LOCATIONS =~ s/mesh_route ollama;/mesh_route ollama;\n        client_max_body_size 1k;/r
--- request eval
"POST /api/generate\n" . '{"model":"mistral:7b","prompt":"' . ('w ' x 1000) . '"}'
--- error_code: 413
--- sim_untouched
--- error_log
client intended to send too large
--- no_error_log
[alert]
[crit]



=== TEST 22: a chunked body over client_max_body_size: 413
--- config eval
$Mesh::Orch::LOCATIONS =~ s/mesh_route task;/mesh_route task;\n        client_max_body_size 1k;/r
--- raw_request eval
my $body = '{"type":"text","prompt":"' . ('w ' x 1000) . '"}';
"POST /mesh/v1/tasks HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
. "Transfer-Encoding: chunked\r\n\r\n"
. sprintf("%x\r\n%s\r\n0\r\n\r\n", length $body, $body)
--- error_code: 413
--- sim_untouched
--- error_log
client intended to send too large
--- no_error_log
[alert]
[crit]



=== TEST 23: a body just under client_max_body_size is served
--- config eval
$Mesh::Orch::LOCATIONS =~ s/mesh_route ollama;/mesh_route ollama;\n        client_max_body_size 1k;/r
--- request eval
"POST /api/generate\n" . '{"model":"mistral:7b","stream":false,"prompt":"' . ('w ' x 450) . '"}'
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] w","done":true
--- no_error_log
[error]



=== TEST 24: GET on the native task location: 405
--- request
GET /mesh/v1/tasks
--- error_code: 405
--- response_body
{"error":"method not allowed"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 25: GET on /api/generate: 405
--- request
GET /api/generate
--- error_code: 405
--- response_body
{"error":"method not allowed"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 26: PUT with a valid body on /api/chat: 405
--- request
PUT /api/chat
{"model":"mistral:7b","messages":[]}
--- error_code: 405
--- response_body
{"error":"method not allowed"}
--- sim_untouched
--- no_error_log
[error]



=== TEST 27: POST on /api/tags: 405
--- request
POST /api/tags
{}
--- error_code: 405
--- response_body
{"error":"method not allowed"}
--- no_error_log
[error]



=== TEST 28: a good task after all that: served (the worker is fine)
--- request
POST /mesh/v1/tasks
{"type":"text","prompt":"still fine","stream":false}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] still","done":true
--- no_error_log
[error]
[alert]
