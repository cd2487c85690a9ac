# The gRPC door behind mesh_api_keys: the key is the "authorization"
# (Bearer) or "x-api-key" metadata; a missing or wrong one ends the call
# UNAUTHENTICATED, Trailers-Only, before anything reaches a node.
use strict;
use warnings;

use File::Temp qw(tempfile);
use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Chaos;
use Mesh::Grpc;
use Mesh::Orch;
use Mesh::Pipeline;

our ($R, $W);
our $KEY = 'grpc-caller-0123456789abcdef';

my ($fh, $keys) = tempfile('mesh-grpc-keys-XXXXXX', TMPDIR => 1,
                           UNLINK => 1);
print $fh "caller:$KEY\n";
close $fh;

Mesh::Grpc::suite(http_extra => "    mesh_api_keys $keys;\n");
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

sub unauthenticated {
    return $main::R->{code} eq 'UNAUTHENTICATED'
        && $main::R->{details} =~ /API key/ && !@{ $main::R->{messages} };
}

# generate calls simulator $id took
sub requests {
    my $s = Mesh::Pipeline::sim_stats($_[0]);
    return ($s->{active} // 0) + ($s->{completed} // 0) + ($s->{failed} // 0)
         + ($s->{cancelled} // 0);
}

__DATA__

=== TEST 1: no key, a wrong key: UNAUTHENTICATED, Trailers-Only, no node asked
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--tokens', 3] });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'no key' })) && main::unauthenticated()
($main::R = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'bad key' }, meta => ['authorization=Bearer grpc-caller-0123456789abcdeX'])) && main::unauthenticated()
($main::R = Mesh::Grpc::call('ListNodes', {})) && main::unauthenticated()
# on the wire: grpc-status 16 in the one header block, no body
($main::W = Mesh::Grpc::raw('/echo.mesh.Mesh/ListNodes', Mesh::Grpc::frame(''))) && (grep { $_ eq '< grpc-status: 16' } @{ $main::W->{lines} }) && $main::W->{size} == 0
main::requests('b') == 0
--- no_error_log
[error]



=== TEST 2: the key as authorization Bearer or as x-api-key: OK
--- init
Mesh::Pipeline::mesh(b => { model => 'mistral:7b', sim => ['--tokens', 3] });
--- request
GET /mesh/status
--- checks
($main::R = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT', prompt => 'with key' }, meta => ["authorization=Bearer $main::KEY"]))->{code} eq 'OK'
Mesh::Grpc::text($R) eq '[mistral:7b] with key'
($main::R = Mesh::Grpc::call('ListNodes', {}, meta => ["x-api-key=$main::KEY"]))->{code} eq 'OK'
main::requests('b') == 1
--- no_error_log
[error]
