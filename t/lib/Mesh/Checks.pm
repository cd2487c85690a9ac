package Mesh::Checks;

# A "--- checks" section for blocks: one Perl expression a line, run in
# package main after each response of the block; each line is one test,
# which fails when the expression is false (or dies).  The response body
# is in $main::Body.  Under our runner only, the whole response
# (HTTP::Response) is in $main::Res: the real Test::Nginx gives body
# checks the body alone, so there $Res is undef, and a suite that must
# run under both checks headers with --- response_headers(_like).
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

my $Last;           # the response our runner last parsed

# Our runner's parser, wrapped to keep the whole response for $Res (not
# there under the real runner: nothing is wrapped, $Res stays undef).
if ($INC{'Test/Nginx/Request.pm'}
    && defined &Test::Nginx::Request::parse_response)
{
    my $parse = \&Test::Nginx::Request::parse_response;
    no warnings 'redefine';
    *Test::Nginx::Request::parse_response = sub {
        my @r = $parse->(@_);
        $Last = $r[0];
        return @r;
    };
}

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
        local $main::Res = $Last;
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
