#!/usr/bin/perl
# echo-agent benchmark: the simulator called directly vs through the agent,
# side by side in one run.  Not a test: it prints figures.
#
#   bench/agent/bench.pl [--build DIR] [--requests N] [--seconds S]
#   bench/agent/bench.pl --memory    only the memory with 20 streams, with
#                                    that agent alone (nothing to share
#                                    pages with: the honest PSS), and
#                                    where it is, per mapping
#   bench/agent/bench.pl --memory --smaps FILE   also copies the agent's
#                                    /proc/PID/smaps at the peak to FILE
#
# Measures: time to first token (p50/p99) direct and through the agent
# and the difference; short requests per second with wrk (agent pinned to
# one core) and the agent's CPU per request; agent RSS idle and with 20
# concurrent streams.
use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use Getopt::Long;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

use lib "$FindBin::Bin/../../t/lib";
use Mesh::Sign;

my $build    = "$FindBin::Bin/../../build";
my $requests = 1000;
my $seconds  = 5;
my $memory   = 0;
my $smaps_out;
GetOptions('build=s' => \$build, 'requests=i' => \$requests,
           'seconds=i' => \$seconds, 'memory' => \$memory,
           'smaps=s' => \$smaps_out)
    or die "bad options\n";

my $sim_bin   = "$build/bin/ollama-sim";
my $agent_bin = "$build/bin/echo-agent";
-x $_ or die "$_ is missing: run make build\n" for $sim_bin, $agent_bin;

my $dir    = tempdir(CLEANUP => 1);
my $secret = 'bench-secret-0123456789abcdef';
open my $sf, '>', "$dir/secret" or die $!;
print $sf "$secret\n";
close $sf;
chmod 0600, "$dir/secret";

my @pids;
END { kill 'TERM', @pids if @pids; waitpid($_, 0) for @pids; }
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die $!;
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub spawn {
    my ($cpu, $log, @cmd) = @_;
    my $pid = fork // die $!;
    if (!$pid) {
        open STDOUT, '>', $log;
        open STDERR, '>&', \*STDOUT;
        exec 'taskset', '-c', $cpu, @cmd or POSIX::_exit(127);
    }
    push @pids, $pid;
    return $pid;
}

sub wait_port {
    my ($port) = @_;
    for (1 .. 200) {
        return if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        sleep 0.05;
    }
    die "nothing listens on $port\n";
}

sub start_sim {
    my (@args) = @_;
    my $port = free_port();
    spawn(0, "$dir/sim-$port.log", $sim_bin, '--listen', "127.0.0.1:$port",
          '--parallel', 64, '--queue', 256, @args);
    wait_port($port);
    return $port;
}

sub start_agent {
    my ($sim_port) = @_;
    my $port = free_port();
    my $pid = spawn(1, "$dir/agent-$port.log", $agent_bin,
        '--listen', "127.0.0.1:$port", '--ollama', "http://127.0.0.1:$sim_port",
        '--secret-file', "$dir/secret", '--node-id', 'bench',
        '--heartbeat-interval', '60s', '--max-tasks', 64,
        '--max-connections', 256, '--log-level', 'warn');
    wait_port($port);
    return ($port, $pid);
}

