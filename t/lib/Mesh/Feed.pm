package Mesh::Feed;

# Clients of the live feed (README, "Live feed") for the t/100-109 suites,
# written from RFC 6455 and the SSE format so that they check the
# module's bytes, not another library's reading of them:
#
#   my $ws = Mesh::Feed->ws(path => '/mesh/v1/feed?exclude=node.load');
#   $ws->{status}                       # 101, or the refusal's status
#   my $snap = $ws->json;               # the next text message, decoded
#   $ws->frame(0x9, 'hi');              # send a frame (masked by default)
#   my ($op, $data) = $ws->read;        # the next frame; undef: eof/timeout
#   $ws->close_code;                    # frames until a close: "close 1008"
#   my $sse = Mesh::Feed->sse(path => '/mesh/v1/feed');
#   $sse->json;                         # the next data: event, decoded
#   Mesh::Feed::publish([$channel, $json], ...);   # on the file's Redis
#   Mesh::Feed::listening();   # feed subscriptions Redis counts (publish
#                              # waits for one)
#   my $c = Mesh::Feed::past_snapshot('sse');      # or 'ws'
#   Mesh::Feed::add_check();   # after Mesh::Orch::suite(): the sections
#       --- feed_run (Perl run after the block's request, returning a
#       transcript) and --- feed (that transcript), one test
#
# Deadlines only catch hangs (tripled under valgrind).

use strict;
use warnings;

use Digest::SHA qw(sha1_base64);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes qw(time);

our $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;
my $JSON = JSON::PP->new->canonical;

sub add_check {
    Mesh::Orch::add_check(feed => sub {
        my ($block, $want, $body) = @_;
        my $got = eval "package main; " . $block->feed_run;
        $got = "died: $@" unless defined $got;
        s/\s+\z// for $got, $want;
        Test::More::is($got, $want, $block->name . ' - feed');
    });
}

sub _connect {
    my (%o) = @_;
    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $o{port} // $ENV{TEST_NGINX_SERVER_PORT},
        Proto    => 'tcp',
        Timeout  => 5 * $Slow,
    ) or die "feed: cannot connect: $!";
    if ($o{rcvbuf}) {
        setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $o{rcvbuf}))
            or die "feed: SO_RCVBUF: $!";
    }
    binmode $s;
    $s->autoflush(1);
    return $s;
}

