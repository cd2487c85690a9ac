# The dashboard in a real browser: Debian's chromium, driven by
# playwright-core (dashboard/e2e/dashboard.mjs), against a real mesh this
# file starts: Redis, nginx (master on, so that it can reload) with the
# module, the feed and the built dashboard at / exactly as conf/nginx.conf
# serves them, and two echo-agents before ollama-sims, as in the demo.
#
# The browser script prints one JSON line per check (each becomes a test
# here) and asks this file, on its stdin, to do what only it can: kill an
# agent, start it again, reload nginx, fill a node, make one fail until
# it is ejected (the 503 and ejected looks, last).  Screenshots go under
# build/dashboard-shots/.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Open2 qw(open2);
use JSON::PP ();
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

use Mesh::Chaos;
use Mesh::Nginx;
use Mesh::Node;
use Mesh::Orch;
use Mesh::Proc;
use Mesh::SimClient;

my $JSON  = JSON::PP->new->canonical;
my $top   = abs_path(dirname(__FILE__) . '/..');
my $build = Mesh::Proc::build_dir();
my $dash  = "$build/dashboard";
my $shots = "$build/dashboard-shots";
my $slow  = $Mesh::Orch::Slow;

plan skip_all => 'no /usr/bin/chromium (tools/install-deps.sh test)'
    unless -x '/usr/bin/chromium';
plan skip_all => "no built dashboard in $dash (make build)"
    unless -f "$dash/index.html";
plan skip_all => 'no playwright-core in dashboard/node_modules (make build)'
    unless -d "$top/dashboard/node_modules/playwright-core";

sub slurp {
    my ($path) = @_;
    open my $in, '<', $path or die "$path: $!\n";
    local $/;
    return <$in>;
}

# The block that starts with $head in conf/nginx.conf, braces balanced.
sub conf_block {
    my ($conf, $head) = @_;
    my $at = index $conf, $head;
    return undef if $at < 0;
    my ($depth, $i) = (0, index($conf, '{', $at));
    for (; $i < length $conf; $i++) {
        my $c = substr $conf, $i, 1;
        $depth++ if $c eq '{';
        last if $c eq '}' && --$depth == 0;
    }
    return substr($conf, $at, $i - $at + 1) . "\n";
}

my $conf = slurp("$top/conf/nginx.conf");
my $root_location = conf_block($conf, 'location / {')
    or BAIL_OUT('conf/nginx.conf has no "location / {" for the dashboard');
$root_location =~ s{\broot\s+[^;]+;}{root $dash;}
    or BAIL_OUT('the dashboard location of conf/nginx.conf has no root');
