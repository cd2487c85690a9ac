package Mesh::Events;

# A subscriber to the mesh's Redis channels over a raw RESP socket:
# events published after new() returns are read back, decoded, in the
# order Redis received them.
#
#   my $sub = Mesh::Events->new($redis_port);   # mesh:events, mesh:tasks
#   my @ev = $sub->events(sub { $_[0]{event} eq 'task.done' }, 10);

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use Time::HiRes qw(time);

# The module publishes node events on mesh:events, task events on
# mesh:tasks.
our @CHANNELS = qw(mesh:events mesh:tasks);

my $JSON = JSON::PP->new;

sub new {
    my ($class, $port, @channels) = @_;
    @channels = @CHANNELS unless @channels;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Timeout => 2)
        or die "cannot connect to redis on $port: $!\n";
    my $self = bless { sock => $sock, buf => '' }, $class;
    syswrite $sock, join '', '*' . (1 + @channels) . "\r\n",
        map { '$' . length($_) . "\r\n$_\r\n" } 'SUBSCRIBE', @channels;
    for (@channels) {
        my ($kind) = $self->_push(time + 5);
        die "SUBSCRIBE failed\n" unless ($kind // '') eq 'subscribe';
    }
    return $self;
}

sub close {
    my ($self) = @_;
    CORE::close $self->{sock} if $self->{sock};
    delete $self->{sock};
}

# $n bytes (or a line without its CRLF when $n is undef), or undef at
# $deadline.
sub _take {
    my ($self, $n, $deadline) = @_;
    my $sel = IO::Select->new($self->{sock});
    while (1) {
        if (defined $n) {
            return substr $self->{buf}, 0, $n, '' if length $self->{buf} >= $n;
        } elsif ($self->{buf} =~ s/\A(.*?)\r\n//s) {
            return $1;
        }
        my $left = $deadline - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        sysread($self->{sock}, $self->{buf}, 65536, length $self->{buf})
            or return undef;
    }
}

# One RESP push: (kind, channel, payload), or () at $deadline.
sub _push {
    my ($self, $deadline) = @_;
    my $head = $self->_take(undef, $deadline) // return;
    my ($n) = $head =~ /^\*(\d+)$/ or return;
    my @items;
    for (1 .. $n) {
        my $h = $self->_take(undef, $deadline) // return;
        if ($h =~ /^\$(\d+)$/) {
            my $data = $self->_take($1 + 2, $deadline) // return;
            push @items, substr $data, 0, $1;
        } else {
            push @items, $h =~ s/^[:+]//r;
        }
    }
    return @items;
}

# Reads events (decoded) and gives each to $stop until it returns true or
# $limit seconds pass; returns the events read.
sub events {
    my ($self, $stop, $limit) = @_;
    my @got;
    my $deadline = time + ($limit // 10);
    while ($deadline > time) {
        my ($kind, undef, $payload) = $self->_push($deadline);
        last unless defined $kind;
        next unless $kind eq 'message';
        my $ev = eval { $JSON->decode($payload) } // { event => $payload };
        push @got, $ev;
        last if $stop && $stop->($ev);
    }
    return @got;
}

1;
