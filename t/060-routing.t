# The routing policy (README, "How a task flows", step 2): exact model,
# task type, lowest load, most free RAM, then registry order; nodes at
# max_tasks are skipped.  Each block sets up its own nodes (Mesh::Orch
# scene) and asserts the node and model chosen (X-Mesh-* headers) and the
# exact reply.  Every node has its own simulator with its own reply
# length, so the body also proves which node's backend answered:
# A: 4 tokens, B: 6 tokens, C: 3 tokens.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Orch;

our @MODELS = map { ('--model', $_) } 'mistral:7b', 'mistral',
    'llava,caps=completion+vision', 'codellama:7b',
    'nomic-embed-text,caps=embedding';

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--tokens', 4, @MODELS);
Mesh::Orch::sim('B', '--tokens', 6, @MODELS);
Mesh::Orch::sim('C', '--tokens', 3, @MODELS);
# slow enough that a task outlasts the 100 ms flush of the load count
Mesh::Orch::sim('S', '--tokens', 3, '--token-delay-ms', 150, @MODELS);

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: exact model wins: only a has llava, b has more RAM and no load
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 2,
           models => [['mistral:7b', 'text'], ['llava', 'vision']] },
    b => { sim => 'B', ram_free_gb => 12,
           models => [['mistral:7b', 'text']] });
--- request
POST /api/generate
{"model":"llava","prompt":"describe this","stream":false}
--- response_headers
X-Mesh-Node: a
X-Mesh-Model: llava
Content-Type: application/json; charset=utf-8
--- body_normalized chomp
{"model":"llava","created_at":"T","response":"[llava] describe this describe","done":true,"done_reason":"stop","context":[C],"total_duration":0,"load_duration":0,"prompt_eval_count":2,"prompt_eval_duration":0,"eval_count":4,"eval_duration":0}
--- no_error_log
[error]
[warn]



=== TEST 2: the exact model on both nodes, same load: more free RAM wins
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 4, models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 6.5,
           models => [['mistral:7b', 'text']] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"hi","stream":false}
--- response_headers
X-Mesh-Node: b
X-Mesh-Model: mistral:7b
--- body_normalized chomp
{"model":"mistral:7b","created_at":"T","response":"[mistral:7b] hi hi hi hi hi","done":true,"done_reason":"stop","context":[C],"total_duration":0,"load_duration":0,"prompt_eval_count":1,"prompt_eval_duration":0,"eval_count":6,"eval_duration":0}
--- no_error_log
[error]



=== TEST 3: the same, RAM the other way round: a wins
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 6.5,
           models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 4, models => [['mistral:7b', 'text']] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"hi","stream":false}
--- response_headers
X-Mesh-Node: a
X-Mesh-Model: mistral:7b
--- body_normalized chomp
{"model":"mistral:7b","created_at":"T","response":"[mistral:7b] hi hi hi","done":true,"done_reason":"stop","context":[C],"total_duration":0,"load_duration":0,"prompt_eval_count":1,"prompt_eval_duration":0,"eval_count":4,"eval_duration":0}
--- no_error_log
[error]



=== TEST 4: "mistral" is "mistral:latest": both nodes qualify, RAM decides
a has "mistral:latest" (more RAM), b has "mistral" (less RAM).  The
Ollama body is relayed unchanged, so the backend sees "mistral".
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 5,
           models => [['mistral:latest', 'text']] },
    b => { sim => 'B', ram_free_gb => 3, models => [['mistral', 'text']] });
--- request
POST /api/generate
{"model":"mistral","prompt":"one two","stream":false}
--- response_headers
X-Mesh-Node: a
X-Mesh-Model: mistral:latest
--- body_normalized chomp
{"model":"mistral","created_at":"T","response":"[mistral] one two one","done":true,"done_reason":"stop","context":[C],"total_duration":0,"load_duration":0,"prompt_eval_count":2,"prompt_eval_duration":0,"eval_count":4,"eval_duration":0}
--- no_error_log
[error]



=== TEST 5: "mistral:latest" asked, "mistral" and "mistral:latest" held
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 9,
           models => [['mistral', 'text']] },
    b => { sim => 'B', ram_free_gb => 5,
           models => [['mistral:latest', 'text']] });
--- request
POST /api/generate
{"model":"mistral:latest","prompt":"x","stream":false}
--- response_headers
X-Mesh-Node: a
X-Mesh-Model: mistral
--- body_normalized chomp
{"model":"mistral:latest","created_at":"T","response":"[mistral:latest] x x x","done":true,"done_reason":"stop","context":[C],"total_duration":0,"load_duration":0,"prompt_eval_count":1,"prompt_eval_duration":0,"eval_count":4,"eval_duration":0}
--- no_error_log
[error]



