package Test::Nginx::Server;

# The nginx under test: start (plain or under valgrind), reload by HUP,
# stop, and what its logs say.  nginx always runs in the foreground
# ("daemon off") as our child, in its own process group, so that we see
# its exit status and nothing outlives the test unless NO_CLEAN is set.

use strict;
use warnings;

use File::Spec;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

use Mesh::Proc ();
use Mesh::Valgrind ();
use Test::Nginx::Util qw($ServerPort $ServerAddr);

my $CREATOR = $$;
my $Pid;            # the running nginx (master or single process)
my $Status;         # its wait status once reaped
my $Signalled;      # we sent it a stopping signal
my $Reported;       # its unexpected exit was already reported
my $ReadPos   = 0;  # error.log offset for --- error_log checks
my $HealthPos = 0;  # error.log offset for alert/crit/emerg checks

sub err_log    { $Test::Nginx::Util::ErrLogFile }
sub valgrind   { $Test::Nginx::Util::UseValgrind }
sub stderr_log { File::Spec->catfile($Test::Nginx::Util::LogDir,
                                     'stderr.log') }
sub vg_log     { File::Spec->catfile($Test::Nginx::Util::LogDir,
                                     'valgrind.log') }

sub _reap {
    return $Status if defined $Status || !defined $Pid;
    my $r = waitpid($Pid, WNOHANG);
    $Status = $? if $r == $Pid;
    $Status = 0 if $r == -1;
    return $Status;
}

sub running {
    return defined $Pid && !defined _reap();
}

sub _log_size { my $s = -s err_log(); return $s // 0 }

# Error log lines from byte offset $$pos on; advances $$pos.
sub _lines_from {
    my ($pos) = @_;
    open my $in, '<', err_log() or return [];
    $$pos = 0 if $$pos > (-s $in);
    seek $in, $$pos, 0;
    my @lines = <$in>;
    $$pos = tell $in;
    return \@lines;
}

# Lines logged since the last call (or since the block began); with
# check_accum_error_log, the whole log.
sub new_log_lines {
    if ($Test::Nginx::Util::CheckAccumErrLog) {
        my $zero = 0;
        return _lines_from(\$zero);
    }
    return _lines_from(\$ReadPos);
}

# A reader of the lines logged after those the checks last read, each
# call giving the new ones; the checks' own position is not moved.
sub log_watcher {
    my $pos = $ReadPos;
    return sub { _lines_from(\$pos) };
}

sub block_begins {
    $ReadPos = _log_size();
}

# [alert]/[crit]/[emerg] lines and worker crashes since the last health
# check, and an nginx that died on its own.  %$allowed: levels the block
# expects (from its error_log).
sub health_problems {
    my ($allowed) = @_;
    $allowed ||= {};
    my @problems;
    for my $line (@{ _lines_from(\$HealthPos) }) {
        chomp $line;
        if ($line =~ /exited on signal/) {
            push @problems, "worker crashed: $line" unless $allowed->{crash};
        } elsif ($line =~ /\[(alert|crit|emerg)\]/ && !$allowed->{$1}) {
            push @problems, "error.log has $1: $line";
        }
    }
    if (defined $Pid && defined _reap() && !$Signalled && !$Reported) {
        $Reported = 1;
        push @problems, _exit_text();
    }
    return @problems;
}

sub _exit_text {
    my $sig = $Status & 127;
    return $sig ? "nginx died on signal $sig"
                : 'nginx exited with status ' . ($Status >> 8);
}

sub _emerg_text {
    my $zero  = 0;
    my @lines = grep { /\[emerg\]|\[alert\]/ } @{ _lines_from(\$zero) };
    if (!@lines && open my $in, '<', stderr_log()) {
        @lines = <$in>;
    }
    splice @lines, 0, @lines - 10 if @lines > 10;
    return join '', @lines;
}

sub _write_conf {
    my ($text) = @_;
    my $file = $Test::Nginx::Util::ConfFile;
    open my $out, '>', $file or return "cannot write $file: $!";
    print $out $text;
    close $out;
    return '';
}

sub _spawn {
    my @cmd = ($Test::Nginx::Util::NginxBinary,
               '-p', "$Test::Nginx::Util::ServRoot/",
               '-c', $Test::Nginx::Util::ConfFile, '-e', err_log());
    unshift @cmd, Mesh::Valgrind::command(vg_log()) if valgrind();
    undef $Status;
    undef $Signalled;
    undef $Reported;
    $Pid = Mesh::Proc::spawn(
        cmd            => \@cmd,
        log            => stderr_log(),
        survive_parent => $Test::Nginx::Util::NoClean && !valgrind(),
    );
}

sub _pid_file_is {
    my ($pid) = @_;
    open my $in, '<', $Test::Nginx::Util::PidFile or return 0;
    my $got = <$in> // '';
    chomp $got;
    return $got eq $pid;
}

# Starts nginx with config text $conf in a freshly set up server root
# (the caller wrote user files).  Returns '' or why it failed.
sub start {
    my ($conf) = @_;
    kill_stale();
    my $err = _write_conf($conf);
    return $err if $err;
    $ReadPos = $HealthPos = 0;
    _spawn();
    my $deadline = time + (valgrind() ? 60 : 10);
    while (time < $deadline) {
        if (defined _reap()) {
            my $text = _exit_text();
            undef $Pid;
            return "$text:\n" . _emerg_text();
        }
        return '' if _pid_file_is($Pid)
                     && Mesh::Proc::port_listening($ServerPort);
        sleep 0.02;
    }
    stop();
    return "nginx did not listen on port $ServerPort in time:\n"
        . _emerg_text();
}

# Worker processes of the master still taking new connections.
sub _accepting_workers {
    my %workers;
    for my $dir (glob '/proc/[0-9]*') {
        open my $st, '<', "$dir/stat" or next;
        my $stat = <$st> // '';
        my ($ppid) = $stat =~ /\)\s+\S+\s+(\d+)/ or next;
        next unless $ppid == $Pid;
        open my $cl, '<', "$dir/cmdline" or next;
        my $cmd = <$cl> // '';
        next unless $cmd =~ /worker process/ && $cmd !~ /shutting down/;
        my ($pid) = $dir =~ /(\d+)$/;
        $workers{$pid} = 1;
    }
    return \%workers;
}

