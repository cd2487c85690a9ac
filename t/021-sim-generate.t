# ollama-sim: POST /api/generate and POST /api/chat.
#
# Shapes written by hand from Ollama's docs/api.md ("Generate a
# completion", "Generate a chat completion") and api/types.go
# (GenerateResponse, ChatResponse, Message, Metrics); the order of keys is
# the order Go writes the struct fields.  Error texts follow
# server/routes.go.  The reply text is the simulator's deterministic one:
# "[MODEL]" then the prompt's words in turn.
use strict;
use warnings;

use Test::More;

use Mesh::Proc;
use Mesh::SimClient qw(shape_ok);

my @metrics = (total_duration => 'number', load_duration => 'number',
               prompt_eval_count => 'number',
               prompt_eval_duration => 'number', eval_count => 'number',
               eval_duration => 'number');
my @gen_part = (model => 'string', created_at => 'time',
                response => 'string', done => 'bool');
my @gen_final = (@gen_part, done_reason => 'string', context => 'array',
                 @metrics);
my @chat_part = (model => 'string', created_at => 'time',
                 message => 'object', done => 'bool');
my @chat_final = (model => 'string', created_at => 'time',
                  message => 'object', done_reason => 'string',
                  done => 'bool', @metrics);

my $sim = Mesh::Proc::start_sim(
    '--tokens', '5',
    '--model', 'llama3.2,caps=completion+tools',
    '--model', 'llava,caps=completion+vision',
    '--model', 'embedder,caps=embedding',
    '--model', 'coder,caps=completion+insert');
my $c = Mesh::SimClient->new($sim->port);

subtest 'generate, streamed' => sub {
    my $s = $c->stream('/api/generate',
        { model => 'llama3.2', prompt => 'why is the sky blue' });
    is $s->{status}, 200, 'status';
    is $s->{type}, 'application/x-ndjson', 'content type';
    my @l = @{ $s->{lines} };
    is scalar @l, 6, 'five tokens and a final line';
    is_deeply [map { $_->{json}{response} } @l[0 .. 4]],
        ['[llama3.2]', ' why', ' is', ' the', ' sky'], 'the tokens';
    for my $i (0 .. 4) {
        shape_ok $l[$i]{text}, \@gen_part, "line $i: fields";
        ok !$l[$i]{json}{done}, "line $i: done is false";
        is $l[$i]{json}{model}, 'llama3.2', "line $i: model as asked";
    }
    my $f = $l[5];
    shape_ok $f->{text}, \@gen_final, 'final line: fields';
    is $f->{json}{response}, '', 'final line: empty response';
    ok $f->{json}{done}, 'final line: done';
    is $f->{json}{done_reason}, 'stop', 'done_reason stop';
    is $f->{json}{eval_count}, 5, 'eval_count';
    is $f->{json}{prompt_eval_count}, 5, 'prompt_eval_count: prompt words';
    is scalar @{ $f->{json}{context} }, 10, 'context: prompt + reply';
    ok !(grep { !/\A\d+\z/ } @{ $f->{json}{context} }), 'context: ints';
    ok $f->{json}{total_duration} >= $f->{json}{eval_duration},
        'total_duration covers eval_duration';
    ok !(grep { $f->{json}{$_} <= 0 } qw(total_duration load_duration
        prompt_eval_duration eval_duration)), 'durations are positive';
};

subtest 'generate, not streamed' => sub {
    my $r = $c->post('/api/generate', { model => 'llama3.2',
        prompt => 'why is the sky blue', stream => \0 });
    is $r->{status}, 200, 'status';
    is $r->{type}, 'application/json; charset=utf-8', 'content type';
    shape_ok $r->{content}, \@gen_final, 'fields';
    is $r->{json}{response}, '[llama3.2] why is the sky', 'the whole text';
    is $r->{json}{done_reason}, 'stop', 'done_reason';

    $r = $c->post('/api/generate', { model => 'llama3.2', prompt => 'a b c',
        stream => \0, options => { num_predict => 7, temperature => 0 } });
    is $r->{json}{response}, '[llama3.2] a b c a b c',
        'options.num_predict sets the length; words repeat';
    is $r->{json}{done_reason}, 'length', 'cut by num_predict: "length"';
    is $r->{json}{eval_count}, 7, 'eval_count';

    $r = $c->post('/api/generate', { model => 'llama3.2:latest',
        prompt => 'x', stream => \0 });
    is $r->{json}{model}, 'llama3.2:latest', 'name:latest is the same model';
    is $r->{json}{response}, '[llama3.2:latest] x x x x',
        'token 0 names the model as asked';

    $r = $c->post('/api/generate', { model => 'llama3.2', prompt => " \t\n",
        stream => \0 });
    is $r->{json}{response}, '[llama3.2] ... ... ... ...',
        'a prompt without words uses "..."';

    $r = $c->post('/api/generate', { model => 'llama3.2', prompt => 'r',
        raw => \1, stream => \0 });
    shape_ok $r->{content},
        [@gen_part, done_reason => 'string', @metrics],
        'raw: no context in the reply';

    $r = $c->post('/api/generate',
        { model => 'llama3.2', prompt => '<b> & "q" caf' . "\x{e9}",
          stream => \0, options => { num_predict => 5 } });
    my $want = '"response":"[llama3.2] \\u003cb\\u003e \\u0026 \\"q\\" '
             . "caf\x{c3}\x{a9}\"";
    ok index($r->{content}, $want) >= 0,
        'text escaped as Go does (\u003c, \u0026, UTF-8 kept)'
        or diag $r->{content};
};

