# A worker that exits (nginx stopped gracefully, or reloaded) sends what
# it still holds for Redis before it lets the connection go: the task
# events of its last batch (task.done) and the load changes not yet
# flushed (the -1 of a task that just ended).  Otherwise Redis would
# count the task as running until the node's next heartbeat, and the
# live feed would never see it end.
#
# The task runs long enough (6 tokens, 50 ms apart) for its +1 to reach
# Redis (node.load active=1) while it runs; nginx is told to stop or
# reload the moment the reply is in, before the next load flush (100 ms)
# and event batch (10 ms).  The node heartbeats once and the interval is
# long: no heartbeat resets the count during the block.
#
# The file runs its own nginx, master on (a reload needs one), on the
# runner's port and server root, under memcheck with
# TEST_NGINX_USE_VALGRIND.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;

our ($Nginx, $Reply, $Exited, $Active, $OldPid);

my $HTTP = "    mesh_heartbeat_interval 20s;\n";

Mesh::Orch::suite(http_extra => $HTTP);
Mesh::Orch::sim('S', '--model', 'mistral:7b', '--token-delay-ms', 50);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);
no_nginx_manager();

sub start_nginx {
    $Nginx = Mesh::Chaos::runner_nginx(Mesh::Orch::http_config($HTTP));
    Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} },
                           15);
}

# nginx, node "a" (sim S) joined once, then one task through nginx;
# the moment its reply is in, $signal goes to nginx's master.
sub task_then {
    my ($signal) = @_;
    start_nginx();
    Mesh::Orch::reset_scene();
    Mesh::Chaos::heartbeat(node_id => 'a', port => $Mesh::Orch::Sims{S}->port,
                           models => [['mistral:7b', 'text']]) == 200
        or Test::More::diag('node a did not join');
    Mesh::Chaos::record_events();
    $OldPid = Mesh::Chaos::status()->{pid};
    $Reply = Mesh::Chaos::request(path => '/mesh/v1/tasks', timeout => 20,
        body => '{"type":"text","prompt":"last words",'
              . '"options":{"num_predict":6}}');
    $Nginx->signal($signal);
}

sub reply_ok {
    $Mesh::Checks::Why = 'status ' . ($Reply->{status} // '?') . ', last '
        . 'line: ' . ($Reply->{lines}[-1] // '');
    return $Reply->{status} == 200 && $Reply->{clean_end}
        && $Reply->{lines}[-1] =~ /"done":true,.*"eval_count":6,/;
}

# Node a's count in Redis once it is 0, or what it is after 3 s.
sub settled_active {
    my $n;
    Mesh::Orch::wait_until(sub {
        $n = Mesh::Chaos::redis('HGET', 'mesh:node:a', 'active');
        return $n eq '0';
    }, 3);
    return $n;
}

sub task_id { $Reply->{headers}{'x-mesh-task'} // '?' }

# a fresh server root for the file
Mesh::Chaos::fresh_server_root();

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: nginx stops the moment a task ends: its task.done and its load -1 still reach Redis
--- init
main::task_then('QUIT');
$main::Exited = defined $main::Nginx->wait_exit(15 * $Mesh::Orch::Slow);
$main::Active = main::settled_active();
# an nginx again for the block's request (it sends no heartbeat)
main::start_nginx();
--- request
GET /mesh/status
--- response_body_like: "redis":\{"connected":true,
--- checks
main::reply_ok()
$Exited
Mesh::Chaos::seen_line(qr/^node\.load active=1 by=ORCH node_id=a$/)
$Active eq '0'
Mesh::Chaos::seen_line(qr/^task\.done duration_ms=N model=mistral:7b node_id=a task_id=T tokens=6 tokens_per_sec=N type=text$/, main::task_id() => 'T')
$Nginx->stop
--- no_error_log
[error]



=== TEST 2: nginx reloads the moment a task ends: the old worker's task.done and load -1 reach Redis
--- init
main::task_then('HUP');
Mesh::Orch::wait_until(sub {
    my $pid = Mesh::Chaos::status()->{pid} // 0;
    return $pid && $pid != $main::OldPid
        && Mesh::Chaos::workers($main::Nginx) == 1 }, 15);
$main::Active = main::settled_active();
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a",.*"tasks_done":1,
--- checks
main::reply_ok()
Mesh::Chaos::seen_line(qr/^node\.load active=1 by=ORCH node_id=a$/)
$Active eq '0'
Mesh::Chaos::seen_line(qr/^task\.done duration_ms=N model=mistral:7b node_id=a task_id=T tokens=6 tokens_per_sec=N type=text$/, main::task_id() => 'T')
$Nginx->stop
--- error_log
reconfiguring
--- no_error_log
[error]
