package Mesh::Pipeline;

# Helpers for the pipeline suites (t/085-089), on top of Mesh::Orch and
# Mesh::Chaos: the pipeline locations and the pipelines of
# conf/nginx.conf as block defaults, a mesh of real agents each before
# its own ollama-sim with exactly the models a block gives, and the
# NDJSON lines of a pipeline reply decoded.
#
#   Mesh::Pipeline::suite();
#   # in --- init:
#   Mesh::Pipeline::mesh(a => { model => 'llava:7b', sim => [...] },
#                        b => { model => 'mistral:7b' });

use strict;
use warnings;

use File::Spec;
use JSON::PP ();

use Mesh::Chaos;
use Mesh::Orch;
use Mesh::Proc;
use Mesh::SimClient;

my $JSON = JSON::PP->new->canonical;

# The pipelines of conf/nginx.conf and the locations they need, as
# shipped: the suites run what users get.
our ($PIPELINES, $LOCATIONS) = _shipped();

sub _shipped {
    my $file = File::Spec->catfile((File::Spec->splitpath(
        File::Spec->rel2abs(__FILE__)))[1], '..', '..', '..', 'conf',
        'nginx.conf');
    open my $in, '<', $file or die "$file: $!\n";
    local $/;
    my $conf = <$in>;
    my @pl = $conf =~ /^(\s*mesh_pipeline \S+ \{\n.*?^\s*\}\n)/msg;
    my @loc = $conf =~ m{^(\s*location (?:= )?/mesh/(?:v1/pipelines|internal/step) \{\n.*?^\s*\}\n)}msg;
    # the step location is in the gRPC server too: the first server's
    die "$file: no pipelines or their locations\n" unless @pl == 2 && @loc >= 2;
    return (join('', @pl), join('', @loc[0, 1]));
}

# Mesh::Orch::suite with the pipelines and their locations as defaults;
# $o{http_extra}: more http directives.
sub suite {
    my (%o) = @_;
    my $extra = "    mesh_heartbeat_interval 300ms;\n" . ($o{http_extra} // '');
    Mesh::Orch::suite();
    # runs before Mesh::Orch's (the last added runs first)
    Test::Nginx::Util::add_block_preprocessor(sub {
        my ($block) = @_;
        $block->set_value(http_config =>
            Mesh::Orch::http_config($extra . $PIPELINES))
            unless defined $block->http_config;
        $block->set_value(config => $Mesh::Orch::LOCATIONS . $LOCATIONS)
            unless defined $block->config;
    });
}

# A fresh mesh for a block: node id => { model => 'name', sim => [flags],
# agent => [flags] }; each an ollama-sim with only that model (10 ms a
# token) and an echo-agent before it.  Events are recorded from then on.
sub mesh {
    my (%spec) = @_;
    Mesh::Chaos::teardown();
    Mesh::Orch::reset_scene();
    for my $id (sort keys %spec) {
        my $s = $spec{$id};
        $Mesh::Chaos::Sim{$id} = Mesh::Proc::start_sim(
            '--model', $s->{model}, '--token-delay-ms', 10,
            @{ $s->{sim} || [] });
        $Mesh::Chaos::Agent{$id} = Mesh::Chaos::agent($id,
            $Mesh::Chaos::Sim{$id}, '--max-tasks', 4, '--drain-timeout', '1s',
            @{ $s->{agent} || [] });
    }
    Mesh::Chaos::record_events();
}

# The reply's NDJSON lines, decoded (undef for a line that is not JSON).
sub lines {
    my ($body) = @_;
    return map { scalar eval { $JSON->decode($_) } } grep { /\S/ }
        split /\n/, $body // '';
}

# The text of the streamed last step: its "response" tokens joined.
sub streamed_text {
    my (@lines) = @_;
    return join '', map { $_->{response} // '' }
        grep { defined $_ && exists $_->{response} } @lines;
}

# ollama-sim $id's stats (/_sim/stats).
sub sim_stats {
    my ($id) = @_;
    return Mesh::SimClient->new($Mesh::Chaos::Sim{$id}->port)->stats;
}

1;
