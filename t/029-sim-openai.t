# ollama-sim: Ollama's OpenAI-compatible API (/v1).
#
# Shapes and texts as Ollama v0.32.15's middleware/openai.go and
# openai/openai.go write them: ChatCompletion, ChatCompletionChunk (role
# on the first chunk only, finish_reason on an empty-delta chunk of its
# own, include_usage's chunk with no choices, data: [DONE]), Completion,
# CompletionChunk, EmbeddingList, ListCompletion, Model, and
# openai.NewError's {"error":{"message","type","param","code"}}.
use strict;
use warnings;

use MIME::Base64 ();
use Test::More;

use Mesh::OpenAI qw(sse error_ok);
use Mesh::Proc;
use Mesh::SimClient qw(top_keys);

my @models = ('--model', 'llama3.2,caps=completion+tools',
              '--model', 'llava:7b,caps=completion+vision',
              '--model', 'all-minilm,caps=embedding',
              '--model', 'someone/custom:1b,caps=completion');
my $sim = Mesh::Proc::start_sim('--tokens', 4, '--embed-dim', 6, @models);
my $c = Mesh::SimClient->new($sim->port);

my $hi = [{ role => 'user', content => 'hello there mesh' }];

subtest 'chat, not streamed' => sub {
    my $r = $c->post('/v1/chat/completions',
                     { model => 'llama3.2', messages => $hi });
    is $r->{status}, 200, 'status';
    is $r->{type}, 'application/json; charset=utf-8', 'content type';
    like $r->{content}, qr/\}\n\z/, 'json.Encoder: one trailing newline';
    is_deeply top_keys($r->{content}),
        [qw(id object created model system_fingerprint choices usage)],
        'ChatCompletion fields, in order';
    my $j = $r->{json};
    like $j->{id}, qr/^chatcmpl-\d{1,3}$/, 'id chatcmpl-N';
    is $j->{object}, 'chat.completion', 'object';
    is $j->{model}, 'llama3.2', 'model as asked';
    is $j->{system_fingerprint}, 'fp_ollama', 'system_fingerprint';
    is scalar @{ $j->{choices} }, 1, 'one choice';
    my $ch = $j->{choices}[0];
    is $ch->{index}, 0, 'index 0';
    is $ch->{message}{role}, 'assistant', 'role';
    like $ch->{message}{content}, qr/\S/, 'content';
    is $ch->{finish_reason}, 'stop', 'finish_reason stop';
    is_deeply $j->{usage}, { prompt_tokens => 3, completion_tokens => 4,
                             total_tokens => 7 },
        'usage: prompt words, --tokens, their sum';
};

subtest 'max_tokens: num_predict, finish_reason length' => sub {
    my $r = $c->post('/v1/chat/completions',
        { model => 'llama3.2', messages => $hi, max_tokens => 2 });
    is $r->{status}, 200, 'status';
    is $r->{json}{choices}[0]{finish_reason}, 'length', 'length';
    is $r->{json}{usage}{completion_tokens}, 2, 'two tokens';
};

