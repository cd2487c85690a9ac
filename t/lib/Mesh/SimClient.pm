package Mesh::SimClient;

# A small HTTP client for the ollama-sim suites (t/020-029): JSON
# requests, NDJSON streams with the arrival time of every line, raw
# socket requests for malformed input, and checks of JSON shapes (key
# order and value types, which JSON::PP alone does not keep).

use strict;
use warnings;

use B ();
use Carp qw(croak);
use Exporter qw(import);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(json_type top_keys is_time shape_ok);

my $JSON = JSON::PP->new->utf8->canonical;

sub new {
    my ($class, $port) = @_;
    croak 'Mesh::SimClient->new: port is required' unless $port;
    return bless {
        port => $port,
        http => HTTP::Tiny->new(timeout => 10, keep_alive => 1),
    }, $class;
}

sub port { $_[0]{port} }

sub url {
    my ($self, $path) = @_;
    return "http://127.0.0.1:$self->{port}$path";
}

# Returns { status, type, content, json (when the body parses), headers }.
sub request {
    my ($self, $method, $path, $body, %o) = @_;
    my %args = (headers => $o{headers} || {});
    if (defined $body) {
        # a code ref is sent as is: HTTP::Tiny streams it chunked
        $args{content} = ref $body eq 'HASH' || ref $body eq 'ARRAY'
            ? $JSON->encode($body) : $body;
    }
    my $http = $o{timeout}
        ? HTTP::Tiny->new(timeout => $o{timeout}, keep_alive => 0)
        : $self->{http};
    my $r = $http->request($method, $self->url($path), \%args);
    return _reply($r->{status}, $r->{headers}, $r->{content});
}

sub get  { my ($self, $path, %o) = @_; $self->request('GET', $path, undef, %o) }
sub post { my ($self, $path, $body, %o) = @_;
           $self->request('POST', $path, $body, %o) }
sub del  { my ($self, $path, $body, %o) = @_;
           $self->request('DELETE', $path, $body, %o) }

sub _reply {
    my ($status, $headers, $content) = @_;
    $content //= '';
    # JSON::PP is pure Perl: leave huge bodies to regexes
    my $json = length $content < (4 << 20)
        ? eval { $JSON->decode($content) } : undef;
    return {
        status  => $status,
        headers => $headers || {},
        type    => ($headers || {})->{'content-type'} // '',
        content => $content,
        json    => $json,
    };
}

# A streamed reply: { status, type, lines => [ { at, text, json } ] }
# where "at" is the arrival time of the line in seconds since the
# request was sent.
sub stream {
    my ($self, $path, $body) = @_;
    my $t0 = time;
    my $pending = '';
    my @lines;
    my $on_data = sub {
        my ($chunk) = @_;
        $pending .= $chunk;
        while ($pending =~ s/\A([^\n]*)\n//) {
            my $text = $1;
            push @lines, { at => time - $t0, text => $text,
                           json => eval { $JSON->decode($text) } };
        }
    };
    my $http = HTTP::Tiny->new(timeout => 20, keep_alive => 0);
    my $r = $http->request('POST', $self->url($path), {
        content       => ref $body ? $JSON->encode($body) : $body,
        data_callback => $on_data,
    });
    push @lines, { at => time - $t0, text => $pending,
                   json => eval { $JSON->decode($pending) } }
        if length $pending;
    return {
        status  => $r->{status},
        type    => $r->{headers}{'content-type'} // '',
        headers => $r->{headers},
        lines   => \@lines,
        error   => $r->{status} == 599 ? $r->{content} : undef,
    };
}

sub stats { $_[0]->get('/_sim/stats')->{json} }

sub set_fault {
    my ($self, $fault) = @_;
    return $self->post('/_sim/fault', $fault);
}

# Waits (up to $limit s) until $cond->(stats) is true; returns the stats.
sub wait_stats {
    my ($self, $cond, $limit) = @_;
    my $deadline = time + ($limit // 5);
    my $s;
    while (1) {
        $s = $self->stats;
        return $s if $s && $cond->($s);
        return $s if time >= $deadline;
        sleep 0.01;
    }
}

# Opens a connection and sends bytes; returns the socket.
sub raw_send {
    my ($self, $bytes) = @_;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $self->{port},
        Proto    => 'tcp',
        Timeout  => 5,
    ) or croak "connect to $self->{port}: $!";
    $sock->autoflush(1);
    print $sock $bytes;
    return $sock;
}

