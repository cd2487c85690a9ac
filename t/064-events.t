# Events on the mesh:events channel (README, "Redis layout and events"):
# each block subscribes on the test's Redis in --- init, before what it
# observes, and --- events compares the events that follow, one line each:
# "kind key=value ..." with keys sorted, task ids numbered in order of
# appearance (#1 is the task of the block's reply), measured values
# (duration_ms, tokens_per_sec) shown as N.  Task events reach Redis as
# one EVAL per flush, or one PUBLISH each where Redis refuses EVAL (TEST
# 12, 13).
use strict;
use warnings;

use Digest::SHA ();
use Test::Nginx::Socket;
use Mesh::Orch;

# down after 10 missed heartbeats of 200 ms (more under valgrind): a live
# node's heartbeats, late on a busy machine, must never look like silence
our $MISSES = $ENV{TEST_NGINX_USE_VALGRIND} ? 25 : 10;

Mesh::Orch::suite(http_extra => "    mesh_heartbeat_interval 200ms;\n"
                              . "    mesh_heartbeat_misses $MISSES;\n");
Mesh::Orch::sim('A', '--tokens', 3, '--token-delay-ms', 5,
                '--model', 'mistral:7b', '--model', 'codellama:7b');
# slow replies: the load of a running task is seen before it ends (the
# module sums load changes for a short while before telling Redis)
Mesh::Orch::sim('S', '--tokens', 3, '--token-delay-ms', 150,
                '--model', 'mistral:7b');

sub node_a {
    my (%o) = @_;
    Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text'],
                                                    ['codellama:7b', 'code']],
                             %o });
}

# the capabilities of a node that serves no task in its block, as its
# node.join/up/update/heartbeat event carries them, with "by" (the nginx
# that published it: its own workers skip it, ngx_http_mesh_sync.c) and
# "sent" (the heartbeat's signed time, S: see Mesh::Orch::event_line)
our %IDLE = (port => 50052, ram_free_gb => 6, ram_total_gb => 16,
             models => [['llava', 'vision', 4.5]]);
our $IDLE_CAPS = 'active_tasks=0 agent_version=test by=ORCH '
    . 'hardware={"gpu_vram_gb":0,"has_gpu":false,"ram_free_gb":6,'
    . '"ram_total_gb":16} host=127.0.0.1 max_tasks=4 '
    . 'models=[{"loaded":false,"name":"llava","size_gb":4.5,'
    . '"type":"vision"}]';

# a native code task on node a, and its events (as TEST 1's)
our $CODE_TASK = qq(POST /mesh/v1/tasks\n{"type":"code","prompt":"sort it"});
our $CODE_EVENTS = <<'_EOE_';
task.routed model=codellama:7b node_id=a task_id=#1 type=code
task.first_token model=codellama:7b node_id=a task_id=#1 type=code
task.done duration_ms=N model=codellama:7b node_id=a task_id=#1 tokens=3 tokens_per_sec=N type=code
_EOE_

# the script that publishes a flush's task events (ngx_http_mesh_events.c)
our $EVENTS_SCRIPT =
    "for i = 2, #ARGV do redis.call('PUBLISH', ARGV[1], ARGV[i]) end";

# TEST 13 takes EVAL away from Redis' default user: every block gives it back
add_test_cleanup_handler(sub {
    Mesh::Orch::redis('ACL', 'SETUSER', 'default', '+eval');
});

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: a native task: routed, first token, done with its tokens
--- init
main::node_a();
Mesh::Orch::subscribe();
--- request
POST /mesh/v1/tasks
{"type":"code","prompt":"sort it"}
--- response_headers
X-Mesh-Node: a
--- events
task.routed model=codellama:7b node_id=a task_id=#1 type=code
task.first_token model=codellama:7b node_id=a task_id=#1 type=code
task.done duration_ms=N model=codellama:7b node_id=a task_id=#1 tokens=3 tokens_per_sec=N type=code
--- no_error_log
[error]



