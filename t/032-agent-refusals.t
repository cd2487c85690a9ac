# echo-agent refuses what it must before Ollama is called: a missing or
# wrong mesh credential, management endpoints, unknown paths, oversize or
# malformed bodies, unknown models.  The simulator sees none of them.
use strict;
use warnings;

use Test::More;

use Mesh::Agent;
use Mesh::Proc;

my $sim = Mesh::Agent::start_sim('--tokens', 3);

# A long interval: the agent does not poll the simulator during the test,
# so its request counter counts only what the agent relays.
my $agent = Mesh::Agent::start(
    sim => $sim, node_id => 'node-r',
    args => ['--heartbeat-interval', $Mesh::Agent::IDLE_INTERVAL,
             '--max-body', '4k']);

my $secret = $Mesh::Agent::SECRET;
my $gen    = '{"model":"llama3.2","prompt":"hi"}';
my $seen   = Mesh::Agent::sim_stats($sim)->{requests};

sub error_of {
    my ($res) = @_;
    my $e = eval { Mesh::Agent::json($res->content) } || {};
    return $e->{error} // '';
}

subtest 'mesh credential' => sub {
    my $tok = sub { Mesh::Agent::task_auth($agent, @_) };
    my $good = $tok->();
    (my $flipped = $good) =~ s/([0-9a-f])$/$1 eq '0' ? '1' : '0'/e;
    for my $case (
        [ undef,                                  'missing' ],
        [ "Bearer $secret",                       'the secret itself' ],
        [ $tok->(secret => 'wrong-secret-0123456789abcdef'), 'wrong secret' ],
        [ $tok->(node_id => 'node-other'),        'another node\'s' ],
        [ $tok->(ts => time - 120),               'stale' ],
        [ $tok->(ts => time + 120),               'future' ],
        [ $flipped,                               'tampered' ],
        [ "MESH-TASK",                            'empty' ],
    ) {
        my ($auth, $what) = @$case;
        my $res = Mesh::Agent::call($agent, POST => '/api/generate', $gen,
                                    auth => $auth);
        is $res->code, 401, "$what credential: 401";
        like error_of($res), qr/mesh credential|task credential/,
            "$what: JSON error";
        like $res->header('WWW-Authenticate') // '', qr/^MESH-TASK/,
            "$what: WWW-Authenticate";
    }
    for my $path ('/agent/v1/capabilities', '/metrics') {
        my $res = Mesh::Agent::call($agent, GET => $path, undef,
                                    auth => undef);
        is $res->code, 401, "$path needs the credential";
    }
    my $ok = Mesh::Agent::call($agent, POST => '/api/generate', $gen,
                               auth => $good);
    is $ok->code, 200, 'a fresh token for this node: 200';
    $seen++;
    my $again = Mesh::Agent::call($agent, POST => '/api/generate', $gen,
                                  auth => $good);
    is $again->code, 401, 'the same token again: 401';
    like error_of($again), qr/replayed/, 'says it is a replay';
};

subtest 'management endpoints are never relayed' => sub {
    for my $case (
        [ POST   => '/api/pull',   '{"model":"llama3.2"}' ],
        [ POST   => '/api/push',   '{"model":"llama3.2"}' ],
        [ POST   => '/api/create', '{"model":"x","from":"llama3.2"}' ],
        [ DELETE => '/api/delete', '{"model":"llama3.2"}' ],
        [ POST   => '/api/copy',   '{"source":"a","destination":"b"}' ],
        [ HEAD   => '/api/blobs/sha256:29fdb92e57cf0827ded04ae6461b5931d0',
          undef ],
        [ POST   => '/api/blobs/sha256:29fdb92e57cf0827ded04ae6461b5931d0',
          'blob' ],
    ) {
        my ($method, $path, $body) = @$case;
        my $res = Mesh::Agent::call($agent, $method, $path, $body);
        is $res->code, 403, "$method $path: 403";
        like error_of($res), qr/management endpoint/, "$path: JSON error"
            unless $method eq 'HEAD';
    }
};

