# Among capable nodes with the same load, a node that has the model
# already loaded (Ollama's /api/ps, reported by the agent as "loaded")
# wins before free RAM: no cold model load while a warm node is free.
# Load still comes first, RAM still breaks the tie between two warm (or
# two cold) nodes, and only the model that would serve the task counts:
# a task by type is served by the node's loaded model of that type when
# it has one.  The full order is in the README ("How a task flows").
#
# As in t/060, every node has its own simulator with its own reply
# length (A: 4 tokens, B: 6 tokens), so the body proves which backend
# answered.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Orch;

our @MODELS = map { ('--model', $_) } 'mistral:7b', 'llama3.2:3b',
    'llava,caps=completion+vision';

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--tokens', 4, @MODELS);
Mesh::Orch::sim('B', '--tokens', 6, @MODELS);

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: same load: the node with the model loaded wins over more free RAM
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 12,
           models => [['mistral:7b', 'text', 4, 0]] },
    b => { sim => 'B', ram_free_gb => 2,
           models => [['mistral:7b', 'text', 4, 1]] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"warm","stream":false}
--- response_headers
X-Mesh-Node: b
X-Mesh-Model: mistral:7b
--- response_body_like: "response":"\[mistral:7b\] warm warm warm warm warm","done":true
--- no_error_log
[error]



=== TEST 2: both loaded: more free RAM wins
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 12,
           models => [['mistral:7b', 'text', 4, 1]] },
    b => { sim => 'B', ram_free_gb => 2,
           models => [['mistral:7b', 'text', 4, 1]] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"warm","stream":false}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] warm warm warm","done":true
--- no_error_log
[error]



=== TEST 3: load comes first: the loaded node with more tasks loses to an idle cold one
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 2, active_tasks => 0,
           models => [['mistral:7b', 'text', 4, 0]] },
    b => { sim => 'B', ram_free_gb => 12, active_tasks => 1,
           models => [['mistral:7b', 'text', 4, 1]] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"warm","stream":false}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] warm warm warm","done":true
--- no_error_log
[error]



=== TEST 4: another model loaded on the node does not count
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 12,
           models => [['mistral:7b', 'text', 4, 0]] },
    b => { sim => 'B', ram_free_gb => 2,
           models => [['mistral:7b', 'text', 4, 0],
                      ['llava', 'vision', 4.5, 1]] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"warm","stream":false}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] warm warm warm","done":true
--- no_error_log
[error]



=== TEST 5: a task by type: the node whose text model is loaded, served with that model
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 12,
           models => [['mistral:7b', 'text', 4, 0]] },
    b => { sim => 'B', ram_free_gb => 2,
           models => [['mistral:7b', 'text', 4, 0],
                      ['llama3.2:3b', 'text', 2, 1]] });
--- request
POST /mesh/v1/tasks
{"type":"text","prompt":"warm","stream":false}
--- response_headers
X-Mesh-Node: b
X-Mesh-Model: llama3.2:3b
--- response_body_like: "response":"\[llama3.2:3b\] warm warm warm warm warm","done":true
--- no_error_log
[error]
