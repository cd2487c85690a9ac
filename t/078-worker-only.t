# The registry's timers (health sweep, resync, load flush) and the queue
# run only in worker processes.  nginx runs the init_process hook of
# every module in its cache manager and cache loader too; a
# proxy_cache_path in the configuration starts them.  A sweep there has
# no Redis link, so it would not know that Redis is away: during an
# outage it would mark silent nodes down, while the workers keep them up
# (agents cannot heartbeat, they are not dead).
#
# The block runs its own nginx, master on (there is no cache manager in
# single-process mode, which the runner uses under valgrind), on the
# runner's port and server root, the same way in every mode, under
# memcheck with TEST_NGINX_USE_VALGRIND.
use strict;
use warnings;

use Time::HiRes ();

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;

our ($Nginx, @Looks);

my $HTTP = "    mesh_heartbeat_interval 300ms;\n"
         . "    proxy_cache_path \$TEST_NGINX_SERVER_ROOT/cache "
         . "keys_zone=mesh_cache:1m;\n";

Mesh::Orch::suite(http_extra => $HTTP);
Mesh::Orch::sim('S', '--model', 'mistral:7b', '--tokens', 2);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);
add_test_cleanup_handler(
    sub { Mesh::Chaos::redis_restart() unless $Mesh::Orch::Redis->alive });
no_nginx_manager();

# nginx with a cache (so a cache manager runs beside the worker), node
# "a" joined with one heartbeat, then Redis killed: returns once the
# worker knows, after looking at node "a" every 100 ms for 3 s (scaled)
# of the outage (@Looks: its entries of /mesh/v1/nodes).
sub outage {
    $Nginx = Mesh::Chaos::runner_nginx(Mesh::Orch::http_config($HTTP));
    Mesh::Orch::wait_until(sub { Mesh::Chaos::redis_state()->{subscribed} },
                           15);
    Mesh::Chaos::heartbeat(node_id => 'a', port => $Mesh::Orch::Sims{S}->port,
                           models => [['mistral:7b', 'text']]) == 200
        or Test::More::diag('node a did not join');
    Mesh::Chaos::redis_kill();
    Mesh::Orch::wait_until(sub {
        my $st = Mesh::Chaos::redis_state();
        return defined $st->{connected} && !$st->{connected};
    }, 5) or Test::More::diag('the worker never saw Redis go');
    @Looks = ();
    my $until = Time::HiRes::time() + 3 * $Mesh::Orch::Slow;
    while (Time::HiRes::time() < $until) {
        push @Looks, Mesh::Chaos::node('a');
        Time::HiRes::sleep(0.1);
    }
}

# Node "a" listed up in every look, and silent beyond the liveness
# window (900 ms) in the last one: only the outage keeps it up.
sub stayed_up {
    my @down = grep { !$_->{up} } @Looks;
    $Mesh::Checks::Why = @Looks . ' looks, ' . @down . ' with node a not up'
        . ', last seen ' . ($Looks[-1]{last_seen_ago_ms} // '?')
        . ' ms ago in the last';
    return @Looks >= 10 && !@down && $Looks[-1]{last_seen_ago_ms} > 900;
}

# The processes nginx's master runs: the worker, the cache manager (and
# the cache loader, during its first minute).
sub children {
    return scalar Mesh::Chaos::workers($Nginx);
}

# a fresh server root for the file
Mesh::Chaos::fresh_server_root();

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: Redis away with a cache manager running: silent nodes stay up, tasks still routed
--- init
main::outage();
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"cached mesh","stream":false}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] cached","done":true
--- checks
main::children() >= 2
main::stayed_up()
Mesh::Chaos::node('a')->{up} == 1
Mesh::Chaos::redis_state()->{connected} == 0
$Nginx->stop
--- no_error_log
is down
no heartbeat for
[crit]