=== TEST 6: "mistral" is not "mistral:7b": 404 listing the mesh's models
--- init
Mesh::Orch::scene(
    a => { sim => 'A', models => [['mistral:7b', 'text'],
                                  ['llava', 'vision']] },
    b => { sim => 'B', models => [['mistral:7b', 'text'],
                                  ['codellama:7b', 'code']] });
--- request
POST /api/generate
{"model":"mistral","prompt":"x"}
--- error_code: 404
--- response_headers
Content-Type: application/json
!X-Mesh-Node
--- response_body
{"error":"model \"mistral\" is not on any node of the mesh","models":["mistral:7b","llava","codellama:7b"]}
--- no_error_log
[error]



=== TEST 7: same RAM and load: registry order (c joined first), stable
Node ids new to this nginx: each takes the next registry slot.
--- init
Mesh::Orch::scene(
    'tie-c' => { sim => 'C', ram_free_gb => 4,
                 models => [['mistral:7b', 'text']] },
    'tie-a' => { sim => 'A', ram_free_gb => 4,
                 models => [['mistral:7b', 'text']] });
--- request eval
[ map { qq(POST /api/generate\n{"model":"mistral:7b","prompt":"t","stream":false}) } 1 .. 3 ]
--- response_headers eval
[ ("X-Mesh-Node: tie-c\nX-Mesh-Model: mistral:7b\n") x 3 ]
--- response_body_like eval
[ ('"response":"\[mistral:7b\] t t","done":true') x 3 ]
--- no_error_log
[error]



=== TEST 8: same RAM and load, the other join order: the first still wins
--- init
Mesh::Orch::scene(
    'tie-b' => { sim => 'B', ram_free_gb => 4,
                 models => [['mistral:7b', 'text']] },
    'tie-d' => { sim => 'C', ram_free_gb => 4,
                 models => [['mistral:7b', 'text']] });
--- request eval
[ map { qq(POST /api/generate\n{"model":"mistral:7b","prompt":"t","stream":false}) } 1 .. 3 ]
--- response_headers eval
[ ("X-Mesh-Node: tie-b\nX-Mesh-Model: mistral:7b\n") x 3 ]
--- response_body_like eval
[ ('"response":"\[mistral:7b\] t t t t t","done":true') x 3 ]
--- no_error_log
[error]



=== TEST 9: lower load wins over more free RAM
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 16, active_tasks => 1,
           models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 2, active_tasks => 0,
           models => [['mistral:7b', 'text']] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"load","stream":false}
--- response_headers
X-Mesh-Node: b
X-Mesh-Model: mistral:7b
--- response_body_like: "response":"\[mistral:7b\] load load load load load","done":true
--- no_error_log
[error]



=== TEST 10: a node at max_tasks is skipped, even with the lowest load
a: 1 of 1 task (full), 16 GB free; b: 2 of 4 tasks, 2 GB free.
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 16, active_tasks => 1, max_tasks => 1,
           models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 2, active_tasks => 2, max_tasks => 4,
           models => [['mistral:7b', 'text']] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"full","stream":false}
--- response_headers
X-Mesh-Node: b
X-Mesh-Model: mistral:7b
--- response_body_like: "response":"\[mistral:7b\] full full full full full","done":true
--- no_error_log
[error]



=== TEST 11: every node with the model at max_tasks, no queue: 503 at once
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_size 0;\n")
--- init
Mesh::Orch::scene(
    a => { sim => 'A', active_tasks => 2, max_tasks => 2,
           models => [['mistral:7b', 'text']] },
    b => { sim => 'B', active_tasks => 0, max_tasks => 2,
           models => [['llava', 'vision']] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"x"}
--- error_code: 503
--- response_headers
Retry-After: 1
!X-Mesh-Node
--- response_body
{"error":"no capable node is free","reason":"no_capable_node","estimated_wait_s":1}
--- no_error_log
[error]



=== TEST 12: a draining node is not routed to, even with more RAM
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 16, status => 'draining',
           models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 2, models => [['mistral:7b', 'text']] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"drain","stream":false}
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] drain drain drain drain drain","done":true
--- no_error_log
[error]



=== TEST 13: a degraded node is not routed to; "busy" is a status like idle
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 16, status => 'degraded',
           models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 2, status => 'busy',
           models => [['mistral:7b', 'text']] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"ill","stream":false}
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] ill ill ill ill ill","done":true
--- no_error_log
[error]



