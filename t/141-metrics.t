# mesh_metrics: the Prometheus text format, mesh-wide.  Two workers take
# a known set of tasks (each on its own connection, until both workers
# have served some): native, Ollama and pipeline tasks that are done, an
# unknown model, a bad body and requests without a key.  Whichever worker
# answers the scrape, every series is exactly what was sent, the
# histograms count the tasks that reached a node, and `promtool check
# metrics` accepts the whole output.  Then: feed clients of both workers,
# a retry and an ejection, Redis going away and coming back, and a zone
# too small for the metrics.
#
# Under TEST_NGINX_USE_VALGRIND the runner runs one nginx process (master
# off): there the counts are checked the same, from that one process.
use strict;
use warnings;

use File::Spec;
use HTTP::Tiny;
use IO::Socket::INET;
use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;
use Mesh::Proc;

our $KEY = 'metrics-key-0123456789';
our $WORKERS = $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 2;
our (%Want, %Pids, $Why);

{
    my $path = File::Spec->rel2abs(
        File::Spec->catfile(Mesh::Proc::log_dir(), 'keys'));
    open my $fh, '>', $path or die "cannot write $path: $!";
    print $fh "scraper:$KEY\n";
    close $fh;
    chmod 0600, $path;
    $ENV{TEST_NGINX_KEYS} = $path;
}
$ENV{TEST_NGINX_DEAD_PORT} = Mesh::Proc::free_port();

our $HTTP = Mesh::Orch::http_config(<<'_EOC_');
    mesh_api_keys $TEST_NGINX_KEYS;
    mesh_pipeline one {
        step type=text "prompt={{input}}";
    }
_EOC_

our $CONFIG = $Mesh::Orch::LOCATIONS . <<'_EOC_';
    add_header X-Worker $pid always;

    location /mesh/v1/pipelines {
        mesh_pipelines /mesh/internal/step;
    }

    location = /mesh/internal/step {
        internal;
        mesh_route task;
        proxy_pass http://mesh_agents/api/generate;
    }

    location = /metrics {
        mesh_metrics;
    }
_EOC_

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--model', 'mistral:7b', '--tokens', 3);
Mesh::Orch::sim('B', '--model', 'codellama:7b', '--model', 'mistral:7b',
                '--tokens', 5);

add_block_preprocessor(sub {
    my ($block) = @_;
    $block->set_value(http_config => $HTTP)
        unless defined $block->http_config;
    $block->set_value(config => $CONFIG) unless defined $block->config;
});

