# The Ollama front door: /api/generate, /api/chat and /api/embed are
# routed by "model" and relayed unchanged (the reply equals what the
# node's simulator answers to the same body sent directly, but for times
# and durations), GET /api/tags is the union of the live nodes' models,
# and a node that left or went silent is neither listed nor routed to.
# A has 4-token replies, B 6-token ones: a body shows which node served.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Orch;

our @MODELS = map { ('--model', $_) } 'mistral:7b',
    'llava,caps=completion+vision', 'codellama:7b',
    'nomic-embed-text,caps=embedding';

# A node is down after 10 missed heartbeats of 200 ms (more under
# valgrind, where nginx answers heartbeats slowly): a live node's
# heartbeats, late on a busy machine, must never look like silence.
our $MISSES = $ENV{TEST_NGINX_USE_VALGRIND} ? 25 : 10;

Mesh::Orch::suite(http_extra => "    mesh_heartbeat_interval 200ms;\n"
                              . "    mesh_heartbeat_misses $MISSES;\n");
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

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: /api/generate, streamed: relayed unchanged
--- init
main::two_nodes();
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"why is the sky blue"}
--- response_headers_like
X-Mesh-Node: a
X-Mesh-Model: mistral:7b
X-Mesh-Task: [0-9a-f]+-\d+-\d+
Content-Type: application/x-ndjson
--- same_as_sim: A
--- no_error_log
[error]
[warn]



=== TEST 2: /api/generate, "stream":false, with options and odd characters
num_predict reaches the node: the reply has 2 tokens, not 4.
--- init
main::two_nodes();
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"caf\u00e9 \"quoted\" \\ tab\tend","stream":false,"options":{"num_predict":2,"temperature":0.2},"keep_alive":"5m"}
--- response_headers
X-Mesh-Node: a
Content-Type: application/json; charset=utf-8
--- same_as_sim: A
--- no_error_log
[error]



=== TEST 3: /api/generate: the body is relayed as is (checked in the reply)
--- init
main::two_nodes();
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"caf\u00e9 \"quoted\"","stream":false,"options":{"num_predict":3}}
--- response_body_like: ^\{"model":"mistral:7b","created_at":"[^"]+","response":"\[mistral:7b\] café \\"quoted\\"","done":true,"done_reason":"length",
--- no_error_log
[error]



=== TEST 4: /api/chat, streamed: relayed unchanged
--- init
main::two_nodes();
--- request
POST /api/chat
{"model":"mistral:7b","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there mesh"}]}
--- response_headers
X-Mesh-Node: a
X-Mesh-Model: mistral:7b
Content-Type: application/x-ndjson
--- same_as_sim: A
--- no_error_log
[error]



=== TEST 5: /api/chat, "stream":false, routed by model to b
--- init
main::two_nodes();
--- request
POST /api/chat
{"model":"codellama:7b","stream":false,"messages":[{"role":"user","content":"sort a list"}]}
--- response_headers
X-Mesh-Node: b
X-Mesh-Model: codellama:7b
--- same_as_sim: B
--- no_error_log
[error]



=== TEST 6: /api/chat, the exact body of the reply
--- init
main::two_nodes();
--- request
POST /api/chat
{"model":"codellama:7b","stream":false,"messages":[{"role":"user","content":"sort a list"}]}
--- body_normalized chomp
{"model":"codellama:7b","created_at":"T","message":{"role":"assistant","content":"[codellama:7b] sort a list sort a"},"done_reason":"stop","done":true,"total_duration":0,"load_duration":0,"prompt_eval_count":3,"prompt_eval_duration":0,"eval_count":6,"eval_duration":0}
--- no_error_log
[error]



=== TEST 7: /api/embed: relayed unchanged
--- init
main::two_nodes();
--- request
POST /api/embed
{"model":"nomic-embed-text","input":["first text","second"]}
--- response_headers
X-Mesh-Node: a
X-Mesh-Model: nomic-embed-text
--- same_as_sim: A
--- no_error_log
[error]



