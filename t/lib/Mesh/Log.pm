package Mesh::Log;

# Waiting for a line of the runner's error.log, for blocks whose
# --- error_log wants a line nginx may log after the response (the log
# phase, a timer, a Redis reply).  Both runners read the log once, 45 ms
# after the response; a block that cannot be sure its line is there by
# then waits for it first:
#
#   use Mesh::Log;
#
#   --- wait_error_log
#   mesh: node "a" is down
#   --- error_log
#   mesh: node "a" is down
#
# --- wait_error_log: one pattern a line (a substring), or `eval` giving
# a qr// or a list of patterns.  After each response of the block, and
# before the runner reads the log, it waits until each pattern matches a
# line logged since the block began, or since the last wait of the block
# ended.  It runs no test: the deadline (10 s, 30 s under valgrind) only
# ends a hang, and the block's own --- error_log says what was missing.
#
# In Perl (--- init, a helper): Mesh::Log::wait_for(qr/.../, $seconds)
# polls the whole error.log; true once a line matches.

use strict;
use warnings;

use Time::HiRes qw(sleep time);

use Test::Nginx::Socket ();

my $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 3 : 1;
my %From;           # where this block's lines begin: id (first line), pos

sub file {
    return Test::Nginx::Socket::server_root() . '/logs/error.log';
}

# The file's first line (which nginx instance wrote it) and its size.
sub _mark {
    open my $in, '<', file() or return ('', 0);
    my $first = <$in> // '';
    return ($first, -s $in);
}

# Lines from $From{pos} on, a new file (another first line) from its
# start; advances $From{pos}.
sub _new_lines {
    open my $in, '<', file() or return ();
    my $first = <$in> // '';
    @From{qw(id pos)} = ($first, 0) if $first ne ($From{id} // "");
    seek $in, $From{pos}, 0;
    my @lines;
    while (my $line = <$in>) {
        last unless $line =~ /\n\z/;    # the rest comes later
        push @lines, $line;
        $From{pos} += length $line;
    }
    return @lines;
}

sub _matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub _patterns {
    my ($v) = @_;
    return () unless defined $v;
    return @$v if ref $v eq 'ARRAY';
    return ($v) if ref $v;
    return grep { /\S/ } split /\n/, $v;
}

# Waits until each of @pats matches a line not yet seen by a wait of this
# block; true when they all did.
sub wait_lines {
    my (@pats) = @_;
    my $deadline = time + 10 * $Slow;
    while (1) {
        for my $line (_new_lines()) {
            @pats = grep { !_matches($line, $_) } @pats;
        }
        return 1 unless @pats;
        return 0 if time >= $deadline;
        sleep 0.05;
    }
}

# True once a line of the whole error.log matches $re (up to $limit
# seconds, default 10, scaled under valgrind).  Each poll reads only what
# was added since the last one: a debug log grows by megabytes in a
# burst, and a caller often has to act soon after the line (a slow feed
# client reads before the server's close wait ends).
sub wait_for {
    my ($re, $limit) = @_;
    my $deadline = time + ($limit // 10) * $Slow;
    my ($in, $part) = (undef, '');
    while (1) {
        # a new file (nginx restarted in a fresh server root): from its start
        ($in, $part) = (undef, '')
            if $in && ((stat file())[1] // -1) != (stat $in)[1];
        open $in, '<', file() or undef $in unless $in;
        if ($in) {
            seek $in, 0, 1;             # clear EOF: read what came since
            while (my $line = <$in>) {
                $line = $part . $line;
                $part = '';
                if ($line !~ /\n\z/) {  # the rest comes later
                    $part = $line;
                    last;
                }
                return 1 if _matches($line, $re);
            }
        }
        return 0 if time >= $deadline;
        sleep 0.05;
    }
}

Test::Nginx::Socket::add_block_preprocessor(sub {
    @From{qw(id pos)} = _mark();
});

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $idx, $rep, $dry) = @_;
    my @pats = _patterns(scalar $block->wait_error_log);
    wait_lines(@pats) if @pats && !$dry;
});

1;
