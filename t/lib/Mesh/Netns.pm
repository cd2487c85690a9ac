package Mesh::Netns;

# "Hosts" for tests across machines, made of network namespaces on this
# one (../shared/ENVIRONMENT.md, "mDNS across hosts"): a switch namespace
# holds a bridge, every host is a namespace wired to it by a veth pair,
# with its own address, its own host name (a UTS namespace), its own
# /run (a mount namespace) and its own dbus-daemon and avahi-daemon.
# Nothing is added to this machine's own network: the veth pairs are
# created inside the namespaces, and traffic stays on the bridge.
#
#   my $net = Mesh::Netns->new;                  # needs root
#   my $o = $net->host('o', services => ["conf/echo-mesh.service"]);
#   my $p = Mesh::Proc->start(name => 'x', prefix => [$o->prefix],
#                             cmd => ['/usr/bin/redis-server']);
#   my ($code, $body) = $o->http(GET => 'http://127.0.0.1:8080/');
#   $net->link_down('o'); $net->link_up('o');
#   $net->destroy;                               # also run from END
#
# destroy (and END, and an interrupt) stops every process in the
# namespaces and deletes them, so `ip netns list` is as it was.

use strict;
use warnings;

use Carp qw(croak);
use File::Copy qw(copy);
use File::Path qw(make_path remove_tree);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

use Mesh::Proc;

my @NETS;    # every live Mesh::Netns of this process
my $CREATOR = $$;

sub available {
    return 'needs root (network namespaces)' if $> != 0;
    for my $prog (qw(ip nsenter unshare dbus-daemon dbus-send avahi-daemon
                     avahi-browse curl)) {
        return "needs $prog (tools/install-deps.sh test)"
            unless grep { -x "$_/$prog" } qw(/usr/sbin /usr/bin /sbin /bin);
    }
    return undef;
}

sub new {
    my ($class, %o) = @_;
    my $self = bless {
        # short: interface and namespace names are bounded
        prefix => $o{prefix} // sprintf('mt%05d', $$ % 100000),
        subnet => $o{subnet} // '10.250.0',
        dir    => $o{dir} // Mesh::Proc::log_dir() . '/netns',
        hosts  => {},
        order  => [],
        next   => 1,
    }, $class;
    push @NETS, $self;

    # a leftover of an earlier run with the same pid goes first
    $self->_delete_namespaces;
    make_path($self->{dir});

    my $sw = $self->ns('sw');
    _run('ip', 'netns', 'add', $sw);
    _run('ip', '-n', $sw, 'link', 'set', 'dev', 'lo', 'up');
    _run('ip', '-n', $sw, 'link', 'add', 'br0', 'type', 'bridge');
    # mDNS is multicast: no snooping to wait for a querier that is not there
    _run('ip', '-n', $sw, 'link', 'set', 'dev', 'br0', 'type', 'bridge',
         'mcast_snooping', '0');
    _run('ip', '-n', $sw, 'link', 'set', 'dev', 'br0', 'up');
    return $self;
}

sub ns { my ($self, $name) = @_; return "$self->{prefix}$name" }

sub host {
    my ($self, $name, %o) = @_;
    croak "host $name exists" if $self->{hosts}{$name};
    my $ns = $self->ns($name);
    my $sw = $self->ns('sw');
    my $ip = "$self->{subnet}." . $self->{next}++;
    my $dir = "$self->{dir}/$name";
    remove_tree($dir);    # an earlier run's sockets and pid files
    make_path("$dir/run", "$dir/services");

    _run('ip', 'netns', 'add', $ns);
    _run('ip', 'link', 'add', 'eth0', 'netns', $ns, 'type', 'veth',
         'peer', 'name', "p-$name", 'netns', $sw);
    _run('ip', '-n', $sw, 'link', 'set', 'dev', "p-$name", 'master', 'br0',
         'up');
    _run('ip', '-n', $ns, 'addr', 'add', "$ip/24", 'dev', 'eth0');
    _run('ip', '-n', $ns, 'link', 'set', 'dev', 'eth0', 'up');
    _run('ip', '-n', $ns, 'link', 'set', 'dev', 'lo', 'up');

    for my $file (@{ $o{services} || [] }) {
        copy($file, "$dir/services/") or croak "copy $file: $!";
    }

    open my $conf, '>', "$dir/avahi.conf" or croak "$dir/avahi.conf: $!";
    print $conf <<"EOF";
[server]
host-name=host-$name
allow-interfaces=eth0
use-ipv4=yes
use-ipv6=no
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-aaaa-on-ipv4=no
publish-hinfo=no
publish-workstation=no
EOF
    close $conf;

    # The host's first process: its mounts and host name live as long as
    # it does.  dbus-daemon stays in its process group, so stopping the
    # process stops both.
    my $script = <<"EOF";
set -e
hostname host-$name
mount --bind '$dir/run' /run
mount --bind '$dir/services' /etc/avahi/services
mkdir -p /run/dbus
dbus-daemon --system --nofork --nopidfile &
i=0
until dbus-send --system --dest=org.freedesktop.DBus / \\
        org.freedesktop.DBus.GetId 2>/dev/null; do
    i=\$((i + 1)); [ \$i -lt 300 ] || exit 1; sleep 0.1
done
exec avahi-daemon -f '$dir/avahi.conf' --no-chroot --no-drop-root \\
    --no-rlimits
EOF
    my $h = bless { net => $self, name => $name, ns => $ns, ip => $ip,
                    dir => $dir }, 'Mesh::Netns::Host';
    $h->{init} = Mesh::Proc->start(
        name     => "host-$name",
        valgrind => 0,
        timeout  => 60,
        cmd      => ['ip', 'netns', 'exec', $ns, 'unshare', '--uts',
                     'sh', '-c', $script],
        ready    => sub {
            return $_[0]->log_text =~ /Server startup complete/;
        },
    );
    $self->{hosts}{$name} = $h;
    push @{ $self->{order} }, $name;
    return $h;
}

