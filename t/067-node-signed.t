# The node API's credential (ngx_http_mesh_sign.h): a signature made with
# another secret, a timestamp outside mesh_auth_window, a replayed nonce, a
# body or path other than the one signed, a malformed header: 401, and the
# node is not listed.  The nonce is claimed in Redis with an expiry.
# A 200 carries X-Mesh-Reply-Signature, bound to the request's signature,
# the status and the body (a REPLY_SIGNATURE in "--- response_headers" is
# replaced by Mesh::Sign::reply of the block's request and
# response_body); a refusal carries none.
# mesh_node_networks: a heartbeat naming a host outside the networks (the
# default private and loopback ranges, a list, or "source") gets 403.
# Each header is made just before its block runs ("--- auth_eval"), which
# is before nginx starts: a future timestamp is far ahead, since it comes
# closer while nginx starts (under valgrind, seconds).
use strict;
use warnings;

use JSON::PP ();
use Test::Nginx::Socket;
use Mesh::Node;
use Mesh::Orch;
use Mesh::Sign;

Mesh::Orch::suite();

our $HB = '/mesh/v1/nodes/heartbeat';

sub caps {
    my (%o) = @_;
    return JSON::PP->new->canonical->encode({
        node_id => 'n1', host => '127.0.0.1', port => 50052,
        models => [ { name => 'mistral:7b', type => 'text', size_gb => 4 } ],
        hardware => { ram_total_gb => 16, ram_free_gb => 8,
                      has_gpu => JSON::PP::false, gpu_vram_gb => 0 },
        status => 'idle', active_tasks => 0, max_tasks => 4, queued => 0,
        tokens_per_sec => 0, agent_version => 'test', %o });
}

sub hb { "POST $HB\n" . caps(@_) }