# the locations of conf/nginx.conf that Mesh::Orch's set lacks: the feed
# and, for named pipelines, the pipelines and their internal step
my $more = '';
for my $head ('location = /mesh/v1/feed', 'location /mesh/v1/pipelines',
              'location = /mesh/internal/step') {
    (my $path = $head) =~ s/^location (?:= )?//;
    next if $Mesh::Orch::LOCATIONS =~ /location (?:= )?\Q$path\E \{/;
    my $block = conf_block($conf, "$head {");
    BAIL_OUT("conf/nginx.conf has no \"$head\"")
        if !$block && $head =~ /feed/;
    $more .= $block // '';
}

# the named pipelines conf/nginx.conf ships (issue 9), if any
my @pipelines;
while ($conf =~ /^\s*(mesh_pipeline\s+([\w.-]+)\s*\{)/mg) {
    push @pipelines, [$2, conf_block($conf, $1)];
}

# --- the mesh --------------------------------------------------------------

$Mesh::Orch::Redis = Mesh::Proc::start_redis();
$ENV{TEST_NGINX_REDIS_PORT} = $Mesh::Orch::Redis->port;
# the nginx of this file's own; only our runner sets a port when loaded
# (the real one does in run_tests, which this file does not call)
$ENV{TEST_NGINX_SERVER_PORT} //= Mesh::Proc::free_port();
Mesh::Node::secret_file();

# a short queue TTL: a task for a full node gets its 503 soon; and
# ejection after two failures (the agent soon reports a failing Ollama)
my $http = Mesh::Orch::http_config(
    "    mesh_heartbeat_interval 300ms;\n    mesh_heartbeat_misses 3;\n"
    . "    mesh_queue_ttl 2s;\n    mesh_eject failures=2 time=60s;\n");
my $server = $Mesh::Orch::LOCATIONS . $more . $root_location;
my $expand = sub {
    Mesh::Nginx::expand($_[0], '110-dashboard');
};

my ($code, $out) = Mesh::Nginx::config_test('', $expand->($http),
                                            $expand->($server));
is($code, 0, 'nginx -t takes the dashboard and feed locations of '
           . 'conf/nginx.conf') or diag($out);

my $pipeline;
for my $p (@pipelines) {
    my ($c, $o) = Mesh::Nginx::config_test('', $expand->($http . $p->[1]),
                                           $expand->($server));
    if ($c != 0) {
        diag("pipeline $p->[0] of conf/nginx.conf is refused here: $o");
        next;
    }
    $http .= $p->[1];
    $pipeline //= $p->[0];
    $pipeline = $p->[0] if $p->[0] eq 'describe-and-summarize';
}
note($pipeline ? "pipeline $pipeline is tested"
               : 'no named pipeline in conf/nginx.conf: pipelines untested');

my $nginx = Mesh::Chaos::nginx(name => 'nginx', master => 'on',
                               port => $ENV{TEST_NGINX_SERVER_PORT},
                               http_config => $http, config => $server);

my %models = (
    'node-vision' => ['llava:7b,family=llava,size=4700000000,'
                      . 'caps=completion+vision',
                      'mistral:7b,family=llama,size=4100000000'],
    'node-code'   => ['codellama:7b,family=llama,size=3800000000',
                      'mistral:7b,family=llama,size=4100000000'],
);
my (%sim, %agent);
for my $id (sort keys %models) {
    $sim{$id} = Mesh::Proc::start_sim(
        (map { ('--model', $_) } @{ $models{$id} }),
        '--tokens', 30, '--token-delay-ms', 120);
    $agent{$id} = start_agent($id);
}

sub start_agent {
    my ($id) = @_;
    return Mesh::Chaos::agent($id, $sim{$id}, '--max-tasks', 4);
}

sub reload_nginx {
    system(Mesh::Nginx::command($nginx->{root}, '-s', 'reload')) == 0
        or diag("nginx -s reload failed: $?");
}

# --- the browser -----------------------------------------------------------

# "busy": node $id full (its four slots taken by long tasks sent to its
# agent directly, seen by nginx in its heartbeats); "unbusy" ends them.
my @busy;
sub fill_node {
    my ($id) = @_;
    push @busy, map {
        Mesh::Chaos::background(
            port => $agent{$id}->port, path => '/api/generate',
            headers => Mesh::Chaos::task_headers($id), timeout => 120,
            body => '{"model":"codellama:7b","prompt":"full",'
                  . '"options":{"num_predict":2000}}')
    } 1 .. 4;
    Mesh::Orch::wait_until(
        sub { (Mesh::Chaos::node($id)->{active_tasks} // 0) == 4 }, 20)
        or diag("node $id never reported 4 tasks");
}

sub free_node {
    my ($id) = @_;
    $_->stop for splice @busy;
    Mesh::Orch::wait_until(
        sub { (Mesh::Chaos::node($id)->{active_tasks} // 0) == 0 }, 20);
}

# "eject": node $id's simulator answers 500 to tasks until mesh_eject
# (failures=2 here) has ejected the node, then it answers again.  The
# agent soon finds its Ollama failing and reports itself degraded (no
# models, no tasks), so two tasks go right after the fault is set; if
# the agent was quicker, again once it is back.
sub eject_node {
    my ($id) = @_;
    my $sim = Mesh::SimClient->new($sim{$id}->port);
    for my $try (1 .. 5) {
        $sim->set_fault('500');
        my @codes = map {
            (Mesh::Orch::http('POST', '/api/generate',
                '{"model":"llava:7b","prompt":"fail","stream":false}'))[0]
        } 1 .. 2;
        $sim->set_fault('none');
        note("tasks to the failing $id (try $try): @codes");
        last if Mesh::Orch::wait_until(
            sub { Mesh::Chaos::node($id)->{ejected} }, 2);
        Mesh::Orch::wait_until(sub {
            grep { $_->{name} eq 'llava:7b' }
                @{ Mesh::Chaos::node($id)->{models} || [] } }, 10);
    }
}

my %ask = (
    kill    => sub { $agent{$_[0]{node}}->kill },
    restart => sub { $agent{$_[0]{node}} = start_agent($_[0]{node}) },
    reload  => \&reload_nginx,
    busy    => sub { fill_node($_[0]{node}) },
    unbusy  => sub { free_node($_[0]{node}) },
    eject   => sub { eject_node($_[0]{node}) },
);

my $cfg = {
    url   => "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/",
    shots => $shots,
    nodes => { map { my $id = $_;
                     ($id => [map { (split /,/)[0] } @{ $models{$id} }]) }
               keys %models },
    chat  => { type => 'code', prompt => 'write a binary search in C',
               node => 'node-code', expect => '[codellama:7b]' },
    vision   => { node => 'node-vision', expect => '[llava:7b]' },
    kill     => 'node-code',
    pipeline => $pipeline,
    slow     => $slow,
    busy     => { node => 'node-code', type => 'code' },
    eject    => 'node-vision',
};

my $script = "$top/dashboard/e2e/dashboard.mjs";
my $pid = open2(my $from, my $to, 'node', $script, $JSON->encode($cfg));
$to->autoflush(1);

# a hang-only deadline for the whole browser run
my $deadline = 600 * $slow;
local $SIG{ALRM} = sub {
    kill 'KILL', $pid;
    die "the browser script did not finish within ${deadline}s\n";
};
alarm $deadline;

my ($checks, @names) = (0);
eval {
    while (my $line = <$from>) {
        chomp $line;
        my $m = eval { $JSON->decode($line) };
        if (!$m) {
            diag("browser script: $line");
            next;
        }
        if (my $what = $m->{ask}) {
            note("browser asks: $what " . ($m->{node} // ''));
            ($ask{$what} || sub { diag("unknown ask $what") })->($m);
            print $to "done\n";
            next;
        }
        $checks++;
        push @names, $m->{name};
        ok($m->{ok}, "browser: $m->{name}")
            or diag($m->{diag} // '');
        note($m->{diag}) if $m->{ok} && defined $m->{diag};
    }
    1;
} or fail("the browser run: $@");
alarm 0;
close $to;
waitpid $pid, 0;
is($? >> 8, 0, 'the browser script exits 0');

# Every check of the script ran: a script that dies half-way has fewer.
my $want = 21 + keys(%models) + ($pipeline ? 1 : 0);
is($checks, $want, "the browser script made all $want checks")
    or diag("checks made:\n" . join("\n", @names));
ok(-s "$shots/dashboard-desktop.png" && -s "$shots/dashboard-phone.png",
   "screenshots under $shots");

# --- nginx after all that -----------------------------------------------

my $errors = slurp("$nginx->{root}/logs/error.log");
my @bad = grep { /\[(alert|crit|emerg)\]|exited on signal/ }
          split /\n/, $errors;
is(scalar @bad, 0, 'no alert, crit or emerg in error.log (no socket left '
                 . 'open by the feed at reload)') or diag(join "\n", @bad);
ok($nginx->stop, 'nginx stops cleanly');

done_testing();
