package Mesh::Orch;

# Helpers for the orchestrator suites (t/060-069): one private Redis and
# the mesh secret per file, the configuration of conf/nginx.conf as block
# defaults, a "scene" of stand-in nodes set up exactly per block (so a
# block's routing never depends on the blocks before it), Redis commands,
# and the mesh:events channel.
#
#   use Mesh::Orch;
#   Mesh::Orch::suite();                  # Redis, secret, block defaults
#   my $sim = Mesh::Orch::sim('A', '--tokens', 4, '--model', 'llava');
#   # in --- init:
#   Mesh::Orch::scene(a => { sim => 'A', models => [['llava', 'vision']],
#                            ram_free_gb => 6 });
#
# Check sections (one test each), registered by suite(); see %CHECKS:
#   --- body_normalized      the body after normalize() (created_at,
#                            durations and task ids masked), exactly
#   --- same_as_sim: NAME    the body equals, normalized, what sim NAME
#                            replies to the same request sent directly
#   --- events               the mesh:events seen since subscribe(), one
#                            line each (see event_line), exactly; with
#                            --- events_filter (a regex on the line, default
#                            ^task\.) and --- events_until (a regex on the
#                            line that ends the wait, default the last
#                            expected line)
#   --- redis                "COMMAND args ~ regex" lines: the output of
#                            redis-cli must match each regex
#   --- json_is eval         the body decoded matches this structure
#   --- registry_ids         the node ids /mesh/v1/nodes lists

use strict;
use warnings;

use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);

use Mesh::Events;
use Mesh::Node;
use Mesh::Proc;
use Mesh::Sign;
use Mesh::SimClient;
use Test::Nginx::Socket ();

our $Slow = $ENV{TEST_NGINX_USE_VALGRIND} ? 6 : 1;
our $Redis;         # the file's redis-server (Mesh::Proc)
our %Sims;          # name => ollama-sim (Mesh::Proc)
our %Nodes;         # node_id => Mesh::Node, the current scene
our %Want;          # node_id => what it reports (Mesh::Node fields)
our $Sub;           # Mesh::Events subscription of subscribe()

my $JSON = JSON::PP->new->canonical;

# The proxy settings of conf/mesh_proxy.conf and the locations of
# conf/nginx.conf, as a block's --- config.
our $LOCATIONS = <<'_EOC_';
    proxy_http_version          1.1;
    proxy_set_header            Connection "";
    proxy_set_header            Authorization $mesh_agent_auth;
    proxy_set_header            X-Mesh-Task "";
    proxy_buffering             off;
    proxy_request_buffering     on;
    proxy_connect_timeout       2s;
    proxy_send_timeout          30s;
    proxy_read_timeout          300s;
    proxy_next_upstream         error timeout http_503 http_429 non_idempotent;
    proxy_next_upstream_tries   3;
    proxy_next_upstream_timeout 10s;
    proxy_intercept_errors      off;

    error_page 502 504 = @mesh_unavailable;

    location = /mesh/v1/tasks {
        mesh_route task;
        proxy_pass http://mesh_agents/api/generate;
    }

    location = /api/generate {
        mesh_route ollama;
        proxy_pass http://mesh_agents;
    }

    location = /api/chat {
        mesh_route ollama;
        proxy_pass http://mesh_agents;
    }

    location = /api/embed {
        mesh_route ollama;
        proxy_pass http://mesh_agents;
    }

    location = /api/tags {
        mesh_tags;
    }

    location /v1/ {
        mesh_route openai;
        proxy_pass http://mesh_agents;
        error_page 502 504 = @mesh_openai_unavailable;
        error_page 413 @mesh_openai_too_large;
    }

    location = /v1/models {
        mesh_openai_models;
    }

    location /v1/models/ {
        mesh_openai_models;
    }

    location /mesh/v1/nodes {
        mesh_node_api;
    }

    location = /mesh/status {
        mesh_status;
    }

    location = /mesh/v1/feed {
        mesh_feed;
    }

    location @mesh_unavailable {
        default_type application/json;
        return 503 '{"error":"no node could take the task"}\n';
    }

    location @mesh_openai_unavailable {
        default_type application/json;
        return 503 '{"error":{"message":"no node could take the task","type":"server_error","param":null,"code":null}}\n';
    }

    location @mesh_openai_too_large {
        default_type application/json;
        return 413 '{"error":{"message":"request body is too large","type":"invalid_request_error","param":null,"code":null}}\n';
    }
