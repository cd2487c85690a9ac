# The live feed with a real client, python3-websockets (a strict RFC 6455
# implementation): many clients each get every event of a burst, in
# order; on nginx -s reload every client gets close 1001, reconnects and
# takes a fresh snapshot from the new workers, and the old worker leaves
# without "open socket left" alerts.
#
# A reload needs a master process, so this file runs its own nginx, master
# on, on the runner's port and server root (no_nginx_manager), as
# t/074-reload.t does; under TEST_NGINX_USE_VALGRIND it runs under memcheck.
use strict;
use warnings;

use File::Spec;
use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Feed;
use Mesh::Nginx;
use Mesh::Orch;

our $Nginx;
our $CLIENT = File::Spec->catfile((File::Spec->splitpath(
    File::Spec->rel2abs(__FILE__)))[1], 'lib', 'Mesh', 'feed_client.py');

Mesh::Orch::suite();
Mesh::Feed::add_check();
add_test_cleanup_handler(\&Mesh::Chaos::teardown);
no_nginx_manager();

sub mesh {
    $Nginx = Mesh::Chaos::runner_nginx(Mesh::Orch::http_config());
}

# the python client: a handle on its output, after its "ready" line
sub client {
    my (@args) = @_;
    my $url = "ws://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/mesh/v1/feed";
    my $pid = open my $fh, '-|', '/usr/bin/python3', $CLIENT, $args[0],
        $url . ($args[1] // ''), @args[2 .. $#args]
        or die "python3: $!";
    my $ready = <$fh> // '';
    die "feed client not ready: $ready\n" unless $ready eq "ready\n";
    return ($pid, $fh);
}

sub reload {
    system(Mesh::Nginx::command($Nginx->{root}, '-s', 'reload')) == 0
        or Test::More::diag("nginx -s reload failed: $?");
}

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: 20 clients, filtered by the query: each gets every event of a
burst of 600 on both channels that passes its filter, in order
--- init
main::mesh();
--- request
GET /mesh/status
--- feed_run
my ($pid, $fh) = main::client('burst', '?exclude=node.heartbeat', 20, 600);
Mesh::Feed::publish(Mesh::Feed::burst(600));
my @lines = <$fh>;
close $fh;
my %seen;
$seen{s/^client \d+: //r}++ for @lines;
join "\n", scalar @lines, map { "$seen{$_} x $_" } sort keys %seen;
--- feed
20
20 x 400 messages, in order
--- no_error_log
[error]



=== TEST 2: nginx -s reload: the client gets close 1001, reconnects and
takes a fresh snapshot; the old worker leaves cleanly
--- init
main::mesh();
--- request
GET /mesh/status
--- feed_run
my ($pid, $fh) = main::client('reconnect');
main::reload();
my @lines = <$fh>;
close $fh;
join '', @lines;
--- feed
closed 1001
snapshot again
--- no_error_log
[error]
open socket
