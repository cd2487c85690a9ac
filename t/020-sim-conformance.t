# ollama-sim: the read-only endpoints, field by field.
#
# The expected keys, their order and their types are written by hand from
# Ollama's docs/api.md ("List Local Models", "List Running Models", "Show
# Model Information", the version endpoint) and the Go structs of
# api/types.go (ListModelResponse, ProcessModelResponse, ModelDetails,
# ShowResponse), whose field order is the order Go writes.
use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);

use Mesh::Proc;
use Mesh::SimClient qw(shape_ok is_time);

my @details = (parent_model => 'string', format => 'string',
               family => 'string', families => 'array',
               parameter_size => 'string', quantization_level => 'string');

my $sim = Mesh::Proc::start_sim(
    '--model', 'llama3.2,family=llama,size=2019393189,caps=completion+tools',
    '--model', 'llava:13b,family=llama,size=8000000000,'
               . 'caps=completion+vision',
    '--model', 'all-minilm,family=bert,size=45960996,caps=embedding',
    '--version-string', '0.5.7', '--embed-dim', '12');
my $c = Mesh::SimClient->new($sim->port);

subtest 'GET / and HEAD /' => sub {
    my $r = $c->get('/');
    is $r->{status}, 200, 'status';
    is $r->{type}, 'text/plain; charset=utf-8', 'content type';
    is $r->{content}, 'Ollama is running', 'body';

    $r = $c->request('HEAD', '/');
    is $r->{status}, 200, 'HEAD status';
    is $r->{content}, '', 'HEAD has no body';
};

subtest 'GET /api/version' => sub {
    my $r = $c->get('/api/version');
    is $r->{status}, 200, 'status';
    is $r->{type}, 'application/json; charset=utf-8', 'content type';
    shape_ok $r->{content}, [version => 'string'], 'shape';
    is $r->{json}{version}, '0.5.7', '--version-string';
};

subtest 'GET /api/tags' => sub {
    my $r = $c->get('/api/tags');
    is $r->{status}, 200, 'status';
    is $r->{type}, 'application/json; charset=utf-8', 'content type';
    shape_ok $r->{content}, [models => 'array'], 'top level';

    my @models = @{ $r->{json}{models} || [] };
    is scalar @models, 3, 'three models';
    is_deeply [sort map { $_->{name} } @models],
        ['all-minilm:latest', 'llama3.2:latest', 'llava:13b'],
        'names carry a tag (":latest" when none was given)';

    my %by = map { $_->{name} => $_ } @models;
    for my $m (@models) {
        shape_ok _model_text($r->{content}, $m->{name}),
            [name => 'string', model => 'string', modified_at => 'time',
             size => 'number', digest => 'string', details => 'object'],
            "$m->{name}: fields";
        is $m->{model}, $m->{name}, "$m->{name}: model equals name";
        like $m->{digest}, qr/\A[0-9a-f]{64}\z/, "$m->{name}: digest";
        shape_ok _details_text($r->{content}, $m->{name}), \@details,
            "$m->{name}: details fields";
        is $m->{details}{format}, 'gguf', "$m->{name}: format";
        is_deeply $m->{details}{families}, [$m->{details}{family}],
            "$m->{name}: families";
    }
    is $by{'llama3.2:latest'}{size}, 2019393189, 'size from --model';
    is $by{'llama3.2:latest'}{details}{family}, 'llama', 'family';
    is $by{'all-minilm:latest'}{details}{family}, 'bert', 'family';
    is $by{'llava:13b'}{details}{quantization_level}, 'Q4_0', 'quant';
    like $by{'llava:13b'}{details}{parameter_size}, qr/\A\d+(\.\d)?[BM]\z/,
        'parameter_size like "7.2B"';
    isnt $by{'llava:13b'}{digest}, $by{'llama3.2:latest'}{digest},
        'digests differ';

    my $again = $c->get('/api/tags');
    is $again->{content}, $r->{content}, 'the same list twice';

    $r = $c->request('HEAD', '/api/tags');
    is $r->{status}, 200, 'HEAD /api/tags';
};

