# Harness self test: TEST_NGINX_USE_HUP=1 reloads one nginx master by
# SIGHUP between blocks and waits until the new configuration answers;
# a refused reload fails its block with nginx's message.
use strict;
use warnings;

use Test::More;
use Mesh::Fixture;

my $r = Mesh::Fixture::run('t/fixtures/hup.tt', TEST_NGINX_USE_HUP => 1);
is $r->{code}, 0, 'three configurations pass in HUP mode'
    or diag(Mesh::Fixture::show($r));
is $r->{count}, 12, 'all 12 tests ran';
like $r->{err}, qr/reloads: 2\b/, 'nginx was reloaded twice (by SIGHUP)';
like $r->{err}, qr/masters: 1\b/, 'by one and the same master process';

$r = Mesh::Fixture::run('t/fixtures/hup-bad.tt', TEST_NGINX_USE_HUP => 1);
isnt $r->{code}, 0, 'a refused reload fails the run';
is_deeply $r->{not_ok},
    ["t/fixtures/hup-bad.tt TEST 2: bad configuration - nginx is not "
     . "running the block's configuration"],
    'only the bad block fails' or diag(Mesh::Fixture::show($r));
like $r->{err}, qr/refused the new configuration:\n.*\[emerg\]/,
    "with nginx's [emerg] message";

$r = Mesh::Fixture::run('t/fixtures/hup.tt');
is $r->{code}, 0, 'the same suite passes without HUP mode';
like $r->{err}, qr/reloads: 0\b/, 'where nothing is reloaded';

done_testing();
