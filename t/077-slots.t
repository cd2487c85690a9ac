# A node slot reserved for a task comes back on every path, because it is
# tied to the request's cleanup and not only to the balancer's free: a
# client that goes away between being woken from the queue and being
# dispatched, a mesh_route location whose proxy_pass (with variables)
# does not lead to the mesh_balancer upstream, a proxy_pass that fails
# before any upstream exists.  After each, /mesh/v1/nodes shows
# active_tasks 0 and the node's whole capacity takes tasks again.  Where
# nginx -t can tell that a mesh_route location does not proxy to a
# mesh_balancer upstream, it refuses the configuration.
#
# Nodes are stand-ins (Mesh::Node) before ollama-sims, each with one slot.
use strict;
use warnings;

use IO::Socket::INET;
use Test::Nginx::Socket;
use Mesh::Chaos;
use Mesh::Checks;
use Mesh::Node;
use Mesh::Orch;
use Mesh::Proc;
use Test::Nginx::Util ();

our ($GENERATE, $Waiter, $Direct, $Heartbeat);

Mesh::Orch::suite();
Mesh::Orch::sim($_, '--model', 'mistral:7b', '--tokens', 3) for qw(A B);
add_test_cleanup_handler(\&Mesh::Chaos::teardown);

$GENERATE = '{"model":"mistral:7b","prompt":"slot","stream":false}';
$ENV{TEST_NGINX_SIM_A_PORT} = $Mesh::Orch::Sims{A}->port;

sub one_slot_a {
    my (%o) = @_;
    Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']],
                             max_tasks => 1, active_tasks => $o{busy} // 0 });
    Mesh::Chaos::record_events();
}

sub b_caps {
    return (node_id => 'b', port => $Mesh::Orch::Sims{B}->port,
            models => [['mistral:7b', 'text']], max_tasks => 1,
            ram_free_gb => 8, active_tasks => 0, status => 'idle');
}

# The process that runs nginx's event loop: the only worker, or nginx
# itself without a master.
sub event_loop_pid {
    my $file = "$Test::Nginx::Util::ServRoot/logs/nginx.pid";
    open my $in, '<', $file or die "no $file: $!\n";
    chomp(my $pid = <$in>);
    if (open my $ch, '<', "/proc/$pid/task/$pid/children") {
        my ($child) = split ' ', <$ch> // '';
        return $child if $child;
    }
    return $pid;
}

sub read_reply {
    my ($sock) = @_;
    my $buf = '';
    my $deadline = time + 10 * $Mesh::Orch::Slow;
    while (time < $deadline) {
        if ($buf =~ /\A(.*?\r\n\r\n)/s) {
            my $head = $1;
            my ($len) = $head =~ /^content-length:\s*(\d+)/mi;
            return $buf if defined $len && length($buf) >= length($head) + $len;
        }
        my $n = sysread $sock, $buf, 65536, length $buf;
        last unless $n;
    }
    return $buf;
}

# The waiter is woken (a node joins) and its client goes away before the
# woken task is dispatched: nginx is stopped while the join arrives on a
# kept-alive connection and the client's connection closes, so that both
# events come out of one epoll_wait, the join first.
sub wake_and_vanish {
    my $ka = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $ENV{TEST_NGINX_SERVER_PORT}, Timeout => 5)
        or die "connect: $!\n";
    print $ka "GET /mesh/status HTTP/1.1\r\nHost: mesh\r\n\r\n";
    read_reply($ka) =~ m{^HTTP/1.1 200} or die "no first reply\n";

    my $body = Mesh::Node::caps_json({ caps => { b_caps() } });
    my $pid = event_loop_pid();
    kill 'STOP', $pid;
    print $ka "POST /mesh/v1/nodes/heartbeat HTTP/1.1\r\nHost: mesh\r\n"
        . "Authorization: Bearer $Mesh::Node::SECRET\r\n"
        . "Content-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    $Waiter->stop;
    select undef, undef, undef, 0.3;
    kill 'CONT', $pid;
    $Heartbeat = read_reply($ka);
    close $ka;

    # b goes on heartbeating, as the scene's nodes do
    $Mesh::Orch::Want{b} = { b_caps() };
    $Mesh::Orch::Nodes{b} = Mesh::Node->start(
        nginx_port => $ENV{TEST_NGINX_SERVER_PORT}, interval_ms => 200,
        b_caps());
}

