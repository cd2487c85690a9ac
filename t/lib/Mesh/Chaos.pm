package Mesh::Chaos;

# Helpers for the resilience suites (t/070-079), on top of Mesh::Orch:
# real echo-agents that join the nginx under test, requests sent in the
# background while a block's main request runs, the mesh events recorded
# from a point on, Redis killed and restarted, a second nginx on the same
# Redis.  Everything a block starts is stopped by teardown().
#
#   add_test_cleanup_handler(\&Mesh::Chaos::teardown);
#   # in --- init:
#   Mesh::Chaos::agents(a => {}, b => { sim => ['--token-delay-ms', 100] });
#   my $bg = Mesh::Chaos::background(path => '/api/generate', body => $j);
#   # in --- checks (Mesh::Checks):
#   $bg->result->{status} == 200
#   Mesh::Chaos::seen(event => 'node.down', node_id => 'a')

use strict;
use warnings;

use File::Spec;
use JSON::PP ();

use Mesh::Node;
use Mesh::Orch;
use Mesh::Proc;
use Mesh::Sign;
use Mesh::Checks;
use Mesh::Nginx;
use Mesh::Stream;

our (%Sim, %Agent); # the block's sims and real agents, by node id
my @BG;             # the block's background clients
my @OWN;            # more of the block's processes, stopped at its end
my $Events;         # the redis-cli that records the events

my $JSON = JSON::PP->new->canonical;
my $LIB  = File::Spec->rel2abs(File::Spec->catdir(
    (File::Spec->splitpath(__FILE__))[1], '..'));

sub slow { $Mesh::Orch::Slow }

# A fresh mesh of real agents for a block: nothing left of the last one,
# then for each node id an ollama-sim (mistral:7b, 20 ms a token) and an
# echo-agent before it.  %spec: node id => { sim => [flags],
# agent => [flags] }.  Events are recorded from then on.
sub agents {
    my (%spec) = @_;
    teardown();
    Mesh::Orch::reset_scene();
    for my $id (sort keys %spec) {
        $Sim{$id} = Mesh::Proc::start_sim('--model', 'mistral:7b',
            '--token-delay-ms', 20, @{ $spec{$id}{sim} || [] });
        $Agent{$id} = agent($id, $Sim{$id}, '--max-tasks', 4,
            '--drain-timeout', '1s', @{ $spec{$id}{agent} || [] });
    }
    record_events();
}

# The end of a block (add_test_cleanup_handler): clients, forked
# children, agents and sims of the block are stopped (then Mesh::Orch's
# own handler stops its stand-in nodes and empties Redis).
sub teardown {
    reap_later();
    $Events->stop if $Events && $Events->alive;
    $_->stop for @BG, reverse @OWN;
    @BG = @OWN = ();
    $_->alive && $_->stop for values %Agent, values %Sim;
    %Agent = %Sim = ();
}

# Stops $thing (anything with a stop method) at the end of the block.
sub own {
    my ($thing) = @_;
    push @OWN, $thing;
    return $thing;
}

