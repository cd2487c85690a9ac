# ollama-sim: every fault mode, set at run time (POST /_sim/fault) and on
# the command line (--fault).  Error replies keep Ollama's {"error":...}
# shape; a failure after streaming began is an in-stream {"error":...}
# line, as docs/api/errors.mdx of Ollama describes.
use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);

use Mesh::Proc;
use Mesh::SimClient;

my $MODEL_ERR = '{"error":"an error was encountered while running the model"}';

my $sim = Mesh::Proc::start_sim('--tokens', '6', '--token-delay-ms', '20');
my $c = Mesh::SimClient->new($sim->port);
my $port = $sim->port;

sub fault_is {
    my ($want, $name) = @_;
    is $c->get('/_sim/fault')->{content}, qq({"fault":"$want"}), $name;
}

subtest 'setting and reading the fault' => sub {
    fault_is 'none', 'none at start';
    my $r = $c->set_fault("fail-after=3\n");
    is $r->{status}, 200, 'set: 200';
    is $r->{content}, '{"fault":"fail-after=3"}', 'set: echoes the fault';
    fault_is 'fail-after=3', 'read back';
    $r = $c->set_fault('explode');
    is $r->{status}, 400, 'unknown fault: 400';
    like $r->{json}{error}, qr/\Aunknown fault "explode"/, 'unknown: error';
    fault_is 'fail-after=3', 'unchanged by a bad value';
    $r = $c->set_fault('none');
    fault_is 'none', 'cleared';
};

subtest 'fault 500' => sub {
    $c->set_fault('500');
    for my $t (['GET', '/'], ['GET', '/api/tags'], ['GET', '/api/version'],
               ['POST', '/api/generate', '{"model":"llama3.2","prompt":"x"}'],
               ['POST', '/api/embed', '{"model":"llama3.2","input":"x"}']) {
        my ($m, $path, $body) = @$t;
        my $r = $c->request($m, $path, $body);
        is $r->{status}, 500, "$m $path: 500";
        is $r->{content}, $MODEL_ERR, "$m $path: error body";
        is $r->{type}, 'application/json; charset=utf-8', "$m $path: json";
    }
    is $c->get('/_sim/stats')->{status}, 200, '/_sim/ is never faulted';
    $c->set_fault('none');
    is $c->get('/api/tags')->{status}, 200, 'back to normal';
};

subtest 'fail-after=N' => sub {
    my $before = $c->stats;
    $c->set_fault('fail-after=2');

    my $s = $c->stream('/api/generate',
                       { model => 'llama3.2', prompt => 'a b' });
    is $s->{status}, 200, 'stream: 200 (the failure comes later)';
    my @l = @{ $s->{lines} };
    is scalar @l, 3, 'two tokens, then the error line';
    is_deeply [map { $_->{json}{response} } @l[0, 1]], ['[llama3.2]', ' a'],
        'the two tokens';
    is $l[2]{text}, $MODEL_ERR, 'an {"error":...} line, no done line';
    is $s->{headers}{connection}, 'close', 'and the connection closes';

    $s = $c->stream('/api/chat', { model => 'llama3.2',
        messages => [ { role => 'user', content => 'q' } ] });
    @l = @{ $s->{lines} };
    is scalar @l, 3, 'chat: two tokens, then the error line';
    is $l[2]{text}, $MODEL_ERR, 'chat: error line';

    my $r = $c->post('/api/generate',
                     { model => 'llama3.2', prompt => 'a', stream => \0 });
    is $r->{status}, 500, 'not streamed: 500';
    is $r->{content}, $MODEL_ERR, 'not streamed: error body';

    $c->set_fault('fail-after=0');
    $r = $c->post('/api/generate', { model => 'llama3.2', prompt => 'a' });
    is $r->{status}, 500, 'before any token: a plain 500, even streamed';
    is $r->{type}, 'application/json; charset=utf-8', '... as JSON';
    is $r->{content}, $MODEL_ERR, '... with the error';

    $c->set_fault('fail-after=6');
    $s = $c->stream('/api/generate', { model => 'llama3.2', prompt => 'a' });
    ok $s->{lines}[-1]{json}{done}, 'N >= the reply length: no failure';

    my $after = $c->stats;
    is $after->{failed} - $before->{failed}, 4, 'stats: four failed';
    $c->set_fault('none');
};

# A model that fails to load has sent nothing yet: a plain 500 (server/
# routes.go handleScheduleError), never a 200 with a broken stream.
# The fault only bites when a request has to load its model.
subtest 'fail-load: the load phase fails, only when loading' => sub {
    my $LOAD_ERR = '{"error":"llama-server process has terminated"}';
    my $before = $c->stats;
    is $c->post('/api/generate', { model => 'llama3.2', prompt => 'a',
        stream => \0 })->{status}, 200, 'llama3.2 loaded';
    $c->set_fault('fail-load');
    fault_is 'fail-load', 'set';

    my $s = $c->stream('/api/generate', { model => 'llama3.2', prompt => 'a' });
    ok $s->{lines}[-1]{json}{done}, 'a loaded model is not loaded again';

    for my $t (['/api/generate', { model => 'llava', prompt => 'a' }],
               ['/api/chat', { model => 'llava',
                               messages => [{ role => 'user', content => 'a' }] }],
               ['/api/embed', { model => 'nomic-embed-text', input => 'a' }]) {
        my ($path, $body) = @$t;
        my $r = $c->post($path, $body);
        is $r->{status}, 500, "$path, streamed: a plain 500";
        is $r->{type}, 'application/json; charset=utf-8', "$path: as JSON";
        is $r->{content}, $LOAD_ERR, "$path: with Ollama's text";
    }
    is_deeply [map { $_->{name} } @{ $c->get('/api/ps')->{json}{models} }],
        ['llama3.2:latest'], 'the failed loads left nothing loaded';
    is $c->stats->{failed} - $before->{failed}, 3, 'stats: three failed';

    $c->set_fault('none');
    is $c->post('/api/generate', { model => 'llava', prompt => 'a',
        stream => \0 })->{status}, 200, 'cleared: llava loads';
    is scalar @{ $c->get('/api/ps')->{json}{models} }, 2, 'two loaded';
};

