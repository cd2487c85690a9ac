# The live feed over WebSocket, frame by frame (Mesh::Feed speaks RFC 6455
# from raw bytes): the handshake and its refusals, masking, fragments,
# ping/pong both ways, the close handshake and its codes, size, UTF-8 and
# rate limits, every event of a burst to every client, filters, a slow
# reader closed with 1008 without holding back the others, the client
# cap, and HTTP/2 refused.
#
# Each block's --- feed_run is Perl that talks to the feed after the
# block's request and returns a transcript; --- feed is that transcript.
use strict;
use warnings;

use POSIX ();
use Test::Nginx::Socket;
use Mesh::Feed;
use Mesh::Log;
use Mesh::Orch;

our $PING = $ENV{TEST_NGINX_USE_VALGRIND} ? '1500ms' : '300ms';
$ENV{TEST_NGINX_FEED_PORT} = Mesh::Proc::free_port();
$ENV{TEST_NGINX_H2_PORT} = Mesh::Proc::free_port();

Mesh::Orch::suite();
Mesh::Feed::add_check();

# "status extra-header" of a handshake with these header changes
sub refused {
    my (%o) = @_;
    my $ws = Mesh::Feed->ws(%o);
    my $v = $ws->{headers}{'sec-websocket-version'};
    return $ws->{status} . (defined $v ? " version=$v" : '')
        . ($ws->{buf} =~ /"error":"mesh feed: ((?:[^"\\]|\\.)*)"/
           ? " $1" : '');
}

# a client past its snapshot
sub client { return Mesh::Feed::past_snapshot('ws', @_) }

# the "seq" of every message up to the one with seq $last
sub seqs {
    my ($ws, $last) = @_;
    my @seq;
    for (;;) {
        my $m = $ws->json(10) or last;
        last unless defined $m->{seq};
        push @seq, "$m->{event}:$m->{seq}";
        last if $m->{seq} >= $last;
    }
    return @seq;
}

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: handshake refusals: 400 with the reason, 426 for a version
--- request
GET /mesh/status
--- feed_run
join "\n",
    refused(headers => { Upgrade => undef }),
    refused(headers => { Upgrade => 'h2c' }),
    refused(headers => { Connection => 'keep-alive' }),
    refused(headers => { 'Sec-WebSocket-Version' => 8 }),
    refused(headers => { 'Sec-WebSocket-Version' => undef }),
    refused(headers => { 'Sec-WebSocket-Key' => undef }),
    refused(key => 'c2hvcnQ='),
    refused(version => 'HTTP/1.0'),
    refused(method => 'POST');
--- feed
400 ask for a WebSocket upgrade or send \"Accept: text/event-stream\"
400 only \"Upgrade: websocket\" is supported
400 a WebSocket upgrade needs \"Connection: Upgrade\"
426 version=13 WebSocket version 13 only
426 version=13 WebSocket version 13 only
400 \"Sec-WebSocket-Key\" must be 16 bytes in base64
400 \"Sec-WebSocket-Key\" must be 16 bytes in base64
400 a WebSocket upgrade needs HTTP/1.1
405 only GET
--- no_error_log
[error]



=== TEST 2: the handshake: 101, the accept key of RFC 6455's example, then
the snapshot as the first message (nodes as /mesh/v1/nodes has them)
--- init
Mesh::Orch::scene(a => { port => 50052, models => [['mistral:7b', 'text']] });
--- request
GET /mesh/status
--- feed_run
my $ws = Mesh::Feed->ws(key => 'dGhlIHNhbXBsZSBub25jZQ==',
                        headers => { Connection => 'keep-alive, Upgrade' });
my $snap = $ws->json;
my ($code, $list) = Mesh::Orch::http('GET', '/mesh/v1/nodes');
my $nodes = JSON::PP->new->decode($list)->{nodes};
my @keys = map { join ',', sort grep { !/^last_seen/ } keys %$_ }
           $snap->{nodes}[0], $nodes->[0];