subtest 'generate: empty prompt loads, keep_alive 0 unloads' => sub {
    for my $stream (\1, \0) {
        my $r = $c->post('/api/generate',
                         { model => 'llama3.2', stream => $stream });
        is $r->{status}, 200, 'status';
        is $r->{type}, 'application/json; charset=utf-8', 'one JSON object';
        shape_ok $r->{content}, [@gen_part, done_reason => 'string'],
            'fields';
        is $r->{json}{done_reason}, 'load', 'done_reason load';
    }
    my $r = $c->post('/api/generate', { model => 'llama3.2', keep_alive => 0 });
    is $r->{json}{done_reason}, 'unload', 'done_reason unload';
};

subtest 'chat, streamed' => sub {
    my $s = $c->stream('/api/chat', { model => 'llama3.2', messages => [
        { role => 'system', content => 'be brief' },
        { role => 'user', content => 'first question' },
        { role => 'assistant', content => 'an answer' },
        { role => 'user', content => 'tell me more' } ] });
    is $s->{status}, 200, 'status';
    is $s->{type}, 'application/x-ndjson', 'content type';
    my @l = @{ $s->{lines} };
    is scalar @l, 6, 'five tokens and a final line';
    is_deeply [map { $_->{json}{message}{content} } @l[0 .. 4]],
        ['[llama3.2]', ' tell', ' me', ' more', ' tell'],
        'tokens from the last user message';
    for my $i (0 .. 4) {
        shape_ok $l[$i]{text}, \@chat_part, "line $i: fields";
        my ($msg) = $l[$i]{text} =~ /"message":(\{[^{}]*\})/;
        shape_ok $msg // '', [role => 'string', content => 'string'],
            "line $i: message fields";
        is $l[$i]{json}{message}{role}, 'assistant', "line $i: role";
    }
    shape_ok $l[5]{text}, \@chat_final, 'final line: fields';
    is_deeply $l[5]{json}{message}, { role => 'assistant', content => '' },
        'final line: empty message';
    is $l[5]{json}{done_reason}, 'stop', 'done_reason';
    is $l[5]{json}{eval_count}, 5, 'eval_count';
};

subtest 'chat, not streamed' => sub {
    my $r = $c->post('/api/chat', { model => 'llama3.2', stream => \0,
        messages => [ { role => 'user', content => 'hello there' } ],
        options => { num_predict => 4 } });
    is $r->{status}, 200, 'status';
    is $r->{type}, 'application/json; charset=utf-8', 'content type';
    shape_ok $r->{content}, \@chat_final, 'fields';
    is $r->{json}{message}{content}, '[llama3.2] hello there hello',
        'the whole text';
    is $r->{json}{done_reason}, 'length', 'done_reason length';

    $r = $c->post('/api/chat', { model => 'llama3.2', stream => \0,
        messages => [ { role => 'system', content => 'only a system' } ] });
    is $r->{json}{message}{content}, '[llama3.2] ... ... ... ...',
        'no user message: "..."';

    $r = $c->post('/api/chat', { model => 'llama3.2', messages => [] });
    shape_ok $r->{content},
        [model => 'string', created_at => 'time', message => 'object',
         done_reason => 'string', done => 'bool'], 'no messages: fields';
    is $r->{json}{done_reason}, 'load', 'no messages: load';

    $r = $c->post('/api/chat', { model => 'llama3.2', stream => \0,
        messages => [ { role => 'user', content => 'x' } ],
        tools => [ { type => 'function',
                     function => { name => 'f', description => 'd' } } ] });
    is $r->{status}, 200, 'tools on a model with the tools capability';
};

