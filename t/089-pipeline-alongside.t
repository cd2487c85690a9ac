# Pipelines alongside the rest of the mesh.  Several orchestrators: with
# two nginx on one Redis (the runner's, "A", and a second one, "B"), a
# pipeline through either runs on nodes that joined through the other,
# and the load of a step running through A keeps B from sending its own
# step to the full node: B's step waits in its queue (no refusal, no
# retry) and runs once A's is over; afterwards neither nginx nor Redis
# holds any load.  A client that goes away while its step waits in the
# queue: the waiter is removed (the queue is empty at once), the task is
# cancelled, nothing is dispatched for it when the node frees up, and no
# slot is left taken.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;
use Mesh::Pipeline;

our ($B, $PA, $PB, @LA, @LB, $Bg, $Direct, $StepTask);

my $HTTP = "    mesh_heartbeat_interval 300ms;\n";

Mesh::Pipeline::suite();
add_test_cleanup_handler(\&Mesh::Chaos::teardown);
add_test_cleanup_handler(sub { $B->stop if $B && $B->alive; undef $B });

# nginx B on the file's Redis, with the shipped pipelines
sub nginx_b {
    $B = Mesh::Chaos::nginx(
        name => 'nginx-b',
        http_config => Mesh::Orch::http_config($HTTP
                                               . $Mesh::Pipeline::PIPELINES),
        config => $Mesh::Orch::LOCATIONS . $Mesh::Pipeline::LOCATIONS);
}

# An ollama-sim with only $model and an echo-agent joining the nginx on
# $port as $id (Mesh::Pipeline::mesh does the same through the runner's).
sub node_via {
    my ($port, $id, $model, @sim) = @_;
    local $ENV{TEST_NGINX_SERVER_PORT} = $port;
    $Mesh::Chaos::Sim{$id} = Mesh::Proc::start_sim(
        '--model', $model, '--token-delay-ms', 10, @sim);
    $Mesh::Chaos::Agent{$id} = Mesh::Chaos::agent($id, $Mesh::Chaos::Sim{$id},
        '--max-tasks', 1, '--drain-timeout', '1s');
}

# describe-and-summarize from a client in the background, to $port
sub pipeline {
    my ($port) = @_;
    return Mesh::Chaos::background(
        port => $port, timeout => 60,
        path => '/mesh/v1/pipelines/describe-and-summarize',
        body => '{"prompt":"what is this?","images":["aGVsbG8="]}');
}

# the decoded lines of a background pipeline's reply
sub lines_of {
    my ($bg) = @_;
    return map { scalar eval { JSON::PP->new->decode($_) } }
        @{ $bg->result->{lines} || [] };
}

