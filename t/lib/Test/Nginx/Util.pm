package Test::Nginx::Util;

# Settings, paths and nginx.conf generation for our Test::Nginx subset.
# The public names and their defaults follow the real Test::Nginx so that
# suites run unchanged on both.  See t/README.md.

use strict;
use warnings;

use Carp qw(croak);
use Exporter 'import';
use File::Basename qw(basename);
use File::Path qw(make_path);
use File::Spec;

use Mesh::Nginx ();
use Mesh::Proc ();

our @EXPORT = qw(
    repeat_each workers worker_connections log_level master_on master_off
    master_process_enabled no_shuffle no_root_location no_long_string
    env_to_nginx config_preamble timeout server_name server_addr
    server_root html_dir server_port server_port_for_client use_hup
    no_nginx_manager check_accum_error_log add_block_preprocessor
    add_cleanup_handler add_test_cleanup_handler is_str bail_out
    expand_env_in_text parse_time parse_headers trim
    $ServerPort $ServerPortForClient $ServRoot $ServerAddr $ServerName
    $NoLongString $RepeatEach $PidFile $ConfFile
);

our $RepeatEach        = 1;
our $Workers           = 1;
our $WorkerConnections = 64;
our $LogLevel          = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $NoRootLocation    = 0;
our $NoShuffle         = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoLongString;
our $NoNginxManager    = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $CheckAccumErrLog  = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $Timeout           = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $ServerAddr        = '127.0.0.1';
our $ServerName        = 'localhost';
our $NginxBinary       = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LoadModules       = $ENV{TEST_NGINX_LOAD_MODULES};
our $UseValgrind       = $ENV{TEST_NGINX_USE_VALGRIND};
our $UseHup            = $ENV{TEST_NGINX_USE_HUP};
our $NoClean           = $ENV{TEST_NGINX_NO_CLEAN};
our $ConfigPreamble    = '';
our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our @TestCleanupHandlers;

if ($UseValgrind && $UseHup) {
    warn "TEST_NGINX_USE_VALGRIND and TEST_NGINX_USE_HUP are both set: "
        . "valgrind wins (one nginx per block)\n";
    undef $UseHup;
}

# One free port per test file unless the caller fixed one.
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
    || Mesh::Proc::free_port();
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;

# One server root per test file, so `prove -j` can run files side by side.
our $ServRoot = $ENV{TEST_NGINX_SERVROOT};
if (!$ServRoot) {
    (my $base = basename($0)) =~ s/\.\w+$//;
    $ServRoot = File::Spec->rel2abs("t/servroot-$base");
}
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = File::Spec->catdir($ServRoot, 'logs');
our $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
our $HtmlDir    = File::Spec->catdir($ServRoot, 'html');
our $ConfDir    = File::Spec->catdir($ServRoot, 'conf');
our $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
our $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');

sub _setter {
    my ($ref, @args) = @_;
    $$ref = shift @args if @args;
    return $$ref;
}

sub repeat_each            { _setter(\$RepeatEach, @_) }
sub workers                { _setter(\$Workers, @_) }
sub worker_connections     { _setter(\$WorkerConnections, @_) }
sub log_level              { _setter(\$LogLevel, @_) }
sub timeout                { _setter(\$Timeout, @_) }
sub server_name            { _setter(\$ServerName, @_) }
sub server_addr            { _setter(\$ServerAddr, @_) }
sub server_port_for_client { _setter(\$ServerPortForClient, @_) }
sub master_on              { $MasterProcessEnabled = 'on' }
sub master_off             { $MasterProcessEnabled = 'off' }
sub no_shuffle             { $NoShuffle = 1 }
sub no_root_location       { $NoRootLocation = 1 }
sub no_long_string         { $NoLongString = 1 }
sub no_nginx_manager       { $NoNginxManager = 1 }
sub use_hup                { $UseHup = 1 unless $UseValgrind }
sub check_accum_error_log  { $CheckAccumErrLog = 1 }
sub config_preamble        { $ConfigPreamble = shift }
sub server_root            { $ServRoot }
sub html_dir               { $HtmlDir }

sub server_port {
    if (@_) {
        $ServerPort = shift;
        $ServerPortForClient = $ServerPort;
        $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
    }
    return $ServerPort;
}

sub master_process_enabled {
    $MasterProcessEnabled = $_[0] ? 'on' : 'off' if @_;
    return $MasterProcessEnabled;
}

