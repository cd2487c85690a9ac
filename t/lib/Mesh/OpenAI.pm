package Mesh::OpenAI;

# Helpers for the suites of the OpenAI-compatible API (t/029 for the
# simulator, t/038 for the agent, t/12x for the orchestrator): a strict
# reader of a text/event-stream body, and the checks of OpenAI's error
# shape.
#
#   my $ev = Mesh::OpenAI::sse($body);   # { data => [...], json => [...],
#                                        #   done => 0|1, bad => '...' }
#   Mesh::OpenAI::error_ok($json, 404, 'not_found_error', 'name');

use strict;
use warnings;

use Exporter qw(import);
use JSON::PP;
use Test::More;

our @EXPORT_OK = qw(sse error_ok);

my $JSON = JSON::PP->new->utf8->canonical;

# Splits an SSE body into its events.  Every event must be exactly one
# "data: " line ended by a blank line; anything else is named in "bad".
# "done" is true when the last event is [DONE] (and only the last).
sub sse {
    my ($body) = @_;
    my %r = (data => [], json => [], done => 0, bad => undef);
    my $rest = $body;

    while (length $rest) {
        if ($rest !~ s/\Adata: ([^\n]*)\n\n//) {
            $r{bad} //= 'not a "data: ...\n\n" event at: '
                . substr($rest, 0, 80);
            last;
        }
        my $d = $1;
        if ($r{done}) {
            $r{bad} //= "an event after [DONE]: $d";
        }
        push @{ $r{data} }, $d;
        if ($d eq '[DONE]') {
            $r{done} = 1;
            next;
        }
        my $j = eval { $JSON->decode($d) };
        $r{bad} //= "not JSON: $d" unless defined $j;
        push @{ $r{json} }, $j;
    }

    return \%r;
}

# OpenAI's {"error":{"message","type","param","code"}}, in that shape.
sub error_ok {
    my ($json, $type, $code, $name) = @_;
    my $e = ref $json eq 'HASH' ? $json->{error} : undef;

    ok ref $e eq 'HASH', "$name: an error object" or return;
    is_deeply [sort keys %$e], [qw(code message param type)],
        "$name: message, type, param, code";
    like $e->{message}, qr/\S/, "$name: a message";
    is $e->{type}, $type, "$name: type $type";
    ok !defined $e->{param}, "$name: param null";
    is $e->{code}, $code, "$name: code " . ($code // 'null');
}

1;
