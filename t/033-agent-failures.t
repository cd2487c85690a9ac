# echo-agent under failure: a client that hangs up cancels Ollama's work,
# a full node answers 503, Ollama's own errors are relayed as they are,
# and a stream that breaks ends with an error line, never silently.
use strict;
use warnings;

use Test::More;

use Mesh::Agent;
use Mesh::Proc;

my $sim = Mesh::Agent::start_sim('--tokens', 200, '--token-delay-ms', 20);
my $agent = Mesh::Agent::start(
    sim => $sim, node_id => 'node-f',
    args => ['--max-tasks', 1,
             '--heartbeat-interval', $Mesh::Agent::IDLE_INTERVAL]);
my $sim_url = 'http://127.0.0.1:' . $sim->port;
my $gen = '{"model":"llama3.2","prompt":"one two three"}';

sub metric {
    my ($re) = @_;
    my $m = Mesh::Agent::call($agent, GET => '/metrics')->content;
    my ($v) = $m =~ /^\Q$re\E (\S+)$/m;
    return $v;
}

subtest 'a client that hangs up cancels the Ollama request' => sub {
    my $before = Mesh::Agent::sim_stats($sim);
    my ($res, $pieces) = Mesh::Agent::stream($agent, '/api/generate', $gen,
        stop => sub {
            my $text = join '', map { $_->[1] } @{ $_[0] };
            return ($text =~ tr/\n//) >= 3;
        });
    like $res->header('X-Died') // '', qr/client hangs up/,
        'the client left after 3 tokens';
    ok Mesh::Agent::wait_for(sub {
            Mesh::Agent::sim_stats($sim)->{cancelled}
                == $before->{cancelled} + 1 }, 10),
        'the simulator saw the request cancelled';
    my $after = Mesh::Agent::sim_stats($sim);
    is $after->{completed}, $before->{completed}, 'nothing ran to the end';
    is $after->{active}, 0, 'nothing generates for nobody';
    ok Mesh::Agent::wait_for(sub {
            (metric('echo_agent_tasks_total{endpoint="generate",'
                    . 'outcome="cancelled"}') // 0) == 1 }, 10),
        'counted as cancelled';
};

# The next token comes 10 minutes after the first: the slot freeing
# within the (hang-only) deadline shows the hang-up was seen before it.
subtest 'the hang-up is noticed at once, not at the next token' => sub {
    my $slow_sim = Mesh::Agent::start_sim('--tokens', 5,
                                          '--token-delay-ms', 600000);
    my $slow = Mesh::Agent::start(sim => $slow_sim, name => 'slow-agent',
        args => ['--heartbeat-interval', $Mesh::Agent::IDLE_INTERVAL]);
    my ($sock, $data) = Mesh::Agent::open_stream($slow, '/api/generate',
                                                 $gen);
    like $data, qr/\[llama3\.2\]/, 'the first token came';
    close $sock;
    ok Mesh::Agent::wait_for(sub {
            Mesh::Agent::json(Mesh::Agent::call($slow, GET => '/healthz')
                              ->content)->{active_tasks} == 0 }, 30),
        'the task ended before the next token';
    ok Mesh::Agent::wait_for(sub {
            Mesh::Agent::sim_stats($slow_sim)->{cancelled} == 1 }, 30),
        'and Ollama\'s request was cancelled';
    ok $slow->stop, 'agent stopped cleanly';
    $slow_sim->stop;
};

subtest 'a full node answers 503 with Retry-After' => sub {
    my ($sock, $data) = Mesh::Agent::open_stream($agent, '/api/generate',
                                                 $gen);
    like $data, qr{^HTTP/1.1 200}, 'a first task streams';

    my $res = Mesh::Agent::call($agent, POST => '/api/generate', $gen);
    is $res->code, 503, 'a second task: 503';
    is $res->header('Retry-After'), 1, 'Retry-After';
    like Mesh::Agent::json($res->content)->{error},
        qr/^node node-f is busy/, 'JSON error says the node is busy';

    my $c = Mesh::Agent::json(
        Mesh::Agent::call($agent, GET => '/agent/v1/capabilities')->content);
    is $c->{status}, 'busy', 'capabilities say busy';
    is $c->{active_tasks}, 1, 'one active task';

    close $sock;
    ok Mesh::Agent::wait_for(sub {
            Mesh::Agent::call($agent, POST => '/api/generate',
                '{"model":"llama3.2","prompt":"x","options":'
                . '{"num_predict":2}}')->code == 200 }, 10),
        'the slot frees when the first client leaves';
};

subtest 'Ollama errors before the body are relayed as they are' => sub {
    Mesh::Agent::sim_fault($sim, '500');
    my $direct = Mesh::Agent::ua()->post("$sim_url/api/generate",
                                         Content => $gen);
    my $res = Mesh::Agent::call($agent, POST => '/api/generate', $gen);
    is $direct->code, 500, 'the simulator fails with 500';
    is $res->code, 500, 'the agent relays 500';
    is $res->content, $direct->content, 'and the same body';
    is $res->header('X-Mesh-Node'), 'node-f', 'naming the node';
    Mesh::Agent::sim_fault($sim, 'none');

    # the agent still lists llava: it does not poll during the suite
    my $del = Mesh::Agent::ua()->delete("$sim_url/api/delete",
                                        Content => '{"model":"llava"}');
    is $del->code, 200, 'llava removed from the simulator';
    my $body = '{"model":"llava","prompt":"x"}';
    $direct = Mesh::Agent::ua()->post("$sim_url/api/generate",
                                      Content => $body);
    $res = Mesh::Agent::call($agent, POST => '/api/generate', $body);
    is $direct->code, 404, 'the simulator: 404';
    is $res->code, 404, 'the agent relays 404';
    is $res->content, $direct->content, 'with Ollama\'s body';
};

subtest 'a hung Ollama: the client leaving frees the task slot' => sub {
    my $active = sub {
        Mesh::Agent::json(Mesh::Agent::call($agent, GET => '/healthz')
                          ->content)->{active_tasks};
    };
    Mesh::Agent::sim_fault($sim, 'hang');
    my ($sock) = Mesh::Agent::open_stream($agent, '/api/generate', $gen,
                                          wait => 0);
    ok Mesh::Agent::wait_for(sub { $active->() == 1 }, 10),
        'the task waits for Ollama';
    close $sock;
    ok Mesh::Agent::wait_for(sub { $active->() == 0 }, 10),
        'the slot is free once the client has gone';
    Mesh::Agent::sim_fault($sim, 'none');
};

subtest 'Ollama failing mid-stream: an error line ends the stream' => sub {
    Mesh::Agent::sim_fault($sim, 'fail-after=3');
    my $direct = Mesh::Agent::ua()->post("$sim_url/api/generate",
                                         Content => $gen);
    my $res = Mesh::Agent::call($agent, POST => '/api/generate', $gen);
    Mesh::Agent::sim_fault($sim, 'none');
    is $res->code, 200, 'the stream had started';
    my @lines = split /\n/, $res->content;
    is scalar(@lines), 4, 'three tokens and an error line';
    like $lines[-1], qr/^\{"error":/, 'Ollama\'s error line, relayed';
    is Mesh::Agent::without_clock($res->content),
       Mesh::Agent::without_clock($direct->content),
       'as the simulator sent it';
};

subtest 'Ollama dying mid-stream: the agent adds the error line' => sub {
    my ($sock, $data) = Mesh::Agent::open_stream($agent, '/api/generate',
                                                 $gen);
    like $data, qr{^HTTP/1.1 200}, 'streaming';
    $sim->kill;
    $data = Mesh::Agent::read_rest($sock, $data);
    my ($status, $body) = Mesh::Agent::parse_chunked($data);
    like $data, qr/\r\n0\r\n\r\n\z/, 'the reply ends properly (chunked)';
    my @lines = split /\n/, $body;
    cmp_ok scalar(@lines), '>=', 2, 'tokens, then';
    like $lines[-1], qr/^\{"error":"ollama stream failed: [^"]+"\}$/,
        'an error line, Ollama style';
    unlike $body, qr/"done":true/, 'never a done line';
    ok Mesh::Agent::wait_for(sub {
            (metric('echo_agent_tasks_total{endpoint="generate",'
                    . 'outcome="stream_failed"}') // 0) == 1 }, 10),
        'counted as a failed stream';

    my $res = Mesh::Agent::call($agent, POST => '/api/generate', $gen);
    is $res->code, 502, 'Ollama down before the reply: 502';
    like Mesh::Agent::json($res->content)->{error},
        qr/^ollama unreachable: /, 'says why';
};

ok $agent->stop, 'agent stopped cleanly';
done_testing;
