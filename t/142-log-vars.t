# The $mesh_* log variables, through the `log_format mesh` that
# conf/nginx.conf ships (read from that file), into an access_log file:
# each request's line has exactly the caller's key name, the task id of
# its X-Mesh-Task header, the node and model that served it, the nodes
# tried, the queue wait, the time to first byte, the tokens and the
# outcome; tasks that never reached a node, and requests that are no
# task, log "-" where nothing is known.
use strict;
use warnings;

use File::Spec;
use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Orch;
use Mesh::Proc;

our $KEY = 'logger-key-0123456789';

# the log_format of conf/nginx.conf, as it is shipped
our $FORMAT = do {
    open my $fh, '<', 'conf/nginx.conf' or die "conf/nginx.conf: $!";
    local $/;
    my $conf = <$fh>;
    $conf =~ /^(\s*log_format\s+mesh\s.*?;)\s*$/ms
        or die 'conf/nginx.conf has no "log_format mesh"';
    $1;
};

{
    my $path = File::Spec->rel2abs(
        File::Spec->catfile(Mesh::Proc::log_dir(), 'keys'));
    open my $fh, '>', $path or die "cannot write $path: $!";
    print $fh "carol:$KEY\n";
    close $fh;
    chmod 0600, $path;
    $ENV{TEST_NGINX_KEYS} = $path;
}
$ENV{TEST_NGINX_DEAD_PORT} = Mesh::Proc::free_port();

our $HTTP = Mesh::Orch::http_config("$FORMAT\n"
    . "    map \$uri \$logged { ~^/mesh/v1/nodes 0; default 1; }\n"
    . "    mesh_api_keys \$TEST_NGINX_KEYS;\n"
    . "    mesh_queue_ttl 1s;\n");
our $CONFIG = "    access_log logs/mesh.log mesh if=\$logged;\n"
            . $Mesh::Orch::LOCATIONS;

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--model', 'mistral:7b', '--tokens', 3);
Mesh::Orch::sim('B', '--model', 'mistral:7b', '--tokens', 5);

add_block_preprocessor(sub {
    my ($block) = @_;
    $block->set_value(http_config => $HTTP);
    $block->set_value(config => $CONFIG);
    $block->set_value(more_headers => "x-api-key: $KEY")
        unless defined $block->more_headers;
});

# The next line of logs/mesh.log (each block's request adds one; the
# node API is not logged there): { field => value }, with "request" and
# "status" too.
our ($Line, $Seen, %Last) = ('', 0);
sub next_line {
    my $file = "$Test::Nginx::Util::ServRoot/logs/mesh.log";
    my @lines;
    Mesh::Orch::wait_until(sub {
        open my $fh, '<', $file or return 0;
        @lines = <$fh>;
        $Seen = 0 if @lines < $Seen;
        return @lines > $Seen;
    }, 5);
    $Seen = @lines;
    $Line = $lines[-1] // '';
    chomp $Line;
    %Last = $Line =~ /(\w+)=(\S+)/g;
    @Last{qw(request status)} = $Line =~ /"([^"]*)" (\d+) /;
    return \%Last;
}

# the next line has the fields given, exactly (a value given as qr// is
# a pattern)
sub fields {
    my (%want) = @_;
    my $f = next_line();
    my @bad;
    for my $k (sort keys %want) {
        my $got = $f->{$k} // '(none)';
        my $ok = ref $want{$k} ? $got =~ $want{$k} : $got eq $want{$k};
        push @bad, "$k=$got, not $want{$k}" unless $ok;
    }
    $Mesh::Checks::Why = join('; ', @bad) . " in: $Line";
    return !@bad;
}

# the task id of X-Mesh-Task (the whole response is ours only: under the
# real Test::Nginx, a task id's shape)
sub task_id {
    return $main::Res ? $main::Res->header('X-Mesh-Task')
                      : qr/^[0-9a-f]+-\d+-\d+$/;
}

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();

run_tests();

__DATA__

