# The Debian packages, installed on this machine for real (root only):
# make deb builds libnginx-mod-http-mesh and echo-agent; they install,
# nginx starts from Debian's own /etc/nginx with the module, the agent
# starts from its unit's ExecStart line as the unit's user, a task is
# routed through both, and the example site serves the packaged
# dashboard; a bumped version upgrades over them (the secret and an
# edited conffile kept); purge leaves nothing behind, nothing running.  Other suites run /usr/sbin/nginx from their own prefixes at
# the same time: this one never touches the nginx binary or its package.

use strict;
use warnings;

use Cwd ();
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(sleep time);

use Mesh::Proc;
use Mesh::Stream;

plan skip_all => 'installs packages: run as root' if $> != 0;
for my $p (qw(echo-agent libnginx-mod-http-mesh)) {
    plan skip_all => "$p is installed already: this test would replace it"
        if `dpkg-query -W -f='\${Status}' $p 2>/dev/null` =~ /installed/;
}

my $TOP  = Cwd::abs_path("$0/../..");
my $WORK = tempdir('mesh-deb-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $SITE = '/etc/nginx/sites-enabled/echo-mesh-test';
my $NGX_SECRET = '/etc/nginx/mesh.secret';
my $V1 = '0.1.0';
my $V2 = '0.1.0+t1';
my ($nginx, $agent);

sub sh {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return undef;
    local $/;
    return <$fh>;
}

sub spew {
    my ($f, $text) = @_;
    open my $fh, '>', $f or die "$f: $!";
    print $fh $text;
    close $fh;
}

sub build {
    my ($version) = @_;
    my $dir = "$WORK/$version";
    my ($rc, $out) = sh("make -C $TOP --no-print-directory deb"
                        . " DEB_DIR=$dir DEB_VERSION=$version");
    is($rc, 0, "make deb DEB_VERSION=$version") or diag($out);
    unlike($out, qr/^[EW]: /m, 'lintian: no error or warning');
    return map { "$dir/${_}_${version}_amd64.deb" }
        qw(libnginx-mod-http-mesh echo-agent);
}

sub cleanup {
    $agent->stop if $agent && $agent->alive;
    $nginx->stop if $nginx && $nginx->alive;
    unlink $SITE, $NGX_SECRET;
    sh('dpkg --purge echo-agent libnginx-mod-http-mesh');
    sh('deluser --system echo-agent') if getpwnam('echo-agent');
}

my $PARENT = $$;
END { cleanup() if $$ == $PARENT }

# the unit's ExecStart line, run as its User= (no systemd here)
sub start_agent {
    my $unit = slurp('/lib/systemd/system/echo-agent.service') // '';
    my ($exec) = $unit =~ /^ExecStart=(.+)$/m;
    my ($user) = $unit =~ /^User=(.+)$/m;
    ok($exec && $user, "the unit runs \"$exec\" as $user") or return;
    return Mesh::Proc->start(
        name  => 'echo-agent-deb',
        cmd   => ['setpriv', "--reuid=$user", "--regid=$user",
                  '--init-groups', split(' ', $exec)],
        valgrind => 0,
    );
}

sub routed_task {
    my ($port, $what) = @_;
    my $joined = Mesh::Proc::wait_for(sub {
        my (undef, $body) = Mesh::Proc::http_get($port, '/mesh/v1/nodes');
        return ($body // '') =~ /"deb-node"/;
    }, 20);
    ok($joined, "$what: the agent joined the mesh");
    my $r = Mesh::Stream::request(port => $port, method => 'POST',
        path => '/mesh/v1/tasks',
        body => '{"type":"text","prompt":"hello from a package"}');
    is($r->{status}, 200, "$what: the task answers 200");
    is($r->{headers}{'x-mesh-node'}, 'deb-node', "$what: served by deb-node");
    like($r->{lines}[0] // '', qr/"event":"routed".*"node":"deb-node"/,
         "$what: the routed line comes first");
    like($r->{lines}[-1] // '', qr/"done":true/, "$what: and the stream ends done");
    ok($r->{clean_end}, "$what: with a clean end");
}

my @v1 = build($V1);
my @v2 = build($V2);

# install
my ($rc, $out) = sh("dpkg -i @v1");
is($rc, 0, 'dpkg -i both packages') or diag($out);
is(readlink('/etc/nginx/modules-enabled/50-mod-http-mesh.conf'),
   '/usr/share/nginx/modules-available/mod-http-mesh.conf',
   'the module is enabled the Debian way');
is(slurp('/usr/share/nginx/modules-available/mod-http-mesh.conf'),
   "load_module modules/ngx_http_mesh_module.so;\n", 'its load file');
ok(-f '/usr/lib/nginx/modules/ngx_http_mesh_module.so', 'the .so in place');
like(`dpkg-query -W -f='\${Depends}' libnginx-mod-http-mesh`,
     qr/\bnginx-abi-[\d.]+-\d+\b/, 'it depends on the nginx ABI');
my @pw = getpwnam('echo-agent');
ok(@pw, 'the echo-agent system user exists');
my @st = stat('/etc/echo-agent/secret');
is(sprintf('%04o', $st[2] & 07777), '0640', 'the secret is 0640');
is($st[4], 0, 'owned by root');
is($st[5], $pw[3], 'group echo-agent');
my $secret = slurp('/etc/echo-agent/secret');
like($secret, qr/^[A-Za-z0-9+\/=]{40,}\n\z/, 'a random secret');
like(`/usr/sbin/echo-agent --help`, qr/^Usage: echo-agent/, '--help');
is((sh('man -w echo-agent'))[0], 0, 'the man page is installed');

# the orchestrator: Debian's nginx.conf, the example site on a free port
my $redis = Mesh::Proc::start_redis();
my $sim = Mesh::Proc::start_sim();
my $port = Mesh::Proc::free_port();
my $aport = Mesh::Proc::free_port();
my $site = slurp('/usr/share/doc/libnginx-mod-http-mesh/examples/echo-mesh');
ok($site =~ s/listen\s+8080;/listen 127.0.0.1:$port;/
   && $site =~ s{redis://127\.0\.0\.1:6379}{'redis://127.0.0.1:' . $redis->port}e,
   'the example site, on test ports');
spew($SITE, $site);
spew($NGX_SECRET, $secret);
chmod 0600, $NGX_SECRET;
($rc, $out) = sh('/usr/sbin/nginx -t');
is($rc, 0, 'nginx -t on /etc/nginx') or diag($out);
# nginx.service's ExecStart, in the foreground
$nginx = Mesh::Proc->start(name => 'nginx-deb', valgrind => 0,
    cmd => ['/usr/sbin/nginx', '-g', 'daemon off; master_process on;'],
    port => $port);

# the dashboard, served by the example site from the package's files
my ($dcode, $index) = Mesh::Proc::http_get($port, '/');
is($dcode, 200, 'the dashboard index answers 200');
like($index // '', qr{<title>Echo-System mesh</title>},
     'it is the dashboard');
my ($asset) = ($index // '') =~ m{src="(/assets/[^"]+\.js)"};
ok($asset, 'the index names its script in /assets/');
ok($asset && -f "/usr/share/echo-system/dashboard$asset",
   'the script is a file of the package');
my ($acode, $abody) = Mesh::Proc::http_get($port, $asset // '/assets/none');
is($acode, 200, "$asset answers 200");
is($abody, slurp("/usr/share/echo-system/dashboard" . ($asset // '')),
   'with the installed file');

# the agent: the conffile edited as an admin would
my $conf = '/etc/echo-agent/echo-agent.conf';
my $c = slurp($conf);
$c =~ s/^#orchestrator = .*$/orchestrator = http:\/\/127.0.0.1:$port/m;
$c =~ s/^listen = .*$/listen = 127.0.0.1:$aport/m;
$c =~ s/^ollama = .*$/ollama = http:\/\/127.0.0.1:@{[$sim->port]}/m;
$c =~ s/^#node_id = .*$/node_id = deb-node/m;
$c =~ s/^heartbeat_interval = .*$/heartbeat_interval = 1s/m;
spew($conf, $c);
$agent = start_agent();
routed_task($port, $V1);
ok($agent->stop, 'the agent drains and exits on SIGTERM');

# upgrade
($rc, $out) = sh("dpkg -i @v2");
is($rc, 0, "dpkg -i $V2 over $V1") or diag($out);
is(`dpkg-query -W -f='\${Version}' echo-agent`, $V2, "echo-agent is $V2");
is(slurp('/etc/echo-agent/secret'), $secret, 'the secret is unchanged');
is(slurp($conf), $c, 'the edited conffile is kept');
ok(-l '/etc/nginx/modules-enabled/50-mod-http-mesh.conf',
   'the module stays enabled');
$agent = start_agent();
routed_task($port, $V2);
ok($agent->stop, 'the agent stops');
ok($nginx->stop, 'nginx stops');

# purge
unlink $SITE, $NGX_SECRET;
($rc, $out) = sh('dpkg --purge echo-agent libnginx-mod-http-mesh');
is($rc, 0, 'dpkg --purge both') or diag($out);
ok(!-e $_, "$_ is gone") for '/etc/echo-agent', '/usr/sbin/echo-agent',
    '/usr/lib/nginx/modules/ngx_http_mesh_module.so',
    '/lib/systemd/system/echo-agent.service',
    '/usr/share/echo-system/dashboard';
ok(!-e '/etc/nginx/modules-enabled/50-mod-http-mesh.conf'
   && !-e '/etc/nginx/modules-enabled/50-mod-http-mesh.conf.removed',
   'and the modules-enabled link');
is(`pgrep -f '^(/usr/sbin/echo-agent|nginx: master process /usr/sbin/nginx -g)'`,
   '', 'nothing of theirs is running');
is((sh('/usr/sbin/nginx -t'))[0], 0, "Debian's nginx still passes nginx -t");

done_testing();
