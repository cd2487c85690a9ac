# echo-agent's own HTTP client over TLS (https:// Ollama URL, libssl):
# the peer is verified against the CA store (SSL_CERT_FILE here) and the
# certificate against the URL's address or host name, as libcurl did; a
# streamed task is relayed whole over it.
# A certificate for another name, or one the store does not hold, leaves
# Ollama "down" with the reason in the log.
use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use IO::Socket::INET;
use Test::More;

use Mesh::Agent;
use Mesh::Proc;

my $dir = tempdir(CLEANUP => 1);

# two self-signed certificates: one for 127.0.0.1 and localhost, one for
# another name
sub cert {
    my ($name, $san) = @_;
    system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
           '-keyout', "$dir/$name.key", '-out', "$dir/$name.pem",
           '-days', '2', '-subj', "/CN=$name", '-addext',
           "subjectAltName=$san") == 0
        or die "openssl req failed\n";
    return ("$dir/$name.pem", "$dir/$name.key");
}
my @good = cert('sim', 'IP:127.0.0.1,DNS:localhost');
my @other = cert('other', 'DNS:other.example');

my $sim = Mesh::Agent::start_sim('--tokens', 200, '--token-delay-ms', 1,
    '--model', 'llama3.2,family=llama,caps=completion');

sub front {
    my ($cert, $key) = @_;
    my $port = Mesh::Proc::free_port();
    local $ENV{MESH_VALGRIND} = 0;
    return Mesh::Proc->start(
        name  => 'tls-forward',
        cmd   => ['python3', "$FindBin::Bin/lib/Mesh/tls_forward.py", $port,
                  $sim->port, $cert, $key],
        port  => $port,
        ready => sub {
            IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 1);
        },
    );
}
my $good = front(@good);
my $other = front(@other);

sub agent {
    my ($url, $ca, $node) = @_;
    return Mesh::Agent::start(
        node_id => $node, env => { SSL_CERT_FILE => $ca },
        args => ['--ollama', $url,
                 '--heartbeat-interval', $Mesh::Agent::IDLE_INTERVAL]);
}

my $body = '{"model":"llama3.2","prompt":"over tls"}';

subtest 'https to an address the certificate names' => sub {
    my $agent = agent('https://127.0.0.1:' . $good->port, $good[0],
                      'node-tls');
    is Mesh::Agent::ollama_state($agent), 'up', 'Ollama read over TLS: up';

    for my $n (1, 2) {
        my ($res, $pieces) = Mesh::Agent::stream($agent, '/api/generate',
                                                 $body);
        is $res->code, 200, "task $n relayed with status 200";
        my $relayed = join '', map { $_->[1] } @$pieces;
        is scalar(() = $relayed =~ /\n/g), 201,
            "task $n: 200 token lines + done";
        like $relayed, qr/"done":true[^\n]*\n\z/, "task $n ends with done";
    }
    $agent->stop;
};

subtest 'https to a host name the certificate names' => sub {
    my $agent = agent('https://localhost:' . $good->port, $good[0],
                      'node-tls-name');
    is Mesh::Agent::ollama_state($agent), 'up', 'Ollama read over TLS: up';
    my ($res, $pieces) = Mesh::Agent::stream($agent, '/api/generate', $body);
    is $res->code, 200, 'relayed with status 200';
    $agent->stop;
};

# an agent whose Ollama does not pass the TLS checks: down, and why
sub refused {
    my ($agent) = @_;
    is Mesh::Agent::ollama_state($agent), 'down',
        'Ollama is down to the agent';
    like $agent->log_text, qr/TLS peer not verified/,
        'the log says the peer was not verified';
    my $res = Mesh::Agent::call($agent, POST => '/api/generate', $body);
    isnt $res->code, 200, 'a task is not relayed (' . $res->code . ')';
    $agent->stop;
}

subtest 'a certificate for another name is refused' => sub {
    refused(agent('https://127.0.0.1:' . $other->port, $other[0],
                  'node-tls-other'));
};

subtest 'a certificate the CA store does not hold is refused' => sub {
    refused(agent('https://127.0.0.1:' . $good->port, $other[0],
                  'node-tls-untrusted'));
};

ok Mesh::Proc::stop_all(), 'every process exits cleanly';
done_testing;
