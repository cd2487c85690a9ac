# How a streamed reply ends.  The mid-stream error line is written only
# when the node failed: a client that goes away is not a node failure (no
# error line, no tasks_failed for the node, no "failed mid-stream" log).
# The end of a reply is told by the last complete NDJSON line, not by a
# substring found in some buffer: a "done":true line split across two
# reads is still the end, and model output that contains "done":true (a
# tool call's arguments) does not hide a node that failed after it.
#
# The split and tool-call replies come from a scripted node (Mesh::Script)
# that writes Ollama's bytes exactly as the test says, then resets.
use strict;
use warnings;

use IO::Socket::INET;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton
              pack_sockaddr_in);
use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Orch;
use Mesh::Script;
use Mesh::SimClient;

our ($Got, $Lines, $Failed0);

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--model', 'mistral:7b', '--token-delay-ms', 100);
Mesh::Orch::sim('F', '--model', 'mistral:7b');
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

our $T = '"created_at":"2024-01-01T00:00:00Z"';
our $LINE = qq({"model":"mistral:7b",$T,"response":"one","done":false}\n);
our $DONE = qq({"model":"mistral:7b",$T,"response":"","done":true,)
          . qq("done_reason":"stop","eval_count":7}\n);
# the first read ends in the middle of "done":true
our $CUT = index($DONE, '"done":') + length '"done":';

sub scripted {
    my (@steps) = @_;
    my $node = Mesh::Chaos::own(Mesh::Script::start(name => 'node-a',
        replies => [{ steps => [['send', Mesh::Script::head(200)],
                                @steps] }]));
    Mesh::Orch::scene(a => { port => $node->port,
                             models => [['mistral:7b', 'text']] });
    failed_from_now();
    Mesh::Chaos::record_events();
}

# Node a's tasks_failed is counted from now on (failed_since()): the
# zone, and node a's record in it, outlive a reload (HUP mode reloads
# between blocks), and a node that leaves and joins again keeps it.
sub failed_from_now {
    $Failed0 = Mesh::Chaos::node('a')->{tasks_failed} // 0;
}

sub failed_since {
    my $n = (Mesh::Chaos::node('a')->{tasks_failed} // 0) - $Failed0;
    $Mesh::Checks::Why = "node a: $n tasks failed in the block";
    return $n;
}

# A streamed task whose client reads the routed line and two more, then
# closes its connection.
sub walk_away {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $ENV{TEST_NGINX_SERVER_PORT}, Timeout => 5)
        or die "connect: $!\n";
    my $body = '{"type":"text","prompt":"leave early please",'
             . '"options":{"num_predict":60}}';
    print $s "POST /mesh/v1/tasks HTTP/1.1\r\nHost: mesh\r\n"
        . "Content-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    my $buf = '';
    my $deadline = time + 10 * $Mesh::Orch::Slow;
    while (time < $deadline) {
        my @lines = $buf =~ /(\{[^\r\n]*\}\n)/g;
        last if @lines >= 3;
        sysread($s, $buf, 65536, length $buf) or last;
    }
    $Lines = () = $buf =~ /(\{[^\r\n]*\}\n)/g;
    close $s;
}

# A streamed task whose client never reads its reply (a small receive
# buffer), until nginx has given up on it (send_timeout) or 15 s.
sub stall {
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096);
    connect($s, pack_sockaddr_in($ENV{TEST_NGINX_SERVER_PORT},
                                 inet_aton('127.0.0.1')))
        or die "connect: $!\n";
    my $body = '{"type":"text","prompt":"a very long answer",'
             . '"options":{"num_predict":100000}}';
    syswrite $s, "POST /mesh/v1/tasks HTTP/1.1\r\nHost: mesh\r\n"
        . "Content-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    Mesh::Orch::wait_until(sub {
        grep { ($_->{event} // '') eq 'task.failed' }
            Mesh::Chaos::events() }, 15);
    close $s;
}