subtest 'chat, streamed' => sub {
    my $r = $c->post('/v1/chat/completions',
        { model => 'llama3.2', messages => $hi, stream => JSON::PP::true });
    is $r->{status}, 200, 'status';
    is $r->{type}, 'text/event-stream', 'content type';
    my $ev = sse($r->{content});
    ok !defined $ev->{bad}, 'every event a data line and a blank line'
        or diag $ev->{bad};
    ok $ev->{done}, 'ends with data: [DONE]';
    my @j = @{ $ev->{json} };
    is scalar @j, 5, 'four token chunks and the finish chunk';
    my %ids = map { $_->{id} => 1 } @j;
    is scalar keys %ids, 1, 'one id for the stream';
    like $j[0]{id}, qr/^chatcmpl-\d{1,3}$/, 'id chatcmpl-N';
    my %created = map { $_->{created} => 1 } @j;
    is scalar keys %created, 1, 'one created for the stream';
    is_deeply top_keys($ev->{data}[0]),
        [qw(id object created model system_fingerprint choices)],
        'ChatCompletionChunk fields, in order, no usage';
    is $j[0]{object}, 'chat.completion.chunk', 'object';
    is $j[0]{choices}[0]{delta}{role}, 'assistant', 'role on the first';
    ok !exists $j[1]{choices}[0]{delta}{role}, 'and only there';
    ok !defined $j[0]{choices}[0]{finish_reason}, 'finish_reason null';
    my $text = join '', map { $_->{choices}[0]{delta}{content} // '' }
                            @j[0 .. 3];
    my $whole = $c->post('/v1/chat/completions',
        { model => 'llama3.2', messages => $hi })->{json};
    is $text, $whole->{choices}[0]{message}{content},
        'the chunks spell the whole reply';
    is_deeply $j[4]{choices}, [{ index => 0, delta => {},
                                 finish_reason => 'stop' }],
        'the finish chunk: an empty delta and the reason';
};

subtest 'stream_options.include_usage' => sub {
    my $r = $c->post('/v1/chat/completions',
        { model => 'llama3.2', messages => $hi, stream => JSON::PP::true,
          stream_options => { include_usage => JSON::PP::true } });
    my $ev = sse($r->{content});
    ok $ev->{done}, '[DONE] last';
    my $u = $ev->{json}[-1];
    is_deeply $u->{choices}, [], 'the usage chunk has no choices';
    is_deeply $u->{usage}, { prompt_tokens => 3, completion_tokens => 4,
                             total_tokens => 7 }, 'and the usage';
    is $ev->{json}[-2]{choices}[0]{finish_reason}, 'stop',
        'after the finish chunk';
};

subtest 'completions' => sub {
    my $r = $c->post('/v1/completions',
                     { model => 'llama3.2', prompt => 'once upon a time' });
    is $r->{status}, 200, 'status';
    is_deeply top_keys($r->{content}),
        [qw(id object created model system_fingerprint choices usage)],
        'Completion fields, in order';
    like $r->{json}{id}, qr/^cmpl-\d{1,3}$/, 'id cmpl-N';
    is $r->{json}{object}, 'text_completion', 'object';
    my $ch = $r->{json}{choices}[0];
    is_deeply [sort keys %$ch], [qw(finish_reason index text)], 'choice';
    is $ch->{finish_reason}, 'stop', 'stop';
    is $r->{json}{usage}{prompt_tokens}, 4, 'prompt tokens';

    my $s = $c->post('/v1/completions',
        { model => 'llama3.2', prompt => 'once upon a time',
          stream => JSON::PP::true,
          stream_options => { include_usage => JSON::PP::true } });
    my $ev = sse($s->{content});
    ok !defined $ev->{bad}, 'SSE framing' or diag $ev->{bad};
    ok $ev->{done}, '[DONE]';
    is scalar @{ $ev->{json} }, 6, '4 tokens, the done chunk, usage';
    is_deeply top_keys($ev->{data}[0]),
        [qw(id object created choices model system_fingerprint usage)],
        'CompletionChunk fields, in its order';
    is_deeply $ev->{json}[0]{usage}, { prompt_tokens => 0,
        completion_tokens => 0, total_tokens => 0 },
        'a zero usage on every chunk when asked (as Ollama)';
    is $ev->{json}[4]{choices}[0]{finish_reason}, 'stop', 'done chunk';
    is $ev->{json}[5]{usage}{completion_tokens}, 4, 'the real usage last';
    is join('', map { $_->{choices}[0]{text} } @{ $ev->{json} }[0 .. 4]),
        $r->{json}{choices}[0]{text}, 'the chunks spell the reply';
};

subtest 'a failure mid-stream: no [DONE]' => sub {
    my $f = Mesh::Proc::start_sim('--tokens', 4, '--fault', 'fail-after=2',
                                  @models);
    my $r = Mesh::SimClient->new($f->port)->post('/v1/chat/completions',
        { model => 'llama3.2', messages => $hi, stream => JSON::PP::true });
    is $r->{status}, 200, 'the stream had begun';
    my $ev = sse($r->{content});
    ok !defined $ev->{bad}, 'SSE framing' or diag $ev->{bad};
    ok !$ev->{done}, 'never a clean [DONE]';
    is scalar @{ $ev->{json} }, 3, 'two tokens, then what the error became';
    is $ev->{json}[2]{choices}[0]{delta}{content}, '',
        'an empty chunk (the error line decoded as a response)';
    ok !defined $ev->{json}[2]{choices}[0]{finish_reason}, 'not finished';
    $f->stop;
};

subtest 'images' => sub {
    my $img = { role => 'user', content => [
        { type => 'text', text => 'what is this' },
        { type => 'image_url',
          image_url => { url => 'data:image/png;base64,iVBORw0KGgo=' } } ] };
    my $r = $c->post('/v1/chat/completions',
                     { model => 'llava:7b', messages => [$img] });
    is $r->{status}, 200, 'a vision model takes an image part';

    $r = $c->post('/v1/chat/completions',
                  { model => 'llama3.2', messages => [$img] });
    is $r->{status}, 500, 'a text model does not';
    error_ok $r->{json}, 'api_error', undef, 'no vision';

    $img->{content}[1]{image_url}{url} = 'http://example.invalid/x.png';
    $r = $c->post('/v1/chat/completions',
                  { model => 'llava:7b', messages => [$img] });
    is $r->{status}, 400, 'an image that is no data URL';
    is $r->{json}{error}{message}, 'invalid image input', 'Ollama\'s text';
};

subtest 'tools and response_format, as Ollama translates them' => sub {
    my $tools = [{ type => 'function', function => { name => 'get_weather',
        parameters => { type => 'object',
                        properties => { city => { type => 'string' } } } } }];
    my $ask = [{ role => 'user', content => 'weather in paris' }];
    my $r = $c->post('/v1/chat/completions',
        { model => 'llama3.2', messages => $ask, tools => $tools });
    is $r->{status}, 200, 'status';
    my $ch = $r->{json}{choices}[0];
    is $ch->{finish_reason}, 'tool_calls', 'stop becomes tool_calls';
    my $tc = $ch->{message}{tool_calls};
    is scalar @{ $tc // [] }, 1, 'one call';
    is_deeply [sort keys %{ $tc->[0] }], [qw(function id index type)],
        'ToolCall fields';
    like $tc->[0]{id}, qr/^call_\w+$/, 'its id';
    is $tc->[0]{type}, 'function', 'type function';
    is $tc->[0]{function}{name}, 'get_weather', 'the tool';
    is ref \$tc->[0]{function}{arguments}, 'SCALAR',
        'arguments as a JSON string';
    is_deeply JSON::PP::decode_json($tc->[0]{function}{arguments}),
        { city => 'weather in paris' }, 'that decodes to the arguments';

    my $s = $c->post('/v1/chat/completions', { model => 'llama3.2',
        messages => $ask, tools => $tools, stream => JSON::PP::true });
    my $ev = sse($s->{content});
    ok $ev->{done}, 'streamed: [DONE]';
    is_deeply $ev->{json}[0]{choices}[0]{delta}{tool_calls}, $tc,
        'the calls in a chunk';
    is $ev->{json}[-1]{choices}[0]{finish_reason}, 'tool_calls',
        'and the finish chunk says tool_calls';

    $r = $c->post('/v1/chat/completions', { model => 'llama3.2',
        messages => $ask, response_format => { type => 'json_schema',
            json_schema => { schema => { type => 'object',
                properties => { n => { type => 'integer' } } } } } });
    my $doc = JSON::PP::decode_json($r->{json}{choices}[0]{message}{content});
    is_deeply [keys %$doc], ['n'], 'json_schema: the schema\'s document';
    like $doc->{n}, qr/^-?\d+$/, 'an integer';
};

subtest 'embeddings' => sub {
    my $r = $c->post('/v1/embeddings',
        { model => 'all-minilm', input => ['the sky', 'is blue today'] });
    is $r->{status}, 200, 'status';
    is_deeply top_keys($r->{content}), [qw(object data model usage)],
        'EmbeddingList fields';
    is $r->{json}{object}, 'list', 'object list';
    is scalar @{ $r->{json}{data} }, 2, 'one per input';
    is_deeply [map { $_->{index} } @{ $r->{json}{data} }], [0, 1],
        'indexes in order';
    is $r->{json}{data}[1]{object}, 'embedding', 'object embedding';
    is scalar @{ $r->{json}{data}[0]{embedding} }, 6, '--embed-dim floats';
    is_deeply $r->{json}{usage}, { prompt_tokens => 5, total_tokens => 5 },
        'usage';

    my $b = $c->post('/v1/embeddings', { model => 'all-minilm',
        input => 'the sky', encoding_format => 'base64' });
    my $raw = MIME::Base64::decode_base64($b->{json}{data}[0]{embedding});
    my @f = unpack 'f<*', $raw;
    is scalar @f, 6, 'base64: little-endian float32s';
    my @want = @{ $r->{json}{data}[0]{embedding} };
    ok !(grep { abs($f[$_] - $want[$_]) > 1e-6 } 0 .. 5),
        'the same vector as the floats';

    $r = $c->post('/v1/embeddings', { model => 'all-minilm', input => 'x',
                                      encoding_format => 'ints' });
    is $r->{status}, 400, 'an unknown encoding_format';
    like $r->{json}{error}{message},
        qr/^Invalid value for 'encoding_format' = ints\./, 'says so';

    $r = $c->post('/v1/embeddings', { model => 'all-minilm', input => '' });
    is $r->{status}, 400, 'empty input';
    is $r->{json}{error}{message}, 'invalid input', 'invalid input';
};

subtest 'models' => sub {
    my $r = $c->get('/v1/models');
    is $r->{status}, 200, 'status';
    is $r->{json}{object}, 'list', 'a list';
    my %by = map { $_->{id} => $_ } @{ $r->{json}{data} };
    is_deeply [sort keys %by], [sort 'llama3.2:latest', 'llava:7b',
        'all-minilm:latest', 'someone/custom:1b'], 'every model, by name';
    is $by{'llava:7b'}{object}, 'model', 'object model';
    is $by{'llava:7b'}{owned_by}, 'library', 'a bare name: library';
    is $by{'someone/custom:1b'}{owned_by}, 'someone', 'else its namespace';
    like $by{'llava:7b'}{created}, qr/^\d+$/, 'created in seconds';

    $r = $c->get('/v1/models/llava:7b');
    is $r->{status}, 200, 'one model';
    is_deeply [sort keys %{ $r->{json} }], [qw(created id object owned_by)],
        'Model fields';
    is $r->{json}{id}, 'llava:7b', 'the name asked for';

    $r = $c->get('/v1/models/nope');
    is $r->{status}, 404, 'an unknown model';
    error_ok $r->{json}, 'not_found_error', undef, 'retrieve';
};

subtest 'errors in OpenAI\'s shape' => sub {
    my $r = $c->post('/v1/chat/completions',
                     { model => 'nope', messages => $hi });
    is $r->{status}, 404, 'unknown model';
    error_ok $r->{json}, 'not_found_error', undef, 'unknown model';
    is $r->{json}{error}{message}, "model 'nope' not found", 'its text';

    $r = $c->post('/v1/chat/completions', '{"model":');
    is $r->{status}, 400, 'bad JSON';
    error_ok $r->{json}, 'invalid_request_error', undef, 'bad JSON';

    $r = $c->post('/v1/chat/completions',
                  { model => 'llama3.2', messages => [] });
    is $r->{status}, 400, 'no messages';
    is $r->{json}{error}{message}, "[] is too short - 'messages'",
        'Ollama\'s text';

    $r = $c->post('/v1/chat/completions',
        { model => 'llama3.2', messages => $hi, stream => 'yes' });
    is $r->{status}, 400, 'stream of the wrong type';
    like $r->{json}{error}{message}, qr/cannot unmarshal string .* bool/,
        'Go\'s words';
};

done_testing;
