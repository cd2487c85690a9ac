# The node API (mesh_node_api): heartbeat needs the mesh credential (401
# otherwise, and the node is not listed), bad capability bodies get 400
# naming the field, bodies over mesh_node_body_max 413; leave removes the
# node; GET /mesh/v1/nodes lists every field; a heartbeat writes the
# mesh:node:<id> hash and the mesh:nodes sorted set in Redis.
# Heartbeats here are plain requests of the block, no stand-in node.
use strict;
use warnings;

use JSON::PP ();
use Test::Nginx::Socket;
use Mesh::Node;
use Mesh::Orch;

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--tokens', 3, '--token-delay-ms', 10,
                '--model', 'mistral:7b');


# A heartbeat body: the canonical capabilities with %o merged in (a key
# whose value is undef is left out; "hardware.x" sets a nested key).
sub caps {
    my (%o) = @_;
    my %c = (
        node_id => 'n1', host => '127.0.0.1', port => 50052,
        models => [ { name => 'mistral:7b', type => 'text', size_gb => 4.1 },
                    { name => 'llava', type => 'vision', size_gb => 4.5,
                      loaded => JSON::PP::true } ],
        hardware => { ram_total_gb => 16, ram_free_gb => 6.25,
                      has_gpu => JSON::PP::true, gpu_vram_gb => 8 },
        status => 'idle', active_tasks => 2, max_tasks => 4, queued => 1,
        tokens_per_sec => 31.5, agent_version => '0.1.0',
    );
    while (my ($k, $v) = each %o) {
        my $h = \%c;
        ($h, $k) = ($c{$1}, $2) if $k =~ /^(\w+)\.(\w+)$/;
        if (defined $v) { $h->{$k} = $v } else { delete $h->{$k} }
    }
    return JSON::PP->new->canonical->encode(\%c);
}

sub hb    { "POST /mesh/v1/nodes/heartbeat\n" . caps(@_) }

# A heartbeat sent from --- init; returns the status.
sub send_hb {
    my $body = caps(@_);
    my ($code) = Mesh::Orch::http('POST', '/mesh/v1/nodes/heartbeat', $body,
        Authorization => Mesh::Sign::node($Mesh::Node::SECRET, 'POST',
                                          '/mesh/v1/nodes/heartbeat', $body));
    return $code;
}
sub leave { "POST /mesh/v1/nodes/leave\n" . qq({"node_id":"$_[0]"}) }

# The capabilities as the module writes them (Redis, events, node list).
our $CAPS_N1 = '{"node_id":"n1","host":"127.0.0.1","port":50052,'
    . '"models":[{"name":"mistral:7b","type":"text","size_gb":4.1,'
    . '"loaded":false},{"name":"llava","type":"vision","size_gb":4.5,'
    . '"loaded":true}],"hardware":{"ram_total_gb":16,"ram_free_gb":6.25,'
    . '"has_gpu":true,"gpu_vram_gb":8},"status":"idle","active_tasks":2,'
    . '"max_tasks":4,"queued":1,"tokens_per_sec":31.5,'
    . '"agent_version":"0.1.0"';

add_block_preprocessor(sub {
    my ($block) = @_;
    $block->set_value(init => "Mesh::Orch::scene();\n")
        unless defined $block->init;
});

# --- then_wait eval: a condition polled (Mesh::Orch::wait_until) after
# the block's first response, before its next request.  A heartbeat that
# came while the first request's task ran counts that task as the node's
# own, so the list shows the node's load again only after the next
# heartbeat: under memcheck the task runs long enough for one to come.
# The task must have ended here first (tasks_done): until then the list
# counts it as this nginx's.  A heartbeat signed in the second it ended
# (or the one before) has it taken off (t/099), and the stand-in always
# reports 1, so the load reads 0 until a heartbeat signed after that
# second: the block waits for one received 2 s after it saw the end
# (its heartbeats are signed in whole seconds and sent one at a time).
add_response_body_check(sub {
    my ($block, $body, $idx, $rep, $dry) = @_;
    my $cond = $block->then_wait;
    return if !defined $cond || $idx != 0 || $dry;
    Mesh::Orch::wait_until($cond);
});

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: heartbeat without a credential: 401, the node is not listed
--- request eval
main::hb()
--- error_code: 401
--- response_body
{"error":"a valid mesh credential is required"}
--- registry_ids
--- error_log
mesh: node request without a valid credential
--- no_error_log
[error]




