package Mesh::Node;

# A stand-in node for orchestrator suites: a child process that heartbeats a
# capability JSON to nginx's node API every interval, the way echo-agent
# does, with fields a test controls exactly (RAM, load, models).  The
# backend behind the node is usually an ollama-sim: the orchestrator-to-agent
# hop speaks Ollama's API, so a simulator can take the agent's place there.
#
#   my $secret = Mesh::Node::secret_file();     # also sets
#                                               # $ENV{TEST_NGINX_MESH_SECRET_FILE}
#   my $n = Mesh::Node->start(
#       nginx_port => $ENV{TEST_NGINX_SERVER_PORT},
#       node_id => 'a', port => $sim->port,
#       models => [ [ 'mistral:7b', 'text' ], [ 'llava', 'vision' ] ],
#                  # or [ name, type, size_gb, loaded ]: Ollama's /api/ps
#       ram_free_gb => 6, max_tasks => 2, interval_ms => 200);
#   $n->set(active_tasks => 2);    # next heartbeats report it
#   $n->stop;                      # silent: the node misses heartbeats
#   Mesh::Node::leave($nginx_port, 'a');

use strict;
use warnings;

use File::Spec;
use IO::Socket::INET;
use JSON::PP ();

use Mesh::Proc;
use Mesh::Sign;

our $SECRET = 'test-mesh-secret-0123456789abcdef';

# signs each heartbeat as echo-agent does (Mesh::Sign): the secret itself
# is never sent
my $PUMP = <<'PERL';
use strict; use warnings; use IO::Socket::INET; use Time::HiRes qw(sleep);
use Digest::SHA qw(hmac_sha256_hex sha256_hex);
my ($file, $port, $secret, $ms) = @ARGV;
my $path = '/mesh/v1/nodes/heartbeat';
my $n = 0;
$SIG{TERM} = sub { exit 0 };
while (1) {
    my $body = do { local (@ARGV, $/) = ($file); <> } // '';
    my ($ts, $nonce) = (time, sprintf '%08x%08x%016x', $$, time, ++$n);
    my $sig = hmac_sha256_hex(join("\n", 'MESH-HMAC-SHA256', 'POST', $path,
                                   $ts, $nonce, sha256_hex($body)), $secret);
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 2);
    if ($s) {
        print $s "POST $path HTTP/1.1\r\nHost: mesh\r\n"
            . "Authorization: MESH-HMAC-SHA256 $ts:$nonce:$sig\r\n"
            . "Connection: close\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n$body";
        my $status = <$s> // '';
        print STDERR "heartbeat: $status";
        close $s;
    }
    sleep $ms / 1000;
}
PERL

sub secret_file {
    my $dir = Mesh::Proc::log_dir();
    my $path = File::Spec->rel2abs(File::Spec->catfile($dir, 'mesh.secret'));
    open my $fh, '>', $path or die "cannot write $path: $!";
    print $fh "$SECRET\n";
    close $fh;
    chmod 0600, $path;
    $ENV{TEST_NGINX_MESH_SECRET_FILE} = $path;
    return $path;
}

sub caps_json {
    my ($self) = @_;
    my $c = $self->{caps};
    return JSON::PP->new->canonical->encode({
        node_id => $c->{node_id},
        host => $c->{host} // '127.0.0.1',
        port => $c->{port} + 0,
        models => [ map { { name => $_->[0], type => $_->[1],
                            size_gb => $_->[2] // 4,
                            defined $_->[3]
                                ? (loaded => $_->[3] ? JSON::PP::true
                                                     : JSON::PP::false)
                                : () } } @{ $c->{models} } ],
        hardware => { ram_total_gb => $c->{ram_total_gb} // 16,
                      ram_free_gb => $c->{ram_free_gb} // 8,
                      has_gpu => $c->{has_gpu} ? JSON::PP::true
                                               : JSON::PP::false,
                      gpu_vram_gb => $c->{gpu_vram_gb} // 0 },
        status => $c->{status} // 'idle',
        active_tasks => ($c->{active_tasks} // 0) + 0,
        max_tasks => ($c->{max_tasks} // 4) + 0,
        queued => 0,
        tokens_per_sec => 0,
        agent_version => 'test',
    });
}

sub _write {
    my ($self) = @_;
    my $tmp = "$self->{file}.tmp";
    open my $fh, '>', $tmp or die "cannot write $tmp: $!";
    print $fh $self->caps_json;
    close $fh;
    rename $tmp, $self->{file} or die "cannot rename $tmp: $!";
}

sub start {
    my ($class, %a) = @_;
    my $self = bless {
        caps => { %a },
        nginx_port => delete $a{nginx_port},
        interval_ms => delete $a{interval_ms} // 200,
    }, $class;
    delete $self->{caps}{$_} for qw(nginx_port interval_ms);
    $self->{file} = File::Spec->rel2abs(File::Spec->catfile(
        Mesh::Proc::log_dir(), "node-$a{node_id}.json"));
    $self->_write;
    $self->{proc} = Mesh::Proc->start(
        name => "node-$a{node_id}",
        cmd => [ $^X, '-e', $PUMP, $self->{file}, $self->{nginx_port},
                 $SECRET, $self->{interval_ms} ],
        valgrind => 0,
    );
    return $self;
}

sub set {
    my ($self, %kv) = @_;
    $self->{caps}{$_} = $kv{$_} for keys %kv;
    $self->_write;
}

sub stop {
    my ($self) = @_;
    $self->{proc}->stop if $self->{proc};
    delete $self->{proc};
}

sub leave {
    my ($port, $node_id) = @_;
    my $body = qq({"node_id":"$node_id"});
    my $path = '/mesh/v1/nodes/leave';
    my $auth = Mesh::Sign::node($SECRET, 'POST', $path, $body);
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 2) or return;
    print $s "POST $path HTTP/1.1\r\nHost: mesh\r\n"
        . "Authorization: $auth\r\nConnection: close\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    my $status = <$s>;
    close $s;
    return $status;
}

1;
