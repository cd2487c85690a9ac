# conf/nginx.conf as shipped keeps the management reads (the node list,
# /mesh/status, /metrics) to this machine: from 127.0.0.1 they answer,
# from another address (127.0.0.2, which loopback also accepts) they are
# 403, while the node API's heartbeat and the task doors stay open to
# the network (they have their own credential and keys).  Then the
# shipped "mesh_api_keys" line, uncommented: the doors want a key, and
# "nginx -s reload" (SIGHUP) rereads the key file.
#
# Plain Test::More on one nginx run from a prefix with the shipped file;
# it checks access rules, not memory, so it runs the same under
# TEST_NGINX_USE_VALGRIND (t/140-142 run these handlers under memcheck).
use strict;
use warnings;

use File::Temp qw(tempdir);
use HTTP::Tiny;
use Test::More;
use Mesh::Nginx;
use Mesh::Proc;

my $redis = Mesh::Proc::start_redis();
my $port = Mesh::Proc::free_port();
my $prefix = tempdir('mesh-access-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$prefix/$_" for qw(conf logs tmp);

Mesh::Nginx::shipped_conf(root => $prefix, port => $port,
                          redis_port => $redis->port);
open my $s, '>', "$prefix/conf/mesh.secret" or die $!;
print $s "conf-access-secret-0123456789\n";
close $s;
chmod 0600, "$prefix/conf/mesh.secret";

my $nginx = Mesh::Proc->start(
    name => 'nginx-shipped',
    cmd  => [Mesh::Nginx::binary(), '-p', "$prefix/", '-c', 'conf/nginx.conf',
             '-g', 'daemon off;'],
    port => $port);

sub get {
    my ($from, $method, $path, $body) = @_;
    my $r = HTTP::Tiny->new(timeout => 10, local_address => $from)->request(
        $method, "http://127.0.0.1:$port$path",
        defined $body ? { content => $body } : {});
    return "$r->{status}";
}

for my $path ('/mesh/v1/nodes', '/mesh/v1/nodes/', '/mesh/status',
              '/metrics') {
    is get('127.0.0.1', 'GET', $path), 200, "$path from 127.0.0.1";
    is get('127.0.0.2', 'GET', $path), 403, "$path from 127.0.0.2 is 403";
}

is get('127.0.0.2', 'GET', '/mesh/v1/nodes/x/nodes'), 403,
   'no other GET of the node API gets past the rule';
is get('127.0.0.1', 'GET', '/mesh/v1/nodes/heartbeat'), 404,
   'the rule leaves the node API its own answers';
is get('127.0.0.2', 'POST', '/mesh/v1/nodes/heartbeat', '{}'), 401,
   'a heartbeat from another host meets the mesh credential, not the rule';
is get('127.0.0.2', 'GET', '/api/tags'), 200,
   'the task doors are open without mesh_api_keys';

$nginx->stop;

# the same nginx.conf with its mesh_api_keys line on
my $conf = "$prefix/conf/nginx.conf";
{
    open my $in, '<', $conf or die $!;
    local $/;
    my $text = <$in>;
    $text =~ s{^\s*#(mesh_api_keys\s+mesh\.keys;)}{    $1}m
        or die 'conf/nginx.conf has no "#mesh_api_keys mesh.keys;" line';
    open my $out, '>', $conf or die $!;
    print $out $text;
}

sub keys_file {
    my ($text) = @_;
    open my $k, '>', "$prefix/conf/mesh.keys.new" or die $!;
    print $k $text;
    close $k;
    chmod 0600, "$prefix/conf/mesh.keys.new";
    rename "$prefix/conf/mesh.keys.new", "$prefix/conf/mesh.keys" or die $!;
}

sub tags_with {
    my ($key) = @_;
    my $r = HTTP::Tiny->new(timeout => 10)->get(
        "http://127.0.0.1:$port/api/tags",
        { headers => { 'x-api-key' => $key } });
    return "$r->{status}";
}

my $ALICE = 'alice-reload-0123456789';
my $BOB   = 'bob-reload-9876543210';
keys_file("alice:$ALICE\n");

$nginx = Mesh::Proc->start(
    name => 'nginx-keys',
    cmd  => [Mesh::Nginx::binary(), '-p', "$prefix/", '-c', 'conf/nginx.conf',
             '-g', 'daemon off;'],
    port => $port);

is tags_with($ALICE), 200, 'the shipped mesh_api_keys line: a listed key';
is tags_with($BOB), 401, 'an unlisted key is refused';

keys_file("bob:$BOB\n");
kill 'HUP', $nginx->pid;

# old workers finish in the background: wait for the new ones' answers
my $deadline = time + 20;
my ($alice, $bob) = ('', '');
while (time < $deadline) {
    ($alice, $bob) = (tags_with($ALICE), tags_with($BOB));
    last if $alice eq '401' && $bob eq '200';
    select undef, undef, undef, 0.1;
}
is $bob, 200, 'after a reload, the new file\'s key is let in';
is $alice, 401, 'and the removed key is refused';

$nginx->stop;
done_testing();
