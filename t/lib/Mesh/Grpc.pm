package Mesh::Grpc;

# Helpers for the gRPC suites (t/130-139): the gRPC server of
# conf/nginx.conf as shipped (its port a free one, mesh_proxy.conf
# inlined) beside the pipeline suites' defaults, and calls made by a real
# client, t/lib/Mesh/grpc_client.py (python3-grpcio, stubs generated from
# proto/ at test time).
#
#   Mesh::Grpc::suite();
#   my $r = Mesh::Grpc::call('RunTask', { type => 'TASK_TYPE_TEXT',
#                                         prompt => 'hi' });
#   $r->{code} eq 'OK' ...

use strict;
use warnings;

use File::Spec;
use JSON::PP ();

use Mesh::Orch;
use Mesh::Pipeline;
use Mesh::Proc;

my $JSON = JSON::PP->new->canonical;
my $LIB = (File::Spec->splitpath(File::Spec->rel2abs(__FILE__)))[1];
our $PY = $ENV{MESH_PYTHON} // '/usr/bin/python3';

our $SERVER = _shipped();

sub _shipped {
    my $file = File::Spec->catfile($LIB, '..', '..', '..', 'conf',
                                   'nginx.conf');
    open my $in, '<', $file or die "$file: $!\n";
    local $/;
    my $conf = <$in>;
    my ($server) = $conf =~ /^(    server \{\n        listen       50051 http2;\n.*?^    \}\n)/ms;
    die "$file: no gRPC server\n" unless $server;
    my ($proxy) = $Mesh::Orch::LOCATIONS =~ /\A(.*?error_page[^\n]*\n)/s;
    $server =~ s/listen       50051 http2;/listen       127.0.0.1:\$TEST_NGINX_GRPC_PORT http2;/;
    $server =~ s/^\s*include mesh_proxy.conf;\n/$proxy/m;
    return $server;
}

sub port { $ENV{TEST_NGINX_GRPC_PORT} }

