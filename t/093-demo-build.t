# make demo's build step (make demo-build) is quiet: one line per
# component, each component's compiler output in build/build-<part>.log;
# V=1 shows every line; a failing component shows the end of its log.
# Each run builds into a folder of its own (BUILD=...), from scratch.

use strict;
use warnings;

use Test::More;
use File::Path qw(remove_tree);

use Mesh::Demo;
use Mesh::Proc;

my $top = $Mesh::Demo::TOP;
my $build = Mesh::Proc::log_dir() . '/build';
remove_tree($build);

sub demo_build {
    my (@args) = @_;
    # not the flags and variables of a make that runs this test
    local @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)};
    delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)};
    my $out = `make -C '$top' --no-print-directory demo-build @args 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = demo_build("BUILD=$build");
is($rc, 0, 'the quiet build succeeds') or diag($out);
is($out, "build: proto\nbuild: module\nbuild: sim\nbuild: agent\n"
        . "build: dashboard\n",
   'and prints one line per component, nothing else');
ok(-x "$build/bin/$_", "it built $_") for qw(echo-agent ollama-sim);
ok(-s "$build/nginx/ngx_http_mesh_module.so", 'and the module');
ok(-s "$build/dashboard/index.html", 'and the dashboard');
like(do { open my $fh, '<', "$build/build-agent.log"; local $/; <$fh> } // '',
     qr/^cc .* -o \S+\/bin\/echo-agent /m,
     'the compiler lines are in build-agent.log');

unlink "$build/bin/ollama-sim";
($rc, $out) = demo_build("BUILD=$build", 'V=1');
is($rc, 0, 'V=1 succeeds');
like($out, qr/^cc .* -o \S+\/bin\/ollama-sim /m,
     'and shows the compiler lines');

my $broken = Mesh::Proc::log_dir() . '/broken';
remove_tree($broken);
($rc, $out) = demo_build("BUILD=$broken", 'NGX_SRC=/nonexistent');
isnt($rc, 0, 'a failing component fails the build');
like($out, qr{\Abuild: proto\nbuild: module FAILED, the end of \Q$broken\E/build-module\.log:\n.*nonexistent}s,
     'after the components before it, with the end of its log')
    or diag($out);
remove_tree($build, $broken);

done_testing();
