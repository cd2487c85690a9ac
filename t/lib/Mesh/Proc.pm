package Mesh::Proc;

# Runs real processes (redis-server, ollama-sim, echo-agent, ...) for test
# suites: each on a free loopback port, in its own process group, with its
# stdout+stderr in a log file, stopped in an END block even when the test
# dies or is interrupted.  See t/README.md for the API.

use strict;
use warnings;

use Carp qw(croak);
use Config;
use Cwd ();
use File::Basename qw(basename dirname);
use File::Path qw(make_path remove_tree);
use File::Spec;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

use Mesh::Valgrind;

my $CREATOR = $$;    # END and signal handlers act only in this process
my @LIVE;            # every started, not yet reaped process object
my %PORT_GIVEN;      # ports handed out by free_port() in this process
my %NAME_USED;       # log names used in this process

my $LIB_DIR = dirname(dirname(File::Spec->rel2abs(__FILE__)));

sub build_dir {
    return $ENV{MESH_BUILD}
        || File::Spec->rel2abs(File::Spec->catdir($LIB_DIR, '..', '..',
                                                  'build'));
}

sub bin {
    my ($name) = @_;
    return File::Spec->catfile(build_dir(), 'bin', $name);
}

# Where process logs go: per test file, so `prove -j` runs don't mix.
sub log_dir {
    my $dir;
    if ($ENV{TEST_NGINX_SERVROOT}) {
        $dir = File::Spec->catdir($ENV{TEST_NGINX_SERVROOT}, 'procs');
    } else {
        (my $base = basename($0)) =~ s/\.\w+$//;
        $base =~ s/^-+/perl-/;    # perl -e
        $dir = File::Spec->rel2abs(
            File::Spec->catdir('t', 'servroot-procs', $base));
    }
    make_path($dir) unless -d $dir;
    return $dir;
}

# Ports below the kernel's ephemeral range (32768+) so that outgoing
# connections never take the port between our check and the server's bind.
sub free_port {
    for (1 .. 200) {
        my $port = 10000 + int(rand(22000));
        next if $PORT_GIVEN{$port};
        my $sock = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => $port,
            Proto     => 'tcp',
            Listen    => 1,
        ) or next;
        close $sock;
        $PORT_GIVEN{$port} = 1;
        return $port;
    }
    croak "free_port: no free TCP port found on 127.0.0.1";
}

# True when something listens on TCP $port (read from /proc, so no
# connection is made and nothing is logged by the server).
sub port_listening {
    my ($port) = @_;
    my $hex = sprintf '%04X', $port;
    for my $table ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $table or next;
        while (my $line = <$in>) {
            my @f = split ' ', $line;
            next unless @f > 3;
            return 1 if $f[1] =~ /:$hex$/ && $f[3] eq '0A';
        }
    }
    return 0;
}

# Polls $check every 50 ms until it is true or $limit s (default 30, a
# deadline that only catches a hang) have passed; returns its last value.
sub wait_for {
    my ($check, $limit) = @_;
    my $deadline = time + ($limit // 30);
    while (1) {
        my $v = $check->();
        return $v if $v || time >= $deadline;
        sleep 0.05;
    }
}

sub port_accepts {
    my ($port) = @_;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => 1,
    ) or return 0;
    close $sock;
    return 1;
}

# Asks the kernel to send SIGTERM to the child if this test process dies
# (even by SIGKILL), so nothing outlives a killed test run.
sub _set_parent_death_signal {
    my %prctl = ('x86_64' => 157, 'aarch64' => 167);
    my ($arch) = $Config{archname} =~ /^([^-]+)/;
    my $nr = $prctl{$arch} or return;
    syscall($nr, 1, 15, 0, 0, 0);    # PR_SET_PDEATHSIG, SIGTERM
}

# Forks and execs @$cmd in a new process group with stdin from /dev/null
# and stdout+stderr appended to $log.  Returns the pid.
sub spawn {
    my (%o) = @_;
    my $cmd = $o{cmd} or croak 'spawn: cmd is required';
    my $parent = $$;
    my $pid = fork();
    croak "fork failed: $!" unless defined $pid;
    if ($pid == 0) {
        setpgrp(0, 0);
        if (!$o{survive_parent}) {
            _set_parent_death_signal();
            POSIX::_exit(1) if getppid() != $parent;    # it died already
        }
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP PIPE);
        open STDIN, '<', '/dev/null';
        if (open my $log, '>>', $o{log}) {
            open STDOUT, '>&', $log;
            open STDERR, '>&', $log;
        }
        my $env = $o{env} || {};
        @ENV{keys %$env} = values %$env;
        { no warnings "exec"; exec { $cmd->[0] } @$cmd; }
        print STDERR "exec $cmd->[0] failed: $!\n";
        POSIX::_exit(127);
    }
    setpgrp($pid, $pid);    # also here: no race with a signal to the group
    return $pid;
}

