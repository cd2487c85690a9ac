# Harness self test: Mesh::Nginx::config_test runs `nginx -t` on a
# configuration built like the harness builds it, for suites that assert
# a configuration is rejected with a clear message.
use strict;
use warnings;

use Test::More;
use Mesh::Nginx;

BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }

my ($code, $out) = Mesh::Nginx::config_test('', '',
    'location = /t { return 200 "ok"; }');
is $code, 0, 'a good configuration passes' or diag($out);
like $out, qr/test is successful/, 'nginx says so';

($code, $out) = Mesh::Nginx::config_test('', '',
    'location = /t { mesh_no_such_directive 1; }');
isnt $code, 0, 'an unknown directive is rejected';
like $out, qr/\[emerg\].*unknown directive "mesh_no_such_directive"/,
    'with the [emerg] message';

($code, $out) = Mesh::Nginx::config_test('', 'upstream u { }', '');
isnt $code, 0, 'an empty upstream in http_config is rejected';
like $out, qr/no servers are inside upstream/, 'with the reason';

($code, $out) = Mesh::Nginx::config_test('timer_resolution fast;', '', '');
isnt $code, 0, 'a bad main_config value is rejected';
like $out, qr/"timer_resolution" directive invalid value/, 'with the reason';

{
    local $ENV{TEST_NGINX_LOAD_MODULES} = '/nonexistent/ngx_x_module.so';
    ($code, $out) = Mesh::Nginx::config_test('', '', '');
    isnt $code, 0, 'TEST_NGINX_LOAD_MODULES is used: missing module fails';
    like $out, qr{dlopen\(\) "/nonexistent/ngx_x_module\.so" failed},
        'naming the module file';
}

done_testing();