=== TEST 2: an Ollama API task, "stream":false: routed and done (a reply in
one piece has no first token of its own)
--- init
main::node_a();
Mesh::Orch::subscribe();
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"one","stream":false}
--- response_body_like: "eval_count":3,
--- events
task.routed model=mistral:7b node_id=a task_id=#1 type=text
task.done duration_ms=N model=mistral:7b node_id=a task_id=#1 tokens=3 tokens_per_sec=N type=text
--- no_error_log
[error]



=== TEST 3: the node's load during a task (node.load, mesh-wide count)
--- init
Mesh::Orch::scene(a => { sim => 'S', models => [['mistral:7b', 'text']] });
Mesh::Orch::subscribe();
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"one"}
--- events_filter: ^node\.load
--- events
node.load active=1 by=ORCH node_id=a
node.load active=0 by=ORCH node_id=a
--- no_error_log
[error]



=== TEST 4: a task waits for a busy node: queued, then routed when it frees
a is full (1 of 1) until its heartbeats report 0 tasks, once the task
waits.
--- init
main::node_a(active_tasks => 1, max_tasks => 1);
Mesh::Orch::subscribe();
Mesh::Orch::later(sub { Mesh::Orch::nodes_queued() == 1 }, sub {
    $Mesh::Orch::Nodes{a}->set(active_tasks => 0);
});
--- request
POST /mesh/v1/tasks
{"type":"text","prompt":"wait"}
--- response_headers
X-Mesh-Node: a
--- events
task.queued position=1 task_id=#1
task.routed model=mistral:7b node_id=a task_id=#1 type=text
task.first_token model=mistral:7b node_id=a task_id=#1 type=text
task.done duration_ms=N model=mistral:7b node_id=a task_id=#1 tokens=3 tokens_per_sec=N type=text
--- no_error_log
[error]



=== TEST 5: a waiting client goes away: queued, then cancelled
The client of --- init sends a task that must wait (a is full), and
closes its connection once the task is queued.
--- init
main::node_a(active_tasks => 1, max_tasks => 1);
Mesh::Orch::subscribe();
my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => Mesh::Orch::port());
my $body = '{"type":"text","prompt":"gone"}';
print $c "POST /mesh/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: "
    . length($body) . "\r\n\r\n$body";
Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == 1 }, 5);
close $c;
Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == 0 }, 5);
--- request
GET /mesh/v1/nodes
--- response_body_like: "queued":0,
--- events
task.queued position=1 task_id=#1
task.cancelled reason=client_gone task_id=#1
--- no_error_log
[error]



=== TEST 6: a task that waits past mesh_queue_ttl: queued, then expired
--- http_config eval
Mesh::Orch::http_config("    mesh_heartbeat_interval 200ms;\n"
                        . "    mesh_heartbeat_misses $main::MISSES;\n"
                        . "    mesh_queue_ttl 300ms;\n")
--- init
main::node_a(active_tasks => 1, max_tasks => 1);
Mesh::Orch::subscribe();
--- request
POST /mesh/v1/tasks
{"type":"text","prompt":"late"}
--- error_code: 503
--- response_body_like: ^\{"error":"no capable node is free","reason":"queue_timeout","estimated_wait_s":\d+\}$
--- events
task.queued position=1 task_id=#1
task.expired task_id=#1
--- no_error_log
[error]



=== TEST 7: node.join on a node's first heartbeat, with its capabilities
--- init
Mesh::Orch::scene();
Mesh::Orch::subscribe();
Mesh::Orch::scene_add(joiner => { %main::IDLE });
--- request
GET /mesh/v1/nodes
--- registry_ids: joiner
--- events_filter: ^node\.(join|up|update|down|leave)
--- events_until: ^node\.join
--- events eval
"node.join $main::IDLE_CAPS node_id=joiner port=50052 queued=0 sent=S status=idle tokens_per_sec=0\n"
--- error_log
mesh: node "joiner" joined from 127.0.0.1:50052
--- no_error_log
[error]