# The switch's side of a host's cable: down, the host is cut off the
# network while everything on it keeps running.
sub link_down { $_[0]->_link($_[1], 'down') }
sub link_up   { $_[0]->_link($_[1], 'up') }

sub _link {
    my ($self, $name, $state) = @_;
    _run('ip', '-n', $self->ns('sw'), 'link', 'set', 'dev', "p-$name",
         $state);
}

# Our namespaces that `ip netns list` shows.
sub namespaces {
    my ($self) = @_;
    my $p = $self->{prefix};
    return grep { index($_, $p) == 0 }
        map { (split ' ', $_)[0] // () } `ip netns list 2>/dev/null`;
}

sub destroy {
    my ($self) = @_;
    return if $self->{destroyed}++;
    my $ok = 1;
    for my $name (reverse @{ $self->{order} }) {
        my $h = $self->{hosts}{$name};
        $h->{init}->stop if $h->{init};
    }
    $self->_delete_namespaces;
    @NETS = grep { $_ != $self } @NETS;
    return !$self->namespaces;
}

# Whatever still runs inside our namespaces was started by this test:
# it is ended, then the namespaces go.
sub _delete_namespaces {
    my ($self) = @_;
    for my $ns ($self->namespaces) {
        for my $sig ('TERM', 'KILL') {
            my @pids = grep { /^\d+$/ } map { s/\s+//gr }
                `ip netns pids $ns 2>/dev/null`;
            last unless @pids;
            kill $sig, @pids;
            my $deadline = time + 5;
            while (time < $deadline
                   && grep { kill 0, $_ } @pids) { sleep 0.05 }
        }
        system('ip', 'netns', 'del', $ns);
    }
}

sub _run {
    my (@cmd) = @_;
    system(@cmd) == 0 or croak "@cmd: failed ($?)";
}

END {
    if ($$ == $CREATOR) {
        my $status = $?;
        $_->destroy for @NETS;
        $? = $status;
    }
}


package Mesh::Netns::Host;

use strict;
use warnings;

use File::Temp qw(tempfile);

sub name { $_[0]{name} }
sub ip   { $_[0]{ip} }
sub ns   { $_[0]{ns} }
sub dir  { $_[0]{dir} }
sub init { $_[0]{init} }

# An argv that runs @cmd on this host: its network, mounts (so its own
# /run/dbus, where avahi-client looks) and host name.
sub cmd {
    my ($self, @cmd) = @_;
    return ($self->prefix, @cmd);
}

# The launcher alone, for Mesh::Proc->start(prefix => [...]) (which puts
# valgrind, in MESH_VALGRIND mode, between it and the command).
sub prefix {
    my ($self) = @_;
    return ('/usr/bin/nsenter', '-t', $self->{init}->pid, '-n', '-m', '-u',
            '--');
}

# Runs @cmd on this host and returns its stdout (stderr to the log dir).
sub capture {
    my ($self, @cmd) = @_;
    my $pid = open my $out, '-|';
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDERR, '>>', "$self->{dir}/capture.err";
        my @argv = $self->cmd(@cmd);
        { no warnings 'exec'; exec { $argv[0] } @argv; }
        POSIX::_exit(127);
    }
    local $/;
    my $text = <$out>;
    close $out;
    return $text // '';
}

# An HTTP request from this host: (status, body, headers text).
sub http {
    my ($self, $method, $url, %o) = @_;
    my @args = ('curl', '-s', '-i', '-X', $method, '--max-time',
                $o{timeout} // 20);
    for my $h (@{ $o{headers} || [] }) {
        push @args, '-H', $h;
    }
    my $tmp;
    if (defined $o{body}) {
        ($tmp, my $name) = tempfile(DIR => $self->{dir}, UNLINK => 1);
        binmode $tmp;
        print $tmp $o{body};
        close $tmp;
        push @args, '--data-binary', "\@$name";
    }
    my $resp = $self->capture(@args, $url);
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($code) = ($head // '') =~ m{^HTTP/\S+ (\d{3})};
    return ($code // 0, $body // '', $head // '');
}

# avahi-browse on this host: one hash per resolved service.
sub browse {
    my ($self, $type) = @_;
    my @found;
    for my $line (split /\n/,
                  $self->capture('avahi-browse', '-rpt', $type)) {
        my @f = split /;/, $line, 10;
        next unless $f[0] eq '=' && @f >= 10;
        my $name = $f[3] =~ s/\\(\d{3})/chr($1)/ger;
        my %txt = map { /^"([^=]*)=(.*)"$/ ? ($1 => $2) : () }
            split / (?=")/, $f[9];
        push @found, { name => $name, host => $f[6], address => $f[7],
                       port => $f[8], txt => \%txt };
    }
    return @found;
}

1;
