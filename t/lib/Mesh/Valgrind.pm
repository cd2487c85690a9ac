package Mesh::Valgrind;

# Runs a command under valgrind memcheck and reads its report back.
# A report "has problems" when memcheck saw a memory error (invalid
# read/write/free, use of uninitialised memory, overlapping copy, a crash)
# or a definite leak whose stack matches the caller's pattern.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;

my $SUPPRESS = File::Spec->catfile(dirname(File::Spec->rel2abs(__FILE__)),
                                   '..', 'valgrind.suppress');

sub suppressions_file { $SUPPRESS }

# The argv prefix that runs a program under memcheck, writing to $log.
sub command {
    my ($log) = @_;
    my @cmd = ('valgrind', '--tool=memcheck', '--leak-check=full',
               '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
               '--num-callers=40',
               # nginx unloads modules before the leak report: keep
               # their symbols so leak stacks name ngx_http_mesh_
               '--keep-debuginfo=yes',
               "--log-file=$log");
    push @cmd, "--suppressions=$SUPPRESS" if -f $SUPPRESS;
    return @cmd;
}

my @ERROR_KINDS = (
    qr/^Invalid (?:read|write|free)/,
    qr/uninitialised/,
    qr/unaddressable/,
    qr/^Mismatched free/,
    qr/^Source and destination overlap/,
    qr/fishy value/,
    # a crash (not the TERM or KILL that stops a process)
    qr/^Process terminating with default action of signal (?:4|6|7|8|11)\b/,
);

# Splits a memcheck log into records: one per blank-line separated group
# of "==PID== " lines, kept per pid so forked children do not interleave.
sub records {
    my ($text) = @_;
    my (%current, @records);
    for my $line (split /\n/, $text) {
        my ($pid, $body) = $line =~ /^==(\d+)==\s?(.*)$/ or next;
        if ($body =~ /^\s*$/) {
            push @records, delete $current{$pid} if $current{$pid};
            next;
        }
        $current{$pid} .= "$body\n";
    }
    push @records, values %current;
    return @records;
}

sub is_problem {
    my ($record, $leak_re) = @_;
    my ($head) = $record =~ /^(.*)$/m;
    return 1 if grep { $head =~ $_ } @ERROR_KINDS;
    if ($head =~ /are definitely lost in loss record/) {
        return $record =~ $leak_re ? 1 : 0;
    }
    return 0;
}

# The problem records (texts) in log file $file; () when it is clean.
sub problems {
    my ($file, $leak_re) = @_;
    open my $in, '<', $file or return ();
    my $text = do { local $/; <$in> };
    return grep { is_problem($_, $leak_re) } records($text // '');
}

1;