=== TEST 8: node.update when a node's models change
--- init
Mesh::Orch::scene(upd => { %main::IDLE });
Mesh::Orch::subscribe();
Mesh::Orch::node_set(upd => models => [['llava', 'vision', 4.5],
                                       ['mistral:7b', 'text', 4.1]]);
Mesh::Orch::wait_until(sub {
    (Mesh::Orch::http('GET', '/api/tags'))[1] =~ /"mistral:7b"/ }, 5);
--- request
GET /api/tags
--- response_body_like: "name":"mistral:7b"
--- events_filter: ^node\.(join|up|update|down|leave)
--- events_until: ^node\.update
--- events eval
my $models = 'models=[{"loaded":false,"name":"llava","size_gb":4.5,"type":"vision"},{"loaded":false,"name":"mistral:7b","size_gb":4.1,"type":"text"}]';
(my $caps = $main::IDLE_CAPS) =~ s/models=\S+/$models/;
"node.update $caps node_id=upd port=50052 queued=0 sent=S status=idle tokens_per_sec=0\n"
--- no_error_log
[error]



=== TEST 9: node.down for a node that stops heartbeating
--- init
Mesh::Orch::scene(quiet => { %main::IDLE });
Mesh::Orch::subscribe();
Mesh::Orch::silence('quiet');
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"quiet",.*"up":false,
--- events_filter: ^node\.(join|up|update|down|leave)
--- events
node.down node_id=quiet
--- error_log eval
qr/\[warn\] .*mesh: node "quiet" is down: no heartbeat for \d+ ms/
--- no_error_log
[error]



=== TEST 10: node.up when a silent node heartbeats again
--- init
Mesh::Orch::scene(back => { %main::IDLE });
Mesh::Orch::silence('back');
Mesh::Orch::subscribe();
Mesh::Orch::resume('back');
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"back",.*"up":true,
--- events_filter: ^node\.(join|up|update|down|leave)
--- events_until: ^node\.up
--- events eval
"node.up $main::IDLE_CAPS node_id=back port=50052 queued=0 sent=S status=idle tokens_per_sec=0\n"
--- error_log
mesh: node "back" is up
--- no_error_log
[error]



=== TEST 11: node.leave
--- init
Mesh::Orch::scene(bye => { %main::IDLE });
Mesh::Orch::subscribe();
Mesh::Orch::leave('bye');
--- request
GET /mesh/v1/nodes
--- registry_ids
--- events_filter: ^node\.(join|up|update|down|leave)
--- events
node.leave node_id=bye
--- no_error_log
[error]



=== TEST 12: a flush's task events go to Redis as one EVAL of the
module's script (Redis keeps each script EVAL ran: SCRIPT EXISTS)
--- init
main::node_a();
Mesh::Orch::redis('SCRIPT', 'FLUSH');
Mesh::Orch::subscribe();
--- request eval
$main::CODE_TASK
--- events eval
$main::CODE_EVENTS
--- redis eval
"SCRIPT EXISTS " . Digest::SHA::sha1_hex($main::EVENTS_SCRIPT) . " ~ ^1\$\n"
--- no_error_log
[error]



=== TEST 13: Redis refuses EVAL (an ACL without it): the same events
arrive, each its own PUBLISH, and the refusal is logged
--- init
main::node_a();
Mesh::Orch::redis('ACL', 'SETUSER', 'default', '-eval');
Mesh::Orch::subscribe();
--- request eval
$main::CODE_TASK
--- events eval
$main::CODE_EVENTS
--- error_log eval
qr/\[warn\] .*mesh: redis refused the EVAL that publishes task events \("NOPERM[^"]*"\), one PUBLISH each for the next 60 s/
--- no_error_log
[error]
