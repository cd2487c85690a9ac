# nginx -s reload keeps streams and the registry: a task streaming while
# nginx reloads gets every token and its done line from the old worker,
# which exits once the stream is over; the mesh zone is kept (its
# reloads_kept counter grows, its creation time and the nodes' stats are
# the same right after the reload), and the new worker routes tasks at
# once and joins Redis again.  A heartbeat waiting for Redis when the
# reload comes is answered by the old worker before it exits.  A reload
# with a new secret file brings the new secret's HMAC key (it is set up
# once per configuration): the old secret is refused, replies are signed
# with the new.
#
# A reload needs a master process: in single-process mode (which the
# runner uses under valgrind) nginx stops accepting after a HUP.  So this
# file runs its own nginx, master on, on the runner's port and server
# root (no_nginx_manager), the same way in every mode, under memcheck
# with TEST_NGINX_USE_VALGRIND.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Nginx;
use Mesh::Orch;
use Mesh::Sign;

our ($Nginx, $Stream, $Before, $After, $Beat, $OldPid);
our ($New, $Old, $Fresh, $Stale);       # TEST 4

# a heartbeat timeout of 3 s: a reload under memcheck on a busy machine
# can hold up the pump's heartbeats past 900 ms, and node "a" must stay up
my $HTTP = "    mesh_heartbeat_interval 1s;\n";

Mesh::Orch::suite(http_extra => $HTTP);
Mesh::Orch::sim('S', '--model', 'mistral:7b', '--token-delay-ms', 100);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);
no_nginx_manager();

# A fresh nginx (master on) and node "a" before sim S.
sub mesh {
    $Nginx = Mesh::Chaos::runner_nginx(Mesh::Orch::http_config($HTTP));
    Mesh::Orch::scene(a => { sim => 'S', models => [['mistral:7b', 'text']],
                             max_tasks => 4 });
    Mesh::Chaos::record_events();
}

