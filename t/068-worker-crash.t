# The count of waiting tasks that all workers share cannot drift: a
# worker that crashes (SIGKILL) with tasks in its queue must not leave
# them counted forever.  Its clients' connections die with it; the
# worker the master starts in its place takes over the dead worker's
# share of the count.
#
# Needs a master process, so it does not run under valgrind (which runs
# nginx without one).
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;

our ($GENERATE, @Waiters, $Old);

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan skip_all => 'a worker crash needs a master (none under valgrind)';
}

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--model', 'mistral:7b', '--tokens', 3);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

$GENERATE = '{"model":"mistral:7b","prompt":"crash","stream":false}';

sub worker {
    my $file = "$Test::Nginx::Util::ServRoot/logs/nginx.pid";
    open my $in, '<', $file or return 0;
    chomp(my $pid = <$in>);
    open my $ch, '<', "/proc/$pid/task/$pid/children" or return 0;
    my ($child) = split ' ', <$ch> // '';
    return $child // 0;
}

master_on();
workers(1);
repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a worker SIGKILLed with three waiters: the shared queued count comes back to 0
--- init
Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']],
                         max_tasks => 1, active_tasks => 1 });
@main::Waiters = map {
    Mesh::Chaos::background(path => '/api/generate',
                            body => $main::GENERATE, timeout => 20)
} 1 .. 3;
Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == 3 }, 10)
    or Test::More::diag('the waiters were never queued');
$main::Old = main::worker();
kill 'KILL', $main::Old;
Mesh::Orch::wait_until(sub { my $w = main::worker(); $w && $w != $main::Old
                             && Mesh::Orch::nodes_queued() >= 0 }, 10);
--- request
GET /mesh/status
--- response_body_like: "worker_queue":0\}$
--- checks
main::worker() != $Old
# the waiters' connections died with the worker
!defined $Waiters[0]->result->{status}
Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == 0 }, 3)
# the queue works again: a task waits and runs when the node frees up
Mesh::Orch::node_set('a', active_tasks => 0)
--- error_log
exited on signal 9
