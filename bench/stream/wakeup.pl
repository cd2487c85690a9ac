#!/usr/bin/perl
# The cost of a wake-up on this machine, the floor under every hop of the
# time-to-first-token paths: one byte sent back and forth over loopback
# TCP between this process and an echoing child on the same CPU, and
# one on the other CPU, alternating round by round.  Not a test.
#   bench/stream/wakeup.pl ROUNDS CPU OTHER_CPU
# prints the p50 and p90 of each round trip (µs).
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(time);

my ($n, $cpu, $other) = @ARGV;
die "usage: wakeup.pl ROUNDS CPU OTHER_CPU\n" unless defined $other;
system("taskset -pc $cpu $$ >/dev/null") == 0 or die "taskset failed\n";

my (@sock, @kids);
for my $c ($cpu, $other) {
    my $l = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1:0')
        or die "listen: $!\n";
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        system("taskset -pc $c $$ >/dev/null");
        my $s = $l->accept or exit 1;
        $s->setsockopt(6, 1, 1);
        my $x;
        syswrite $s, $x while sysread $s, $x, 1;
        exit 0;
    }
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $l->sockport)
        or die "connect: $!\n";
    $s->setsockopt(6, 1, 1);
    close $l;
    push @sock, $s;
    push @kids, $pid;
}

my (@t, $x);
for my $i (1 .. $n + 100) {
    for my $k (0, 1) {
        my $t0 = time;
        syswrite $sock[$k], 'x';
        sysread $sock[$k], $x, 1 or die "echo lost\n";
        push @{ $t[$k] }, time - $t0 if $i > 100;
    }
}
close $_ for @sock;
waitpid $_, 0 for @kids;

sub pct {
    my ($p, @v) = @_;
    my @s = sort { $a <=> $b } @v;
    return $s[int($p / 100 * $#s + 0.5)];
}
printf "  %-32s round trip p50 %6.1f us   p90 %6.1f us\n", $_->[0],
    1e6 * pct(50, @{ $t[$_->[1]] }), 1e6 * pct(90, @{ $t[$_->[1]] })
    for ["one byte, same CPU ($cpu)", 0], ["one byte, CPU $cpu <-> $other", 1];