sub free {
    my ($id) = @_;
    my $ok = Mesh::Orch::wait_until(
        sub { (Mesh::Chaos::node($id)->{active_tasks} // -1) == 0 }, 3);
    $Mesh::Checks::Why = "node $id: active_tasks "
        . (Mesh::Chaos::node($id)->{active_tasks} // 'none');
    return $ok;
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: woken from the queue, gone before dispatch: the slot comes back
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_ttl 2s;\n")
--- init
main::one_slot_a(busy => 1);
$main::Waiter = Mesh::Chaos::background(path => '/api/generate',
    body => $main::GENERATE, timeout => 20);
Mesh::Orch::wait_until(sub { Mesh::Orch::nodes_queued() == 1 }, 10)
    or Test::More::diag('the waiter was never queued');
main::wake_and_vanish();
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: b
--- response_body_like: "response":"\[mistral:7b\] slot[^"]*","done":true
--- checks
$Heartbeat =~ m{^HTTP/1.1 200}
# the waiter was woken for b, its client had gone
Mesh::Chaos::seen(event => 'node.join', node_id => 'b')
Mesh::Orch::nodes_queued() == 0
main::free('b')
--- no_error_log
[crit]



=== TEST 2: nginx -t refuses a mesh_route location that proxies to an address
--- config
    location = /api/generate {
        mesh_route ollama;
        proxy_pass http://127.0.0.1:9;
    }
--- must_die
--- error_log
"mesh_route" needs "proxy_pass" to an upstream with "mesh_balancer"



=== TEST 3: nginx -t refuses a mesh_route location that proxies to an upstream without mesh_balancer
--- http_config eval
Mesh::Orch::http_config("    upstream plain { server 127.0.0.1:9; }\n")
--- config
    location = /api/generate {
        mesh_route ollama;
        proxy_pass http://plain;
    }
--- must_die
--- error_log
"mesh_route" needs "proxy_pass" to an upstream with "mesh_balancer"



=== TEST 4: nginx -t refuses a mesh_route location without proxy_pass
--- config
    location = /api/generate {
        mesh_route ollama;
    }
--- must_die
--- error_log
"mesh_route" needs "proxy_pass" to an upstream with "mesh_balancer"



=== TEST 5: proxy_pass with variables that does not reach mesh_balancer: the slot comes back
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_ttl 2s;\n")
--- config eval
<<'_EOC_' . $Mesh::Orch::LOCATIONS
    location = /direct {
        mesh_route ollama;
        set $target 127.0.0.1:$TEST_NGINX_SIM_A_PORT;
        proxy_pass http://$target/api/generate;
    }
_EOC_
--- init
main::one_slot_a();
$main::Direct = Mesh::Chaos::request(path => '/direct',
                                     body => $main::GENERATE);
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] slot[^"]*","done":true
--- checks
$Direct->{status} == 200
main::free('a')
--- error_log eval
[qr/mesh: task \S+ was not sent through "mesh_balancer", location "\/direct"/]



=== TEST 6: proxy_pass fails before any upstream exists (a bad URL): the slot comes back
--- http_config eval
Mesh::Orch::http_config("    mesh_queue_ttl 2s;\n")
--- config eval
<<'_EOC_' . $Mesh::Orch::LOCATIONS
    location = /broken {
        mesh_route ollama;
        set $target "bogus";
        proxy_pass $target;
    }
_EOC_
--- init
main::one_slot_a();
$main::Direct = Mesh::Chaos::request(path => '/broken',
                                     body => $main::GENERATE);
--- request eval
"POST /api/generate\n$::GENERATE"
--- response_headers
X-Mesh-Node: a
--- response_body_like: "response":"\[mistral:7b\] slot[^"]*","done":true
--- checks
$Direct->{status} == 500
main::free('a')
--- error_log
invalid URL prefix in "bogus"