=== TEST 14: native code task: the node with a code model, streamed
c has the most RAM but only a text model; a has a vision model.
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 32, models => [['llava', 'vision']] },
    b => { sim => 'B', ram_free_gb => 1, models => [['codellama:7b', 'code']] },
    c => { sim => 'C', ram_free_gb => 64, models => [['mistral:7b', 'text']] });
--- request
POST /mesh/v1/tasks
{"type":"code","prompt":"write a binary search"}
--- response_headers
X-Mesh-Node: b
X-Mesh-Model: codellama:7b
Content-Type: application/x-ndjson
!Content-Length
--- body_normalized
{"event":"routed","task_id":"ID","node":"b","model":"codellama:7b"}
{"model":"codellama:7b","created_at":"T","response":"[codellama:7b]","done":false}
{"model":"codellama:7b","created_at":"T","response":" write","done":false}
{"model":"codellama:7b","created_at":"T","response":" a","done":false}
{"model":"codellama:7b","created_at":"T","response":" binary","done":false}
{"model":"codellama:7b","created_at":"T","response":" search","done":false}
{"model":"codellama:7b","created_at":"T","response":" write","done":false}
{"model":"codellama:7b","created_at":"T","response":"","done":true,"done_reason":"stop","context":[C],"total_duration":0,"load_duration":0,"prompt_eval_count":4,"prompt_eval_duration":0,"eval_count":6,"eval_duration":0}
--- no_error_log
[error]



=== TEST 15: native vision task: the node with a vision model
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 1, models => [['llava', 'vision']] },
    b => { sim => 'B', ram_free_gb => 32,
           models => [['codellama:7b', 'code']] },
    c => { sim => 'C', ram_free_gb => 64, models => [['mistral:7b', 'text']] });
--- request
POST /mesh/v1/tasks
{"type":"vision","prompt":"what is here","images":["aGVsbG8="]}
--- response_headers
X-Mesh-Node: a
X-Mesh-Model: llava
--- body_normalized
{"event":"routed","task_id":"ID","node":"a","model":"llava"}
{"model":"llava","created_at":"T","response":"[llava]","done":false}
{"model":"llava","created_at":"T","response":" what","done":false}
{"model":"llava","created_at":"T","response":" is","done":false}
{"model":"llava","created_at":"T","response":" here","done":false}
{"model":"llava","created_at":"T","response":"","done":true,"done_reason":"stop","context":[C],"total_duration":0,"load_duration":0,"prompt_eval_count":3,"prompt_eval_duration":0,"eval_count":4,"eval_duration":0}
--- no_error_log
[error]



=== TEST 16: native summarize task: a text model, not the bigger nodes
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 32, models => [['llava', 'vision']] },
    b => { sim => 'B', ram_free_gb => 16,
           models => [['codellama:7b', 'code']] },
    c => { sim => 'C', ram_free_gb => 1, models => [['mistral:7b', 'text']] });
--- request
POST /mesh/v1/tasks
{"type":"summarize","prompt":"long text here"}
--- response_headers
X-Mesh-Node: c
X-Mesh-Model: mistral:7b
--- body_normalized
{"event":"routed","task_id":"ID","node":"c","model":"mistral:7b"}
{"model":"mistral:7b","created_at":"T","response":"[mistral:7b]","done":false}
{"model":"mistral:7b","created_at":"T","response":" long","done":false}
{"model":"mistral:7b","created_at":"T","response":" text","done":false}
{"model":"mistral:7b","created_at":"T","response":"","done":true,"done_reason":"stop","context":[C],"total_duration":0,"load_duration":0,"prompt_eval_count":3,"prompt_eval_duration":0,"eval_count":3,"eval_duration":0}
--- no_error_log
[error]



=== TEST 17: native text task, "stream":false: one JSON object, no routed line
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 32, models => [['llava', 'vision']] },
    b => { sim => 'B', ram_free_gb => 16,
           models => [['codellama:7b', 'code']] },
    c => { sim => 'C', ram_free_gb => 1, models => [['mistral:7b', 'text']] });
--- request
POST /mesh/v1/tasks
{"type":"text","prompt":"hello mesh","stream":false}
--- response_headers
X-Mesh-Node: c
X-Mesh-Model: mistral:7b
--- body_normalized chomp
{"model":"mistral:7b","created_at":"T","response":"[mistral:7b] hello mesh","done":true,"done_reason":"stop","context":[C],"total_duration":0,"load_duration":0,"prompt_eval_count":2,"prompt_eval_duration":0,"eval_count":3,"eval_duration":0}
--- no_error_log
[error]



