package Mesh::Agent;

# Helpers for the echo-agent suites (t/030-049): start an agent in front
# of a simulator, call it with the mesh credential, read a streamed reply
# with the time each piece arrived.
#
#   my $sim   = Mesh::Agent::start_sim('--tokens', 5);
#   my $agent = Mesh::Agent::start(sim => $sim, args => ['--max-tasks', 1]);
#   my $res   = Mesh::Agent::call($agent, POST => '/api/generate', $json);
#   my ($res, $pieces) = Mesh::Agent::stream($agent, '/api/generate', $json);
#
# With MESH_VALGRIND=1 the agent runs under memcheck (Mesh::Proc's
# default for the project's binaries); the simulator never does, so only
# the agent is checked and the suites stay fast.

use strict;
use warnings;

use File::Spec;
use HTTP::Request;
use IO::Socket::INET;
use JSON::PP ();
use LWP::UserAgent;
use Time::HiRes qw(sleep time);

use Mesh::Proc;
use Mesh::Sign;

our $SECRET = 'mesh-test-secret-0123456789abcdef';
our %NodeOf;        # agent port => node id, for its task credentials

# Generous waits under valgrind, where everything is ~20x slower.
our $SLOW = $ENV{MESH_VALGRIND} ? 10 : 1;

# A heartbeat interval (the agent re-reads Ollama at the same pace) that
# outlasts a whole suite, so a suite may count on no poll in between: a
# minute, ten under valgrind (the most the agent accepts).
our $IDLE_INTERVAL = (60 * $SLOW) . 's';

sub secret_file {
    my $path = File::Spec->catfile(Mesh::Proc::log_dir(), 'mesh-secret');
    open my $out, '>', $path or die "$path: $!";
    print $out "$SECRET\n";
    close $out;
    chmod 0600, $path;
    return $path;
}

sub start_sim {
    my (@args) = @_;
    local $ENV{MESH_VALGRIND} = 0;
    return Mesh::Proc::start_sim(@args);
}

# Options: sim, orchestrator (URL), node_id, args (extra flags), env, name.
sub start {
    my (%o) = @_;
    my $port = Mesh::Proc::free_port();
    my @cmd = (Mesh::Proc::bin('echo-agent'),
               '--listen', "127.0.0.1:$port",
               '--node-id', $o{node_id} // 'node-a',
               '--secret-file', secret_file(),
               '--log-level', 'debug',
               # never announced on, nor joining from, this machine's
               # network when it runs an avahi-daemon (t/150 tests mDNS)
               '--mdns', 'off');
    push @cmd, '--ollama', 'http://127.0.0.1:' . $o{sim}->port if $o{sim};
    push @cmd, '--orchestrator', $o{orchestrator} if $o{orchestrator};
    push @cmd, @{ $o{args} || [] };

    $NodeOf{$port} = $o{node_id} // 'node-a';
    my $agent = Mesh::Proc->start(
        name  => $o{name} // 'echo-agent',
        cmd   => \@cmd,
        env   => $o{env},
        port  => $port,
        ready => sub {
            my ($code) = Mesh::Proc::http_get($port, '/healthz');
            return defined $code;
        },
    );
    return $agent;
}

sub url {
    my ($agent, $path) = @_;
    return 'http://127.0.0.1:' . $agent->port . $path;
}

sub ua {
    return LWP::UserAgent->new(timeout => 30 * $SLOW, keep_alive => 0);
}

# A fresh task credential for $agent, as nginx signs one for each task
# (Mesh::Sign::task): bound to the agent's node id, a new task id, now.
my $TaskNo = 0;
sub task_auth {
    my ($agent, %o) = @_;
    my $node = $o{node_id} // $NodeOf{ $agent->port } // 'node-a';
    return Mesh::Sign::task($o{secret} // $SECRET, $node,
                            $o{task_id} // sprintf('t%x-%d', $$, ++$TaskNo),
                            %o{qw(ts)} );
}

# A request with the mesh credential unless auth => undef or another value.
sub call {
    my ($agent, $method, $path, $body, %o) = @_;
    my $req = HTTP::Request->new($method => url($agent, $path));
    my $auth = exists $o{auth} ? $o{auth} : task_auth($agent);
    $req->header(Authorization => $auth) if defined $auth;
    $req->header('Content-Type' => 'application/json') if defined $body;
    $req->content($body) if defined $body;
    return ua()->request($req);
}

