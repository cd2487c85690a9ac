package Mesh::Chaos;

# Helpers for the resilience suites (t/070-079), on top of Mesh::Orch:
# real echo-agents that join the nginx under test, requests sent in the
# background while a block's main request runs, a second nginx on the
# same Redis, the mesh:events seen so far, and a "--- checks" section.
#
#   my $agent = Mesh::Chaos::agent('a', $sim, '--max-tasks', 2);
#   my $bg = Mesh::Chaos::background(path => '/api/generate', body => $j);
#   my $r  = $bg->result;                 # Mesh::Stream's result
#   Mesh::Chaos::record_events();         # in --- init: events from now on
#   Mesh::Chaos::seen(event => 'node.down', node_id => 'a');
#
# --- checks: one Perl expression a line, run in package main after the
# block's response (its body is in $main::Body, the HTTP::Response in
# $main::Res); each line is one test, which fails when the expression is
# false.  Lines starting with # are comments.  On a failure the diag
# shows the expression and $Mesh::Chaos::Why (helpers set it to say what
# they saw).

use strict;
use warnings;

use File::Spec;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);

use Mesh::Node;
use Mesh::Orch;
use Mesh::Proc;
use Mesh::Stream;
use Test::Nginx::Util ();
use Test::Nginx::Socket ();

our $Why;
my $Events;         # the redis-cli that records mesh:events

my $JSON = JSON::PP->new->canonical;
my $LIB  = File::Spec->rel2abs(File::Spec->catdir(
    (File::Spec->splitpath(__FILE__))[1], '..'));

sub slow { $Mesh::Orch::Slow }

our (%Sim, %Agent);  # the block's sims and real agents, by node id
my @BG;             # the block's background clients

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
# children, agents and sims of the block are stopped.
sub teardown {
    reap_later();
    $Events->stop if $Events && $Events->alive;
    $_->stop for @BG;
    @BG = ();
    $_->alive && $_->stop for values %Agent, values %Sim;
    %Agent = %Sim = ();
}

