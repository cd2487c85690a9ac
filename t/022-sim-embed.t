# ollama-sim: POST /api/embed.
#
# Shape written by hand from Ollama's docs/api.md ("Generate Embeddings")
# and api/types.go (EmbedRequest, EmbedResponse); errors as in
# server/routes.go (EmbedHandler) and the runner's "does not support
# embeddings".
use strict;
use warnings;

use List::Util qw(sum);
use Test::More;

use Mesh::Proc;
use Mesh::SimClient qw(shape_ok json_type);

my $sim = Mesh::Proc::start_sim('--embed-dim', '16',
    '--model', 'all-minilm,caps=embedding',
    '--model', 'llama3.2,caps=completion');
my $c = Mesh::SimClient->new($sim->port);

my @shape = (model => 'string', embeddings => 'array',
             total_duration => 'number', load_duration => 'number',
             prompt_eval_count => 'number');

subtest 'one input' => sub {
    my $r = $c->post('/api/embed',
                     { model => 'all-minilm', input => 'why is the sky blue' });
    is $r->{status}, 200, 'status';
    is $r->{type}, 'application/json; charset=utf-8', 'content type';
    shape_ok $r->{content}, \@shape, 'fields';
    is $r->{json}{model}, 'all-minilm', 'model as asked';
    my $e = $r->{json}{embeddings};
    is scalar @$e, 1, 'one vector';
    is scalar @{ $e->[0] }, 16, 'length is --embed-dim';
    ok !(grep { json_type($_) ne 'number' } @{ $e->[0] }), 'numbers';
    my $norm = sum(map { $_ * $_ } @{ $e->[0] });
    ok abs($norm - 1) < 1e-4, "unit length, as Ollama normalises ($norm)";
    is $r->{json}{prompt_eval_count}, 5, 'prompt_eval_count: words';

    my $again = $c->post('/api/embed',
                         { model => 'all-minilm:latest',
                           input => 'why is the sky blue' });
    is_deeply $again->{json}{embeddings}, $e,
        'the same text gives the same vector (and name:latest works)';
};

subtest 'several inputs' => sub {
    my $r = $c->post('/api/embed', { model => 'all-minilm',
        input => ['why is the sky blue', 'why is the grass green', ''] });
    is $r->{status}, 200, 'status';
    my $e = $r->{json}{embeddings};
    is scalar @$e, 3, 'one vector per input, in order';
    my $one = $c->post('/api/embed', { model => 'all-minilm',
        input => 'why is the grass green' })->{json}{embeddings}[0];
    is_deeply $e->[1], $one, 'vector 2 is the vector of input 2';
    isnt join(',', @{ $e->[0] }), join(',', @{ $e->[1] }),
        'different texts, different vectors';
};

subtest 'no input: no vectors' => sub {
    for my $body ({ model => 'all-minilm' },
                  { model => 'all-minilm', input => '' },
                  { model => 'all-minilm', input => [] }) {
        my $r = $c->post('/api/embed', $body);
        is $r->{status}, 200, 'status';
        is $r->{content}, '{"model":"all-minilm","embeddings":[]}', 'body';
    }
};

subtest 'errors' => sub {
    my @cases = (
        [{ model => 'all-minilm', input => 5 }, 400, 'invalid input type'],
        [{ model => 'all-minilm', input => ['a', 2] }, 400,
         'invalid input type'],
        [{ model => 'all-minilm', input => { a => 'b' } }, 400,
         'invalid input type'],
        [{ input => 'x' }, 404, q(model '' not found)],
        [{ model => 'ghost', input => 'x' }, 404,
         q(model \"ghost\" not found, try pulling it first)],
        [{ model => 'llama3.2', input => 'x' }, 500,
         'this model does not support embeddings'],
    );
    for my $t (@cases) {
        my ($body, $status, $msg) = @$t;
        my $r = $c->post('/api/embed', $body);
        is $r->{status}, $status, "$msg: status";
        is $r->{content}, qq({"error":"$msg"}), "$msg: body";
    }
};

# The legacy endpoint (server/routes.go EmbeddingsHandler): one prompt,
# one "embedding" of float64s, the runner's vector unnormalised, here
# the same unit vector /api/embed gives.
subtest 'POST /api/embeddings' => sub {
    my $r = $c->post('/api/embeddings',
                     { model => 'all-minilm', prompt => 'why is the sky blue' });
    is $r->{status}, 200, 'status';
    is $r->{type}, 'application/json; charset=utf-8', 'content type';
    shape_ok $r->{content}, [embedding => 'array'], 'one field';
    my $v = $r->{json}{embedding};
    is scalar @$v, 16, 'length is --embed-dim';
    my $e = $c->post('/api/embed', { model => 'all-minilm',
        input => 'why is the sky blue' })->{json}{embeddings}[0];
    ok !(grep { abs($v->[$_] - $e->[$_]) > 1e-6 } 0 .. 15),
        'the vector /api/embed gives for the text';

    $r = $c->post('/api/embeddings', { model => 'all-minilm' });
    is $r->{content}, '{"embedding":[]}', 'no prompt: loads, no vector';

    for my $t ([{ prompt => 'x' }, 400, 'model is required'],
               [{ model => 'bad name!', prompt => 'x' }, 400,
                'invalid model name'],
               [{ model => 'ghost', prompt => 'x' }, 404,
                q(model \"ghost\" not found, try pulling it first)],
               [{ model => 'llama3.2', prompt => 'x' }, 500,
                'this model does not support embeddings'],
               [{ model => 'all-minilm', prompt => 7 }, 400,
                'json: cannot unmarshal number into Go struct field '
                . 'EmbeddingRequest.prompt of type string']) {
        my ($body, $status, $msg) = @$t;
        $r = $c->post('/api/embeddings', $body);
        is $r->{status}, $status, "$msg: status";
        is $r->{content}, qq({"error":"$msg"}), "$msg: body";
    }
};

ok $sim->stop, 'ollama-sim stopped cleanly';
done_testing;