# One request on a new connection: (status, worker pid, body).
sub send_one {
    my ($method, $path, $body, %h) = @_;
    my $r = HTTP::Tiny->new(timeout => 20 * $Mesh::Orch::Slow)->request(
        $method, "http://127.0.0.1:" . Mesh::Orch::port() . $path,
        { headers => \%h, defined $body ? (content => $body) : () });
    return ($r->{status}, $r->{headers}{'x-worker'} // '', $r->{content});
}

# The set of tasks: [method, path, body, key?, status, series or undef]
our @SET = (
    ['POST', '/mesh/v1/tasks', '{"type":"text","prompt":"t","stream":false}',
     1, 200, 'native,a,mistral:7b,done', 3],
    ['POST', '/mesh/v1/tasks', '{"type":"code","prompt":"c","stream":false}',
     1, 200, 'native,b,codellama:7b,done', 5],
    ['POST', '/api/generate',
     '{"model":"mistral:7b","prompt":"o","stream":false}',
     1, 200, 'ollama,a,mistral:7b,done', 3],
    ['POST', '/api/generate', '{"model":"no-such-model","prompt":"o"}',
     1, 404, 'ollama,none,none,unknown_model', 0],
    ['POST', '/mesh/v1/tasks', '{"type":"text",', 1, 400,
     'native,none,none,rejected', 0],
    ['POST', '/mesh/v1/pipelines/one', '{"prompt":"p","stream":false}',
     1, 200, 'pipeline,a,mistral:7b,done', 3],
    ['POST', '/mesh/v1/tasks', '{"type":"text","prompt":"t"}',
     0, 401, undef, 0],
    ['POST', '/api/chat', '{"model":"mistral:7b"}', 0, 401, undef, 0],
);

# Sends the set until both workers served tasks (at least twice over);
# fills %Want: series => [tasks, tokens], plus the other counts.
sub run_set {
    %Want = (); %Pids = ();
    my $rounds = 0;
    while ($rounds < 2 || (keys %Pids < $WORKERS && $rounds < 40)) {
        $rounds++;
        for my $t (@SET) {
            my ($m, $path, $body, $key, $status, $series, $tokens) = @$t;
            my ($got, $pid) = send_one($m, $path, $body,
                                       $key ? ('x-api-key' => $KEY) : ());
            if ($got != $status) {
                $Why = "$m $path: status $got, not $status";
                return 0;
            }
            $Pids{$pid}++ if $pid;
            if (defined $series) {
                $Want{$series}[0]++;
                $Want{$series}[1] += $tokens;
            } else {
                $Want{unauthorized}{$path =~ /tasks/ ? 'native' : 'ollama'}++;
            }
        }
    }
    $Want{rounds} = $rounds;
    $Why = "only worker " . join(',', keys %Pids) . " answered";
    return keys %Pids >= $WORKERS;
}

# The scrape, parsed: { "name{labels}" => value }
sub scrape {
    my ($status, $pid, $body) = send_one('GET', '/metrics');
    return {} unless $status == 200;
    my %m;
    for (split /\n/, $body) {
        next if /^#/;
        $m{$1} = $2 if /^(\S+) (\S+)$/;
    }
    return \%m;
}

sub tasks_seen {
    my ($m) = @_;
    my $n = 0;
    $n += $m->{$_} for grep { /^mesh_tasks_total\{/ } keys %$m;
    return $n;
}

sub tasks_sent {
    my $n = 0;
    $n += $Want{$_}[0] for grep { /,/ } keys %Want;
    return $n;
}

# every series of the set has exactly its count, and no other exists
sub series_exact {
    my $m;
    Mesh::Orch::wait_until(sub { $m = scrape(); tasks_seen($m) >= tasks_sent() },
                           10);
    my @bad;
    for my $s (grep { /,/ } keys %Want) {
        my ($door, $node, $model, $outcome) = split /,/, $s;
        my $l = "{door=\"$door\",node=\"$node\",model=\"$model\","
              . "outcome=\"$outcome\"}";
        push @bad, "tasks$l " . ($m->{"mesh_tasks_total$l"} // 'none')
                   . " != $Want{$s}[0]"
            unless ($m->{"mesh_tasks_total$l"} // -1) == $Want{$s}[0];
        push @bad, "tokens$l " . ($m->{"mesh_tokens_total$l"} // 'none')
                   . " != $Want{$s}[1]"
            unless ($m->{"mesh_tokens_total$l"} // -1) == $Want{$s}[1];
    }
    my @series = sort grep { /^mesh_tasks_total\{/ } keys %$m;
    push @bad, @series . " series, not " . scalar(grep { /,/ } keys %Want)
               . ": " . join(', ', map { "$_ $m->{$_}" } @series)
        unless @series == grep { /,/ } keys %Want;
    for my $door (qw(native ollama)) {
        my $k = "mesh_unauthorized_requests_total{door=\"$door\"}";
        push @bad, "$k " . ($m->{$k} // 'none')
            unless ($m->{$k} // -1) == $Want{unauthorized}{$door};
    }
    $Why = join('; ', @bad) . " (workers: " . join(',', keys %Pids) . ")";
    return !@bad;
}

# the histograms count each task that reached a node, once
sub histograms {
    my $m = scrape();
    my $routed = 0;
    $routed += $Want{$_}[0] for grep { /,(a|b),/ } keys %Want;
    my @bad;
    for my $h (qw(mesh_queue_wait_seconds mesh_time_to_first_token_seconds
                  mesh_task_duration_seconds)) {
        push @bad, "$h count " . ($m->{"${h}_count"} // 'none')
            unless ($m->{"${h}_count"} // -1) == $routed;
        push @bad, "$h +Inf " . ($m->{"${h}_bucket{le=\"+Inf\"}"} // 'none')
            unless ($m->{"${h}_bucket{le=\"+Inf\"}"} // -1) == $routed;
    }
    $Why = join '; ', @bad;
    return !@bad;
}

sub gauge {
    my ($name) = @_;
    return scrape()->{$name} // -1;
}

# the sum of several series, read from one scrape (a node can move from
# one state to another between two)
sub gauge_sum {
    my (@names) = @_;
    my $m = scrape();
    my $sum = 0;
    $sum += $m->{$_} // -1 for @names;
    return $sum;
}

# promtool check metrics on a scrape: exit 0 and nothing said
sub promtool_ok {
    my ($status, $pid, $body) = send_one('GET', '/metrics');
    my $file = File::Spec->catfile(Mesh::Proc::log_dir(), 'metrics.txt');
    open my $fh, '>', $file or die $!;
    print $fh $body;
    close $fh;
    my $out = `promtool check metrics < $file 2>&1`;
    $Why = "promtool exit " . ($? >> 8) . ": $out";
    return $? == 0 && $out eq '';
}

# SSE clients held open on new connections (several, so both workers
# are likely to hold some; the gauge is their sum whichever way)
our @Feeds;
sub open_feeds {
    my ($n) = @_;
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => Mesh::Orch::port())
            or return 0;
        print $s "GET /mesh/v1/feed?key=$KEY HTTP/1.1\r\nHost: x\r\n"
               . "Accept: text/event-stream\r\n\r\n";
        push @Feeds, $s;
    }
    return 1;
}

sub close_feeds { close $_ for @Feeds; @Feeds = (); 1 }

add_test_cleanup_handler(\&close_feeds);

master_on();
workers(2);
repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();

run_tests();

__DATA__

=== TEST 1: a known set of tasks over two workers: every count exact
--- init
Mesh::Orch::scene(
    a => { sim => 'A', ram_free_gb => 12, models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 4,
           models => [['codellama:7b', 'code'], ['mistral:7b', 'text']] });
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like: ^# HELP mesh_tasks_total 
--- checks
main::run_set() or diag($main::Why)
main::series_exact() or diag($main::Why)
main::histograms() or diag($main::Why)
main::gauge('mesh_nodes{state="up"}') == 2
main::gauge('mesh_nodes{state="down"}') == 0
main::gauge('mesh_queue_length') == 0
main::gauge('mesh_retries_total') == 0
main::gauge('mesh_ejections_total') == 0
Mesh::Orch::wait_until(sub { main::gauge('mesh_redis_links{state="up"}') == $main::WORKERS }, 5)
main::gauge('mesh_redis_links{state="down"}') == 0
main::gauge('mesh_feed_clients') == 0
main::promtool_ok() or diag($main::Why)
--- no_error_log
[error]



=== TEST 2: feed clients: all workers' clients, and back to 0
--- init
Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']] });
--- request
GET /metrics
--- checks
main::open_feeds(4)
Mesh::Orch::wait_until(sub { main::gauge('mesh_feed_clients') == 4 }, 10) or diag(main::gauge('mesh_feed_clients'))
main::close_feeds()
Mesh::Orch::wait_until(sub { main::gauge('mesh_feed_clients') == 0 }, 10) or diag(main::gauge('mesh_feed_clients'))
main::promtool_ok() or diag($main::Why)
--- no_error_log
[error]



=== TEST 3: a node that refuses connections: a retry, an ejection, down
--- http_config eval
$::HTTP . "    mesh_eject failures=1 time=60s;\n"
--- init
Mesh::Orch::scene(
    dead => { port => $ENV{TEST_NGINX_DEAD_PORT}, ram_free_gb => 12,
              models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 4, models => [['mistral:7b', 'text']] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"r","stream":false}
--- more_headers eval
"x-api-key: $::KEY"
--- response_headers
X-Mesh-Node: b
--- checks
Mesh::Orch::wait_until(sub { main::gauge('mesh_retries_total') == 1 }, 10)
main::gauge('mesh_ejections_total') == 1
# down until its next heartbeat, ejected after it (time=60s)
main::gauge_sum('mesh_nodes{state="down"}', 'mesh_nodes{state="ejected"}') == 1
main::gauge('mesh_nodes{state="up"}') == 1
Mesh::Orch::wait_until(sub { main::gauge('mesh_tasks_total{door="ollama",node="b",model="mistral:7b",outcome="done"}') == 1 }, 10)
main::promtool_ok() or diag($main::Why)



=== TEST 4: Redis goes away: the workers' links are down; back: reconnects
--- request
GET /metrics
--- checks
Mesh::Orch::wait_until(sub { main::gauge('mesh_redis_links{state="up"}') == $main::WORKERS }, 10)
main::gauge('mesh_redis_reconnects_total') == 0
Mesh::Chaos::redis_kill()
Mesh::Orch::wait_until(sub { main::gauge('mesh_redis_links{state="down"}') == $main::WORKERS }, 10) or diag(main::gauge('mesh_redis_links{state="down"}'))
main::gauge('mesh_redis_links{state="up"}') == 0
Mesh::Chaos::redis_restart()
Mesh::Orch::wait_until(sub { main::gauge('mesh_redis_reconnects_total') == $main::WORKERS }, 30) or diag(main::gauge('mesh_redis_reconnects_total'))
Mesh::Orch::wait_until(sub { main::gauge('mesh_redis_links{state="up"}') == $main::WORKERS }, 10)
main::promtool_ok() or diag($main::Why)



=== TEST 5: a zone too small for the metrics: 503, and the rest works
--- http_config
    mesh_zone mesh 64k;
--- config
    location = /metrics {
        mesh_metrics;
    }
--- request
GET /metrics
--- error_code: 503
--- response_body
{"error":"the mesh zone has no room for the metrics"}



=== TEST 6: OpenAI replies, not streamed: mesh_tokens_total counts their usage.completion_tokens
Chat and completions, 5 tokens each from node b, and a streamed chat
(counted by its chunks) beside them: 15.
--- init
Mesh::Orch::scene(b => { sim => 'B', models => [['mistral:7b', 'text']] });
--- request
GET /metrics
--- checks
(main::send_one('POST', '/v1/chat/completions', '{"model":"mistral:7b","messages":[{"role":"user","content":"m"}]}', 'x-api-key' => $main::KEY))[0] == 200
(main::send_one('POST', '/v1/completions', '{"model":"mistral:7b","prompt":"m"}', 'x-api-key' => $main::KEY))[0] == 200
(main::send_one('POST', '/v1/chat/completions', '{"model":"mistral:7b","stream":true,"messages":[{"role":"user","content":"m"}]}', 'x-api-key' => $main::KEY))[0] == 200
Mesh::Orch::wait_until(sub { main::gauge('mesh_tasks_total{door="openai",node="b",model="mistral:7b",outcome="done"}') == 3 }, 10) or diag(main::gauge('mesh_tasks_total{door="openai",node="b",model="mistral:7b",outcome="done"}'))
main::gauge('mesh_tokens_total{door="openai",node="b",model="mistral:7b",outcome="done"}') == 15 or diag(main::gauge('mesh_tokens_total{door="openai",node="b",model="mistral:7b",outcome="done"}'))
--- no_error_log
[error]