# A long task sent to agent $id directly: the orchestrator learns of it
# only from the agent's heartbeats (active_tasks 1), which makes the
# other nodes preferred.
sub load_directly {
    my ($id) = @_;
    background(port => $Agent{$id}->port, path => '/api/generate',
               headers => auth_headers(), timeout => 30,
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
    $Why = "node $id: zone active_tasks=$zone, redis active=$redis";
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
                 '--heartbeat-interval', '300ms', @args],
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

# A request with the mesh credential, as nginx sends tasks to agents.
sub auth_headers {
    return { Authorization => "Bearer $Mesh::Node::SECRET" };
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

# Runs $action in a forked child once $cond is true (polled for up to
# $limit s, scaled), while the parent goes on, e.g. with the block's main
# request.  The child shares the parent's objects (Mesh::Node->set works
# from it) but must not start processes.  reap_later() waits for them.
my @LATER;

sub later {
    my ($cond, $action, $limit) = @_;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        my $code = 1;
        eval {
            Mesh::Orch::wait_until($cond, $limit // 10) && $action->();
            $code = 0;
        };
        print STDERR "later: $@" if $@;
        POSIX::_exit($code);
    }
    push @LATER, $pid;
    return $pid;
}

# Waits for every later() child; true when each ran its action.
sub reap_later {
    my $ok = 1;
    for my $pid (splice @LATER) {
        waitpid $pid, 0;
        $ok = 0 if $?;
    }
    return $ok;
}

# One heartbeat for a node that is not a Mesh::Node (it joins, then goes
# silent); %caps: the fields of Mesh::Node->start.  Returns the status.
sub heartbeat {
    my (%caps) = @_;
    my $port = delete $caps{nginx_port} // $ENV{TEST_NGINX_SERVER_PORT};
    my $r = Mesh::Stream::request(
        port => $port, path => '/mesh/v1/nodes/heartbeat',
        headers => auth_headers(),
        body => Mesh::Node::caps_json({ caps => \%caps }));
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

# True when no such event comes within 0.5 s (scaled).
sub unseen {
    my (%want) = @_;
    return !_seen(0.5, \%want);
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
    $Why = "events recorded (heartbeats left out):\n" . join "\n",
        map { $JSON->encode($_) }
        grep { ($_->{event} // '') ne 'node.heartbeat' } events();
    return $found;
}

# The "redis" object of /mesh/status (connected, subscribed, ...), {}
# when nginx does not answer.
sub redis_state {
    my ($port) = @_;
    local $ENV{TEST_NGINX_SERVER_PORT} = $port if $port;
    my ($code, $body) = Mesh::Orch::http('GET', '/mesh/status');
    my $st = ($code // 0) == 200 ? eval { $JSON->decode($body) } : undef;
    return ($st && $st->{redis}) || {};
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
# $TEST_NGINX_* variables expanded).  Under TEST_NGINX_USE_VALGRIND it
# runs under memcheck too.
sub nginx {
    my (%o) = @_;
    my $name = $o{name} // 'nginx-b';
    my $root = File::Spec->catdir(Mesh::Proc::log_dir(), $name);
    my $port = Mesh::Proc::free_port();
    Test::Nginx::Util::setup_server_root(servroot => $root);
    my $conf = Test::Nginx::Util::render_conf(
        servroot    => $root,
        port        => $port,
        master      => $o{master} // 'off',
        http_config => Test::Nginx::Util::expand_env_in_text(
                           $o{http_config}, $name),
        config      => Test::Nginx::Util::expand_env_in_text(
                           $o{config}, $name),
    );
    my $file = "$root/conf/nginx.conf";
    open my $out, '>', $file or die "cannot write $file: $!\n";
    print $out $conf;
    close $out;
    my $p = Mesh::Proc->start(
        name     => $name,
        cmd      => [$Test::Nginx::Util::NginxBinary, '-p', "$root/",
                     '-c', $file, '-e', "$root/logs/error.log"],
        port     => $port,
        valgrind => $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0,
    );
    $p->{root} = $root;
    return $p;
}

# --- the --- checks section --------------------------------------------

sub _check_lines {
    my ($v) = @_;
    return () unless defined $v;
    return grep { /\S/ && !/^\s*#/ } split /\n/, $v;
}

# The runner hands body checks only the body: keep the whole response
# (HTTP::Response) for $main::Res, e.g. to compare a header with the body.
my $Last;
my $parse = \&Test::Nginx::Request::parse_response;
{
    no warnings 'redefine';
    *Test::Nginx::Request::parse_response = sub {
        my @r = $parse->(@_);
        $Last = $r[0];
        return @r;
    };
}

sub _checks {
    my ($block, $body, $idx, $rep, $dry) = @_;
    my @lines = _check_lines(scalar $block->checks) or return;
    my $tb = Test::More->builder;
    for my $line (@lines) {
        if (defined $dry) {
            $tb->skip($dry);
            next;
        }
        undef $Why;
        local $main::Body = $body;
        local $main::Res = $Last;
        my $ok = eval "package main; no strict 'vars'; $line";
        my $err = $@;
        (my $text = $line) =~ s/^\s+|\s+$//g;
        $tb->ok($ok && !$err, $block->name . " - check: $text")
            or Test::More::diag(join "\n", grep { defined }
                                ($err || undef, $Why));
    }
}

# The plan of a file: Mesh::Orch's count plus one test a check line.
sub count_tests {
    my $total = Mesh::Orch::count_tests();
    for my $block (Test::Base::blocks()) {
        next if defined $block->SKIP || defined $block->must_die;
        my $req = $block->request;
        my $nreq = ref $req eq 'ARRAY' ? @$req : 1;
        $total += Test::Nginx::Util::repeat_each() * $nreq
            * _check_lines(scalar $block->checks);
    }
    return $total;
}

Test::Nginx::Socket::add_response_body_check(\&_checks);


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