join "\n", $ws->{status}, $ws->{headers}{'sec-websocket-accept'},
    $ws->{headers}{upgrade}, lc $ws->{headers}{connection},
    join(',', sort keys %$snap), $snap->{event}, scalar @{$snap->{nodes}},
    $snap->{nodes}[0]{node_id}, $keys[0] eq $keys[1] ? 'same fields' : "@keys",
    ref $snap->{pipelines}, $snap->{ts} =~ /^\d{13}$/ ? 'ts ms' : 'ts?';
--- feed
101
s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
websocket
upgrade
event,nodes,pipelines,queued,ts
snapshot
1
a
same fields
ARRAY
ts ms
--- no_error_log
[error]



=== TEST 3: an unmasked client frame: close 1002, then the server ends
the connection once the client answered the close
--- request
GET /mesh/status
--- feed_run
my $ws = client();
$ws->frame(0x1, '{"only":["task.*"]}', mask => 0);
my $c = $ws->close_code;
$ws->frame(0x8, pack('n', 1002));
join "\n", $c, $ws->eof_after;
--- feed
close 1002
eof
--- error_log
client frame not masked, closing with 1002
--- no_error_log
[error]



=== TEST 4: protocol errors are 1002: reserved bits, an unknown opcode, a
continuation first, a fragmented ping, a 126-byte ping, a bad close code
--- request
GET /mesh/status
--- feed_run
my @r;
my @cases = (
    sub { $_[0]->frame(0x1, 'x', rsv => 4) },
    sub { $_[0]->frame(0x3, 'x') },
    sub { $_[0]->frame(0x0, 'x') },
    sub { $_[0]->frame(0x9, 'x', fin => 0) },
    sub { $_[0]->frame(0x9, 'x' x 126) },
    sub { $_[0]->frame(0x8, pack('n', 1005)) },
    sub { $_[0]->frame(0x8, 'x') },
    sub { $_[0]->frame(0x1, 'a', fin => 0); $_[0]->frame(0x1, 'b') },
);
for my $case (@cases) {
    my $ws = client();
    $case->($ws);
    push @r, scalar $ws->close_code;
}
join "\n", @r;
--- feed
close 1002
close 1002
close 1002
close 1002
close 1002
close 1002
close 1002
close 1002
--- no_error_log
[error]



=== TEST 5: ping answered with a pong of the same payload; a pong from the
client is taken quietly
--- request
GET /mesh/status
--- feed_run
my $ws = client();
$ws->frame(0xa, 'unasked');
$ws->frame(0x9, 'abc');
my ($op, $data) = $ws->read;
$ws->frame(0x9, '');
my ($op2, $data2) = $ws->read;
sprintf "%x %s\n%x [%s]", $op, $data, $op2, $data2;
--- feed
a abc
a []
--- no_error_log
[error]



=== TEST 6: a fragmented filter message, with a ping between its fragments,
is put together: the pong comes first, then the filter's confirmation
--- request
GET /mesh/status
--- feed_run
my $ws = client();
$ws->frame(0x1, '{"exclude":', fin => 0);
$ws->frame(0x0, '["node.heart', fin => 0);
$ws->frame(0x9, 'mid');
$ws->frame(0x0, 'beat","node.load"]}');
my ($op, $data) = $ws->read;
my $reply = $ws->json;
sprintf "%x %s\n%s %s", $op, $data, $reply->{event},
    join(',', @{ $reply->{exclude} });
--- feed
a mid
filter node.heartbeat,node.load
--- no_error_log
[error]



=== TEST 7: the close handshake: the client's code is echoed, then the
server ends the connection; an empty close gets 1000
--- request
GET /mesh/status
--- feed_run
my $ws = client();
$ws->frame(0x8, pack('n', 4000) . 'bye');
my $a = $ws->close_code;
my $b = $ws->eof_after;
my $ws2 = client();
$ws2->frame(0x8, '');
join "\n", $a, $b, scalar $ws2->close_code, $ws2->eof_after;
--- feed
close 4000
eof
close 1000
eof
--- no_error_log
[error]