_EOC_

# Redis replies within the default 2 s here, but nginx under memcheck on a
# busy machine can take longer to read them.
our $RegistryTimeout = $ENV{TEST_NGINX_USE_VALGRIND} ? ' timeout=10s' : '';

# The http{} part every block needs, plus $extra directives.
sub http_config {
    my ($extra) = @_;
    return <<"_EOC_" . ($extra // '');
    mesh_registry redis://127.0.0.1:\$TEST_NGINX_REDIS_PORT$RegistryTimeout;
    mesh_zone mesh 4m;
    mesh_secret_file \$TEST_NGINX_MESH_SECRET_FILE;
    upstream mesh_agents {
        mesh_balancer;
        keepalive 8;
    }
_EOC_
}

# An access log of the X-Mesh-Task header nginx sent with each response,
# beside the runner's access.log, for sent_task(): the real runner gives
# a body check the body alone, never the response's headers.
my $SENT_LOG = 'logs/mesh-sent-task.log';
my $SENT_CONF = "    log_format mesh_sent_task "
              . "'\$msec \$sent_http_x_mesh_task';\n"
              . "    access_log $SENT_LOG mesh_sent_task;\n";
my $BlockStart = 0;

# The X-Mesh-Task of the one response that carried one since the block
# began (a suite(sent_task => 1) check); dies saying what it found when
# there is not exactly one.  The log line comes in nginx's log phase,
# after the response: it waits up to 3 s (scaled) for it.
sub sent_task {
    my $file = Test::Nginx::Socket::server_root() . "/$SENT_LOG";
    my @ids;
    wait_until(sub {
        @ids = ();
        open my $in, '<', $file or return 0;
        while (my $line = <$in>) {
            my ($t, $id) = split ' ', $line;
            push @ids, $id if defined $id && $id ne '-' && $t >= $BlockStart;
        }
        return scalar @ids;
    }, 3);
    die 'X-Mesh-Task sent with ' . @ids . ' responses since the block '
        . "began (@ids), in $file; wanted one\n" unless @ids == 1;
    return $ids[0];
}

# Starts the file's Redis, writes the secret, and makes http_config() and
# $LOCATIONS the defaults of blocks that give none.  $o{http_extra}: http
# directives of every default block of the file; $o{sent_task}: they log
# the X-Mesh-Task sent (see sent_task).
sub suite {
    my (%o) = @_;
    my $extra = ($o{http_extra} // '') . ($o{sent_task} ? $SENT_CONF : '');
    $Redis = Mesh::Proc::start_redis();
    $ENV{TEST_NGINX_REDIS_PORT} = $Redis->port;
    Mesh::Node::secret_file();
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my ($block) = @_;
        # whole milliseconds, as nginx's $msec
        $BlockStart = int(time * 1000) / 1000;
        $block->set_value(http_config => http_config($extra))
            unless defined $block->http_config;
        $block->set_value(config => $LOCATIONS)
            unless defined $block->config;
    });
    Test::Nginx::Socket::add_block_preprocessor(\&Mesh::Sign::preprocess);
    Test::Nginx::Socket::add_response_body_check(\&_custom_checks);
    Test::Nginx::Socket::add_test_cleanup_handler(\&quiet);
}

sub sim {
    my ($name, @args) = @_;
    $Sims{$name} = Mesh::Proc::start_sim(@args);
    return $Sims{$name};
}

sub port { $ENV{TEST_NGINX_SERVER_PORT} }

