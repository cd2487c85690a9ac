package Mesh::Sign;

# The mesh credential as nodes and nginx put it on the wire (the scheme is
# in ngx_echo_module/ngx_http_mesh_sign.h): suites sign what they send the
# way echo-agent does, and check what they receive the way nginx does.
#
#   my $h = Mesh::Sign::node($secret, 'POST', '/mesh/v1/nodes/heartbeat',
#                            $body);                 # Authorization value
#   my $h = Mesh::Sign::node($secret, ..., ts => time - 60, nonce => $n);
#   my $t = Mesh::Sign::task($secret, $node_id, $task_id);
#   my $r = Mesh::Sign::reply($secret, $auth, 200, $body);
#                          # X-Mesh-Reply-Signature for the request $auth
#   Mesh::Sign::reply_ok($secret, $auth, $status, $body, $sig)  # 1 or 0
#   Mesh::Sign::node_ok($secret, $method, $path, $body, $header)  # 1 or 0
#   add_block_preprocessor(\&Mesh::Sign::preprocess);  # "--- signed"

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex sha256_hex);

our $NODE = 'MESH-HMAC-SHA256';
our $TASK = 'MESH-TASK';
our $REPLY = 'MESH-REPLY';

sub nonce {
    open my $in, '<:raw', '/dev/urandom' or die "urandom: $!";
    read $in, my $raw, 16;
    close $in;
    return unpack 'H*', $raw;
}

sub node_sig {
    my ($secret, $method, $path, $ts, $nonce, $body) = @_;
    return hmac_sha256_hex(
        join("\n", $NODE, $method, $path, $ts, $nonce, sha256_hex($body)),
        $secret);
}

sub node {
    my ($secret, $method, $path, $body, %o) = @_;
    my $ts = $o{ts} // time;
    my $nonce = $o{nonce} // nonce();
    return "$NODE $ts:$nonce:"
        . node_sig($secret, $method, $path, $ts, $nonce, $body // '');
}

# 1 if $header is a valid signature of the request (no window, no replay)
sub node_ok {
    my ($secret, $method, $path, $body, $header) = @_;
    my ($ts, $nonce, $sig) = ($header // '')
        =~ /^\Q$NODE\E (\d+):([0-9a-f]{16,64}):([0-9a-f]{64})$/ or return 0;
    return node_sig($secret, $method, $path, $ts, $nonce, $body // '')
        eq $sig ? 1 : 0;
}

sub task_sig {
    my ($secret, $node_id, $task_id, $ts) = @_;
    return hmac_sha256_hex(join("\n", $TASK, $node_id, $task_id, $ts),
                           $secret);
}

sub task {
    my ($secret, $node_id, $task_id, %o) = @_;
    my $ts = $o{ts} // time;
    return "$TASK $ts:$task_id:"
        . task_sig($secret, $node_id, $task_id, $ts);
}

# The orchestrator's proof to a node: bound to the request it answers (the
# signature that ends $auth, its Authorization value), the status and the
# reply body exactly as sent.
sub reply {
    my ($secret, $auth, $status, $body) = @_;
    my ($req) = ($auth // '') =~ /([0-9a-f]{64})$/ or return '';
    return hmac_sha256_hex(
        join("\n", $REPLY, $req, $status, sha256_hex($body // '')),
        $secret);
}

sub reply_ok {
    my ($secret, $auth, $status, $body, $sig) = @_;
    my $want = reply($secret, $auth, $status, $body);
    return $want ne '' && defined $sig && $sig eq $want ? 1 : 0;
}

# A block with "--- signed" gets a fresh Authorization header on each POST
# to the node API, added to its more_headers (a string or one per request),
# signed just before the block runs (blocks are parsed long before), with
# the secret of Mesh::Node ("--- signed: <secret>" names another).
# "--- signed eval" with [1, 0, ...]: only the requests marked 1.
sub preprocess {
    my ($block) = @_;
    return unless $block->can('signed') && defined $block->signed;
    require Mesh::Node;
    my $req = $block->request;
    my $more = $block->more_headers;
    my $only = ref $block->signed eq 'ARRAY' ? $block->signed : undef;
    my $secret = !ref $block->signed && $block->signed =~ /(\S+)/
        ? $1 : $Mesh::Node::SECRET;
    my @reqs = ref $req eq 'ARRAY' ? @$req : ($req);
    my @headers;
    for my $i (0 .. $#reqs) {
        my $one = $reqs[$i];
        $one = join '', map { ref $_ ? $_->{value} : $_ } @$one if ref $one;
        my ($method, $path, $body) =
            $one =~ /\A\s*(\S+)\s+(\S+)[^\n]*\n?(.*)\z/s;
        $body //= '';
        $body =~ s/^\s+|\s+$//gs;
        my $h = ref $more ? $more->[$i] // '' : $more // '';
        $h = 'Authorization: '
            . node($secret, $method, $path, $body) . "\n$h"
            if $method eq 'POST' && $path =~ m{^/mesh/v1/nodes/}
               && (!$only || $only->[$i]);
        push @headers, $h;
    }
    $block->set_value(more_headers => \@headers);
}

1;
