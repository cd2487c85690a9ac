# ollama-sim under valgrind memcheck: a short session through every
# endpoint, the faults, bad input and clients leaving mid-reply, then
# SIGTERM.  Memcheck must find no memory error and no definite leak.
use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);

use Mesh::Proc;
use Mesh::SimClient;

plan skip_all => 'valgrind is not installed'
    unless grep { -x "$_/valgrind" } split /:/, $ENV{PATH};

my $port = Mesh::Proc::free_port();
my $sim = Mesh::Proc->start(
    name     => 'sim-valgrind',
    cmd      => [Mesh::Proc::bin('ollama-sim'), '--listen', "127.0.0.1:$port",
                 '--token-delay-ms', '10', '--parallel', '1', '--queue', '1'],
    port     => $port,
    valgrind => 1,
);
my $c = Mesh::SimClient->new($port);

my @ok = (
    ['GET', '/'], ['GET', '/api/version'], ['GET', '/api/tags'],
    ['GET', '/api/ps'], ['GET', '/_sim/stats'],
    ['POST', '/api/show', { model => 'llava' }],
    ['POST', '/api/generate', { model => 'llama3.2', prompt => 'a b',
                                stream => \0 }],
    ['POST', '/api/chat', { model => 'llava', stream => \0, messages => [
        { role => 'user', content => 'see', images => ['aGk='] } ] }],
    ['POST', '/api/embed', { model => 'nomic-embed-text',
                             input => ['x', 'y'] }],
    ['POST', '/api/embeddings', { model => 'nomic-embed-text',
                                  prompt => 'x' }],
    ['POST', '/api/chat', { model => 'llama3.2', stream => \0,
        messages => [ { role => 'user', content => 'call' } ],
        tools => [ { type => 'function', function => { name => 'f',
            parameters => { type => 'object', properties => {
                a => { type => 'string' }, b => { type => 'array',
                    items => { type => 'integer' } } } } } } ] }],
    ['POST', '/api/generate', { model => 'llama3.2', prompt => 'json',
        format => { type => 'object', properties => {
            x => { enum => [1, 'y'] }, o => { properties => {
                n => { type => 'number' } } } } } }],
    ['POST', '/api/generate', { model => 'llama3.2', prompt => 'j',
                                format => 'json', stream => \0 }],
    ['POST', '/api/generate', { model => 'llava', prompt => 'again',
                                stream => \0, keep_alive => 0 }],
    ['GET', '/v1/models'], ['GET', '/v1/models/llava:latest'],
    ['POST', '/v1/chat/completions', { model => 'llava', messages => [
        { role => 'user', content => [ { type => 'text', text => 'see' },
            { type => 'image_url', image_url => {
                url => 'data:image/png;base64,aGk=' } } ] } ],
        max_tokens => 3, temperature => 0.5, stop => 'x',
        response_format => { type => 'json_object' } }],
    ['POST', '/v1/chat/completions', { model => 'llama3.2', stream => \1,
        stream_options => { include_usage => \1 },
        messages => [ { role => 'user', content => 'q' } ] }],
    ['POST', '/v1/completions', { model => 'llama3.2', prompt => 'a',
        stream => \1, stream_options => { include_usage => \1 } }],
    ['POST', '/v1/completions', { model => 'llama3.2', prompt => 'a' }],
    ['POST', '/v1/chat/completions', { model => 'llama3.2', stream => \1,
        messages => [ { role => 'user', content => 'call' } ],
        tools => [ { type => 'function', function => { name => 'f',
            parameters => { type => 'object', properties => {
                a => { type => 'string' } } } } } ] }],
    ['POST', '/v1/chat/completions', { model => 'llama3.2',
        messages => [ { role => 'user', content => 'j' } ],
        response_format => { type => 'json_schema', json_schema => {
            schema => { type => 'object', properties => {
                n => { type => 'number' } } } } } }],
    ['POST', '/v1/embeddings', { model => 'nomic-embed-text',
                                 input => ['x', 'y'] }],
    ['POST', '/v1/embeddings', { model => 'nomic-embed-text', input => 'x',
                                 encoding_format => 'base64' }],
    ['POST', '/api/pull', { model => 'tmp' }],
    ['DELETE', '/api/delete', { model => 'tmp' }],
);
for my $t (@ok) {
    my ($m, $path, $body) = @$t;
    is $c->request($m, $path, $body)->{status}, 200, "$m $path";
}

my $s = $c->stream('/api/generate', { model => 'llama3.2', prompt => 'q' });
ok $s->{lines}[-1]{json}{done}, 'a whole stream';

for my $bad ('', '{"model":', '[' x 5000, '{"model":"llama3.2","images":["!"]}',
             '{"model":7}', '{"keep_alive":"zz"}', "\xff\xfe") {
    my $r = $c->post('/api/generate', $bad);
    like $r->{status}, qr/\A[45]\d\d\z/, 'bad body: an error';
}
for my $bad ('', '{"model":', '[' x 5000, '{"model":7}', '[]',
             '{"model":"llama3.2","messages":[]}', "\xff\xfe",
             '{"model":"llama3.2","messages":[{"content":[{"type":1}]}]}',
             '{"model":"llava","messages":[{"role":"user","content":'
             . '[{"type":"image_url","image_url":{"url":"x"}}]}]}') {
    my $r = $c->post('/v1/chat/completions', $bad);
    like $r->{status}, qr/\A[45]\d\d\z/, 'bad /v1 body: an error';
}
my $left = 34;
is $c->request('POST', '/api/chat',
               sub { $left-- > 0 ? 'z' x (1 << 20) : undef })->{status},
    413, 'a body too large';

my $sock = $c->raw_post('/api/generate', { model => 'llama3.2',
    prompt => 'leave', options => { num_predict => 500 } });
Mesh::SimClient::read_until($sock, qr/"done":false/, 30);
my $queued = $c->raw_post('/api/generate', { model => 'llama3.2',
    prompt => 'wait', options => { num_predict => 500 } });
$c->wait_stats(sub { $_[0]{queued} == 1 }, 30);
is $c->post('/api/generate', { model => 'llama3.2', prompt => 'x' })
    ->{status}, 503, 'busy';
close $queued;
close $sock;
my $st = $c->wait_stats(sub { $_[0]{cancelled} >= 2 && !$_[0]{active} }, 30);
is $st->{cancelled}, 2, 'two clients left, both cancelled';

for my $bad ('{"options":{"num_ctx":1e400}}', '{"format":"xml",'
             . '"model":"llama3.2","prompt":"x"}', '{"model":"llama3.2",'
             . '"options":{"stop":[1],"num_ctx":"x"},"prompt":"x"}') {
    my $r = $c->post('/api/generate', $bad);
    like $r->{status}, qr/\A[45]\d\d\z/, 'refused: an error';
}

$c->post('/api/generate', { model => 'llava', keep_alive => 0 });
for my $fault ('500', 'fail-after=1', 'fail-load', 'hang') {
    $c->set_fault($fault);
    # llava was unloaded above: fail-load has a load to fail
    $c->post('/api/generate', { model => $fault eq 'fail-load' ? 'llava'
                                         : 'llama3.2', prompt => 'f' },
             timeout => 2);
}
$c->set_fault('none');

my $inflight = $c->raw_post('/api/generate', { model => 'llama3.2',
    prompt => 'at exit', options => { num_predict => 500 } });
Mesh::SimClient::read_until($inflight, qr/"done":false/, 30);

ok $sim->stop, 'stopped: memcheck found no error and no definite leak';
close $inflight;
done_testing;