sub env_to_nginx {
    croak 'env_to_nginx: no arguments specified' unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub add_block_preprocessor(&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler       { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler  { unshift @TestCleanupHandlers, shift }

sub is_str {
    my ($got, $expected, $desc) = @_;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    return Test::More::is($got, $expected, $desc);
}

sub bail_out {
    Test::More::BAIL_OUT(join '', @_);
}

sub parse_time {
    my ($tm) = @_;
    return undef unless defined $tm;
    return $1 / 1000 if $tm =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $tm =~ /^\s*([\d.]+)\s*s?\s*$/;
    return $tm;
}

sub trim {
    my ($s) = @_;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\s+/ /g;
    return $s;
}

# "Name: value" lines to [name, value] pairs; "!Name" gives [name, undef]
# (the header must be absent).  Order is kept.
sub parse_headers {
    my ($text) = @_;
    my @pairs;
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            push @pairs, [$line, undef];
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            push @pairs, [$k, $v // ''];
        }
    }
    return \@pairs;
}

# Replaces $TEST_NGINX_* with the environment's value; the special
# $TEST_NGINX_RAND_PORT_N gets a free port, the same one within a block.
sub expand_env_in_text {
    my ($text, $name, $rand_ports) = @_;
    return $text unless defined $text && !ref $text;
    $rand_ports ||= {};
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $rand_ports->{$var} ||= Mesh::Proc::free_port();
        } elsif (defined $ENV{$var}) {
            $ENV{$var};
        } else {
            bail_out("$name - No environment $var defined.");
        }
    }ge;
    return $text;
}

# The whole nginx.conf for a test server (Mesh::Nginx's skeleton, which
# the suites' own nginx use too).  %p: config, http_config, main_config,
# post_main_config, server_name, log_level, version (HUP mode's check
# server), servroot, port, master (on|off).
sub render_conf {
    my (%p) = @_;
    my $root   = $p{servroot} || $ServRoot;
    my $port   = $p{port} || $ServerPort;
    my $master = $p{master} || $MasterProcessEnabled;
    my $level  = $p{log_level} || $LogLevel;
    my $sname  = $p{server_name} // $ServerName;
    my $env    = join '', map { "env $_;\n" } @EnvToNginx;
    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $root/html;
            index index.html index.htm;
        }
_EOC_
    my $ver_server = !defined $p{version} ? '' : <<"_EOC_";
    server {
        listen          $ServerAddr:$port;
        server_name     'Test-Nginx';
        location = /ver {
            return 200 '$p{version}';
        }
    }
_EOC_
    return Mesh::Nginx::conf(
        root => $root, addr => $ServerAddr, port => $port,
        master => $master,
        log_level => $level, server_name => $sname, env => $env,
        modules => $LoadModules // '', workers => $Workers,
        worker_connections => $WorkerConnections,
        main_config => $p{main_config}, http_config => $p{http_config},
        post_main_config => $p{post_main_config},
        preamble => $ConfigPreamble, config => $p{config},
        server_tail => $root_location, more_servers => $ver_server);
}

# Makes a fresh server root.  keep_logs: HUP mode keeps error.log, which
# the running nginx still writes to.
sub setup_server_root {
    my (%o) = @_;
    my $root = $o{servroot} || $ServRoot;
    Mesh::Nginx::server_root($root, keep_logs => $o{keep_logs});
    open my $out, '>', "$root/html/index.html"
        or bail_out("Can't write $root/html/index.html: $!");
    print $out '<html><head><title>It works!</title></head>'
        . '<body>It works!</body></html>';
    close $out;
}

# --- user_files: ">>> name [mtime]" then the content, or an eval'd array
# of [name, content, mtime] entries.  Relative names go into html/.
sub write_user_files {
    my ($block, $rand_ports) = @_;
    my $files = $block->user_files or return;
    my $name = $block->name;
    if (!ref $files) {
        my @list;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, '', $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    }
    bail_out("$name - user_files must be text or an ARRAY")
        unless ref $files eq 'ARRAY';
    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        make_path($1) if $path =~ m{(.*)/} && !-d $1;
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!");
        binmode $out;
        print $out expand_env_in_text($body // '', $name, $rand_ports);
        close $out;
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - touch -t $date $path failed");
        }
    }
}

1;
