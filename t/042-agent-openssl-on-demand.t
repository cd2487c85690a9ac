# echo-agent maps OpenSSL only when it uses https (issue 13, section 5):
# it signs heartbeats, checks the orchestrator's reply signature and the
# task tokens with its own SHA-256 (agent/sha256.c), so an agent on plain
# http has neither libssl nor libcrypto in /proc/PID/maps after doing all
# of that; the first https:// URL loads libssl.so.3 (and libcrypto with
# it); a libssl.so.3 that cannot be loaded, or is not OpenSSL 3, leaves
# Ollama "down" with a log line that names the package to install.
use strict;
use warnings;

use File::Copy qw(copy);
use File::Temp qw(tempdir);
use FindBin;
use IO::Socket::INET;
use Test::More;

use Mesh::Agent;
use Mesh::FakeOrchestrator;
use Mesh::Proc;

my $dir = tempdir(CLEANUP => 1);
my $body = '{"model":"llama3.2","prompt":"no openssl"}';

my $sim = Mesh::Agent::start_sim('--tokens', 20, '--token-delay-ms', 1,
    '--model', 'llama3.2,family=llama,caps=completion');

# the shared objects the agent maps: path => 1
sub mapped {
    my ($agent) = @_;
    my %so;
    open my $in, '<', '/proc/' . $agent->pid . '/maps' or return {};
    while (<$in>) {
        $so{$1} = 1 if m{\s(/\S+\.so[.\d]*)$};
    }
    return \%so;
}

sub maps_lib {
    my ($so, $lib) = @_;
    return grep { m{/\Q$lib\E\.so[.\d]*$} } keys %$so;
}

my $yajl;

subtest 'plain http: signed, checked, relayed, and no OpenSSL mapped' => sub {
    my $orch = Mesh::FakeOrchestrator->start(secret => $Mesh::Agent::SECRET);
    my $agent = Mesh::Agent::start(
        sim => $sim, node_id => 'node-plain', orchestrator => $orch->url,
        args => ['--heartbeat-interval', '300ms']);

    # two signed heartbeats, each reply's signature verified ("ok")
    ok Mesh::Agent::wait_for(
        sub { (Mesh::Agent::heartbeat_metric($agent, 'ok') // 0) >= 2 }, 10),
        'two heartbeats answered with a verified reply signature';
    my @beats = $orch->heartbeats;
    cmp_ok scalar(@beats), '>=', 2, 'the orchestrator got them';
    ok !(grep { !$_->{auth_ok} } @beats),
        'every one signed with the mesh secret';

    # a task token checked, the task relayed
    my ($res, $pieces) = Mesh::Agent::stream($agent, '/api/generate', $body);
    is $res->code, 200, 'a task with a valid token is relayed';
    my $relayed = join '', map { $_->[1] } @$pieces;
    is scalar(() = $relayed =~ /\n/g), 21, '20 token lines + done';
    isnt Mesh::Agent::call($agent, POST => '/api/generate', $body,
                           auth => 'MESH-TASK 1:t1:' . ('0' x 64))->code,
        200, 'a wrong token is refused';

    my $so = mapped($agent);
    ok scalar(keys %$so), 'the agent maps shared objects (maps readable)';
    ($yajl) = maps_lib($so, 'libyajl');
    ok $yajl, 'libyajl is among them';
    is_deeply [maps_lib($so, 'libssl')], [], 'libssl is not mapped';
    is_deeply [maps_lib($so, 'libcrypto')], [], 'libcrypto is not mapped';
    $agent->stop;
    $orch->stop;
};

# Ollama over TLS (t/040's forwarder and a certificate for 127.0.0.1)
system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
       '-keyout', "$dir/sim.key", '-out', "$dir/sim.pem", '-days', '2',
       '-subj', '/CN=sim', '-addext', 'subjectAltName=IP:127.0.0.1') == 0
    or die "openssl req failed\n";
my $tls_port = Mesh::Proc::free_port();
{
    local $ENV{MESH_VALGRIND} = 0;
    Mesh::Proc->start(
        name  => 'tls-forward',
        cmd   => ['python3', "$FindBin::Bin/lib/Mesh/tls_forward.py",
                  $tls_port, $sim->port, "$dir/sim.pem", "$dir/sim.key"],
        port  => $tls_port,
        ready => sub {
            IO::Socket::INET->new(PeerAddr => "127.0.0.1:$tls_port",
                                  Timeout => 1);
        },
    );
}

sub tls_agent {
    my ($node, %env) = @_;
    return Mesh::Agent::start(
        node_id => $node, env => { SSL_CERT_FILE => "$dir/sim.pem", %env },
        args => ['--ollama', "https://127.0.0.1:$tls_port",
                 '--heartbeat-interval', $Mesh::Agent::IDLE_INTERVAL]);
}

subtest 'https: libssl and libcrypto loaded at first use' => sub {
    my $agent = tls_agent('node-https');
    is Mesh::Agent::ollama_state($agent), 'up', 'Ollama read over TLS: up';
    my ($res) = Mesh::Agent::stream($agent, '/api/generate', $body);
    is $res->code, 200, 'a task is relayed over TLS';
    my $so = mapped($agent);
    ok scalar(maps_lib($so, 'libssl')), 'libssl is mapped now';
    ok scalar(maps_lib($so, 'libcrypto')), 'libcrypto is mapped now';
    $agent->stop;
};

# a libssl.so.3 found first through LD_LIBRARY_PATH
sub broken_libssl {
    my ($name, $make, $why) = @_;
    subtest $name => sub {
        my $lib = "$dir/$name";
        mkdir $lib or die "$lib: $!";
        $make->("$lib/libssl.so.3");
        my $agent = tls_agent('node-nossl', LD_LIBRARY_PATH => $lib);
        is Mesh::Agent::ollama_state($agent), 'down',
            'Ollama is down to the agent';
        ok Mesh::Agent::wait_for(
            sub { $agent->log_text =~ $why }, 5),
            'the log says why and names the package';
        isnt Mesh::Agent::call($agent, POST => '/api/generate',
                               $body)->code, 200, 'a task is not relayed';
        $agent->stop;
    };
}

broken_libssl('unloadable', sub {
    open my $out, '>', $_[0] or die "$_[0]: $!";
    print $out "not a shared object\n";
    close $out;
}, qr/https needs libssl\.so\.3 \(install the libssl3 package\)/);

# the first symbol looked up is TLS_client_method
my $not_openssl = 'libssl.so.3 has no TLS_client_method (OpenSSL 3 is '
    . 'needed, package libssl3)';
broken_libssl('not-openssl', sub {
    copy($yajl, $_[0]) or die "copy $yajl: $!";
}, qr/\Q$not_openssl\E/);

ok Mesh::Proc::stop_all(), 'every process exits cleanly';
done_testing;
