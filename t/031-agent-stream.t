# echo-agent relays tasks to Ollama (the simulator) and streams the reply
# back as it is produced, byte for byte; it reports what the node holds.
use strict;
use warnings;

use Test::More;

use Mesh::Agent;
use Mesh::Proc;

my $sim = Mesh::Agent::start_sim(
    '--tokens', 1000, '--token-delay-ms', 2, '--embed-dim', 4096,
    '--model', 'llama3.2,family=llama,caps=completion+tools',
    '--model', 'llava:7b,family=llama,caps=completion+vision',
    '--model', 'nomic-embed-text,family=nomic-bert,caps=embedding',
    '--model', 'qwen2.5-coder:7b,family=qwen2,caps=completion+tools',
    '--model', 'mistral,family=llama,size=4113301824,caps=completion');
my $agent = Mesh::Agent::start(
    sim => $sim, node_id => 'node-s',
    args => ['--model-type', 'mistral=code',
             '--heartbeat-interval', $Mesh::Agent::IDLE_INTERVAL]);
my $sim_url = 'http://127.0.0.1:' . $sim->port;

subtest 'health needs no credential' => sub {
    my $res = Mesh::Agent::call($agent, GET => '/healthz', undef,
                                auth => undef);
    is $res->code, 200, 'GET /healthz is 200';
    is $res->header('X-Mesh-Node'), 'node-s', 'names the node';
    my $h = Mesh::Agent::json($res->content);
    is $h->{status}, 'ok', 'status ok';
    is $h->{ollama}, 'up', 'ollama up';
};

subtest 'capabilities' => sub {
    my $res = Mesh::Agent::call($agent, GET => '/agent/v1/capabilities');
    is $res->code, 200, 'GET /agent/v1/capabilities is 200';
    my $c = Mesh::Agent::json($res->content);
    is $c->{node_id}, 'node-s', 'node_id';
    is $c->{host}, '127.0.0.1', 'host is the listen address';
    is $c->{port}, $agent->port, 'port is the listen port';
    my %type = map { $_->{name} => $_->{type} } @{ $c->{models} };
    is_deeply \%type, {
        'llama3.2:latest'         => 'text',
        'llava:7b'                => 'vision',
        'nomic-embed-text:latest' => 'embedding',
        'qwen2.5-coder:7b'        => 'code',
        'mistral:latest'          => 'code',
    }, 'every model with its type (mistral overridden to code)';
    my ($mistral) = grep { $_->{name} eq 'mistral:latest' } @{ $c->{models} };
    is $mistral->{size_gb}, 4.1, 'size in GB';
    ok !$c->{hardware}{has_gpu}, 'no GPU on this machine';
    cmp_ok $c->{hardware}{ram_total_gb}, '>', 0, 'RAM total';
    cmp_ok $c->{hardware}{ram_free_gb}, '<=', $c->{hardware}{ram_total_gb},
        'free RAM within total';
    is $c->{status}, 'idle', 'idle';
    is $c->{active_tasks}, 0, 'no active task';
    is $c->{max_tasks}, 4, 'max_tasks default';
    like $c->{agent_version}, qr/^\d+\.\d+\.\d+$/, 'agent version';
};

subtest '1000 tokens, byte for byte, as they are produced' => sub {
    my $body = '{"model":"llama3.2","prompt":"the quick brown fox jumps"}';
    my $direct = Mesh::Agent::ua()->post("$sim_url/api/generate",
                                         Content => $body);
    is $direct->code, 200, 'the simulator answers directly';

    my $active_at_first;
    my ($res, $pieces) = Mesh::Agent::stream($agent, '/api/generate', $body,
        stop => sub {
            $active_at_first //= Mesh::Agent::sim_stats($sim)->{active};
            return 0;
        });

    is $res->code, 200, 'relayed with status 200';
    is $res->header('X-Mesh-Node'), 'node-s', 'reply names the node';
    is $res->header('Content-Type'), 'application/x-ndjson',
        'Ollama\'s content type';
    my $relayed = join '', map { $_->[1] } @$pieces;
    is scalar(() = $relayed =~ /\n/g), 1001, '1000 token lines + done';
    like $relayed, qr/"done":true[^\n]*\n\z/, 'ends with the done line';
    is Mesh::Agent::without_clock($relayed),
       Mesh::Agent::without_clock($direct->content),
       'identical to the direct reply (timestamps aside)';

    # order, not speed: the reply was passed on while it was produced
    is $active_at_first, 1, 'the first bytes came while the simulator '
        . 'was still generating';
    cmp_ok scalar(() = $pieces->[0][1] =~ /\n/g), '<', 1001,
        'the first piece is not the whole reply';
};

subtest 'chat, non-streamed generate, a large embedding' => sub {
    for my $case (
        [ '/api/chat', '{"model":"llava:7b","messages":[{"role":"user",'
          . '"content":"describe this"}],"options":{"num_predict":4}}' ],
        [ '/api/generate', '{"model":"qwen2.5-coder:7b","prompt":"a b",'
          . '"stream":false,"options":{"num_predict":3}}' ],
        # about 900 KB: more than the relay buffer, so curl is paused
        [ '/api/embed', '{"model":"nomic-embed-text","input":['
          . join(',', map { qq("text $_") } 1 .. 16) . ']}' ],
    ) {
        my ($path, $body) = @$case;
        my $direct = Mesh::Agent::ua()->post("$sim_url$path",
                                             Content => $body);
        my $res = Mesh::Agent::call($agent, POST => $path, $body);
        is $res->code, 200, "$path is 200";
        is $res->header('Content-Type'), $direct->header('Content-Type'),
            "$path content type";
        is Mesh::Agent::without_clock($res->content),
           Mesh::Agent::without_clock($direct->content),
           "$path reply identical to the direct one";
        cmp_ok length($res->content), '>', 65536,
            "$path: larger than the relay buffer" if $path eq '/api/embed';
    }
};

subtest 'metrics' => sub {
    my $res = Mesh::Agent::call($agent, GET => '/metrics');
    is $res->code, 200, 'GET /metrics is 200';
    like $res->header('Content-Type'), qr{^text/plain}, 'Prometheus text';
    my $m = $res->content;
    like $m,
        qr/^echo_agent_tasks_total\{endpoint="generate",outcome="ok"\} 2$/m,
        'two generate tasks';
    like $m, qr/^echo_agent_tasks_total\{endpoint="chat",outcome="ok"\} 1$/m,
        'one chat task';
    like $m, qr/^echo_agent_tasks_total\{endpoint="embed",outcome="ok"\} 1$/m,
        'one embed task';
    like $m, qr/^echo_agent_tokens_total (\d+)$/m, 'tokens counted';
    my ($tokens) = $m =~ /^echo_agent_tokens_total (\d+)$/m;
    is $tokens, 1004, '1000 + 4 streamed tokens';
    like $m, qr/^echo_agent_active_tasks 0$/m, 'nothing running';
    like $m, qr/^echo_agent_task_duration_seconds_count 4$/m,
        'four durations';
};

ok $agent->stop, 'agent stopped cleanly';
done_testing;
