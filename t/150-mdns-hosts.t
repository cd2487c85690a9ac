# Zero-config joining across "hosts": network namespaces on one bridge,
# each with its own address, host name, dbus-daemon and avahi-daemon
# (t/lib/Mesh/Netns.pm).  Host o runs Redis and Debian's nginx with the
# module, announced by the shipped conf/echo-mesh.service; hosts a and b
# run a simulator as Ollama and an agent given nothing but the secret
# file.  They find the orchestrator, join and serve routed tasks.  On a
# fourth host, an agent of another mesh and one with a wrong secret do
# not join (and, sharing a node id, their announcements are renamed
# apart).  An impostor orchestrator of the same mesh on a fifth host gets
# the agents' heartbeats while o is cut off, and can do nothing with
# them: tampered or replayed they get 401 from o, and an agent refuses
# them as task credentials.  It answers 200 but cannot sign the reply
# (X-Mesh-Reply-Signature), so the agents do not stay with it: they say
# so once, keep trying, and are back on o when it returns while the
# impostor still answers.  A node whose cable is pulled is marked down and
# rejoins when it is plugged back.  Namespaces, processes and mounts are
# all gone afterwards (checked, and done again in END on any failure).
#
# Needs root (CI runs as root).  MESH_VALGRIND=1 runs the agents under
# memcheck (the agent suites' mode); nginx itself is not run under
# valgrind here: its memcheck mode (master off, one process) is the
# runner's, and these checks need its master and workers as shipped.

use strict;
use warnings;

use Cwd ();
use File::Path qw(make_path);
use JSON::PP ();
use Test::More;
use Time::HiRes qw(sleep time);

use Mesh::Netns;
use Mesh::Proc;

my $why = Mesh::Netns::available();
plan skip_all => $why if $why;

my $TOP = Cwd::abs_path("$0/../..");
my $BUILD = Mesh::Proc::build_dir();
my $AGENT = "$BUILD/bin/echo-agent";
my $SIM = "$BUILD/bin/ollama-sim";
my $VG = $ENV{MESH_VALGRIND} ? 1 : 0;
my $SLOW = $VG ? 3 : 1;          # deadlines only; nothing is timed
my $JSON = JSON::PP->new->canonical;

die "make build first: $AGENT is missing\n" unless -x $AGENT && -x $SIM;

my $net = Mesh::Netns->new;
my $dir = Mesh::Proc::log_dir();

# --- the hosts ---------------------------------------------------------
my $o = $net->host('o', services => ["$TOP/conf/echo-mesh.service"]);
my $ha = $net->host('a');
my $hb = $net->host('b');
my $hd = $net->host('d');
my $hi = $net->host('i');
is($o->ip, '10.250.0.1', 'host o is 10.250.0.1');

sub write_file {
    my ($path, $text, $mode) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    chmod $mode, $path if defined $mode;
}

my $secret = "$dir/mesh.secret";
write_file($secret, "zero-config-secret-0123456789abcdef\n", 0600);
my $wrong = "$dir/wrong.secret";
write_file($wrong, "not-the-mesh-secret-0123456789abcdef\n", 0600);

# --- the orchestrator on o: conf/nginx.conf as shipped, in a prefix ---
my $redis = Mesh::Proc->start(name => 'redis', valgrind => 0,
    cmd => [$o->cmd('/usr/bin/redis-server', '--bind', '127.0.0.1',
                    '--port', '6379', '--save', '', '--appendonly', 'no',
                    '--dir', $dir)],
    ready => sub { $o->capture('redis-cli', 'ping') =~ /PONG/ });

my $prefix = "$dir/nginx";
make_path(map { "$prefix/$_" } qw(conf logs tmp));
system('cp', "$TOP/conf/mesh_proxy.conf", $secret, "$prefix/conf/") == 0
    or die "cp: $?";
open my $in, '<', "$TOP/conf/nginx.conf" or die;
my $conf = do { local $/; <$in> };
close $in;
$conf =~ s{^load_module .*$}{load_module $BUILD/nginx/ngx_http_mesh_module.so;}m
    or die 'no load_module line in conf/nginx.conf';
