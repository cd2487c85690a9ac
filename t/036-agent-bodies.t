# echo-agent and request bodies: a refusal decided before the body is
# read (401, 403, 404, 413 from Content-Length) reaches a caller that
# sends the whole body first, as nginx does; a GET with a body answers as
# a GET; the bodies held in memory are capped in total (max_tasks x
# max_body), whatever the number of connections uploading at once.
use strict;
use warnings;

use File::Path qw(make_path);
use HTTP::Request;
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time);

use Mesh::Agent;
use Mesh::Proc;

$SIG{PIPE} = 'IGNORE';

my $slow = $Mesh::Agent::SLOW;
my $sim = Mesh::Agent::start_sim('--tokens', 2);
my $agent = Mesh::Agent::start(sim => $sim, node_id => 'node-b');

my $MiB = 1024 * 1024;

# Debian's nginx in front of the agent, as the orchestrator uses it: it
# sends the whole body before it reads the reply.
sub start_proxy {
    my ($a) = @_;
    my $port = Mesh::Proc::free_port();
    my $prefix = Mesh::Proc::log_dir() . '/nginx-proxy';
    make_path("$prefix/conf", "$prefix/logs");
    unlink "$prefix/logs/error.log";
    open my $out, '>', "$prefix/conf/nginx.conf" or die "$prefix: $!";
    print $out "worker_processes 1;\nerror_log logs/error.log info;\n"
        . "pid logs/nginx.pid;\nevents {}\nhttp {\n  access_log off;\n"
        . "  client_body_temp_path tmp_body;\n  proxy_temp_path tmp_proxy;\n"
        . "  client_max_body_size 64m;\n  proxy_read_timeout 60s;\n"
        . "  server {\n    listen 127.0.0.1:$port;\n"
        . '    location / { proxy_pass http://127.0.0.1:' . $a->port
        . "; }\n  }\n}\n";
    close $out;
    return Mesh::Proc->start(
        name => 'nginx-proxy', valgrind => 0, port => $port,
        cmd => [$ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx', '-p', $prefix,
                '-c', 'conf/nginx.conf', '-g', 'daemon off;']);
}

sub connect_agent {
    my ($a) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $a->port, Proto => 'tcp',
                                     Timeout => 10 * $slow)
        or die "connect to the agent: $!\n";
    return $sock;
}

sub head_of {
    my ($method, $path, $len, @headers) = @_;
    return "$method $path HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n"
        . join('', map { "$_\r\n" } @headers)
        . "Content-Type: application/json\r\nContent-Length: $len\r\n\r\n";
}

# Writes all of $data (stops at the first write error), returns the
# number of bytes written.
sub write_all {
    my ($sock, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($sock, $data, 1 << 20, $off);
        last unless $n;
        $off += $n;
    }
    return $off;
}

