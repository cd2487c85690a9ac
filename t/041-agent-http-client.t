# echo-agent's own HTTP client against replies framed in the ways the
# simulator does not use (t/lib/Mesh/reframe.pl forwards to it): chunked
# bodies with chunk extensions and a trailer, written 5 bytes at a time;
# a server that closes every kept-alive connection after one reply; a
# reply head over the 16 KiB limit (a clear error, Ollama "down"); a
# server that never answers (the poll's timeout, and the agent serves on).
use strict;
use warnings;

use FindBin;
use IO::Socket::INET;
use Test::More;

use Mesh::Agent;
use Mesh::Proc;

my $sim = Mesh::Agent::start_sim('--tokens', 5,
    '--model', 'llama3.2,family=llama,caps=completion');

sub front {
    my ($mode) = @_;
    my $port = Mesh::Proc::free_port();
    local $ENV{MESH_VALGRIND} = 0;
    return Mesh::Proc->start(
        name  => "reframe-$mode",
        cmd   => ['perl', "$FindBin::Bin/lib/Mesh/reframe.pl", $port,
                  $sim->port, $mode],
        port  => $port,
        ready => sub {
            IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 1);
        },
    );
}

sub agent {
    my ($front, $node, @args) = @_;
    return Mesh::Agent::start(
        node_id => $node,
        args => ['--ollama', 'http://127.0.0.1:' . $front->port, @args]);
}

sub models {
    my ($agent) = @_;
    my $res = Mesh::Agent::call($agent, GET => '/agent/v1/capabilities');
    return [sort map { $_->{name} } @{ Mesh::Agent::json($res->content)
                                           ->{models} || [] }];
}

my $task = '{"model":"llama3.2","prompt":"a b","stream":false}';

subtest 'chunked replies with extensions and a trailer, cut anywhere' => sub {
    my $agent = agent(front('chunked'), 'node-chunked');
    is Mesh::Agent::ollama_state($agent), 'up', 'Ollama up';
    is_deeply models($agent), ['llama3.2:latest'], 'the model list is read';
    my $res = Mesh::Agent::call($agent, POST => '/api/generate', $task);
    is $res->code, 200, 'a task is relayed';
    my $r = eval { Mesh::Agent::json($res->content) } || {};
    ok $r->{done}, 'its whole reply, decoded from the chunks'
        or diag $res->content;
    $agent->stop;
};

subtest 'a server that closes each kept-alive connection' => sub {
    my $agent = agent(front('oneshot'), 'node-oneshot',
                      '--heartbeat-interval', '300ms');
    is Mesh::Agent::ollama_state($agent), 'up', 'Ollama up';
    # several polls on the inventory thread's one connection object, each
    # after the server closed the last connection
    select undef, undef, undef, 1.5 * $Mesh::Agent::SLOW;
    is Mesh::Agent::ollama_state($agent), 'up', 'still up after the polls';
    # /api/tags then /api/ps each poll: the second one is on a connection
    # the server has closed
    unlike $agent->log_text, qr{is not answering|ollama /api/\w+: },
        'no read of Ollama failed on a closed connection';
    for my $n (1, 2) {
        my $res = Mesh::Agent::call($agent, POST => '/api/generate', $task);
        is $res->code, 200, "task $n relayed";
    }
    $agent->stop;
};

subtest 'a reply head over 16 KiB is refused, with why' => sub {
    my $agent = agent(front('bighead'), 'node-bighead');
    is Mesh::Agent::ollama_state($agent), 'down', 'Ollama down to the agent';
    like $agent->log_text, qr/reply header or chunk line longer than 16384/,
        'the log says the head was too large';
    $agent->stop;
};

subtest 'a server that never answers' => sub {
    my $agent = agent(front('mute'), 'node-mute');
    is Mesh::Agent::ollama_state($agent), 'down', 'Ollama down to the agent';
    like $agent->log_text, qr/timed out after \d+ ms/,
        'the poll timed out, and says so';
    is Mesh::Agent::call($agent, GET => '/healthz', undef,
                         auth => undef)->code, 200, 'the agent serves on';
    $agent->stop;
};

ok Mesh::Proc::stop_all(), 'every process exits cleanly';
done_testing;
