# Harness self test: the less common sections, each with real values.
use strict;
use warnings;

BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }    # stock nginx only

use Test::Nginx::Socket;

repeat_each(2);
plan tests => repeat_each() * 29;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: several requests, each on its own connection
--- config
    location = /a {
        return 200 "A $connection_requests\n";
    }
    location = /b {
        return 201 "B $connection_requests\n";
    }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 201]
--- response_body eval
["A 1\n", "B 1\n"]
--- no_error_log
[error]


=== TEST 2: pipelined requests share one connection (config of TEST 1)
--- pipelined_requests eval
["GET /a", "GET /b"]
--- error_code eval
[200, 201]
--- response_body eval
["A 1\n", "B 2\n"]


=== TEST 3: a request body gets its Content-Length
--- config
    location = /p {
        return 200 "len=$content_length type=$content_type\n";
    }
--- more_headers
# a comment line is skipped
Content-Type: text/x-mesh
--- request
POST /p
hello world
--- response_body
len=11 type=text/x-mesh


=== TEST 4: user_files land in html/
--- user_files
>>> sub/hello.txt
static hello
--- config
    location = /unused {
        return 404;
    }
--- request
GET /sub/hello.txt
--- response_body
static hello


=== TEST 5: the _like sections
--- config
    location = /like {
        return 202 "x";
    }
--- request
GET /like
--- error_code_like: ^2\d\d$
--- raw_response_headers_like: Content-Length: 1\r\n
--- response_headers_like
Content-Type: text/pl.*


=== TEST 6: no config section reuses the previous one
--- request
GET /like
--- error_code: 202
--- response_body: x


=== TEST 7: grep_error_log and access_log
--- config
    location = /t {
        return 200 "x\n";
    }
--- request
GET /t?grepme=1
--- grep_error_log eval
qr/http args: "[^"]*"/
--- grep_error_log_out
http args: "grepme=1"
--- access_log
GET /t?grepme=1
--- wait: 0.05


=== TEST 8: skip_eval skips the block's tests
--- config
    location = /t {
        return 500;
    }
--- request
GET /t
--- response_body
never checked
--- skip_eval: 2: 1


=== TEST 9: a configuration that must be rejected
--- config
    location = /t {
        bogus_directive;
    }
--- must_die
--- error_log
unknown directive "bogus_directive"


=== TEST 10: timeout with abort is not a failure
--- config
    location = /t {
        return 200;
    }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n"
--- timeout: 200ms
--- abort
--- ignore_response
--- no_error_log
[error]


=== TEST 11: http_config server on $TEST_NGINX_RAND_PORT_1
--- main_config
worker_shutdown_timeout 2s;
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "second server\n";
        }
    }
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- request
GET /t
--- response_body
second server


=== TEST 12: a skipped block does not count
--- SKIP
--- config
    location = /skipped {
        return 501 "skipped";
    }
--- request
GET /skipped
--- error_code: 200
