# Harness self test: TEST_NGINX_USE_VALGRIND=1 runs each block's nginx
# under memcheck (one small fixture; valgrind is slow), and Mesh::Proc's
# valgrind mode reports a program with real memory errors.
use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use Mesh::Fixture;
use Mesh::Proc;

my $r = Mesh::Fixture::run('t/fixtures/valgrind.tt',
                           TEST_NGINX_USE_VALGRIND => 1,
                           TEST_NGINX_NO_CLEAN     => 1);
is $r->{code}, 0, 'a clean suite passes under valgrind'
    or diag(Mesh::Fixture::show($r));
is $r->{count}, 6, 'with the same test count';
my $vg = "$r->{servroot}/logs/valgrind.log";
open my $in, '<', $vg;
like(($in ? join('', <$in>) : ''), qr/Memcheck.*Command: \S*nginx/s,
     'nginx really ran under memcheck');
is_deeply [Mesh::Fixture::pids_matching($r->{servroot})], [],
    'valgrind mode stops nginx even with TEST_NGINX_NO_CLEAN';

SKIP: {
    my ($cc) = grep { -x } map { "$_/cc" } split /:/, $ENV{PATH};
    skip 'no C compiler', 3 unless $cc;
    my $dir = tempdir(CLEANUP => 1);
    system('cc', '-g', '-O0', '-o', "$dir/vg-bad", 't/fixtures/vg-bad.c') == 0
        or die "cannot compile t/fixtures/vg-bad.c\n";
    my $p = Mesh::Proc->start(name => 'vg-bad', cmd => ["$dir/vg-bad"],
                              valgrind => 1);
    is $p->wait_exit(60), 0, 'the faulty program ran to its end';
    my @diag;
    {
        no warnings 'redefine';
        local *Mesh::Proc::_diag = sub { push @diag, @_ };
        ok !$p->stop, 'stop() returns false: memcheck found errors';
    }
    like "@diag", qr/Invalid read of size 1.*definitely lost/s,
        'and shows the invalid read and the leak';
}

done_testing();
