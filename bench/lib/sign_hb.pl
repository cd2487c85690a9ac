#!/usr/bin/perl
# Signs heartbeats ahead for wrk (a nonce is accepted once):
#   bench/lib/sign_hb.pl SECRET COUNT NODES [FIRST]
# prints COUNT lines "<Authorization>\t<body>", node ids bench-FIRST ..
# bench-(FIRST+NODES-1) in turn.  Not a test.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../t/lib";
use Mesh::Sign;

my ($secret, $n, $nodes, $first) = @ARGV;
$first //= 0;
for my $i (0 .. $n - 1) {
    my $id = $first + $i % $nodes;
    my $body = sprintf(q({"node_id":"bench-%d","host":"127.%d.%d.%d",)
        . q("port":%d,"models":[{"name":"mistral:7b","type":"text",)
        . q("size_gb":4.1},{"name":"codellama:7b","type":"code",)
        . q("size_gb":3.8}],"hardware":{"ram_total_gb":16,)
        . q("ram_free_gb":%d,"has_gpu":false,"gpu_vram_gb":0},)
        . q("status":"idle","active_tasks":0,"max_tasks":4}),
        $id, 1 + ($id >> 16) % 250, ($id >> 8) & 255, 1 + ($id & 255) % 254,
        40000 + $id % 20000, $id % 16);
    print Mesh::Sign::node($secret, "POST", "/mesh/v1/nodes/heartbeat",
                           $body), "\t$body\n";
}
