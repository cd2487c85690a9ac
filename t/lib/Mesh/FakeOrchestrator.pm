package Mesh::FakeOrchestrator;

# A stand-in for the orchestrator's node API (POST /mesh/v1/nodes/heartbeat
# and /mesh/v1/nodes/leave), for the agent suites until the real one
# exists.  It runs as its own process (under Mesh::Proc, so it is always
# stopped) and records every call, with the time it arrived, as one JSON
# line in a file the test reads back.
#
#   my $orch = Mesh::FakeOrchestrator->start(secret => $secret);
#   $orch->url;                      # http://127.0.0.1:PORT
#   $orch->set_mode('503');          # 'ok' (200) or '503' (registry down)
#   $orch->set_mode('unsigned');     # 200 without X-Mesh-Reply-Signature
#   $orch->set_mode('wrongsig');     # 200 signed with another secret
#   $orch->close; $orch->reopen;     # the port refuses, then serves again
#   my @beats = $orch->heartbeats;   # [{t, auth_ok, body => {...}}, ...]
#
# Replies follow the mesh node API: 200 {"ok":true,...}, 401 on a bad
# signature (checked as nginx does, Mesh::Sign::node_ok, without the
# window and replay checks), 400 on a body that is not a JSON object with
# a node_id.  A 200 carries X-Mesh-Reply-Signature (Mesh::Sign::reply), as
# nginx signs it, unless the mode says otherwise.  Each record keeps the whole request head ("head") and body
# ("raw"): everything an impostor orchestrator would receive.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use IO::Socket::INET;
use JSON::PP ();
use Time::HiRes qw(time);

use Mesh::Proc;
use Mesh::Sign;

my $LIB = dirname(dirname(File::Spec->rel2abs(__FILE__)));

sub start {
    my ($class, %o) = @_;
    my $port = $o{port} // Mesh::Proc::free_port();
    my $dir  = Mesh::Proc::log_dir();
    my $self = bless {
        port   => $port,
        secret => $o{secret},
        record => File::Spec->catfile($dir, "orchestrator-$port.jsonl"),
        mode   => File::Spec->catfile($dir, "orchestrator-$port.mode"),
    }, $class;
    unlink $self->{record};
    $self->set_mode($o{mode} // 'ok');
    $self->reopen;
    return $self;
}

sub port { $_[0]{port} }
sub url  { "http://127.0.0.1:$_[0]{port}" }

sub set_mode {
    my ($self, $mode) = @_;
    open my $out, '>', "$self->{mode}.tmp" or die "mode file: $!";
    print $out $mode;
    CORE::close $out;
    rename "$self->{mode}.tmp", $self->{mode} or die "mode file: $!";
}

# The port stops accepting: connections are refused.
sub close {
    my ($self) = @_;
    $self->{proc}->stop if $self->{proc};
    delete $self->{proc};
}

# Serves again on the same port, keeping the record of earlier calls.
sub reopen {
    my ($self) = @_;
    $self->{proc} = Mesh::Proc->start(
        name     => 'orchestrator',
        cmd      => [$^X, "-I$LIB", '-MMesh::FakeOrchestrator', '-e',
                     'Mesh::FakeOrchestrator::serve(@ARGV)',
                     $self->{port}, $self->{record}, $self->{mode}],
        env      => { MESH_FAKE_SECRET => $self->{secret} },
        port     => $self->{port},
        valgrind => 0,
    );
}

sub stop { $_[0]->close }

# Every call so far, oldest first.
sub calls {
    my ($self) = @_;
    open my $in, '<', $self->{record} or return ();
    my @calls;
    while (my $line = <$in>) {
        my $c = eval { JSON::PP::decode_json($line) } or next;
        $c->{body} = eval { JSON::PP::decode_json($c->{raw}) };
        push @calls, $c;
    }
    return @calls;
}

sub heartbeats {
    my ($self) = @_;
    return grep { $_->{path} eq '/mesh/v1/nodes/heartbeat' } $self->calls;
}

sub leaves {
    my ($self) = @_;
    return grep { $_->{path} eq '/mesh/v1/nodes/leave' } $self->calls;
}

# --- the server process ---------------------------------------------------

sub serve {
    my ($port, $record, $mode_file) = @_;
    my $secret = $ENV{MESH_FAKE_SECRET} // '';
    my $listen = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => $port,
        Proto     => 'tcp',
        Listen    => 16,
        ReuseAddr => 1,
    ) or die "fake orchestrator: listen $port: $!\n";

    $SIG{TERM} = sub { exit 0 };
    while (my $conn = $listen->accept) {
        my $call = _read_request($conn) or next;
        $call->{t} = time;
        _answer($conn, $call, $secret, _mode($mode_file));
        _record($record, $call);
        CORE::close $conn;
    }
}

