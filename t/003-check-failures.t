# Harness self test: the harness reports a failure for each kind of wrong
# response.  t/fixtures/fail-checks.tt runs in a child perl; every block
# there is built to fail in one check.
use strict;
use warnings;

use Test::More;
use Mesh::Fixture;

my $r = Mesh::Fixture::run('t/fixtures/fail-checks.tt');
my @bad = @{ $r->{not_ok} };

sub failed_like {
    my ($re, $what) = @_;
    ok((grep { $_ =~ $re } @bad), $what)
        or diag(Mesh::Fixture::show($r));
}

isnt $r->{code}, 0, 'the fixture run exits non-zero';
failed_like(qr/TEST 1: wrong body - response_body/, 'wrong body');
failed_like(qr/TEST 2: wrong status - status code ok/, 'wrong status');
failed_like(qr/TEST 3: missing header - header X-Missing ok/,
            'missing header');
failed_like(qr/TEST 4: .* - header X-Forbidden not present/,
            'header that must be absent');
failed_like(qr/TEST 5: .*"this line is never logged" should match/,
            'expected error_log line absent');
failed_like(qr/TEST 6: .*"\[error\]" should not match any line/,
            'forbidden error_log line present');
failed_like(qr/client socket timed out - .*TEST 7/, 'client timeout');
is scalar @bad, 7, 'nothing else failed' or diag(Mesh::Fixture::show($r));
ok((grep { /TEST 3: missing header - header X-Present ok/ }
    @{ $r->{ok} }), 'a right header in the same block passes');
like $r->{err}, qr/got: 'world\n.*expected: 'hello\n/s,
    'the diagnostics show got and expected';

# error.log is read once after the response, as the real runner reads it:
# a line nginx logs later fails the block, unless the block waits for it
# (Mesh::Log's --- wait_error_log).
$r = Mesh::Fixture::run('t/fixtures/late-log.tt');
is_deeply [map { /(TEST \d+: .*) - pattern/ ? $1 : $_ } @{ $r->{not_ok} }],
    ['TEST 2: a late line, not waited for'],
    'only the block that does not wait for its late line fails'
    or diag(Mesh::Fixture::show($r));
ok((grep { /TEST 1: a late line, waited for - pattern .* matches/ }
    @{ $r->{ok} }), 'the one that waits finds it')
    or diag(Mesh::Fixture::show($r));
like $r->{err}, qr/the line came [\d.]+ s after error\.log was read/,
    'the diagnostics say the line came late';

done_testing();
