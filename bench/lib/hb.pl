#!/usr/bin/perl
# Keeps benchmark nodes registered: posts a signed heartbeat for each node
# every few seconds, as echo-agent would, until killed.  Not a test.
#
#   bench/lib/hb.pl SECRET_FILE http://127.0.0.1:PORT INTERVAL_S NODE...
#   NODE: id=host:port:max_tasks:model[,model...]
use strict;
use warnings;

use FindBin;
use HTTP::Tiny;
use Time::HiRes qw(sleep);

use lib "$FindBin::Bin/../../t/lib";
use Mesh::Sign;

my ($secret_file, $url, $interval, @nodes) = @ARGV;
die "usage: hb.pl SECRET_FILE URL INTERVAL NODE...\n" unless @nodes;
open my $sf, '<', $secret_file or die "$secret_file: $!\n";
chomp(my $secret = <$sf>);
close $sf;

my @bodies;
for my $n (@nodes) {
    my ($id, $host, $port, $max, $models) =
        $n =~ /^([\w.-]+)=([\d.]+):(\d+):(\d+):(\S+)$/
        or die "bad node \"$n\"\n";
    my $m = join ',', map {
        my $type = /llava/ ? 'vision' : /code/ ? 'code' : 'text';
        qq({"name":"$_","type":"$type","size_gb":4.1})
    } split /,/, $models;
    push @bodies, qq({"node_id":"$id","host":"$host","port":$port,)
        . qq("models":[$m],"hardware":{"ram_total_gb":16,"ram_free_gb":8,)
        . qq("has_gpu":false,"gpu_vram_gb":0},"status":"idle",)
        . qq("active_tasks":0,"max_tasks":$max});
}

my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 30);
$| = 1;
while (1) {
    for my $body (@bodies) {
        my $path = '/mesh/v1/nodes/heartbeat';
        my $r = $http->post("$url$path", {
            content => $body,
            headers => {
                'Content-Type'  => 'application/json',
                'Authorization' =>
                    Mesh::Sign::node($secret, 'POST', $path, $body) } });
        warn "hb.pl: heartbeat $r->{status} $r->{content}\n"
            unless $r->{success};
    }
    print "registered\n";
    sleep $interval;
}