sub wait_until {
    my ($check, $limit) = @_;
    my $deadline = time + ($limit // 10) * $Slow;
    while (time < $deadline) {
        return 1 if $check->();
        sleep 0.05;
    }
    return 0;
}

# GET/POST to the nginx under test: (status, body).
sub http {
    my ($method, $path, $body, %headers) = @_;
    my $r = Mesh::SimClient->new(port())->request($method, $path, $body,
        headers => \%headers, timeout => 10 * $Slow);
    return ($r->{status}, $r->{content});
}

# The node list of /mesh/v1/nodes: { node_id => node object }.
sub nodes {
    my ($code, $body) = http('GET', '/mesh/v1/nodes');
    return {} unless ($code // 0) == 200;
    my $list = eval { $JSON->decode($body) } or return {};
    return { map { $_->{node_id} => $_ } @{ $list->{nodes} } };
}

# The number of waiting tasks /mesh/v1/nodes reports (-1: no answer).
sub nodes_queued {
    my ($code, $body) = http('GET', '/mesh/v1/nodes');
    return ($body // '') =~ /"queued":(\d+),"generation"/ ? $1 : -1;
}

# redis-cli against the file's Redis; returns its output.
sub redis {
    my (@cmd) = @_;
    open my $cli, '-|', 'redis-cli', '-p', $Redis->port, @cmd
        or return '';
    local $/;
    my $out = <$cli> // '';
    close $cli;
    return $out;
}

# Stops every stand-in node and empties Redis (after each block: a new
# nginx must not learn the last block's nodes, from heartbeats or from
# its first resync).
sub quiet {
    reap_later();
    $_->stop for values %Nodes;
    %Nodes = ();
    %Want = ();
    redis('FLUSHALL');
}

# quiet(), and every node the registry still lists leaves: the next scene
# starts from nothing.  (A node that left keeps its registry slot: ids
# joining again keep the order of their first join to this nginx.)
sub reset_scene {
    quiet();
    wait_until(sub {
        my $listed = nodes();
        Mesh::Node::leave(port(), $_) for keys %$listed;
        return !%$listed;
    }, 10);
    redis('FLUSHALL');
}

# Sets up exactly these nodes, in this order: node_id => { sim => NAME
# (or port => N), models, ram_free_gb, active_tasks, max_tasks, status,
# ... } (the fields of Mesh::Node->start).  Each node joins once the one
# before it is listed, so a node id new to this nginx takes the next
# registry slot.  Returns true when the registry shows every node with
# the values given.
sub scene {
    my (@spec) = @_;
    reset_scene();
    return scene_add(@spec);
}

# Adds nodes to the scene, the same way.
sub scene_add {
    my (@spec) = @_;
    while (my ($id, $spec) = splice @spec, 0, 2) {
        my %caps = %$spec;
        my $sim = delete $caps{sim};
        $caps{port} //= $Sims{$sim}->port if defined $sim;
        $caps{active_tasks} //= 0;
        $caps{max_tasks} //= 4;
        $caps{ram_free_gb} //= 8;
        $caps{status} //= 'idle';
        $Want{$id} = \%caps;
        _pump($id);
        wait_until(sub { nodes()->{$id} }, 10);
    }
    return wait_scene();
}

sub _pump {
    my ($id) = @_;
    $Nodes{$id} = Mesh::Node->start(nginx_port => port(), node_id => $id,
                                    interval_ms => 200, %{ $Want{$id} });
}

# A silent node $id heartbeats again; waits until it is up.
sub resume {
    my ($id) = @_;
    delete $Want{$id}{silent};
    _pump($id);
    return wait_scene();
}

# Changes what node $id reports and waits until the registry shows it.
sub node_set {
    my ($id, %kv) = @_;
    @{ $Want{$id} }{ keys %kv } = values %kv;
    $Nodes{$id}->set(%kv);
    return wait_scene();
}

sub wait_scene {
    my $ok = wait_until(sub {
        my $listed = nodes();
        return 0 unless join(',', sort keys %$listed)
                     eq join(',', sort keys %Nodes);
        for my $id (keys %Nodes) {
            my $want = $Want{$id};
            my $got = $listed->{$id};
            my $live = $want->{status} =~ /^(idle|busy)$/
                       && !$want->{silent} ? 1 : 0;
            return 0 unless ($got->{up} ? 1 : 0) == $live
                && $got->{active_tasks} == $want->{active_tasks}
                && $got->{max_tasks} == $want->{max_tasks}
                && $got->{hardware}{ram_free_gb} == $want->{ram_free_gb}
                && $got->{status} eq $want->{status};
        }
        return 1;
    }, 15);
    Test::More::diag("the registry did not show the scene: "
                     . $JSON->encode(nodes())) unless $ok;
    return $ok;
}

# Stops node $id's heartbeats: it goes silent, it does not leave.  Waits
# until the health sweep has marked it down (its node.down event).
sub silence {
    my ($id) = @_;
    my $sub = Mesh::Events->new($Redis->port, 'mesh:events');
    $Nodes{$id}->stop;
    $Want{$id}{silent} = 1;
    my $down = grep { ($_->{event} // '') eq 'node.down'
                      && ($_->{node_id} // '') eq $id }
        $sub->events(sub { ($_[0]{event} // '') eq 'node.down'
                           && ($_[0]{node_id} // '') eq $id }, 10 * $Slow);
    $sub->close;
    Test::More::diag("node $id was not marked down") unless $down;
    return $down;
}

# Node $id stops its heartbeats and leaves; waits until it is not listed.
sub leave {
    my ($id) = @_;
    $Nodes{$id}->stop;
    delete $Nodes{$id};
    delete $Want{$id};
    Mesh::Node::leave(port(), $id);
    return wait_scene();
}

# Masks what changes from run to run: times, durations, task ids, the
# simulator's token context, and OpenAI replies' ids and creation times.
sub normalize {
    my ($text) = @_;
    return undef unless defined $text;
    $text =~ s/"created_at":"[^"]*"/"created_at":"T"/g;
    $text =~ s/"id":"(chatcmpl|cmpl)-\d+"/"id":"$1-N"/g;
    $text =~ s/"created":\d+/"created":0/g;
    $text =~ s/"(\w*_duration)":\d+/"$1":0/g;
    $text =~ s/"task_id":"[^"]*"/"task_id":"ID"/g;
    $text =~ s/"context":\[[\d,]*\]/"context":[C]/g;
    return $text;
}

# Runs $action in a forked child once $cond is true (polled for up to
# $limit s, scaled), while the parent goes on, e.g. with the block's main
# request: a node changing what it reports once the request waits.  The
# child shares the parent's objects (Mesh::Node->set works from it) but
# must not start processes.  reap_later() waits for them.
our @Later;

sub later {
    my ($cond, $action, $limit) = @_;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        my $code = 1;
        eval {
            if (wait_until($cond, $limit // 10)) {
                $action->();
            } else {
                # said, not silent: a block waiting on the action would
                # otherwise fail with no clue why
                print STDERR "later: the condition did not hold within "
                    . (($limit // 10) * $Slow) . " s; action not run\n";
            }
            $code = 0;
        };
        print STDERR "later: $@" if $@;
        POSIX::_exit($code);
    }
    push @Later, $pid;
    return $pid;
}

# Waits for every later() child; true when each ran its action.
sub reap_later {
    my $ok = 1;
    for my $pid (splice @Later) {
        waitpid $pid, 0;
        $ok = 0 if $?;
    }
    return $ok;
}

# --- mesh:events ---------------------------------------------------------

# Subscribes to the mesh's channels (Mesh::Events); the events published
# from now on are read by events() and the --- events check.
sub subscribe {
    $Sub->close if $Sub;
    $Sub = Mesh::Events->new($Redis->port);
    return $Sub;
}

# Events read from the subscription (see Mesh::Events::events).
sub events {
    my ($stop, $limit) = @_;
    return $Sub->events($stop, ($limit // 10) * $Slow);
}

# "kind key=value ...": the event's fields, keys sorted, nested values
# as canonical JSON; ts, duration_ms and tokens_per_sec as "N" when they
# are numbers (their values vary); task ids as "#1", "#2"... in order of
# appearance, through %$ids; "by" (the publishing nginx) as ORCH; "sent"
# (a heartbeat's signed time) as S when it is a unix time within 600 s.
sub event_line {
    my ($ev, $ids) = @_;
    my @kv;
    $ids //= {};
    for my $k (sort keys %$ev) {
        next if $k eq 'event';
        my $v = $ev->{$k};
        if ($k eq 'ts' || ($ev->{event} // '') =~ /^task\./
                          && $k =~ /^(duration_ms|tokens_per_sec)$/) {
            $v = 'N' if defined $v && $v =~ /^\d+(\.\d+)?$/;
            next if $k eq 'ts' && $v eq 'N';
        } elsif ($k eq 'by' && defined $v && $v =~ /^[0-9a-f]{16}$/) {
            $v = 'ORCH';            # the publishing nginx, random per zone
        } elsif ($k eq 'sent' && defined $v && $v =~ /^\d+$/
                 && abs($v - time) < 600) {
            $v = 'S';
        } elsif ($k eq 'task_id') {
            my $n = keys %$ids;
            $v = $ids->{$v} //= '#' . ($n + 1);
        }
        $v = $JSON->encode($v) if ref $v;
        push @kv, "$k=$v";
    }
    return join ' ', $ev->{event} // '?', @kv;
}

# --- custom checks ---------------------------------------------------------

# name => sub ($block, $want, $body): runs exactly one test.  A section
# whose value is an array has one entry per request of the block; any
# other value is checked after the block's last request.
our %CHECKS = (
    body_normalized => sub {
        my ($block, $want, $body) = @_;
        Test::More::is(normalize($body), $want,
                       $block->name . ' - body_normalized');
    },
    same_as_sim => sub {
        my ($block, $want, $body) = @_;
        my ($method, $path, $content) = _request_parts($block);
        (my $sim = $want) =~ s/\s+//g;
        my $r = Mesh::SimClient->new($Sims{$sim}->port)
            ->request($method, $path, $content);
        Test::More::is(normalize($body), normalize($r->{content}),
                       $block->name . " - same body as sim $sim directly");
    },
    events       => \&_check_events,
    redis        => \&_check_redis,
    json_is      => \&_check_json,
    registry_ids => sub {
        my ($block, $want) = @_;
        Test::More::is(join(' ', sort keys %{ nodes() }),
                       join(' ', sort split ' ', $want),
                       $block->name . ' - the registry lists these nodes');
    },
);

# A suite's own check section, counted by count_tests().
sub add_check {
    my ($name, $code) = @_;
    $CHECKS{$name} = $code;
}

sub _request_parts {
    my ($block) = @_;
    my $req = $block->request // '';
    my ($method, $path, $body) = $req =~ /\A\s*(\S+)\s+(\S+)[^\n]*\n(.*)\z/s;
    $body =~ s/^\s+|\s+$//g if defined $body;
    return ($method, $path, $body);
}

sub _nrequests {
    my ($block) = @_;
    my $req = $block->request;
    return ref $req eq 'ARRAY' ? scalar @$req : 1;
}

sub _custom_checks {
    my ($block, $body, $idx, $rep, $dry) = @_;
    for my $section (sort keys %CHECKS) {
        my $want = $block->$section;
        next unless defined $want;
        if (ref $want eq 'ARRAY') {
            $want = $want->[$idx];
        } elsif ($idx != _nrequests($block) - 1) {
            next;
        }
        if ($dry) {
            Test::More->builder->skip($dry);
        } elsif (!defined $want) {
            Test::More::pass($block->name . " - no $section check for "
                             . "request $idx");
        } else {
            $CHECKS{$section}->($block, $want, $body);
        }
    }
}

# The task id of the body (a native task's routed line) is #1.
sub _check_events {
    my ($block, $want, $body) = @_;
    my @want = grep { length } split /\n/, $want;
    my $filter = $block->events_filter // '^task\.';
    chomp $filter;
    my $until = $block->events_until;
    chomp $until if defined $until;
    $until = defined $until ? qr/$until/ : qr/^\Q$want[-1]\E$/;
    my (%ids, @lines);
    $ids{$1} = '#1' if ($body // '') =~ /"task_id":"([^"]+)"/;
    my @all;
    my $take = sub {
        my $line = event_line($_[0], \%ids);
        push @all, $line;
        push @lines, $line if $line =~ /$filter/;
        return $line =~ $until;
    };
    events($take, 10);
    events($take, 0.3);    # nothing more should come
    Test::More::is(join("\n", @lines, ''), join("\n", @want, ''),
                   $block->name . ' - events')
        or Test::More::diag("every event seen:\n", join "\n", @all);
}

sub _check_redis {
    my ($block, $want) = @_;
    my @miss;
    for my $line (grep { /\S/ } split /\n/, $want) {
        my ($cmd, $re) = $line =~ /^\s*(.*?)\s+~\s+(.*)$/
            or die "bad --- redis line: $line\n";
        my $out = redis(split ' ', $cmd);
        push @miss, "$cmd: /$re/ on:\n$out" unless $out =~ /$re/m;
    }
    Test::More::ok(!@miss, $block->name . ' - redis')
        or Test::More::diag(join "\n", @miss);
}

# --- json_is: the body decoded equals the structure given; a qr// value
# matches, a code ref returns true, numbers compare as numbers.
sub _check_json {
    my ($block, $want, $body) = @_;
    my $got = eval { JSON::PP->new->decode($body // '') };
    my @diff = defined $got ? json_diff($got, $want, '')
                            : ('the body is not JSON: ' . ($body // ''));
    Test::More::ok(!@diff, $block->name . ' - json_is')
        or Test::More::diag(join "\n", @diff);
}

sub json_diff {
    my ($got, $want, $at) = @_;
    my $show = sub { JSON::PP->new->canonical->allow_nonref
                                   ->encode($_[0]) };
    if (ref $want eq 'Regexp') {
        return () if defined $got && !ref $got && $got =~ $want;
    } elsif (ref $want eq 'CODE') {
        return () if $want->($got);
    } elsif (ref $want eq 'HASH') {
        return "$at: " . $show->($got) . ', want an object'
            unless ref $got eq 'HASH';
        my @keys = sort keys %{ { %$got, %$want } };
        return map {
            exists $want->{$_} && exists $got->{$_}
                ? json_diff($got->{$_}, $want->{$_}, "$at.$_")
                : "$at.$_: " . (exists $got->{$_} ? 'not expected'
                                                  : 'missing')
        } @keys;
    } elsif (ref $want eq 'ARRAY') {
        return "$at: " . $show->($got) . ', want ' . @$want . ' items'
            unless ref $got eq 'ARRAY' && @$got == @$want;
        return map { json_diff($got->[$_], $want->[$_], "$at\[$_]") }
            0 .. $#$want;
    } elsif (JSON::PP::is_bool($want)) {
        return () if JSON::PP::is_bool($got) && !$got == !$want;
    } elsif (!defined $want) {
        return () if !defined $got;
    } elsif (defined $got && !ref $got) {
        my $num = qr/^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/;
        return () if $want =~ $num && $got =~ $num ? $got == $want
                                                   : $got eq $want;
    }
    return "$at: " . $show->($got) . ', want ' . (ref $want eq 'Regexp'
        || ref $want eq 'CODE' ? "$want" : $show->($want));
}

# --- plan ------------------------------------------------------------------

sub _lines {
    my ($v) = @_;
    return 0 unless defined $v;
    return scalar @$v if ref $v eq 'ARRAY';
    return 1 if ref $v;
    return scalar grep { /\S/ } split /\n/, $v;
}

# The number of tests run_tests() will run, for plan().
sub count_tests {
    my $total = 0;
    for my $block (Test::Base::blocks()) {
        next if defined $block->SKIP;
        my $logs = _lines(scalar $block->error_log)
            + _lines(scalar $block->no_error_log)
            + _lines(scalar $block->access_log)
            + _lines(scalar $block->no_access_log)
            + (defined $block->grep_error_log ? 1 : 0);
        if (defined $block->must_die) {
            $total += Test::Nginx::Socket::repeat_each() * (1 + $logs);
            next;
        }
        my $nreq = _nrequests($block);
        my $hdr = $block->response_headers // $block->response_headers_like;
        my $nhdr = _lines(ref $hdr eq 'ARRAY' ? $hdr->[0] : $hdr)
            + grep({ defined $block->$_ } qw(raw_response_headers_like
                    raw_response_headers_unlike));
        my $per = 1 + $nhdr
            + (grep({ defined $block->$_ } qw(response_body
                    response_body_eval response_body_like
                    response_body_unlike)) ? 1 : 0);
        my $custom = 0;
        for my $section (keys %CHECKS) {
            my $v = $block->$section;
            $custom += ref $v eq 'ARRAY' ? $nreq : defined $v ? 1 : 0;
        }
        $total += Test::Nginx::Socket::repeat_each() * ($nreq * ($per + $logs) + $custom);
    }
    return $total;
}

END {
    # one by one, before Mesh::Proc's own END: nodes first, then what
    # they use
    local $?;
    reap_later();
    $Sub->close if $Sub;
    $_->stop for values %Nodes;
    $_->stop for values %Sims;
    $Redis->stop if $Redis;
}

1;