# Sends a request and reads the response header: (status, headers, rest).
sub _request {
    my ($s, $request, $timeout) = @_;
    print {$s} $request;
    my $buf = '';
    my $deadline = time + $timeout;
    while ($buf !~ /\r\n\r\n/) {
        my $left = $deadline - time;
        return (0, {}, '') if $left <= 0;
        return (0, {}, '') unless IO::Select->new($s)->can_read($left);
        my $n = sysread($s, $buf, 65536, length $buf);
        return (0, {}, $buf) unless $n;
    }
    my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
    my ($status) = $head =~ m{\AHTTP/1\.[01] (\d{3})};
    my %h;
    for my $line (split /\r\n/, $head) {
        $h{lc $1} = $2 if $line =~ /^([^:]+):\s*(.*)$/;
    }
    return ($status // 0, \%h, $rest);
}

# A WebSocket handshake; headers => { Name => value or undef (left out) }.
sub ws {
    my ($class, %o) = @_;
    my $key = $o{key} // encode_base64(join('', map { chr int rand 256 }
                                                1 .. 16), '');
    my %h = (Host => '127.0.0.1', Upgrade => 'websocket',
             Connection => 'Upgrade', 'Sec-WebSocket-Key' => $key,
             'Sec-WebSocket-Version' => 13, %{ $o{headers} // {} });
    my $req = ($o{method} // 'GET') . ' ' . ($o{path} // '/mesh/v1/feed')
        . ' ' . ($o{version} // 'HTTP/1.1') . "\r\n";
    for my $name (sort keys %h) {
        $req .= "$name: $h{$name}\r\n" if defined $h{$name};
    }
    $req .= "\r\n" . ($o{after} // '');
    my $s = _connect(%o);
    my ($status, $headers, $rest) = _request($s, $req, 5 * $Slow);
    return bless { sock => $s, status => $status, headers => $headers,
                   buf => $rest, key => $key }, $class;
}

# What Sec-WebSocket-Accept must be for this client's key (RFC 6455 4.2.2).
sub expected_accept {
    my ($self) = @_;
    my $b = sha1_base64($self->{key} . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11');
    return $b . '=';
}

# One client frame: opcode, payload, fin (default 1), mask (default 1),
# rsv bits; or raw bytes with $ws->raw.
sub frame {
    my ($self, $op, $data, %o) = @_;
    $data //= '';
    my $fin = $o{fin} // 1;
    my $mask = $o{mask} // 1;
    my $b = chr(($fin ? 0x80 : 0) | (($o{rsv} // 0) << 4) | $op);
    my $len = length $data;
    my $m = $mask ? 0x80 : 0;
    if ($len < 126) {
        $b .= chr($m | $len);
    } elsif ($len < 65536) {
        $b .= chr($m | 126) . pack('n', $len);
    } else {
        $b .= chr($m | 127) . pack('Q>', $len);
    }
    if ($mask) {
        my $k = join '', map { chr int rand 256 } 1 .. 4;
        $b .= $k . ($data ^ substr($k x (int($len / 4) + 1), 0, $len));
    } else {
        $b .= $data;
    }
    $self->raw($b);
}

sub raw {
    my ($self, $bytes) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $s = $self->{sock};
    print {$s} $bytes;
}

sub _fill {
    my ($self, $need, $deadline) = @_;
    while (length $self->{buf} < $need) {
        my $left = $deadline - time;
        return 'timeout' if $left <= 0;
        return 'timeout'
            unless IO::Select->new($self->{sock})->can_read($left);
        my $n = sysread($self->{sock}, $self->{buf}, 65536,
                        length $self->{buf});
        return 'eof' unless $n;
    }
    return;
}

# The next server frame: (opcode, payload, fin), or (undef, 'eof' |
# 'timeout' | 'masked').  A client past its snapshot (past_snapshot, or
# {past_snapshot} set) skips a second one: a client that connected before
# the worker's subscription got a snapshot after a second, and gets a
# fresh one when the subscription comes (before any event it carries).
sub read {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5) * $Slow;
    for (;;) {
        my @f = $self->_frame($deadline);
        return @f unless $self->{past_snapshot} && ($f[0] // 0) == 0x1
            && $f[1] =~ /\A\{"event":"snapshot"/;
    }
}

sub _frame {
    my ($self, $deadline) = @_;
    my $err = $self->_fill(2, $deadline);
    return (undef, $err) if $err;
    my ($b0, $b1) = unpack 'CC', $self->{buf};
    return (undef, 'masked') if $b1 & 0x80;
    my $len = $b1 & 0x7f;
    my $hl = 2;
    if ($len == 126) {
        $err = $self->_fill(4, $deadline);
        return (undef, $err) if $err;
        $len = unpack 'n', substr($self->{buf}, 2, 2);
        $hl = 4;
    } elsif ($len == 127) {
        $err = $self->_fill(10, $deadline);
        return (undef, $err) if $err;
        $len = unpack 'Q>', substr($self->{buf}, 2, 8);
        $hl = 10;
    }
    $err = $self->_fill($hl + $len, $deadline);
    return (undef, $err) if $err;
    my $data = substr($self->{buf}, $hl, $len);
    substr($self->{buf}, 0, $hl + $len) = '';
    return ($b0 & 0x0f, $data, $b0 & 0x80 ? 1 : 0);
}

# The next text message decoded (pings on the way are skipped), or undef.
sub json {
    my ($self, $timeout) = @_;
    for (;;) {
        my ($op, $data) = $self->read($timeout);
        return undef unless defined $op;
        next if $op == 0x9 || $op == 0xa;
        return { close => _code($data) } if $op == 0x8;
        return eval { $JSON->decode($data) } // { bad => $data };
    }
}

sub _code {
    my ($data) = @_;
    return length($data) >= 2 ? unpack('n', $data) : 1005;
}

# Reads frames until a close: "close CODE", or "eof"/"timeout" without one;
# in list context also the text messages read on the way.
sub close_code {
    my ($self, $timeout) = @_;
    my @texts;
    for (;;) {
        my ($op, $data) = $self->read($timeout);
        return wantarray ? ($data, \@texts) : $data unless defined $op;
        push @texts, $data if $op == 0x1;
        if ($op == 0x8) {
            my $r = 'close ' . _code($data);
            return wantarray ? ($r, \@texts) : $r;
        }
    }
}

# After a close frame: does the server then end the TCP connection?
sub eof_after {
    my ($self, $timeout) = @_;
    my ($op, $err) = $self->read($timeout);
    return defined $op ? "frame $op" : $err;
}

sub close_sock { close $_[0]{sock} }

# An SSE client: GET with Accept: text/event-stream (HTTP/1.1, chunked).
sub sse {
    my ($class, %o) = @_;
    my $req = 'GET ' . ($o{path} // '/mesh/v1/feed') . " HTTP/1.1\r\n"
        . "Host: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
    my $s = _connect(%o);
    my ($status, $headers, $rest) = _request($s, $req, 5 * $Slow);
    return bless { sock => $s, status => $status, headers => $headers,
                   raw => $rest, buf => '', chunked =>
                   lc($headers->{'transfer-encoding'} // '') eq 'chunked' },
        $class . '::SSE';
}

# A client past its snapshot: $how is "ws" or "sse" (%o as for those);
# dies when the first message is not the snapshot.
sub past_snapshot {
    my ($how, %o) = @_;
    my $c = Mesh::Feed->$how(%o);
    my $snap = $c->json;
    die "no $how snapshot: $c->{status}\n"
        unless ($snap->{event} // '') eq 'snapshot';
    $c->{past_snapshot} = 1;
    return $c;
}

# A block's http_config for the slow-reader tests: mesh_feed_buffer
# $buffer, and a feed on port TEST_NGINX_FEED_PORT with a 4k send buffer,
# so that the kernel does not hide a client that does not read.
sub slow_port_config {
    my ($buffer) = @_;
    return Mesh::Orch::http_config("    mesh_feed_buffer $buffer;\n")
        . <<"_EOC_";
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_FEED_PORT} sndbuf=4k;
        location /mesh/v1/feed { mesh_feed; }
    }
_EOC_
}

sub _redis {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_REDIS_PORT},
                                  Proto => 'tcp')
        or die "feed: redis: $!";
    binmode $s;
    return $s;
}

# How many feed subscriptions Redis counts: subscribers of mesh:tasks
# (each worker's feed listener subscribes to it while it has clients; the
# registry's own subscriber has mesh:events only).
sub listening {
    my $s = _redis();
    print {$s} "*3\r\n\$6\r\nPUBSUB\r\n\$6\r\nNUMSUB\r\n"
        . "\$10\r\nmesh:tasks\r\n";
    my $buf = '';
    while ($buf !~ /mesh:tasks\r\n:(\d+)\r\n/) {
        sysread($s, $buf, 4096, length $buf) or last;
    }
    close $s;
    return $buf =~ /mesh:tasks\r\n:(\d+)\r\n/ ? $1 : 0;
}

# Publishes every [channel, message] on the file's Redis in one pipeline,
# once a feed subscription is in place (a client's snapshot may come
# before it, after a second without it, and what is published before it
# is not seen: that is not what these tests are about); returns the
# number of replies.
sub publish {
    my (@msgs) = @_;
    my $deadline = time + 15 * $Slow;
    select undef, undef, undef, 0.05
        until listening() || time > $deadline;
    my $s = _redis();
    my $out = '';
    for my $m (@msgs) {
        $out .= "*3\r\n\$7\r\nPUBLISH\r\n";
        $out .= '$' . length($_) . "\r\n$_\r\n" for @$m;
    }
    print {$s} $out;
    my ($buf, $n) = ('', 0);
    while ($n < @msgs) {
        sysread($s, $buf, 65536, length $buf) or last;
        $n = () = $buf =~ /^:\d+\r\n/mg;
    }
    close $s;
    return $n;
}

# n events of the mesh's shape: task.queued on mesh:tasks, node.load and
# node.heartbeat on mesh:events, in turn; seq counts from 1.
sub burst {
    my ($n, %o) = @_;
    my @m;
    my $pad = 'x' x ($o{pad} // 0);
    for my $i (1 .. $n) {
        my $kind = (qw(task.queued node.load node.heartbeat))[$i % 3];
        my $chan = $kind =~ /^task/ ? 'mesh:tasks' : 'mesh:events';
        push @m, [$chan, qq({"event":"$kind","ts":$i,"seq":$i,)
                         . qq("pad":"$pad"})];
    }
    return @m;
}


package Mesh::Feed::SSE;

use IO::Select;
use JSON::PP ();
use Time::HiRes qw(time);

# Decodes chunks as they come, then returns whole SSE events.
sub _more {
    my ($self, $deadline) = @_;
    my $left = $deadline - time;
    return 'timeout' if $left <= 0;
    return 'timeout' unless IO::Select->new($self->{sock})->can_read($left);
    my $n = sysread($self->{sock}, $self->{raw}, 65536, length $self->{raw});
    return 'eof' unless $n;
    return;
}

sub _dechunk {
    my ($self) = @_;
    unless ($self->{chunked}) {
        $self->{buf} .= $self->{raw};
        $self->{raw} = '';
        return;
    }
    while ($self->{raw} =~ /\A([0-9a-fA-F]+)\r\n/) {
        my ($hex, $hl) = ($1, length($1) + 2);
        my $len = hex $hex;
        if ($len == 0) {
            $self->{ended} = 1;
            $self->{raw} = '';
            return;
        }
        last if length($self->{raw}) < $hl + $len + 2;
        $self->{buf} .= substr($self->{raw}, $hl, $len);
        substr($self->{raw}, 0, $hl + $len + 2) = '';
    }
}

# The next event block ("data: ...", or ": ping"), or undef.
sub block {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5) * $Mesh::Feed::Slow;
    for (;;) {
        $self->_dechunk;
        if ($self->{buf} =~ s/\A(.*?)\n\n//s) {
            return $1;
        }
        return undef if $self->{ended};
        my $err = $self->_more($deadline);
        if ($err) {
            $self->{err} = $err;
            return undef;
        }
    }
}

# The next data: event decoded, or undef; ": ping" comments on the way
# do not extend the deadline.
sub json {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5) * $Mesh::Feed::Slow;
    for (;;) {
        my $left = ($deadline - time) / $Mesh::Feed::Slow;
        if ($left <= 0) {
            $self->{err} = 'timeout';
            return undef;
        }
        my $b = $self->block($left);
        return undef unless defined $b;
        next if $b =~ /^:/;
        $b =~ s/^data: //;
        # a second snapshot, as Mesh::Feed::read says
        next if $self->{past_snapshot} && $b =~ /\A\{"event":"snapshot"/;
        return eval { JSON::PP->new->decode($b) } // { bad => $b };
    }
}

1;
