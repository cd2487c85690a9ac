# The Compose mesh, for real, with podman + podman-compose (root only):
# tools/compose.sh builds docker/docker-compose.yml's images from a local
# debootstrap base (no registry), brings the mesh up as a project of its
# own on free ports, waits until every health check passes, routes a task
# to each node through the published port, serves the dashboard, kills a
# node's container and sees its tasks fail over to the other node (and the
# node come back when its container starts again), then takes it all down
# and checks that no container, network or volume of the project is left
# (the images stay: they are the cache).  The secret is generated into the
# volume, never into an image.
#
# Not under valgrind: nginx and the agents run inside the containers.
# Cold (no base image, no image cache) it takes a few minutes more than
# warm: the base and the builds are measured and reported by `note`.

use strict;
use warnings;

use Cwd ();
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep time);

use Mesh::Proc;
use Mesh::Stream;

plan skip_all => 'runs containers with podman: run as root' if $> != 0;

my $TOP     = Cwd::abs_path("$0/../..");
my $COMPOSE = "$TOP/tools/compose.sh";
my $PROJECT = "mesh155-$$";
my $HTTP    = Mesh::Proc::free_port();
my $GRPC    = Mesh::Proc::free_port();
my %CTR     = map { $_ => "${PROJECT}_${_}_1" }
    qw(secret redis orchestrator node-1 node-2);
my $upped;