# nginx -s reload, then waits until a new worker answers with the zone
# kept once more; returns the /mesh/status of before and after.
sub reload {
    my $before = Mesh::Chaos::status();
    system(Mesh::Nginx::command($Nginx->{root}, '-s', 'reload')) == 0
        or Test::More::diag("nginx -s reload failed: $?");
    my $after = {};
    Mesh::Orch::wait_until(sub {
        $after = Mesh::Chaos::status();
        return ($after->{pid} // 0) != $before->{pid}
            && $after->{config}{zone}{reloads_kept}
               == $before->{config}{zone}{reloads_kept} + 1;
    }, 10);
    return ($before, $after);
}

# True once worker $pid has begun its graceful shutdown.
sub shutting_down {
    my ($pid) = @_;
    open my $in, '<', server_root() . '/logs/error.log' or return 0;
    local $/;
    return (<$in> // '') =~ /\[notice\] $pid#\d+: gracefully shutting down/;
}

# a fresh server root for the file: the blocks keep adding to its logs
Mesh::Nginx::server_root(server_root());

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a reload during a long stream: every token and the done line arrive, the zone is kept
--- init
main::mesh();
# one task before the reload: its count lives only in the zone
Mesh::Chaos::request(path => '/api/generate',
    body => '{"model":"mistral:7b","prompt":"x","stream":false,"options":{"num_predict":1}}');
$main::Stream = Mesh::Chaos::background(path => '/mesh/v1/tasks', timeout => 30,
    body => '{"type":"text","prompt":"reload me","options":{"num_predict":30}}');
Mesh::Orch::wait_until(sub { Mesh::Chaos::node('a')->{active_tasks} == 1 });
($main::Before, $main::After) = main::reload();
--- request
GET /mesh/v1/nodes
--- response_body_like: ^\{"nodes":\[\{"node_id":"a",.*"up":true,.*"tasks_done":1,
--- checks
$After->{config}{zone}{reloads_kept} == $Before->{config}{zone}{reloads_kept} + 1
$After->{config}{zone}{created} == $Before->{config}{zone}{created}
$After->{pid} != $Before->{pid}
# the stream, served by the old worker to its end
$Stream->result->{status} == 200 && $Stream->result->{clean_end}
$Stream->result->{lines}[0] =~ /^\{"event":"routed","task_id":"[^"]+","node":"a","model":"mistral:7b"\}$/
(grep { /"done":false/ } @{ $Stream->result->{lines} }) == 30
$Stream->result->{lines}[-1] =~ /"response":"","done":true,"done_reason":"length",.*"eval_count":30,/
join('', map { /"response":"([^"]*)"/ } @{ $Stream->result->{lines} }) eq '[mistral:7b]' . ' reload me' x 14 . ' reload'
Mesh::Chaos::seen(event => 'task.done', node_id => 'a', tokens => 30)
# then the old worker exits: one worker is left
Mesh::Orch::wait_until(sub { Mesh::Chaos::workers($Nginx) == 1 }, 10)
$Nginx->stop
--- error_log
reconfiguring
--- no_error_log
[error]



=== TEST 2: after two reloads the new worker routes at once and is back on Redis
--- init
main::mesh();
main::reload();
($main::Before, $main::After) = main::reload();
Mesh::Orch::wait_until(sub { Mesh::Chaos::status()->{redis}{subscribed} });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"after reload","stream":false,"options":{"num_predict":2}}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] after","done":true
--- checks
$After->{config}{zone}{reloads_kept} == 2
Mesh::Chaos::status()->{redis}{connected} && Mesh::Chaos::status()->{redis}{subscribed}
Mesh::Chaos::seen(event => 'task.routed', node_id => 'a')
Mesh::Orch::wait_until(sub { Mesh::Chaos::workers($Nginx) == 1 }, 10)
$Nginx->stop
--- no_error_log
[error]



=== TEST 3: a reload while a heartbeat waits for Redis: the old worker answers it, then exits
--- init
main::mesh();
$Mesh::Orch::Redis->signal('STOP');
my $beat = Mesh::Node::caps_json({ caps => { node_id => 'w', port => 9,
                                             models => [['w', 'text']] } });
$main::Beat = Mesh::Chaos::background(path => '/mesh/v1/nodes/heartbeat',
    headers => Mesh::Chaos::node_headers('/mesh/v1/nodes/heartbeat', $beat),
    body => $beat);
Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{pending} });
$main::OldPid = Mesh::Chaos::status()->{pid};
($main::Before, $main::After) = main::reload();
Mesh::Orch::wait_until(sub { main::shutting_down($main::OldPid) });
$Mesh::Orch::Redis->signal('CONT');
--- request
GET /mesh/status
--- response_body_like: "reloads_kept":1\}
--- checks
$Beat->result->{status} == 200
$Beat->result->{body} =~ /^\{"ok":true,/
Mesh::Orch::wait_until(sub { Mesh::Chaos::workers($Nginx) == 1 }, 10)
$Nginx->stop
--- no_error_log
[error]



=== TEST 4: a reload with a new secret: the new worker checks and signs with it
The HMAC key is set up once per configuration: a reload must bring the
new secret's key, refuse the old secret and sign replies with the new.
--- init
main::mesh();
$main::New = 'reloaded-mesh-secret-fedcba9876543210';
{
    my $f = $ENV{TEST_NGINX_MESH_SECRET_FILE};
    open my $in, '<', $f or die "$f: $!";
    $main::Old = do { local $/; <$in> };
    close $in;
    open my $out, '>', $f or die "$f: $!";
    print $out "$main::New\n";
    close $out;
}
($main::Before, $main::After) = main::reload();
# the old worker may accept a connection until it has begun to exit
Mesh::Orch::wait_until(sub { Mesh::Chaos::workers($main::Nginx) == 1 }, 10);
my $path = '/mesh/v1/nodes/heartbeat';
my $beat = Mesh::Node::caps_json({ caps => { node_id => 'k', port => 9,
                                             models => [['k', 'text']] } });
for ([\$main::Fresh, $main::New], [\$main::Stale, $Mesh::Node::SECRET]) {
    my $auth = Mesh::Sign::node($_->[1], 'POST', $path, $beat);
    ${ $_->[0] } = Mesh::Chaos::request(path => $path, body => $beat,
        headers => { Authorization => $auth });
    ${ $_->[0] }->{auth} = $auth;
}
{
    my $f = $ENV{TEST_NGINX_MESH_SECRET_FILE};
    open my $out, '>', $f or die "$f: $!";
    print $out $main::Old;
    close $out;
}
--- request
GET /mesh/status
--- response_body_like: "reloads_kept":1\}
--- checks
$Fresh->{status} == 200
Mesh::Sign::reply_ok($New, $Fresh->{auth}, 200, $Fresh->{body}, $Fresh->{headers}{'x-mesh-reply-signature'} // '')
$Stale->{status} == 401
$Nginx->stop
--- no_error_log
[error]
