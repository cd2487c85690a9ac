#!/usr/bin/perl
# A stand-in Ollama for t/041: forwards each request to the simulator and
# sends its reply back framed as MODE says, to put the agent's HTTP client
# through what Ollama or a proxy before it may send.
#   reframe.pl LISTEN_PORT SIM_PORT MODE
# MODE: chunked   the body in 7-byte chunks with extensions, a trailer;
#       bighead   a 20 KiB reply header (over the client's 16 KiB);
#       mute      reads the request and never answers;
#       oneshot   keep-alive in words, but closes after each reply.
use strict;
use warnings;

use IO::Socket::INET;
use LWP::UserAgent;
use HTTP::Request;

my ($listen, $sim, $mode) = @ARGV;
my $srv = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$listen",
                                Listen => 64, ReuseAddr => 1)
    or die "listen: $!\n";
$SIG{CHLD} = 'IGNORE';
my $ua = LWP::UserAgent->new(timeout => 60);
print "listening on $listen\n";
my $parent = $$;

while (my $c = $srv->accept) {
    my $pid = fork;
    next if !defined $pid || $pid;
    close $srv;
    serve($c);
    exit 0;
}

sub serve {
    my ($c) = @_;
    binmode $c;
    while (1) {
        my $head = '';
        while ($head !~ /\r\n\r\n/) {
            my $n = sysread $c, $head, 4096, length $head;
            return unless $n;
        }
        my ($h, $rest) = split /\r\n\r\n/, $head, 2;
        my ($method, $path) = $h =~ m{^(\w+) (\S+)};
        my ($len) = $h =~ /^Content-Length:\s*(\d+)/mi;
        $len //= 0;
        while (length $rest < $len) {
            my $n = sysread $c, $rest, $len - length $rest, length $rest;
            return unless $n;
        }
        if ($mode eq 'mute') {
            # until the test stops the server (the parent)
            sleep 1 while getppid() == $parent;
            return;
        }
        my $req = HTTP::Request->new($method => "http://127.0.0.1:$sim$path");
        $req->content($rest) if $len;
        $req->header('Content-Type' => 'application/json') if $len;
        my $res = $ua->request($req);
        my $body = $res->content;
        my $type = $res->header('Content-Type') // 'application/json';
        my $out = sprintf "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n",
            $res->code, $res->message // 'OK', $type;
        if ($mode eq 'chunked') {
            $out .= "Transfer-Encoding: chunked\r\n\r\n";
            for (my $i = 0; $i < length $body; $i += 7) {
                my $piece = substr $body, $i, 7;
                $out .= sprintf "%x;piece=%d\r\n%s\r\n", length $piece,
                    $i, $piece;
            }
            $out .= "0\r\nX-Trailer: done\r\n\r\n";
        } else {
            $out .= 'X-Padding: ' . ('p' x 20480) . "\r\n"
                if $mode eq 'bighead';
            $out .= "Content-Length: " . length($body) . "\r\n\r\n$body";
        }
        # the chunked reply goes out in small writes, cut anywhere
        if ($mode eq 'chunked') {
            for (my $i = 0; $i < length $out; $i += 5) {
                syswrite $c, substr($out, $i, 5) or return;
            }
        } else {
            syswrite $c, $out or return;
        }
        return if $mode eq 'oneshot';
    }
}
