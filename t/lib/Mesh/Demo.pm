package Mesh::Demo;

# Runs tools/demo.sh (what `make demo` runs after the build) as a user's
# terminal would: in a session of its own (so SIGINT to its process group
# is a Ctrl-C), its console in a file, its folder, port and node count
# given by MESH_DEMO_DIR, MESH_DEMO_PORT and MESH_DEMO_NODES.  Whatever
# the test does, END kills the demo's session.
#
#   my $demo = Mesh::Demo->start(nodes => 3);
#   $demo->wait_console(qr/The mesh is up/) or diag($demo->console);
#   my ($code, $node) = $demo->generate('mistral:7b');
#   my @pids = $demo->session_pids;
#   $demo->interrupt;             # the exit status, or undef on a hang

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(setsid :sys_wait_h);

use Mesh::Proc;

our $TOP = abs_path(dirname(__FILE__) . '/../../..');
our $SCRIPT = "$TOP/tools/demo.sh";

my @RUNNING;

sub start {
    my ($class, %o) = @_;
    my $self = bless {
        port  => Mesh::Proc::free_port(),
        dir   => Mesh::Proc::log_dir() . '/demo',
        nodes => $o{nodes},
        map { ("${_}_port" => Mesh::Proc::free_port()) } qw(REDIS SIM AGENT),
    }, $class;
    $self->{console} = Mesh::Proc::log_dir() . '/demo-console.log';
    remove_tree($self->{dir});
    unlink $self->{console};    # never read the last run's console
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setsid();
        $SIG{INT} = 'DEFAULT';
        open STDIN, '<', '/dev/null' or die;
        open STDOUT, '>', $self->{console} or die;
        open STDERR, '>&', \*STDOUT or die;
        $self->env_set;
        exec $SCRIPT or die "exec: $!";
    }
    $self->{pid} = $pid;
    push @RUNNING, $self;
    return $self;
}

sub pid  { $_[0]{pid} }
sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }

# The demo's variables, for it and for "tools/demo.sh restart".
sub env_set {
    my ($self) = @_;
    $ENV{MESH_DEMO_PORT} = $self->{port};
    $ENV{MESH_DEMO_DIR} = $self->{dir};
    # never a real Ollama (or another demo's simulator) on 11434
    $ENV{MESH_DEMO_OLLAMA} = 'sim';
    # first ports away from the defaults, which another run may be using
    $ENV{"MESH_DEMO_${_}_PORT"} = $self->{"${_}_port"} for qw(REDIS SIM AGENT);
    if (defined $self->{nodes}) {
        $ENV{MESH_DEMO_NODES} = $self->{nodes};
    } else {
        delete $ENV{MESH_DEMO_NODES};
    }
}

sub console {
    my ($self) = @_;
    open my $fh, '<', $self->{console} or return '';
    local $/;
    return <$fh> // '';
}

# Whether the demo is still running (reaps it once it has exited).
sub running {
    my ($self) = @_;
    return 0 if defined $self->{status};
    if (waitpid($self->{pid}, WNOHANG) == $self->{pid}) {
        $self->{status} = $?;
        return 0;
    }
    return 1;
}

sub status { $_[0]{status} }

