# Failover with real agents: two echo-agents (each before its own
# ollama-sim) serve the same model.  A node killed before a request is
# skipped invisibly and marked down at once; a node killed mid-stream
# ends the client's stream with an explicit error line and a cut chunked
# transfer; a node whose Ollama answers 503 busy is retried elsewhere.
# Load counters come back to 0 (zone and Redis) whatever happened.
#
# Which node the router prefers is made certain by load, not left to the
# RAM tie-break: a task sent straight to agent b (bypassing nginx) makes
# b report one active task, so a is preferred.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;
use Mesh::Proc;

our ($Cut, $Killed, $Task);

# agents beat every 300 ms; 10 misses (3 s) before "down": a loaded
# machine can stall an agent for a second, and no block here waits for
# the heartbeat timeout (down comes from a refused connect)
Mesh::Orch::suite(http_extra => "    mesh_heartbeat_interval 300ms;\n"
                              . "    mesh_heartbeat_misses 10;\n",
                  sent_task => 1);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the preferred agent is SIGKILLed before a request: the other node serves it
--- init
Mesh::Chaos::agents(a => {}, b => {});
Mesh::Chaos::load_directly('b');
$Mesh::Chaos::Agent{a}->kill;
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"hello mesh","stream":false,"options":{"num_predict":3}}
--- response_headers
X-Mesh-Node: b
X-Mesh-Model: mistral:7b
--- response_body_like: ^\{"model":"mistral:7b",.*"response":"\[mistral:7b\] hello mesh","done":true,
--- checks
Mesh::Chaos::seen_line(qr/^task\.routed model=mistral:7b node_id=a task_id=T type=text$/, Mesh::Orch::sent_task() => 'T')
Mesh::Chaos::seen_line(qr/^task\.retried model=mistral:7b node_id=a reason=failed task_id=T type=text$/, Mesh::Orch::sent_task() => 'T')
Mesh::Chaos::seen_line(qr/^node\.down node_id=a$/)
Mesh::Chaos::seen_line(qr/^task\.routed model=mistral:7b node_id=b reason=retry task_id=T type=text$/, Mesh::Orch::sent_task() => 'T')
Mesh::Chaos::seen_line(qr/^task\.done duration_ms=N model=mistral:7b node_id=b task_id=T tokens=3 tokens_per_sec=N type=text$/, Mesh::Orch::sent_task() => 'T')
# down at once: no heartbeat timeout could have passed yet
Mesh::Chaos::node('a')->{up} == 0
Mesh::Chaos::node('b')->{up} == 1
Mesh::Chaos::settled_load('a') eq '0/0'
--- error_log
mesh: node "a" is down: connect failed
--- no_error_log
no heartbeat for
[crit]



=== TEST 2: an agent SIGKILLed mid-stream: an explicit error line, a cut transfer, counters back to 0
--- init
Mesh::Chaos::agents(a => { sim => ['--token-delay-ms', 100] },
                    b => { sim => ['--token-delay-ms', 100] });
$main::Cut = Mesh::Chaos::request(
    path => '/mesh/v1/tasks', timeout => 20,
    body => '{"type":"text","prompt":"one two three","options":{"num_predict":60}}',
    on_line => sub {
        my ($line, $r) = @_;
        return if $main::Killed || @{ $r->{lines} } < 3;
        $main::Killed = $r->{headers}{'x-mesh-node'};
        $main::Task = $r->{headers}{'x-mesh-task'};
        $Mesh::Chaos::Agent{$main::Killed}->kill;
    });
--- request
GET /mesh/v1/nodes
--- response_body_like: "queued":0
--- checks
$Cut->{status} == 200 && $Killed =~ /^[ab]$/
$Cut->{lines}[0] eq qq({"event":"routed","task_id":"$Task","node":"$Killed","model":"mistral:7b"})
$Cut->{lines}[1] =~ /^\{"model":"mistral:7b",.*"response":"\[mistral:7b\]","done":false\}$/
$Cut->{lines}[-1] eq qq({"error":"mesh: node \\"$Killed\\" failed mid-stream","node":"$Killed","task_id":"$Task"})
!grep { /"done":true/ } @{ $Cut->{lines} }
# the chunked transfer is cut, never ended with its last chunk
$Cut->{eof} && !$Cut->{clean_end} && $Cut->{raw} !~ /\r\n0\r\n\r\n\z/
Mesh::Chaos::seen_line(qr/^task\.failed model=mistral:7b node_id=$Killed reason=node_failed_mid_stream task_id=T type=text$/, $Task => 'T')
Mesh::Chaos::settled_load($Killed) eq '0/0'
Mesh::Chaos::settled_load($Killed eq 'a' ? 'b' : 'a') eq '0/0'
--- error_log eval
[qr/mesh: node "[ab]" failed mid-stream, task /,
 qr/upstream prematurely closed connection/]
--- no_error_log
[crit]



=== TEST 3: Ollama on the preferred node answers 503 busy: retried on the other node
--- init
# sim a takes one request and queues none: a direct one fills it
Mesh::Chaos::agents(a => { sim => ['--parallel', 1, '--queue', 0,
                                   '--token-delay-ms', 50] },
                    b => {});
Mesh::Chaos::background(
    port => $Mesh::Chaos::Sim{a}->port, path => '/api/generate', timeout => 30,
    body => '{"model":"mistral:7b","prompt":"x","options":{"num_predict":400}}');
Mesh::Orch::wait_until(sub {
    Mesh::SimClient->new($Mesh::Chaos::Sim{a}->port)->stats->{active} == 1 });
Mesh::Chaos::load_directly('b');
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"busy elsewhere","stream":false,"options":{"num_predict":2}}
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] busy","done":true
--- checks
Mesh::SimClient->new($Mesh::Chaos::Sim{a}->port)->stats->{busy_rejected} == 1
Mesh::Chaos::seen_line(qr/^task\.retried model=mistral:7b node_id=a reason=busy task_id=T type=text$/, Mesh::Orch::sent_task() => 'T')
Mesh::Chaos::seen_line(qr/^task\.done duration_ms=N model=mistral:7b node_id=b task_id=T tokens=2 tokens_per_sec=N type=text$/, Mesh::Orch::sent_task() => 'T')
# busy is not down
Mesh::Chaos::node('a')->{up} == 1
Mesh::Chaos::settled_load('a') eq '0/0'
--- no_error_log
[error]
is down