subtest 'images need the vision capability' => sub {
    my $img = 'aGVsbG8=';
    my $r = $c->post('/api/generate', { model => 'llava', prompt => 'see',
        images => [$img], stream => \0 });
    is $r->{status}, 200, 'vision model: 200';
    is $r->{json}{response}, '[llava] see see see see', 'vision model: text';

    for my $stream (\0, \1) {
        $r = $c->post('/api/generate', { model => 'llama3.2', prompt => 'see',
            images => [$img], stream => $stream });
        is $r->{status}, 500, 'text model, generate: 500';
        is $r->{content}, '{"error":"this model is missing data required '
            . 'for image input"}', 'text model, generate: message';
    }

    $r = $c->post('/api/chat', { model => 'llama3.2', messages => [
        { role => 'user', content => 'see', images => [$img] } ] });
    is $r->{status}, 500, 'text model, chat: 500';
    $r = $c->post('/api/chat', { model => 'llava', stream => \0, messages => [
        { role => 'user', content => 'see', images => [$img] } ] });
    is $r->{status}, 200, 'vision model, chat: 200';

    $r = $c->post('/api/generate', { model => 'llava', prompt => 'see',
        images => ['not base64!'] });
    is $r->{status}, 400, 'bad base64: 400';
    is $r->{content}, '{"error":"illegal base64 data at input byte 3"}',
        'bad base64: message';
};