write_file("$prefix/conf/nginx.conf", $conf);
my $nginx = Mesh::Proc->start(name => 'nginx', valgrind => 0,
    cmd => [$o->cmd('/usr/sbin/nginx', '-p', "$prefix/", '-c',
                    'conf/nginx.conf', '-g', 'daemon off;')],
    ready => sub { ($o->http(GET => 'http://127.0.0.1:8080/mesh/status'))[0]
                   == 200 });

my $ORCH = 'http://' . $o->ip . ':8080';

sub nodes {
    my ($code, $body) = $o->http(GET => 'http://127.0.0.1:8080/mesh/v1/nodes');
    return {} unless $code == 200;
    my $list = eval { $JSON->decode($body) } or return {};
    $list = $list->{nodes} if ref $list eq 'HASH';
    return { map { $_->{node_id} => $_ } @$list };
}

sub wait_for {
    my ($what, $check, $limit) = @_;
    my $ok = Mesh::Proc::wait_for($check, ($limit // 60) * $SLOW);
    ok($ok, $what);
    return $ok;
}

# --- nodes: a simulator as Ollama and an agent with only a secret -----
sub start_agent {
    my ($h, $name, @args) = @_;
    return Mesh::Proc->start(name => $name, prefix => [$h->prefix],
        cmd => [$AGENT, @args], timeout => 30 * $SLOW,
        ready => sub { $_[0]->log_text =~ /listening on/ });
}

my %sim;
for my $h ($ha, $hb) {
    my $model = 'mdns-' . $h->name . ':latest';
    $sim{$h->name} = Mesh::Proc->start(name => 'sim-' . $h->name,
        valgrind => 0, cmd => [$h->cmd($SIM, '--model', $model)],
        ready => sub {
            ($h->http(GET => 'http://127.0.0.1:11434/api/version'))[0]
                == 200 });
}

my $agent_a = start_agent($ha, 'agent-a', '--secret-file', $secret);
my $agent_b = start_agent($hb, 'agent-b', '--secret-file', $secret);

wait_for('host-a and host-b join o, found over mDNS', sub {
    my $n = nodes();
    return $n->{'host-a'} && $n->{'host-a'}{up}
        && $n->{'host-b'} && $n->{'host-b'}{up};
}, 90);
my $n = nodes();
is($n->{'host-a'}{host}, $ha->ip, 'host-a registered its own address');
is($n->{'host-b'}{host}, $hb->ip, 'host-b registered its own address');
like($agent_a->log_text,
     qr/mdns: found orchestrator "Echo-System orchestrator on host-o" of mesh "default" at \Q$ORCH\E/,
     'agent a found o through avahi');
like($agent_a->log_text,
     qr/heartbeat: joined the mesh at \Q$ORCH\E \(found over mDNS\)/,
     'and says it joined there');

# the shipped announcement, as a node sees it
my @orch = $ha->browse('_echo-mesh._tcp');
is(scalar @orch, 1, 'host a sees one orchestrator announced');
is($orch[0]{name}, 'Echo-System orchestrator on host-o', '... named by host');
is_deeply($orch[0]{txt}, { txtvers => 1, mesh => 'default',
                           path => '/mesh/v1/nodes' },
          '... TXT txtvers, mesh and path of conf/echo-mesh.service');
is($orch[0]{port}, 8080, '... at the listen port of conf/nginx.conf');
is($orch[0]{address}, $o->ip, '... on o\'s address');

# --- routed tasks reach each of them -----------------------------------
for my $h ($ha, $hb) {
    my $model = 'mdns-' . $h->name . ':latest';
    my ($code, $body, $head) = $o->http(POST =>
        'http://127.0.0.1:8080/mesh/v1/tasks',
        headers => ['Content-Type: application/json'],
        body => qq({"type":"text","model":"$model","prompt":"hello"}));
    is($code, 200, "a task for $model answers 200");
    like($head, qr/^X-Mesh-Node: host-\Q${\ $h->name}\E\r?$/mi,
         '... served by host-' . $h->name);
    like($body, qr/"done":true/, '... and its stream ends done');
}

# --- another mesh, and a wrong secret, on a fourth host ----------------
my $other = start_agent($hd, 'agent-d-other', '--secret-file', $secret,
    '--mesh', 'other', '--log-level', 'debug', '--ollama',
    'http://127.0.0.1:9');
my $bad = start_agent($hd, 'agent-d-wrong', '--secret-file', $wrong,
    '--listen', '0.0.0.0:50053', '--ollama', 'http://127.0.0.1:9');

wait_for('the wrong secret is refused by o', sub {
    $bad->log_text =~ /heartbeat to \Q$ORCH\E failed: HTTP 401/;
});
wait_for('the other mesh\'s agent sees o and leaves it alone', sub {
    $other->log_text =~
        /orchestrator "Echo-System orchestrator on host-o" on \S+ \(\Q${\ $o->ip}\E\) is not one of mesh "other"/;
});
unlike($other->log_text, qr/heartbeat/, 'it never sent a heartbeat');
ok(!nodes()->{'host-d'}, 'host-d is not in the registry');

# both announce "host-d": one of them is renamed, and each TXT says
# which mesh it belongs to
my @seen;
wait_for('o sees four agents announced', sub {
    @seen = grep { $_->{txt}{node} } $o->browse('_echo-agent._tcp');
    return @seen == 4;
});
my %ann = map { $_->{name} => $_ } @seen;
is_deeply([sort keys %ann], ['host-a', 'host-b', 'host-d', 'host-d #2'],
          'the second host-d is announced as "host-d #2"');
is_deeply([sort map { $_->{txt}{mesh} } @ann{'host-d', 'host-d #2'}],
          ['default', 'other'], 'their TXT carries each one\'s mesh');
is($ann{'host-a'}{txt}{version}, '0.1.0', 'and the agent version');
is($ann{'host-a'}{port}, 50052, 'at the task port');
is($ann{'host-a'}{address}, $ha->ip, 'on host-a\'s address');

# --- a pulled cable ----------------------------------------------------
$net->link_down('a');
wait_for('host-a cut off: o marks it down', sub {
    my $m = nodes();
    return $m->{'host-a'} && !$m->{'host-a'}{up};
});
ok(nodes()->{'host-b'}{up}, 'host-b stays up');
$net->link_up('a');
wait_for('plugged back: host-a rejoins', sub { nodes()->{'host-a'}{up} },
         90);

# --- an impostor of the same mesh --------------------------------------
my $capture = "$dir/impostor.jsonl";
unlink $capture;
my $imp = Mesh::Proc->start(name => 'impostor', valgrind => 0,
    cmd => [$hi->cmd('/usr/bin/python3', "$TOP/t/lib/Mesh/impostor.py",
                    '0.0.0.0', '8080', $capture)],
    ready => sub { $_[0]->log_text =~ /impostor listening/ });
(my $fake = do { local (@ARGV, $/) = "$TOP/conf/echo-mesh.service"; <> })
    =~ /mesh=default/ or die 'the shipped service file lost mesh=default';
write_file($hi->dir . '/services/echo-mesh.service', $fake);
my $IMP = 'http://' . $hi->ip . ':8080';
wait_for('the agents see the impostor too', sub {
    $agent_a->log_text =~ /found orchestrator "[^"]*host-i" .* at \Q$IMP\E/
        && $agent_b->log_text =~ /found orchestrator "[^"]*host-i"/;
});

