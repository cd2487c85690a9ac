package Mesh::Fixture;

# Runs a fixture suite (t/fixtures/*.tt) in a child perl, for the harness
# self tests that prove the harness reports failures.  The child gets its
# own port and server root; TEST_NGINX_* settings of the parent are not
# passed on unless given in %env.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir tempfile);

my $LIB = dirname(dirname(File::Spec->rel2abs(__FILE__)));

# Returns { code, out (TAP), err, ok => [names], not_ok => [names],
# servroot }.  The server root is a temporary directory removed when the
# calling test ends.
sub run {
    my ($file, %env) = @_;
    local %ENV = %ENV;
    delete @ENV{ grep { /^TEST_NGINX_/ && $_ ne 'TEST_NGINX_BINARY' }
                 keys %ENV };
    $ENV{TEST_NGINX_SERVROOT} = tempdir('mesh-fixture-XXXXXX',
                                        TMPDIR => 1, CLEANUP => 1);
    @ENV{ keys %env } = values %env;
    $ENV{PERL5LIB} = join ':', $LIB, grep { defined } $ENV{PERL5LIB};
    my (undef, $out_file) = tempfile(UNLINK => 1);
    my (undef, $err_file) = tempfile(UNLINK => 1);
    # a run started in the background (`make test &`) inherits SIGINT
    # ignored, which would make the Ctrl-C fixture's kill a no-op
    local $SIG{INT} = 'DEFAULT';
    system("'$^X' '$file' >'$out_file' 2>'$err_file' </dev/null");
    my %r = (code => $? >> 8, signal => $? & 127,
             servroot => $ENV{TEST_NGINX_SERVROOT});
    $r{out} = _slurp($out_file);
    $r{err} = _slurp($err_file);
    $r{ok}     = [ $r{out} =~ /^ok \d+ - (.*)$/mg ];
    $r{not_ok} = [ $r{out} =~ /^not ok \d+ - (.*)$/mg ];
    ($r{plan}) = $r{out} =~ /^1\.\.(\d+)/m;
    $r{count}  = () = $r{out} =~ /^(?:not )?ok \d+/mg;
    return \%r;
}

sub _slurp {
    my ($file) = @_;
    open my $in, '<', $file or return '';
    local $/;
    return <$in> // '';
}

# Pids of live processes whose command line contains $text (e.g. the
# fixture's server root): what a run left behind.
sub pids_matching {
    my ($text) = @_;
    my @pids;
    for my $dir (glob '/proc/[0-9]*') {
        my ($pid) = $dir =~ /(\d+)$/;
        next if $pid == $$;
        open my $in, '<', "$dir/cmdline" or next;
        my $cmd = do { local $/; <$in> } // '';
        push @pids, $pid if index($cmd, $text) >= 0;
    }
    return @pids;
}

# Lines of the run's output for a failed assertion's diagnostics.
sub show {
    my ($r) = @_;
    return "exit $r->{code}\n--- stdout\n$r->{out}--- stderr\n$r->{err}";
}

1;
