# The Redis adapter (ngx_http_mesh_redis.c): both per-worker connections
# (commands, and the subscriber on mesh:events) through password, database,
# unix socket, outages, a frozen Redis and a server that never answers.
#
# Each block starts what it needs in --- init and waits for the state it
# tests by polling /mesh/status, so blocks stand alone in every mode
# (plain, TEST_NGINX_USE_HUP=1, TEST_NGINX_USE_VALGRIND=1).  Repeating a
# block would only re-read the same state, hence repeat_each(1).
use strict;
use warnings;

use File::Spec;
use Time::HiRes qw(sleep time);

use Test::Nginx::Socket;
use Mesh::Proc;

our %Port = map { $_ => Mesh::Proc::free_port() }
    qw(main auth user badauth baddb flap frozen silent);
our %Proc;
our $Sock = File::Spec->catfile(Mesh::Proc::log_dir(), 'redis.sock');
our $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;

$ENV{"TEST_NGINX_REDIS_\U$_\E_PORT"} = $Port{$_} for keys %Port;
$ENV{TEST_NGINX_REDIS_PORT} = $Port{main};
$ENV{TEST_NGINX_REDIS_SOCK} = $Sock;
# The blocks that do not test a deadline: Redis answers at once, but nginx
# under memcheck on a busy machine can take longer than the default 2 s to
# read its handshake replies (a timeout there is a reconnect and a warning
# those blocks do not expect), as Mesh::Orch does.
$ENV{TEST_NGINX_REDIS_TIMEOUT} = $ENV{TEST_NGINX_USE_VALGRIND}
    ? ' timeout=10s' : '';

# a server that accepts connections and never reads nor answers
our $SILENT = <<'_EOS_';
use IO::Socket::INET;
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', Listen => 64,
                              LocalPort => $ARGV[0], ReuseAddr => 1)
    or die "listen: $!";
my @held;
$| = 1;
while (my $c = $l->accept) { push @held, $c; print "accepted\n" }
_EOS_

sub redis_up {
    my ($name, @extra) = @_;
    return $Proc{$name} if $Proc{$name} && $Proc{$name}->alive;
    my $port = $Port{$name} // 0;
    my $dir  = File::Spec->catdir(Mesh::Proc::log_dir(), "redis-$name");
    mkdir $dir;
    unlink $Sock if $name eq 'unix';
    $Proc{$name} = Mesh::Proc->start(
        name     => "redis-$name",
        cmd      => ['/usr/bin/redis-server', '--bind', '127.0.0.1',
                     '--port', $port, '--save', '', '--appendonly', 'no',
                     '--dir', $dir, '--daemonize', 'no', @extra],
        ($port ? (port => $port) : (ready => sub { -S $Sock })),
        valgrind => 0,
    );
}

sub redis_down {
    my ($name) = @_;
    my $p = delete $Proc{$name} or return;
    $p->signal('CONT');
    $p->stop;
}

sub silent_up {
    return if $Proc{silent} && $Proc{silent}->alive;
    $Proc{silent} = Mesh::Proc->start(
        name => 'silent',
        cmd  => [$^X, '-e', $SILENT, $Port{silent}],
        port => $Port{silent},
    );
}

