# The live feed as Server-Sent Events: what `curl -N` gets from a plain
# GET with Accept: text/event-stream (the snapshot, then every event of a
# burst, in order), the filters, the ": ping" heartbeats, gzip left out,
# and a plain GET refused with a JSON error.
#
# Each block's --- feed_run is Perl that talks to the feed after the
# block's request and returns a transcript; --- feed is that transcript.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Feed;
use Mesh::Orch;

our $PING = $ENV{TEST_NGINX_USE_VALGRIND} ? '1500ms' : '300ms';

Mesh::Orch::suite();
Mesh::Feed::add_check();

# curl -N on the feed: (its pid, a handle on its output)
sub curl {
    my ($path, @args) = @_;
    my $pid = open my $fh, '-|', 'curl', '-sN', '--max-time',
        60 * $Mesh::Feed::Slow, '-H', 'Accept: text/event-stream', @args,
        "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}$path"
        or die "curl: $!";
    return ($pid, $fh);
}

# the data: lines curl printed, decoded, until one with seq $last
sub lines_until {
    my ($fh, $last) = @_;
    my @got;
    while (my $line = <$fh>) {
        next unless $line =~ /^data: (.*)$/;
        my $m = JSON::PP->new->decode($1);
        # past the snapshot ($last > 0) only the block's own events count
        # (they carry a seq): not the stand-in node's real heartbeats, nor
        # a second snapshot (see Mesh::Feed::read)
        next if $last > 0 && !defined $m->{seq};
        push @got, $m;
        last if ($m->{seq} // 0) >= $last;
    }
    return @got;
}

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: a plain GET, without Accept: text/event-stream or an upgrade,
gets 400 with a JSON error
--- request
GET /mesh/v1/feed
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body
{"error":"mesh feed: ask for a WebSocket upgrade or send \"Accept: text/event-stream\""}
--- no_error_log
[error]



=== TEST 2: curl -N: the headers, the snapshot first, then every event of
a burst from both channels, in order, each as one "data:" line
--- init
Mesh::Orch::scene(a => { port => 50052, models => [['mistral:7b', 'text']] });
--- request
GET /mesh/status
--- feed_run
my ($pid, $fh) = curl('/mesh/v1/feed', '-D', '-');
my @head;
while (my $line = <$fh>) {
    $line =~ s/\r?\n\z//;
    last if $line eq '';
    push @head, lc $line if $line =~ /^(HTTP|content-type|cache-control|transfer-encoding|content-encoding)/i;
}
my ($snap) = lines_until($fh, 0);
Mesh::Feed::publish(Mesh::Feed::burst(200));
my @m = lines_until($fh, 200);
kill 'TERM', $pid;
close $fh;
my @seq = map { $_->{seq} } @m;
join "\n", @head, $snap->{event}, $snap->{nodes}[0]{node_id},
    scalar @m, "@seq" eq join(' ', 1 .. 200) ? 'in order' : "@seq[0..9]",
    join(',', map { $_->{event} } @m[0 .. 2]);
--- feed
http/1.1 200 ok
content-type: text/event-stream
transfer-encoding: chunked
cache-control: no-cache
snapshot
a
200
in order
node.load,node.heartbeat,task.queued
--- no_error_log
[error]



=== TEST 3: filters from the query: ?only= with a prefix, ?exclude=, both
--- request
GET /mesh/status
--- feed_run
my @c = map { [curl($_)] } '/mesh/v1/feed?only=task.*',
    '/mesh/v1/feed?exclude=node.heartbeat%2Cnode.load',
    '/mesh/v1/feed?only=node.*&exclude=node.load';
lines_until($_->[1], 0) for @c;
Mesh::Feed::publish(Mesh::Feed::burst(60));
my @r;
my @last = (60, 60, 59);
for my $i (0 .. 2) {
    my @m = lines_until($c[$i][1], $last[$i]);
    my %n;
    $n{$_->{event}}++ for @m;
    push @r, join ' ', map { "$_=$n{$_}" } sort keys %n;
    kill 'TERM', $c[$i][0];
    close $c[$i][1];
}
join "\n", @r;
--- feed
task.queued=20
task.queued=20
node.heartbeat=20
--- no_error_log
[error]



=== TEST 4: a bad filter in the query: 400 with the reason
--- request
GET /mesh/v1/feed?only=task.*,bad%20name
--- more_headers
Accept: text/event-stream
--- error_code: 400
--- response_body
{"error":"bad event name \"bad name\": letters, digits, \"._-\", and \".*\" at the end"}
--- no_error_log
[error]



=== TEST 5: ": ping" comments keep an idle stream alive
--- http_config eval: Mesh::Orch::http_config("    mesh_feed_ping_interval $main::PING;\n")
--- request
GET /mesh/status
--- feed_run
my $sse = Mesh::Feed->sse;
my $snap = $sse->json;
my @b = map { $sse->block(10) } 1 .. 3;
join "\n", $sse->{status}, $snap->{event}, @b;
--- feed
200
snapshot
: ping
: ping
: ping
--- no_error_log
[error]



=== TEST 6: gzip on for text/event-stream does not touch the stream
--- http_config eval
Mesh::Orch::http_config("    gzip on;\n    gzip_types text/event-stream;\n"
                        . "    gzip_min_length 1;\n")
--- request
GET /mesh/status
--- feed_run
my ($pid, $fh) = curl('/mesh/v1/feed', '-D', '-', '-H',
                      'Accept-Encoding: gzip');
my $enc = 'none';
while (my $line = <$fh>) {
    $line =~ s/\r?\n\z//;
    last if $line eq '';
    $enc = lc $1 if $line =~ /^content-encoding:\s*(\S+)/i;
}
my ($snap) = lines_until($fh, 0);
Mesh::Feed::publish(Mesh::Feed::burst(3));
my @m = lines_until($fh, 3);
kill 'TERM', $pid;
close $fh;
join "\n", $enc, $snap->{event}, scalar @m;
--- feed
none
snapshot
3
--- no_error_log
[error]
