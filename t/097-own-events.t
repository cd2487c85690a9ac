# A heartbeat is applied once per nginx.  The worker that takes it
# updates the shared zone and publishes the event with "by", the id its
# zone was made with; every worker of that nginx gets the message back
# and skips it, while every worker of another nginx on the same Redis
# applies it (parses the capabilities and updates its own zone).  Before,
# each worker parsed and applied each heartbeat of its own nginx again.
#
# Shown by nginx's debug log, which says per message which of the two a
# worker did ("own event, not applied again" or "event of node ... applied"),
# with the worker's pid: both of B's workers skip node a's node.join and
# node.heartbeat, both of A's apply them, and A lists the node up.  After
# a reload of B (the zone, and so its id, is kept) its new workers still
# skip, and A still applies.
#
# A heartbeat's nonce is claimed in Redis before anything is written: the
# same signed heartbeat sent again, to the other nginx or to the same, is
# refused 401 and changes neither Redis nor either zone, and publishes
# nothing.
#
# Both nginx run here (no_nginx_manager), master on with 2 workers each:
# B on the runner's port and server root, A on its own; both under
# memcheck with TEST_NGINX_USE_VALGRIND.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;

our ($A, $B, %From, @Status, @OldB, %Was, @Replays, @Events);

Mesh::Orch::suite();
Mesh::Orch::sim('S', '--model', 'mistral:7b');
add_test_cleanup_handler(\&Mesh::Chaos::teardown);
no_nginx_manager();

sub log_file {
    my ($who) = @_;
    return ($who eq 'A' ? $A->{root} : Test::Nginx::Socket::server_root())
        . '/logs/error.log';
}

# From here on, the logs are read from where they end now.
sub mark_logs {
    $From{$_} = -s log_file($_) // 0 for qw(A B);
}

# The pids of nginx $who's debug lines since mark_logs() that match $re,
# sorted, one per line, as a string.
sub pids {
    my ($who, $re) = @_;
    open my $in, '<', log_file($who) or return '';
    seek $in, $From{$who}, 0;
    my %pid;
    while (my $line = <$in>) {
        my ($pid) = $line =~ /\[debug\] (\d+)#\d+: /;
        $pid{$pid} = 1 if $pid && $line =~ $re;
    }
    return join ' ', sort keys %pid;
}

# The lines of nginx $who's log since mark_logs() that match $re.
sub count_since {
    my ($who, $re) = @_;
    open my $in, '<', log_file($who) or return 0;
    seek $in, $From{$who}, 0;
    return scalar grep { $_ =~ $re } <$in>;
}

sub workers_of {
    return join ' ', sort(Mesh::Chaos::workers($_[0]));
}

