# SIGTERM drains echo-agent: new tasks get 503, the orchestrator is told
# the node leaves, running streams finish, and the agent exits 0.  Past
# the drain timeout, running streams end with an error line.
use strict;
use warnings;

use Test::More;

use Mesh::Agent;
use Mesh::FakeOrchestrator;
use Mesh::Proc;

my $orch = Mesh::FakeOrchestrator->start(secret => $Mesh::Agent::SECRET);
my $sim  = Mesh::Agent::start_sim('--tokens', 30, '--token-delay-ms', 50);
my $gen  = '{"model":"llama3.2","prompt":"finish what you started"}';

subtest 'SIGTERM lets running tasks finish' => sub {
    my $agent = Mesh::Agent::start(
        sim => $sim, node_id => 'node-d', orchestrator => $orch->url,
        args => ['--heartbeat-interval', '300ms', '--drain-timeout', '20s']);
    ok Mesh::Agent::wait_for(sub { $orch->heartbeats >= 1 }, 10), 'joined';

    my ($sock, $data) = Mesh::Agent::open_stream($agent, '/api/generate',
                                                 $gen);
    like $data, qr{^HTTP/1.1 200}, 'a task is streaming';
    ok $agent->signal('TERM'), 'SIGTERM sent';

    ok Mesh::Agent::wait_for(sub { $orch->leaves >= 1 }, 10),
        'the orchestrator is told the node leaves';
    my ($leave) = $orch->leaves;
    ok $leave->{auth_ok}, 'with the mesh secret';
    is $leave->{body}{node_id}, 'node-d', 'naming the node';

    my $res = Mesh::Agent::call($agent, POST => '/api/generate', $gen);
    is $res->code, 503, 'a new task during the drain: 503';
    like Mesh::Agent::json($res->content)->{error}, qr/draining/,
        'the node is draining';
    is Mesh::Agent::call($agent, GET => '/healthz')->code, 503,
        '/healthz says 503 while draining';

    my $beats = $orch->heartbeats;
    $data = Mesh::Agent::read_rest($sock, $data);
    my ($status, $body) = Mesh::Agent::parse_chunked($data);
    is $status, 200, 'the running task';
    is scalar(() = $body =~ /\n/g), 31, 'streamed all 30 tokens';
    like $body, qr/"done":true[^\n]*\n\z/, 'and its done line';
    unlike $body, qr/"error"/, 'without an error';

    is $agent->wait_exit(10 * $Mesh::Agent::SLOW), 0, 'then exits 0';
    is scalar($orch->heartbeats), $beats, 'no heartbeat after leaving';
    ok $agent->stop, 'clean exit';
    like $agent->log_text, qr/SIGTERM: draining/, 'the drain is logged';
};

subtest 'the drain timeout cuts what still runs' => sub {
    my $long = Mesh::Agent::start_sim('--tokens', 400,
                                      '--token-delay-ms', 50);
    my $agent = Mesh::Agent::start(
        sim => $long, node_id => 'node-e',
        args => ['--drain-timeout', '500ms']);
    my ($sock, $data) = Mesh::Agent::open_stream($agent, '/api/generate',
                                                 $gen);
    like $data, qr{^HTTP/1.1 200}, 'a long task is streaming';
    $agent->signal('TERM');
    $data = Mesh::Agent::read_rest($sock, $data);
    my ($status, $body) = Mesh::Agent::parse_chunked($data);
    my @lines = split /\n/, $body;
    like $lines[-1], qr/^\{"error":"the node is shutting down[^"]*"\}$/,
        'the stream ends with an error line';
    unlike $body, qr/"done":true/, 'not with a done line';
    # 400 tokens take 20 s: cut by the 500 ms timeout, far fewer arrive
    cmp_ok scalar(@lines) - 1, '<', 400, 'cut before the end of the stream';
    is $agent->wait_exit(10 * $Mesh::Agent::SLOW), 0, 'exit 0';
    ok $agent->stop, 'clean exit';
    ok Mesh::Agent::wait_for(sub {
            Mesh::Agent::sim_stats($long)->{cancelled} == 1 }, 10),
        'the cut task stopped in Ollama too';
    $long->stop;
};

subtest 'SIGINT drains too' => sub {
    my $agent = Mesh::Agent::start(sim => $sim, node_id => 'node-i');
    ok $agent->signal('INT'), 'SIGINT sent';
    is $agent->wait_exit(10 * $Mesh::Agent::SLOW), 0, 'exit 0';
    ok $agent->stop, 'clean exit';
};

$orch->stop;
$sim->stop;
done_testing;
