package Test::Nginx::Request;

# HTTP/1 requests from a block's request sections, sent over a plain
# socket, and the responses parsed back (chunked bodies included).

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use HTTP::Response;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

use Test::Nginx::Util qw(bail_out expand_env_in_text $ServerAddr
                         $ServerName $ServerPortForClient);

# "Name: value" lines (comments skipped) to CRLF header text.
sub _more_headers {
    my ($text) = @_;
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $text // '') {
        next if $line =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $line, 2;
        $v //= '';
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# Rewrites "METHOD [URL [VERSION]]\nbody" into a full HTTP request with
# Host, Connection and Content-Length added.  Returns the request and
# the lengths needed to remap packet boundaries: (text, old head length,
# new head length, body bytes trimmed at the front).
sub build {
    my ($name, $req, $more, $conn) = @_;
    my ($first, $content) = $req =~ /\A([^\n]*\n?)(.*)\z/s;
    $first =~ /^(\s*)(\S+)( *)((\S+)( *))?((\S+)( *))?(\s*)$/
        or bail_out("$name - Request line is not valid. Should be "
                    . "'meth [url [version]]' but got \"$first\".");
    my ($meth, $url, $ver) = ($2, $5 // '/', $8 // 'HTTP/1.1');
    my ($hdr, $chunked) = _more_headers($more);
    my ($len, $front) = ('', 0);
    if (!$chunked && $content ne '' && $hdr !~ /(?:^|\n)Content-Length:/i) {
        $front = length(($content =~ /\A(\s*)/)[0]);
        $content =~ s/^\s+|\s+$//gs;
        $len = 'Content-Length: ' . length($content) . "\r\n";
    }
    my $head = "$meth $url $ver\r\n";
    $head .= "Host: $ServerName\r\n" if $hdr !~ /(?:^|\n)Host:/i;
    $head .= "Connection: $conn\r\n" if $hdr !~ /(?:^|\n)Connection/i;
    $head .= "$hdr$len\r\n";
    return ($head . $content, length $first, length $head, $front);
}

# A request given as packets: build the whole request, then cut it where
# the original packets were cut (mapped past the inserted headers).
sub _from_packets {
    my ($name, $packets, $more, $conn) = @_;
    my @items = map { ref $_ eq 'HASH' ? {%$_} : { value => $_ } }
                @$packets;
    my $orig = join '', map { $_->{value} } @items;
    my ($text, $old_head, $new_head, $front) =
        build($name, $orig, $more, $conn);
    my ($at, $prev) = (0, 0);
    for my $i (0 .. $#items) {
        $at += length $items[$i]{value};
        my $cut;
        if ($i == $#items) {
            $cut = length $text;
        } elsif ($at <= $old_head) {
            $cut = $at < $new_head ? $at : $new_head;
        } else {
            my $off = $at - $old_head - $front;
            $off = 0 if $off < 0;
            $cut = $new_head + $off;
            $cut = length $text if $cut > length $text;
        }
        $cut = $prev if $cut < $prev;
        $items[$i]{value} = substr $text, $prev, $cut - $prev;
        $prev = $cut;
    }
    return \@items;
}

sub _headers_for {
    my ($name, $more, $i) = @_;
    return $more unless ref $more eq 'ARRAY';
    my $h = $more->[$i];
    bail_out("$name - --- more_headers lacks data for request $i")
        unless defined $h;
    return $h;
}

sub _expand { expand_env_in_text($_[0], $_[1], $_[2]) }

# The block's requests: (a list of packet lists, each packet
# {value, delay_before}; how many responses each connection carries:
# more than 1 only for pipelined_requests).
sub requests {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $more = $block->more_headers;
    $more = _expand($more, $name, $rand_ports) unless ref $more;

    if (defined(my $raw = $block->raw_request)) {
        my @parts = ref $raw eq 'ARRAY' ? @$raw : ($raw);
        return ([[ map { { value => _expand($_, $name, $rand_ports) } }
                   @parts ]], 1);
    }
    if (my $reqs = $block->pipelined_requests) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            unless ref $reqs eq 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$reqs) {
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            my $one = _expand($reqs->[$i], $name, $rand_ports);
            $all .= (build($name, $one, _headers_for($name, $more, $i),
                           $conn))[0];
        }
        return ([[{ value => $all }]], scalar @$reqs);
    }

    my $req = $block->request;
    $req = eval $block->request_eval if defined $block->request_eval;
    bail_out("$name - request empty") unless defined $req;
    if (!ref $req) {
        1 while $req =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
        $req = [$req];
    }
    bail_out("$name - invalid --- request: MUST be string or array")
        unless ref $req eq 'ARRAY';
    my @list;
    for my $i (0 .. $#$req) {
        my $one = $req->[$i];
        my $hdr = _headers_for($name, $more, $i);
        my $packets = ref $one eq 'ARRAY' ? $one : [$one];
        $packets = [ map { ref $_ ? $_ : _expand($_, $name, $rand_ports) }
                     @$packets ];
        push @list, _from_packets($name, $packets, $hdr, 'close');
    }
    return (\@list, 1);
}

