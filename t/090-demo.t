# The README's main command: tools/demo.sh (what `make demo` runs after the
# build) brings up Redis, nginx with the module and two agents with their
# simulators, routes a task, and Ctrl-C (SIGINT to its process group, as a
# terminal sends it) stops every process it started.

use strict;
use warnings;

use Test::More;

use Mesh::Demo;

my $demo = Mesh::Demo->start;
my $port = $demo->port;

ok($demo->wait_console(qr/The mesh is up/), 'the demo says the mesh is up')
    or diag($demo->console);
like($demo->console, qr{nginx\s+http://127\.0\.0\.1:$port}, 'it says where nginx listens');
like($demo->console, qr/redis-server\s+127\.0\.0\.1:\d+/, 'and Redis');
like($demo->console, qr/echo-agent\s+node-vision on 127\.0\.0\.1:\d+/, 'and the first agent');
like($demo->console, qr/echo-agent\s+node-code on 127\.0\.0\.1:\d+/, 'and the second');

# both nodes joined, then a code task is routed to the node with codellama
my $body;
Mesh::Demo::wait_for(sub {
    (undef, undef, $body) = $demo->http('GET', '/mesh/v1/nodes');
    $body =~ /node-vision/ && $body =~ /node-code/;
});
like($body // '', qr/"node_id":"node-vision"/, 'node-vision joined');
like($body // '', qr/"node_id":"node-code"/, 'node-code joined');

my ($code, $node, $reply) = $demo->http('POST', '/mesh/v1/tasks',
    '{"type":"code","prompt":"hello demo","stream":false}');
is($code, 200, 'a task through the demo mesh answers 200');
is($node, 'node-code', 'on the node with the code model');
like($reply, qr/"response":"\[codellama:7b\] hello demo/, 'with the simulator\'s reply');

# the queue's "try this", run as printed: the reader sees each status
my ($loop) = $demo->console =~ /Send 8:\n((?:  .*\n)+?)  For a second/;
ok(defined $loop, 'the demo prints the queue loop') or diag($demo->console);
my $codes = defined $loop ? `$loop` : '';
is(join(' ', split /\s+/, $codes), join(' ', ('200') x 8),
   'the printed loop shows its eight requests answer 200');

# the processes of the demo's session, before Ctrl-C
my @group = grep { $_ != $demo->pid } $demo->session_pids;
ok(@group >= 6, 'redis, nginx (master and workers), two simulators and '
              . 'two agents run') or diag("pids: @group");

is($demo->interrupt, 0, 'Ctrl-C: the demo exits 0');

my @left = $demo->left_running(@group);
is(scalar @left, 0, 'and nothing it started is left running')
    or diag(`ps -o pid,args -p @left`);
kill 'KILL', @left if @left;

done_testing();