subtest 'unknown paths and methods' => sub {
    for my $path ('/api/tags', '/api/show', '/api/ps', '/api/embeddings',
                  '/api/generate/x', '/', '/nope') {
        my $res = Mesh::Agent::call($agent, POST => $path, $gen);
        is $res->code, 404, "POST $path: 404";
    }
    my $res = Mesh::Agent::call($agent, GET => '/api/generate');
    is $res->code, 405, 'GET /api/generate: 405';
    $res = Mesh::Agent::call($agent, POST => '/healthz', '{}');
    is $res->code, 405, 'POST /healthz: 405';
};

subtest 'body size limit' => sub {
    my $big = '{"model":"llama3.2","prompt":"' . ('x' x 5000) . '"}';
    my $res = Mesh::Agent::call($agent, POST => '/api/generate', $big);
    is $res->code, 413, 'declared length over the limit: 413';
    like error_of($res), qr/larger than 4096 bytes/, 'names the limit';

    # without Content-Length: the size is found while reading
    my @parts = ('{"model":"llama3.2","prompt":"', ('y' x 1000) x 5, '"}');
    my $req = HTTP::Request->new(POST => Mesh::Agent::url($agent,
                                                          '/api/generate'));
    $req->header(Authorization => Mesh::Agent::task_auth($agent));
    $req->content(sub { shift @parts // '' });
    $res = Mesh::Agent::ua()->request($req);
    is $res->code, 413, 'chunked body over the limit: 413';

    my $fits = '{"model":"llama3.2","prompt":"' . ('z ' x 1900) . '"}';
    $res = Mesh::Agent::call($agent, POST => '/api/generate', $fits);
    is $res->code, 200, 'a body under the limit passes';
    $seen++;
};

subtest 'malformed JSON' => sub {
    for my $case (
        [ '{"model":"llama3.2",}',
          'invalid JSON at byte 21: invalid object key (must be a string)' ],
        [ '{"model":"llama3.2"',     'invalid JSON at byte 19: premature EOF' ],
        [ '{"model": 42}',           '"model" must be a string' ],
        [ '["llama3.2"]',            'the body must be a JSON object' ],
        [ '{"model":"a"} {}',
          'invalid JSON at byte 15: trailing garbage' ],
        [ '',                        'invalid JSON at byte 0: premature EOF' ],
        [ "{\"model\":\"\xff\"}",    'invalid JSON at byte' ],
    ) {
        my ($body, $want) = @$case;
        my $res = Mesh::Agent::call($agent, POST => '/api/generate', $body);
        is $res->code, 400, "'$body': 400";
        like error_of($res), qr/\Q$want\E/, "'$body': $want";
    }
    my $res = Mesh::Agent::call($agent, POST => '/api/chat',
                                '{"messages":[]}');
    is $res->code, 400, 'no model: 400';
    is error_of($res), 'model is required', 'no model: says so';
};

subtest 'unknown model' => sub {
    for my $path ('/api/generate', '/api/chat', '/api/embed') {
        my $res = Mesh::Agent::call($agent, POST => $path,
            '{"model":"no-such-model:7b","prompt":"x","input":"x"}');
        is $res->code, 404, "$path: 404";
        is error_of($res), 'model "no-such-model:7b" not found on node '
            . 'node-r', "$path: names the model and the node";
    }
    my $res = Mesh::Agent::call($agent, POST => '/api/generate',
                                '{"model":"LLAMA3.2:latest","prompt":"x"}');
    is $res->code, 200, 'names match as Ollama matches them';
    $seen++;
};

is Mesh::Agent::sim_stats($sim)->{requests}, $seen,
    'the simulator saw only the requests that passed';

my $m = Mesh::Agent::call($agent, GET => '/metrics')->content;
like $m, qr/^echo_agent_rejected_total\{reason="unauthorized"\} 11$/m,
    'refusals are counted';

ok $agent->stop, 'agent stopped cleanly';
done_testing;