# Mesh::Pipeline::suite with the gRPC server too; %o: http_extra
sub suite {
    my (%o) = @_;
    $ENV{TEST_NGINX_GRPC_PORT} = Mesh::Proc::free_port();
    Mesh::Pipeline::suite(http_extra => $SERVER . ($o{http_extra} // ''));
}

sub stubs {
    return File::Spec->catdir(Mesh::Proc::log_dir(), 'stubs');
}

# One run of the client: mode, method, the request (a hash, as JSON),
# %o: timeout (s), gzip, meta (list of KEY=VALUE), n, until (an event
# kind).  Its JSON answer.
sub run {
    my ($mode, $method, $req, %o) = @_;
    my $limit = 120 * $Mesh::Orch::Slow;
    # concurrent: the client reports its calls before the kill below
    $o{join} //= $limit - 10 if $mode eq 'concurrent';
    my @cmd = _cmd($mode, $method, $req, %o);
    my $out = '';
    my $pid = open(my $fh, '-|', 'timeout', $limit, @cmd)
        or die "grpc_client: $!\n";
    { local $/; $out = <$fh> // ''; }
    close $fh;
    my ($line) = reverse grep { /^\{/ } split /\n/, $out;
    my $r = eval { $JSON->decode($line // '') };
    $Mesh::Checks::Why = "grpc_client $mode $method: "
                       . ($r ? $JSON->encode($r) : "no answer ($out)");
    return $r // { code => 'NO_ANSWER' };
}

sub call { return run('call', @_) }

our $_Seq = 0;

# The client's command line: mode, method, the request (a hash, as JSON
# in a file of its own), %o as run()'s, and until (an event kind).
sub _cmd {
    my ($mode, $method, $req, %o) = @_;
    my @cmd = ($PY, File::Spec->catfile($LIB, 'grpc_client.py'),
               '--port', port(), '--stubs', stubs());
    push @cmd, '--timeout', $o{timeout} if $o{timeout};
    push @cmd, '--gzip' if $o{gzip};
    push @cmd, '--until', $o{until} if $o{until};
    push @cmd, '--join', $o{join} if $o{join};
    push @cmd, '--meta', $_ for @{ $o{meta} || [] };
    my $file = File::Spec->catfile(Mesh::Proc::log_dir(),
                                   "request-$mode-$$-" . ++$_Seq . '.json');
    open my $rq, '>', $file or die "$file: $!\n";
    print $rq $JSON->encode($req // {});
    close $rq;
    push @cmd, $mode, $method, "\@$file";
    push @cmd, $o{n} if defined $o{n};
    return @cmd;
}

# A Watch call in the background (mode watch, %o as _cmd's): a handle for
# watch_messages and watch_end.  Its output goes to a file, line by line.
sub watch {
    my ($req, %o) = @_;
    my @cmd = _cmd('watch', 'Watch', $req, %o);
    my $out = File::Spec->catfile(Mesh::Proc::log_dir(),
                                  "watch-$$-$_Seq.out");
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>', $out or die "$out: $!\n";
        exec 'timeout', 120 * $Mesh::Orch::Slow, @cmd;
        die "exec: $!\n";
    }
    return { pid => $pid, out => $out };
}

# The messages a background Watch printed so far.
sub watch_messages {
    my ($w) = @_;
    open my $in, '<', $w->{out} or return [];
    my @m;
    while (my $line = <$in>) {
        last unless $line =~ /\n\z/;
        my $d = eval { $JSON->decode($line) } or next;
        push @m, $d->{message} if $d->{message};
    }
    return \@m;
}

# Waits (up to $limit s, scaled) until the Watch printed a message of
# each kind given, in that order.
sub watch_saw {
    my ($w, $limit, @kinds) = @_;
    my $ok = Mesh::Orch::wait_until(sub {
        my @k = @kinds;
        for my $m (@{ watch_messages($w) }) {
            shift @k if @k && ($m->{kind} // '') eq $k[0];
        }
        return !@k;
    }, $limit);
    $Mesh::Checks::Why = "watch saw: " . join(' ', map { $_->{kind} // '?' }
                                              @{ watch_messages($w) });
    return $ok;
}

# Waits for the background Watch to end; its "call" result.
sub watch_end {
    my ($w) = @_;
    waitpid $w->{pid}, 0;
    open my $in, '<', $w->{out} or return { code => 'NO_ANSWER' };
    my ($line) = reverse grep { /^\{"(?!message")/ } <$in>;
    my $r = eval { $JSON->decode($line // '') };
    $Mesh::Checks::Why = "watch: " . ($r ? $JSON->encode($r) : 'no answer');
    return $r // { code => 'NO_ANSWER' };
}


# A raw call with curl (HTTP/2 prior knowledge): the response's header
# lines and trailer lines as curl -v shows them ("< name: value"), and
# the body's byte count.  $body: the framed request message, as bytes.
sub raw {
    my ($path, $body, @headers) = @_;
    my $dir = Mesh::Proc::log_dir();
    my $in = File::Spec->catfile($dir, 'raw.bin');
    my $out = File::Spec->catfile($dir, 'raw.out');
    open my $fh, '>:raw', $in or die "$in: $!\n";
    print $fh $body;
    close $fh;
    # --max-time only ends a hang (a call the server never ends)
    my @cmd = ('curl', '-sv', '--http2-prior-knowledge', '-o', $out,
               '--max-time', 60 * $Mesh::Orch::Slow,
               '--data-binary', "\@$in",
               (grep({ /^content-type:/i } @headers)
                ? () : ('-H', 'content-type: application/grpc')),
               '-H', 'te: trailers',
               (map { ('-H', $_) } @headers),
               'http://127.0.0.1:' . port() . $path);
    my $err = '';
    open my $c, '-|', 'sh', '-c', join(' ', map { "'$_'" } @cmd) . ' 2>&1'
        or die "curl: $!\n";
    { local $/; $err = <$c> // ''; }
    close $c;
    my @lines = map { s/\r$//r } grep { /^< / } split /\n/, $err;
    $Mesh::Checks::Why = "curl: " . (@lines ? join(" | ", @lines) : ($err =~ s{\n}{ ~ }gr));
    return { lines => \@lines, size => -s $out // 0 };
}

# The framed message of a request given as protobuf bytes.
sub frame {
    my ($pb) = @_;
    return pack('CN', 0, length $pb) . $pb;
}

# The text of a RunTask or RunPipeline reply: its "text" fields joined.
sub text {
    my ($r) = @_;
    my $t = join '', map { $_->{text} // '' } @{ $r->{messages} || [] };
    $Mesh::Checks::Why = "text: \"$t\"";
    return $t;
}

1;
