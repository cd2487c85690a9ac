package Mesh::Checks;

# A "--- checks" section for blocks: one Perl expression a line, run in
# package main after each response of the block; each line is one test,
# which fails when the expression is false (or dies).  The response body
# is in $main::Body; there is no more, as both runners give a body check
# the body alone.  Headers are checked with --- response_headers(_like);
# a check that needs the value of a header logs it (as
# Mesh::Orch::sent_task does X-Mesh-Task).
# Lines starting with # are comments.  A failure's diag shows the error
# and $Mesh::Checks::Why, which helpers set to say what they saw.
#
#   use Mesh::Checks;
#   plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
#
#   --- checks
#   $Body =~ /"queued":1/
#   main::queued() == 0

use strict;
use warnings;

use Test::More ();
use Test::Nginx::Socket ();

our $Why;

sub _lines {
    my ($v) = @_;
    return () unless defined $v;
    return grep { /\S/ && !/^\s*#/ } split /\n/, $v;
}

sub _run {
    my ($block, $body, $idx, $rep, $dry) = @_;
    my $tb = Test::More->builder;
    for my $line (_lines(scalar $block->checks)) {
        if ($dry) {
            $tb->skip($dry);
            next;
        }
        undef $Why;
        local $main::Body = $body;
        my $ok = eval "package main; no strict 'vars'; $line";
        my $err = $@;
        (my $text = $line) =~ s/^\s+|\s+$//g;
        $tb->ok($ok && !$err, $block->name . " - check: $text")
            or Test::More::diag(join "\n", grep { defined }
                                ($err || undef, $Why));
    }
}

# The number of tests the check sections of the file's blocks run.
sub count {
    my $total = 0;
    for my $block (Test::Base::blocks()) {
        next if defined $block->SKIP || defined $block->must_die;
        my $req = $block->request;
        my $nreq = ref $req eq 'ARRAY' ? @$req : 1;
        my @lines = _lines(scalar $block->checks);
        $total += Test::Nginx::Socket::repeat_each() * $nreq * @lines;
    }
    return $total;
}

Test::Nginx::Socket::add_response_body_check(\&_run);

1;
