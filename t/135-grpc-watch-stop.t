# A gRPC Watch call when nginx stops gracefully (`nginx -s quit`): the
# call ends with its trailers, grpc-status UNAVAILABLE and grpc-message
# "server going away", before the connection goes; the worker and the
# master then exit, and nothing is logged about sockets left open.  A
# fast stop (`nginx -s stop`), and a quit of nginx without a master
# process (which exits at once: nginx 1.22's single-process cycle has no
# graceful phase), still end it with trailers, UNAVAILABLE "server
# stopping", written as the worker exits.
#
# Stopping needs a master process of the file's own, so this file runs
# its nginx, master on, on the runner's port and server root
# (no_nginx_manager), as t/103-feed-stop.t does; under
# TEST_NGINX_USE_VALGRIND it runs under memcheck.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Grpc;
use Mesh::Nginx;
use Mesh::Orch;

our ($Nginx, $W, $R);

Mesh::Grpc::suite();
add_test_cleanup_handler(\&Mesh::Chaos::teardown);
no_nginx_manager();

our $HTTP = "    mesh_heartbeat_interval 300ms;\n" . $Mesh::Grpc::SERVER;

sub mesh {
    $Nginx = Mesh::Chaos::runner_nginx(Mesh::Orch::http_config($HTTP));
    return $Nginx;
}

# the same nginx without a master process: it exits at once on quit
sub single_process {
    $Nginx = Mesh::Chaos::own(Mesh::Chaos::nginx(
        name => 'nginx', master => 'off',
        root => Test::Nginx::Socket::server_root(), keep_logs => 1,
        port => $ENV{TEST_NGINX_SERVER_PORT},
        http_config => Mesh::Orch::http_config($HTTP),
        config => $Mesh::Orch::LOCATIONS));
    return $Nginx;
}

# nginx -s $how; then "exited" once the master is gone (a hang says so)
sub signal_nginx {
    my ($how) = @_;
    system(Mesh::Nginx::command($Nginx->{root}, '-s', $how)) == 0
        or return "nginx -s $how failed: $?";
    return defined $Nginx->wait_exit(30 * $Mesh::Orch::Slow)
        ? 'exited' : 'still running';
}

# a call's grpc-message (grpcio's own words when the transport failed)
sub details {
    my ($r) = @_;
    $Mesh::Checks::Why = "details: \"" . ($r->{details} // '') . '"';
    return $r->{details} // '';
}

# the error.log of the file's nginx
sub error_log {
    open my $in, '<', server_root() . '/logs/error.log' or return '';
    local $/;
    my $log = <$in> // '';
    $Mesh::Checks::Why = "error.log:\n"
        . join("\n", grep { /alert|crit|emerg|notice/ } split /\n/, $log);
    return $log;
}

Mesh::Chaos::fresh_server_root();

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();

run_tests();

__DATA__

=== TEST 1: nginx -s quit: a Watch call ends with UNAVAILABLE "server going away" in its trailers, and nginx exits without "open socket" alerts
--- init
main::mesh();
--- request
GET /mesh/status
--- checks
($main::W = Mesh::Grpc::watch({})) && Mesh::Grpc::watch_saw($W, 15, 'snapshot')
main::signal_nginx('quit') eq 'exited'
($main::R = Mesh::Grpc::watch_end($W))->{code} eq 'UNAVAILABLE'
main::details($R) eq 'server going away'
join(" ", map { $_->{kind} } @{ $R->{messages} }) eq "snapshot"
main::error_log() =~ /gracefully shutting down/
main::error_log() !~ /open socket/
--- no_error_log
[error]



=== TEST 2: nginx -s stop: the Watch call still gets its trailers, UNAVAILABLE "server stopping", before the connection ends
--- init
main::mesh();
--- request
GET /mesh/status
--- checks
($main::W = Mesh::Grpc::watch({})) && Mesh::Grpc::watch_saw($W, 15, 'snapshot')
main::signal_nginx('stop') eq 'exited'
($main::R = Mesh::Grpc::watch_end($W))->{code} eq 'UNAVAILABLE'
main::details($R) eq 'server stopping'
main::error_log() !~ /open socket/
--- no_error_log
[error]



=== TEST 3: without a master process, nginx -s quit exits at once: the Watch call still gets UNAVAILABLE "server stopping" in its trailers
--- init
main::single_process();
--- request
GET /mesh/status
--- checks
($main::W = Mesh::Grpc::watch({})) && Mesh::Grpc::watch_saw($W, 15, 'snapshot')
main::signal_nginx('quit') eq 'exited'
($main::R = Mesh::Grpc::watch_end($W))->{code} eq 'UNAVAILABLE'
main::details($R) eq 'server stopping'
main::error_log() !~ /open socket/
--- no_error_log
[error]
