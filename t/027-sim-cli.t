# ollama-sim: the command line (--help, --version, one clear line and
# exit status 2 for a bad flag) and signals (SIGTERM and SIGINT end it
# with status 0 at once, even with replies in flight).
use strict;
use warnings;

use File::Temp ();
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);

use Mesh::Proc;
use Mesh::SimClient;

my $BIN = Mesh::Proc::bin('ollama-sim');

# Runs the simulator to its end (killed after 5 s): (status, out, err).
sub run_sim {
    my @args = @_;
    my ($out, $err) = (File::Temp->new, File::Temp->new);
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', $out->filename;
        open STDERR, '>', $err->filename;
        { no warnings 'exec'; exec { $BIN } $BIN, @args; }
        POSIX::_exit(127);
    }
    my $deadline = time + 5;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
            return (-1, '', 'timed out');
        }
        sleep 0.02;
    }
    my $status = $? >> 8;
    local $/;
    open my $o, '<', $out->filename;
    open my $e, '<', $err->filename;
    return ($status, scalar(<$o>) // '', scalar(<$e>) // '');
}

subtest '--help and --version' => sub {
    my ($st, $out, $err) = run_sim('--help');
    is $st, 0, '--help: status 0';
    like $out, qr/\AUsage: ollama-sim /, '--help: usage on stdout';
    like $out, qr/--fault F/, '--help: lists the options';
    like $out, qr/--load-delay-ms[ ]MS.*--prompt-delay-ms[ ]MS
                  .*--keep-alive[ ]D.*--max-loaded-models[ ]N/sx,
        '--help: and the new ones';
    is $err, '', '--help: nothing on stderr';

    ($st, $out, $err) = run_sim('--version');
    is $st, 0, '--version: status 0';
    like $out, qr/\Aollama-sim \d+\.\d+\.\d+\n\z/, '--version: one line';
};

subtest 'bad flags: one line on stderr, status 2' => sub {
    my @cases = (
        [['--bogus'], qr/unknown option "--bogus"/],
        [['--tokens'], qr/option --tokens needs a value/],
        [['--tokens', 'x'], qr/bad value "x" for --tokens/],
        [['--tokens', '-1'], qr/--tokens/],
        [['--tokens', '100001'], qr/--tokens/],
        [['--token-delay-ms', '1e3'], qr/--token-delay-ms/],
        [['--first-token-delay-ms', ''], qr/--first-token-delay-ms/],
        [['--parallel', '0'], qr/--parallel/],
        [['--queue', '-2'], qr/--queue/],
        [['--embed-dim', '0'], qr/--embed-dim/],
        [['--fault', 'explode'], qr/--fault: unknown fault "explode"/],
        [['--fault', 'fail-after=x'], qr/--fault/],
        [['--listen', 'nowhere'], qr/bad --listen "nowhere"/],
        [['--listen', '127.0.0.1:70000'], qr/bad --listen/],
        [['--listen', 'example.com:80'], qr/bad --listen/],
        [['--model', 'x,caps=flying'], qr/--model: bad value "flying"/],
        [['--model', 'bad name'], qr/--model: invalid model name/],
        [['--model', 'x', '--model', 'x:latest'],
         qr/--model: model "x:latest" given twice/],
        [['--version-string', ''], qr/--version-string/],
        [['--load-delay-ms', '-1'], qr/--load-delay-ms/],
        [['--prompt-delay-ms', '600001'], qr/--prompt-delay-ms/],
        [['--max-loaded-models', '0'], qr/--max-loaded-models/],
        [['--keep-alive', 'soon'], qr/bad value "soon" for --keep-alive/],
        [['--keep-alive', ''], qr/--keep-alive/],
        [['extra'], qr/unexpected argument "extra"/],
    );
    for my $t (@cases) {
        my ($args, $re) = @$t;
        my ($st, $out, $err) = run_sim(@$args);
        my $what = join ' ', @$args;
        is $st, 2, "$what: status 2";
        like $err, qr/\Aollama-sim: [^\n]*\(see --help\)\n\z/,
            "$what: one line";
        like $err, $re, "$what: says what is wrong";
        is $out, '', "$what: nothing on stdout";
    }
};