# "node:index" of each step line, and the last line's event
sub steps_of {
    my (@l) = @_;
    return join(',', map { "$_->{node}:$_->{index}" }
                     grep { ($_->{event} // '') eq 'step' } @l)
        . ' ' . ($l[-1]{event} // 'none');
}

# node $id's load as nginx B sees it
sub b_load {
    my ($id) = @_;
    return Mesh::Chaos::node($id, $B->port)->{active_tasks} // -1;
}

# "zone A/zone B/redis" of node $id once all three are 0 (bounded wait)
sub load_everywhere {
    my ($id) = @_;
    my $a = Mesh::Chaos::settled_load($id);
    Mesh::Orch::wait_until(sub { b_load($id) == 0 }, 5);
    my ($za, $r) = split m{/}, $a;
    return join '/', $za, b_load($id), $r;
}

# the task id of the first task.queued event recorded, undef before one
sub queued_task {
    my ($e) = grep { ($_->{event} // '') eq 'task.queued' }
        Mesh::Chaos::events();
    return $e && $e->{task_id};
}

# generate calls simulator $id took (the agent's own polls not counted)
sub requests {
    my $s = Mesh::Pipeline::sim_stats($_[0]);
    return ($s->{active} // 0) + ($s->{completed} // 0) + ($s->{failed} // 0)
         + ($s->{cancelled} // 0);
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: two orchestrators: node a joined through B, node b through A;
a pipeline through each runs step 1 on a and step 2 on b
--- init
Mesh::Chaos::teardown();
Mesh::Orch::reset_scene();
main::nginx_b();
main::node_via($main::B->port, 'a', 'llava:7b', '--tokens', 6);
main::node_via($ENV{TEST_NGINX_SERVER_PORT}, 'b', 'mistral:7b', '--tokens', 5);
Mesh::Chaos::record_events();
--- request eval
"POST /mesh/v1/pipelines/describe-and-summarize\n"
. '{"prompt":"through A","images":["aGVsbG8="],"stream":false}'
--- response_body_like: "done":true\}$
--- checks
join(',', map { "$_->{node}:$_->{model}" } @{ JSON::PP->new->decode($Body)->{steps} }) eq 'a:llava:7b,b:mistral:7b'
Mesh::Orch::wait_until(sub { Mesh::Chaos::node('a', $B->port)->{up} && Mesh::Chaos::node('b', $B->port)->{up} })
main::steps_of(main::lines_of($PB = main::pipeline($B->port))) eq 'a:1,b:2 pipeline_done'
$PB->result->{status} == 200 && $PB->result->{clean_end}
main::load_everywhere('a') eq '0/0/0' && main::load_everywhere('b') eq '0/0/0'
--- no_error_log
[error]



=== TEST 2: load across both: while A's step 2 runs on b (one slot), B's
step 2 waits in B's queue, then runs on b; no refusal, no retry, no load
left
--- init
Mesh::Chaos::teardown();
Mesh::Orch::reset_scene();
main::nginx_b();
main::node_via($main::B->port, 'a', 'llava:7b', '--tokens', 6);
main::node_via($ENV{TEST_NGINX_SERVER_PORT}, 'b', 'mistral:7b', '--tokens', 40,
               '--token-delay-ms', 50);
Mesh::Orch::wait_until(sub { Mesh::Chaos::node('a', $main::B->port)->{up} && Mesh::Chaos::node('b', $main::B->port)->{up} });
Mesh::Chaos::record_events();
$main::PA = main::pipeline($ENV{TEST_NGINX_SERVER_PORT});
Mesh::Orch::wait_until(sub { Mesh::Pipeline::sim_stats('b')->{active} == 1 }, 15);
# B has learned of A's task on b (from A's node.load or b's heartbeat)
Mesh::Orch::wait_until(sub { main::b_load('b') == 1 }, 10);
$main::PB = main::pipeline($main::B->port);
--- request
GET /mesh/status
--- response_body_like: "pid"
--- checks
main::steps_of(@LA = main::lines_of($PA)) eq 'a:1,b:2 pipeline_done'
main::steps_of(@LB = main::lines_of($PB)) eq 'a:1,b:2 pipeline_done'
Mesh::Chaos::seen(event => 'task.queued', task_id => (grep { ($_->{event} // '') eq 'step' && $_->{index} == 2 } @LB)[0]{task_id})
Mesh::Chaos::unseen(event => 'task.queued', task_id => (grep { ($_->{event} // '') eq 'step' && $_->{index} == 2 } @LA)[0]{task_id})
Mesh::Pipeline::streamed_text(@LB) eq Mesh::Pipeline::streamed_text(@LA)
Mesh::Chaos::unseen(event => 'task.retried')
Mesh::Chaos::unseen(event => 'pipeline.failed')
Mesh::Pipeline::sim_stats('b')->{completed} == 2 && Mesh::Pipeline::sim_stats('b')->{busy_rejected} == 0
main::load_everywhere('a') eq '0/0/0' && main::load_everywhere('b') eq '0/0/0'
--- no_error_log
[error]



=== TEST 3: the client goes away while step 2 waits in the queue: the
waiter is removed, the task cancelled, nothing runs for it when b frees
up, no slot is left taken
--- init
Mesh::Pipeline::mesh(a => { model => 'llava:7b', sim => ['--tokens', 6] },
                     b => { model => 'mistral:7b', agent => ['--max-tasks', 1] });
# b is full: a task sent to it directly, over in about 2 s
$main::Direct = Mesh::Chaos::background(
    port => $Mesh::Chaos::Agent{b}->port, path => '/api/generate',
    headers => Mesh::Chaos::task_headers('b'), timeout => 30,
    body => '{"model":"mistral:7b","prompt":"load","options":{"num_predict":200}}');
Mesh::Orch::wait_until(sub { (Mesh::Chaos::node('b')->{active_tasks} // 0) == 1 }, 10);
$main::Bg = main::pipeline($ENV{TEST_NGINX_SERVER_PORT});
Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == 1 }, 10);
Mesh::Orch::wait_until(sub { $main::StepTask = main::queued_task() }, 10);
$main::Bg->stop;
--- request
GET /mesh/v1/pipelines
--- response_body_like: "pipelines"
--- checks
defined $StepTask
Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == 0 }, 10)
Mesh::Chaos::seen(event => 'task.cancelled', task_id => $StepTask, reason => 'client_gone')
Mesh::Chaos::seen(event => 'pipeline.failed', index => 2, reason => 'client_gone')
# b frees up: its direct task ends, and nothing more is sent to it
$Direct->result->{status} == 200
Mesh::Chaos::unseen(event => 'task.routed', task_id => $StepTask)
Mesh::Chaos::unseen(event => 'pipeline.step', index => 2)
main::requests('b') == 1
Mesh::Chaos::settled_load('a') eq '0/0' && Mesh::Chaos::settled_load('b') eq '0/0'
--- no_error_log
[crit]
[alert]