# HUP reload to $conf, whose check server answers /ver with $version.
# Done when the new configuration answers and every old worker has
# stopped accepting.  Returns '' or why that did not happen.
sub reload {
    my ($conf, $version) = @_;
    my $pos = _log_size();
    my $err = _write_conf($conf);
    return $err if $err;
    my $old = _accepting_workers();
    kill 'HUP', $Pid or return "cannot send HUP to nginx $Pid: $!";
    my $deadline = time + 10;
    while (time < $deadline && running()) {
        my (undef, $body) = Mesh::Proc::http_get($ServerPort, '/ver',
                                                 'Test-Nginx');
        if (defined $body && $body eq $version
            && !grep { $old->{$_} } keys %{ _accepting_workers() })
        {
            return '';
        }
        my $p     = $pos;
        my @emerg = grep { /\[emerg\]/ } @{ _lines_from(\$p) };
        if (@emerg) {
            $HealthPos = _log_size();    # reported here, not again
            return "nginx refused the new configuration:\n" . join '',
                @emerg;
        }
        sleep 0.02;
    }
    return 'nginx did not activate the new configuration (HUP)';
}

# Runs nginx on a configuration expected to be rejected.  Returns the
# shell-style exit code, or 0 when nginx started and had to be killed.
sub must_die {
    my ($conf) = @_;
    my $err = _write_conf($conf);
    die "$err\n" if $err;
    $ReadPos = $HealthPos = _log_size();
    local $Test::Nginx::Util::UseValgrind;
    _spawn();
    my $deadline = time + 5;
    while (time < $deadline) {
        if (defined _reap()) {
            undef $Pid;
            return Mesh::Proc::status_code($Status);
        }
        last if Mesh::Proc::port_listening($ServerPort);
        sleep 0.02;
    }
    stop();
    return 0;
}

# Graceful stop (QUIT), then TERM, then KILL of the whole process group.
# Returns the problems seen: crash, alert lines, valgrind reports.
sub stop {
    my $pid = $Pid;
    return () unless defined $pid && $pid > 1;
    if (!defined _reap()) {
        $Signalled = 1;
        # memcheck's leak check at exit must not be cut short
        my %grace = (QUIT => valgrind() ? 30 : $Test::Nginx::Util::Timeout,
                     TERM => valgrind() ? 30 : 5, KILL => 5);
        for my $sig (qw(QUIT TERM KILL)) {
            kill $sig, ($sig eq 'KILL' ? -$pid : $pid);
            my $deadline = time + $grace{$sig};
            sleep 0.01 while !defined _reap() && time < $deadline;
            last if defined $Status;
        }
    }
    kill 'KILL', -$pid;    # workers left behind by a crashed master
    my @problems = health_problems();
    my $sig = $Status & 127;
    push @problems, _exit_text()
        if $sig && $Signalled && !grep { $sig == $_ } 3, 9, 15;
    if (valgrind()) {
        my @vg = Mesh::Valgrind::problems(vg_log(), qr/ngx_http_mesh/);
        push @problems, map { "valgrind: $_" } @vg;
    }
    undef $Pid;
    return @problems;
}

# An nginx left by an earlier NO_CLEAN run of this file (pid file in our
# server root, still an nginx) is stopped before we start ours.
sub kill_stale {
    return if defined $Pid;
    open my $in, '<', $Test::Nginx::Util::PidFile or return;
    my $pid = <$in> // '';
    close $in;
    chomp $pid;
    return unless $pid =~ /^\d+$/ && $pid != $$;
    open my $cmd, '<', "/proc/$pid/cmdline" or return;
    my $cmdline = <$cmd> // '';
    return unless $cmdline =~ /nginx/
        && index($cmdline, $Test::Nginx::Util::ServRoot) >= 0;
    kill 'QUIT', $pid;
    for (1 .. 100) {
        return unless kill 0, $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
}

END {
    if ($$ == $CREATOR && defined $Pid
        && (!$Test::Nginx::Util::NoClean || valgrind()))
    {
        local $?;
        stop();
    }
}

1;
