# ollama-sim: malformed and hostile input.  Bad JSON gets Ollama's 400
# {"error":...} (texts of Go's encoding/json where they can be matched),
# big bodies 413, big headers 431; nothing crashes, and the simulator
# answers normally afterwards.
use strict;
use warnings;

use Test::More;

use Mesh::Proc;
use Mesh::SimClient qw(json_type);

my $sim = Mesh::Proc::start_sim();
my $c = Mesh::SimClient->new($sim->port);

sub error_is {
    my ($r, $status, $msg, $name) = @_;
    is $r->{status}, $status, "$name: $status";
    is $r->{content}, qq({"error":"$msg"}), "$name: message";
}

subtest 'malformed JSON' => sub {
    my @cases = (
        ['', 'missing request body'],
        ["  \r\n", 'missing request body'],
        ['{"model":"llama3.2","prompt":', 'unexpected EOF'],
        ['{"model":"llama3.2"', 'unexpected EOF'],
        ['hello', q(invalid character 'h' at offset 0)],
        ['{"model":"llama3.2",}', q(invalid character '}' at offset 20)],
        ['[1,2,3]', 'json: cannot unmarshal array into Go value of type '
                    . 'api.GenerateRequest'],
        ['{"model":"llama3.2","prompt":7}',
         'json: cannot unmarshal number into Go struct field '
         . 'GenerateRequest.prompt of type string'],
        ['{"model":"llama3.2","stream":"yes"}',
         'json: cannot unmarshal string into Go struct field '
         . 'GenerateRequest.stream of type bool'],
        ['{"model":"llama3.2","keep_alive":"soon"}',
         'time: invalid duration \"soon\"'],
        ['{"model":"llama3.2","images":"aGk="}',
         'json: cannot unmarshal string into Go struct field '
         . 'GenerateRequest.images of type []api.ImageData'],
    );
    for my $t (@cases) {
        my ($body, $msg) = @$t;
        error_is $c->post('/api/generate', $body), 400, $msg,
            'generate ' . substr($body, 0, 24);
    }
    error_is $c->post('/api/chat',
                      '{"messages":[{"role":"user","content":1}]}'), 400,
        'json: cannot unmarshal number into Go struct field '
        . 'Message.messages.content of type string', 'chat content';
    error_is $c->post('/api/show', '{"model":false}'), 400,
        'json: cannot unmarshal bool into Go struct field ShowRequest.model '
        . 'of type string', 'show model';
    error_is $c->del('/api/delete', '{"model":[]}'), 400,
        'json: cannot unmarshal array into Go struct field '
        . 'DeleteRequest.model of type string', 'delete model';
    error_is $c->post('/api/pull', 'nul'), 400,
        'unexpected EOF', 'pull truncated literal';

    my $r = $c->post('/api/generate',
        '{"model":"llama3.2","prompt":"ok","stream":false} trailing bytes');
    is $r->{status}, 200, 'bytes after the JSON value are ignored, as in Go';
};

# What the mesh relays unchanged must fail (or pass) as on Ollama: Go
# decodes options as map[string]any (numbers are float64: 1e400 does not
# fit, a 400 from ShouldBindJSON), then Options.FromMap checks each known
# option's type once the model is known (a 500 from scheduleRunner);
# unknown fields and options are ignored, num_ctx -1 is an int.
subtest 'numbers and types as Go decodes them' => sub {
    my $F64 = 'json: cannot unmarshal number 1e400 into Go struct field %s'
            . '.options of type float64';
    error_is $c->post('/api/generate', '{"model":"llama3.2","prompt":"x",'
                      . '"options":{"num_ctx":1e400}}'), 400,
        sprintf($F64, 'GenerateRequest'), 'generate num_ctx 1e400';
    error_is $c->post('/api/chat', '{"model":"llama3.2","messages":[],'
                      . '"options":{"num_ctx":1e400}}'), 400,
        sprintf($F64, 'ChatRequest'), 'chat num_ctx 1e400';
    error_is $c->post('/api/generate', '{"model":"llama3.2","prompt":"x",'
                      . '"keep_alive":1e400}'), 400,
        'json: cannot unmarshal number 1e400 into Go value of type float64',
        'keep_alive 1e400';
    error_is $c->post('/api/generate', '{"model":"llama3.2","context":[1e3]}'),
        400, 'json: cannot unmarshal number 1e3 into Go struct field '
        . 'GenerateRequest.context of type int', 'context 1e3';

    my $r = $c->post('/api/generate', '{"model":"llama3.2","prompt":"x",'
                     . '"stream":false,"options":{"num_ctx":-1}}');
    is $r->{status}, 200, 'num_ctx -1: 200';
    $r = $c->post('/api/generate', '{"model":"llama3.2","prompt":"x",'
                  . '"stream":false,"surprise":{"n":1e400},'
                  . '"options":{"not_an_option":"x"}}');
    is $r->{status}, 200, 'unknown fields and options: ignored';

    for my $t (['num_ctx', '"4096"', 'type integer'],
               ['temperature', '"hot"', 'type float32'],
               ['use_mmap', '1', 'type boolean'],
               ['stop', '"\n"', 'type array'],
               ['stop', '[1]', 'an array of strings']) {
        my ($opt, $val, $what) = @$t;
        for my $path ('/api/generate', '/api/chat', '/api/embed') {
            $r = $c->post($path, qq({"model":"llama3.2","prompt":"x",)
                . qq("messages":[],"input":"x","options":{"$opt":$val}}));
            error_is $r, 500, qq(option \\"$opt\\" must be of $what),
                "$path $opt $val";
        }
    }
};

