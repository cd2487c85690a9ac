# What an impostor orchestrator learns: echo-agent heartbeats and leaves
# to a fake orchestrator that records every byte of each request (head and
# body).  Nothing recorded holds the secret in any spelling; every request
# is signed and every nonce is new; a recorded signature does not cover a
# changed body (another node id or host), so it cannot register anything
# of the impostor's; and no recorded header opens the agent's task port.
use strict;
use warnings;

use MIME::Base64 qw(encode_base64);
use Test::More;

use Mesh::Agent;
use Mesh::FakeOrchestrator;
use Mesh::Proc;
use Mesh::Sign;

my $secret = $Mesh::Agent::SECRET;
my $orch = Mesh::FakeOrchestrator->start(secret => $secret);
my $sim  = Mesh::Agent::start_sim();
my $agent = Mesh::Agent::start(
    sim => $sim, node_id => 'node-cap', orchestrator => $orch->url,
    args => ['--heartbeat-interval', '200ms']);

ok Mesh::Agent::wait_for(sub { $orch->heartbeats >= 5 }, 30),
    'five heartbeats recorded';
ok $agent->stop, 'agent stopped cleanly (it leaves)';
my @calls = $orch->calls;
ok scalar(grep { $_->{path} eq '/mesh/v1/nodes/leave' } @calls),
    'the leave was recorded too';

subtest 'the secret is in no recorded byte' => sub {
    my @spellings = ($secret, unpack('H*', $secret),
                     encode_base64($secret, ''), substr($secret, 0, 12));
    for my $c (@calls) {
        my $all = "$c->{head}\r\n\r\n$c->{raw}";
        for my $s (@spellings) {
            ok index($all, $s) < 0, "$c->{path}: no \"$s\"";
        }
    }
};

subtest 'each request is signed, each nonce new' => sub {
    my %nonce;
    for my $c (@calls) {
        ok $c->{auth_ok}, "$c->{path}: a valid signature";
        my ($n) = $c->{auth} =~ /^MESH-HMAC-SHA256 \d+:([0-9a-f]{32}):/;
        ok defined $n, "$c->{path}: a 32-digit nonce";
        ok !$nonce{$n // ''}++, "$c->{path}: not used before";
    }
};

subtest 'a recorded signature covers only its own body' => sub {
    my ($beat) = grep { $_->{path} eq '/mesh/v1/nodes/heartbeat' } @calls;
    for my $change ([ '"node_id":"node-cap"', '"node_id":"impostor"' ],
                    [ '"host":"127.0.0.1"', '"host":"10.66.66.66"' ]) {
        (my $raw = $beat->{raw}) =~ s/\Q$change->[0]\E/$change->[1]/;
        isnt $raw, $beat->{raw}, "the body changed: $change->[1]";
        ok !Mesh::Sign::node_ok($secret, 'POST', $beat->{path}, $raw,
                                $beat->{auth}),
            "$change->[1]: the recorded signature does not verify";
    }
};

subtest 'no recorded header opens the agent' => sub {
    my $a2 = Mesh::Agent::start(sim => $sim, node_id => 'node-cap',
                                name => 'agent-2');
    my $gen = '{"model":"llama3.2","prompt":"hi"}';
    for my $c (@calls) {
        my ($ts, $n, $sig) = $c->{auth} =~ /^\S+ (\d+):(\w+):(\w+)$/;
        for my $try ($c->{auth}, "MESH-TASK $ts:$n:$sig") {
            my $res = Mesh::Agent::call($a2, POST => '/api/generate', $gen,
                                        auth => $try);
            is $res->code, 401, "\"$try\": 401";
        }
    }
    my $ok = Mesh::Agent::call($a2, POST => '/api/generate', $gen);
    is $ok->code, 200, 'a real task token still works';
    ok $a2->stop, 'agent 2 stopped cleanly';
};

$orch->close;
done_testing();