# The "redis" object of this worker's /mesh/status, '' when unreachable.
sub redis_status {
    my (undef, $body) = Mesh::Proc::http_get($ENV{TEST_NGINX_SERVER_PORT},
                                             '/mesh/status');
    my ($obj) = ($body // '') =~ /"redis":(\{[^}]*\})/;
    return $obj // '';
}

sub wait_until {
    my ($check, $limit) = @_;
    my $deadline = time + $limit * $Slow;
    while (time < $deadline) {
        return 1 if $check->();
        sleep 0.1;
    }
    return 0;
}

# Polls /mesh/status until its redis object matches $re.  A miss is not
# reported here: the block's own checks then fail with the real status.
sub wait_status {
    my ($re, $limit) = @_;
    return wait_until(sub { redis_status() =~ $re }, $limit // 15);
}

sub wait_log {
    my ($re, $limit) = @_;
    return wait_until(sub {
        open my $in, '<', server_root() . '/logs/error.log' or return 0;
        local $/;
        return (<$in> // '') =~ $re;
    }, $limit // 15);
}

# Freezes the "frozen" Redis (SIGSTOP keeps its sockets open, nobody
# answers) until a command waited $ms, then thaws it and waits for the
# rebuilt links.
sub freeze_redis {
    my ($ms) = @_;
    redis_up('frozen');
    wait_status(ready());
    $Proc{frozen}->signal('STOP');
    wait_log(qr/no reply within $ms ms/, 30);
    $Proc{frozen}->signal('CONT');
    wait_status(qr/"connected":true,"subscribed":true,"reconnects":[1-9]/);
}

# connected, subscribed, and no command still waiting for its reply (a
# reconnect sends a few: a status read at once could see them pending)
sub ready    { qr/"connected":true,"subscribed":true,"reconnects":\d+,"pending":0,/ }
sub all_down { qr/"connected":false,"subscribed":false/ }
# both links refused with $err, nothing in flight: one link can fail
# while the other's command is still unanswered ("pending":1)
sub refused {
    my ($err) = @_;
    return qr/"connected":false,"subscribed":false,"reconnects":0,"pending":0,"last_error":"\Q$err\E/;
}

# --- redis_cli: "<redis name> <command...>"; --- redis_cli_like: one
# pattern a line, each must match the output.  One test a repetition.
add_response_body_check(sub {
    my ($block, $body, $idx, $rep, $dry) = @_;
    my $spec = $block->redis_cli or return;
    my $tb = Test::More->builder;
    return $tb->skip($dry) if $dry;
    my ($name, @cmd) = split ' ', $spec;
    my @argv = ('redis-cli', $name eq 'unix' ? ('-s', $Sock)
                                             : ('-p', $Port{$name}), @cmd);
    my $out = '';
    if (open my $cli, '-|', @argv) {
        local $/;
        $out = <$cli> // '';
        close $cli;
    }
    my @miss = grep { $out !~ /$_/m } grep { length }
        split /\n/, $block->redis_cli_like // '';
    $tb->ok(!@miss, $block->name . " - redis-cli @cmd matches")
        or Test::More::diag("missing: @miss\noutput:\n$out");
});

END {
    local $?;
    my @procs = grep { $_->alive } values %Proc;
    for my $p (@procs) {
        $p->signal('CONT');    # a frozen Redis would not see its TERM
        $p->stop;
    }
}

repeat_each(1);
no_shuffle();

sub checks_in {
    my ($v) = @_;
    return 0 unless defined $v;
    return scalar @$v if ref $v eq 'ARRAY';
    return 1 if ref $v;
    return scalar grep { length } split /\n/, $v;
}

my $tests = 0;
for my $block (blocks()) {
    my $n = checks_in($block->error_log) + checks_in($block->no_error_log);
    if (defined $block->must_die) {
        $tests += 1 + $n;
        next;
    }
    $n += 2;                                      # status, body
    $n += 1 for grep { defined } $block->redis_cli, $block->grep_error_log;
    $tests += repeat_each() * $n;
}
plan tests => $tests;

redis_up('main');

run_tests();

__DATA__

=== TEST 1: both connections up: connected and subscribed to mesh:events
--- http_config
    mesh_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT$TEST_NGINX_REDIS_TIMEOUT;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- init
main::redis_up('main');
main::wait_status(main::ready());
--- request
GET /mesh/status
--- response_body_like: "redis":\{"connected":true,"subscribed":true,"reconnects":0,"pending":0,"last_error":""\}
--- redis_cli: main PUBSUB NUMSUB mesh:events
--- redis_cli_like
^mesh:events$
^[1-9]$
--- no_error_log
[error]
[warn]



=== TEST 2: a host name is resolved at startup (localhost)
--- http_config
    mesh_registry redis://localhost:$TEST_NGINX_REDIS_PORT$TEST_NGINX_REDIS_TIMEOUT;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- init
main::redis_up('main');
main::wait_status(main::ready());
--- request
GET /mesh/status
--- response_body_like: "host":"localhost","port":\d+.*"redis":\{"connected":true,"subscribed":true,
--- no_error_log
[error]



=== TEST 3: the database is selected on both connections
--- http_config
    mesh_registry redis://127.0.0.1:$TEST_NGINX_REDIS_PORT/3$TEST_NGINX_REDIS_TIMEOUT;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- init
main::redis_up('main');
main::wait_status(main::ready());
--- request
GET /mesh/status
--- response_body_like: "db":3,.*"redis":\{"connected":true,"subscribed":true,
--- redis_cli: main CLIENT LIST
--- redis_cli_like
 db=3 sub=0\s
 db=3 sub=1\s.* cmd=subscribe\s
--- no_error_log
[error]



=== TEST 4: a database Redis does not have: a clear error, not connected
--- http_config
    mesh_registry redis://127.0.0.1:$TEST_NGINX_REDIS_BADDB_PORT/99$TEST_NGINX_REDIS_TIMEOUT;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- init
main::redis_up('baddb');
main::wait_status(main::refused("redis select 99 failed"));
--- request
GET /mesh/status
--- response_body_like: "redis":\{"connected":false,"subscribed":false,"reconnects":0,"pending":0,"last_error":"redis select 99 failed: ERR DB index is out of range
--- error_log
redis select 99 failed: ERR DB index is out of range



=== TEST 5: the right password (AUTH password)
--- http_config
    mesh_registry redis://:s3cret-pass@127.0.0.1:$TEST_NGINX_REDIS_AUTH_PORT$TEST_NGINX_REDIS_TIMEOUT;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- init
main::redis_up('auth', '--requirepass', 's3cret-pass');
main::wait_status(main::ready());
--- request
GET /mesh/status
--- response_body_like: "auth":true.*"redis":\{"connected":true,"subscribed":true,
--- no_error_log
[error]
s3cret-pass



=== TEST 6: an ACL user and its password (AUTH user password)
--- http_config
    mesh_registry redis://mesh:user-pass@127.0.0.1:$TEST_NGINX_REDIS_USER_PORT$TEST_NGINX_REDIS_TIMEOUT;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- init
main::redis_up('user', '--user', 'default', 'off',
               '--user', qw(mesh on >user-pass ~* &* +@all));
main::wait_status(main::ready());
--- request
GET /mesh/status
--- response_body_like: "redis":\{"connected":true,"subscribed":true,
--- redis_cli: user --user mesh --pass user-pass --no-auth-warning CLIENT LIST
--- redis_cli_like
 cmd=subscribe user=mesh\s
--- no_error_log
[error]



=== TEST 7: a wrong password: logged clearly, not connected, no crash
--- http_config
    mesh_registry redis://:wrong-pass@127.0.0.1:$TEST_NGINX_REDIS_BADAUTH_PORT$TEST_NGINX_REDIS_TIMEOUT;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- init
main::redis_up('badauth', '--requirepass', 's3cret-pass');
main::wait_status(main::refused("redis auth failed: WRONGPASS"));
# the status turns "refused" when the first link fails; under valgrind the
# command link can still be in its handshake then
main::wait_log(qr/redis auth failed: WRONGPASS .* \(command connection to /);
--- request
GET /mesh/status
--- response_body_like: "redis":\{"connected":false,"subscribed":false,"reconnects":0,"pending":0,"last_error":"redis auth failed: WRONGPASS
--- error_log eval
[qr/\[error\] .*mesh registry: redis auth failed: WRONGPASS .* \(command connection to 127\.0\.0\.1:\d+\)/]
--- no_error_log
wrong-pass



=== TEST 8: a unix socket
--- http_config
    mesh_registry unix:$TEST_NGINX_REDIS_SOCK$TEST_NGINX_REDIS_TIMEOUT;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- init
main::redis_up('unix', '--unixsocket', $main::Sock,
               '--unixsocketperm', '700');
main::wait_status(main::ready());
--- request
GET /mesh/status
--- response_body_like: "unix":"[^"]+redis\.sock".*"redis":\{"connected":true,"subscribed":true,
--- redis_cli: unix PUBSUB NUMSUB mesh:events
--- redis_cli_like
^[1-9]$
--- no_error_log
[error]



=== TEST 9: Redis stops: disconnected, one warning, the worker serves on
After "lost", the refused reconnects make one more warning, then only debug
lines.  (A slow start, e.g. under valgrind, may add one "failed" before.)
--- http_config
    mesh_registry redis://127.0.0.1:$TEST_NGINX_REDIS_FLAP_PORT$TEST_NGINX_REDIS_TIMEOUT;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- init
main::redis_up('flap');
main::wait_status(main::ready());
main::redis_down('flap');
main::wait_status(main::all_down());
# a refused reconnect after the warned one: logged at debug level only
main::wait_log(qr/redis command connection to \S+ failed: Connection refused \(again\)/);
--- request
GET /mesh/status
--- response_body_like: "redis":\{"connected":false,"subscribed":false,"reconnects":0,"pending":0,"last_error":"redis \w+ connection to 127\.0\.0\.1:\d+ (lost: Server closed the connection|failed: Connection refused)"
--- grep_error_log eval: qr/\[warn\] .*redis command connection to \S+ \w+/
--- grep_error_log_out eval
qr/^(?:.* failed\n)?\[warn\] .*redis command connection to \S+ lost\n\[warn\] .*redis command connection to \S+ failed\n\z/
--- no_error_log
[error]



=== TEST 10: Redis comes back on the same port: reconnected, subscribed again
--- http_config
    mesh_registry redis://127.0.0.1:$TEST_NGINX_REDIS_FLAP_PORT$TEST_NGINX_REDIS_TIMEOUT;
--- config
    # not TEST 9's configuration: a fresh worker counts from zero
    location = /mesh/status {
        mesh_status;
    }
--- init
main::redis_up('flap');
main::wait_status(main::ready());
main::redis_down('flap');
main::wait_status(main::all_down());
main::redis_up('flap');
main::wait_status(main::ready());
--- request
GET /mesh/status
--- response_body_like: "redis":\{"connected":true,"subscribed":true,"reconnects":2,"pending":0,"last_error":"[^"]+"\}
--- redis_cli: flap PUBSUB NUMSUB mesh:events
--- redis_cli_like
^1$
--- error_log eval
[qr/\[notice\] .*redis command connection to 127\.0\.0\.1:\d+ restored on attempt \d+/,
 qr/\[notice\] .*redis subscriber connection to 127\.0\.0\.1:\d+ restored on attempt \d+/]
--- no_error_log
[error]



=== TEST 11: a frozen Redis: the command times out, the link is rebuilt
The registry's periodic resync sends commands; SIGSTOP leaves the sockets
open with nobody answering.
--- http_config
    mesh_zone mesh 1m;
    mesh_registry redis://127.0.0.1:$TEST_NGINX_REDIS_FROZEN_PORT;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- init
main::freeze_redis(2000);
--- request
GET /mesh/status
--- response_body_like: "redis":\{"connected":true,"subscribed":true,"reconnects":[1-9]\d*,"pending":\d+,"last_error":"[^"]+"\}
--- error_log eval
[qr/\[warn\] .*redis command connection to 127\.0\.0\.1:\d+: no reply within 2000 ms/,
 qr/\[notice\] .*redis command connection to 127\.0\.0\.1:\d+ restored/]
--- no_error_log
[error]



=== TEST 12: a server that accepts but never answers: timed out, retried
--- http_config
    mesh_registry redis://127.0.0.1:$TEST_NGINX_REDIS_SILENT_PORT;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- log_level: debug
--- init
main::silent_up();
main::wait_log(qr/command connection to \S+ timed out while in handshake \(again\)/, 20);
--- request
GET /mesh/status
--- response_body_like: "redis":\{"connected":false,"subscribed":false,"reconnects":0,"pending":0,"last_error":"redis \w+ connection to 127\.0\.0\.1:\d+ timed out while in handshake"\}
--- error_log eval
[qr/\[warn\] .*redis command connection to \S+ timed out while in handshake$/,
 qr/\[warn\] .*redis subscriber connection to \S+ timed out while in handshake$/,
 qr/\[debug\] .*redis command connection to \S+ timed out while in handshake \(again\)/]
--- no_error_log
[error]



=== TEST 13: an empty registry address is refused at startup
--- http_config
    mesh_registry redis://;
--- config
--- must_die
--- error_log
invalid registry address



=== TEST 14: a registry port out of range is refused at startup
--- http_config
    mesh_registry redis://127.0.0.1:99999;
--- config
--- must_die
--- error_log
invalid registry port



=== TEST 15: a unix socket path longer than sun_path is refused at startup
--- http_config eval
"    mesh_registry unix:/tmp/" . ('x' x 120) . ";"
--- config
--- must_die
--- error_log
is longer than 107 bytes



=== TEST 16: timeout= sets the command deadline: a frozen Redis, 500 ms
--- http_config
    mesh_zone mesh 1m;
    mesh_registry redis://127.0.0.1:$TEST_NGINX_REDIS_FROZEN_PORT timeout=500ms;
--- config
    location = /mesh/status {
        mesh_status;
    }
--- init
main::freeze_redis(500);
--- request
GET /mesh/status
--- response_body_like: "redis":\{"connected":true,"subscribed":true,"reconnects":[1-9]\d*,
--- error_log eval
[qr/\[warn\] .*redis command connection to 127\.0\.0\.1:\d+: no reply within 500 ms/]
--- no_error_log
no reply within 2000 ms
[error]



=== TEST 17: a registry parameter other than timeout= is refused at startup
--- http_config
    mesh_registry redis://127.0.0.1:6379 timeuot=1s;
--- config
--- must_die
--- error_log
invalid parameter "timeuot=1s": expected timeout=<time>



=== TEST 18: a registry timeout out of range is refused at startup
--- http_config
    mesh_registry redis://127.0.0.1:6379 timeout=90s;
--- config
--- must_die
--- error_log
invalid registry timeout "90s": expected 100ms to 60s
