# Error replies to requests that carry a body (401, 404, 405, 413 from the
# node API and the task locations) discard the body first: on a kept-alive
# connection the rest of the body must never be read as the next request.
#
# Each case sends, on one connection, a request whose body is itself a
# complete HTTP request (GET /api/tags), then a real second request (GET
# /mesh/status, Connection: close).  The replies must be exactly two: the
# error, then the status JSON.  A third reply means nginx served the body.
use strict;
use warnings;

use IO::Socket::INET;
use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Node;
use Mesh::Orch;

our $Why;

Mesh::Orch::suite();

my $SMUGGLED = "GET /api/tags HTTP/1.1\r\nHost: mesh\r\nX-Pad: "
             . ('p' x 40) . "\r\n\r\n";

# "status status ...": the replies read from one connection that sends
# METHOD PATH with the smuggled body (and these headers), then GET
# /mesh/status.
sub replies {
    my ($method, $path, @headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $ENV{TEST_NGINX_SERVER_PORT}, Timeout => 5)
        or die "connect: $!\n";
    print $s "$method $path HTTP/1.1\r\nHost: mesh\r\n"
        . join('', map { "$_\r\n" } @headers)
        . 'Content-Length: ' . length($SMUGGLED) . "\r\n\r\n$SMUGGLED"
        . "GET /mesh/status HTTP/1.1\r\nHost: mesh\r\n"
        . "Connection: close\r\n\r\n";
    my $all = '';
    my $deadline = time + 10 * $Mesh::Orch::Slow;
    while (time < $deadline) {
        sysread($s, $all, 65536, length $all) or last;
    }
    close $s;
    my @status = $all =~ m{^HTTP/1\.1 (\d{3}) }mg;
    my $last_json = ($all =~ /\r\n\r\n([^\r\n]*)\n?\z/)[0] // '';
    $Mesh::Checks::Why = "replies:\n$all";
    return join(' ', @status)
        . ($last_json =~ /"version"/ ? ' status-json' : ' other-body');
}

sub auth { "Authorization: Bearer $Mesh::Node::SECRET" }

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: node API, 401 (no credential) with a body: the body is not read as a request
--- request
GET /mesh/status
--- response_body_like: "version"
--- checks
main::replies('POST', '/mesh/v1/nodes/heartbeat') eq '401 200 status-json'



=== TEST 2: node API, 404 (unknown endpoint) with a body
--- request
GET /mesh/status
--- response_body_like: "version"
--- checks
main::replies('POST', '/mesh/v1/nodes/nosuch', main::auth()) eq '404 200 status-json'



=== TEST 3: node API, 405 (PUT) with a body
--- request
GET /mesh/status
--- response_body_like: "version"
--- checks
main::replies('PUT', '/mesh/v1/nodes/heartbeat', main::auth()) eq '405 200 status-json'



=== TEST 4: node API, 413 (over mesh_node_body_max) with a body
--- http_config eval
Mesh::Orch::http_config("    mesh_node_body_max 32;\n")
--- request
GET /mesh/status
--- response_body_like: "version"
--- checks
main::replies('POST', '/mesh/v1/nodes/heartbeat', main::auth()) eq '413 200 status-json'



=== TEST 5: the Ollama API location, 405 (PUT) with a body
--- request
GET /mesh/status
--- response_body_like: "version"
--- checks
main::replies('PUT', '/api/generate') eq '405 200 status-json'



=== TEST 6: the native task location, 405 (PUT) with a body
--- request
GET /mesh/status
--- response_body_like: "version"
--- checks
main::replies('PUT', '/mesh/v1/tasks') eq '405 200 status-json'