sub own_re {
    my ($kind) = @_;
    return qr/mesh: own event, not applied again: \{"event":"\Q$kind\E"/;
}

sub applied_re {
    my ($kind) = @_;
    return qr/mesh: event of node "a" applied: \{"event":"\Q$kind\E"/;
}

sub subscribers {
    my ($n) = Mesh::Chaos::redis('PUBSUB', 'NUMSUB', 'mesh:events')
        =~ /(\d+)\s*\z/;
    return $n // 0;
}

sub start_both {
    $B = Mesh::Chaos::own(Mesh::Chaos::nginx(
        name => 'nginx', master => 'on', workers => 2,
        root => Test::Nginx::Socket::server_root(), keep_logs => 1,
        port => $ENV{TEST_NGINX_SERVER_PORT},
        http_config => Mesh::Orch::http_config(),
        config => $Mesh::Orch::LOCATIONS));
    $A = Mesh::Chaos::own(Mesh::Chaos::nginx(
        name => 'nginx-a', master => 'on', workers => 2,
        http_config => Mesh::Orch::http_config(),
        config => $Mesh::Orch::LOCATIONS));
    Mesh::Orch::wait_until(sub {
        Mesh::Chaos::workers($A) == 2 && Mesh::Chaos::workers($B) == 2
            && subscribers() == 4 }, 30);
}

# A heartbeat of node a through B, of $kind; waits until both of B's
# workers skipped it and both of A's applied it (a deadline for hangs).
sub heartbeat_through_b {
    my ($kind) = @_;
    mark_logs();
    push @Status, Mesh::Chaos::heartbeat(
        node_id => 'a', port => $Mesh::Orch::Sims{S}->port,
        models => [['mistral:7b', 'text']]);
    Mesh::Orch::wait_until(sub {
        pids('B', own_re($kind)) eq workers_of($B)
            && pids('A', applied_re($kind)) eq workers_of($A) }, 20);
}

Mesh::Chaos::fresh_server_root();

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: node.join and node.heartbeat through B: B's workers skip them, A's apply them
--- init
main::start_both();
main::heartbeat_through_b('node.join');
$main::From{join} = { map { $_ => [main::pids($_, main::own_re('node.join')),
                                   main::pids($_, qr/mesh: event of node "a" applied/)] } qw(A B) };
main::heartbeat_through_b('node.heartbeat');
--- request
GET /mesh/v1/nodes
--- response_body_like: ^\{"nodes":\[\{"node_id":"a",.*"status":"idle"
--- checks
"@main::Status" eq '200 200'
main::workers_of($main::B) =~ /^\d+ \d+$/
# node.join: both of B's workers skipped it, neither applied it; A the reverse
$main::From{join}{B}[0] eq main::workers_of($main::B)
$main::From{join}{B}[1] eq ''
$main::From{join}{A}[0] eq ''
$main::From{join}{A}[1] eq main::workers_of($main::A)
# node.heartbeat: the same
main::pids('B', main::own_re('node.heartbeat')) eq main::workers_of($main::B)
main::pids('B', qr/mesh: event of node "a" applied/) eq ''
main::pids('A', main::own_re('node.heartbeat')) eq ''
main::pids('A', main::applied_re('node.heartbeat')) eq main::workers_of($main::A)
# A learned the node from B's events
Mesh::Chaos::node('a', $main::A->port)->{up} == 1
--- no_error_log
[error]



=== TEST 2: after a reload of B, its new workers still skip its heartbeats (the zone's id is kept), A still applies them
--- init
main::start_both();
main::heartbeat_through_b('node.join');
@main::OldB = Mesh::Chaos::workers($main::B);
$main::B->signal('HUP');
Mesh::Orch::wait_until(sub {
    my @w = Mesh::Chaos::workers($main::B);
    return @w == 2 && !grep({ my $o = $_; grep { $_ == $o } @w } @main::OldB)
        && main::subscribers() == 4 }, 30);
@main::Status = ();
main::heartbeat_through_b('node.heartbeat');
--- request
GET /mesh/v1/nodes
--- response_body_like: ^\{"nodes":\[\{"node_id":"a",
--- checks
"@main::Status" eq '200'
# new workers
!grep { my $o = $_; grep { $_ == $o } Mesh::Chaos::workers($main::B) } @main::OldB
main::pids('B', main::own_re('node.heartbeat')) eq main::workers_of($main::B)
main::pids('B', qr/mesh: event of node "a" applied/) eq ''
main::pids('A', main::applied_re('node.heartbeat')) eq main::workers_of($main::A)
Mesh::Chaos::node('a', $main::A->port)->{up} == 1
--- no_error_log
[error]



=== TEST 3: the same signed heartbeat again, to A and to B: 401, and nothing changes in Redis, in either zone or on mesh:events
--- init
main::start_both();
my $path = '/mesh/v1/nodes/heartbeat';
my $body = Mesh::Node::caps_json({ caps => {
    node_id => 'a', port => $Mesh::Orch::Sims{S}->port,
    models => [['mistral:7b', 'text']] } });
my $h = Mesh::Chaos::node_headers($path, $body);
Mesh::Orch::subscribe();
main::mark_logs();
@main::Status = (Mesh::Chaos::request(path => $path, headers => $h,
                                      body => $body)->{status} // 0);
Mesh::Orch::wait_until(sub {
    main::pids('A', main::applied_re('node.join'))
        eq main::workers_of($main::A) }, 20);
%main::Was = (seen => Mesh::Chaos::redis('HGET', 'mesh:node:a', 'last_seen'),
              score => Mesh::Chaos::redis('ZSCORE', 'mesh:nodes', 'a'),
              a => Mesh::Chaos::node('a', $main::A->port)->{last_seen},
              b => Mesh::Chaos::node('a')->{last_seen});
# a later heartbeat would have a later last_seen
select undef, undef, undef, 0.05;
@main::Replays = map { Mesh::Chaos::request(port => $_, path => $path,
                                            headers => $h,
                                            body => $body)->{status} // 0 }
                 $main::A->port, $main::B->port, $main::A->port;
@main::Events = grep { ($_->{node_id} // '') eq 'a' }
                Mesh::Orch::events(undef, 1);
--- request
GET /mesh/v1/nodes
--- response_body_like: ^\{"nodes":\[\{"node_id":"a",
--- checks
"@main::Status" eq '200'
"@main::Replays" eq '401 401 401'
# the first heartbeat's event alone
join(' ', map { $_->{event} } @main::Events) eq 'node.join'
$main::Was{seen} =~ /^\d+$/ && Mesh::Chaos::redis('HGET', 'mesh:node:a', 'last_seen') eq $main::Was{seen}
$main::Was{score} =~ /^\d+$/ && Mesh::Chaos::redis('ZSCORE', 'mesh:nodes', 'a') eq $main::Was{score}
$main::Was{a} && Mesh::Chaos::node('a', $main::A->port)->{last_seen} == $main::Was{a}
$main::Was{b} && Mesh::Chaos::node('a')->{last_seen} == $main::Was{b}
# both nginx said why
main::count_since('A', qr/a replayed signature/) == 2
main::count_since('B', qr/a replayed signature/) == 1
--- no_error_log
[error]