=== TEST 8: /api/embed: three dimensions (a's simulator), two inputs
--- init
main::two_nodes();
--- request
POST /api/embed
{"model":"nomic-embed-text","input":["first text","second"]}
--- response_body_like: ^\{"model":"nomic-embed-text","embeddings":\[\[-?[\d.e-]+,-?[\d.e-]+,-?[\d.e-]+\],\[-?[\d.e-]+,-?[\d.e-]+,-?[\d.e-]+\]\],
--- no_error_log
[error]



=== TEST 9: an error of the node is relayed too (model without embeddings)
--- init
main::two_nodes();
--- request
POST /api/embed
{"model":"codellama:7b","input":"x"}
--- error_code: 500
--- response_headers
X-Mesh-Node: b
--- same_as_sim: B
--- no_error_log
[error]



=== TEST 10: GET /api/tags: the union of the nodes' models, with their nodes
--- init
main::two_nodes();
--- request
GET /api/tags
--- response_headers
Content-Type: application/json
!X-Mesh-Node
--- response_body
{"models":[{"name":"mistral:7b","model":"mistral:7b","size":4100000000,"mesh_nodes":["a","b"]},{"name":"llava","model":"llava","size":4500000000,"mesh_nodes":["a"]},{"name":"nomic-embed-text","model":"nomic-embed-text","size":300000000,"mesh_nodes":["a"]},{"name":"codellama:7b","model":"codellama:7b","size":3800000000,"mesh_nodes":["b"]}]}
--- no_error_log
[error]



=== TEST 11: GET /api/tags with no node: an empty list
--- init
Mesh::Orch::scene();
--- request
GET /api/tags
--- response_body
{"models":[]}
--- no_error_log
[error]



=== TEST 12: a that left is not listed in /api/tags
--- init
main::two_nodes();
Mesh::Orch::leave('a');
--- request
GET /api/tags
--- response_body
{"models":[{"name":"mistral:7b","model":"mistral:7b","size":4100000000,"mesh_nodes":["b"]},{"name":"codellama:7b","model":"codellama:7b","size":3800000000,"mesh_nodes":["b"]}]}
--- no_error_log
[error]



=== TEST 13: a that left (more free RAM) is not routed to: b serves
--- init
main::two_nodes();
Mesh::Orch::leave('a');
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"gone","stream":false}
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] gone gone gone gone gone","done":true
--- no_error_log
[error]



=== TEST 14: the only node with llava left: llava is not in the mesh (404)
--- init
main::two_nodes();
Mesh::Orch::leave('a');
--- request
POST /api/generate
{"model":"llava","prompt":"x"}
--- error_code: 404
--- response_body
{"error":"model \"llava\" is not on any node of the mesh","models":["mistral:7b","codellama:7b"]}
--- no_error_log
[error]



=== TEST 15: a went silent: it is down and not in /api/tags
--- init
main::two_nodes();
Mesh::Orch::silence('a');
--- request
GET /api/tags
--- response_body
{"models":[{"name":"mistral:7b","model":"mistral:7b","size":4100000000,"mesh_nodes":["b"]},{"name":"codellama:7b","model":"codellama:7b","size":3800000000,"mesh_nodes":["b"]}]}
--- error_log eval
qr/\[warn\] .*mesh: node "a" is down: no heartbeat for \d+ ms/
--- no_error_log
[error]



=== TEST 16: a went silent (more free RAM): not routed to, b serves
--- init
main::two_nodes();
Mesh::Orch::silence('a');
--- request
POST /api/chat
{"model":"mistral:7b","stream":false,"messages":[{"role":"user","content":"still there"}]}
--- response_headers
X-Mesh-Node: b
--- same_as_sim: B
--- no_error_log
[error]



=== TEST 17: a silent node that heartbeats again is routed to again
--- init
main::two_nodes();
Mesh::Orch::silence('a');
Mesh::Orch::resume('a');
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"back","stream":false}
--- response_headers
X-Mesh-Node: a
--- same_as_sim: A
--- no_error_log
[error]