# The release the simulator follows (tools/ollama-sim/README.md), and
# --keep-alive read as OLLAMA_KEEP_ALIVE is: a duration, else seconds.
subtest 'defaults and --keep-alive' => sub {
    my $p = Mesh::Proc::start_sim();
    my $c = Mesh::SimClient->new($p->port);
    is $c->get('/api/version')->{content}, '{"version":"0.32.15"}',
        'reports Ollama 0.32.15';
    ok $p->stop, 'stopped';

    # the expiry is the end of the request plus the keep_alive: between
    # (before the request) + D and (after it) + D, to the second
    for my $t (['90', 90], ['2m', 120], ['-1', 100 * 365 * 86400]) {
        my ($ka, $secs) = @$t;
        $p = Mesh::Proc::start_sim('--keep-alive', $ka);
        $c = Mesh::SimClient->new($p->port);
        my $t0 = time;
        $c->post('/api/generate', { model => 'llama3.2', prompt => 'x',
                                    stream => JSON::PP::false });
        my $t1 = time;
        my ($y, $mo, $d, $h, $mi, $sec) = ($c->get('/api/ps')->{json}
            {models}[0]{expires_at} // '')
            =~ /\A(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)/;
        require Time::Local;
        my $exp = defined $y
            ? Time::Local::timegm_modern($sec, $mi, $h, $d, $mo - 1, $y) : 0;
        ok $exp >= int($t0) + $secs - 1 && $exp <= $t1 + $secs + 1,
            "--keep-alive $ka: expires $secs s after the request";
        ok $p->stop, "--keep-alive $ka: stopped";
    }
};

subtest 'a port in use' => sub {
    my $port = Mesh::Proc::free_port();
    my $taken = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $port, Listen => 1, ReuseAddr => 1)
        or die "listen: $!";
    my ($st, $out, $err) = run_sim('--listen', "127.0.0.1:$port");
    is $st, 1, 'status 1';
    like $err, qr/\Aollama-sim: cannot listen on 127\.0\.0\.1:$port: /,
        'says so';
    close $taken;
};

subtest 'SIGTERM and SIGINT' => sub {
    for my $sig ('TERM', 'INT') {
        my $p = Mesh::Proc::start_sim();
        like $p->log_text, qr/listening on 127\.0\.0\.1:\d+ \(3 models/,
            "$sig: start line";
        $p->signal($sig);
        is $p->wait_exit(20), 0, "SIG$sig: status 0";
        like $p->log_text, qr/ollama-sim: stopped\n\z/, "SIG$sig: stopped";
    }

    # tokens 10 minutes apart: an exit that waited for a reply, or for a
    # wait to run out, would miss the deadline (which only catches that)
    my $p = Mesh::Proc::start_sim('--token-delay-ms', '600000');
    my $c = Mesh::SimClient->new($p->port);
    my $stream = $c->raw_post('/api/generate', { model => 'llama3.2',
        prompt => 'long', options => { num_predict => 100 } });
    my $queued = $c->raw_post('/api/chat', { model => 'llama3.2',
        messages => [ { role => 'user', content => 'x' } ] });
    $c->wait_stats(sub { $_[0]{active} >= 1 });
    $c->set_fault('hang');
    my $hung = $c->raw_send("GET /api/tags HTTP/1.1\r\nHost: x\r\n\r\n");
    sleep 0.2;

    $p->signal('TERM');
    is $p->wait_exit(30), 0, 'with streams and a hung request: status 0';
    close $_ for $stream, $queued, $hung;
};

subtest '--listen localhost:PORT' => sub {
    my $port = Mesh::Proc::free_port();
    my $p = Mesh::Proc->start(name => 'sim-localhost',
        cmd => [$BIN, '--listen', "localhost:$port"], port => $port);
    my $c = Mesh::SimClient->new($port);
    is $c->get('/')->{content}, 'Ollama is running', 'answers';
    ok $p->stop, 'stopped cleanly';
};

done_testing;
