# Harness self test: without TEST_NGINX_NO_CLEAN nothing is left running
# after a suite, even when it dies or is interrupted; with it, nginx and
# the server root stay for inspection.
use strict;
use warnings;

use Test::More;
use Mesh::Fixture;
use Mesh::Proc;

my $r = Mesh::Fixture::run('t/fixtures/interrupt.tt');
is $r->{signal} ? 128 + $r->{signal} : $r->{code}, 130,
    'SIGINT ends the suite' or diag(Mesh::Fixture::show($r));
like $r->{out}, qr/nginx running/, 'while nginx was running';
is_deeply [Mesh::Fixture::pids_matching($r->{servroot})], [],
    'and nothing is left running after Ctrl-C';

$r = Mesh::Fixture::run('t/fixtures/die.tt');
isnt $r->{code}, 0, 'a dying suite fails';
like "$r->{out}$r->{err}", qr/suite code failed/, 'with its message';
is_deeply [Mesh::Fixture::pids_matching($r->{servroot})], [],
    'and nothing is left running after die';

$r = Mesh::Fixture::run('t/fixtures/hup.tt', TEST_NGINX_NO_CLEAN => 1);
is $r->{code}, 0, 'a suite passes with TEST_NGINX_NO_CLEAN'
    or diag(Mesh::Fixture::show($r));
my @left = Mesh::Fixture::pids_matching($r->{servroot});
is scalar @left, 1, 'its nginx is still running';
ok -f "$r->{servroot}/conf/nginx.conf", 'its server root is kept';
kill 'QUIT', @left;
Mesh::Proc::wait_for(sub { !Mesh::Fixture::pids_matching($r->{servroot}) });
is_deeply [Mesh::Fixture::pids_matching($r->{servroot})], [],
    'we stopped it ourselves';

done_testing();
