# ollama-sim: POST /api/pull and DELETE /api/delete change /api/tags.
#
# Progress lines written by hand from Ollama's docs/api.md ("Pull a
# Model": status, then digest/total/completed while downloading, ending
# with "success") and api/types.go (ProgressResponse); delete replies
# 200 with no body or 404, as the docs say.
use strict;
use warnings;

use Test::More;

use Mesh::Proc;
use Mesh::SimClient qw(shape_ok);

my $sim = Mesh::Proc::start_sim('--model', 'llama3.2');
my $c = Mesh::SimClient->new($sim->port);

sub names {
    my $r = $c->get('/api/tags');
    return [sort map { $_->{name} } @{ $r->{json}{models} || [] }];
}

is_deeply names(), ['llama3.2:latest'], 'one model at start';

subtest 'pull, streamed' => sub {
    my $s = $c->stream('/api/pull', { model => 'mistral' });
    is $s->{status}, 200, 'status';
    is $s->{type}, 'application/x-ndjson', 'content type';
    my @l = @{ $s->{lines} };
    ok @l >= 3, 'several progress lines';
    is $l[0]{json}{status}, 'pulling manifest', 'first: pulling manifest';
    is $l[-1]{text}, '{"status":"success"}', 'last: success';
    my ($dl) = grep { exists $_->{json}{digest} } @l;
    ok $dl, 'a download line';
    shape_ok $dl ? $dl->{text} : '',
        [status => 'string', digest => 'string', total => 'number',
         completed => 'number'], 'download line: fields';
    like $dl->{json}{digest}, qr/\Asha256:[0-9a-f]{64}\z/, 'digest';
    for my $line (@l) {
        shape_ok $line->{text},
            [status => 'string',
             exists $line->{json}{digest}
                 ? (digest => 'string', total => 'number',
                    completed => 'number') : ()],
            "line \"$line->{json}{status}\": fields";
    }
    is_deeply names(), ['llama3.2:latest', 'mistral:latest'],
        'the pulled model is listed';

    my $r = $c->get('/api/tags');
    is $r->{json}{models}[0]{name}, 'mistral:latest', 'newest first';

    $r = $c->post('/api/generate',
                  { model => 'mistral', prompt => 'hi', stream => \0 });
    is $r->{json}{response}, '[mistral] hi hi hi hi hi hi hi',
        'and it answers';
};

subtest 'pull, not streamed' => sub {
    my $r = $c->post('/api/pull', { model => 'qwen:7b', stream => \0 });
    is $r->{status}, 200, 'status';
    is $r->{type}, 'application/json; charset=utf-8', 'content type';
    is $r->{content}, '{"status":"success"}', 'body';
    is_deeply names(), ['llama3.2:latest', 'mistral:latest', 'qwen:7b'],
        'listed';

    $r = $c->post('/api/pull', { name => 'qwen:7b', stream => \0 });
    is $r->{status}, 200, 'pulling again is fine (deprecated "name")';
    is scalar @{ names() }, 3, 'still three models';

    $r = $c->post('/api/pull', { model => 'bad name!' });
    is $r->{status}, 400, 'invalid name: 400';
    is $r->{content}, '{"error":"invalid model name"}', 'invalid name: body';
};

subtest 'delete' => sub {
    my $r = $c->del('/api/delete', { model => 'mistral:latest' });
    is $r->{status}, 200, 'status';
    is $r->{content}, '', 'no body';
    is_deeply names(), ['llama3.2:latest', 'qwen:7b'], 'gone from the list';

    $r = $c->post('/api/generate', { model => 'mistral', prompt => 'hi' });
    is $r->{status}, 404, 'and it no longer answers';

    $r = $c->del('/api/delete', { model => 'mistral' });
    is $r->{status}, 404, 'deleting again: 404';
    is $r->{content}, q({"error":"model 'mistral' not found"}), 'message';

    $r = $c->del('/api/delete', { name => 'qwen:7b' });
    is $r->{status}, 200, 'the deprecated "name" field works';

    $r = $c->del('/api/delete', {});
    is $r->{status}, 400, 'no name: 400';
    is $r->{content}, '{"error":"name \"\" is invalid"}', 'no name: body';

    $r = $c->del('/api/delete', '');
    is $r->{status}, 400, 'no body: 400';
    is $r->{content}, '{"error":"missing request body"}', 'no body: message';

    is_deeply names(), ['llama3.2:latest'], 'back to the start';
};

ok $sim->stop, 'ollama-sim stopped cleanly';
done_testing;