# POSTs $body and reads the reply as it comes: returns the response and
# [[arrival time, bytes], ...].  $o{stop}->(\@pieces) true ends the read
# early and drops the connection (a client that hangs up).
sub stream {
    my ($agent, $path, $body, %o) = @_;
    my $req = HTTP::Request->new(POST => url($agent, $path));
    $req->header(Authorization => task_auth($agent));
    $req->header('Content-Type' => 'application/json');
    $req->content($body);

    my @pieces;
    my $res = ua()->request($req, sub {
        push @pieces, [time, $_[0]];
        die "client hangs up\n" if $o{stop} && $o{stop}->(\@pieces);
    }, 65536);
    return ($res, \@pieces);
}

# Starts a streamed task on a raw socket and returns (socket, bytes read)
# once the reply's first body line is in: the task is running.  With
# wait => 0 it returns as soon as the request is sent.
sub open_stream {
    my ($agent, $path, $body, %o) = @_;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $agent->port,
        Proto    => 'tcp',
        Timeout  => 5,
    ) or die "connect to the agent: $!\n";
    print $sock "POST $path HTTP/1.1\r\nHost: agent\r\n"
        . 'Authorization: ' . task_auth($agent) . "\r\n"
        . "Content-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    my $data = '';
    return ($sock, $data) if defined $o{wait} && !$o{wait};
    my $deadline = time + 10 * $SLOW;
    while ($data !~ /\r\n\r\n.*\n/s && time < $deadline) {
        sysread($sock, $data, 65536, length $data) or last;
    }
    return ($sock, $data);
}

# Reads until the peer closes or the chunked body ends; returns the bytes.
sub read_rest {
    my ($sock, $data, $timeout) = @_;
    my $deadline = time + ($timeout // 10) * $SLOW;
    local $SIG{ALRM} = sub { die "read timeout\n" };
    eval {
        while ($data !~ /\r\n0\r\n\r\n\z/ && time < $deadline) {
            alarm 1 + int($deadline - time);
            my $n = sysread($sock, $data, 65536, length $data);
            alarm 0;
            last unless $n;
        }
    };
    alarm 0;
    return $data;
}

# (status, body) of a raw HTTP/1.1 reply with a chunked body.
sub parse_chunked {
    my ($raw) = @_;
    my ($head, $rest) = split /\r\n\r\n/, $raw, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    my $body = '';
    while (defined $rest && $rest =~ s/\A([0-9a-fA-F]+)\r\n//) {
        my $len = hex $1;
        last if $len == 0 || length $rest < $len + 2;
        $body .= substr($rest, 0, $len);
        substr($rest, 0, $len + 2) = '';
    }
    return ($status, $body);
}

sub json { JSON::PP::decode_json($_[0]) }

# What the agent's /healthz says of Ollama ("up", "down"), or "HTTP <code>".
sub ollama_state {
    my ($agent) = @_;
    my $res = call($agent, GET => '/healthz', undef, auth => undef);
    return $res->code == 200 ? json($res->content)->{ollama}
                             : 'HTTP ' . $res->code;
}

# echo_agent_heartbeats_total{result="$result"} from the agent's /metrics.
sub heartbeat_metric {
    my ($agent, $result) = @_;
    my $m = call($agent, GET => '/metrics')->content;
    my ($v) = $m =~
        /^echo_agent_heartbeats_total\{result="\Q$result\E"\} (\d+)$/m;
    return $v;
}

sub sim_stats {
    my ($sim) = @_;
    my ($code, $body) = Mesh::Proc::http_get($sim->port, '/_sim/stats');
    return defined $body ? json($body) : {};
}

# Sets the simulator's fault mode ("none", "500", "fail-after=3", ...).
sub sim_fault {
    my ($sim, $fault) = @_;
    my $res = ua()->post('http://127.0.0.1:' . $sim->port . '/_sim/fault',
                         Content => $fault);
    die "sim fault $fault: " . $res->status_line . "\n"
        unless $res->is_success;
}

# The reply without what differs from one run to the next: timestamps
# and measured durations.  Everything else must match byte for byte.
sub without_clock {
    my ($text) = @_;
    $text =~ s/"created_at":"[^"]*"/"created_at":""/g;
    $text =~ s/"(\w+_duration)":\d+/"$1":0/g;
    return $text;
}

# Polls $cond until true or $timeout seconds (scaled under valgrind).
sub wait_for {
    my ($cond, $timeout) = @_;
    my $deadline = time + ($timeout // 5) * $SLOW;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.05;
    }
    return $cond->() ? 1 : 0;
}

1;