# Sends the packets on one connection and reads until the server closes.
# Returns (raw response, timed out?, connection error or undef).
sub send_packets {
    my ($packets, $timeout, %o) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $sock = IO::Socket::INET->new(
        PeerAddr => $ServerAddr,
        PeerPort => $ServerPortForClient,
        Proto    => 'tcp',
        Timeout  => $timeout,
    ) or return ('', 0,
                 "Can't connect to $ServerAddr:$ServerPortForClient: $!");
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);
    my ($resp, $timed_out, $write_failed) = ('', 0, 0);

  PACKET:
    for my $i (0 .. $#$packets) {
        my $p = $packets->[$i];
        my $delay = $p->{delay_before} // ($i ? $o{middle_delay} : undef);
        sleep $delay if $delay;
        my ($buf, $off) = ($p->{value} // '', 0);
        while ($off < length $buf) {
            if (!$sel->can_write($timeout)) {
                $timed_out = 1;
                last PACKET;
            }
            my $n = syswrite $sock, $buf, length($buf) - $off, $off;
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                $write_failed = 1;    # read whatever the server said
                last PACKET;
            }
            $off += $n;
        }
    }
    if (defined $o{shutdown} && !$timed_out && !$write_failed) {
        shutdown $sock, $o{shutdown} =~ /^\d+$/ ? $o{shutdown} : 1;
    }
    while (!$timed_out) {
        if (!$sel->can_read($timeout)) {
            $timed_out = 1;
            last;
        }
        my $n = sysread $sock, my $chunk, 65536;
        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            last;
        }
        last if $n == 0;
        $resp .= $chunk;
    }
    close $sock;
    return ($resp, $timed_out, undef);
}

sub _dechunk {
    my ($raw, $trailers) = @_;
    my $body = '';
    pos($raw) = 0;
    while (1) {
        if ($raw =~ /\G[ \t]*([A-Fa-f0-9]+)[^\r\n]*\r\n/gc) {
            my $size = hex $1;
            if ($size == 0) {
                # trailer fields, then the empty line
                $raw =~ /\G(?:[^\r\n]+\r\n)*\r\n/gc
                    or return (undef, undef,
                               'invalid chunked data received (no end)');
                return ($body, substr($raw, pos $raw));
            }
            return (undef, undef, 'invalid chunked data received '
                    . '(not enough octets for the data section)')
                if length($raw) - pos($raw) < $size + 2;
            $body .= substr $raw, pos($raw), $size;
            pos($raw) += $size;
            $raw =~ /\G\r\n/gc
                or return (undef, undef,
                           'invalid chunked data received (expected CRLF)');
        } elsif ($raw =~ /\G.+/gcs) {
            return (undef, undef, "invalid chunked body received: $&");
        } else {
            return (undef, undef, "no last chunk found - $raw");
        }
    }
}

# Parses one response off the front of $raw.  Returns (HTTP::Response or
# undef, raw header text, bytes left after it, error or undef).
sub parse_response {
    my ($raw, $head_req) = @_;
    my ($raw_headers) = $raw =~ /\A(.*?\r\n)\r\n/s;
    $raw_headers //= '';
    my $res = HTTP::Response->parse($raw);
    my $code = $res->code;
    $res->code(undef) if defined $code && $code !~ /^\d+$/;
    $code = $res->code;
    return ($res, $raw_headers, undef, undef)
        if $code && ($code == 304 || $code == 101);
    if ($head_req) {
        return ($res, $raw_headers, undef, undef);
    }
    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $left;
    if (defined $enc && $enc eq 'chunked') {
        my ($body, $rest, $err) = _dechunk($res->content // '');
        return ($res, $raw_headers, undef, $err) if $err;
        $res->content($body);
        $left = $rest if length $rest;
    } elsif (defined $len && $len =~ /^\d+$/) {
        my $content = $res->content // '';
        if (length $content > $len) {
            $left = substr $content, $len;
            $res->content(substr $content, 0, $len);
        }
    }
    return ($res, $raw_headers, $left, undef);
}

1;
