package Mesh::Script;

# A node whose replies a test writes byte by byte: a real HTTP server on
# a loopback port (a process of its own, one child per connection) that
# reads each request and answers it with the steps of the first reply
# whose "match" regex is found in the request (headers and body), or of
# the last reply.  Steps: ['send', $bytes], ['sleep', $seconds],
# ['close'] (FIN), ['reset'] (RST).  After the steps without a close the
# connection waits for the next request.  Each request is logged as one
# line "request: METHOD PATH".  It stands where Ollama's exact bytes on
# the wire matter: a line split across two reads, a reply cut after a
# given line, a status the simulator has no fault for.
#
#   my $node = Mesh::Script::start(replies => [
#       { match => 'split', steps => [
#           ['send', Mesh::Script::head(200)],
#           ['send', Mesh::Script::chunk(qq({"done":))], ['sleep', 0.3],
#           ['send', Mesh::Script::chunk(qq(true}\n))], ['reset'] ] },
#       { steps => [['send', Mesh::Script::reply(429, '{"error":"x"}')]] },
#   ]);
#   $node->port; $node->requests;    # how many requests it read

use strict;
use warnings;

use File::Spec;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER);

use Mesh::Proc;

my $LIB = File::Spec->rel2abs(File::Spec->catdir(
    (File::Spec->splitpath(__FILE__))[1], '..'));

sub start {
    my (%o) = @_;
    my $port = Mesh::Proc::free_port();
    my $spec = JSON::PP->new->canonical->encode(
        { port => $port, replies => $o{replies} });
    my $p = Mesh::Proc->start(
        name     => $o{name} // 'script-node',
        cmd      => [$^X, "-I$LIB", '-MMesh::Script', '-e',
                     'Mesh::Script::serve(@ARGV)', $spec],
        port     => $port,
        valgrind => 0,
    );
    return bless { proc => $p, port => $port }, __PACKAGE__;
}

sub port { $_[0]{port} }

sub requests {
    my ($self) = @_;
    my @n = $self->{proc}->log_text =~ /^request: /mg;
    return scalar @n;
}

sub stop { $_[0]{proc}->stop }

# The status line and headers of a streamed (chunked) Ollama reply.
sub head {
    my ($status) = @_;
    return "HTTP/1.1 $status X\r\nContent-Type: application/x-ndjson\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n";
}

sub chunk {
    my ($data) = @_;
    return sprintf("%x\r\n", length $data) . "$data\r\n";
}

# A whole JSON reply with its length.
sub reply {
    my ($status, $json) = @_;
    return "HTTP/1.1 $status X\r\nContent-Type: application/json\r\n"
        . 'Content-Length: ' . (length($json) + 1) . "\r\n\r\n$json\n";
}

# --- the server (a process of its own) -------------------------------------

sub serve {
    my ($json) = @_;
    my $spec = JSON::PP->new->decode($json);
    $| = 1;
    $SIG{CHLD} = 'IGNORE';
    $SIG{TERM} = sub { POSIX::_exit(0) };
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $spec->{port}, Listen => 64,
                                  ReuseAddr => 1)
        or die "listen: $!\n";
    while (1) {
        my $c = $l->accept or next;
        my $pid = fork;
        next if !defined $pid;
        if ($pid == 0) {
            close $l;
            _connection($c, $spec->{replies});
            POSIX::_exit(0);
        }
        close $c;
    }
}

sub _connection {
    my ($c, $replies) = @_;
    my $buf = '';
    while (1) {
        my $req = _read_request($c, \$buf) // return;
        my ($line) = $req =~ /^([^\r\n]*)/;
        my ($method, $path) = split ' ', $line // '';
        print "request: $method $path\n";
        my ($reply) = grep { defined $_->{match} && $req =~ /$_->{match}/ }
            @$replies;
        $reply //= $replies->[-1];
        for my $step (@{ $reply->{steps} }) {
            my ($what, $arg) = @$step;
            if ($what eq 'send') {
                syswrite $c, $arg;
            } elsif ($what eq 'sleep') {
                select undef, undef, undef, $arg;
            } elsif ($what eq 'close') {
                close $c;
                return;
            } elsif ($what eq 'reset') {
                setsockopt $c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0);
                close $c;
                return;
            }
        }
    }
}

# One request (headers and a Content-Length body) or undef at EOF.
sub _read_request {
    my ($c, $buf) = @_;
    while ($$buf !~ /\r\n\r\n/) {
        sysread($c, $$buf, 65536, length $$buf) or return undef;
    }
    my ($head) = $$buf =~ /\A(.*?\r\n\r\n)/s;
    my ($len) = $head =~ /^content-length:\s*(\d+)/mi;
    $len //= 0;
    while (length($$buf) < length($head) + $len) {
        sysread($c, $$buf, 65536, length $$buf) or return undef;
    }
    return substr $$buf, 0, length($head) + $len, '';
}

1;