# Turns a wait status into a shell-style code: exit code or 128 + signal.
sub status_code {
    my ($status) = @_;
    return undef unless defined $status;
    return 128 + ($status & 127) if $status & 127;
    return $status >> 8;
}

sub _unique_log_name {
    my ($name) = @_;
    my $n = ++$NAME_USED{$name};
    return $n == 1 ? $name : "$name-$n";
}

sub _own_binary {
    my ($path) = @_;
    my $bin_dir = File::Spec->catdir(build_dir(), 'bin');
    return index(File::Spec->rel2abs($path), $bin_dir) == 0;
}

sub _which {
    my ($prog) = @_;
    return $prog if $prog =~ m{/};
    my ($path) = grep { -x } map { "$_/$prog" } split /:/, $ENV{PATH} // '';
    return $path // $prog;
}

sub start {
    my ($class, %o) = @_;
    my $cmd = $o{cmd} or croak 'Mesh::Proc->start: cmd is required';
    $cmd = [_which($cmd->[0]), @$cmd[1 .. $#$cmd]];
    croak "Mesh::Proc->start: $cmd->[0] is not executable"
        unless -x $cmd->[0];

    my $name = _unique_log_name($o{name} || basename($cmd->[0]));
    my $dir  = log_dir();
    my $self = bless {
        name     => $name,
        port     => $o{port},
        log_path => File::Spec->catfile($dir, "$name.log"),
        valgrind => $o{valgrind}
            // ($ENV{MESH_VALGRIND} && _own_binary($cmd->[0]) ? 1 : 0),
    }, $class;

    unlink $self->{log_path};
    my @argv = @$cmd;
    if ($self->{valgrind}) {
        $self->{vg_log} = File::Spec->catfile($dir, "$name.valgrind.log");
        unlink $self->{vg_log};
        @argv = (Mesh::Valgrind::command($self->{vg_log}), @argv);
    }
    # a launcher (nsenter ...) runs the command, valgrind and all
    unshift @argv, @{ $o{prefix} } if $o{prefix};
    $self->{cmd} = \@argv;
    $self->{pid} = spawn(cmd => \@argv, log => $self->{log_path},
                         env => $o{env});
    push @LIVE, $self;

    my $limit = $o{timeout} || ($self->{valgrind} ? 60 : 10);
    my $ready = $o{ready};
    if (defined $o{port} || $ready) {
        $self->_wait_ready($limit, sub {
            return 0 if defined $o{port} && !port_accepts($o{port});
            return 0 if $ready && !$ready->($self);
            return 1;
        });
    }
    return $self;
}

sub _wait_ready {
    my ($self, $limit, $check) = @_;
    my $deadline = time + $limit;
    while (time < $deadline) {
        if (defined $self->_reap) {
            my $code = status_code($self->{status});
            croak "$self->{name} exited early (status $code): "
                . $self->_log_tail;
        }
        return if $check->();
        sleep 0.05;
    }
    $self->kill;
    croak "$self->{name} was not ready within $limit s: " . $self->_log_tail;
}

sub _log_tail {
    my ($self) = @_;
    my @lines = split /\n/, $self->log_text;
    splice @lines, 0, @lines - 20 if @lines > 20;
    return @lines ? join("\n", '', @lines) : '(empty log)';
}

sub pid      { $_[0]{pid} }
sub port     { $_[0]{port} }
sub name     { $_[0]{name} }
sub log_path { $_[0]{log_path} }

sub log_text {
    my ($self) = @_;
    open my $in, '<', $self->{log_path} or return '';
    local $/;
    my $text = <$in>;
    return defined $text ? $text : '';
}

# Reaps the process if it has exited; returns its wait status or undef.
sub _reap {
    my ($self) = @_;
    return $self->{status} if defined $self->{status};
    my $r = waitpid($self->{pid}, WNOHANG);
    if ($r == $self->{pid}) {
        $self->{status} = $?;
    } elsif ($r == -1) {
        $self->{status} = -1 << 8;    # not our child any more
    }
    if (defined $self->{status}) {
        @LIVE = grep { $_ != $self } @LIVE;
    }
    return $self->{status};
}

sub alive {
    my ($self) = @_;
    return !defined $self->_reap;
}

sub signal {
    my ($self, $sig) = @_;
    return 0 unless $self->alive;
    return CORE::kill $sig, $self->{pid};
}

sub kill {
    my ($self) = @_;
    CORE::kill 'KILL', -$self->{pid};
    return $self->wait_exit(5);
}

sub wait_exit {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        return status_code($self->{status}) if defined $self->_reap;
        return undef if time >= $deadline;
        sleep 0.02;
    }
}

# TERM to the whole group, then KILL after a grace period.  Returns true
# when the process ended cleanly: false (with a diag) when it had crashed
# on a signal we did not send, or when valgrind found memory errors.
sub stop {
    my ($self) = @_;
    my $crashed;
    if (defined $self->_reap) {
        my $sig = $self->{status} & 127;
        $crashed = $sig if $sig && !$self->{sent_signal};
    } else {
        $self->{sent_signal} = 1;
        CORE::kill 'TERM', -$self->{pid};
        my $grace = $self->{valgrind} ? 30 : 5;
        if (!defined $self->wait_exit($grace)) {
            CORE::kill 'KILL', -$self->{pid};
            $self->wait_exit(5);
        }
    }
    CORE::kill 'KILL', -$self->{pid};    # leftover children of the group
    return $self->_verdict($crashed);
}

sub _verdict {
    my ($self, $crashed) = @_;
    my $ok = 1;
    if ($crashed) {
        _diag("$self->{name} had died on signal $crashed:"
              . $self->_log_tail);
        $ok = 0;
    }
    if ($self->{valgrind} && !$self->{vg_checked}) {
        $self->{vg_checked} = 1;
        my @errors = Mesh::Valgrind::problems($self->{vg_log}, qr/./);
        if (@errors) {
            _diag("valgrind found problems in $self->{name} "
                  . "($self->{vg_log}):\n" . join("\n", @errors));
            $ok = 0;
        }
    }
    return $ok;
}

sub _diag {
    my ($msg) = @_;
    require Test::More;
    Test::More::diag($msg);
}

# A small GET for readiness checks: returns (status code, body) or ().
sub http_get {
    my ($port, $path, $host) = @_;
    $host //= '127.0.0.1';
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => 2,
    ) or return;
    print $sock "GET $path HTTP/1.1\r\nHost: $host\r\n"
        . "Connection: close\r\n\r\n";
    my $resp = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    eval {
        alarm 2;
        while (sysread($sock, my $buf, 4096)) { $resp .= $buf }
        alarm 0;
    };
    alarm 0;
    close $sock;
    my ($code) = $resp =~ m{^HTTP/\d\.\d (\d{3})};
    my ($body) = $resp =~ /\r\n\r\n(.*)\z/s;
    return ($code, $body);
}