sub captured {
    my @got;
    open my $fh, '<', $capture or return ();
    while (my $line = <$fh>) {
        my $e = eval { $JSON->decode($line) } or next;
        push @got, $e;
    }
    return @got;
}

sub beats_of {
    my ($node) = @_;
    return grep { $_->{path} eq '/mesh/v1/nodes/heartbeat'
                  && $_->{body} =~ /"node_id":"\Q$node\E"/ } captured();
}

# o stops answering: the agents try the only other orchestrator, which
# answers 200 without X-Mesh-Reply-Signature; they do not stay with it
sub unproven {
    my ($agent) = @_;
    return () = $agent->log_text
        =~ /orchestrator \Q$IMP\E did not prove the mesh secret/g;
}
$net->link_down('o');
wait_for('cut off from o, both agents heartbeat the impostor', sub {
    beats_of('host-a') >= 3 && beats_of('host-b') >= 2;
}, 120);
for my $p ($agent_a, $agent_b) {
    is(unproven($p), 1, $p->name . ': the impostor did not prove the '
       . 'mesh secret, said once');
    unlike($p->log_text, qr/joined the mesh at \Q$IMP\E/,
           $p->name . ' did not join the impostor');
}
my $before_a = () = $agent_a->log_text =~ /joined (?:the mesh at )?\Q$ORCH\E/g;
my $before_b = () = $agent_b->log_text =~ /joined (?:the mesh at )?\Q$ORCH\E/g;
$net->link_up('o');