=== TEST 8: a frame or a message over 4096 bytes: 1009
--- request
GET /mesh/status
--- feed_run
my $ws = client();
$ws->frame(0x1, 'x' x 4097);
my $ws2 = client();
$ws2->frame(0x1, 'x' x 3000, fin => 0);
$ws2->frame(0x0, 'x' x 3000);
my $ws3 = client();
$ws3->frame(0x1, '{"only":["' . ('a' x 40) . '"]}' . (' ' x 4000));
join "\n", scalar $ws->close_code, scalar $ws2->close_code,
    $ws3->json->{event};
--- feed
close 1009
close 1009
filter
--- no_error_log
[error]



=== TEST 9: text that is not UTF-8 (whole, across fragments, overlong,
a surrogate): 1007; good UTF-8 split across fragments is fine
--- request
GET /mesh/status
--- feed_run
my @r;
for my $bytes ("{\"only\":[\"\xff\"]}", "\xc0\xaf", "\xed\xa0\x80") {
    my $ws = client();
    $ws->frame(0x1, $bytes);
    push @r, scalar $ws->close_code;
}
my $ws = client();
$ws->frame(0x1, "{\"x\":\"\xc3", fin => 0);
$ws->frame(0x0, "\xa9\",\"only\":[\"task.done\"]}");
push @r, $ws->json->{event};
my $ws2 = client();
$ws2->frame(0x1, "\"\xe2\x82", fin => 0);
$ws2->frame(0x0, "\"");
push @r, scalar $ws2->close_code;
join "\n", @r;
--- feed
close 1007
close 1007
close 1007
filter
close 1007
--- error_log
a text message is not UTF-8, closing with 1007
--- no_error_log
[error]



=== TEST 10: a bad filter message gets an error message and changes
nothing; a binary message is refused with 1003
--- request
GET /mesh/status
--- feed_run
my $ws = client();
$ws->frame(0x1, '{"only":"task.done"}');
my $e1 = $ws->json;
$ws->frame(0x1, '{"only":["bad name!"]}');
my $e2 = $ws->json;
$ws->frame(0x1, '{}');
my $e3 = $ws->json;
$ws->frame(0x2, "\x01\x02");
join "\n", map({ "$_->{event}: $_->{error}" } $e1, $e2, $e3),
    scalar $ws->close_code;
--- feed
error: "only" must be an array
error: bad event name "bad name!": letters, digits, "._-", and ".*" at the end
error: a filter message needs "only" or "exclude"
close 1003
--- no_error_log
[error]



=== TEST 11: more than 32 client frames in a second: 1008
--- request
GET /mesh/status
--- feed_run
my $ws = client();
$ws->frame(0x9, "p$_") for 1 .. 40;
my ($code, $texts) = $ws->close_code;
$code;
--- feed
close 1008
--- error_log
client frames in a second, closing with 1008
--- no_error_log
[error]



=== TEST 12: every event of a burst (both channels) reaches each of three
clients, in order; a filter (query or message) drops exactly its events
--- request
GET /mesh/status
--- feed_run
my $all = client();
my $noload = client(path => '/mesh/v1/feed?exclude=node.load,node.heartbeat');
my $tasks = client(path => '/mesh/v1/feed?only=task.*');
my $msg = client();
$msg->frame(0x1, '{"only":["node.load"]}');
$msg->json;
Mesh::Feed::publish(Mesh::Feed::burst(300));
my @a = seqs($all, 300);
my @n = seqs($noload, 300);
my @t = seqs($tasks, 300);
my @m = seqs($msg, 298);
my @want = map { "task.queued:$_" } grep { $_ % 3 == 0 } 1 .. 300;
join "\n", scalar @a, join(',', @a[0, 1, 2, 299]),
    scalar @n, "@n" eq "@want" ? 'task.queued only, in order' : "@n[0..5]",
    scalar @t, "@t" eq "@want" ? 'task.queued only, in order' : "@t[0..5]",
    scalar @m, $m[0], $m[-1];
--- feed
300
node.load:1,node.heartbeat:2,task.queued:3,task.queued:300
100
task.queued only, in order
100
task.queued only, in order
100
node.load:1
node.load:298
--- no_error_log
[error]