=== TEST 18: code task, no code model in the mesh: a text model serves it
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 32, models => [['llava', 'vision']] },
    c => { sim => 'C', ram_free_gb => 1, models => [['mistral:7b', 'text']] });
--- request
POST /mesh/v1/tasks
{"type":"code","prompt":"fizz buzz","stream":false}
--- response_headers
X-Mesh-Node: c
X-Mesh-Model: mistral:7b
--- response_body_like: ^\{"model":"mistral:7b","created_at":"[^"]+","response":"\[mistral:7b\] fizz buzz","done":true,
--- no_error_log
[error]



=== TEST 19: code task, the only code model is full: wait for it, no text
fallback (mesh_queue_size 0: the answer is 503 at once)
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_size 0;\n")
--- init
Mesh::Orch::scene(
    b => { sim => 'B', active_tasks => 1, max_tasks => 1,
           models => [['codellama:7b', 'code']] },
    c => { sim => 'C', models => [['mistral:7b', 'text']] });
--- request
POST /mesh/v1/tasks
{"type":"code","prompt":"fizz buzz"}
--- error_code: 503
--- response_body_like: "reason":"no_capable_node"
--- no_error_log
[error]



=== TEST 20: native task with a model: the model decides, not the type
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 1, models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 32,
           models => [['codellama:7b', 'code']] });
--- request
POST /mesh/v1/tasks
{"type":"code","model":"mistral:7b","prompt":"x y","stream":false}
--- response_headers
X-Mesh-Node: a
X-Mesh-Model: mistral:7b
--- response_body_like: "response":"\[mistral:7b\] x y x","done":true
--- no_error_log
[error]



=== TEST 21: a task that outlasted a load flush has ended: the next one sees the node idle again
The first task's +1 reached Redis and came back while it ran; the -1 is
still on its way when the second request comes.  The node is idle here
(this nginx's count is exact), so registry order still wins.  Heartbeats
3 s apart, as agents send them: a stand-in's every 200 ms would reset the
count in between.
--- init
Mesh::Orch::scene(
    'tie-s' => { sim => 'S', ram_free_gb => 4, interval_ms => 3000,
                 models => [['mistral:7b', 'text']] },
    'tie-t' => { sim => 'C', ram_free_gb => 4, interval_ms => 3000,
                 models => [['mistral:7b', 'text']] });
--- request eval
[ map { qq(POST /api/generate\n{"model":"mistral:7b","prompt":"t","stream":false}) } 1 .. 3 ]
--- response_headers eval
[ ("X-Mesh-Node: tie-s\nX-Mesh-Model: mistral:7b\n") x 3 ]
--- response_body_like eval
[ ('"response":"\[mistral:7b\] t t","done":true') x 3 ]
--- no_error_log
[error]



=== TEST 22: a model a node adds in a heartbeat is routed to at once
The first task makes this worker index the nodes' models (no llava
anywhere); the heartbeat that adds llava to a must reach the next
routing decision.
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 4, models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 6, models => [['mistral:7b', 'text']] });
Mesh::Orch::http('POST', '/api/generate',
                 '{"model":"mistral:7b","prompt":"x","stream":false}');
Mesh::Orch::node_set(a => ram_free_gb => 5,
                     models => [['mistral:7b', 'text'], ['llava', 'vision']]);
--- request
POST /api/generate
{"model":"llava","prompt":"describe this","stream":false}
--- response_headers
X-Mesh-Node: a
X-Mesh-Model: llava
--- response_body_like: "response":"\[llava\] describe this describe","done":true
--- no_error_log
[error]



=== TEST 23: a code model a node adds in a heartbeat takes code tasks at once
Before it, code tasks fall back to text models (b, more RAM); after it,
the node with the code model serves them, by type.
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 4, models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 6, models => [['mistral:7b', 'text']] });
Mesh::Orch::http('POST', '/mesh/v1/tasks',
                 '{"type":"code","prompt":"x","stream":false}');
Mesh::Orch::node_set(a => ram_free_gb => 5,
                     models => [['mistral:7b', 'text'],
                                ['codellama:7b', 'code']]);
--- request
POST /mesh/v1/tasks
{"type":"code","prompt":"fizz buzz","stream":false}
--- response_headers
X-Mesh-Node: a
X-Mesh-Model: codellama:7b
--- response_body_like: "response":"\[codellama:7b\] fizz buzz fizz","done":true
--- no_error_log
[error]