# Reads the reply until the peer closes (hang-only deadline); returns
# (status, headers, body, read error).
sub read_reply {
    my ($sock) = @_;
    my ($data, $err) = ('', '');
    my $deadline = time + 30 * $slow;
    local $SIG{ALRM} = sub { die "read timeout\n" };
    eval {
        while (time < $deadline) {
            alarm 1 + int($deadline - time);
            my $n = sysread($sock, $data, 65536, length $data);
            alarm 0;
            if (!defined $n) {
                $err = "$!";
                last;
            }
            last if $n == 0;
        }
    };
    alarm 0;
    $err ||= $@;
    my ($head, $body) = split /\r\n\r\n/, $data, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    return ($status // 0, $head // '', $body // '', $err);
}

# Like nginx: the whole body is sent, then the reply read.
sub send_then_read {
    my ($method, $path, $body, @headers) = @_;
    my $sock = connect_agent($agent);
    my $sent = write_all($sock, head_of($method, $path, length $body,
                                        @headers) . $body);
    my @reply = read_reply($sock);
    close $sock;
    return ($sent, @reply);
}

# a fresh task credential each time: a token is accepted once
sub auth { 'Authorization: ' . Mesh::Agent::task_auth($_[0] // $agent) }
my $big = '{"model":"llama3.2","prompt":"' . ('x' x (20 * $MiB)) . '"}';

subtest 'early refusals with a 20 MiB body reach the caller' => sub {
    for my $case (
        [ POST => '/api/generate', [],      401, qr/mesh credential/ ],
        [ POST => '/api/pull',     [auth()], 403, qr/management endpoint/ ],
        [ POST => '/no/such/path', [auth()], 404, qr/not found/ ],
        [ POST => '/api/generate', [auth()], 413,
          qr/larger than 16777216 bytes/ ],
    ) {
        my ($method, $path, $hdrs, $want, $why) = @$case;
        my ($sent, $status, $head, $body, $err) =
            send_then_read($method, $path, $big, @$hdrs);
        is $sent, length($big) + length(head_of($method, $path,
                                                length $big, @$hdrs)),
            "$path ($want): the whole body was accepted";
        is $status, $want, "$path: the client reads $want";
        is $err, '', "$path: and no reset";
        like $body, $why, "$path: with the JSON error";
        like $head, qr/^WWW-Authenticate: MESH-TASK/mi,
            "$path: WWW-Authenticate" if $want == 401;
    }
    is Mesh::Agent::sim_stats($sim)->{completed}, 0,
        'none of them reached Ollama';
};

subtest 'through nginx: the status, not a 502' => sub {
    my $proxy = start_proxy($agent);
    my $url = 'http://127.0.0.1:' . $proxy->port;
    for my $case (
        [ '/api/generate', undef,                         401 ],
        [ '/api/pull',     1, 403 ],
        [ '/no/such/path', 1, 404 ],
        [ '/api/generate', 1, 413 ],
    ) {
        my ($path, $cred, $want) = @$case;
        my $req = HTTP::Request->new(POST => "$url$path");
        $req->header(Authorization => Mesh::Agent::task_auth($agent))
            if defined $cred;
        $req->content($big);
        my $res = Mesh::Agent::ua()->request($req);
        is $res->code, $want, "20 MiB to $path through nginx: $want";
        is $res->header('X-Mesh-Node'), 'node-b', 'the agent\'s answer';
    }
    my $log = Mesh::Proc::log_dir() . '/nginx-proxy/logs/error.log';
    open my $in, '<', $log or die "$log: $!";
    my @errors = grep { /\[(error|crit|alert)\]/ } <$in>;
    close $in;
    is_deeply \@errors, [], 'nginx logged no upstream error';
    $proxy->stop;
};

subtest 'a body past the discard limit is refused at once' => sub {
    my $sock = connect_agent($agent);
    write_all($sock, head_of(POST => '/api/generate', 100 * $MiB, auth()));
    my ($status, $head, $body) = read_reply($sock);
    close $sock;
    is $status, 413, 'declared 100 MiB: 413 before any body byte';
    like $body, qr/larger than/, 'names the limit';
};

subtest 'Expect: 100-continue gets the refusal instead of 100' => sub {
    my $sock = connect_agent($agent);
    write_all($sock, head_of(POST => '/api/generate', 20 * $MiB,
                             'Expect: 100-continue'));
    my ($status, $head, $body) = read_reply($sock);
    close $sock;
    is $status, 401, 'no credential: 401, no body sent';
    unlike $head, qr/^HTTP\/1\.1 100/, 'never 100 Continue';
};

subtest 'a GET with a body answers as a GET' => sub {
    my $payload = '{"some":"body"}' x 1000;
    for my $case (
        [ '/healthz',                [],      qr/"status":"ok"/ ],
        [ '/agent/v1/capabilities',  [auth()], qr/"node_id":"node-b"/ ],
        [ '/metrics',                [auth()],
          qr/^echo_agent_active_tasks 0$/m ],
    ) {
        my ($path, $hdrs, $want) = @$case;
        my ($sent, $status, $head, $body) =
            send_then_read(GET => $path, $payload, @$hdrs);
        is $status, 200, "GET $path with a body: 200";
        like $body, $want, "GET $path: its usual content";
    }
    my $m = Mesh::Agent::call($agent, GET => '/metrics')->content;
    like $m, qr/^echo_agent_rejected_total\{reason="out_of_memory"\} 0$/m,
        'no out-of-memory refusal';
};

subtest 'bodies held in memory are capped: max_tasks x max_body' => sub {
    my $capped = Mesh::Agent::start(sim => $sim, name => 'capped',
        node_id => 'node-c',
        args => ['--max-tasks', 2, '--max-body', '1m',
                 '--max-connections', 128]);
    my $metric = sub {
        my ($name) = @_;
        my $m = Mesh::Agent::call($capped, GET => '/metrics')->content;
        my ($v) = $m =~ /^\Q$name\E (\d+)$/m;
        return $v;
    };
    is $metric->('echo_agent_body_bytes_max'), 2 * $MiB, 'the cap';

    my $fill = $MiB - length('{"model":"llama3.2","prompt":""}');
    my $body = '{"model":"llama3.2","prompt":"' . ('y' x $fill) . '"}';
    is length($body), $MiB, 'each body is exactly max_body';

    # 6 uploads at once, each stopped halfway: only 2 can be held
    my @socks;
    for (1 .. 6) {
        my $s = connect_agent($capped);
        write_all($s, "POST /api/generate HTTP/1.1\r\nHost: agent\r\n"
            . "Connection: close\r\n" . auth($capped) . "\r\n"
            . "Content-Length: $MiB\r\n\r\n" . substr($body, 0, $MiB / 2));
        push @socks, $s;
    }
    ok Mesh::Agent::wait_for(sub {
            ($metric->('echo_agent_rejected_total{reason="upload_memory"}')
             // 0) == 4 }, 20),
        'four uploads refused while two are held';
    is $metric->('echo_agent_body_bytes'), 2 * $MiB,
        'exactly the cap is held, never more';

    my %codes;
    for my $s (@socks) {
        write_all($s, substr($body, $MiB / 2));
    }
    for my $s (@socks) {
        my ($status, $head, $reply) = read_reply($s);
        $codes{$status}++;
        if ($status == 503) {
            like $head, qr/^Retry-After: 1\r?$/mi, '503 with Retry-After';
            like $reply, qr/node node-c is busy: \d+ bytes of request bodies/,
                'says why';
        }
        close $s;
    }
    is_deeply \%codes, { 200 => 2, 503 => 4 },
        'two tasks ran, four were told the node is busy';
    ok Mesh::Agent::wait_for(sub {
            $metric->('echo_agent_body_bytes') == 0 }, 10),
        'nothing is held once they are done';

    my $res = Mesh::Agent::call($capped, POST => '/api/generate', $body);
    is $res->code, 200, 'a full-size body passes again';
    ok $capped->stop, 'agent stopped cleanly';
};

subtest 'the capabilities moved out of /v1' => sub {
    my $ua = Mesh::Agent::ua();
    $ua->max_redirect(0);
    my $res = $ua->get(Mesh::Agent::url($agent, '/v1/capabilities'));
    is $res->code, 308, 'the old path: 308';
    is $res->header('Location'), '/agent/v1/capabilities', 'to the new one';
    $res = Mesh::Agent::call($agent, GET => '/v1/capabilities');
    is $res->code, 200, 'a client that follows redirects still gets them';
    is Mesh::Agent::json($res->content)->{node_id}, 'node-b',
        'the same report';
    is Mesh::Agent::call($agent, GET => '/v1/files')->code, 404,
        'the rest of /v1 is not the agent\'s but Ollama\'s own API';
};

ok $agent->stop, 'agent stopped cleanly';
done_testing;