subtest 'deep nesting' => sub {
    my $deep = '[' x 100_000;
    error_is $c->post('/api/generate', $deep), 400,
        'json: exceeded max depth of 128', 'arrays';
    $deep = '{"a":' x 50_000;
    error_is $c->post('/api/chat', $deep), 400,
        'json: exceeded max depth of 128', 'objects';
    my $ok = '{"model":"llama3.2","prompt":"p","stream":false,"x":'
           . ('[' x 100) . (']' x 100) . '}';
    is $c->post('/api/generate', $ok)->{status}, 200,
        'nesting within the limit in an unknown field is fine';
};

subtest 'bodies over 32 MiB' => sub {
    my $big = '{"model":"llama3.2","prompt":"' . ('a' x (33 << 20)) . '"}';
    error_is $c->post('/api/generate', $big), 413,
        'http: request body too large', 'with Content-Length';

    my $left = 34;
    my $r = $c->request('POST', '/api/generate', sub {
        return $left-- > 0 ? 'b' x (1 << 20) : undef;
    });
    error_is $r, 413, 'http: request body too large', 'chunked';

    my $under = '{"model":"llama3.2","stream":false,"options":'
              . '{"num_predict":3},"prompt":"' . ('w' x (30 << 20)) . '"}';
    $r = $c->post('/api/generate', $under);
    is $r->{status}, 200, 'a 30 MiB prompt is accepted';
    ok $r->{content} =~ /"response":"\[llama3\.2\] (w+) (w+)","done"/
        && length($1) == (30 << 20) && length($2) == (30 << 20),
        'and its one word comes back twice';
};

subtest 'broken HTTP' => sub {
    my ($code) = $c->raw("GET /api/tags HTTP/1.1\r\nHost: x\r\n"
        . 'X-Big: ' . ('h' x 70_000) . "\r\nConnection: close\r\n\r\n");
    is $code, 431, 'huge header: 431';

    for my $junk ("GARBAGE\r\n\r\n", "\x00\x01\x02\xff\r\n\r\n",
                  "POST /api/generate HTTP/1.1\r\nHost: x\r\n"
                  . "Content-Length: abc\r\n\r\n{}",
                  "GET / HTTP/9.9\r\n\r\n") {
        my ($status, $data) = $c->raw($junk, 1);
        ok !defined $status || $status =~ /\A[45]\d\d\z/,
            'junk gets an error or a close: ' . ($status // 'closed');
    }
    is $c->get('/api/version')->{status}, 200, 'still serving';
};

subtest 'random bodies' => sub {
    srand 20240501;
    my @valid = ('{"model":"llama3.2","prompt":"a b","stream":false}',
                 '{"model":"llama3.2","messages":[{"role":"user",'
                 . '"content":"x","images":["aGk="]}],"stream":false}',
                 '{"model":"nomic-embed-text","input":["a","b"]}');
    my %paths = (0 => '/api/generate', 1 => '/api/chat', 2 => '/api/embed');
    my ($bad, $n) = (0, 0);
    for my $round (1 .. 300) {
        my $i = $round % 3;
        my $body = $valid[$i];
        if ($round % 2) {
            my $len = int rand 64;
            $body = join '', map { chr int rand 256 } 1 .. $len;
        } else {
            for (1 .. 1 + int rand 4) {
                my $at = int rand length $body;
                substr($body, $at, 1) = chr int rand 256;
            }
        }
        my $r = $c->post($paths{$i}, $body);
        $n++;
        my $shape_ok = $r->{status} == 200
            || (ref $r->{json} eq 'HASH'
                && json_type($r->{json}{error}) eq 'string'
                && keys %{ $r->{json} } == 1);
        $bad++ unless $r->{status} =~ /\A(?:200|400|404|500)\z/ && $shape_ok;
        diag "bad reply $r->{status} to " . unpack('H*', $body)
            unless $shape_ok;
    }
    is $bad, 0, "$n mangled bodies: each a reply or an {\"error\"}";
    is $c->get('/api/version')->{status}, 200, 'still serving';
};

ok $sim->stop, 'ollama-sim stopped cleanly (no crash)';
done_testing;
