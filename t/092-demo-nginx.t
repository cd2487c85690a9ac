# The one piece the demo cannot go on without: when nginx exits, the
# demo says so, stops everything it started and exits 1.  Also its
# refusals: a node count out of range, and a restart with no demo.

use strict;
use warnings;

use Test::More;

use Mesh::Demo;

my $demo = Mesh::Demo->start;
ok($demo->wait_console(qr/^(Press Ctrl-C)/m), 'the demo is up')
    or diag($demo->console);
like($demo->console, qr/The mesh is up with 2 node\(s\)/,
     'with 2 nodes by default');

my @group = $demo->pieces;
my $pidfile = $demo->dir . '/nginx/logs/nginx.pid';
my $nginx = do { open my $fh, '<', $pidfile; <$fh> } // 0;
chomp $nginx;
ok((grep { $_ == $nginx } @group), 'nginx\'s master is the demo\'s')
    or diag("nginx $nginx, pids: @group");
like($demo->console,
     qr/^demo: nginx +http:\S+ \(module ngx_http_mesh_module, pid $nginx\)$/m,
     'its start line gives the master\'s pid, as for every piece');

ok($nginx && kill('KILL', $nginx), "kill -KILL $nginx (nginx)");
is($demo->wait_exit, 1 << 8, 'the demo exits 1');
like($demo->console,
     qr/^demo: nginx \(pid $nginx\) killed by SIGKILL; see \S+nginx\.log and \S+error\.log$/m,
     'it says nginx died, and where its logs are');
like($demo->console,
     qr/^demo: the mesh cannot run without nginx: stopping everything\ndemo: stopping$/m,
     'that it stops everything');
my @left = $demo->left_running(@group);
is(scalar @left, 0, 'and nothing it started is left running')
    or diag(`ps -o pid,args -p @left`);

my ($rc, $out) = $demo->restart('node-code');
is($rc, 1, 'restart without a running demo fails');
like($out, qr/^demo: no demo is running/m, 'and says why');

for my $n ('0', '9', 'three') {
    my $bad = Mesh::Demo->start(nodes => $n);
    is($bad->wait_exit, 2 << 8, "NODES=$n: the demo exits 2");
    like($bad->console, qr/^demo: NODES must be a number from 1 to 8 \(got "$n"\)$/m,
         'and says why');
}

done_testing();
