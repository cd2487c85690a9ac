# The gRPC door when no node can take a task: the wait queue's timeout is
# UNAVAILABLE with the estimated wait in grpc-message, as Trailers-Only;
# a deadline that ends while the task waits is DEADLINE_EXCEEDED, also
# Trailers-Only, and the task leaves the queue.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Chaos;
use Mesh::Grpc;
use Mesh::Orch;
use Mesh::Pipeline;

our ($R, $W);

my $TTL = 2 * $Mesh::Orch::Slow;
Mesh::Grpc::suite(http_extra => "    mesh_queue_ttl ${TTL}s;\n");
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

sub trailers_only {
    my ($status, $re) = @_;
    # the header block only: curl shows trailers after an empty "< " line
    my @l;
    for (@{ $main::W->{lines} }) { last if $_ eq '< '; push @l, $_ }
    return (grep { $_ eq "< grpc-status: $status" } @l)
        && (grep { /^< grpc-message: / && $_ =~ $re } @l)
        && (grep { /^< HTTP\/2 200/ } @l) && $main::W->{size} == 0;
}

__DATA__

=== TEST 1: the only node is full: the call waits its mesh_queue_ttl, then UNAVAILABLE with the estimated wait
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--token-delay-ms', 50], agent => ['--max-tasks', 1] });
Mesh::Chaos::load_directly('b');
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunTask', { model => 'mistral:7b', prompt => 'wait' }))->{code} eq 'UNAVAILABLE'
$R->{details} =~ /queue_timeout/ && $R->{details} =~ /"estimated_wait_s":\d+/ && !@{ $R->{messages} }
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/RunTask', Mesh::Grpc::frame("\x12\x0amistral:7b\x1a\x04wait"))) && main::trailers_only(14, qr/estimated_wait_s/)
Mesh::Orch::nodes_queued() == 0
--- no_error_log
[error]



=== TEST 2: a deadline that ends while the task waits: DEADLINE_EXCEEDED, Trailers-Only, and the queue is empty again
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--token-delay-ms', 50], agent => ['--max-tasks', 1] });
Mesh::Chaos::load_directly('b');
--- request
GET /mesh/status
--- checks
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/RunTask', Mesh::Grpc::frame("\x12\x0amistral:7b\x1a\x04wait"), 'grpc-timeout: ' . (300 * $Mesh::Orch::Slow) . 'm')) && main::trailers_only(4, qr/deadline/)
Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == 0 }, 5)
--- no_error_log
[error]