# Mesh::Proc::wait_for, with a deadline of 60 s by default.
sub wait_for {
    my ($check, $limit) = @_;
    return Mesh::Proc::wait_for($check, $limit // 60);
}

# Waits until the console matches $re; returns the first capture group
# (or 1), false on a hang or once the demo has exited without it.
sub wait_console {
    my ($self, $re, $limit) = @_;
    return wait_for(sub {
        my @m = $self->console =~ $re;
        return $m[0] // 1 if @m;
        return 0 if $self->running;
        @m = $self->console =~ $re;    # its last words
        return @m ? $m[0] // 1 : '0 but exited';
    }, $limit);
}

# The pid the console gave a piece: "echo-agent      node-code on ...
# (pid 123)", "ollama-sim      http://... for node-code (pid 123)".
sub pid_of {
    my ($self, $what, $node) = @_;
    my $c = $self->console;
    my ($pid);
    if ($what eq 'agent') {
        ($pid) = $c =~ /^demo: echo-agent\s+\Q$node\E on \S+ \(pid (\d+)\)$/m;
    } elsif ($what eq 'sim') {
        ($pid) = $c =~ /^demo: ollama-sim\s+\S+ for \Q$node\E \(pid (\d+)\)$/m;
    } elsif ($what eq 'redis') {
        ($pid) = $c =~ /^demo: redis-server\s+\S+ \(pid (\d+);/m;
    }
    return $pid;
}

sub http {
    my ($self, $method, $path, $body) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}",
                                     Timeout => 30) or return;
    $body //= '';
    print $sock "$method $path HTTP/1.1\r\nHost: demo\r\n"
        . "Connection: close\r\nContent-Length: " . length($body)
        . "\r\n\r\n$body";
    my $reply = do { local $/; <$sock> } // '';
    my ($code) = $reply =~ m{^HTTP/1\.1 (\d{3})};
    my ($node) = $reply =~ /^X-Mesh-Node: (\S+)\r$/m;
    my ($content) = $reply =~ /\r\n\r\n(.*)\z/s;
    return ($code // 0, $node // '', $content // '');
}

# An Ollama /api/generate through the mesh: (status, X-Mesh-Node, body).
sub generate {
    my ($self, $model, $prompt) = @_;
    my $task = JSON::PP->new->canonical->encode({
        model => $model, prompt => $prompt // 'hello demo',
        stream => JSON::PP::false });
    return $self->http('POST', '/api/generate', $task);
}

# node_id => the node's entry in /mesh/v1/nodes ({} when unreachable).
sub nodes {
    my ($self) = @_;
    my ($code, undef, $body) = $self->http('GET', '/mesh/v1/nodes');
    return {} unless $code == 200;
    my $list = eval { JSON::PP::decode_json($body) } or return {};
    return { map { $_->{node_id} => $_ } @{ $list->{nodes} || [] } };
}

# "tools/demo.sh restart NAME", as a user runs it: (exit code, output).
sub restart {
    my ($self, $name) = @_;
    local %ENV = %ENV;
    $self->env_set;
    my $out = `'$SCRIPT' restart '$name' 2>&1`;
    return ($? >> 8, $out);
}

# Every process whose session id is the demo's.
sub session_pids {
    my ($self) = @_;
    my @pids;
    opendir my $d, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // next;
        $stat =~ s/^.*\)\s+//;
        my @f = split ' ', $stat;
        push @pids, $p if $f[3] == $self->{pid};    # field 6 (session)
    }
    return @pids;
}

# The session's nginx, redis-server, ollama-sim and echo-agent processes
# (not the demo's shell and its passing children, such as its sleep).
sub pieces {
    my ($self) = @_;
    return grep { _comm($_) =~ /^(nginx|redis-server|ollama-sim|echo-agent)$/ }
        $self->session_pids;
}

sub _comm {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/comm" or return '';
    my $comm = <$fh> // '';
    chomp $comm;
    return $comm;
}

# Waits for the demo to exit by itself; its status, undef on a hang.
sub wait_exit {
    my ($self, $limit) = @_;
    wait_for(sub { !$self->running }, $limit // 60);
    return $self->{status};
}

# Ctrl-C: SIGINT to the demo's process group.  Its exit status.
sub interrupt {
    my ($self) = @_;
    kill 'INT', -$self->{pid};
    return $self->wait_exit;
}

# Which of @pids still run (waits for them, hang deadline).
sub left_running {
    my ($self, @pids) = @_;
    my @left;
    wait_for(sub { @left = grep { kill 0, $_ } @pids; !@left }, 10);
    return @left;
}

END {
    for my $self (@RUNNING) {
        next unless kill 0, $self->{pid};
        my @left = $self->session_pids;
        kill 'KILL', -$self->{pid}, @left;
        waitpid($self->{pid}, 0);
    }
}

1;