sub _mode {
    my ($file) = @_;
    open my $in, '<', $file or return 'ok';
    my $mode = <$in> // 'ok';
    return $mode;
}

# One request, with Content-Length framing (the agent sends no chunked
# bodies).  Returns {method, path, auth, raw} or undef.
sub _read_request {
    my ($conn) = @_;
    my $data = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    my $call = eval {
        alarm 5;
        while ($data !~ /\r\n\r\n/) {
            sysread($conn, $data, 4096, length $data) or die "eof\n";
        }
        my ($head, $rest) = split /\r\n\r\n/, $data, 2;
        my ($method, $path) = $head =~ m{^(\S+) (\S+) HTTP/1\.\d};
        my ($len)  = $head =~ /^Content-Length:\s*(\d+)/mi;
        my ($auth) = $head =~ /^Authorization:\s*(.*?)\r?$/mi;
        $len //= 0;
        while (length $rest < $len) {
            sysread($conn, $rest, $len - length $rest, length $rest)
                or die "eof\n";
        }
        alarm 0;
        { method => $method, path => $path, auth => $auth // '',
          head => $head, raw => $rest };
    };
    alarm 0;
    return $call;
}

sub _answer {
    my ($conn, $call, $secret, $mode) = @_;
    my ($status, $body);
    my $json = eval { JSON::PP::decode_json($call->{raw}) };
    $call->{auth_ok} = Mesh::Sign::node_ok($secret, $call->{method},
                                           $call->{path}, $call->{raw},
                                           $call->{auth});

    if ($call->{method} ne 'POST' || $call->{path} !~ m{^/mesh/v1/nodes/}) {
        ($status, $body) = (404, '{"error":"not found"}');
    } elsif (!$call->{auth_ok}) {
        ($status, $body) = (401, '{"error":"bad mesh credential"}');
    } elsif (ref $json ne 'HASH' || !defined $json->{node_id}) {
        ($status, $body) = (400, '{"error":"bad body"}');
    } elsif ($mode eq '503') {
        ($status, $body) = (503, '{"error":"registry unavailable"}');
    } else {
        ($status, $body) = (200, '{"ok":true,"heartbeat_interval_ms":3000}');
    }

    $call->{status} = $status;
    my $proof = '';
    if ($status == 200 && $mode ne 'unsigned') {
        my $key = $mode eq 'wrongsig' ? "not-$secret" : $secret;
        $proof = 'X-Mesh-Reply-Signature: '
            . Mesh::Sign::reply($key, $call->{auth}, $status, $body) . "\r\n";
    }
    my $reason = { 200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
                   404 => 'Not Found', 503 => 'Service Unavailable' };
    print $conn "HTTP/1.1 $status $reason->{$status}\r\n"
        . "Content-Type: application/json\r\n" . $proof
        . 'Content-Length: ' . length($body) . "\r\n"
        . "Connection: close\r\n\r\n$body";
}

sub _record {
    my ($file, $call) = @_;
    open my $out, '>>', $file or die "record $file: $!";
    print $out JSON::PP->new->canonical->encode($call), "\n";
    CORE::close $out;
}

1;