=== TEST 2: a wrong secret: 401, not listed
--- request eval
[ main::hb(), "GET /mesh/v1/nodes" ]
--- more_headers
Authorization: Bearer test-mesh-secret-0123456789abcdeX
--- error_code eval
[401, 200]
--- response_body eval
[ qq({"error":"a valid mesh credential is required"}\n),
  qr/^\{"nodes":\[\],/ ]
--- no_error_log
[error]



=== TEST 3: the right secret with one more byte, another scheme, no scheme
--- request eval
[ main::hb(), main::hb(), main::hb(), "GET /mesh/v1/nodes" ]
--- more_headers eval
[ "Authorization: Bearer ${Mesh::Node::SECRET}x",
  "Authorization: Basic $Mesh::Node::SECRET",
  "Authorization: $Mesh::Node::SECRET",
  "" ]
--- error_code eval
[401, 401, 401, 200]
--- response_body_like eval
[ ('"a valid mesh credential is required"') x 3, '^\{"nodes":\[\],' ]
--- no_error_log
[error]



=== TEST 4: the right secret: 200 with the interval, the node is listed
--- request eval
[ main::hb(), "GET /mesh/v1/nodes" ]
--- signed
--- error_code eval
[200, 200]
--- response_body eval
[ qq({"ok":true,"heartbeat_interval_ms":3000}\n),
  qr/^\{"nodes":\[\{"node_id":"n1",/ ]
--- no_error_log
[error]
[warn]



=== TEST 5: the interval in the reply is mesh_heartbeat_interval
--- http_config eval
Mesh::Orch::http_config("    mesh_heartbeat_interval 1500ms;\n")
--- request eval
main::hb()
--- signed
--- response_body
{"ok":true,"heartbeat_interval_ms":1500}
--- no_error_log
[error]



=== TEST 6: GET /mesh/v1/nodes: every field of a node
--- init
Mesh::Orch::scene();
main::send_hb();
--- request
GET /mesh/v1/nodes
--- response_headers
Content-Type: application/json
--- json_is eval
{ nodes => [ {
      node_id => 'n1', host => '127.0.0.1', port => 50052,
      models => [ { name => 'mistral:7b', type => 'text', size_gb => 4.1,
                    loaded => JSON::PP::false },
                  { name => 'llava', type => 'vision', size_gb => 4.5,
                    loaded => JSON::PP::true } ],
      hardware => { ram_total_gb => 16, ram_free_gb => 6.25,
                    has_gpu => JSON::PP::true, gpu_vram_gb => 8 },
      status => 'idle', active_tasks => 2, max_tasks => 4, queued => 1,
      tokens_per_sec => 31.5, agent_version => '0.1.0',
      up => JSON::PP::true, last_seen => qr/^1\d{12}$/,
      # no later than the liveness window (3 s x 3 misses), as "up" says:
      # not a bound on how soon the request follows the heartbeat
      last_seen_ago_ms => sub { $_[0] >= 0 && $_[0] < 9000 },
      recent_tokens_per_sec => 0, tasks_done => 0, tasks_failed => 0,
      ejected => JSON::PP::false, ejected_for_ms => 0, ejections => 0,
      consecutive_failures => 0 } ],
  queued => 0, generation => qr/^[1-9]\d*$/ }
--- no_error_log
[error]




=== TEST 7: Redis after a heartbeat: the node's hash and the live set
--- request eval
main::hb()
--- signed
--- response_body
{"ok":true,"heartbeat_interval_ms":3000}
--- redis eval
"TYPE mesh:node:n1 ~ ^hash\$
HGET mesh:node:n1 caps ~ ^\Q$main::CAPS_N1}\E\$
HGET mesh:node:n1 last_seen ~ ^1\\d{12}\$
HGET mesh:node:n1 active ~ ^2\$
TYPE mesh:nodes ~ ^zset\$
ZRANGE mesh:nodes 0 -1 ~ \\An1\\n\\z
ZSCORE mesh:nodes n1 ~ ^1\\d{12}\$"
--- no_error_log
[error]



=== TEST 8: leave: 200, the node is no longer listed, Redis forgets it
--- init
Mesh::Orch::scene();
main::send_hb();
main::send_hb(node_id => 'n2');
--- request eval
main::leave('n1')
--- signed
--- response_body
{"ok":true}
--- registry_ids
n2
--- redis
EXISTS mesh:node:n1 ~ ^0$
EXISTS mesh:node:n2 ~ ^1$
ZRANGE mesh:nodes 0 -1 ~ \An2\n\z
--- error_log
mesh: node "n1" left
--- no_error_log
[error]




=== TEST 9: leave of a node the registry does not have: 200, nothing changes
--- init
Mesh::Orch::scene();
main::send_hb();
--- request eval
main::leave('n9')
--- signed
--- response_body
{"ok":true}
--- registry_ids
n1
--- no_error_log
[error]
mesh: node "n9" left




=== TEST 10: leave without a credential: 401, the node stays
--- request eval
[ main::hb(), main::leave('n1'), "GET /mesh/v1/nodes" ]
--- signed eval
[1, 0, 0]
--- error_code eval
[200, 401, 200]
--- response_body_like eval
[ '^\{"ok":true,', 'a valid mesh credential is required',
  '^\{"nodes":\[\{"node_id":"n1",' ]
--- no_error_log
[error]



=== TEST 11: leave with a bad body: 400
--- request eval
[ "POST /mesh/v1/nodes/leave\n{\"node\":\"n1\"}",
  "POST /mesh/v1/nodes/leave\n{\"node_id\":\"bad id\"}",
  "POST /mesh/v1/nodes/leave\nn1" ]
--- signed
--- error_code eval
[400, 400, 400]
--- response_body eval
[ qq({"error":"\\"node_id\\" is missing"}\n),
  qq({"error":"\\"node_id\\" must be 1-63 characters of A-Z a-z 0-9 . _ -"}\n),
  qr/^\{"error":"invalid JSON at byte \d+: [^"]+"\}$/ ]
--- no_error_log
[error]



=== TEST 12: the host must be an IP literal (no names: workers never resolve)
--- request eval
[ main::hb(host => 'localhost'), main::hb(host => '10.0.0.1:80'),
  main::hb(host => ''), main::hb(host => '::1'), "GET /mesh/v1/nodes" ]
--- signed
--- error_code eval
[400, 400, 400, 200, 200]
--- response_body_like eval
[ ('^\{"error":"\\\\"host\\\\" must be an IPv4 or IPv6 address"\}$') x 3,
  '^\{"ok":true,', '"node_id":"n1","host":"::1",' ]
--- no_error_log
[error]



=== TEST 13: bad ports
--- request eval
[ main::hb(port => 0), main::hb(port => 65536), main::hb(port => '8080'),
  main::hb(port => 80.5), main::hb(port => -1), "GET /mesh/v1/nodes" ]
--- signed
--- error_code eval
[400, 400, 400, 400, 400, 200]
--- response_body_like eval
[ ('^\{"error":"\\\\"port\\\\" must be an integer 1-65535"\}$') x 5,
  '^\{"nodes":\[\],' ]
--- no_error_log
[error]



=== TEST 14: bad node ids
--- request eval
[ main::hb(node_id => 'a b'), main::hb(node_id => ''),
  main::hb(node_id => 'x' x 64), main::hb(node_id => 'n/1'),
  main::hb(node_id => 7), main::hb(node_id => undef),
  main::hb(node_id => 'x' x 63), "GET /mesh/v1/nodes" ]
--- signed
--- error_code eval
[400, 400, 400, 400, 400, 400, 200, 200]
--- response_body_like eval
[ ('^\{"error":"\\\\"node_id\\\\" must be 1-63 characters of A-Z a-z 0-9 \. _ -"\}$') x 5,
  '^\{"error":"\\\\"node_id\\\\" is missing"\}$',
  '^\{"ok":true,', '^\{"nodes":\[\{"node_id":"x{63}",' ]
--- no_error_log
[error]



=== TEST 15: wrong types
--- request eval
[ main::hb(models => 'mistral'), main::hb('hardware.ram_free_gb' => '6'),
  main::hb('hardware.has_gpu' => 'yes'), main::hb(active_tasks => -1),
  main::hb(hardware => [1]), main::hb(models => [ 'mistral' ]),
  "GET /mesh/v1/nodes" ]
--- signed
--- error_code eval
[400, 400, 400, 400, 400, 400, 200]
--- response_body eval
[ qq({"error":"\\"models\\" must be an array"}\n),
  qq({"error":"\\"hardware.ram_free_gb\\" must be a number >= 0 and < 1000000"}\n),
  qq({"error":"\\"hardware.has_gpu\\" must be true or false"}\n),
  qq({"error":"\\"active_tasks\\" must be an integer 0-999999"}\n),
  qq({"error":"\\"hardware\\" must be an object"}\n),
  qq({"error":"\\"models[0]\\" must be an object"}\n),
  qr/^\{"nodes":\[\],/ ]
--- no_error_log
[error]



=== TEST 16: an unknown status, an unknown model type, a bad model name
--- request eval
[ main::hb(status => 'sleeping'),
  main::hb(models => [ { name => 'x', type => 'audio', size_gb => 1 } ]),
  main::hb(models => [ { name => 'my model', type => 'text', size_gb => 1 } ]),
  "GET /mesh/v1/nodes" ]
--- signed
--- error_code eval
[400, 400, 400, 200]
--- response_body eval
[ qq({"error":"unknown status \\"sleeping\\""}\n),
  qq({"error":"unknown model type \\"audio\\""}\n),
  qr/^\{"error":"\\"models\[0\]\.name\\" must be [^"]+"\}$/,
  qr/^\{"nodes":\[\],/ ]
--- no_error_log
[error]



=== TEST 17: not JSON, an empty body, more than 32 models
--- request eval
[ "POST /mesh/v1/nodes/heartbeat\nnode_id=n1",
  "POST /mesh/v1/nodes/heartbeat\n",
  main::hb(models => [ map { { name => "m$_", type => 'text',
                               size_gb => 1 } } 1 .. 33 ]),
  "GET /mesh/v1/nodes" ]
--- more_headers eval
[ "", "Content-Length: 0", "", "" ]
--- signed
--- error_code eval
[400, 400, 400, 200]
--- response_body eval
[ qr/^\{"error":"invalid JSON at byte \d+: [^"]+"\}$/,
  qq({"error":"a JSON body is required"}\n),
  qq({"error":"\\"models\\" has more than 32 entries"}\n),
  qr/^\{"nodes":\[\],/ ]
--- no_error_log
[error]



=== TEST 18: a body over mesh_node_body_max: 413 (Content-Length, chunked)
--- http_config eval
Mesh::Orch::http_config("    mesh_node_body_max 1k;\n")
--- request eval
my $big = main::caps(agent_version => 'v' x 30,
    models => [ map { { name => "model-$_", type => 'text', size_gb => 1 } }
                1 .. 20 ]);
[ "POST /mesh/v1/nodes/heartbeat\n$big",
  [ "POST /mesh/v1/nodes/heartbeat\n",
    sprintf("%x\r\n%s\r\n0\r\n\r\n", length $big, $big) ],
  "GET /mesh/v1/nodes" ]
--- more_headers eval
[ "", "Transfer-Encoding: chunked", "" ]
--- signed
--- error_code eval
[413, 413, 200]
--- response_body eval
[ qq({"error":"request body is too large"}\n),
  qq({"error":"request body is too large"}\n),
  qr/^\{"nodes":\[\],/ ]
--- no_error_log
[error]



=== TEST 19: the node API's other paths and methods
--- request eval
[ "GET /mesh/v1/nodes/heartbeat", "PUT /mesh/v1/nodes/heartbeat\n{}",
  "POST /mesh/v1/nodes/join\n{}", "DELETE /mesh/v1/nodes" ]
--- signed
--- error_code eval
[404, 405, 404, 405]
--- response_body eval
[ qq({"error":"no such endpoint"}\n), qq({"error":"method not allowed"}\n),
  qq({"error":"no such endpoint"}\n), qq({"error":"method not allowed"}\n) ]
--- no_error_log
[error]



=== TEST 20: a draining node is listed, not up
--- request eval
[ main::hb(status => 'draining'), "GET /mesh/v1/nodes" ]
--- signed
--- response_body_like eval
[ '^\{"ok":true,',
  '^\{"nodes":\[\{"node_id":"n1",.*"status":"draining",.*"up":false,' ]
--- no_error_log
[error]



=== TEST 21: load and tasks in the list after a task ran on the node
A stand-in node (its heartbeats report 1 task of 3); the node list shows
the task done and its tokens/s.
--- init
Mesh::Orch::scene(a => { sim => 'A', active_tasks => 1, max_tasks => 3,
                         models => [['mistral:7b', 'text']] });
--- request eval
[ "POST /api/generate\n{\"model\":\"mistral:7b\",\"prompt\":\"x\"}",
  "GET /mesh/v1/nodes" ]
--- then_wait eval
my $done_at;
sub { my $n = Mesh::Orch::nodes()->{a} // {};
      return 0 unless ($n->{tasks_done} // 0) == 1;
      $done_at //= time;
      ($n->{active_tasks} // -1) == 1
          && ($n->{last_seen} // 0) >= (int($done_at) + 2) * 1000 }
--- response_body_like eval
[ '"done":true',
  '^\{"nodes":\[\{"node_id":"a",.*"active_tasks":1,"max_tasks":3,.*"up":true,.*"recent_tokens_per_sec":[1-9][\d.e+]*,"tasks_done":1,"tasks_failed":0,"ejected":false,"ejected_for_ms":0,"ejections":0,"consecutive_failures":0\}\],"queued":0,' ]
--- no_error_log
[error]



=== TEST 22: the registry (Redis) is unavailable: heartbeats get 503
--- http_config eval
my $dead = Mesh::Proc::free_port();
Mesh::Orch::http_config() =~ s/\$TEST_NGINX_REDIS_PORT/$dead/r
--- init
--- request eval
main::hb()
--- signed
--- error_code: 503
--- response_body
{"error":"the registry is unavailable, retry later"}
--- no_error_log
[error]