sub json_line_kinds {
    my ($r) = @_;
    return join ' ', map {
        /^\{"error":"mesh: node \\"a\\" failed mid-stream"/ ? 'mesh-error'
        : /"done":true/ && /"eval_count"/ ? 'done'
        : /"tool_calls"/ ? 'tool-call'
        : /"done":false/ ? 'token' : "other($_)"
    } @{ $r->{lines} };
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a client that goes away mid-stream is not a node failure
--- init
Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']] });
main::failed_from_now();
Mesh::Chaos::record_events();
main::walk_away();
Mesh::SimClient->new($Mesh::Orch::Sims{A}->port)
    ->wait_stats(sub { $_[0]{cancelled} >= 1 }, 10 * $Mesh::Orch::Slow);
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a"
--- checks
$Lines >= 3
Mesh::Chaos::seen(event => 'task.failed', node_id => 'a', reason => 'client_gone')
Mesh::Chaos::unseen(event => 'task.failed', reason => 'node_failed_mid_stream')
Mesh::Chaos::settled_load('a') eq '0/0'
main::failed_since() == 0
--- no_error_log
failed mid-stream
[error]



=== TEST 2: the done line split across two reads, then the node resets: it is still a complete reply
--- init
main::scripted(['send', Mesh::Script::chunk($main::LINE)],
               ['send', Mesh::Script::chunk(substr $main::DONE, 0, $main::CUT)],
               ['sleep', 0.3],
               ['send', Mesh::Script::chunk(substr $main::DONE, $main::CUT)],
               ['sleep', 0.1], ['reset']);
$main::Got = Mesh::Chaos::request(path => '/api/generate',
    body => '{"model":"mistral:7b","prompt":"split"}');
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a"
--- checks
main::json_line_kinds($Got) eq 'token done'
$Got->{lines}[-1] . "\n" eq $DONE
Mesh::Chaos::seen(event => 'task.done', node_id => 'a', tokens => 7)
Mesh::Chaos::unseen(event => 'task.failed')
main::failed_since() == 0
--- no_error_log
failed mid-stream



=== TEST 3: a tool call whose arguments say "done":true, then the node resets: the client gets the error line
--- init
main::scripted(['send', Mesh::Script::chunk(qq({"model":"mistral:7b",$main::T,)
                   . q("message":{"role":"assistant","content":"",)
                   . q("tool_calls":[{"function":{"name":"finish",)
                   . qq("arguments":{"done":true}}}]},"done":false}\n))],
               ['sleep', 0.1], ['reset']);
$main::Got = Mesh::Chaos::request(path => '/api/chat',
    body => '{"model":"mistral:7b","messages":[{"role":"user",'
          . '"content":"call finish"}]}');
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a"
--- checks
main::json_line_kinds($Got) eq 'tool-call mesh-error'
!$Got->{clean_end}
Mesh::Chaos::seen(event => 'task.failed', node_id => 'a', reason => 'node_failed_mid_stream')
main::failed_since() == 1
--- error_log eval
[qr/mesh: node "a" failed mid-stream, task /]



=== TEST 4: a client that stops reading until send_timeout is not a node failure
--- config eval
"    send_timeout 1s;\n" . $Mesh::Orch::LOCATIONS
--- init
Mesh::Orch::scene(a => { sim => 'F', models => [['mistral:7b', 'text']] });
main::failed_from_now();
Mesh::Chaos::record_events();
main::stall();
--- request
GET /mesh/v1/nodes
--- response_body_like: "node_id":"a"
--- checks
Mesh::Chaos::seen(event => 'task.failed', node_id => 'a', reason => 'client_gone')
Mesh::Chaos::unseen(event => 'task.failed', reason => 'node_failed_mid_stream')
Mesh::Chaos::settled_load('a') eq '0/0'
main::failed_since() == 0
--- error_log
client timed out
--- no_error_log
failed mid-stream
