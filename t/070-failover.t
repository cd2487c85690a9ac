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
use Mesh::Orch;
use Mesh::Proc;

our (%Sim, %Agent, @Bg, $Cut, $Killed, $Task);

Mesh::Orch::suite(http_extra => "    mesh_heartbeat_interval 300ms;\n");

# A fresh mesh for a block: sims and agents "a" and "b" for mistral:7b.
# %sim_args: node id => extra ollama-sim flags.
sub setup {
    my (%sim_args) = @_;
    teardown();
    Mesh::Orch::reset_scene();
    for my $id (qw(a b)) {
        $Sim{$id} = Mesh::Proc::start_sim('--model', 'mistral:7b',
            '--token-delay-ms', 20, @{ $sim_args{$id} || [] });
        $Agent{$id} = Mesh::Chaos::agent($id, $Sim{$id}, '--max-tasks', 4,
                                         '--drain-timeout', '1s');
    }
    Mesh::Chaos::listen();
}

sub teardown {
    $_->stop for @Bg;
    @Bg = ();
    $_->alive && $_->stop for values %Agent, values %Sim;
    %Agent = %Sim = ();
}

add_test_cleanup_handler(\&teardown);

# A long task sent to agent $id directly: the orchestrator learns of it
# only from the agent's heartbeat (active_tasks 1).
sub load_directly {
    my ($id) = @_;
    push @Bg, Mesh::Chaos::background(
        port => $Agent{$id}->port, path => '/api/generate',
        headers => Mesh::Chaos::auth_headers(), timeout => 30,
        body => '{"model":"mistral:7b","prompt":"load",'
              . '"options":{"num_predict":1000}}');
    Mesh::Orch::wait_until(
        sub { (Mesh::Chaos::node($id)->{active_tasks} // 0) == 1 }, 10)
        or Test::More::diag("node $id never reported its direct task");
}

# The node's load as the zone and Redis count it, once both are 0 (or
# what they are after a bounded wait).
sub settled_load {
    my ($id) = @_;
    my ($zone, $redis);
    Mesh::Orch::wait_until(sub {
        $zone = Mesh::Chaos::node($id)->{active_tasks} // -1;
        $redis = Mesh::Chaos::redis('HGET', "mesh:node:$id", 'active');
        return $zone == 0 && $redis eq '0';
    }, 5);
    $Mesh::Chaos::Why = "node $id: zone active_tasks=$zone, "
                        . "redis active=$redis";
    return "$zone/$redis";
}

repeat_each(1);
plan tests => Mesh::Chaos::count_tests();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the preferred agent is SIGKILLed before a request: the other node serves it
--- init
main::setup();
main::load_directly('b');
$main::Agent{a}->kill;
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"hello mesh","stream":false,"options":{"num_predict":3}}
--- response_headers
X-Mesh-Node: b
X-Mesh-Model: mistral:7b
--- response_body_like: ^\{"model":"mistral:7b",.*"response":"\[mistral:7b\] hello mesh","done":true,
--- checks
Mesh::Chaos::event_seen(qr/^task\.routed model=mistral:7b node_id=a type=text$/)
Mesh::Chaos::event_seen(qr/^task\.retried model=mistral:7b node_id=a reason=failed type=text$/)
Mesh::Chaos::event_seen(qr/^node\.down node_id=a$/)
Mesh::Chaos::event_seen(qr/^task\.routed model=mistral:7b node_id=b reason=retry type=text$/)
Mesh::Chaos::event_seen(qr/^task\.done model=mistral:7b node_id=b tokens=\d+ type=text$/)
# down at once: no heartbeat timeout could have passed yet
Mesh::Chaos::node('a')->{up} == 0
Mesh::Chaos::node('b')->{up} == 1
main::settled_load('a') eq '0/0'
--- error_log
mesh: node "a" is down: connect failed
--- no_error_log
no heartbeat for
[crit]



=== TEST 2: an agent SIGKILLed mid-stream: an explicit error line, a cut transfer, counters back to 0
--- init
main::setup(a => ['--token-delay-ms', 100], b => ['--token-delay-ms', 100]);
$main::Cut = Mesh::Chaos::request(
    path => '/mesh/v1/tasks', timeout => 20,
    body => '{"type":"text","prompt":"one two three","options":{"num_predict":60}}',
    on_line => sub {
        my ($line, $r) = @_;
        return if $main::Killed || @{ $r->{lines} } < 3;
        $main::Killed = $r->{headers}{'x-mesh-node'};
        $main::Task = $r->{headers}{'x-mesh-task'};
        $main::Agent{$main::Killed}->kill;
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
Mesh::Chaos::event_seen(qr/^task\.failed model=mistral:7b node_id=$Killed reason=node_failed_mid_stream type=text$/)
main::settled_load($Killed) eq '0/0'
main::settled_load($Killed eq 'a' ? 'b' : 'a') eq '0/0'
--- error_log eval
[qr/mesh: node "[ab]" failed mid-stream, task /,
 qr/upstream prematurely closed connection/]
--- no_error_log
[crit]



=== TEST 3: Ollama on the preferred node answers 503 busy: retried on the other node
--- init
# sim a takes one request and queues none: a direct one fills it
main::setup(a => ['--parallel', 1, '--queue', 0, '--token-delay-ms', 50]);
push @main::Bg, Mesh::Chaos::background(
    port => $main::Sim{a}->port, path => '/api/generate', timeout => 30,
    body => '{"model":"mistral:7b","prompt":"x","options":{"num_predict":400}}');
Mesh::Orch::wait_until(sub {
    Mesh::SimClient->new($main::Sim{a}->port)->stats->{active} == 1 });
main::load_directly('b');
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"busy elsewhere","stream":false,"options":{"num_predict":2}}
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] busy","done":true
--- checks
Mesh::SimClient->new($Sim{a}->port)->stats->{busy_rejected} == 1
Mesh::Chaos::event_seen(qr/^task\.retried model=mistral:7b node_id=a reason=busy type=text$/)
Mesh::Chaos::event_seen(qr/^task\.done model=mistral:7b node_id=b /)
# busy is not down
Mesh::Chaos::node('a')->{up} == 1
main::settled_load('a') eq '0/0'
--- no_error_log
[error]
is down