# "Authorization: ..." for a heartbeat with body caps(%c), signed with %s
sub auth {
    my ($c, %s) = @_;
    my $secret = delete $s{secret} // $Mesh::Node::SECRET;
    return 'Authorization: '
        . Mesh::Sign::node($secret, delete $s{method} // 'POST',
                           delete $s{path} // $HB, caps(%{ $c || {} }), %s);
}

add_block_preprocessor(sub {
    my ($block) = @_;
    $block->set_value(init => "Mesh::Orch::scene();\n")
        unless defined $block->init;
    return unless defined $block->auth_eval;
    my $h = eval $block->auth_eval;
    die "auth_eval: $@" if $@;
    $block->set_value(more_headers => $h);
    my $want = $block->response_headers;
    return unless defined $want && $want =~ /REPLY_SIGNATURE/;
    my ($auth) = $h =~ /^Authorization:\s*(.*)$/m;
    my $sig = Mesh::Sign::reply($Mesh::Node::SECRET, $auth, 200,
                                $block->response_body);
    $want =~ s/REPLY_SIGNATURE/$sig/;
    $block->set_value(response_headers => $want);
});

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: signed with another secret: 401, not listed
--- request eval
main::hb()
--- auth_eval
main::auth({}, secret => 'not-the-mesh-secret-0123456789')
--- error_code: 401
--- response_body
{"error":"a valid mesh credential is required"}
--- response_headers
!X-Mesh-Reply-Signature
--- registry_ids
--- error_log
wrong signature
--- no_error_log
[error]



=== TEST 2: a timestamp 31 s old: 401
--- request eval
main::hb()
--- auth_eval
main::auth({}, ts => time - 31)
--- error_code: 401
--- registry_ids
--- error_log
the timestamp is outside the allowed window
--- no_error_log
[error]



=== TEST 2b: a timestamp 5 min ahead: 401
--- request eval
[ main::hb(), "GET /mesh/v1/nodes" ]
--- auth_eval
[ main::auth({}, ts => time + 300), "" ]
--- error_code eval
[401, 200]
--- response_body_like eval
[ '"a valid mesh credential is required"', '^\{"nodes":\[\],' ]
--- no_error_log
[error]



=== TEST 3: mesh_auth_window 2m: a timestamp 60 s old is accepted
--- http_config eval
Mesh::Orch::http_config("    mesh_auth_window 2m;\n")
--- request eval
main::hb()
--- auth_eval
main::auth({}, ts => time - 60)
--- error_code: 200
--- response_body
{"ok":true,"heartbeat_interval_ms":3000}
--- response_headers
X-Mesh-Reply-Signature: REPLY_SIGNATURE
--- no_error_log
[error]



=== TEST 3b: a signed leave: 200, its reply signed for that request
--- request
POST /mesh/v1/nodes/leave
{"node_id":"n1"}
--- auth_eval
'Authorization: ' . Mesh::Sign::node($Mesh::Node::SECRET, 'POST',
    '/mesh/v1/nodes/leave', '{"node_id":"n1"}')
--- error_code: 200
--- response_body
{"ok":true}
--- response_headers
X-Mesh-Reply-Signature: REPLY_SIGNATURE
--- no_error_log
[error]



=== TEST 4: the same signed heartbeat twice: 200, then 401 (replay)
--- auth_eval
$main::H = main::auth({});
--- init
Mesh::Orch::scene();
my ($k, $v) = split /:\s*/, $main::H, 2;
my ($code) = Mesh::Orch::http('POST', $main::HB, main::caps(), $k => $v);
die "the first heartbeat got $code\n" unless $code == 200;
--- request eval
main::hb()
--- error_code: 401
--- error_log
a replayed signature
--- no_error_log
[error]



=== TEST 5: the nonce is held in Redis, expiring after twice the window
--- request eval
main::hb()
--- auth_eval
main::auth({}, nonce => '0123456789abcdef0123456789abcdef')
--- error_code: 200
--- redis eval
"EXISTS mesh:nonce:0123456789abcdef0123456789abcdef ~ ^1\$
PTTL mesh:nonce:0123456789abcdef0123456789abcdef ~ ^[1-5]\\d{4}\$|^60000\$"
--- no_error_log
[error]



=== TEST 6: tampered: another body, another path, another method's signature
--- request eval
[ main::hb(port => 50099), main::hb(), main::hb(), "GET /mesh/v1/nodes" ]
--- auth_eval
[ main::auth({}), main::auth({}, path => '/mesh/v1/nodes/leave'),
  main::auth({}, method => 'PUT'), '' ]
--- error_code eval
[401, 401, 401, 200]
--- response_body_like eval
[ ('"a valid mesh credential is required"') x 3, '^\{"nodes":\[\],' ]
--- no_error_log
[error]



=== TEST 7: malformed: a short nonce
--- request eval
main::hb()
--- auth_eval
main::auth({}, nonce => 'abc')
--- error_code: 401
--- error_log
a malformed signature
--- no_error_log
[error]



=== TEST 7b: malformed: upper-case signature, no fields, the bare secret
--- request eval
[ main::hb(), main::hb(), main::hb(), "GET /mesh/v1/nodes" ]
--- auth_eval
(my $up = main::auth({})) =~ s/:([0-9a-f]{64})$/':' . uc $1/e;
[ $up, 'Authorization: MESH-HMAC-SHA256 ',
  "Authorization: Bearer $Mesh::Node::SECRET", '' ]
--- error_code eval
[401, 401, 401, 200]
--- response_body_like eval
[ ('"a valid mesh credential is required"') x 3, '^\{"nodes":\[\],' ]
--- no_error_log
[error]



=== TEST 8: default networks: a public address is refused 403
--- request eval
main::hb(host => '8.8.8.8')
--- auth_eval
main::auth({ host => '8.8.8.8' })
--- error_code: 403
--- response_body
{"error":"this host is outside the networks nodes may register"}
--- registry_ids
--- error_log
may not register host "8.8.8.8" (mesh_node_networks)
--- no_error_log
[error]



=== TEST 8b: default networks: 10.x, 192.168.x, ::1 pass
--- request eval
[ main::hb(host => '10.1.2.3', node_id => 'n2'),
  main::hb(host => '192.168.7.7', node_id => 'n3'),
  main::hb(host => '::1', node_id => 'n4'), "GET /mesh/v1/nodes" ]
--- auth_eval
[ main::auth({ host => '10.1.2.3', node_id => 'n2' }),
  main::auth({ host => '192.168.7.7', node_id => 'n3' }),
  main::auth({ host => '::1', node_id => 'n4' }), '' ]
--- error_code eval
[200, 200, 200, 200]
--- no_error_log
[error]



=== TEST 9: mesh_node_networks 10.0.0.0/8: loopback is refused
--- http_config eval
Mesh::Orch::http_config("    mesh_node_networks 10.0.0.0/8;\n")
--- request eval
[ main::hb(), main::hb(host => '10.9.9.9') ]
--- auth_eval
[ main::auth({}), main::auth({ host => '10.9.9.9' }) ]
--- error_code eval
[403, 200]
--- no_error_log
[error]



=== TEST 10: mesh_node_networks source: only the request's own address
--- http_config eval
Mesh::Orch::http_config("    mesh_node_networks source;\n")
--- request eval
[ main::hb(host => '127.0.0.2'), main::hb() ]
--- auth_eval
[ main::auth({ host => '127.0.0.2' }), main::auth({}) ]
--- error_code eval
[403, 200]
--- no_error_log
[error]



=== TEST 11: mesh_node_networks with a bad network
--- http_config eval
Mesh::Orch::http_config("    mesh_node_networks 10.0.0.0/99;\n")
--- config
--- must_die
--- error_log
invalid parameter "10.0.0.0/99"



=== TEST 12: mesh_auth_window 0
--- http_config eval
Mesh::Orch::http_config("    mesh_auth_window 0;\n")
--- config
--- must_die
--- error_log
"mesh_auth_window" must be above zero