=== TEST 1: a task served: every field
--- init
Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"log me","stream":false}
--- response_headers
X-Mesh-Node: a
--- checks
main::fields(request => 'POST /api/generate', status => 200, key => 'carol', task => main::task_id(), node => 'a', model => 'mistral:7b', tries => 1, queue_ms => qr/^\d+$/, ttft_ms => qr/^\d+$/, tokens => 3, outcome => 'done')
--- no_error_log
[error]



=== TEST 2: a native task streamed: the model chosen by type, its tokens
--- init
Mesh::Orch::scene(b => { sim => 'B', models => [['mistral:7b', 'text']] });
--- request
POST /mesh/v1/tasks
{"type":"text","prompt":"stream me"}
--- response_headers
X-Mesh-Node: b
--- checks
main::fields(request => 'POST /mesh/v1/tasks', status => 200, node => 'b', model => 'mistral:7b', tries => 1, tokens => 5, outcome => 'done', task => main::task_id())
--- no_error_log
[error]



=== TEST 3: the first node refuses the connection: two tries, the second node
--- init
Mesh::Orch::scene(
    dead => { port => $ENV{TEST_NGINX_DEAD_PORT}, ram_free_gb => 12,
              models => [['mistral:7b', 'text']] },
    b => { sim => 'B', ram_free_gb => 4, models => [['mistral:7b', 'text']] });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"retry me","stream":false}
--- response_headers
X-Mesh-Node: b
--- checks
main::fields(node => 'b', tries => 2, tokens => 5, outcome => 'done', status => 200)



=== TEST 4: an unknown model: no node, no model, no times
--- init
Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']] });
--- request
POST /api/generate
{"model":"nowhere:1b","prompt":"x"}
--- error_code: 404
--- checks
main::fields(status => 404, key => 'carol', task => qr/^[0-9a-f]+-\d+-\d+$/, node => '-', model => '-', tries => 0, queue_ms => '-', ttft_ms => '-', tokens => 0, outcome => 'unknown_model')
--- no_error_log
[error]



=== TEST 5: every node busy past mesh_queue_ttl: queue_timeout, the wait
--- init
Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']],
                         max_tasks => 1, active_tasks => 1 });
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"wait","stream":false}
--- error_code: 503
--- checks
main::fields(status => 503, node => '-', model => '-', tries => 0, queue_ms => qr/^(\d{4,})$/, ttft_ms => '-', outcome => 'queue_timeout')
$main::Last{queue_ms} >= 1000
--- no_error_log
[error]



=== TEST 6: no key: 401 and no key name; the task never started
--- more_headers
--- request
POST /api/generate
{"model":"mistral:7b","prompt":"x"}
--- error_code: 401
--- checks
main::fields(status => 401, key => '-', task => '-', node => '-', tries => '-', outcome => '-')
--- no_error_log
[error]



=== TEST 7: a request that is no task: only the key name
--- request
GET /mesh/status
--- checks
main::fields(status => 200, key => 'carol', task => '-', node => '-', model => '-', tries => '-', queue_ms => '-', ttft_ms => '-', tokens => '-', outcome => '-')
--- no_error_log
[error]



=== TEST 8: an OpenAI chat reply, not streamed: $mesh_tokens is its usage.completion_tokens
--- init
Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']] });
--- request
POST /v1/chat/completions
{"model":"mistral:7b","messages":[{"role":"user","content":"log me"}]}
--- response_body_like: "usage":\{"prompt_tokens":\d+,"completion_tokens":3,
--- checks
main::fields(request => 'POST /v1/chat/completions', status => 200, node => 'a', model => 'mistral:7b', tokens => 3, outcome => 'done')
--- no_error_log
[error]



=== TEST 9: an OpenAI completion, not streamed: $mesh_tokens is its usage.completion_tokens
--- init
Mesh::Orch::scene(b => { sim => 'B', models => [['mistral:7b', 'text']] });
--- request
POST /v1/completions
{"model":"mistral:7b","prompt":"log me"}
--- response_body_like: "usage":\{"prompt_tokens":\d+,"completion_tokens":5,
--- checks
main::fields(request => 'POST /v1/completions', status => 200, node => 'b', model => 'mistral:7b', tokens => 5, outcome => 'done')
--- no_error_log
[error]
