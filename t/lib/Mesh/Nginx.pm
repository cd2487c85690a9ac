package Mesh::Nginx;

# config_test: runs `nginx -t` on a configuration built exactly like the
# test harness builds it (same load_module lines from
# TEST_NGINX_LOAD_MODULES, same http/server skeleton), for suites that
# assert a bad directive is rejected with a clear message:
#
#   my ($code, $out) = Mesh::Nginx::config_test('', '',
#       'location / { mesh_pass bogus; }');
#   isnt $code, 0, 'rejected';
#   like $out, qr/invalid parameter "bogus"/, 'says why';
#
# (The real Test::Nginx way, `--- must_die` with `--- error_log`, works
# too.)

use strict;
use warnings;

use File::Temp qw(tempdir);

use Mesh::Proc ();
use Test::Nginx::Util ();

# Returns (exit code, stdout+stderr of nginx -t).
sub config_test {
    my ($main_config, $http_config, $server_config) = @_;
    my $dir = tempdir('mesh-conftest-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    Test::Nginx::Util::setup_server_root(servroot => $dir);
    my $conf = Test::Nginx::Util::render_conf(
        servroot    => $dir,
        port        => Mesh::Proc::free_port(),
        main_config => $main_config,
        http_config => $http_config,
        config      => $server_config,
    );
    my $file = "$dir/conf/nginx.conf";
    open my $out, '>', $file or die "cannot write $file: $!\n";
    print $out $conf;
    close $out;
    my $cmd = join ' ', map { "'$_'" } $Test::Nginx::Util::NginxBinary,
        '-t', '-p', "$dir/", '-c', $file, '-e', "$dir/logs/error.log";
    my $output = `$cmd 2>&1`;
    return (Mesh::Proc::status_code($?), $output);
}

1;