sub start_redis {
    my (@extra) = @_;
    my $redis = '/usr/bin/redis-server';
    croak 'start_redis: redis-server is not installed' unless -x $redis;
    my $port = free_port();
    my $dir  = File::Spec->catdir(log_dir(), "redis-$port");
    make_path($dir);
    my $p = Mesh::Proc->start(
        name     => 'redis',
        cmd      => [$redis, '--bind', '127.0.0.1', '--port', $port,
                     '--save', '', '--appendonly', 'no', '--dir', $dir,
                     '--daemonize', 'no', @extra],
        port     => $port,
        valgrind => 0,
    );
    $p->{dir} = $dir;
    return $p;
}

sub start_sim {
    my (@extra) = @_;
    my $sim = bin('ollama-sim');
    croak "start_sim: $sim is missing (run make build)" unless -x $sim;
    my $port = free_port();
    return Mesh::Proc->start(
        name  => 'ollama-sim',
        cmd   => [$sim, '--listen', "127.0.0.1:$port", @extra],
        port  => $port,
        ready => sub {
            my ($code) = http_get($port, '/api/version');
            return defined $code && $code eq '200';
        },
    );
}

sub stop_all {
    my $ok = 1;
    my @procs = reverse @LIVE;    # stop() edits @LIVE
    for my $p (@procs) {
        $p->stop or $ok = 0;
    }
    return $ok;
}

# Interrupts run END blocks: exit instead of dying on the signal.
sub exit_on_signals {
    for my $sig (qw(INT TERM)) {
        next if ref $SIG{$sig} || ($SIG{$sig} // '') eq 'IGNORE';
        $SIG{$sig} = sub {
            exit 128 + ($sig eq 'INT' ? 2 : 15) if $$ == $CREATOR;
            POSIX::_exit(1);
        };
    }
}

exit_on_signals();

sub _cleanup_logs_if_passing {
    return if $ENV{TEST_NGINX_NO_CLEAN} || $ENV{TEST_NGINX_SERVROOT};
    return unless $INC{'Test/Builder.pm'};
    my $tb = Test::Builder->new;
    return unless $tb->is_passing && $tb->current_test > 0;
    my $dir = log_dir();
    remove_tree($dir);
    rmdir dirname($dir);    # only when empty
}

END {
    if ($$ == $CREATOR) {
        local $?;
        stop_all();
        _cleanup_logs_if_passing();
    }
}

1;
