# mesh:summarize on the OpenAI door gets the native door's summarize
# prompt: a chat reaches the node with a system message carrying it ahead
# of the client's messages (the client's own system message follows
# ours), wherever "messages" sits in the body; other task types get none,
# and /v1/completions (no messages) reaches the node as sent.  The node
# is a capture server (t/lib/Mesh/impostor.py, a real HTTP server that
# answers 200 {} and records each request), so the test reads the exact
# body that left nginx; the native door's summarize task goes to it too,
# so both doors are seen to send the same prompt.  Last, Ollama's side
# (the simulator) takes the chat so changed and answers the user's text.
use strict;
use warnings;

use File::Spec;
use JSON::PP ();
use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Orch;
use Mesh::Proc;

our $PROMPT = "Summarize the user's text concisely, keeping every key fact.";
our $CAP_PORT = Mesh::Proc::free_port();
our $CAP_FILE = File::Spec->rel2abs(
    File::Spec->catfile(Mesh::Proc::log_dir(), 'capture.jsonl'));
our $Capture;

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--model', 'mistral:7b', '--tokens', 3);

# The capture server as the only node, with a text and a code model; no
# request captured yet.
sub capture_node {
    $Capture //= Mesh::Proc->start(
        name => 'capture', port => $CAP_PORT,
        cmd => ['/usr/bin/python3', 't/lib/Mesh/impostor.py', '127.0.0.1',
                $CAP_PORT, $CAP_FILE]);
    unlink $CAP_FILE;
    return Mesh::Orch::scene(cap => { port => $CAP_PORT,
        models => [['mistral:7b', 'text'], ['codellama:7b', 'code']] });
}

# The one request the node got: { path, body (decoded JSON) }
sub captured {
    my @lines;
    Mesh::Orch::wait_until(sub {
        open my $fh, '<', $CAP_FILE or return 0;
        @lines = grep { /\S/ } <$fh>;
        return @lines > 0;
    }, 5);
    $Mesh::Checks::Why = scalar(@lines) . " requests captured: @lines";
    return {} unless @lines == 1;
    my $r = JSON::PP::decode_json($lines[0]);
    $r->{body} = eval { JSON::PP::decode_json($r->{body}) } // $r->{body};
    return $r;
}

# the roles and contents of the captured chat's messages, one string
sub messages {
    my $r = captured();
    my $m = ref $r->{body} eq 'HASH' ? $r->{body}{messages} : undef;
    my $s = ref $m eq 'ARRAY'
          ? join(' | ', map { "$_->{role}: " . (ref $_->{content}
                                 ? JSON::PP->new->canonical
                                           ->encode($_->{content})
                                 : $_->{content}) } @$m)
          : '(none)';
    $Mesh::Checks::Why = "messages: $s; model: "
                       . (ref $r->{body} eq 'HASH' ? $r->{body}{model} : '?');
    return $s;
}

sub model { my $r = captured(); return ref $r->{body} eq 'HASH' ? $r->{body}{model} // '' : '' }

repeat_each(1);
no_shuffle();
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();

run_tests();

__DATA__

=== TEST 1: mesh:summarize: the summarize prompt as a system message ahead of the user's, to a text model
--- init
main::capture_node();
--- request
POST /v1/chat/completions
{"model":"mesh:summarize","messages":[{"role":"user","content":"a long text"}]}
--- response_headers
X-Mesh-Model: mistral:7b
--- checks
main::messages() eq "system: $main::PROMPT | user: a long text"
main::model() eq 'mistral:7b'
main::captured()->{path} eq '/v1/chat/completions'
--- no_error_log
[error]



=== TEST 2: the client's own system message stays, after ours; streamed the same
--- init
main::capture_node();
--- request
POST /v1/chat/completions
{"model":"mesh:summarize","stream":true,"messages":[ {"role":"system","content":"in French"},{"role":"user","content":[{"type":"text","text":"a text"}]}]}
--- checks
main::messages() eq qq(system: $main::PROMPT | system: in French | user: [{"text":"a text","type":"text"}])
main::captured()->{body}{stream}
--- no_error_log
[error]



=== TEST 3: "messages" before "model", and spaces around its "[": the same
--- init
main::capture_node();
--- request
POST /v1/chat/completions
{"messages": [ {"role":"user","content":"x"} ] , "model" : "mesh:summarize"}
--- checks
main::messages() eq "system: $main::PROMPT | user: x"
main::model() eq 'mistral:7b'
--- no_error_log
[error]



=== TEST 4: other types and models by name get no system message; neither do completions
--- init
main::capture_node();
--- request
POST /v1/chat/completions
{"model":"mesh:text","messages":[{"role":"user","content":"t"}]}
--- checks
main::messages() eq 'user: t'
main::capture_node() && (Mesh::Orch::http('POST', '/v1/chat/completions', '{"model":"mesh:code","messages":[{"role":"user","content":"c"}]}'))[0] == 200
main::messages() eq 'user: c'
main::capture_node() && (Mesh::Orch::http('POST', '/v1/completions', '{"model":"mesh:summarize","prompt":"p"}'))[0] == 200
JSON::PP->new->canonical->encode(main::captured()->{body}) eq '{"model":"mistral:7b","prompt":"p"}'
--- no_error_log
[error]



=== TEST 5: the native door's summarize task sends the same prompt (as Ollama's "system")
--- init
main::capture_node();
--- request
POST /mesh/v1/tasks
{"type":"summarize","prompt":"a long text","stream":false}
--- checks
main::captured()->{path} eq '/api/generate'
main::captured()->{body}{system} eq $main::PROMPT
--- no_error_log
[error]



=== TEST 6: a node's Ollama (the simulator) takes the changed chat and answers the user's message
--- init
Mesh::Orch::scene(a => { sim => 'A', models => [['mistral:7b', 'text']] });
--- request
POST /v1/chat/completions
{"model":"mesh:summarize","messages":[{"role":"user","content":"long text"}]}
--- response_headers
X-Mesh-Node: a
--- response_body_like: "content":"\[mistral:7b\] long text"
--- no_error_log
[error]
