# echo-agent joins the orchestrator and heartbeats at the configured
# cadence; it backs off while the orchestrator is away or failing and
# comes back by itself; model changes in Ollama reach the next heartbeat;
# Ollama down makes the node "degraded" with no models.
use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);

use Mesh::Agent;
use Mesh::FakeOrchestrator;
use Mesh::Proc;

my $orch = Mesh::FakeOrchestrator->start(secret => $Mesh::Agent::SECRET);
my $sim  = Mesh::Agent::start_sim();
my $agent = Mesh::Agent::start(
    sim => $sim, node_id => 'node-h', orchestrator => $orch->url,
    args => ['--heartbeat-interval', '300ms']);
my $sim_url = 'http://127.0.0.1:' . $sim->port;

sub gaps {
    my @t = map { $_->{t} } @_;
    return map { $t[$_] - $t[$_ - 1] } 1 .. $#t;
}

sub median {
    my @s = sort { $a <=> $b } @_;
    return @s ? $s[$#s / 2] : 0;
}

sub beats_after {
    my ($t) = @_;
    return grep { $_->{t} > $t } $orch->heartbeats;
}

sub heartbeat_metric { Mesh::Agent::heartbeat_metric($agent, $_[0]) }

sub model_types {
    my ($beat) = @_;
    return { map { $_->{name} => $_->{type} } @{ $beat->{body}{models} } };
}

# Timestamps are the fake orchestrator's arrival times.  A loaded machine
# only stretches gaps, so gaps are checked from below (the interval, the
# backoff's lower bounds) and compared with each other, never against an
# upper bound of wall-clock time; waits are deadlines that catch hangs.
subtest 'joins and heartbeats at the configured cadence' => sub {
    ok Mesh::Agent::wait_for(sub { $orch->heartbeats >= 8 }, 30),
        'eight heartbeats';
    my @beats = $orch->heartbeats;
    ok !(grep { !$_->{auth_ok} } @beats), 'every one with the mesh secret';
    ok !(grep { $_->{status} != 200 } @beats), 'every one accepted';

    # the first beat after joining may be a model-change beat
    cmp_ok median(gaps(@beats[1 .. $#beats])), '>', 0.2,
        'no faster than the 300 ms interval';

    my $b = $beats[-1]{body};
    is $b->{node_id}, 'node-h', 'node_id';
    is $b->{host}, '127.0.0.1', 'host';
    is $b->{port}, $agent->port, 'port';
    is_deeply model_types($beats[-1]), {
        'llama3.2:latest' => 'text', 'llava:latest' => 'vision',
        'nomic-embed-text:latest' => 'embedding' }, 'models with types';
    for my $k (qw(ram_total_gb ram_free_gb has_gpu gpu_vram_gb)) {
        ok exists $b->{hardware}{$k}, "hardware.$k";
    }
    is $b->{status}, 'idle', 'status';
    is $b->{active_tasks}, 0, 'active_tasks';
    is $b->{max_tasks}, 4, 'max_tasks';
    is $b->{queued}, 0, 'queued';
    ok exists $b->{tokens_per_sec}, 'tokens_per_sec';
    like $b->{agent_version}, qr/^\d+\.\d+\.\d+$/, 'agent_version';
};

subtest 'a model pulled into Ollama shows in a later heartbeat' => sub {
    my $res = Mesh::Agent::ua()->post("$sim_url/api/pull",
        Content => '{"model":"qwen2.5-coder:7b","stream":false}');
    is $res->code, 200, 'pulled into the simulator';
    my $t = time;
    ok Mesh::Agent::wait_for(sub {
            grep { model_types($_)->{'qwen2.5-coder:7b'} } beats_after($t) },
        30), 'reported';
    my ($beat) = grep { model_types($_)->{'qwen2.5-coder:7b'} }
                 beats_after($t);
    is model_types($beat)->{'qwen2.5-coder:7b'}, 'code', 'as a code model';

    $res = Mesh::Agent::ua()->delete("$sim_url/api/delete",
                                     Content => '{"model":"llava"}');
    is $res->code, 200, 'llava deleted from the simulator';
    $t = time;
    ok Mesh::Agent::wait_for(sub {
            grep { !model_types($_)->{'llava:latest'} } beats_after($t) },
        30), 'its removal is reported';
};

subtest 'backs off while the orchestrator answers 503' => sub {
    $orch->set_mode('503');
    my $t = time;
    my $refused = sub { grep { $_->{status} == 503 } beats_after($t) };
    ok Mesh::Agent::wait_for(sub { $refused->() >= 5 }, 30),
        'five refused tries';
    my @tries = ($refused->())[0 .. 4];

    # after the n-th failure the retry waits half to all of
    # 300 ms x 2^(n-1): at least 150, 300, 600, 1200 ms
    my @g = gaps(@tries);
    for my $n (1 .. 4) {
        my $least = 0.150 * 2 ** ($n - 1);
        cmp_ok $g[$n - 1], '>=', $least * 0.95,
            "after failure $n the retry waited at least ${least} s";
    }
    cmp_ok $g[3] - $g[0], '>', 0.4, 'the delay grows';
    cmp_ok heartbeat_metric('refused'), '>=', 5,
        'counted as refused by the orchestrator';
    is heartbeat_metric('unreachable'), 0, 'not as unreachable';

    $orch->set_mode('ok');
    $t = time;
    ok Mesh::Agent::wait_for(sub {
            grep { $_->{status} == 200 } beats_after($t) }, 30),
        'accepted again once the orchestrator recovers';
    my $back = time;
    ok Mesh::Agent::wait_for(sub { beats_after($back) >= 4 }, 30),
        'and the heartbeats go on';
    cmp_ok median(gaps(beats_after($back))), '<', $g[3],
        'at the interval again: shorter than the backoff was';
};

subtest 'rejoins by itself when a closed orchestrator returns' => sub {
    $orch->close;
    sleep 3;
    $orch->reopen;
    my $t = time;
    ok Mesh::Agent::wait_for(sub { beats_after($t) >= 3 }, 60),
        'heartbeats resume';
    like $agent->log_text, qr/heartbeat to \S+ failed: /,
        'the failure was logged';
    like $agent->log_text, qr/joined \S+ again after \d+ failed attempt/,
        'and the return';
    cmp_ok heartbeat_metric('unreachable'), '>', 0,
        'a closed orchestrator counts as unreachable';
    is heartbeat_metric('error'), 0, 'the report never failed';
};

subtest 'Ollama down: status degraded, no models' => sub {
    $sim->stop;
    my $t = time;
    ok Mesh::Agent::wait_for(sub {
            grep { $_->{body}{status} eq 'degraded' } beats_after($t) }, 30),
        'a heartbeat says degraded';
    my ($beat) = grep { $_->{body}{status} eq 'degraded' } beats_after($t);
    is_deeply $beat->{body}{models}, [], 'with no models';

    my $h = Mesh::Agent::json(Mesh::Agent::call($agent, GET => '/healthz')
                              ->content);
    is $h->{status}, 'degraded', '/healthz says degraded';
    my $res = Mesh::Agent::call($agent, POST => '/api/generate',
                                '{"model":"llama3.2","prompt":"x"}');
    is $res->code, 503, 'a task gets 503';
    ok $res->header('Retry-After'), 'with Retry-After';
};

ok $agent->stop, 'agent stopped cleanly';
my @leaves = $orch->leaves;
is scalar(@leaves), 1, 'it said it was leaving';
is $leaves[0]{body}{node_id}, 'node-h', 'with its node_id';
done_testing;
