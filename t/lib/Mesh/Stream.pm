package Mesh::Stream;

# An HTTP/1.1 client that sees a reply while it arrives: each complete
# body line goes to a callback as soon as it is in (so a test can act
# after the first token), and the result says how the body ended: a clean
# chunked end ("0\r\n\r\n"), or a connection cut before it.  No test
# modules are loaded, so a background client (run()) starts fast.
#
#   my $r = Mesh::Stream::request(port => $port, method => 'POST',
#       path => '/api/generate', body => $json,
#       on_line => sub { my ($line, $r) = @_; ... });
#   $r->{status}; $r->{headers}{'x-mesh-node'}; $r->{lines};
#   $r->{clean_end};   # 1: chunked body ended properly (or full length)
#   $r->{eof};         # 1: the server closed the connection
#
# As a program (Mesh::Proc runs it for background requests): the request
# is the JSON object given as argument, the result JSON goes to stdout.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use Time::HiRes qw(time);

my $JSON = JSON::PP->new->canonical;

sub request {
    my (%o) = @_;
    my %r = (raw => '', status => undef, headers => {}, body => '',
             lines => [], clean_end => 0, eof => 0, timed_out => 0);
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $o{port}, Timeout => 5);
    if (!$sock) {
        $r{error} = "connect: $!";
        return \%r;
    }
    local $SIG{PIPE} = 'IGNORE';
    syswrite $sock, _head(\%o) . ($o{body} // '');
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);
    my $deadline = time + ($o{timeout} // 10);
    my $given = 0;
    while (!$r{done}) {
        my $left = $deadline - time;
        if ($left <= 0) {
            $r{timed_out} = 1;
            last;
        }
        next unless $sel->can_read($left);    # or a signal came
        my $n = sysread $sock, my $buf, 65536;
        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            $r{error} = "read: $!";
            $r{eof} = 1;
            last;
        }
        if ($n == 0) {
            $r{eof} = 1;
            last;
        }
        $r{raw} .= $buf;
        _parse(\%r);
        while ($o{on_line} && $given < @{ $r{lines} }) {
            $o{on_line}->($r{lines}[$given++], \%r);
        }
    }
    close $sock;
    _parse(\%r);
    delete $r{done};
    return \%r;
}

sub _head {
    my ($o) = @_;
    my $method = $o->{method} // (defined $o->{body} ? 'POST' : 'GET');
    my $head = "$method $o->{path} HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n";
    my $h = $o->{headers} || {};
    $head .= "$_: $h->{$_}\r\n" for sort keys %$h;
    if (defined $o->{body}) {
        $head .= "Content-Type: application/json\r\n"
            unless grep { lc eq 'content-type' } keys %$h;
        $head .= 'Content-Length: ' . length($o->{body}) . "\r\n";
    }
    return "$head\r\n";
}

# Re-reads what arrived so far: status, headers, the body decoded as far
# as whole chunks go, its complete lines, and whether it has ended.
sub _parse {
    my ($r) = @_;
    my ($head, $rest) = split /\r\n\r\n/, $r->{raw}, 2;
    return unless defined $rest;
    my @h = split /\r\n/, $head;
    ($r->{status}) = (shift(@h) // '') =~ m{^HTTP/\d\.\d (\d{3})};
    $r->{headers} = { map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } @h };
    my $te = $r->{headers}{'transfer-encoding'} // '';
    my $len = $r->{headers}{'content-length'};
    if ($te eq 'chunked') {
        my $body = '';
        while ($rest =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $size = hex $1;
            if ($size == 0) {
                $r->{clean_end} = 1 if $rest =~ /\A\r\n/;
                last;
            }
            last if length $rest < $size + 2;
            $body .= substr $rest, 0, $size;
            substr($rest, 0, $size + 2) = '';
        }
        $r->{body} = $body;
    } else {
        $r->{body} = $rest;
        $r->{clean_end} = 1 if defined $len && length $rest >= $len;
    }
    $r->{done} = $r->{clean_end};
    $r->{lines} = [ $r->{body} =~ /([^\n]*)\n/g ];
}

# The body's lines decoded as JSON (a line that is not JSON: undef).
sub json_lines {
    my ($r) = @_;
    return map { my $l = $_; scalar eval { $JSON->decode($l) } }
        @{ $r->{lines} };
}

# Program mode: one request from the JSON argument, the result on stdout.
# With "repeat": the request again and again, "pause" s apart, until
# SIGTERM; the result is then {"results":[{status, node, error, end},
# ...]} (end: when the reply was in, seconds since the epoch).
sub run {
    my ($spec) = @_;
    my %o = %{ $JSON->decode($spec) };
    my $r;
    if (delete $o{repeat}) {
        my $pause = delete $o{pause} // 0.05;
        my ($stop, @all) = (0);
        local $SIG{TERM} = sub { $stop = 1 };
        until ($stop) {
            my $one = request(%o);
            push @all, { status => $one->{status} // 0,
                         node => $one->{headers}{'x-mesh-node'} // '',
                         error => $one->{error} // '', end => time };
            select undef, undef, undef, $pause unless $stop;
        }
        $r = { results => \@all };
    } else {
        $r = request(%o);
    }
    $| = 1;
    print $JSON->encode($r), "\n";
    return 0;
}

1;
