# An orchestrator must prove the mesh secret in each reply: echo-agent,
# with an explicitly configured orchestrator, does not count a 200 that
# lacks a valid X-Mesh-Reply-Signature (or carries one made with another
# secret) as a heartbeat, says so once as an error, and joins as soon as
# the replies are signed.
use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Mesh::Agent;
use Mesh::FakeOrchestrator;
use Mesh::Proc;

my $orch = Mesh::FakeOrchestrator->start(secret => $Mesh::Agent::SECRET,
                                         mode => 'unsigned');
my $sim  = Mesh::Agent::start_sim();
my $agent = Mesh::Agent::start(
    sim => $sim, node_id => 'node-p', orchestrator => $orch->url,
    args => ['--heartbeat-interval', '300ms']);

sub beats_after {
    my ($t) = @_;
    return grep { $_->{t} > $t && $_->{status} == 200 } $orch->heartbeats;
}

sub heartbeat_metric { Mesh::Agent::heartbeat_metric($agent, $_[0]) }

sub unproven_lines {
    return () = $agent->log_text =~
        /orchestrator \Q${\ $orch->url }\E did not prove the mesh secret/g;
}

subtest 'a 200 without the reply signature is not a heartbeat' => sub {
    ok Mesh::Agent::wait_for(sub { beats_after(0) >= 3 }, 60),
        'three heartbeats answered 200 unsigned';
    ok !(grep { !$_->{auth_ok} } $orch->heartbeats),
        'each signed by the agent';
    cmp_ok heartbeat_metric('unproven'), '>=', 3, 'counted as unproven';
    is heartbeat_metric('ok'), 0, 'none as ok';
    unlike $agent->log_text, qr/joined the mesh/, 'the agent did not join';
    like $agent->log_text,
        qr/\ error:\ heartbeat:\ orchestrator\ \S+\ did\ not\ prove\ the
           \ mesh\ secret\ \(HTTP\ 200\ without\ /x,
        'an error the operator sees';
    is unproven_lines(), 1, 'said once, not on every try';
};

subtest 'nor is one signed with another secret' => sub {
    $orch->set_mode('wrongsig');
    my $before = heartbeat_metric('unproven');
    my $t = time;
    ok Mesh::Agent::wait_for(sub { beats_after($t) >= 2 }, 90),
        'two heartbeats answered 200 with a wrong signature';
    ok Mesh::Agent::wait_for(
            sub { heartbeat_metric('unproven') >= $before + 2 }, 30),
        'counted as unproven';
    is heartbeat_metric('ok'), 0, 'none as ok';
    unlike $agent->log_text, qr/joined the mesh/, 'still not joined';
};

subtest 'signed replies: it joins' => sub {
    $orch->set_mode('ok');
    ok Mesh::Agent::wait_for(sub { heartbeat_metric('ok') >= 2 }, 90),
        'heartbeats accepted';
    like $agent->log_text, qr/joined the mesh at \Q${\ $orch->url }\E/,
        'joined';
};

subtest 'once it proved the secret, a new failure is said again' => sub {
    $orch->set_mode('wrongsig');
    ok Mesh::Agent::wait_for(sub { unproven_lines() == 2 }, 60),
        'a second error';
    like $agent->log_text,
        qr/did not prove the mesh secret \(HTTP 200 with a wrong /,
        'naming the wrong signature';
    $orch->set_mode('ok');
    my $ok = heartbeat_metric('ok');
    ok Mesh::Agent::wait_for(sub { heartbeat_metric('ok') > $ok }, 90),
        'accepted again';
};

ok $agent->stop, 'agent stopped cleanly';
my @leaves = grep { $_->{status} == 200 } $orch->leaves;
is scalar(@leaves), 1, 'it left';
like $agent->log_text, qr/left the mesh at/, 'and the signed reply counted';
done_testing;