# o is back while the impostor still answers 200: the agents go back to o
wait_for('o back, the impostor still up: both agents return to o', sub {
    my $m = nodes();
    my $a = () = $agent_a->log_text =~ /joined (?:the mesh at )?\Q$ORCH\E/g;
    my $b = () = $agent_b->log_text =~ /joined (?:the mesh at )?\Q$ORCH\E/g;
    return $a > $before_a && $b > $before_b
        && $m->{'host-a'}{up} && $m->{'host-b'}{up};
}, 120);
ok($imp->alive, 'the impostor was answering all along');

my @beats = beats_of('host-a');
like($beats[0]{headers}{authorization},
     qr/^MESH-HMAC-SHA256 \d+:[0-9a-f]{32}:[0-9a-f]{64}$/,
     'what the impostor holds is a signature');
my $raw = join "\n", map { $JSON->encode($_) } captured();
my $s = do { local (@ARGV, $/) = $secret; <> };
chomp $s;
unlike($raw, qr/\Q$s\E/, 'the secret itself never reached it');

# what it can try with them, from its own host
my $HB = 'http://' . $o->ip . ':8080/mesh/v1/nodes/heartbeat';
sub replay {
    my ($e, $body) = @_;
    my ($code) = $hi->http(POST => $HB, body => $body // $e->{body},
        headers => ["Authorization: $e->{headers}{authorization}",
                    'Content-Type: application/json']);
    return $code;
}

my $ip_i = $hi->ip;
(my $mine = $beats[0]{body}) =~ s/"node_id":"host-a"/"node_id":"impostor"/;
$mine =~ s/"host":"[^"]*"/"host":"$ip_i"/;
isnt($mine, $beats[0]{body}, 'a heartbeat rewritten to name the impostor');
is(replay($beats[0], $mine), 401, '... is refused: 401');

# the documented limit (README, "The mesh credential"): a heartbeat o
# never saw may arrive once within the window; it describes host-a only
my $first = replay($beats[-1]);
ok($first == 401 || ($first >= 200 && $first < 300),
   "a captured heartbeat forwarded once: $first");
is(replay($beats[-1]), 401, 'forwarded again: a replay, 401');

my ($acode) = $hi->http(POST => 'http://' . $ha->ip . ':50052/api/generate',
    headers => ["Authorization: $beats[0]{headers}{authorization}",
                'Content-Type: application/json'],
    body => '{"model":"mdns-a:latest","prompt":"leak?"}');
is($acode, 401, 'as a task credential at agent a: 401');

$imp->stop;
my $m = nodes();
ok(!grep({ ($_->{host} // '') eq $ip_i || $_->{node_id} eq 'impostor' }
         values %$m), 'the impostor never joined the real mesh');
is($m->{'host-a'}{host}, $ha->ip, 'host-a is still registered as itself');

# --- shutdown: the announcements go with the agents --------------------
for my $p ($agent_a, $agent_b, $other, $bad) {
    ok($p->stop, $p->name . ' drains and exits cleanly'
       . ($VG ? ', memcheck clean' : ''));
}
wait_for('their announcements are withdrawn', sub {
    !grep { $_->{txt}{node} } $o->browse('_echo-agent._tcp');
});
ok($_->stop, $_->name . ' exits') for $nginx, $redis, values %sim;

ok($net->destroy, 'every namespace is gone');
is(scalar(grep { /^\Q$net->{prefix}\E/ } `ip netns list`), 0,
   'ip netns list shows none of ours');

done_testing();
