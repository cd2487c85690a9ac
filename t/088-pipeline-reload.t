# nginx -s reload during a running pipeline: the running pipeline
# finishes in the old worker, with the configuration it started with
# (every step, every token of the last one, its pipeline_done line),
# whether the reload comes during step 1 (an in-memory subrequest) or
# during the streamed last step; the old worker then exits.  A pipeline
# started after the reload runs the new configuration's steps.
#
# The simulator's reply is its model's name, then the prompt's words in
# turn, so step 2's reply shows the prompt it got, and with it which
# configuration built that prompt.
#
# A reload needs a master process: this file runs its own nginx, master
# on, on the runner's port and server root (no_nginx_manager), as
# t/074-reload.t does; under TEST_NGINX_USE_VALGRIND it runs under
# memcheck.
use strict;
use warnings;

use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Nginx;
use Mesh::Orch;
use Mesh::Pipeline;

our ($Nginx, $Bg, $Before, $After, @L, @N);
our $STEP1 = '[llava:7b] Describe this image in detail.';

my $HTTP = "    mesh_heartbeat_interval 300ms;\n";
my $CONFIG = $Mesh::Orch::LOCATIONS . $Mesh::Pipeline::LOCATIONS;
# the shipped pipelines, and the same with step 2 of describe-and-summarize
# asking another way
our $OLD = $Mesh::Pipeline::PIPELINES;
(our $NEW = $OLD) =~ s/Summarize in one sentence: /In short: /
    or die "no summarize step to change\n";

Mesh::Pipeline::suite();
add_test_cleanup_handler(\&Mesh::Chaos::teardown);
# not Mesh::Chaos::own: Mesh::Pipeline::mesh tears those down first
add_test_cleanup_handler(sub { $Nginx->stop if $Nginx && $Nginx->alive });
no_nginx_manager();

# nginx (master on) with the shipped pipelines, nodes a (llava:7b) and b
# (mistral:7b); %sim: the extra simulator flags of each
sub mesh {
    my (%sim) = @_;
    $Nginx = Mesh::Chaos::nginx(
        name => 'nginx', master => 'on', root => server_root(),
        keep_logs => 1, port => $ENV{TEST_NGINX_SERVER_PORT},
        http_config => Mesh::Orch::http_config($HTTP . $OLD),
        config => $CONFIG);
    Mesh::Pipeline::mesh(a => { model => 'llava:7b', sim => $sim{a} },
                         b => { model => 'mistral:7b', sim => $sim{b} });
}

# describe-and-summarize, streamed, from a client in the background
sub start {
    return Mesh::Chaos::background(
        path => '/mesh/v1/pipelines/describe-and-summarize', timeout => 60,
        body => '{"prompt":"what is this?","images":["aGVsbG8="]}');
}

