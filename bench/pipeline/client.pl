#!/usr/bin/perl
# One round of bench/pipeline/run.sh: alternately a pipeline run by the
# orchestrator and the same two steps chained by this client, on kept-alive
# connections; prints the latency percentiles of each side and the
# difference.  Every reply is checked, so a broken side cannot look fast.
use strict;
use warnings;
use IO::Socket::INET;
use JSON::PP;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);

my ($port, $n) = @ARGV;
my $base = "http://127.0.0.1:$port";
my $json = JSON::PP->new;
my $img = 'aGVsbG8=';
my (@pipe, @chain);
# One kept-alive connection per side.  Each request goes out in one write
# with TCP_NODELAY: a client that writes headers and body apart meets
# Nagle and delayed ACKs (40 ms a request), which would measure the client.
my $pipe_http = conn();
my $task_http = conn();

sub conn {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 10) or die "connect: $!\n";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1) or die "nodelay: $!\n";
    return $s;
}

sub post {
    my ($s, $path, $body) = @_;
    my $b = $json->encode($body);
    my ($buf, $head) = ('', undef);
    syswrite $s, "POST $path HTTP/1.1\r\nHost: bench\r\n"
        . "Content-Type: application/json\r\nContent-Length: "
        . length($b) . "\r\n\r\n$b" or die "write: $!\n";
    while (1) {
        my $n = sysread $s, $buf, 65536, length $buf;
        die "$path: connection closed\n" unless $n;
        if (!defined $head && $buf =~ s/\A(.*?\r\n)\r\n//s) {
            $head = $1;
        }
        next unless defined $head;
        if ($head =~ /^Content-Length:\s*(\d+)/mi) {
            next if length $buf < $1;
            $buf = substr $buf, 0, $1;
        } elsif ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
            next unless $buf =~ /(?:\A|\r\n)0\r\n\r\n\z/;
            my $body = '';
            while ($buf =~ s/\A([0-9a-fA-F]+)\r\n//) {
                my $len = hex $1;
                $body .= substr $buf, 0, $len, '';
                $buf =~ s/\A\r\n//;
            }
            $buf = $body;
        } else {
            die "$path: reply without a length\n";
        }
        last;
    }
    die "$path: $head\n$buf\n" unless $head =~ m{\AHTTP/1\.1 200 };
    return $json->decode($buf);
}

for my $i (1 .. $n) {
    my $t0 = time;
    my $p = post($pipe_http, '/mesh/v1/pipelines/describe-and-summarize',
                 { prompt => 'x', images => [$img], stream => JSON::PP::false });
    my $t1 = time;
    my $s1 = post($task_http, '/mesh/v1/tasks',
                  { type => 'vision', prompt => 'Describe this image in detail.',
                    images => [$img], stream => JSON::PP::false });
    my $s2 = post($task_http, '/mesh/v1/tasks',
                  { type => 'summarize',
                    prompt => "Summarize in one sentence: $s1->{response}",
                    stream => JSON::PP::false });
    my $t2 = time;
    die "the two sides disagree: '$p->{response}' vs '$s2->{response}'\n"
        unless $p->{response} eq $s2->{response};
    push @pipe, ($t1 - $t0) * 1000;
    push @chain, ($t2 - $t1) * 1000;
}

sub pct {
    my ($v, $q) = @_;
    my @s = sort { $a <=> $b } @$v;
    return $s[int($q * $#s + 0.5)];
}

printf "%-28s p50 %7.3f ms   p90 %7.3f ms   p99 %7.3f ms\n", $_->[0],
    pct($_->[1], 0.5), pct($_->[1], 0.9), pct($_->[1], 0.99)
    for ['pipeline (orchestrator)', \@pipe], ['two tasks (client chains)', \@chain];
printf "%-28s p50 %+7.3f ms   p90 %+7.3f ms\n", 'pipeline minus client',
    pct(\@pipe, 0.5) - pct(\@chain, 0.5), pct(\@pipe, 0.9) - pct(\@chain, 0.9);
