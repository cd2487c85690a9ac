# A slow Server-Sent Events client (it never reads) passes
# mesh_feed_buffer: the worker logs it and ends that stream, without
# growing its memory by what was published (over the last three quarters
# of the burst the worker's VmRSS grows by far less than the bytes the
# slow client was sent meanwhile), while another SSE client and a
# WebSocket client get every event of the burst, in order.  The slow one
# is on a port with a small send buffer and a small receive buffer of its
# own, so that the kernel does not hide it.
#
# Under TEST_NGINX_USE_VALGRIND the memory is not measured: memcheck
# keeps 20 MB of freed blocks in quarantine (--freelist-vol), so the
# worker's VmRSS says nothing there; the rest is checked as usual.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Feed;
use Mesh::Orch;

$ENV{TEST_NGINX_FEED_PORT} = Mesh::Proc::free_port();

our $EVENTS = 4000;
our $PAD = 2000;
our $ROUND = 100;

Mesh::Orch::suite();
Mesh::Feed::add_check();

# kB of resident memory of process $pid (undef: it is gone)
sub rss {
    my ($pid) = @_;
    open my $in, '<', "/proc/$pid/status" or return undef;
    while (<$in>) {
        return $1 if /^VmRSS:\s+(\d+) kB/;
    }
    return undef;
}

# reads $c up to the message with seq $last: the seqs it got on the way
sub upto {
    my ($c, $last, $seq) = @_;
    while (my $m = $c->json(30)) {
        next unless defined $m->{seq};
        push @$seq, $m->{seq};
        return if $m->{seq} >= $last;
    }
}

# what a client got: "N in order"
sub got {
    my (@seq) = @_;
    my $ordered = join(',', @seq) eq join(',', 1 .. $EVENTS);
    return scalar(@seq) . ($ordered ? ' in order' : ' out of order');
}

# waits until error.log has a line matching $re
sub logged {
    my ($re) = @_;
    return Mesh::Orch::wait_until(sub {
        open my $fh, '<', $Test::Nginx::Util::ErrLogFile or return 0;
        local $/;
        return <$fh> =~ $re;
    }, 30);
}

# the connections nginx has established on the slow port (its side)
sub established {
    my $out = `ss -Htn state established '( sport = :$ENV{TEST_NGINX_FEED_PORT} )'`;
    return scalar(() = $out =~ /\S+\n/g);
}

# the events the slow client got once it reads (until eof or a pause)
sub drain {
    my ($sse) = @_;
    my $n = 0;
    while (my $b = $sse->block(5)) {
        $n++ if $b =~ /^data: .*"seq"/;
    }
    return $n;
}

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: a slow SSE client is ended at mesh_feed_buffer, its worker's
memory stays bounded, an SSE and a WebSocket client get every event
--- http_config eval
Mesh::Feed::slow_port_config('256k')
--- request
GET /mesh/status
--- feed_run
my $pid = Mesh::Chaos::status()->{pid};
my $fast = Mesh::Feed::past_snapshot('sse');
my $ws = Mesh::Feed::past_snapshot('ws');
my $slow = Mesh::Feed::past_snapshot('sse', port => $ENV{TEST_NGINX_FEED_PORT},
                        rcvbuf => 4096);
my $before = main::established();
Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} }, 15);
# in rounds that fit the others' buffers: only the slow one falls behind
my @all = Mesh::Feed::burst($main::EVENTS, pad => $main::PAD);
my (@fseq, @wseq, $rss0);
while (my @round = splice @all, 0, $main::ROUND) {
    Mesh::Feed::publish(@round);
    my $last = $main::EVENTS - @all;
    main::upto($fast, $last, \@fseq);
    main::upto($ws, $last, \@wseq);
    # from a quarter on, past the warm-up
    $rss0 //= main::rss($pid) if $last >= $main::EVENTS / 4;
}
my $flagged = main::logged(qr/client too slow/);
my @got = (main::got(@fseq), main::got(@wseq));
my $rss1 = main::rss($pid);
my $grown = defined $rss0 && defined $rss1 ? $rss1 - $rss0 : undef;
# nginx let go of it (the kernel may still hold bytes nobody read)
my $let_go = Mesh::Orch::wait_until(sub { main::established() == 0 }, 15);
my $n = main::drain($slow);
my $sent_kb = $main::EVENTS * 3 / 4 * $main::PAD / 1024;
my $memory = $ENV{TEST_NGINX_USE_VALGRIND} ? 'memory bounded'
    : !defined $grown ? 'the worker is gone'
    : $grown < $sent_kb / 4 ? 'memory bounded'
    : "memory grew by $grown kB of $sent_kb kB sent";
join "\n", "slow port: $before connection", "sse: $got[0]", "ws: $got[1]",
    $flagged ? 'flagged' : 'not flagged',
    $n < $main::EVENTS ? 'the slow one missed events' : 'slow got all',
    $let_go ? 'slow: closed by nginx' : 'slow: still connected', $memory;
--- feed
slow port: 1 connection
sse: 4000 in order
ws: 4000 in order
flagged
the slow one missed events
slow: closed by nginx
memory bounded
--- error_log
client too slow
--- no_error_log
[error]
