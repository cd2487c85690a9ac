# Client API keys (mesh_api_keys): with a key file, every task door of
# this branch (native tasks, the Ollama API and its tags, pipelines, the
# live feed) answers 401 {"error":"invalid api key"} with a Bearer
# challenge to a request without a good key, and serves one with a key in
# "Authorization: Bearer" or "x-api-key" (the feed also takes "?key=").
# $mesh_api_key_name names the caller in any phase: the limit_req recipe
# of the README keys on it, and a management location can demand a named
# key.  A bad key file stops nginx -t with a message naming the line.
use strict;
use warnings;

use File::Spec;
use Test::Nginx::Socket;
use Mesh::Orch;
use Mesh::Proc;

our $ALICE = 'alice-0123456789abcdef';
our $BOB   = 'bob-fedcba9876543210xx';
our $ANON  = 'anon-key-without-a-name';
our $ADMIN = 'admin-5f1e2d3c4b5a6978';

# a key file in the suite's log folder; returns its path
sub key_file {
    my ($name, $text) = @_;
    my $path = File::Spec->rel2abs(
        File::Spec->catfile(Mesh::Proc::log_dir(), $name));
    open my $fh, '>', $path or die "cannot write $path: $!";
    print $fh $text;
    close $fh;
    chmod 0600, $path;
    return $path;
}

$ENV{TEST_NGINX_KEYS} = key_file('keys',
    "# the mesh's clients\n\nalice:$ALICE\n  bob:$BOB  \n$ANON\r\n"
    . "admin:$ADMIN\n");
$ENV{TEST_NGINX_KEYS_EMPTY} = key_file('empty', "# nobody\n\n");
$ENV{TEST_NGINX_KEYS_SHORT} = key_file('short', "carol:short\n");
$ENV{TEST_NGINX_KEYS_NAME} = key_file('badname', "c d:0123456789abcdefgh\n");
$ENV{TEST_NGINX_KEYS_DUP} = key_file('dup', "a:0123456789abcdefgh\n"
                                          . "b:0123456789abcdefgh\n");
$ENV{TEST_NGINX_KEYS_DUPNAME} = key_file('dupname',
    "a:0123456789abcdefgh\na:0123456789abcdefgX\n");

our $HTTP = Mesh::Orch::http_config(<<'_EOC_');
    mesh_api_keys $TEST_NGINX_KEYS;
    limit_req_zone $mesh_api_key_name zone=perkey:1m rate=1r/m;
    mesh_pipeline echo {
        step type=text "prompt={{input}}";
    }
_EOC_

our $CONFIG = $Mesh::Orch::LOCATIONS . <<'_EOC_';
    location /mesh/v1/pipelines {
        mesh_pipelines /mesh/internal/step;
    }

    location = /mesh/internal/step {
        internal;
        mesh_route task;
        proxy_pass http://mesh_agents/api/generate;
    }

    location = /whoami {
        return 200 "[$mesh_api_key_name]\n";
    }

    # "return" would answer in the rewrite phase, before limit_req
    location = /limited {
        limit_req zone=perkey;
        limit_req_status 429;
        try_files /nonexistent @limited;
    }

    location @limited {
        return 200 "[$mesh_api_key_name] in\n";
    }

    location = /admin {
        if ($mesh_api_key_name != "admin") {
            return 403;
        }
        return 200 "admin in\n";
    }
_EOC_

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--model', 'mistral:7b', '--tokens', 2);

sub one_node {
    Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']] });
}

add_block_preprocessor(sub {
    my ($block) = @_;
    return if defined $block->http_config;
    $block->set_value(http_config => $HTTP);
    $block->set_value(config => $CONFIG);
});

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests();

run_tests();

__DATA__

=== TEST 1: a native task without a key: 401 and a Bearer challenge
--- request
POST /mesh/v1/tasks
{"type":"text","prompt":"hello"}
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="mesh"
Content-Type: application/json
--- response_body
{"error":"invalid api key"}
--- no_error_log
[error]



=== TEST 2: a native task with a wrong key: 401
--- more_headers
Authorization: Bearer alice-0123456789abcdeX
--- request
POST /mesh/v1/tasks
{"type":"text","prompt":"hello"}
--- error_code: 401
--- response_body
{"error":"invalid api key"}
--- no_error_log
[error]



=== TEST 3: a native task with a Bearer key: routed and served
--- init
main::one_node();
--- more_headers eval
"Authorization: Bearer $::ALICE"
--- request
POST /mesh/v1/tasks
{"type":"text","prompt":"hello","stream":false}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] hello
--- no_error_log
[error]



=== TEST 4: the Ollama API with x-api-key (a key without a name)
--- init
main::one_node();
--- more_headers eval
"x-api-key: $::ANON"
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"hi there","stream":false}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] hi"
--- no_error_log
[error]



=== TEST 5: the Ollama API with an unknown x-api-key: 401
--- more_headers
x-api-key: not-a-key-of-this-mesh
--- request
POST /api/chat
{"model":"mistral:7b","messages":[]}
--- error_code: 401
--- response_body
{"error":"invalid api key"}
--- no_error_log
[error]



=== TEST 6: /api/tags is a door of the Ollama API: no key, 401
--- request
GET /api/tags
--- error_code: 401
--- response_body
{"error":"invalid api key"}
--- no_error_log
[error]