=== TEST 13: pings from the server: a client that answers stays, one
that does not is closed after the next interval
--- http_config eval: Mesh::Orch::http_config("    mesh_feed_ping_interval $main::PING;\n")
--- request
GET /mesh/status
--- feed_run
my $live = client();
my $dead = client();
my @r;
for (1 .. 3) {
    my ($op, $data) = $live->read(10);
    push @r, sprintf 'live %x', $op;
    $live->frame(0xa, $data);
}
my ($op) = $dead->read(10);
push @r, sprintf 'dead %x', $op;
push @r, 'dead ' . $dead->eof_after(10);
$live->frame(0x9, 'still');
my ($op2, $d2);
do { ($op2, $d2) = $live->read(10) } while defined $op2 && $op2 == 0x9;
push @r, sprintf 'live %x %s', $op2, $d2;
join "\n", @r;
--- feed
live 9
live 9
live 9
dead 9
dead eof
live a still
--- error_log
client did not answer a ping
--- no_error_log
[error]



=== TEST 14: a slow reader passes mesh_feed_buffer: closed with 1008 (after
what was queued), while a fast client gets every event (the slow one on a
port with a small send buffer, so that the kernel does not hide it)
--- http_config eval
Mesh::Feed::slow_port_config('64k')
--- request
GET /mesh/status
--- feed_run
my $fast = client();
my $slow = client(port => $ENV{TEST_NGINX_FEED_PORT}, rcvbuf => 4096);
# the fast one reads in a child of its own, the slow one not until the
# server gave up on it
pipe my $rd, my $wr or die;
my $pid = fork // die;
if ($pid == 0) {
    close $rd;
    my @f = seqs($fast, 2000);
    print {$wr} scalar(@f), "\n";
    close $wr;
    POSIX::_exit(0);
}
close $wr;
Mesh::Feed::publish(Mesh::Feed::burst(2000, pad => 1000));
my $flagged = Mesh::Log::wait_for(qr/client too slow/, 20);
my ($code, $texts) = $slow->close_code(20);
my $nfast = <$rd>;
waitpid $pid, 0;
chomp $nfast;
join "\n", $nfast, $flagged ? 'flagged' : 'not flagged', $code,
    @$texts < 2000 ? 'the slow one missed events' : 'slow got all';
--- feed
2000
flagged
close 1008
the slow one missed events
--- error_log
client too slow
--- no_error_log
[error]



=== TEST 15: mesh_feed_max_clients (per worker): the next client gets 503
--- http_config eval: Mesh::Orch::http_config("    mesh_feed_max_clients 2;\n")
--- request
GET /mesh/status
--- feed_run
my $a = client();
my $b = client();
my $c = Mesh::Feed->ws;
my $d = Mesh::Feed->sse;
$a->frame(0x8, pack('n', 1000));
$a->close_code;
$a->eof_after;
my $e;
for (1 .. 50) {
    $e = Mesh::Feed->ws;
    last if $e->{status} == 101;
    select undef, undef, undef, 0.1;
}
join "\n", $c->{status}, $d->{status}, $e->{status};
--- feed
503
503
101
--- error_log
the limit of this worker (mesh_feed_max_clients)
--- no_error_log
[error]



=== TEST 16: over HTTP/2 the feed is refused with 400
--- http_config eval
Mesh::Orch::http_config() . <<"_EOC_";
    server {
        listen 127.0.0.1:$ENV{TEST_NGINX_H2_PORT} http2;
        location /mesh/v1/feed { mesh_feed; }
    }
_EOC_
--- request
GET /mesh/status
--- feed_run
my $out = `curl -s --http2-prior-knowledge -H 'Accept: text/event-stream' -w ' %{http_code} %{http_version}' http://127.0.0.1:$ENV{TEST_NGINX_H2_PORT}/mesh/v1/feed`;
$out;
--- feed
{"error":"mesh feed: HTTP/2 is not supported, use HTTP/1.1"}
 400 2
--- no_error_log
[error]
