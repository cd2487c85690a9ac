# Harness self test: the pure functions of our Test::Nginx subset and of
# Mesh::Valgrind / Mesh::Proc, without starting nginx.
use strict;
use warnings;

use Test::More;
use IO::Socket::INET;

use Test::Nginx::Util ();
use Test::Nginx::Request ();
use Mesh::Fixture;
use Mesh::Proc ();
use Mesh::Valgrind ();

my $fixtures = 't/fixtures';

subtest 'nginx.conf skeleton' => sub {
    local $Test::Nginx::Util::LoadModules = ' /a/one.so  /b/two.so ';
    my $conf = Test::Nginx::Util::render_conf(
        port => 4321, servroot => '/srv/x', main_config => 'MAIN_MARK;',
        http_config => 'HTTP_MARK;', config => 'SERVER_MARK;');
    like $conf, qr/^load_module \/a\/one\.so;\nload_module \/b\/two\.so;$/m,
        'TEST_NGINX_LOAD_MODULES become load_module lines';
    like $conf, qr/load_module.*MAIN_MARK.*http \{/s,
        'main_config at top level, after load_module';
    like $conf, qr/http \{.*HTTP_MARK;.*server \{.*SERVER_MARK;/s,
        'http_config in http {}, config in server {}';
    like $conf, qr/listen\s+127\.0\.0\.1:4321;/, 'listens on loopback';
    like $conf, qr/^daemon off;$/m, 'nginx stays in the foreground';
    like $conf, qr{error_log /srv/x/logs/error\.log debug;}, 'error log';
    unlike $conf, qr/Test-Nginx/, 'no HUP check server by default';
    like Test::Nginx::Util::render_conf(version => 'v1'),
        qr/server_name\s+'Test-Nginx';.*return 200 'v1';/s,
        'HUP mode adds the version server';
    like $conf, qr/location \/ \{\s+root \/srv\/x\/html;/,
        'a root location by default';
    local @Test::Nginx::Util::EnvToNginx;
    Test::Nginx::Util::env_to_nginx('MESH_A', 'MESH_B');
    local $Test::Nginx::Util::NoRootLocation;
    Test::Nginx::Util::no_root_location();
    $conf = Test::Nginx::Util::render_conf();
    like $conf, qr/^env MESH_A;\nenv MESH_B;$/m, 'env_to_nginx';
    unlike $conf, qr/location \//, 'no_root_location';
};

subtest 'plan forms' => sub {
    my $r = Mesh::Fixture::run('t/fixtures/no-plan.tt');
    is $r->{code}, 0, "'no_plan' suite passes" or diag(Mesh::Fixture::show($r));
    like $r->{out}, qr/^1\.\.2$/m, 'and prints its plan at the end';
    $r = Mesh::Fixture::run('t/fixtures/skip-all.tt');
    is $r->{code}, 0, 'plan skip_all passes';
    like $r->{out}, qr/^1\.\.0 # SKIP nothing to do here$/m, 'as a skip';
};

subtest '$TEST_NGINX_* expansion' => sub {
    local $ENV{TEST_NGINX_UNIT_X} = 'forty-two';
    is Test::Nginx::Util::expand_env_in_text(
        'a $TEST_NGINX_UNIT_X b', 'unit'), 'a forty-two b', 'env value';
    my %ports;
    my $t = Test::Nginx::Util::expand_env_in_text(
        '$TEST_NGINX_RAND_PORT_1 $TEST_NGINX_RAND_PORT_1 '
        . '$TEST_NGINX_RAND_PORT_2', 'unit', \%ports);
    my @p = split ' ', $t;
    is $p[0], $p[1], 'same RAND_PORT name, same port';
    isnt $p[0], $p[2], 'other name, other port';
    like $p[0], qr/^\d+$/, 'a port number';
};

subtest 'small parsers' => sub {
    is_deeply Test::Nginx::Util::parse_headers("A: 1\n!B\nC : x: y\n"),
        [['A', '1'], ['B', undef], ['C', 'x: y']], 'response_headers spec';
    is Test::Nginx::Util::parse_time('50ms'), 0.05, 'ms';
    is Test::Nginx::Util::parse_time('2s'), 2, 's';
    is Test::Nginx::Util::parse_time('1.5'), 1.5, 'plain seconds';
};

subtest 'request building' => sub {
    my ($r) = Test::Nginx::Request::build('u', "GET /t\n", '', 'close');
    is $r, "GET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        'GET with default version, Host, Connection';
    ($r) = Test::Nginx::Request::build('u', "POST /p HTTP/1.0\nhello world\n",
                                       "# note\nX-A: 1\nHost: h", 'close');
    is $r, "POST /p HTTP/1.0\r\nConnection: close\r\nX-A: 1\r\nHost: h\r\n"
        . "Content-Length: 11\r\n\r\nhello world",
        'body trimmed and counted, comments skipped, Host kept';
    my $pk = Test::Nginx::Request::_from_packets('u',
        ["POST /p\nhe", { value => 'llo', delay_before => 0.1 }], '',
        'close');
    is scalar @$pk, 2, 'two packets';
    like $pk->[0]{value}, qr/^POST \/p HTTP\/1\.1\r\n.*\r\n\r\nhe$/s,
        'first packet: request line, headers, start of body';
    is_deeply $pk->[1], { value => 'llo', delay_before => 0.1 },
        'second packet keeps its delay';
};

subtest 'response parsing' => sub {
    my ($res, $hdr, $left, $err) = Test::Nginx::Request::parse_response(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT");
    is $res->code, 200, 'status';
    is $res->content, 'hello world', 'chunks joined';
    is $left, 'NEXT', 'bytes after the last chunk are left over';
    like $hdr, qr/^HTTP\/1\.1 200 OK\r\nTransfer-Encoding/, 'raw headers';
    (undef, undef, undef, $err) = Test::Nginx::Request::parse_response(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    like $err, qr/not enough octets/, 'truncated chunk is an error';
    ($res, undef, $left) = Test::Nginx::Request::parse_response(
        "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nabHTTP/1.1");
    is $res->content, 'ab', 'Content-Length cuts the body';
    is $left, 'HTTP/1.1', 'pipelined rest';
};

subtest 'valgrind reports' => sub {
    my @p = Mesh::Valgrind::problems("$fixtures/valgrind-mesh-leak.log",
                                     qr/ngx_http_mesh/);
    is scalar @p, 1, 'only the leak in ngx_http_mesh code counts';
    like $p[0], qr/ngx_http_mesh_registry_parse/, 'the right record';
    is scalar(Mesh::Valgrind::problems("$fixtures/valgrind-mesh-leak.log",
                                       qr/./)), 2, 'any leak counts with .';
    is_deeply [Mesh::Valgrind::problems("$fixtures/valgrind-core-only.log",
                                        qr/ngx_http_mesh/)], [],
        'core leak and a TERM exit are not problems';
    @p = Mesh::Valgrind::problems("$fixtures/valgrind-invalid.log", qr/^$/);
    is scalar @p, 2, 'invalid read and uninitialised use, per pid';
    is_deeply [Mesh::Valgrind::problems('/nonexistent', qr/./)], [],
        'no report, no problems';
};

subtest 'ports' => sub {
    my %seen = map { Mesh::Proc::free_port() => 1 } 1 .. 20;
    is scalar keys %seen, 20, 'free_port never repeats a port';
    my $port = Mesh::Proc::free_port();
    ok !Mesh::Proc::port_listening($port), 'free port is not listening';
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $port, Listen => 1, Proto => 'tcp') or die $!;
    ok Mesh::Proc::port_listening($port), 'listening port is seen';
    ok Mesh::Proc::port_accepts($port), 'and accepts';
    close $l;
};

done_testing();
