# An agent whose machine has no avahi-daemon, or no D-Bus at all, says so
# once, keeps retrying in the background, and with orchestrator set joins
# and heartbeats as usual.  No root, no network: the system bus is
# pointed (DBUS_SYSTEM_BUS_ADDRESS) at a socket that does not exist, or
# at a private dbus-daemon on which no avahi-daemon runs.  Under
# MESH_VALGRIND=1 the agents run under memcheck.

use strict;
use warnings;

use Test::More;

use Mesh::Agent;
use Mesh::FakeOrchestrator;
use Mesh::Proc;

my $dir = Mesh::Proc::log_dir();
my $SLOW = $ENV{MESH_VALGRIND} ? 3 : 1;

sub check_agent {
    my ($what, $env, $why, $retry) = @_;
    my $orch = Mesh::FakeOrchestrator->start(secret => $Mesh::Agent::SECRET);
    my $agent = Mesh::Agent::start(name => "agent-$what",
        orchestrator => $orch->url, env => $env,
        args => ['--mdns', 'on', '--heartbeat-interval', '1s']);

    ok(Mesh::Proc::wait_for(sub { $agent->log_text =~ $why }, 30 * $SLOW),
       "$what: the agent says why there is no mDNS");
    if ($retry) {
        ok(Mesh::Proc::wait_for(sub {
            my @retries = $agent->log_text =~ /$retry/g;
            return @retries >= 2;
        }, 60 * $SLOW), "$what: and keeps trying in the background");
    }
    my @said = $agent->log_text =~ /warn: mdns: cannot reach avahi-daemon/g;
    is(scalar @said, 1, "$what: once");

    ok(Mesh::Proc::wait_for(sub {
        (grep { $_->{auth_ok} } $orch->heartbeats) >= 3;
    }, 60 * $SLOW), "$what: it heartbeats the configured orchestrator");
    like($agent->log_text, qr/joined the mesh at \Q${\ $orch->url}\E\n/,
         "$what: joined it");
    ok($agent->stop, "$what: drains and exits cleanly");
    $orch->stop;
}

# no bus: the agent's own timer tries again every 5 s
check_agent('no-dbus',
            { DBUS_SYSTEM_BUS_ADDRESS => "unix:path=$dir/no-such-bus" },
            qr/warn: mdns: cannot reach avahi-daemon \(Daemon not running\)/,
            qr/mdns: still unavailable/);

SKIP: {
    skip 'needs dbus-daemon (tools/install-deps.sh test)', 5
        unless -x '/usr/bin/dbus-daemon';
    my $bus = "$dir/bus";
    unlink $bus;
    my $dbus = Mesh::Proc->start(name => 'dbus-daemon', valgrind => 0,
        cmd => ['/usr/bin/dbus-daemon', '--session', '--nofork',
                '--nopidfile', "--address=unix:path=$bus"],
        ready => sub { -S $bus });
    # a bus but no avahi: avahi-client waits on the bus for the daemon's
    # name (AVAHI_CLIENT_NO_FAIL); the heartbeats go on meanwhile
    check_agent('no-avahi', { DBUS_SYSTEM_BUS_ADDRESS => "unix:path=$bus" },
                qr/warn: mdns: cannot reach avahi-daemon \(it is not running\)/);
    $dbus->stop;
}

done_testing();
