#!/usr/bin/perl
# Time to first token of streamed requests on kept-alive connections,
# alternating between the targets request by request.  Not a test.
#   bench/stream/ttft.pl REQUESTS LABEL=PORT[=MODEL[=openai[=HEADERS]]] ...
# Each target gets POST /api/generate for MODEL (default mistral:7b), or
# with "openai" a streamed POST /v1/chat/completions (first token: the
# first delta with content), HEADERS "Name: value|Name: value" added;
# prints p50 and p99 (ms).
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(time);

my ($n, @targets) = @ARGV;
my (@label, @sock, @req, %t);
for my $t (@targets) {
    my ($label, $port, $model, $openai, $headers) =
        $t =~ /^([^=]+)=(\d+)(?:=([^=\s]+)(?:=(openai)(?:=(.+))?)?)?$/
        or die "bad target $t\n";
    $model //= 'mistral:7b';
    my ($path, $body) = $openai
        ? ('/v1/chat/completions', '{"model":"' . $model . '","messages":'
           . '[{"role":"user","content":"why is the sky blue"}],'
           . '"stream":true}')
        : ('/api/generate',
           '{"model":"' . $model . '","prompt":"why is the sky blue"}');
    my $extra = join '', map { "$_\r\n" } split /\|/, $headers // '';
    push @req, "POST $path HTTP/1.1\r\nHost: bench\r\n$extra"
        . "Content-Type: application/json\r\nContent-Length: "
        . length($body) . "\r\n\r\n$body";
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
        or die "$label: $!\n";
    $s->setsockopt(6, 1, 1);    # TCP_NODELAY: one write, no Nagle
    push @label, $label;
    push @sock, $s;
}

sub once {
    my ($s, $req) = @_;
    my $t0 = time;
    syswrite $s, $req;
    my ($buf, $first) = ('', undef);
    while (1) {
        sysread($s, $buf, 262144, length $buf) or die "connection lost\n";
        # the first NDJSON line with a token (the native door's "routed"
        # line is not one), or the first OpenAI delta with content
        $first //= time if $buf =~ /"response"|"content":"[^"]/;
        last if $buf =~ /\r\n0\r\n\r\n\z/;
        die "not 200: " . substr($buf, 0, 200) . "\n"
            if $buf =~ /\A[^\r]+ (\d+)/ && $1 != 200;
    }
    return $first - $t0;
}

sub pct {
    my ($p, @v) = @_;
    my @s = sort { $a <=> $b } @v;
    return $s[int($p / 100 * $#s + 0.5)];
}

for my $i (1 .. $n + 20) {
    for my $k (0 .. $#sock) {
        my $d = once($sock[$k], $req[$k]);
        push @{ $t{$k} }, $d if $i > 20;    # 20 warm-up rounds
    }
}
for my $k (0 .. $#sock) {
    printf "  %-40s TTFT p50 %7.3f ms   p99 %7.3f ms\n", $label[$k],
        1000 * pct(50, @{ $t{$k} }), 1000 * pct(99, @{ $t{$k} });
}
