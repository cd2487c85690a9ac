# The official openai npm client (t/clients, installed by make
# test-clients) pointed at the mesh: chat whole and streamed, completions,
# embeddings (the client asks for base64 and decodes it), the models list
# and one model, an unknown model (the client's NotFoundError), and
# mesh:code landing on the code node with the real model named.
#
# Node a (sim A, 4 tokens): mistral:7b, nomic-embed-text; node b (sim B,
# 6 tokens): mistral:7b, codellama:7b (code).  a has more free RAM, so
# mistral:7b runs there.
use strict;
use warnings;

use File::Spec;
use JSON::PP ();
use Test::Nginx::Socket;
use Mesh::Checks;
use Mesh::Orch;

our ($R);

my $dir = File::Spec->rel2abs(File::Spec->catdir(
    (File::Spec->splitpath(__FILE__))[1], 'clients'));
our $SCRIPT = "$dir/openai-client.mjs";

plan skip_all => 'node is not installed'
    unless grep { -x "$_/node" } split /:/, $ENV{PATH};
die "$dir/node_modules/openai is missing: run make test-clients\n"
    unless -d "$dir/node_modules/openai";

Mesh::Orch::suite();
Mesh::Orch::sim('A', '--tokens', 4, '--embed-dim', 3,
                map { ('--model', $_) } 'mistral:7b',
                'nomic-embed-text,caps=embedding');
Mesh::Orch::sim('B', '--tokens', 6,
                map { ('--model', $_) } 'mistral:7b', 'codellama:7b');

sub two_nodes {
    Mesh::Orch::scene(
        a => { sim => 'A', ram_free_gb => 12,
               models => [['mistral:7b', 'text', 4.1],
                          ['nomic-embed-text', 'embedding', 0.3]] },
        b => { sim => 'B', ram_free_gb => 3,
               models => [['mistral:7b', 'text', 4.1],
                          ['codellama:7b', 'code', 3.8]] });
}

# runs the client once; its results for the checks
sub client {
    my $out = qx{node "$SCRIPT" "http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}"};
    $R = eval { JSON::PP->new->decode($out) } // {};
    Test::More::diag("the client printed: $out") unless %$R;
}

repeat_each(1);
plan tests => Mesh::Orch::count_tests() + Mesh::Checks::count();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the openai client against the mesh
--- init
main::two_nodes();
main::client();
--- request
GET /mesh/v1/nodes
--- response_body_like: "queued":0
--- checks
$R->{chat}{ok} && $R->{chat}{value}{object} eq 'chat.completion'
$R->{chat}{value}{id} =~ /^chatcmpl-\d+$/ && $R->{chat}{value}{model} eq 'mistral:7b'
$R->{chat}{value}{node} eq 'a' && $R->{chat}{value}{finish} eq 'stop'
$R->{chat}{value}{content} eq '[mistral:7b] hello there mesh'
$R->{chat}{value}{usage}{completion_tokens} == 4 && $R->{chat}{value}{usage}{total_tokens} == 7
$R->{stream}{ok} && $R->{stream}{value}{text} eq $R->{chat}{value}{content}
$R->{stream}{value}{chunks} == 6 && $R->{stream}{value}{ids} == 1
$R->{stream}{value}{finish} eq 'stop' && $R->{stream}{value}{usage}{completion_tokens} == 4
$R->{completion}{ok} && $R->{completion}{value}{object} eq 'text_completion'
$R->{completion}{value}{text} =~ /^\[mistral:7b\] once upon a\b/ && $R->{completion}{value}{finish} eq 'stop'
$R->{embedding}{ok} && $R->{embedding}{value}{n} == 2 && $R->{embedding}{value}{model} eq 'nomic-embed-text'
join(',', @{ $R->{embedding}{value}{dims} }) eq '3,3' && $R->{embedding}{value}{numbers}
$R->{models}{ok} && join(',', @{ $R->{models}{value}{ids} }) eq 'mistral:7b,nomic-embed-text,codellama:7b'
$R->{model}{ok} && $R->{model}{value}{id} eq 'codellama:7b' && $R->{model}{value}{object} eq 'model'
!$R->{unknown}{ok} && $R->{unknown}{status} == 404 && $R->{unknown}{name} eq 'NotFoundError'
$R->{unknown}{code} eq 'model_not_found' && $R->{unknown}{type} eq 'invalid_request_error'
$R->{code}{ok} && $R->{code}{value}{node} eq 'b' && $R->{code}{value}{model} eq 'codellama:7b'
$R->{code}{value}{content} =~ /^\[codellama:7b\] write a binary search\b/
--- no_error_log
[error]