# A POST written by hand, for streams the test cuts off itself.
sub raw_post {
    my ($self, $path, $body) = @_;
    my $content = ref $body ? $JSON->encode($body) : $body;
    return $self->raw_send("POST $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . 'Content-Length: ' . length($content) . "\r\n\r\n$content");
}

# Reads from $sock until $pattern matches what arrived, the peer closes
# or $limit seconds pass.  Returns everything read.
sub read_until {
    my ($sock, $pattern, $limit) = @_;
    my $data = '';
    my $deadline = time + ($limit // 5);
    while (time < $deadline) {
        last if defined $pattern && $data =~ $pattern;
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        my $left = $deadline - time;
        last if $left <= 0;
        next unless select(my $rout = $rin, undef, undef, $left);
        my $n = sysread($sock, my $buf, 65536);
        last unless $n;
        $data .= $buf;
    }
    return $data;
}

# Sends raw bytes on a new connection and reads the whole reply until
# the peer closes (or $limit s).  Returns (status code or undef, bytes).
sub raw {
    my ($self, $bytes, $limit) = @_;
    my $sock = $self->raw_send($bytes);
    my $data = read_until($sock, undef, $limit // 3);
    close $sock;
    my ($code) = $data =~ m{\AHTTP/1\.\d (\d{3})};
    return ($code, $data);
}

# The JSON type of a decoded value: string number bool null object array.
sub json_type {
    my ($v) = @_;
    return 'null' unless defined $v;
    my $ref = ref $v;
    return 'object' if $ref eq 'HASH';
    return 'array'  if $ref eq 'ARRAY';
    return 'bool'   if $ref && $v->isa('JSON::PP::Boolean');
    return 'other'  if $ref;
    my $flags = B::svref_2object(\$v)->FLAGS;
    return 'number'
        if ($flags & (B::SVp_IOK | B::SVp_NOK)) && !($flags & B::SVp_POK);
    return 'string';
}

# The keys of the top-level object in $text, in the order written.
sub top_keys {
    my ($text) = @_;
    my (@keys, $depth, $in_str, $str, $esc, $expect_key);
    $depth = 0;
    for my $c (split //, $text) {
        if ($in_str) {
            if ($esc)         { $esc = 0; $str .= $c; }
            elsif ($c eq '\\') { $esc = 1; $str .= $c; }
            elsif ($c eq '"') {
                $in_str = 0;
                push @keys, $str if $depth == 1 && $expect_key;
            }
            else { $str .= $c; }
            next;
        }
        if    ($c eq '"') { $in_str = 1; $str = ''; }
        elsif ($c eq '{' || $c eq '[') {
            $depth++;
            $expect_key = ($c eq '{' && $depth == 1);
        }
        elsif ($c eq '}' || $c eq ']') { $depth--; }
        elsif ($c eq ',' && $depth == 1) { $expect_key = 1; }
        elsif ($c eq ':' && $depth == 1) { $expect_key = 0; }
    }
    return \@keys;
}

# Checks a JSON object (its text) against [key => type, ...]: the same
# keys in the same order (Go writes struct fields in order), each value
# of the type named, "time" being an RFC3339 string.  One test.
sub shape_ok {
    my ($text, $spec, $name) = @_;
    require Test::More;
    my @want = map { $spec->[2 * $_] } 0 .. $#$spec / 2;
    my %type = @$spec;
    my $obj = eval { $JSON->decode($text) };
    my @problems;
    if (ref $obj ne 'HASH') {
        push @problems, 'not a JSON object';
    } else {
        my $got = join ',', @{ top_keys($text) };
        my $exp = join ',', @want;
        push @problems, "keys are ($got), want ($exp)" if $got ne $exp;
        for my $k (@want) {
            next unless exists $obj->{$k};
            my $t = $type{$k};
            my $v = $obj->{$k};
            my $ok = $t eq 'time' ? is_time($v)
                   : $t eq 'any'  ? 1
                   : scalar grep { json_type($v) eq $_ } split /\|/, $t;
            push @problems, "$k is " . json_type($v) . ", want $t"
                unless $ok;
        }
    }
    my $ok = Test::More::ok(!@problems, $name);
    Test::More::diag(join("\n", @problems, "in: $text")) unless $ok;
    return $ok;
}

# Go's RFC3339Nano in UTC, as Ollama writes created_at.
sub is_time {
    my ($s) = @_;
    return defined $s && !ref $s
        && $s =~ /\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{0,8}[1-9])?Z\z/;
}

1;