# Resident memory in KiB: RSS (all resident pages, shared library code
# included), PSS (shared pages divided among the processes using them) and
# private (pages of this process alone).
sub mem_kb {
    my ($pid) = @_;
    my %v;
    open my $in, '<', "/proc/$pid/smaps_rollup" or return {};
    while (<$in>) { $v{$1} = $2 if /^(\w+):\s+(\d+) kB/ }
    return { rss => $v{Rss} // 0, pss => $v{Pss} // 0,
             private => ($v{Private_Clean} // 0) + ($v{Private_Dirty} // 0),
             dirty => $v{Private_Dirty} // 0 };
}

# An anonymous mapping by its shape: glibc's per-thread malloc arenas start
# on a 64 MiB boundary; a connection thread's stack is the 512 KiB that
# server.c asks libmicrohttpd for; other threads keep the 8 MiB default.
sub anon_kind {
    my ($from, $to) = @_;
    return '[malloc arenas]' if $from % (64 << 20) == 0;
    return '[conn. thread stacks]' if $to - $from == 512 << 10;
    return '[other thread stacks]' if $to - $from == 8 << 20;
    return '[anon]';
}

# Where the memory is, from /proc/PID/smaps: per group (the agent's binary,
# each library, [heap], [stack], thread stacks, malloc arenas, other
# anonymous mappings), RSS, PSS, Private_Clean and Private_Dirty in KiB.
sub smaps_groups {
    my ($pid) = @_;
    my (%g, $name);
    no warnings 'portable';    # 64-bit addresses
    open my $in, '<', "/proc/$pid/smaps" or return {};
    while (<$in>) {
        if (/^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/) {
            $name = $3 eq '' ? anon_kind(hex $1, hex $2) : $3;
            $name =~ s{.*/}{};
            $name =~ s/\.so[.\d]*$/.so/;
            $g{$name}{maps}++;
            next;
        }
        $g{$name}{$1} += $2
            if /^(Rss|Pss|Private_Clean|Private_Dirty):\s+(\d+) kB/;
    }
    return \%g;
}

# Other processes that map one of the agent's shared libraries (all but
# libc and the loader, which every process maps): they lower its PSS and
# move those pages from private to shared.  Returns "lib (pid name, ...)"
# strings, none when the agent is alone.
sub library_sharers {
    my ($self) = @_;
    my (%libs, %name, @found);
    # by device and inode: the same file may be mapped as /lib/... by one
    # process and /usr/lib/... by another
    my $so = qr{^\S+ \S+ \S+ (\S+) (\d+)\s+(/\S+\.so[.\d]*)$};
    open my $own, '<', "/proc/$self/maps" or return ();
    for (<$own>) {
        next unless /$so/ && $2;
        next if $3 =~ m{/(libc|ld-linux[-\w]*)\.so};
        $libs{"$1 $2"} = [];
        ($name{"$1 $2"} = $3) =~ s{.*/}{};
    }
    for my $maps (glob '/proc/[0-9]*/maps') {
        my ($pid) = $maps =~ m{/proc/(\d+)/};
        next if $pid == $self || $pid == $$;
        open my $in, '<', $maps or next;
        my %seen;
        for (<$in>) {
            next unless /$so/ && $libs{"$1 $2"} && !$seen{"$1 $2"}++;
            open my $c, '<', "/proc/$pid/comm";
            my $comm = $c ? <$c> : '?';
            chomp $comm;
            push @{ $libs{"$1 $2"} }, "$pid $comm";
        }
    }
    for my $key (sort { $name{$a} cmp $name{$b} } keys %libs) {
        my $who = $libs{$key};
        push @found, "$name{$key} (" . join(', ', @$who) . ')' if @$who;
    }
    return @found;
}

sub print_smaps {
    my ($title, $g) = @_;
    my %t;
    printf "\n%s (KiB, from /proc/PID/smaps):\n", $title;
    printf "  %-26s %5s %7s %7s %9s %9s\n", 'mapping', 'maps', 'RSS', 'PSS',
        'pr.clean', 'pr.dirty';
    for my $n (sort { ($g->{$b}{Private_Clean} + $g->{$b}{Private_Dirty})
                      <=> ($g->{$a}{Private_Clean} + $g->{$a}{Private_Dirty})
                      || $a cmp $b } keys %$g) {
        my $v = $g->{$n};
        $t{$_} += $v->{$_} // 0 for qw(maps Rss Pss Private_Clean Private_Dirty);
        my $lib = $n =~ /\.so$/ ? 'lib' : 'own';
        $t{"$lib $_"} += $v->{$_} // 0 for qw(Private_Clean Private_Dirty);
        next if ($v->{Rss} // 0) < 64
            && ($v->{Private_Clean} // 0) + ($v->{Private_Dirty} // 0) < 16;
        printf "  %-26s %5d %7d %7d %9d %9d\n", $n,
            map { $v->{$_} // 0 } qw(maps Rss Pss Private_Clean Private_Dirty);
    }
    printf "  %-26s %5d %7d %7d %9d %9d\n", 'total',
        map { $t{$_} // 0 } qw(maps Rss Pss Private_Clean Private_Dirty);
    printf "  libraries (*.so): private clean %d, private dirty %d;"
        . " the rest: private clean %d, private dirty %d\n",
        map { $t{$_} // 0 } 'lib Private_Clean', 'lib Private_Dirty',
        'own Private_Clean', 'own Private_Dirty';
}

# The figures a Pi would see, where the simulator (which shares
# libmicrohttpd, yajl and GnuTLS's dependencies with the agent here) is not
# there: every resident page of the agent's shared libraries counted in
# full, as PSS and as private, libc and the loader aside (every process on
# a Pi maps them).
sub if_unshared {
    my ($g, $m) = @_;
    my ($pss, $private) = ($m->{pss}, $m->{private});
    for my $n (keys %$g) {
        next unless $n =~ /\.so$/ && $n !~ /^(libc|ld-linux[-\w]*)\.so$/;
        my $v = $g->{$n};
        $pss += ($v->{Rss} // 0) - ($v->{Pss} // 0);
        $private += ($v->{Rss} // 0) - ($v->{Private_Clean} // 0)
            - ($v->{Private_Dirty} // 0);
    }
    return ($pss, $private);
}

sub cpu_seconds {
    my ($pid) = @_;
    open my $in, '<', "/proc/$pid/stat" or return 0;
    my @f = split ' ', (split /\)/, <$in>)[-1];
    return ($f[11] + $f[12]) / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}

# a task token for the agent under test (node id "bench"), used once
my $token_no = 0;
sub token {
    return Mesh::Sign::task($secret, 'bench', sprintf('b%x-%d', $$, ++$token_no));
}

sub request_text {
    my ($auth, $body) = @_;
    return "POST /api/generate HTTP/1.1\r\nHost: bench\r\n"
        . ($auth ? 'Authorization: ' . token() . "\r\n" : '')
        . "Content-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
}

# Time from sending a request to the first token line, on a kept-alive
# connection; reads the rest of the reply before returning.
sub ttft_once {
    my ($sock, $req) = @_;
    my $t0 = time;
    syswrite $sock, $req;
    my ($buf, $first) = ('', undef);
    while (1) {
        sysread($sock, $buf, 65536, length $buf) or die "connection lost\n";
        $first //= time if $buf =~ /\r\n\r\n[0-9a-f]+\r\n[^\n]*\n/;
        last if $buf =~ /\r\n0\r\n\r\n\z/;
    }
    return $first - $t0;
}

sub pct {
    my ($p, @v) = @_;
    my @s = sort { $a <=> $b } @v;
    return $s[int($p / 100 * $#s + 0.5)];
}

sub wrk {
    my ($port, $auth) = @_;
    my $tokens = "$dir/tokens";
    open my $tf, '>', $tokens or die "$tokens: $!";
    if ($auth) { print $tf token(), "\n" for 1 .. 50000 * $seconds }
    close $tf;
    local $ENV{BENCH_TOKENS} = $tokens;
    # one string: `...` . "url" would run wrk before adding the URL
    my $cmd = "wrk -t1 -c16 -d${seconds}s -s $FindBin::Bin/post.lua"
        . " http://127.0.0.1:$port/api/generate 2>&1";
    my $out = `$cmd`;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    die "wrk failed:\n$out" unless defined $rps;
    die "wrk saw $non2xx errors:\n$out" if $non2xx;
    return $rps;
}

my ($cores) = `nproc` =~ /(\d+)/;
printf "echo-agent benchmark (%s, %d cores)\n\n", scalar(localtime), $cores;
my $body = '{"model":"llama3.2","prompt":"hello"}';
my ($mem_idle, $mem_after_wrk);
memory() if $memory;

my $sim = start_sim('--tokens', 1);
my ($agent, $agent_pid) = start_agent($sim);
sleep 0.5;
$mem_idle = mem_kb($agent_pid);

# 1. time to first token, alternating direct and through the agent
my $ds = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$sim") or die $!;
my $as = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$agent") or die $!;
$_->setsockopt(6, 1, 1) for $ds, $as;    # TCP_NODELAY
my (@direct, @via);
for my $i (1 .. $requests + 50) {
    my $d = ttft_once($ds, request_text(0, $body));
    my $a = ttft_once($as, request_text(1, $body));
    next if $i <= 50;    # warm-up
    push @direct, $d;
    push @via, $a;
}
printf "time to first token, %d streamed requests each (ms):\n", $requests;
printf "  %-22s p50 %7.3f   p99 %7.3f\n", 'simulator direct',
    1000 * pct(50, @direct), 1000 * pct(99, @direct);
printf "  %-22s p50 %7.3f   p99 %7.3f\n", 'through echo-agent',
    1000 * pct(50, @via), 1000 * pct(99, @via);
printf "  %-22s p50 %7.3f   p99 %7.3f\n\n", 'added by the agent',
    1000 * (pct(50, @via) - pct(50, @direct)),
    1000 * (pct(99, @via) - pct(99, @direct));

# 2. short requests per second
my $direct_rps = wrk($sim, 0);
my $cpu0 = cpu_seconds($agent_pid);
my $via_rps = wrk($agent, 1);
my $cpu = cpu_seconds($agent_pid) - $cpu0;
printf "short requests (wrk -t1 -c16 -d%ds, non-streamed, 1 token):\n",
    $seconds;
printf "  %-22s %9.0f req/s\n", 'simulator direct', $direct_rps;
printf "  %-22s %9.0f req/s  (agent pinned to one core, %.0f%% busy)\n",
    'through echo-agent', $via_rps, 100 * $cpu / $seconds;
printf "  %-22s %9.0f req/s per core of agent CPU\n\n", 'agent capacity',
    $cpu > 0 ? $via_rps * $seconds / $cpu : 0;
$mem_after_wrk = mem_kb($agent_pid);
memory();

# 3. memory with 20 concurrent streams
sub memory {
my $slow = start_sim('--tokens', 400, '--token-delay-ms', 20);
my ($sagent, $sagent_pid) = start_agent($slow);
sleep 0.5;
my $mem_idle2 = mem_kb($sagent_pid);
my @streams;
for (1 .. 20) {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$sagent") or die $!;
    syswrite $s, request_text(1, $body);
    push @streams, $s;
}
my $peak = { rss => 0 };
my $peak_smaps;
for (1 .. 20) {
    sleep 0.2;
    for my $s (@streams) { sysread($s, my $junk, 65536) }
    my $m = mem_kb($sagent_pid);
    next if $m->{rss} <= $peak->{rss};
    $peak = $m;
    $peak_smaps = smaps_groups($sagent_pid);
    system("cp /proc/$sagent_pid/smaps '$smaps_out'") if $smaps_out;
}
# other processes mapping the same libraries lower this agent's PSS and
# move its library pages from private to shared: find them right after
# the peak
my @sharers = library_sharers($sagent_pid);
my $others = @sharers;
# (one string: `...` . "url" would run curl before adding the URL)
my $metrics = `curl -s -H 'Authorization: @{[ token() ]}' http://127.0.0.1:$sagent/metrics`;
my $active = $metrics =~ /^echo_agent_active_tasks 20$/m;
close $_ for @streams;
# private counts library pages no other process maps right now (clean);
# private dirty is the agent's own written memory, whatever else runs
printf "agent resident memory (KiB):         RSS      PSS  private    dirty\n";
my @rows = $memory
    ? (['idle (the only agent)', $mem_idle2],
       ['20 concurrent streams', $peak])
    : (['idle', $mem_idle], ['after the wrk runs', $mem_after_wrk],
       ['idle (second agent)', $mem_idle2],
       ['20 concurrent streams', $peak]);
for my $row (@rows) {
    printf "  %-28s %8d %8d %8d %8d\n", $row->[0],
        @{ $row->[1] }{qw(rss pss private dirty)};
}
print "  (20 streams: ", $active ? '20 tasks were active' :
    'WARNING: not 20 tasks active', ")\n";
print "  (other processes mapping the agent's libraries after the peak: ",
    $others ? join('; ', @sharers) . ': PSS and private are lower than'
              . ' alone' : 'none', ")\n";
print_smaps('where the memory is with 20 streams', $peak_smaps) if $memory;
printf "  targets with 20 streams: PSS <= 6,144 KiB (%s), private <= 4,096"
    . " KiB (%s)%s\n", $peak->{pss} <= 6144 ? 'met' : 'NOT met',
    $peak->{private} <= 4096 ? 'met' : 'NOT met',
    $others ? ', not alone: no verdict for a Pi' : '';
if ($memory) {
    my ($pss, $private) = if_unshared($peak_smaps, $peak);
    printf "  if nothing else mapped its libraries (their Rss in full, libc"
        . " and the loader aside): PSS %d KiB (%s), private %d KiB (%s)\n",
        $pss, $pss <= 6144 ? 'met' : 'NOT met', $private,
        $private <= 4096 ? 'met' : 'NOT met';
}
exit 0 if $memory;
}
