package Mesh::Nginx;

# An nginx the suite runs itself, beside the runner's (a second nginx on
# the same Redis, an nginx with a master for reloads, `nginx -t` on a
# configuration), built here from the environment alone: it needs none
# of the runner's internals, so it works the same under our
# t/lib/Test/Nginx and under the real Test::Nginx.
#
#   my ($code, $out) = Mesh::Nginx::config_test('', '',
#       'location / { mesh_pass bogus; }');
#   isnt $code, 0, 'rejected';
#   like $out, qr/invalid parameter "bogus"/, 'says why';
#
#   Mesh::Nginx::server_root($dir);             # conf/ logs/ html/, fresh
#   my $conf = Mesh::Nginx::conf(root => $dir, port => $port,
#                                http_config => ..., config => ...);
#
# (The real Test::Nginx way to test a rejected configuration,
# `--- must_die` with `--- error_log`, works too.)
#
# The configuration has the runner's shape: the load_module lines of
# TEST_NGINX_LOAD_MODULES, the error log at TEST_NGINX_LOG_LEVEL (debug)
# in logs/error.log, temp paths under the root, and one server on
# 127.0.0.1:port holding the config.

use strict;
use warnings;

use Cwd ();
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);

use Mesh::Proc ();

# the repository (conf/ holds the shipped configuration)
my $TOP = Cwd::abs_path(dirname(__FILE__) . '/../../..');

# The nginx binary the runner uses.
sub binary {
    return $ENV{TEST_NGINX_BINARY} || 'nginx';
}

# $TEST_NGINX_* in $text replaced by the environment's value; a variable
# that is not set dies naming it ($what: where the text comes from).
sub expand {
    my ($text, $what) = @_;
    return '' unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        defined $ENV{$1} ? $ENV{$1}
            : die(($what // 'nginx') . ": no environment $1 defined\n")
    }ge;
    return $text;
}

# Makes $root a server root: conf/, html/ and logs/ (logs/ emptied unless
# keep_logs), no temp or cache folders left from before.
sub server_root {
    my ($root, %o) = @_;
    my @old = (glob("$root/*_temp"), map { "$root/$_" } qw(conf html cache));
    push @old, "$root/logs" unless $o{keep_logs};
    remove_tree(grep { -e } @old);
    make_path(map { "$root/$_" } qw(conf html logs));
    return $root;
}

# nginx.conf text (the runner's own is this one too).  %o: root, port,
# addr (default 127.0.0.1), master (on|off, default off), main_config,
# http_config, config (inside server {}), post_main_config; and for the
# runner: modules (default TEST_NGINX_LOAD_MODULES), log_level, workers,
# worker_connections, env (lines), server_name, preamble (before
# config), server_tail (after it), more_servers (after the server).
# $TEST_NGINX_* are not expanded here (see expand).
sub conf {
    my (%o) = @_;
    my $root = $o{root};
    my $master = $o{master} // 'off';
    my $level = $o{log_level} || $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
    my $mods = join '', map { "load_module $_;\n" } grep { length }
        split ' ', $o{modules} // $ENV{TEST_NGINX_LOAD_MODULES} // '';
    my $user = $> == 0 ? "user root;\n" : '';
    my $http = $o{http_config} // '';
    my $temps = join '', map { "    ${_}_temp_path $root/${_}_temp;\n" }
        grep { $http !~ /\b${_}_temp_path\b/ }
        qw(client_body proxy fastcgi uwsgi scgi);
    my %t = map { $_ => $o{$_} // '' } qw(main_config config env preamble
        server_tail more_servers post_main_config);
    my $name = $o{server_name} // 'localhost';
    my $workers = $o{workers} // 1;
    my $conns = $o{worker_connections} // 64;
    my $addr = $o{addr} // '127.0.0.1';
    return <<"_EOC_";
worker_processes  $workers;
daemon off;
master_process $master;
error_log $root/logs/error.log $level;
pid       $root/logs/nginx.pid;
$user$t{env}$mods
$t{main_config}

http {
    access_log $root/logs/access.log;
$temps
    default_type text/plain;
    keepalive_timeout  68000ms;

$http
    server {
        listen          $addr:$o{port};
        server_name     '$name';
        client_max_body_size 30M;

        # Begin preamble config...
$t{preamble}
        # End preamble config...

        # Begin test case config...
$t{config}
        # End test case config.

$t{server_tail}    }
$t{more_servers}}

$t{post_main_config}

events {
    accept_mutex off;
    worker_connections  $conns;
}
_EOC_
}

# Writes conf(%o) to $o{root}/conf/nginx.conf; returns the file name.
sub write_conf {
    my (%o) = @_;
    my $file = "$o{root}/conf/nginx.conf";
    open my $out, '>', $file or die "cannot write $file: $!\n";
    print $out conf(%o);
    close $out or die "cannot write $file: $!\n";
    return $file;
}

# conf/nginx.conf and conf/mesh_proxy.conf as shipped, written into the
# prefix $o{root}/conf with what a test must change and nothing else:
# the module (default TEST_NGINX_LOAD_MODULES), the HTTP port (port), the
# gRPC port (grpc_port, default a free one: the shipped 50051 may be
# taken), Redis (redis_port) and, if given, worker_processes (workers).
# Dies when the shipped file no longer has a line to change.
sub shipped_conf {
    my (%o) = @_;
    my $grpc = $o{grpc_port} // Mesh::Proc::free_port();
    my $module = $o{module} // $ENV{TEST_NGINX_LOAD_MODULES};
    make_path("$o{root}/conf");
    for my $f (qw(nginx.conf mesh_proxy.conf)) {
        open my $in, '<', "$TOP/conf/$f" or die "conf/$f: $!\n";
        my $text = do { local $/; <$in> };
        if ($f eq 'nginx.conf') {
            $text =~ s{^load_module \S+;}{load_module $module;}m
                and $text =~ s{listen\s+8080;}{listen 127.0.0.1:$o{port};}
                and $text =~ s{listen\s+50051 http2;}
                              {listen 127.0.0.1:$grpc http2;}
                and $text =~ s{redis://127\.0\.0\.1:6379}
                              {redis://127.0.0.1:$o{redis_port}}
                or die "conf/nginx.conf: a line to change is gone\n";
            $text =~ s{worker_processes\s+\d+;}
                      {worker_processes $o{workers};}
                if defined $o{workers};
        }
        open my $out, '>', "$o{root}/conf/$f"
            or die "cannot write $o{root}/conf/$f: $!\n";
        print $out $text;
        close $out or die "cannot write $o{root}/conf/$f: $!\n";
    }
    return $grpc;
}

# The command line that runs nginx on server root $root (and its
# conf/nginx.conf), then @args (e.g. '-t', or '-s', 'reload').
sub command {
    my ($root, @args) = @_;
    return (binary(), '-p', "$root/", '-c', "$root/conf/nginx.conf",
            '-e', "$root/logs/error.log", @args);
}

# `nginx -t` on a configuration of this shape in a temporary prefix.
# Returns (exit code, stdout+stderr of nginx -t).
sub config_test {
    my ($main_config, $http_config, $server_config) = @_;
    my $dir = tempdir('mesh-conftest-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    server_root($dir);
    write_conf(root => $dir, port => Mesh::Proc::free_port(),
               main_config => $main_config, http_config => $http_config,
               config => $server_config);
    my $cmd = join ' ', map { "'$_'" } command($dir, '-t');
    my $output = `$cmd 2>&1`;
    return (Mesh::Proc::status_code($?), $output);
}

1;
