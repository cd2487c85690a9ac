# Harness self test: faults of nginx itself fail the block even when
# every response is right: an [alert] in error.log, a crashed worker, an
# nginx that dies, a configuration nginx refuses, a module it can't load.
use strict;
use warnings;

use Test::More;
use Mesh::Fixture;

sub fails_with {
    my ($fixture, $test_re, $diag_re, $what, %env) = @_;
    my $r = Mesh::Fixture::run("t/fixtures/$fixture", %env);
    my $ok = isnt($r->{code}, 0, "$what: run fails")
        & ok((grep { $_ =~ $test_re } @{ $r->{not_ok} }),
             "$what: failing test named")
        & like($r->{err}, $diag_re, "$what: diag says why");
    diag(Mesh::Fixture::show($r)) unless $ok;
    return $r;
}

fails_with('fail-alert.tt', qr/nginx health after the block/,
           qr/\[alert\].*setrlimit/, '[alert] in error.log');

fails_with('fail-crash.tt', qr/nginx health after the block/,
           qr/worker crashed:.*exited on signal 9/, 'worker crash');

fails_with('fail-death.tt', qr/nginx health after the block/,
           qr/nginx died on signal 9/, 'nginx death');

my $r = fails_with('fail-config.tt',
           qr/TEST 1: unknown directive - nginx is not running/,
           qr/\[emerg\].*unknown directive "no_such_directive_here"/,
           'bad configuration');
is $r->{count}, $r->{plan}, 'bad configuration: the plan still holds';
is scalar @{ $r->{not_ok} }, 1, 'bad configuration: later blocks pass';

fails_with('fail-config.tt', qr/TEST 2: .* - nginx is not running/,
           qr/\/nonexistent\/ngx_missing_module\.so/,
           'TEST_NGINX_LOAD_MODULES names a missing module',
           TEST_NGINX_LOAD_MODULES => '/nonexistent/ngx_missing_module.so');

done_testing();
