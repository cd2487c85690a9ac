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

ok $sim->stop, 'ollama-sim stopped cleanly';
done_testing;
