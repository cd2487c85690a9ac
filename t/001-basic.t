# Harness self test: the common sections against stock nginx.
use strict;
use warnings;

BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }    # stock nginx only

use Test::Nginx::Socket;

$ENV{TEST_NGINX_GREETING} = 'howdy';

repeat_each(2);
plan tests => repeat_each() * (3 * blocks() + 3) + 2;

is server_port(), $ENV{TEST_NGINX_SERVER_PORT}, 'server_port()';
is html_dir(), "$Test::Nginx::Socket::ServRoot/html", 'html_dir()';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: return 200 with a body
--- config
    location = /t {
        return 200 "hello";
    }
--- request
GET /t
--- response_body chomp
hello
--- no_error_log
[error]


=== TEST 2: response headers, present and absent
--- config
    location = /h {
        add_header X-Mesh-Test yes;
        return 200 "h\n";
    }
--- request
GET /h
--- response_headers
X-Mesh-Test: yes
Content-Type: text/plain
!X-Not-There
--- response_body
h


=== TEST 3: more_headers reach nginx ($http_x_foo)
--- config
    location = /echo {
        return 200 "foo=$http_x_foo\n";
    }
--- more_headers
X-Foo: bar baz
--- request
GET /echo
--- response_body
foo=bar baz
--- no_error_log
[error]


=== TEST 4: response_body_like
--- config
    location = /like {
        return 200 "the answer is 42\n";
    }
--- request
GET /like
--- response_body_like: ^the answer is \d+$
--- no_error_log
[error]


=== TEST 5: raw_request
--- config
    location = /raw {
        return 200 "raw $request_method $server_protocol\n";
    }
--- raw_request eval
"GET /raw HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body
raw GET HTTP/1.0
--- no_error_log
[error]


=== TEST 6: error_code 404 and the error_log line nginx writes
--- config
    location = /exists {
        return 200;
    }
--- request
GET /no-such-file
--- error_code: 404
--- response_body_like: 404 Not Found
--- error_log
open()
--- no_error_log
[alert]


=== TEST 7: block log_level
--- log_level: warn
--- config
    location = /quiet {
        return 200 "quiet\n";
    }
--- request
GET /quiet
--- response_body
quiet
--- no_error_log
[debug]


=== TEST 8: $TEST_NGINX_* in config and in the expected body
--- config
    location = /env {
        return 200 "$TEST_NGINX_GREETING on $TEST_NGINX_SERVER_PORT\n";
    }
--- request
GET /env
--- response_body
$TEST_NGINX_GREETING on $TEST_NGINX_SERVER_PORT
--- no_error_log
[error]
