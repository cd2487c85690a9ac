# The demo outlives its pieces (make demo NODES=3): three nodes with
# their models spread (a vision, a code and text models, two of them on
# two nodes); the agent named in the "try this" is killed with the
# printed `kill <pid>`: the console says which node and where its log
# is, and its model is still served by the other node; the printed
# restart command brings it back into /mesh/v1/nodes; a simulator that
# dies is reported and restarted the same way; Redis dying is reported,
# and tasks are still routed with nginx and every node up.  Ctrl-C then
# stops everything, the restarted processes too.

use strict;
use warnings;

use Test::More;

use Mesh::Demo;

my $demo = Mesh::Demo->start(nodes => 3);
ok($demo->wait_console(qr/^(Press Ctrl-C)/m), 'the demo is up')
    or diag($demo->console);
like($demo->console, qr/The mesh is up with 3 node\(s\)/, 'with 3 nodes');

# every node joined, with the models of its profile
my %models = (
    'node-vision' => 'llava:7b=vision mistral:7b=text',
    'node-code'   => 'codellama:7b=code mistral:7b=text',
    'node-text'   => 'llama3.2:3b=text llava:7b=vision',
);
sub up_nodes {
    my $n = $demo->nodes;
    return join ' ', sort grep { $n->{$_}{up} } keys %$n;
}
sub models_of {
    my ($node) = @_;
    return join ' ', map { "$_->{name}=$_->{type}" }
        @{ $node->{models} || [] };
}
Mesh::Demo::wait_for(sub { up_nodes() eq 'node-code node-text node-vision' });
my $nodes = $demo->nodes;
is(up_nodes(), 'node-code node-text node-vision', 'three nodes are up');
is(models_of($nodes->{$_}), $models{$_}, "$_ has its models")
    for sort keys %models;

# the "try this": kill the first agent
my ($kill, $victim) = $demo->console
    =~ /^  kill (\d+) +# the echo-agent of (\S+)$/m;
$kill //= 0;
is($victim, 'node-vision', 'the "try this" names an agent to kill');
is($kill, $demo->pid_of(agent => 'node-vision'),
   'by the pid its start line gave');
my ($restart) = $demo->console
    =~ m{^  (tools/demo\.sh restart node-vision)$}m;
ok($restart, 'and prints the restart command');

ok($kill && kill('TERM', $kill), "kill $kill");
my $said = $demo->wait_console(
    qr/^demo: node-vision: echo-agent \(pid $kill\) (.*); see (\S+)$/m);
ok($said, 'the console says which node died') or diag($demo->console);
my ($log) = $demo->console =~ /^demo: node-vision: echo-agent .*; see (\S+)$/m;
ok(defined $log && -s $log && $log =~ /node-vision-agent\.log$/,
   'and where its log is');
like($demo->console,
     qr/^demo: the mesh goes on .* Restart it: \Q$restart\E$/m,
     'and how to restart it');
ok($demo->running, 'the demo goes on');

Mesh::Demo::wait_for(sub { up_nodes() eq 'node-code node-text' });
is(up_nodes(), 'node-code node-text', 'node-vision is gone from the mesh');
my @served = map { [$demo->generate('mistral:7b')] } 1 .. 3;
is(join(' ', map { "$_->[0]:$_->[1]" } @served),
   '200:node-code 200:node-code 200:node-code',
   'mistral:7b is served by node-code');
like($served[0][2], qr/"response":"\[mistral:7b\] hello demo/,
     'with the simulator\'s reply');
my @vision = $demo->generate('llava:7b');
is("$vision[0]:$vision[1]", '200:node-text',
   'llava:7b by node-text, the other node with it');

# the printed restart command
my ($rc, $out) = $demo->restart('node-vision');
is($rc, 0, 'the restart command succeeds');
my ($new) = $out =~ /^demo: restarted node-vision: echo-agent \(pid (\d+)\)$/m;
ok($new && $new != $kill, 'with a new echo-agent') or diag($out);
Mesh::Demo::wait_for(sub { up_nodes() eq 'node-code node-text node-vision' });
is(up_nodes(), 'node-code node-text node-vision', 'node-vision is back');
($rc, $out) = $demo->restart('node-vision');
is($rc, 1, 'restarting a node that runs does nothing');
like($out, qr/^demo: not restarted: every piece of node-vision is running$/m,
     'and says so');
($rc, $out) = $demo->restart('node-nine');
like($out, qr/^demo: not restarted: no node "node-nine" \(nodes: node-vision node-code node-text\)$/m,
     'an unknown node is named') or diag($out);

# a simulator dies: its node leaves the routing, comes back on restart
my $sim = $demo->pid_of(sim => 'node-code') // 0;
ok($sim && kill('KILL', $sim), "kill -KILL $sim (node-code's simulator)");
ok($demo->wait_console(
       qr/^demo: node-code: ollama-sim \(pid $sim\) killed by SIGKILL; see \S+node-code-sim\.log$/m),
   'the console says node-code\'s simulator died') or diag($demo->console);
Mesh::Demo::wait_for(sub { up_nodes() eq 'node-text node-vision' });
is(up_nodes(), 'node-text node-vision', 'node-code is not routable');
@served = $demo->generate('mistral:7b');
is("$served[0]:$served[1]", '200:node-vision', 'mistral:7b on node-vision');
($rc, $out) = $demo->restart('node-code');
like($out, qr/^demo: restarted node-code: ollama-sim \(pid \d+\)$/m,
     'restart brings the simulator back') or diag($out);
Mesh::Demo::wait_for(sub { up_nodes() eq 'node-code node-text node-vision' });
my @code = $demo->generate('codellama:7b');
is("$code[0]:$code[1]", '200:node-code', 'codellama:7b on node-code again');

# Redis dies: reported, nginx and the nodes stay up, tasks still routed
my @before = $demo->pieces;
my $redis = $demo->pid_of('redis') // 0;
ok($redis && kill('TERM', $redis), "kill $redis (redis-server)");
ok($demo->wait_console(qr/^demo: redis-server \(pid $redis\) exited/m),
   'the console says Redis died') or diag($demo->console);
like($demo->console, qr/^demo: nginx and the nodes stay up: .*Restart it: tools\/demo\.sh restart redis$/m,
     'that the mesh goes on, and how to restart it');
@served = map { [$demo->generate('mistral:7b')] } 1 .. 2;
is(join(' ', map { $_->[0] } @served), '200 200',
   'tasks are still routed') or diag(explain(\@served));
like($served[0][1], qr/^node-(vision|code)$/, 'to a node with the model');
my @alive = grep { $_ != $redis } @before;
is(join(' ', $demo->left_running(@alive)), join(' ', @alive),
   'every other process of the demo still runs');
ok($demo->running, 'and the demo');

# Ctrl-C stops all of it, what was restarted too
my @group = $demo->pieces;
ok((grep { $_ == $new } @group), 'the restarted agent is the demo\'s');
is(scalar(grep { $_ == $redis } @group), 0, 'redis is not among them');
ok(@group >= 9, 'redis gone, nginx (2+), 3 simulators and 3 agents run')
    or diag("pids: @group");
is($demo->interrupt, 0, 'Ctrl-C: the demo exits 0');
my @left = $demo->left_running(@group);
is(scalar @left, 0, 'and nothing it started is left running')
    or diag(`ps -o pid,args -p @left`);

done_testing();
