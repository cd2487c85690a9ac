# The live feed when nginx stops: on `nginx -s quit` (graceful) every
# WebSocket client gets close 1001 and every SSE client the end of its
# stream, the workers and the master then exit, and nothing is logged
# about sockets left open; on `nginx -s stop` (fast) an idle WebSocket
# client still gets its close 1001 before the connection ends.
#
# Stopping needs a master process of the file's own, so this file runs
# its nginx, master on, on the runner's port and server root
# (no_nginx_manager), as t/102-feed-client.t does; under
# TEST_NGINX_USE_VALGRIND it runs under memcheck.
use strict;
use warnings;

use POSIX ();
use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Feed;
use Mesh::Nginx;
use Mesh::Orch;

our $Nginx;

Mesh::Orch::suite();
Mesh::Feed::add_check();
add_test_cleanup_handler(\&Mesh::Chaos::teardown);
no_nginx_manager();

sub mesh {
    $Nginx = Mesh::Chaos::runner_nginx(Mesh::Orch::http_config());
}

# nginx -s $how; then "exited" once the master is gone (a hang says so)
sub signal_nginx {
    my ($how) = @_;
    system(Mesh::Nginx::command($Nginx->{root}, '-s', $how)) == 0
        or return "nginx -s $how failed: $?";
    return defined $Nginx->wait_exit(30 * $Mesh::Feed::Slow)
        ? 'exited' : 'still running';
}

# how an SSE stream ended: "last chunk" (the chunked end), or eof/timeout
sub sse_end {
    my ($sse) = @_;
    while (defined(my $b = $sse->block(10))) { }
    return $sse->{ended} ? 'last chunk' : $sse->{err} // 'none';
}

# the error.log of the file's nginx
sub error_log {
    open my $in, '<', server_root() . '/logs/error.log' or return '';
    local $/;
    return <$in> // '';
}

Mesh::Nginx::server_root(server_root());

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: nginx -s quit: each WebSocket client gets close 1001 and the
server then ends the connection, the SSE client gets the last chunk, and
nginx exits without "open socket" alerts
--- init
main::mesh();
--- request
GET /mesh/status
--- feed_run
my @ws = map { Mesh::Feed::past_snapshot('ws') } 1 .. 2;
my $sse = Mesh::Feed::past_snapshot('sse');
my $pid = fork // die;
if ($pid == 0) {
    # the close is answered by the client below, so the stop runs beside
    POSIX::_exit(main::signal_nginx('quit') eq 'exited' ? 0 : 1);
}
my @out = map { scalar $_->close_code(20) } @ws;
$_->frame(0x8, pack('n', 1001)) for @ws;
push @out, map { $_->eof_after(10) } @ws;
push @out, main::sse_end($sse);
waitpid $pid, 0;
push @out, $? == 0 ? 'nginx exited' : 'nginx did not exit';
my $log = main::error_log();
push @out, $log =~ /open socket/ ? 'open socket logged' : 'no open socket';
push @out, $log =~ /gracefully shutting down/ ? 'graceful' : 'not graceful';
join "\n", @out;
--- feed
close 1001
close 1001
eof
eof
last chunk
nginx exited
no open socket
graceful
--- no_error_log
[error]



=== TEST 2: nginx -s stop: an idle WebSocket client still gets close 1001
before the connection ends
--- init
main::mesh();
--- request
GET /mesh/status
--- feed_run
my $ws = Mesh::Feed::past_snapshot('ws');
my $how = main::signal_nginx('stop');
my $code = scalar $ws->close_code(20);
my $log = main::error_log();
join "\n", $how, $code, $ws->eof_after(10),
    $log =~ /open socket/ ? 'open socket logged' : 'no open socket';
--- feed
exited
close 1001
eof
no open socket
--- no_error_log
[error]