subtest 'GET /api/ps: models load when used' => sub {
    my $r = $c->get('/api/ps');
    is $r->{status}, 200, 'status';
    is $r->{content}, '{"models":[]}', 'nothing loaded at start';

    my $before = time;
    $r = $c->post('/api/generate',
                  { model => 'llama3.2', prompt => 'hi', stream => \0 });
    is $r->{status}, 200, 'generate';
    $r = $c->post('/api/generate', { model => 'llava:13b', prompt => 'hi',
                                     stream => \0, keep_alive => '1h' });
    is $r->{status}, 200, 'generate with keep_alive 1h';

    $r = $c->get('/api/ps');
    my @models = @{ $r->{json}{models} || [] };
    is scalar @models, 2, 'two loaded';
    my %by = map { $_->{name} => $_ } @models;
    for my $name (sort keys %by) {
        shape_ok _model_text($r->{content}, $name),
            [name => 'string', model => 'string', size => 'number',
             digest => 'string', details => 'object', expires_at => 'time',
             size_vram => 'number', context_length => 'number'],
            "$name: fields";
        shape_ok _details_text($r->{content}, $name), \@details,
            "$name: details fields";
        is $by{$name}{size_vram}, $by{$name}{size}, "$name: size_vram";
    }
    my $exp = _epoch($by{'llama3.2:latest'}{expires_at});
    ok $exp > $before + 240 && $exp < time + 360,
        'default keep_alive: expires in about 5 minutes';
    $exp = _epoch($by{'llava:13b'}{expires_at});
    ok $exp > $before + 3500 && $exp < time + 3700,
        'keep_alive 1h: expires in about an hour';

    $r = $c->post('/api/generate', { model => 'llama3.2', keep_alive => 0 });
    is $r->{json}{done_reason}, 'unload', 'keep_alive 0 unloads';
    $r = $c->get('/api/ps');
    is_deeply [map { $_->{name} } @{ $r->{json}{models} }], ['llava:13b'],
        'the unloaded model is gone from /api/ps';
};

subtest 'POST /api/show' => sub {
    my %caps = ('llama3.2' => ['completion', 'tools'],
                'llava:13b' => ['completion', 'vision'],
                'all-minilm' => ['embedding']);
    for my $name (sort keys %caps) {
        my $r = $c->post('/api/show', { model => $name });
        is $r->{status}, 200, "$name: status";
        shape_ok $r->{content},
            [modelfile => 'string', parameters => 'string',
             template => 'string', details => 'object',
             model_info => 'object', capabilities => 'array',
             modified_at => 'time'], "$name: fields";
        is_deeply $r->{json}{capabilities}, $caps{$name},
            "$name: capabilities";
        my $info = $r->{json}{model_info} || {};
        my $family = $r->{json}{details}{family};
        is $info->{'general.architecture'}, $family,
            "$name: general.architecture";
        ok $info->{'general.parameter_count'} > 0,
            "$name: general.parameter_count";
        is $info->{"$family.context_length"}, 4096, "$name: context_length";
    }
    my $r = $c->post('/api/show', { model => 'all-minilm' });
    is $r->{json}{model_info}{'bert.embedding_length'}, 12,
        'embedding_length is --embed-dim';

    $r = $c->post('/api/show', { name => 'llama3.2:latest' });
    is $r->{status}, 200, 'the deprecated "name" field works';

    $r = $c->post('/api/show', {});
    is $r->{status}, 400, 'no model: 400';
    is $r->{content}, '{"error":"model is required"}', 'no model: message';

    $r = $c->post('/api/show', { model => 'ghost' });
    is $r->{status}, 404, 'unknown model: 404';
    is $r->{content}, q({"error":"model 'ghost' not found"}),
        'unknown model: message';
};

subtest 'unknown paths and wrong methods, as gin answers them' => sub {
    my $r = $c->get('/api/nothing');
    is $r->{status}, 404, 'unknown path: 404';
    is $r->{content}, '404 page not found', 'unknown path: body';

    $r = $c->get('/api/generate');
    is $r->{status}, 405, 'GET /api/generate: 405';
    is $r->{content}, '405 method not allowed', '405 body';
    is $r->{headers}{allow}, 'POST', 'Allow header';

    $r = $c->post('/api/tags', '{}');
    is $r->{status}, 405, 'POST /api/tags: 405';
    is $r->{headers}{allow}, 'GET, HEAD', 'Allow header';

    $r = $c->post('/api/delete', '{"model":"x"}');
    is $r->{status}, 405, 'POST /api/delete: 405 (it is DELETE)';

    $r = $c->get('/api/version');
    is $r->{status}, 200, 'the connection still works';
};

ok $sim->stop, 'ollama-sim stopped cleanly';

# Loaded models as Ollama's server/sched.go keeps them: a request loads
# its model, keep_alive (the request's, else --keep-alive) runs from the
# end of the last request, and at --max-loaded-models the idle model with
# the shortest keep_alive goes, ties by name (findRunnerToUnload).
my $ls = Mesh::Proc::start_sim('--max-loaded-models', '2',
    '--keep-alive', '10m', '--token-delay-ms', '50',
    '--model', 'alpha', '--model', 'beta', '--model', 'gamma');
my $lc = Mesh::SimClient->new($ls->port);

sub gen {
    my ($model, %o) = @_;
    return $lc->post('/api/generate', { model => $model, prompt => 'x',
                                        stream => \0, %o });
}

