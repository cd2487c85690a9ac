# echo-agent's configuration: --help and --version, precedence (flag >
# environment > config file), one clear line and a non-zero exit for every
# bad setting, and SIGHUP reloading the config file.
use strict;
use warnings;

use File::Spec;
use IO::Socket::INET;
use Test::More;

use Mesh::Agent;
use Mesh::Proc;

my $bin    = Mesh::Proc::bin('echo-agent');
my $dir    = Mesh::Proc::log_dir();
my $secret = Mesh::Agent::secret_file();
my $conf   = File::Spec->catfile($dir, 'agent.conf');

sub write_file {
    my ($path, $text) = @_;
    open my $out, '>', $path or die "$path: $!";
    print $out $text;
    close $out;
}

# Runs the agent to completion: (exit code, stdout+stderr).
sub run_agent {
    my ($env, @args) = @_;
    local %ENV = (%ENV, %{ $env || {} });
    delete $ENV{$_} for grep { /^ECHO_AGENT_/ && !exists $env->{$_} }
                        keys %ENV;
    my $cmd = join ' ', map { "'$_'" } $bin, @args;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

subtest '--version and --help' => sub {
    my ($code, $out) = run_agent({}, '--version');
    is $code, 0, '--version exits 0';
    like $out, qr/^echo-agent \d+\.\d+\.\d+\n\z/, 'prints the version';

    ($code, $out) = run_agent({}, '--help');
    is $code, 0, '--help exits 0';
    like $out, qr/command-line flag > environment > config file/,
        'states the precedence';
    for my $flag (qw(orchestrator listen advertise-host advertise-port
                     ollama node-id secret-file heartbeat-interval
                     max-tasks model-type log-level drain-timeout)) {
        like $out, qr/--\Q$flag\E /, "documents --$flag";
    }
};

subtest 'precedence: flag > environment > file' => sub {
    write_file($conf, "# test\nnode_id = from-file\n"
                      . "secret_file = $secret\n");
    my %env = (ECHO_AGENT_NODE_ID => 'from-env');
    my @c = ('--config', $conf, '--check-config');

    my ($code, $out) = run_agent({}, @c);
    is $code, 0, 'file only: valid';
    like $out, qr/configuration OK \(node from-file\)/, 'file wins alone';
    ($code, $out) = run_agent(\%env, @c);
    like $out, qr/\(node from-env\)/, 'environment beats the file';
    ($code, $out) = run_agent(\%env, @c, '--node-id', 'from-flag');
    like $out, qr/\(node from-flag\)/, 'a flag beats both';
    ($code, $out) = run_agent({ %env, ECHO_AGENT_CONFIG => $conf },
                              '--check-config');
    like $out, qr/\(node from-env\)/, 'the file named by ECHO_AGENT_CONFIG';
};

subtest 'bad configuration: one line, non-zero exit' => sub {
    my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => Mesh::Proc::free_port(), Listen => 1, ReuseAddr => 1)
        or die "listen: $!";
    my $busy_port = $busy->sockport;
    my $short = File::Spec->catfile($dir, 'short-secret');
    write_file($short, "tooshort\n");

    for my $case (
        [ "bogus = 1\n", [], {}, qr/agent\.conf:2: unknown key "bogus"/ ],
        [ "ollama = ftp://x\n", [], {},
          qr/agent\.conf:2: ollama: invalid URL "ftp:\/\/x"/ ],
        [ "orchestrator = http//nowhere\n", [], {},
          qr/orchestrator: invalid URL/ ],
        [ "max_tasks = many\n", [], {},
          qr/max_tasks: invalid number "many"/ ],
        [ "heartbeat_interval = soon\n", [], {},
          qr/heartbeat_interval: invalid duration "soon"/ ],
        [ '', ['--secret-file', "$dir/no-such-secret"], {},
          qr/secret file \S+no-such-secret: No such file or directory/ ],
        [ '', ['--secret-file', $short], {},
          qr/the secret must be 16\.\.512 characters, found 8/ ],
        [ '', ['--listen', "127.0.0.1:$busy_port"], {},
          qr/listen 127\.0\.0\.1:$busy_port: Address already in use/ ],
        [ '', ['--listen', 'nowhere'], {},
          qr/--listen: invalid address "nowhere"/ ],
        [ '', ['--frobnicate', 'x'], {},
          qr/unknown option "--frobnicate"/ ],
        [ '', [], { ECHO_AGENT_MAX_TASK => 3 },
          qr/unknown environment variable ECHO_AGENT_MAX_TASK/ ],
        [ '', [], { ECHO_AGENT_LOG_LEVEL => 'loud' },
          qr/ECHO_AGENT_LOG_LEVEL: invalid level "loud"/ ],
    ) {
        my ($extra, $args, $env, $want) = @$case;
        write_file($conf, "secret_file = $secret\n$extra");
        my ($code, $out) = run_agent($env, '--config', $conf,
                                     '--listen', '127.0.0.1:' .
                                     Mesh::Proc::free_port(), @$args);
        is $code, 2, "exit 2 for $want";
        like $out, qr/\Aecho-agent: .*\n\z/, 'exactly one line';
        like $out, $want, 'naming the problem';
    }

    my ($code, $out) = run_agent({}, '--listen', '127.0.0.1:' .
                                 Mesh::Proc::free_port());
    is $code, 2, 'no secret: exit 2';
    like $out, qr/^echo-agent: no mesh secret: set secret_file/,
        'no secret: says how to set one';
};

subtest 'SIGHUP reloads the config file' => sub {
    write_file($conf, "secret_file = $secret\nnode_id = before\n"
                      . "max_tasks = 2\n");
    my $sim = Mesh::Agent::start_sim();
    my $agent = Mesh::Agent::start(sim => $sim, name => 'reloaded',
        node_id => 'flag-wins',
        args => ['--config', $conf,
                 '--heartbeat-interval', $Mesh::Agent::IDLE_INTERVAL]);
    my $caps = sub {
        Mesh::Agent::json(Mesh::Agent::call($agent,
                              GET => '/agent/v1/capabilities')->content);
    };
    is $caps->()->{max_tasks}, 2, 'max_tasks from the file';
    is $caps->()->{node_id}, 'flag-wins', 'node_id from the flag';

    write_file($conf, "secret_file = $secret\nnode_id = after\n"
                      . "max_tasks = 3\nmodel_type = llama3.2=code\n");
    $agent->signal('HUP');
    ok Mesh::Agent::wait_for(sub { $caps->()->{max_tasks} == 3 }, 5),
        'the new max_tasks after SIGHUP';
    my %type = map { $_->{name} => $_->{type} } @{ $caps->()->{models} };
    is $type{'llama3.2:latest'}, 'code', 'the new model type';
    is $caps->()->{node_id}, 'flag-wins', 'the flag still wins';

    write_file($conf, "secret_file = $secret\nmax_tasks = zero\n");
    $agent->signal('HUP');
    ok Mesh::Agent::wait_for(sub { $agent->log_text =~ /reload failed/ },
                             5), 'a broken file is refused';
    my $why = 'reload failed, keeping the running configuration: ';
    like $agent->log_text,
        qr/\Q$why\E\S+agent\.conf:2: max_tasks: invalid number "zero"/,
        'with the reason';
    is $caps->()->{max_tasks}, 3, 'the running configuration stays';
    ok $agent->alive, 'and the agent keeps running';

    ok $agent->stop, 'agent stopped cleanly';
    $sim->stop;
};

done_testing;