subtest 'errors, as Ollama words them' => sub {
    my @cases = (
        ['/api/generate', { model => 'ghost', prompt => 'x' }, 404,
         q(model 'ghost' not found)],
        ['/api/generate', { prompt => 'x' }, 404, q(model '' not found)],
        ['/api/chat', { model => 'ghost', messages => [] }, 404,
         q(model 'ghost' not found)],
        ['/api/chat', { messages => [] }, 400, 'model is required'],
        ['/api/generate', { model => 'embedder', prompt => 'x' }, 400,
         q(\"embedder\" does not support generate)],
        ['/api/chat', { model => 'embedder',
                        messages => [{ role => 'user', content => 'x' }] },
         400, q(\"embedder\" does not support chat)],
        ['/api/chat', { model => 'llava', tools => [{ type => 'function' }],
                        messages => [{ role => 'user', content => 'x' }] },
         400, 'registry.ollama.ai/library/llava:latest does not support '
              . 'tools'],
        ['/api/generate', { model => 'llama3.2', prompt => 'x',
                            suffix => 'y' }, 400,
         'registry.ollama.ai/library/llama3.2:latest does not support '
         . 'insert'],
        ['/api/generate', { model => 'llama3.2', prompt => 'x', raw => \1,
                            system => 's' }, 400,
         'raw mode does not support template, system, or context'],
        ['/api/generate', { model => 'llama3.2', prompt => 'x',
                            options => { num_predict => 'many' } }, 500,
         q(option \"num_predict\" must be of type integer)],
    );
    for my $t (@cases) {
        my ($path, $body, $status, $msg) = @$t;
        my $r = $c->post($path, $body);
        is $r->{status}, $status, "$path $msg: status";
        is $r->{content}, qq({"error":"$msg"}), "$path $msg: body";
        is $r->{type}, 'application/json; charset=utf-8',
            "$path $msg: content type";
    }
    my $r = $c->post('/api/generate', { model => 'coder', prompt => 'def f(',
        suffix => 'return', stream => \0 });
    is $r->{status}, 200, 'suffix on a model with insert: 200';
};

my $WEATHER = { type => 'function', function => {
    name => 'get_weather', description => 'the weather in a city',
    parameters => { type => 'object', required => ['city'], properties => {
        city => { type => 'string' }, days => { type => 'integer' },
        unit => { type => 'string', enum => ['celsius', 'fahrenheit'] } } } } };

subtest 'chat with tools: the model calls the first tool' => sub {
    my $ask = { role => 'user', content => 'weather Paris' };
    my $r = $c->post('/api/chat', { model => 'llama3.2', stream => \0,
        messages => [$ask], tools => [$WEATHER, { type => 'function',
            function => { name => 'other' } }] });
    is $r->{status}, 200, 'status';
    my $m = $r->{json}{message};
    is $m->{content}, '', 'no text';
    is scalar @{ $m->{tool_calls} || [] }, 1, 'one call';
    my $call = $m->{tool_calls}[0];
    like $call->{id}, qr/\Acall_[a-z0-9]{8}\z/, 'an id shaped like Ollama\'s';
    is_deeply $call->{function}, { index => 0, name => 'get_weather',
        arguments => { city => 'weather Paris', days => 2,
                       unit => 'celsius' } },
        'of the first tool, arguments filling its parameters';
    is $r->{json}{done_reason}, 'stop', 'done_reason';
    like $r->{content}, qr/"message":\{"role":"assistant","content":"",
        "tool_calls":\[\{"id":"call_[a-z0-9]{8}","function":\{"index":0,
        "name":"get_weather","arguments":\{"city":/x,
        'fields in the order Go writes them';

    my $s = $c->stream('/api/chat', { model => 'llama3.2',
        messages => [$ask], tools => [$WEATHER] });
    my @l = @{ $s->{lines} };
    is scalar @l, 2, 'streamed: the call, then the final line';
    is $l[0]{json}{message}{tool_calls}[0]{function}{name}, 'get_weather',
        'streamed: the call comes in a chunk';
    ok !$l[0]{json}{done}, 'streamed: not the last';
    ok !exists $l[1]{json}{message}{tool_calls},
        'streamed: the final line carries no call';

    $r = $c->post('/api/chat', { model => 'llama3.2', stream => \0,
        tools => [$WEATHER], messages => [$ask,
            { role => 'assistant', content => '',
              tool_calls => [ { function => { name => 'get_weather',
                  arguments => { city => 'Paris' } } } ] },
            { role => 'tool', tool_name => 'get_weather',
              content => 'sunny' }] });
    is $r->{json}{message}{content}, '[llama3.2] weather Paris weather Paris',
        'after the tool\'s result: text again';
    ok !exists $r->{json}{message}{tool_calls}, '... and no call';
};

subtest 'format: json or a schema shapes the reply' => sub {
    my $r = $c->post('/api/generate', { model => 'llama3.2', prompt => 'p q',
        stream => \0, format => 'json' });
    is $r->{status}, 200, 'json: status';
    is_deeply JSON::PP::decode_json($r->{json}{response}),
        { response => '[llama3.2] p q p q' }, 'json: the text is JSON';

    my $schema = { type => 'object', properties => {
        name => { type => 'string' }, age => { type => 'integer' },
        score => { type => 'number' }, ok => { type => 'boolean' },
        tags => { type => 'array', items => { type => 'string' } },
        kind => { enum => ['a', 'b'] },
        inner => { type => 'object',
                   properties => { n => { type => ['null', 'integer'] } } } },
        required => ['name'] };
    my $want = { name => '[llama3.2] p q p q', age => 2, score => 2.5,
                 ok => JSON::PP::true, tags => ['[llama3.2] p q p q'],
                 kind => 'a', inner => { n => 2 } };
    $r = $c->post('/api/generate', { model => 'llama3.2', prompt => 'p q',
        stream => \0, format => $schema });
    is_deeply JSON::PP::decode_json($r->{json}{response}), $want,
        'schema: a value that fills it';

    my $s = $c->stream('/api/chat', { model => 'llama3.2', format => $schema,
        messages => [ { role => 'user', content => 'p q' } ] });
    my @l = @{ $s->{lines} };
    ok @l > 3, 'streamed: in several chunks';
    my $doc = join '', map { $_->{json}{message}{content} } @l;
    is_deeply JSON::PP::decode_json($doc), $want,
        'streamed: the chunks spell the same document';

    $r = $c->post('/api/generate', { model => 'llama3.2', prompt => 'p q',
        stream => \0, format => $schema, options => { num_predict => 2 } });
    is $r->{json}{done_reason}, 'length', 'num_predict cuts it short';
    ok !eval { JSON::PP::decode_json($r->{json}{response}); 1 },
        '... into JSON that does not parse, as a real model\'s';

    for my $f (['', 200], [undef, 200], ['xml', 500], [[1], 500]) {
        $r = $c->post('/api/generate', { model => 'llama3.2', prompt => 'x',
            stream => \0, format => $f->[0] });
        is $r->{status}, $f->[1],
            'format ' . JSON::PP->new->allow_nonref->encode($f->[0]);
    }
    is $r->{content}, '{"error":"invalid format: \"[1]\"; expected '
        . '\"json\" or a valid JSON Schema object"}', 'the invalid one: why';
};

subtest 'think, top_logprobs' => sub {
    my $r = $c->post('/api/chat', { model => 'llama3.2', think => \1,
        messages => [ { role => 'user', content => 'x' } ] });
    is $r->{status}, 400, 'think on a model without thinking: 400';
    is $r->{content}, '{"error":"\"llama3.2\" does not support thinking"}',
        '... as ChatHandler says it';
    $r = $c->post('/api/generate', { model => 'llama3.2', prompt => 'x',
        stream => \0, think => \0 });
    is $r->{status}, 200, 'think false: fine';
    $r = $c->post('/api/generate', { model => 'llama3.2', prompt => 'x',
        stream => \0, top_logprobs => 21 });
    is $r->{status}, 400, 'top_logprobs 21: 400';
    is $r->{content}, '{"error":"top_logprobs must be between 0 and 20"}',
        '... with the reason';
};

ok $sim->stop, 'ollama-sim stopped cleanly';

# Lines arrive one by one, paced by the delays, not all at the end.
my $slow = Mesh::Proc::start_sim('--tokens', '4', '--token-delay-ms', '150',
                                 '--first-token-delay-ms', '300');
my $sc = Mesh::SimClient->new($slow->port);

subtest 'streaming is paced by the token delays' => sub {
    my $s = $sc->stream('/api/generate',
                        { model => 'llama3.2', prompt => 'p q' });
    my @l = @{ $s->{lines} };
    is scalar @l, 5, 'four tokens and a final line';
    my @at = map { $_->{at} } @l;
    ok $at[0] >= 0.25, sprintf('first token after the first-token delay '
                               . '(%.3f s)', $at[0]);
    for my $i (1 .. 3) {
        ok $at[$i] - $at[$i - 1] >= 0.1,
            sprintf('token %d comes a token delay after the one before '
                    . '(%.3f s)', $i, $at[$i] - $at[$i - 1]);
    }
    ok $at[4] - $at[3] < $at[3] - $at[0],
        'the final line follows the last token';
    ok $l[4]{json}{prompt_eval_duration} >= 250_000_000,
        'prompt_eval_duration includes the first-token delay';
    ok $l[4]{json}{eval_duration} >= 3 * 100_000_000,
        'eval_duration covers the token delays';

    my $r = $sc->post('/api/chat', { model => 'llama3.2', stream => \0,
        messages => [ { role => 'user', content => 'p' } ] });
    ok $r->{json}{total_duration} >= 600_000_000,
        'a reply that is not streamed waits for all its tokens too';
};

ok $slow->stop, 'slow ollama-sim stopped cleanly';

# Ollama writes status and headers with the first chunk (gin's c.Stream),
# after loading the model and evaluating the prompt.  With a prompt phase
# of 10 minutes, nothing may arrive while the request is in it; the 3 s
# of silence only ever pass on a correct simulator, however busy.
my $think = Mesh::Proc::start_sim('--prompt-delay-ms', '600000');
my $tc = Mesh::SimClient->new($think->port);

subtest 'no status or headers before the first chunk' => sub {
    for my $path ('/api/generate', '/api/chat') {
        my $sock = $tc->raw_post($path, { model => 'llama3.2',
            prompt => 'x', messages => [ { role => 'user', content => 'x' } ] });
        my $s = $tc->wait_stats(sub { $_[0]{active} == 1 }, 30);
        is $s->{active}, 1, "$path: in its prompt phase";
        is Mesh::SimClient::read_until($sock, qr/./, 3), '',
            "$path: not a byte of the reply yet";
        close $sock;
        $tc->wait_stats(sub { $_[0]{active} == 0 }, 30);
    }
};

ok $think->stop, 'thinking ollama-sim stopped cleanly';

my $phased = Mesh::Proc::start_sim('--tokens', '2', '--prompt-delay-ms', '50',
                                   '--load-delay-ms', '50');
my $pc = Mesh::SimClient->new($phased->port);

subtest 'the status line and the first chunk come together' => sub {
    my $sock = $pc->raw_post('/api/generate', { model => 'llama3.2',
                                                prompt => 'x' });
    my $data = Mesh::SimClient::read_until($sock, qr/"done":false/, 30);
    close $sock;
    like $data, qr{\AHTTP/1\.1[ ]200[ ]OK\r\n.*\r\n\r\n[0-9a-f]+\r\n
        \{"model":"llama3\.2",[^\n]*"response":"\[llama3\.2\]"}sx,
        'first read through to the first chunk';

    my $r = $pc->post('/api/generate', { model => 'llama3.2', prompt => 'x',
                                         stream => \0 });
    ok $r->{json}{prompt_eval_duration} >= 40_000_000,
        'prompt_eval_duration covers the prompt phase';
};

ok $phased->stop, 'phased ollama-sim stopped cleanly';
done_testing;