subtest 'hang' => sub {
    $c->set_fault('hang');
    my $t0 = time;
    my $r = $c->get('/api/version', timeout => 1);
    is $r->{status}, 599, 'no answer (client timeout)';
    ok time - $t0 >= 0.9, 'the client waited for its timeout';

    my $sock = $c->raw_send("GET /api/tags HTTP/1.1\r\nHost: x\r\n\r\n");
    ok $sock, 'connections are still accepted';
    is Mesh::SimClient::read_until($sock, qr/./, 0.5), '',
        'but nothing comes back';

    is $c->get('/_sim/stats')->{status}, 200, '/_sim/ still answers';
    $c->set_fault('none');
    is $c->get('/api/version')->{status}, 200, 'new requests work again';
    close $sock;
};

subtest 'refuse, cleared by SIGUSR1' => sub {
    my $held = $c->raw_send('');    # a connection opened before the fault
    $c->set_fault('refuse');
    ok !Mesh::Proc::port_accepts($port), 'new connections are refused';
    print $held "GET /api/tags HTTP/1.1\r\nHost: x\r\n\r\n";
    is Mesh::SimClient::read_until($held, undef, 2), '',
        'a request on an open connection is dropped';
    close $held;

    $sim->signal('USR1');
    my $deadline = time + 3;
    sleep 0.05 until Mesh::Proc::port_accepts($port) || time > $deadline;
    ok Mesh::Proc::port_accepts($port), 'SIGUSR1: listening again';
    $c = Mesh::SimClient->new($port);
    fault_is 'none', 'SIGUSR1: the fault is cleared';
};

subtest 'refuse=MS ends by itself' => sub {
    $c->set_fault('refuse=500');
    my $t0 = time;
    ok !Mesh::Proc::port_accepts($port), 'refused at once';
    my $deadline = time + 5;
    sleep 0.05 until Mesh::Proc::port_accepts($port) || time > $deadline;
    ok Mesh::Proc::port_accepts($port), 'accepting again';
    ok time - $t0 >= 0.4, 'after about the time asked';
    $c = Mesh::SimClient->new($port);
    fault_is 'none', 'and the fault is cleared';
    is $c->get('/api/version')->{status}, 200, 'requests work';
};

ok $sim->stop, 'ollama-sim stopped cleanly';

subtest 'faults from the command line' => sub {
    for my $fault ('500', 'hang') {
        my $p = start_faulty($fault);
        my $fc = Mesh::SimClient->new($p->port);
        is $fc->get('/_sim/fault')->{content}, qq({"fault":"$fault"}),
            "--fault $fault";
        my $r = $fc->get('/api/tags', timeout => 1);
        is $r->{status}, $fault eq '500' ? 500 : 599,
            "--fault $fault: its effect";
        ok $p->stop, "--fault $fault: stopped cleanly";
    }

    my $p = start_faulty('refuse');
    ok !Mesh::Proc::port_accepts($p->port), '--fault refuse: not listening';
    $p->signal('USR1');
    my $deadline = time + 3;
    sleep 0.05 until Mesh::Proc::port_accepts($p->port) || time > $deadline;
    ok Mesh::Proc::port_accepts($p->port), '--fault refuse: SIGUSR1 opens';
    ok $p->stop, '--fault refuse: stopped cleanly';

    $p = start_faulty('fail-after=1');
    my $fc = Mesh::SimClient->new($p->port);
    my $s = $fc->stream('/api/generate',
                        { model => 'llama3.2', prompt => 'x' });
    is scalar @{ $s->{lines} }, 2, '--fault fail-after=1: one token';
    is $s->{lines}[1]{text}, $MODEL_ERR, '--fault fail-after=1: then error';
    ok $p->stop, '--fault fail-after=1: stopped cleanly';
};

done_testing;


# A simulator started with --fault: ready once its log says it listens
# (/api/version may be faulted, or the socket closed).
sub start_faulty {
    my ($fault) = @_;
    my $p = Mesh::Proc::free_port();
    my $proc;
    $proc = Mesh::Proc->start(
        name  => "sim-fault-$fault",
        cmd   => [Mesh::Proc::bin('ollama-sim'), '--listen', "127.0.0.1:$p",
                  '--fault', $fault],
        ready => sub { $_[0]->log_text =~ /listening on 127\.0\.0\.1:$p/ },
    );
    $proc->{port} = $p;
    return $proc;
}