=== TEST 7: /api/tags with a key
--- init
main::one_node();
--- more_headers eval
"Authorization: bearer $::BOB"
--- request
GET /api/tags
--- response_body_like: ^\{"models":\[\{"name":"mistral:7b"
--- no_error_log
[error]



=== TEST 8: pipelines without a key: 401, with a key: run
--- init
main::one_node();
--- request eval
["POST /mesh/v1/pipelines/echo\n{\"prompt\":\"x\"}",
 "POST /mesh/v1/pipelines/echo\n{\"prompt\":\"piped\",\"stream\":false}"]
--- more_headers eval
["", "x-api-key: $::BOB"]
--- error_code eval
[401, 200]
--- response_body_like eval
['^\{"error":"invalid api key"\}$', '"output":"\[mistral:7b\] piped']
--- no_error_log
[error]



=== TEST 9: the feed: no key 401; ?key= and header keys pass the check
A bad filter answers 400 only after the key was accepted.
--- request eval
["GET /mesh/v1/feed?only=a*b",
 "GET /mesh/v1/feed?only=a*b&key=wrong-key-0123456789",
 "GET /mesh/v1/feed?only=a*b&key=$::ALICE",
 "GET /mesh/v1/feed?only=a*b&key=" . ($::ALICE =~ s/-/%2D/gr),
 "GET /mesh/v1/feed?only=a*b"]
--- more_headers eval
["Accept: text/event-stream", "Accept: text/event-stream",
 "Accept: text/event-stream", "Accept: text/event-stream",
 "Accept: text/event-stream\nAuthorization: Bearer $::ALICE"]
--- error_code eval
[401, 401, 400, 400, 400]
--- response_body_like eval
['invalid api key', 'invalid api key', 'bad event name', 'bad event name',
 'bad event name']
--- no_error_log
[error]



=== TEST 10: a task door takes no key from the query
--- request eval
"POST /mesh/v1/tasks?key=$::ALICE\n{\"type\":\"text\",\"prompt\":\"x\"}"
--- error_code: 401
--- response_body
{"error":"invalid api key"}
--- no_error_log
[error]



=== TEST 11: $mesh_api_key_name: the name, key<line> for a key without one
--- request eval
["GET /whoami", "GET /whoami", "GET /whoami", "GET /whoami", "GET /whoami"]
--- more_headers eval
["", "Authorization: Bearer $::ALICE", "x-api-key: $::BOB",
 "x-api-key: $::ANON", "x-api-key: $::ALICE-no"]
--- response_body eval
["[]\n", "[alice]\n", "[bob]\n", "[key5]\n", "[]\n"]
--- no_error_log
[error]



=== TEST 12: limit_req keyed on $mesh_api_key_name: one bucket per caller
--- request eval
["GET /limited", "GET /limited", "GET /limited", "GET /limited"]
--- more_headers eval
["x-api-key: $::ALICE", "x-api-key: $::ALICE", "x-api-key: $::BOB",
 "x-api-key: $::ALICE"]
--- error_code eval
[200, 429, 200, 429]
--- response_body_like eval
['^\[alice\] in$', '429', '^\[bob\] in$', '429']



=== TEST 13: a management location that demands the admin key
--- request eval
["GET /admin", "GET /admin", "GET /admin"]
--- more_headers eval
["", "x-api-key: $::ALICE", "x-api-key: $::ADMIN"]
--- error_code eval
[403, 403, 200]
--- response_body_like eval
['403', '403', '^admin in$']
--- no_error_log
[error]



=== TEST 14: the OpenAI door without a key: 401 in OpenAI's shape, with the challenge
--- request
POST /v1/chat/completions
{"model":"mistral:7b","messages":[{"role":"user","content":"hello"}]}
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="mesh"
--- response_body
{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}
--- no_error_log
[error]



=== TEST 15: /v1/models is behind the key too
--- more_headers
Authorization: Bearer alice-0123456789abcdeX
--- request
GET /v1/models
--- error_code: 401
--- response_body
{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}
--- no_error_log
[error]



=== TEST 16: the OpenAI door with a Bearer key: routed and served
--- init
main::one_node();
--- more_headers eval
"Authorization: Bearer $::ALICE"
--- request
POST /v1/chat/completions
{"model":"mistral:7b","messages":[{"role":"user","content":"hello"}]}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "object":"chat.completion",.*"finish_reason":"stop"
--- no_error_log
[error]



=== TEST 17: a key file that does not exist
--- http_config
    mesh_zone mesh 1m;
    mesh_api_keys /nonexistent/mesh-keys;
--- config
--- must_die
--- error_log
open() "/nonexistent/mesh-keys" failed



=== TEST 18: a key file without a key
--- http_config
    mesh_zone mesh 1m;
    mesh_api_keys $TEST_NGINX_KEYS_EMPTY;
--- config
--- must_die
--- error_log eval
qr/mesh api keys file "\S+empty" has no key/



=== TEST 19: a key that is too short
--- http_config
    mesh_zone mesh 1m;
    mesh_api_keys $TEST_NGINX_KEYS_SHORT;
--- config
--- must_die
--- error_log eval
qr/mesh api keys file "\S+short", line 1: a key is 16 to 256 characters/



=== TEST 20: a name with a space
--- http_config
    mesh_zone mesh 1m;
    mesh_api_keys $TEST_NGINX_KEYS_NAME;
--- config
--- must_die
--- error_log eval
qr/mesh api keys file "\S+badname", line 1: a name has only letters, digits/



=== TEST 21: the same key twice
--- http_config
    mesh_zone mesh 1m;
    mesh_api_keys $TEST_NGINX_KEYS_DUP;
--- config
--- must_die
--- error_log eval
qr/mesh api keys file "\S+dup", line 2: the same key or name as "a"/



=== TEST 22: the same name twice
--- http_config
    mesh_zone mesh 1m;
    mesh_api_keys $TEST_NGINX_KEYS_DUPNAME;
--- config
--- must_die
--- error_log eval
qr/mesh api keys file "\S+dupname", line 2: the same key or name as "a"/