$ENV{MESH_COMPOSE_PROJECT} = $PROJECT;
$ENV{MESH_HTTP_PORT}       = $HTTP;
$ENV{MESH_GRPC_PORT}       = $GRPC;
$ENV{CONTAINERS_CONF}      = ($ENV{MESH_BUILD} // "$TOP/build")
    . '/compose/containers.conf';

sub sh {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

sub timed {
    my ($what, $cmd) = @_;
    my $t0 = time;
    my ($rc, $out) = sh($cmd);
    is($rc, 0, $what) or diag($out);
    note(sprintf('%s: %.0f s', $what, time - $t0));
    return $out;
}

sub project_left {
    my %left;
    for my $kind (qw(ps network volume)) {
        my $cmd = $kind eq 'ps' ? 'podman ps -a' : "podman $kind ls";
        my ($rc, $out) = sh("$cmd -q --filter"
                            . " label=io.podman.compose.project=$PROJECT");
        $left{$kind} = $rc == 0 ? $out : "($cmd failed: $out)";
    }
    return \%left;
}

my $PARENT = $$;
END {
    if ($$ == $PARENT && $upped) {
        my ($rc, $out) = sh("$COMPOSE down");
        diag("cleanup: compose down failed: $out") if $rc;
    }
}

# The node list as an operator reads it: from the orchestrator's own
# machine (conf/nginx.conf opens management reads to loopback only; the
# published port is not).
sub nodes {
    my ($rc, $body) = sh("podman exec $CTR{orchestrator} curl -fsS "
                         . "http://127.0.0.1:8080/mesh/v1/nodes");
    return {} unless $rc == 0;
    my $j = eval { JSON::PP::decode_json($body) } or return {};
    return { map { $_->{node_id} => $_ } @{ $j->{nodes} // [] } };
}

sub task {
    my ($model) = @_;
    return Mesh::Stream::request(port => $HTTP, method => 'POST',
        path => '/api/generate', timeout => 30,
        body => qq({"model":"$model","prompt":"hello compose"}));
}

sub served_by {
    my ($model, $node, $what) = @_;
    my $r = task($model);
    is($r->{status}, 200, "$what: $model answers 200");
    is($r->{headers}{'x-mesh-node'}, $node, "$what: served by $node");
    like($r->{lines}[-1] // '', qr/"done":true/, "$what: the stream ends done");
    ok($r->{clean_end}, "$what: with a clean end");
}

# ---- build and up ----------------------------------------------------------

my ($rc) = sh('command -v podman && command -v podman-compose'
              . ' && command -v debootstrap');
is($rc, 0, 'podman, podman-compose and debootstrap are installed')
    or BAIL_OUT('tools/install-deps.sh compose installs them');

timed('the base image (debootstrap, cached in build/compose)',
      "$COMPOSE base");
timed('the images build', "$COMPOSE build");
$upped = 1;
timed('up -d', "$COMPOSE up -d");

# podman runs a health check only when asked (no systemd timers here):
# run each one, as the engine would, until it passes
for my $svc (qw(redis orchestrator node-1 node-2)) {
    my $ok = Mesh::Proc::wait_for(sub {
        return (sh("podman healthcheck run $CTR{$svc}"))[0] == 0;
    }, 120);
    ok($ok, "$svc: its health check passes");
}
my (undef, $st) = sh("podman inspect -f '{{.State.Status}} {{.State.ExitCode}}'"
                     . " $CTR{secret}");
is($st, "exited 0\n", 'the secret service wrote the secret and exited 0');

# ---- the secret: in the volume, not in an image ----------------------------

my (undef, $sec) = sh("podman exec $CTR{'node-1'}"
                      . " stat -c '%a %U' /run/mesh-secret/mesh.secret");
is($sec, "640 echo-agent\n", 'the secret is 0640, the agents\' user');
my (undef, $s1) = sh("podman exec $CTR{'node-1'} cat /run/mesh-secret/mesh.secret");
like($s1, qr/\A[0-9a-f]{64}\z/, 'a random secret of 32 bytes');
for my $img (qw(node orchestrator redis)) {
    my ($r, $out) = sh("podman run --rm --entrypoint /bin/sh"
                       . " localhost/echo-mesh/$img:latest -c"
                       . " 'ls -A /run/mesh-secret 2>/dev/null; grep -rlF $s1"
                       . " /etc /srv /usr/local /usr/share/echo-system"
                       . " 2>/dev/null; true'");
    is($out, '', "the $img image holds no secret");
}

# ---- the mesh --------------------------------------------------------------

my $joined = Mesh::Proc::wait_for(sub {
    my $n = nodes();
    return $n->{'node-1'} && $n->{'node-1'}{up}
        && $n->{'node-2'} && $n->{'node-2'}{up};
}, 60);
ok($joined, 'both nodes joined the orchestrator');
my ($list_code) = Mesh::Proc::http_get($HTTP, '/mesh/v1/nodes');
is($list_code, '403', 'the node list is not open on the published port');
my $n = nodes();
like($n->{'node-1'}{host} // '', qr/^10\.\d+\.\d+\.\d+$/,
     'node-1 registered its compose network address');

served_by('llava:7b', 'node-1', 'a task for node-1');
served_by('codellama:7b', 'node-2', 'a task for node-2');

my ($dcode, $index) = Mesh::Proc::http_get($HTTP, '/');
is($dcode, 200, 'the dashboard answers on the published port');
like($index // '', qr{<title>Echo-System mesh</title>}, 'it is the dashboard');

# ---- failover --------------------------------------------------------------

($rc, my $out) = sh("podman kill $CTR{'node-1'}");
is($rc, 0, 'node-1\'s container is killed') or diag($out);
for my $i (1 .. 3) {
    served_by('mistral:7b', 'node-2', "after the kill, task $i");
}
ok(Mesh::Proc::wait_for(sub {
    my $n1 = nodes()->{'node-1'};
    return $n1 && !$n1->{up};
}, 30), 'node-1 is listed down');
($rc, $out) = sh("podman start $CTR{'node-1'}");
is($rc, 0, 'node-1\'s container starts again') or diag($out);
ok(Mesh::Proc::wait_for(sub {
    my $n1 = nodes()->{'node-1'};
    return $n1 && $n1->{up};
}, 60), 'node-1 rejoins');
served_by('llava:7b', 'node-1', 'back on node-1');

# nginx logs to the container's stderr; a failed connect to the killed
# node is an [error], anything worse is a fault
(undef, $out) = sh("podman logs $CTR{orchestrator}");
unlike($out, qr/\[(?:alert|crit|emerg)\]/, 'nginx logged no alert');
like($out, qr/start worker process/, 'and those are nginx\'s logs');

# ---- down: nothing of the project is left ---------------------------------

timed('down', "$COMPOSE down");
$upped = 0;
my $left = project_left();
is($left->{ps}, '', 'no container of the project is left');
is($left->{network}, '', 'no network of the project is left');
is($left->{volume}, '', 'no volume of the project is left');
(undef, $out) = sh("podman ps -a --format '{{.Names}}'");
unlike($out, qr/^\Q$PROJECT\E_/m, 'podman ps -a names none of them');

done_testing();
