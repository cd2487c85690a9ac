# Module sanity: ngx_http_mesh_module loads into Debian's nginx, answers
# mesh_status, parses its configuration, and rejects bad directives with a
# clear message.

use Test::Nginx::Socket;
use File::Spec;

repeat_each(2);
no_shuffle();

# a secret file for the blocks that need one
my $dir = File::Spec->rel2abs('t/servroot-procs/010-sanity');
system('mkdir', '-p', $dir);
my %files = (
    'good.secret'  => "sanity-secret-0123456789abcdef\n",
    'short.secret' => "tooshort\n",
);
for my $f (keys %files) {
    open my $fh, '>', "$dir/$f" or die "$dir/$f: $!";
    print $fh $files{$f};
    close $fh;
    chmod 0600, "$dir/$f";
}
$ENV{TEST_NGINX_SECRET_DIR} = $dir;

plan tests => repeat_each() * 2 * blocks() + 2 * 2 + repeat_each();

run_tests();

__DATA__

=== TEST 1: the module loads and mesh_status answers with its version
--- config
    location = /mesh/status { mesh_status; }
--- request
GET /mesh/status
--- response_body_like
^\{"module":"ngx_http_mesh_module","version":"\d+\.\d+\.\d+","nginx_version":"1\.22\.1","pid":\d+,"config":\{"registry":null,"zone":null,"secret":false,.*"worker_queue":0\}$
--- no_error_log
[error]



=== TEST 2: configuration is reported, the password never is
--- http_config
    mesh_zone mesh 1m;
    mesh_registry redis://user:hunter2@127.0.0.1:1/3;
    mesh_secret_file $TEST_NGINX_SECRET_DIR/good.secret;
    mesh_queue_size 7;
    mesh_queue_ttl 1500ms;
    mesh_tries 2;
--- config
    location = /mesh/status { mesh_status; }
--- request
GET /mesh/status
--- response_body_like chomp
"registry":\{"host":"127\.0\.0\.1","port":1,"db":3,"auth":true\},"zone":\{"name":"mesh","size":1048576,"created":\d+,"reloads_kept":\d+\},"secret":true,"heartbeat_interval_ms":3000,"heartbeat_misses":3,"queue_ttl_ms":1500,"queue_size":7,"tries":2\}
--- no_error_log
hunter2



=== TEST 3: a unix socket registry
--- http_config
    mesh_registry unix:/nonexistent/redis.sock;
--- config
    location = /mesh/status { mesh_status; }
--- request
GET /mesh/status
--- response_body_like chomp
"registry":\{"unix":"/nonexistent/redis\.sock","db":0,"auth":false\}



=== TEST 4: status refuses other methods
--- config
    location = /mesh/status { mesh_status; }
--- request
POST /mesh/status
hello
--- error_code: 405
--- no_error_log
[crit]



=== TEST 5: registry URL without host
--- http_config
    mesh_registry redis://;
--- config
--- must_die
--- error_log
invalid registry address "redis://"



=== TEST 6: registry URL with a bad port
--- http_config
    mesh_registry redis://127.0.0.1:99999;
--- config
--- must_die
--- error_log
invalid registry port in "redis://127.0.0.1:99999"



=== TEST 7: registry URL of another scheme
--- http_config
    mesh_registry http://127.0.0.1:6379;
--- config
--- must_die
--- error_log
expected "redis://host:port" or "unix:/path"



=== TEST 8: a zone too small for the registry
--- http_config
    mesh_zone mesh 4k;
--- config
--- must_die
--- error_log
zone "mesh" is too small



=== TEST 9: a zone size that is not a size
--- http_config
    mesh_zone mesh lots;
--- config
--- must_die
--- error_log
invalid zone size "lots"



=== TEST 10: duplicate directive
--- http_config
    mesh_zone mesh 1m;
    mesh_zone other 1m;
--- config
--- must_die
--- error_log
"mesh_zone" directive is duplicate



=== TEST 11: missing secret file
--- http_config
    mesh_secret_file /nonexistent/mesh.secret;
--- config
--- must_die
--- error_log
open() "/nonexistent/mesh.secret" failed



=== TEST 12: a secret shorter than 16 bytes
--- http_config
    mesh_secret_file $TEST_NGINX_SECRET_DIR/short.secret;
--- config
--- must_die
--- error_log
is shorter than 16 bytes



=== TEST 13: mesh_route with an unknown mode
--- http_config
    mesh_zone mesh 1m;
--- config
    location /x { mesh_route magic; }
--- must_die
--- error_log
invalid parameter "magic", expected "ollama", "openai" or "task"



=== TEST 14: mesh_status takes no arguments
--- config
    location /x { mesh_status now; }
--- must_die
--- error_log
invalid number of arguments in "mesh_status" directive



=== TEST 15: a bad registry URL is reported without its password
--- http_config
    mesh_registry redis://admin:hunter2@127.0.0.1:0;
--- config
--- must_die
--- error_log
invalid registry port in "redis://admin:***@127.0.0.1:0"
--- no_error_log
hunter2