# the new pipelines written in, then nginx -s reload; waits until a new
# worker answers; returns the /mesh/status of before and after
sub reload {
    my $before = Mesh::Chaos::status();
    Mesh::Nginx::write_conf(root => $Nginx->{root},
        port => $ENV{TEST_NGINX_SERVER_PORT}, master => 'on',
        http_config => Mesh::Nginx::expand(Mesh::Orch::http_config(
            $HTTP . $NEW)),
        config => Mesh::Nginx::expand($CONFIG));
    system(Mesh::Nginx::command($Nginx->{root}, '-s', 'reload')) == 0
        or Test::More::diag("nginx -s reload failed: $?");
    my $after = {};
    Mesh::Orch::wait_until(sub {
        $after = Mesh::Chaos::status();
        return ($after->{pid} // 0) != $before->{pid};
    }, 15);
    # the old worker takes new connections until it handles the quit: it
    # logs "gracefully shutting down" just before it closes its listeners
    Mesh::Orch::wait_until(sub { old_worker_closed($before->{pid}) }, 15)
        or Test::More::diag("worker $before->{pid} never began to shut down");
    return ($before, $after);
}

# (read in its log, which works under valgrind too, where the process
# title is valgrind's)
sub old_worker_closed {
    my ($pid) = @_;
    return 1 unless kill 0, $pid;
    open my $in, '<', "$Nginx->{root}/logs/error.log" or return 0;
    local $/;
    return (<$in> // '') =~ /\[notice\] $pid#\d+: gracefully shutting down/;
}

# What the simulator replies with $n tokens: the model's name, then the
# prompt's words in turn.
sub sim_text {
    my ($model, $prompt, $n) = @_;
    my @w = split ' ', $prompt;
    return join ' ', "[$model]", map { $w[$_ % @w] } 0 .. $n - 2;
}

sub line { my ($i) = @_; return $main::L[$i] // {} }

# the reply of a background pipeline, its lines decoded into @L
sub reply {
    my $r = $Bg->result;
    @L = map { scalar eval { JSON::PP->new->decode($_) } }
        @{ $r->{lines} || [] };
    return $r;
}

# The background pipeline ran whole on the old configuration, its last
# step with $n tokens: 200, a clean end, step 1 on a, step 2 on b with the
# old prompt, its done line, pipeline_done.  Says which part failed.
sub ran_old {
    my ($n) = @_;
    my $r = reply();
    my @want = (
        ['status 200, clean end', ($r->{status} // 0) == 200
                                  && $r->{clean_end}],
        ['step 1 on a', line(0)->{event} eq 'step' && line(0)->{index} == 1
                        && line(0)->{node} eq 'a'],
        ['step 1 output', line(1)->{event} eq 'step_done'
                          && line(1)->{output} eq $STEP1],
        ['step 2 on b', line(2)->{event} eq 'step' && line(2)->{index} == 2
                        && line(2)->{node} eq 'b'],
        ['step 2 text', Mesh::Pipeline::streamed_text(@L[3 .. $#L]) eq
            sim_text('mistral:7b', "Summarize in one sentence: $STEP1", $n)],
        ['done line', $L[-2]{done} && $L[-2]{eval_count} == $n],
        ['pipeline_done', ($L[-1]{event} // '') eq 'pipeline_done'
                          && @{ $L[-1]{steps} } == 2],
    );
    for (@want) {
        next if $_->[1];
        $Mesh::Checks::Why = "not as expected: $_->[0]";
        return 0;
    }
    return 1;
}

# After the pipeline: its pipeline.done event and no pipeline.failed,
# one worker left, no load left on either node.
sub ended_clean {
    return Mesh::Chaos::seen(event => 'pipeline.done',
                             name => 'describe-and-summarize')
        && Mesh::Chaos::unseen(event => 'pipeline.failed')
        && Mesh::Orch::wait_until(sub { Mesh::Chaos::workers($Nginx) == 1 },
                                  15)
        && Mesh::Chaos::settled_load('a') eq '0/0'
        && Mesh::Chaos::settled_load('b') eq '0/0';
}

# a fresh server root for the file: the blocks keep adding to its logs
Mesh::Nginx::server_root(server_root());

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a reload during step 1: the pipeline finishes in the old
worker with the old step 2; a pipeline after the reload runs the new one
--- init
main::mesh(a => ['--tokens', 6, '--token-delay-ms', 300],
           b => ['--tokens', 9]);
$main::Bg = main::start();
Mesh::Orch::wait_until(sub { Mesh::Pipeline::sim_stats('a')->{active} == 1 }, 15);
($main::Before, $main::After) = main::reload();
--- request eval
"POST /mesh/v1/pipelines/describe-and-summarize\n"
. '{"prompt":"again","images":["aGVsbG8="],"stream":false}'
--- response_body_like: "done":true\}$
--- checks
$After->{pid} != $Before->{pid}
main::ran_old(9)
main::line(1)->{tokens} == 6
# the request after the reload: the new step 2
JSON::PP->new->decode($Body)->{response} eq main::sim_text('mistral:7b', "In short: $STEP1", 9)
main::ended_clean()
--- error_log
reconfiguring
--- no_error_log
[error]



=== TEST 2: a reload during the streamed last step: every token, the
done line and pipeline_done arrive, then the old worker exits
--- init
main::mesh(a => ['--tokens', 6], b => ['--tokens', 30, '--token-delay-ms', 60]);
$main::Bg = main::start();
Mesh::Orch::wait_until(sub { Mesh::Pipeline::sim_stats('b')->{active} == 1 }, 15);
($main::Before, $main::After) = main::reload();
--- request
GET /mesh/v1/pipelines
--- response_body_like: "In short: \{\{previous\}\}"
--- checks
$After->{pid} != $Before->{pid}
main::ran_old(30)
(@N = grep { defined $_ && exists $_->{response} && !$_->{done} } @L) == 30
$L[-1]{event} eq 'pipeline_done' && join(',', map { "$_->{index}:$_->{node}:$_->{tokens}" } @{ $L[-1]{steps} }) eq '1:a:6,2:b:30'
main::ended_clean()
--- error_log
reconfiguring
--- no_error_log
[error]