sub ps_names {
    return [map { $_->{name} =~ s/:latest\z//r }
            @{ $lc->get('/api/ps')->{json}{models} || [] }];
}

# Polls /api/ps until $cond->(names) holds; the limit only catches hangs.
sub wait_ps {
    my ($cond, $limit) = @_;
    my $deadline = time + ($limit // 30);
    my $names = ps_names();
    until ($cond->($names) || time > $deadline) {
        select undef, undef, undef, 0.05;
        $names = ps_names();
    }
    return $names;
}

subtest 'keep_alive: per request, else --keep-alive' => sub {
    my $before = time;
    is gen('alpha', keep_alive => '1h')->{status}, 200, 'alpha, 1h';
    is gen('beta')->{status}, 200, 'beta, the default';
    my $r = $lc->get('/api/ps');
    is_deeply ps_names(), ['alpha', 'beta'], 'both, longest time left first';
    my %exp = map { ($_->{name} =~ s/:latest\z//r) => _epoch($_->{expires_at}) }
              @{ $r->{json}{models} };
    ok $exp{alpha} > $before + 3500 && $exp{alpha} < time + 3700,
        'alpha expires in about an hour';
    ok $exp{beta} > $before + 540 && $exp{beta} < time + 660,
        'beta in about 10 minutes (--keep-alive 10m)';
};

subtest 'the limit evicts by keep_alive, then by name, not by last use' => sub {
    is gen('gamma')->{status}, 200, 'gamma';
    is_deeply ps_names(), ['alpha', 'gamma'],
        'beta (10m) went, not alpha (1h)';

    is gen('beta', keep_alive => '1h')->{status}, 200, 'beta again, 1h';
    is_deeply [sort @{ ps_names() }], ['alpha', 'beta'], 'gamma (10m) went';
    is gen('alpha', keep_alive => '1h')->{status}, 200,
        'alpha used last';
    is gen('gamma', keep_alive => '1h')->{status}, 200, 'gamma, 1h';
    is_deeply [sort @{ ps_names() }], ['beta', 'gamma'],
        'a tie: alpha went first by name, although beta was used longer ago';
};

subtest 'all loaded models busy: the next one waits for an idle one' => sub {
    my @streams = map {
        my $m = $_;
        $lc->raw_post('/api/generate', { model => $m, prompt => 'long',
                                         options => { num_predict => 4000 } })
    } ('beta', 'gamma');
    $lc->wait_stats(sub { $_[0]{active} == 2 }, 30);
    my $waiting = $lc->raw_post('/api/generate', { model => 'alpha',
        prompt => 'w', stream => JSON::PP::false });
    my $s = $lc->wait_stats(sub { $_[0]{active} == 3 }, 30);
    is $s->{active}, 3, 'the alpha request is in';
    is Mesh::SimClient::read_until($waiting, qr/./, 2), '', 'and waits';
    is_deeply [sort @{ ps_names() }], ['beta', 'gamma'], 'nothing evicted';

    close $streams[0];
    like Mesh::SimClient::read_until($waiting, qr/"done":true/, 30),
        qr{\AHTTP/1\.1 200 }, 'beta\'s request ended: alpha loads';
    is_deeply [sort @{ ps_names() }], ['alpha', 'gamma'], 'in beta\'s place';
    close $waiting;
    close $streams[1];
    $lc->wait_stats(sub { $_[0]{active} == 0 }, 30);
};

subtest 'keep_alive 0 with a prompt: unloaded once the reply ends' => sub {
    my $r = gen('gamma', keep_alive => 0);
    is $r->{status}, 200, 'a reply';
    like $r->{json}{response}, qr/\A\[gamma\] x/, 'with its text';
    is_deeply wait_ps(sub { !grep { $_ eq 'gamma' } @{ $_[0] } }), ['alpha'],
        'then gamma is gone';
};

subtest 'a keep_alive runs out' => sub {
    is gen('beta', keep_alive => '1s')->{status}, 200, 'beta, 1s';
    ok grep({ $_ eq 'beta' } @{ ps_names() }), 'loaded';
    is_deeply wait_ps(sub { !grep { $_ eq 'beta' } @{ $_[0] } }), ['alpha'],
        'and unloaded by itself';
};

ok $ls->stop, 'the lifecycle ollama-sim stopped cleanly';
done_testing;


# The text of the object in a "models" array whose name is $name.
sub _model_text {
    my ($text, $name) = @_;
    my $q = quotemeta qq("name":"$name");
    return $1 if $text =~ /(\{$q(?:[^{}]|\{[^{}]*\})*\})/;
    return '';
}

sub _details_text {
    my ($text, $name) = @_;
    my $m = _model_text($text, $name);
    return $m =~ /"details":(\{[^{}]*\})/ ? $1 : '';
}

sub _epoch {
    my ($ts) = @_;
    return 0 unless is_time($ts);
    my ($y, $mo, $d, $h, $mi, $s) =
        $ts =~ /\A(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)/;
    require Time::Local;
    return Time::Local::timegm($s, $mi, $h, $d, $mo - 1, $y);
}
