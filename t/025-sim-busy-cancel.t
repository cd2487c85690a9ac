# ollama-sim: generation slots, the wait queue, 503 "server busy" (the
# text of Ollama's server/sched.go ErrMaxQueue), and GET /_sim/stats
# counting clients that leave mid-reply as cancelled.
use strict;
use warnings;

use Test::More;

use Mesh::Proc;
use Mesh::SimClient qw(shape_ok);

my $BUSY = '{"error":"server busy, please try again.  maximum pending '
         . 'requests exceeded"}';

my $sim = Mesh::Proc::start_sim('--parallel', '2', '--queue', '1',
                                '--token-delay-ms', '100');
my $c = Mesh::SimClient->new($sim->port);

# A long streamed generation on its own connection (100 tokens: 10 s).
sub long_stream {
    my (%extra) = @_;
    return $c->raw_post('/api/generate', { model => 'llama3.2',
        prompt => 'slow one', options => { num_predict => 100 }, %extra });
}

subtest 'the stats endpoint' => sub {
    my $r = $c->get('/_sim/stats');
    is $r->{status}, 200, 'status';
    shape_ok $r->{content},
        [active => 'number', completed => 'number', cancelled => 'number',
         requests => 'number', busy_rejected => 'number',
         queued => 'number', failed => 'number'], 'fields';
    my $base = $r->{json}{requests};
    is_deeply $r->{json}, { active => 0, completed => 0, cancelled => 0,
        requests => $base, busy_rejected => 0, queued => 0, failed => 0 },
        'all zero at start but the readiness probe';
    $c->stats for 1 .. 3;
    is $c->stats->{requests}, $base, '/_sim/ requests are not counted';

    $c->get('/api/version');
    $c->post('/api/generate', { model => 'llama3.2', prompt => 'x',
        stream => \0, options => { num_predict => 1 } });
    my $s = $c->stats;
    is $s->{requests}, $base + 2, 'requests counts every Ollama request';
    is $s->{completed}, 1, 'a finished generation is completed';
    is $s->{active}, 0, 'nothing active';
};

subtest 'slots, queue, 503' => sub {
    my @socks = (long_stream(), long_stream());
    my $s = $c->wait_stats(sub { $_[0]{active} == 2 });
    is $s->{active}, 2, 'two generating (--parallel 2)';

    push @socks, long_stream();
    $s = $c->wait_stats(sub { $_[0]{queued} == 1 });
    is $s->{queued}, 1, 'one waiting (--queue 1)';

    my $r = $c->post('/api/generate',
                     { model => 'llama3.2', prompt => 'x', stream => \0 });
    is $r->{status}, 503, 'one more: 503';
    is $r->{content}, $BUSY, 'with Ollama\'s message';
    is $r->{type}, 'application/json; charset=utf-8', 'as JSON';

    $r = $c->post('/api/embed',
                  { model => 'nomic-embed-text', input => 'x' });
    is $r->{status}, 503, 'embeddings share the slots';
    $r = $c->post('/api/chat', { model => 'llama3.2', messages => [] });
    is $r->{status}, 503, 'so does a chat';
    is $c->get('/api/tags')->{status}, 200, 'other endpoints still answer';
    is $c->stats->{busy_rejected}, 3, 'busy_rejected counts them';

    close shift @socks;
    $s = $c->wait_stats(sub { $_[0]{queued} == 0 && $_[0]{cancelled} == 1 });
    is $s->{cancelled}, 1, 'the client that left is cancelled';
    is $s->{queued}, 0, 'the waiting request got its slot';
    is $s->{active}, 2, 'two generating again';
    like Mesh::SimClient::read_until($socks[1], qr/"done":false/, 3),
        qr/"response":"\[llama3\.2\]"/, 'and its tokens flow';

    close $_ for @socks;
    $s = $c->wait_stats(sub { $_[0]{active} == 0 });
    is $s->{active}, 0, 'all slots free';
    is $s->{cancelled}, 3, 'three cancelled in all';
    is $s->{completed}, 1, 'none of them completed';
};

# The next token would come 10 minutes later (the longest delay there
# is), so a cancel seen before the deadline (which only catches a hang)
# was seen by the wait watching the socket, not by a failed write.
subtest 'a client leaving is noticed while its next token is due' => sub {
    my $slow = Mesh::Proc::start_sim('--token-delay-ms', '600000');
    my $sc = Mesh::SimClient->new($slow->port);
    my $sock = $sc->raw_post('/api/generate', { model => 'llama3.2',
        prompt => 'slow one', options => { num_predict => 3 } });
    like Mesh::SimClient::read_until($sock, qr/"done":false/, 30),
        qr/"response":"\[llama3\.2\]"/, 'the stream started';
    close $sock;
    my $s = $sc->wait_stats(sub { $_[0]{cancelled} == 1 }, 60);
    is $s->{cancelled}, 1, 'counted as cancelled';
    is $s->{completed}, 0, 'not as completed';
    is $s->{active}, 0, 'its slot is free';
    ok $slow->stop, 'that simulator stopped cleanly';
};

subtest 'leaving during a reply that is not streamed, or in the queue' => sub {
    my $before = $c->stats->{cancelled};
    my $sock = long_stream(stream => JSON::PP::false);
    $c->wait_stats(sub { $_[0]{active} == 1 });
    close $sock;
    my $s = $c->wait_stats(sub { $_[0]{cancelled} == $before + 1 }, 3);
    is $s->{cancelled}, $before + 1, 'not streamed: cancelled';
    is $s->{active}, 0, 'not streamed: slot free';

    my @socks = (long_stream(), long_stream(), long_stream());
    $c->wait_stats(sub { $_[0]{queued} == 1 });
    close pop @socks;
    $s = $c->wait_stats(sub { $_[0]{queued} == 0 });
    is $s->{queued}, 0, 'queued: left the queue';
    is $s->{cancelled}, $before + 2, 'queued: cancelled';
    close $_ for @socks;
    $c->wait_stats(sub { $_[0]{active} == 0 });
};

subtest 'a full stream counts as completed' => sub {
    my $before = $c->stats;
    my $s = $c->stream('/api/generate', { model => 'llama3.2', prompt => 'q',
        options => { num_predict => 3 } });
    ok $s->{lines}[-1]{json}{done}, 'finished';
    my $after = $c->wait_stats(sub { $_[0]{completed} > $before->{completed} });
    is $after->{completed}, $before->{completed} + 1, 'completed + 1';
    is $after->{cancelled}, $before->{cancelled}, 'cancelled unchanged';
};

ok $sim->stop, 'ollama-sim stopped cleanly';
done_testing;