# A long task sent to agent $id directly: the orchestrator learns of it
# only from the agent's heartbeats (active_tasks 1), which makes the
# other nodes preferred.
sub load_directly {
    my ($id) = @_;
    background(port => $Agent{$id}->port, path => '/api/generate',
               headers => task_headers($id), timeout => 30,
               body => '{"model":"mistral:7b","prompt":"load",'
                     . '"options":{"num_predict":1000}}');
    Mesh::Orch::wait_until(sub { (node($id)->{active_tasks} // 0) == 1 }, 10)
        or Test::More::diag("node $id never reported its direct task");
}

# "zone/redis": node $id's load as /mesh/v1/nodes and Redis count it,
# once both are 0 (or whatever they are after a bounded wait).
sub settled_load {
    my ($id) = @_;
    my ($zone, $redis);
    Mesh::Orch::wait_until(sub {
        $zone = node($id)->{active_tasks} // -1;
        $redis = redis('HGET', "mesh:node:$id", 'active');
        return $zone == 0 && $redis eq '0';
    }, 5);
    $Mesh::Checks::Why = "node $id: zone active_tasks=$zone, "
                       . "redis active=$redis";
    return "$zone/$redis";
}

# An echo-agent in front of $sim that joins the nginx under test as
# $node_id; @args are extra flags.  Waits until the registry lists it up.
sub agent {
    my ($node_id, $sim, @args) = @_;
    my $port = Mesh::Proc::free_port();
    my $p = Mesh::Proc->start(
        name => "agent-$node_id",
        cmd  => [Mesh::Proc::bin('echo-agent'),
                 '--orchestrator',
                 "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}",
                 '--listen', "127.0.0.1:$port",
                 '--advertise-host', '127.0.0.1',
                 '--ollama', 'http://127.0.0.1:' . $sim->port,
                 '--node-id', $node_id,
                 '--secret-file', $ENV{TEST_NGINX_MESH_SECRET_FILE},
                 '--heartbeat-interval', '300ms',
                 # never announced on this machine's network (as Mesh::Agent)
                 '--mdns', 'off', @args],
        port => $port,
    );
    Mesh::Orch::wait_until(sub { (node($node_id)->{up} // 0) ? 1 : 0 }, 15)
        or Test::More::diag("agent $node_id did not join: "
                            . $JSON->encode(Mesh::Orch::nodes()));
    return $p;
}

# Node $id of /mesh/v1/nodes (an empty hash when it is not listed).
sub node {
    my ($id, $port) = @_;
    local $ENV{TEST_NGINX_SERVER_PORT} = $port if $port;
    return Mesh::Orch::nodes()->{$id} // {};
}

# A task credential for agent $id, as nginx signs one for each task.
my $TaskNo = 0;
sub task_headers {
    my ($id) = @_;
    return { Authorization => Mesh::Sign::task($Mesh::Node::SECRET, $id,
                                  sprintf('chaos%x-%d', $$, ++$TaskNo)) };
}

# A node API POST signed as nodes sign it.
sub node_headers {
    my ($path, $body) = @_;
    return { Authorization => Mesh::Sign::node($Mesh::Node::SECRET, 'POST',
                                               $path, $body) };
}

# One request now (Mesh::Stream::request), to the nginx under test unless
# port is given.
sub request {
    my (%o) = @_;
    $o{port} //= $ENV{TEST_NGINX_SERVER_PORT};
    $o{timeout} = ($o{timeout} // 10) * slow();
    return Mesh::Stream::request(%o);
}

# The same request sent by another process: returns an object whose
# result() waits for it; stop() makes that client hang up.
sub background {
    my (%o) = @_;
    $o{port} //= $ENV{TEST_NGINX_SERVER_PORT};
    $o{timeout} = ($o{timeout} // 10) * slow();
    my $p = Mesh::Proc->start(
        name => 'client',
        cmd  => [$^X, "-I$LIB", '-MMesh::Stream', '-e',
                 'exit Mesh::Stream::run(@ARGV)', $JSON->encode(\%o)],
        valgrind => 0,
    );
    my $bg = bless { proc => $p, timeout => $o{timeout} }, 'Mesh::Chaos::Bg';
    push @BG, $bg;
    return $bg;
}

# Mesh::Orch::later() and reap_later(), for the suites that use these.
sub later { return Mesh::Orch::later(@_) }

sub reap_later { return Mesh::Orch::reap_later() }

# One heartbeat for a node that is not a Mesh::Node (it joins, then goes
# silent); %caps: the fields of Mesh::Node->start.  Returns the status.
sub heartbeat {
    my (%caps) = @_;
    my $port = delete $caps{nginx_port} // $ENV{TEST_NGINX_SERVER_PORT};
    my $body = Mesh::Node::caps_json({ caps => \%caps });
    my $r = Mesh::Stream::request(
        port => $port, path => '/mesh/v1/nodes/heartbeat',
        headers => node_headers('/mesh/v1/nodes/heartbeat', $body),
        body => $body);
    return $r->{status} // 0;
}

# Records the events of both channels (mesh:events for nodes, mesh:tasks
# for tasks) from now on: a redis-cli subscribed to them, its output in
# its log.  A Redis restart needs a new recorder.
sub record_events {
    $Events->stop if $Events && $Events->alive;
    $Events = Mesh::Proc->start(
        name  => 'events',
        cmd   => ['redis-cli', '-p', $Mesh::Orch::Redis->port,
                  'SUBSCRIBE', 'mesh:events', 'mesh:tasks'],
        ready => sub { $_[0]->log_text =~ /^mesh:tasks\n2\n/m },
    );
}

# The events recorded so far, decoded, oldest first.
sub events {
    return () unless $Events;
    return map { scalar eval { $JSON->decode($_) } // () }
        $Events->log_text =~ /^(\{.*\})$/mg;
}

# True once an event with these fields was recorded, waiting up to 3 s
# (scaled): seen(event => 'node.down', node_id => 'a').  A qr// value
# matches, undef means the field is absent, any other value is equal.
sub seen {
    my (%want) = @_;
    return _seen(3, \%want);
}

# Like seen(), waiting up to $limit seconds (scaled): for an event that
# may come only from the heartbeat timeout (interval x misses), not from
# a dispatch that happens to try the node.
sub seen_within {
    my ($limit, %want) = @_;
    return _seen($limit, \%want);
}

# True when no such event comes within 0.5 s (scaled).
sub unseen {
    my (%want) = @_;
    return !_seen(0.5, \%want);
}

# True once a recorded event's whole line (Mesh::Orch::event_line: every
# field, keys sorted, measured values as N) matches $re, waiting up to 3 s
# (scaled).  Task ids that %names maps to a name of the test's own show
# as that name, the others as #N, numbered in order of appearance since
# record_events() (after the named ones):
#   seen_line(qr/^task\.done .* task_id=T type=text$/, $task_id => 'T')
sub seen_line {
    my ($re, %names) = @_;
    my @lines;
    my $found = Mesh::Orch::wait_until(sub {
        my %ids = %names;
        @lines = map { Mesh::Orch::event_line($_, \%ids) } events();
        return grep { $_ =~ $re } @lines;
    }, 3);
    $Mesh::Checks::Why = join "\n", "no event line matches $re; lines "
        . '(heartbeats left out):', grep { !/^node\.heartbeat / } @lines;
    return $found;
}

sub _match {
    my ($ev, $want) = @_;
    for my $k (keys %$want) {
        my ($w, $v) = ($want->{$k}, $ev->{$k});
        next if !defined $w && !defined $v;
        return 0 unless defined $w && defined $v;
        return 0 unless ref $w eq 'Regexp' ? $v =~ $w : $v eq $w;
    }
    return 1;
}

sub _seen {
    my ($limit, $want) = @_;
    my $found = Mesh::Orch::wait_until(
        sub { grep { _match($_, $want) } events() }, $limit);
    $Mesh::Checks::Why = join "\n",
        'events recorded (heartbeats left out):',
        map { $JSON->encode($_) }
        grep { ($_->{event} // '') ne 'node.heartbeat' } events();
    return $found;
}

# /mesh/status decoded, {} when nginx does not answer.
sub status {
    my ($port) = @_;
    local $ENV{TEST_NGINX_SERVER_PORT} = $port if $port;
    my ($code, $body) = Mesh::Orch::http('GET', '/mesh/status');
    my $st = ($code // 0) == 200 ? eval { $JSON->decode($body) } : undef;
    return $st || {};
}

# The "redis" object of /mesh/status (connected, subscribed, ...), {}
# when nginx does not answer.
sub redis_state {
    my ($port) = @_;
    return status($port)->{redis} || {};
}

# SIGKILLs the file's Redis (Mesh::Orch's), or starts it again with the
# same command line, so on the same port and empty.
sub redis_kill {
    $Mesh::Orch::Redis->kill;
}

sub redis_restart {
    my $old = $Mesh::Orch::Redis;
    $Mesh::Orch::Redis = Mesh::Proc->start(
        name => 'redis', cmd => $old->{cmd}, port => $old->port,
        valgrind => 0);
}

# redis-cli's answer, without the trailing newline.
sub redis {
    my $out = Mesh::Orch::redis(@_);
    chomp $out;
    return $out;
}

# --- the second nginx ------------------------------------------------------

# Starts another nginx on the file's Redis, with its own server root and
# port, from a block-like configuration: http_config and config (the
# $TEST_NGINX_* variables expanded), built by Mesh::Nginx.  Under
# TEST_NGINX_USE_VALGRIND it runs under memcheck too.  Options: name,
# master (on|off, default off), workers (worker_processes, default 1;
# with master on), root and port (default: its own), keep_logs.
sub nginx {
    my (%o) = @_;
    my $name = $o{name} // 'nginx-b';
    my $root = $o{root} // File::Spec->catdir(Mesh::Proc::log_dir(), $name);
    my $port = $o{port} // Mesh::Proc::free_port();
    Mesh::Nginx::server_root($root, keep_logs => $o{keep_logs});
    my $file = Mesh::Nginx::write_conf(
        root        => $root,
        port        => $port,
        master      => $o{master} // 'off',
        workers     => $o{workers},
        http_config => Mesh::Nginx::expand($o{http_config}, $name),
        config      => Mesh::Nginx::expand($o{config}, $name),
    );
    my $p = Mesh::Proc->start(
        name     => $name,
        cmd      => [Mesh::Nginx::command($root)],
        port     => $port,
        valgrind => $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0,
    );
    $p->{root} = $root;
    $p->{conf} = $file;
    return $p;
}

# The nginx under test for a file that runs its own (no_nginx_manager):
# master on (reloads and the cache processes need one, and the runner
# uses single-process mode under valgrind), on the runner's port and
# server root, under memcheck with TEST_NGINX_USE_VALGRIND; the block's
# end stops it.  $http: the http{} directives (Mesh::Orch::http_config).
sub runner_nginx {
    my ($http) = @_;
    return own(nginx(
        name => 'nginx', master => 'on',
        root => Test::Nginx::Socket::server_root(), keep_logs => 1,
        port => $ENV{TEST_NGINX_SERVER_PORT},
        http_config => $http, config => $Mesh::Orch::LOCATIONS));
}

# Empties the runner's server root, for a file that runs its own nginx
# there (runner_nginx keeps its logs from block to block): called before
# run_tests, so the first block reads no log of an earlier run.  Neither
# runner prepares it without its nginx manager (the real one does not
# even make it).
sub fresh_server_root {
    return Mesh::Nginx::server_root(Test::Nginx::Socket::server_root());
}

# The pids of the processes nginx $p's master runs now (its workers).
sub workers {
    my ($p) = @_;
    open my $in, '<', "/proc/$p->{pid}/task/$p->{pid}/children" or return ();
    return split ' ', <$in> // '';
}

package Mesh::Chaos::Bg;

# The result of a background request (Mesh::Stream's hash), waiting up to
# its timeout; {error} says what went wrong when there is none.
sub result {
    my ($self) = @_;
    return $self->{result} if $self->{result};
    my $code = $self->{proc}->wait_exit($self->{timeout} + 5);
    my $text = $self->{proc}->log_text;
    my ($json) = $text =~ /^(\{.*\})\s*\z/ms;
    $self->{result} = ($json && eval { JSON::PP->new->decode($json) })
        || { error => "background client (exit "
                      . ($code // 'none') . "): $text" };
    return $self->{result};
}

# A repeating client (repeat => 1) ends after its current request and
# gives its results.
sub finish {
    my ($self) = @_;
    $self->{proc}->signal('TERM');
    return $self->result;
}

# The client hangs up at once (its process is killed).
sub stop {
    my ($self) = @_;
    $self->{proc}->kill if $self->{proc}->alive;
}

1;
