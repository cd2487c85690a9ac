# Configuration: nginx refuses every bad mesh_* directive at startup with
# a message that names the problem (--- must_die, the error_log pattern
# is the message), the shipped conf/nginx.conf passes `nginx -t`, and a
# secret file others can read passes with a warning.
use strict;
use warnings;

use File::Temp qw(tempdir);
use Test::Nginx::Socket;
use Mesh::Nginx;
use Mesh::Node;
use Mesh::Orch;
use Mesh::Proc;
use Mesh::Sign;

Mesh::Node::secret_file();
add_block_preprocessor(\&Mesh::Sign::preprocess);
$ENV{TEST_NGINX_DEAD_PORT} = Mesh::Proc::free_port();

repeat_each(1);
no_shuffle();
plan tests => 4 + Mesh::Orch::count_tests();

# conf/nginx.conf as shipped, with this build's module and a secret
{
    my $prefix = tempdir('mesh-conf-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$prefix/$_" for qw(conf logs tmp);
    for my $f (qw(nginx.conf mesh_proxy.conf)) {
        open my $in, '<', "conf/$f" or die "conf/$f: $!";
        open my $out, '>', "$prefix/conf/$f" or die "$prefix/conf/$f: $!";
        local $/;
        my $text = <$in>;
        $text =~ s{^load_module \S+;}
                  {load_module $ENV{TEST_NGINX_LOAD_MODULES};}m;
        print $out $text;
    }
    open my $s, '>', "$prefix/conf/mesh.secret" or die $!;
    print $s "conf-test-secret-0123456789\n";
    close $s;
    chmod 0600, "$prefix/conf/mesh.secret";
    my $nginx = Mesh::Nginx::binary();
    my $out = `$nginx -t -p $prefix/ \\
               -c conf/nginx.conf -e $prefix/logs/error.log 2>&1`;
    is $? >> 8, 0, 'nginx -t accepts conf/nginx.conf' or diag($out);
    like $out, qr/configuration file \S+ test is successful/,
         'nginx -t says so';
}

# a secret file others can read: accepted, with a warning
{
    my $dir = tempdir('mesh-secret-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    open my $s, '>', "$dir/open.secret" or die $!;
    print $s "0123456789abcdef\n";
    close $s;
    chmod 0644, "$dir/open.secret";
    my ($code, $out) = Mesh::Nginx::config_test('',
        "mesh_secret_file $dir/open.secret;", '');
    is $code, 0, 'nginx -t accepts a secret file others can read'
        or diag($out);
    my $file = "$dir/open.secret";
    like $out, qr/\[warn\] mesh secret file "\Q$file\E" is readable by/,
         'with a warning';
}

run_tests();

__DATA__

=== TEST 1: a configuration with every directive starts (the baseline)
--- http_config
    mesh_zone mesh 1m;
    mesh_heartbeat_interval 1s;
    mesh_heartbeat_misses 5;
    mesh_queue_size 8;
    mesh_queue_ttl 5s;
    mesh_tries 8;
    mesh_node_body_max 8k;
    mesh_secret_file $TEST_NGINX_MESH_SECRET_FILE;
    upstream mesh_agents { mesh_balancer; keepalive 8; }
--- config
    location = /mesh/v1/tasks {
        mesh_route task;
        proxy_pass http://mesh_agents/api/generate;
    }
    location /mesh/v1/nodes { mesh_node_api; }
    location = /api/tags { mesh_tags; }
    location = /mesh/status { mesh_status; }
--- request
GET /mesh/status
--- response_body_like: "version":"\d+\.\d+\.\d+"
--- no_error_log
[error]
[warn]



=== TEST 2: mesh_registry of another scheme
--- http_config
    mesh_registry http://127.0.0.1:6379;
--- config
--- must_die
--- error_log
invalid registry address "http://127.0.0.1:6379": expected "redis://host:port" or "unix:/path"



=== TEST 3: mesh_registry without a host
--- http_config
    mesh_registry redis://:6379;
--- config
--- must_die
--- error_log
invalid registry address "redis://:6379"



=== TEST 4: mesh_registry with port 0
--- http_config
    mesh_registry redis://127.0.0.1:0;
--- config
--- must_die
--- error_log
invalid registry port in "redis://127.0.0.1:0"



=== TEST 5: mesh_registry with a port that is not a number
--- http_config
    mesh_registry redis://127.0.0.1:redis;
--- config
--- must_die
--- error_log
invalid registry port in "redis://127.0.0.1:redis"



=== TEST 6: mesh_registry with a database that is not a number
--- http_config
    mesh_registry redis://127.0.0.1:6379/first;
--- config
--- must_die
--- error_log
invalid registry database in "redis://127.0.0.1:6379/first"



=== TEST 7: mesh_registry with a database out of range
--- http_config
    mesh_registry redis://127.0.0.1/100000;
--- config
--- must_die
--- error_log
invalid registry database in "redis://127.0.0.1/100000"



=== TEST 8: mesh_registry with an empty password
--- http_config
    mesh_registry redis://:@127.0.0.1;
--- config
--- must_die
--- error_log
invalid registry address "redis://:***@127.0.0.1"



=== TEST 9: a bad mesh_registry never shows its password
--- http_config
    mesh_registry redis://mesh:pa55word@127.0.0.1:0;
--- config
--- must_die
--- error_log
invalid registry port in "redis://mesh:***@127.0.0.1:0"
--- no_error_log
pa55word



=== TEST 10: mesh_registry with credentials but no colon
--- http_config
    mesh_registry redis://secret@127.0.0.1;
--- config
--- must_die
--- error_log
invalid registry address "redis://secret@127.0.0.1"



=== TEST 11: mesh_registry with a relative unix socket path
--- http_config
    mesh_registry unix:redis.sock;
--- config
--- must_die
--- error_log
invalid registry address "unix:redis.sock"



=== TEST 12: mesh_registry twice
--- http_config
    mesh_registry redis://127.0.0.1:$TEST_NGINX_DEAD_PORT;
    mesh_registry redis://127.0.0.1:$TEST_NGINX_DEAD_PORT;
--- config
--- must_die
--- error_log
"mesh_registry" directive is duplicate



=== TEST 13: mesh_registry with two addresses
--- http_config
    mesh_registry redis://127.0.0.1 redis://127.0.0.2;
--- config
--- must_die
--- error_log
invalid number of arguments in "mesh_registry" directive



=== TEST 14: mesh_zone with a size that is not a size
--- http_config
    mesh_zone mesh 16q;
--- config
--- must_die
--- error_log
invalid zone size "16q"



=== TEST 15: mesh_zone too small
--- http_config
    mesh_zone mesh 16k;
--- config
--- must_die
--- error_log eval
qr/zone "mesh" is too small: 16384 bytes, at least \d+/



=== TEST 16: mesh_zone without a size
--- http_config
    mesh_zone mesh;
--- config
--- must_die
--- error_log
invalid number of arguments in "mesh_zone" directive



=== TEST 17: mesh_zone twice
--- http_config
    mesh_zone mesh 1m;
    mesh_zone mesh2 1m;
--- config
--- must_die
--- error_log
"mesh_zone" directive is duplicate



=== TEST 18: mesh_secret_file twice
--- http_config
    mesh_secret_file $TEST_NGINX_MESH_SECRET_FILE;
    mesh_secret_file $TEST_NGINX_MESH_SECRET_FILE;
--- config
--- must_die
--- error_log
"mesh_secret_file" directive is duplicate



=== TEST 19: mesh_heartbeat_interval twice
--- http_config
    mesh_heartbeat_interval 1s;
    mesh_heartbeat_interval 2s;
--- config
--- must_die
--- error_log
"mesh_heartbeat_interval" directive is duplicate



=== TEST 20: mesh_route twice in a location
--- http_config
    mesh_zone mesh 1m;
--- config
    location /x { mesh_route task; mesh_route ollama; }
--- must_die
--- error_log
"mesh_route" directive is duplicate



=== TEST 21: two handlers in one location
--- http_config
    mesh_zone mesh 1m;
--- config
    location /x { mesh_tags; mesh_status; }
--- must_die
--- error_log
"mesh_status" directive is duplicate



=== TEST 22: mesh_route with an unknown mode
--- http_config
    mesh_zone mesh 1m;
--- config
    location /x { mesh_route foo; }
--- must_die
--- error_log
invalid parameter "foo", expected "ollama", "openai" or "task"



=== TEST 23: mesh_route without mesh_zone
--- http_config
--- config
    location /x { mesh_route ollama; }
--- must_die
--- error_log
"mesh_route", "mesh_node_api", "mesh_tags" and "mesh_openai_models" need a "mesh_zone"



=== TEST 24: mesh_tags without mesh_zone
--- http_config
--- config
    location /x { mesh_tags; }
--- must_die
--- error_log
"mesh_route", "mesh_node_api", "mesh_tags" and "mesh_openai_models" need a "mesh_zone"



=== TEST 25: mesh_route outside a location
--- http_config
    mesh_zone mesh 1m;
--- config
    mesh_route task;
--- must_die
--- error_log
"mesh_route" directive is not allowed here



=== TEST 26: mesh_node_api without mesh_secret_file
--- http_config
    mesh_zone mesh 1m;
--- config
    location /mesh/v1/nodes { mesh_node_api; }
--- must_die
--- error_log
"mesh_node_api" needs "mesh_secret_file"



=== TEST 27: a secret file that does not exist
--- http_config
    mesh_secret_file $TEST_NGINX_SERVER_ROOT/html/none.secret;
--- config
--- must_die
--- error_log eval
qr{open\(\) "\S+/html/none\.secret" failed \(2: No such file or directory\)}



=== TEST 28: a secret file that is a directory
--- http_config
    mesh_secret_file $TEST_NGINX_SERVER_ROOT/html;
--- config
--- must_die
--- error_log eval
qr{"\S+/html" failed \(21: Is a directory\)}



=== TEST 29: a secret of 15 bytes (and a newline)
--- http_config
    mesh_secret_file $TEST_NGINX_SERVER_ROOT/html/short.secret;
--- config
--- user_files
>>> short.secret
0123456789abcde
--- must_die
--- error_log eval
qr{mesh secret in "\S+/html/short\.secret" is shorter than 16 bytes}



=== TEST 30: an empty secret file
--- http_config
    mesh_secret_file $TEST_NGINX_SERVER_ROOT/html/empty.secret;
--- config
--- user_files
>>> empty.secret

--- must_die
--- error_log
is shorter than 16 bytes



=== TEST 31: a secret file over 4096 bytes
--- http_config
    mesh_secret_file $TEST_NGINX_SERVER_ROOT/html/big.secret;
--- config
--- user_files eval
[ [ 'big.secret', 'x' x 4097 ] ]
--- must_die
--- error_log eval
qr{mesh secret file "\S+/html/big\.secret" is larger than 4096 bytes}



=== TEST 32: a secret of 16 bytes, its newline ignored: the credential
--- http_config
    mesh_zone mesh 1m;
    mesh_secret_file $TEST_NGINX_SERVER_ROOT/html/ok.secret;
--- config
    location /mesh/v1/nodes { mesh_node_api; }
--- user_files
>>> ok.secret
0123456789abcdef
--- request
POST /mesh/v1/nodes/leave
{"node_id":"x"}
--- signed: 0123456789abcdef
--- error_code: 503
--- response_body
{"error":"the registry is unavailable, retry later"}
--- no_error_log
[error]



=== TEST 33: mesh_tries 0
--- http_config
    mesh_tries 0;
--- config
--- must_die
--- error_log
value must be between 1 and 8



=== TEST 34: mesh_tries 9
--- http_config
    mesh_tries 9;
--- config
--- must_die
--- error_log
value must be between 1 and 8



=== TEST 35: mesh_tries that is not a number
--- http_config
    mesh_tries many;
--- config
--- must_die
--- error_log
"mesh_tries" directive invalid number



=== TEST 36: mesh_heartbeat_interval 0
--- http_config
    mesh_heartbeat_interval 0;
--- config
--- must_die
--- error_log
mesh_heartbeat_interval must be above zero



=== TEST 37: mesh_heartbeat_misses 0
--- http_config
    mesh_heartbeat_misses 0;
--- config
--- must_die
--- error_log
value must be between 1 and 100



=== TEST 38: mesh_heartbeat_interval that is not a time
--- http_config
    mesh_heartbeat_interval soon;
--- config
--- must_die
--- error_log
"mesh_heartbeat_interval" directive invalid value



=== TEST 39: mesh_queue_size that is not a number
--- http_config
    mesh_queue_size -1;
--- config
--- must_die
--- error_log
"mesh_queue_size" directive invalid number



=== TEST 40: mesh_node_body_max that is not a size
--- http_config
    mesh_node_body_max big;
--- config
--- must_die
--- error_log
"mesh_node_body_max" directive invalid value



=== TEST 41: mesh_balancer outside an upstream block (http)
--- http_config
    mesh_balancer;
--- config
--- must_die
--- error_log
"mesh_balancer" directive is not allowed here



=== TEST 42: mesh_balancer outside an upstream block (location)
--- http_config
--- config
    location /x { mesh_balancer; }
--- must_die
--- error_log
"mesh_balancer" directive is not allowed here



=== TEST 43: mesh_balancer with an argument
--- http_config
    upstream u { mesh_balancer on; }
--- config
--- must_die
--- error_log
invalid number of arguments in "mesh_balancer" directive



=== TEST 44: an upstream with mesh_balancer and a server line
--- http_config
    upstream mesh_agents {
        mesh_balancer;
        server 127.0.0.1:11434;
    }
--- config
--- must_die
--- error_log
upstream "mesh_agents" with mesh_balancer takes its peers from the registry: remove its "server" lines



=== TEST 45: an upstream with a server line, then mesh_balancer
--- http_config
    upstream mesh_agents {
        server 127.0.0.1:11434;
        mesh_balancer;
    }
--- config
--- must_die
--- error_log
upstream "mesh_agents" with mesh_balancer takes its peers from the registry: remove its "server" lines
