# A heartbeat goes to Redis in one round: one EVAL claims its nonce and,
# only if the nonce is new, writes the node's hash, its place in the live
# set and its event; the zone is updated when Redis answers.  Where Redis
# refuses the script (here an ACL without EVAL), that heartbeat gets 503
# and changes nothing, and for a while after heartbeats go in two rounds
# (SET NX of the nonce, then HSET, ZADD, PUBLISH) and are accepted.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Node;
use Mesh::Orch;
use Mesh::Sign;

our $HB = '/mesh/v1/nodes/heartbeat';
our (@Status, %Stats, $Listed);

Mesh::Orch::suite();

# a signed heartbeat of node $id now: its status
sub heartbeat {
    my ($id) = @_;
    my $body = Mesh::Node::caps_json({ caps => {
        node_id => $id, port => 50052,
        models => [['mistral:7b', 'text']] } });
    my ($code) = Mesh::Orch::http('POST', $HB, $body,
        Authorization => Mesh::Sign::node($Mesh::Node::SECRET, 'POST', $HB,
                                          $body));
    return $code // 0;
}

# calls of each command since the last CONFIG RESETSTAT: { eval => N }
sub commandstats {
    my $out = Mesh::Orch::redis('INFO', 'commandstats');
    return { $out =~ /^cmdstat_(\w+):calls=(\d+)/mg };
}

sub acl {
    Mesh::Orch::redis('ACL', 'SETUSER', 'default', @_);
}

add_test_cleanup_handler(sub { acl('+@all') });

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();

run_tests();

__DATA__

=== TEST 1: a heartbeat is one EVAL, its nonce's SET and its writes inside it
--- init
Mesh::Orch::scene();
Mesh::Orch::subscribe();
Mesh::Orch::redis('CONFIG', 'RESETSTAT');
@main::Status = map { main::heartbeat($_) } qw(n1 n1 n2);
%main::Stats = %{ main::commandstats() };
--- request
GET /mesh/v1/nodes
--- response_body_like: ^\{"nodes":\[\{"node_id":"n1",.*\{"node_id":"n2",
--- checks
"@main::Status" eq '200 200 200'
($main::Stats{eval} // 0) == 3
# the scripts' own calls count too: one SET, HSET, ZADD, PUBLISH in each
join(' ', map { $main::Stats{$_} // 0 } qw(set hset zadd publish)) eq '3 3 3 3' or do { $Mesh::Checks::Why = join(' ', %main::Stats); 0 }
Mesh::Orch::redis('HGET', 'mesh:node:n2', 'caps') =~ /^\{"node_id":"n2",/
Mesh::Orch::redis('ZSCORE', 'mesh:nodes', 'n1') =~ /^\d{13}$/
Mesh::Orch::redis('KEYS', 'mesh:nonce:*') =~ /^(mesh:nonce:[0-9a-f]+\n){3}\z/
join(' ', map { $_->{event} . '/' . $_->{node_id} } Mesh::Orch::events(sub { $_[0]->{node_id} eq 'n2' }, 5)) eq 'node.join/n1 node.heartbeat/n1 node.join/n2'
--- no_error_log
[error]



=== TEST 2: Redis refuses the script: that heartbeat 503 and not listed, the next ones in two rounds, 200
--- init
Mesh::Orch::scene();
Mesh::Orch::subscribe();
main::acl('-eval');
Mesh::Orch::redis('CONFIG', 'RESETSTAT');
@main::Status = (main::heartbeat('n3'));
$main::Listed = exists Mesh::Orch::nodes()->{n3} ? 1 : 0;
push @main::Status, main::heartbeat('n3'), main::heartbeat('n4');
%main::Stats = %{ main::commandstats() };
main::acl('+@all');
--- request
GET /mesh/v1/nodes
--- response_body_like: ^\{"nodes":\[\{"node_id":"n3",.*\{"node_id":"n4",
--- checks
"@main::Status" eq '503 200 200'
$main::Listed == 0
# the refused one wrote nothing; the two after claimed their nonce apart
($main::Stats{set} // 0) == 2 && ($main::Stats{hset} // 0) == 2 or do { $Mesh::Checks::Why = join(" ", %main::Stats); 0 }
join(' ', map { $_->{event} . '/' . $_->{node_id} } Mesh::Orch::events(sub { $_[0]->{node_id} eq 'n4' }, 5)) eq 'node.join/n3 node.join/n4'
--- error_log
redis refused the heartbeat script ("NOPERM
--- no_error_log
[error]
