package Test::Nginx::Socket;

# A compatible subset of the real Test::Nginx::Socket, on Debian's
# Test::Base.  A suite written with the documented functions and sections
# runs unchanged here and on the real one, with the same test counts.
# Beyond the real one: a block fails when error.log gets [alert], [crit]
# or [emerg] lines or a worker crashes, and (TEST_NGINX_USE_VALGRIND) when
# memcheck reports errors.  See t/README.md.

use strict;
use warnings;

use Test::Base -base;

use File::Path qw(remove_tree);
use List::Util qw(shuffle);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep time);

use Test::Nginx::Util;
use Test::Nginx::Server ();
use Test::Nginx::Request ();

our $VERSION = '0.33';

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test repeat_each
    config_preamble worker_connections master_process_enabled
    no_long_string workers master_on master_off log_level no_shuffle
    no_root_location use_hup server_name server_addr server_root html_dir
    server_port server_port_for_client timeout no_nginx_manager
    check_accum_error_log add_block_preprocessor bail_out
    add_test_cleanup_handler add_cleanup_handler add_response_body_check
);

our @ResponseBodyChecks;
our $PrevConfig;     # a block without --- config reuses the previous one
our $PrevName;       # the block that ran last (for after-the-fact faults)
our $RunningConf;    # config text (HUP version masked) nginx runs now
our $Dry;            # why the checks of this block cannot run
our $DryFail;        # the next check fails instead of skipping: its diag

sub add_response_body_check { push @ResponseBodyChecks, shift }

my $TB = Test::More->builder;

# Runs one check, or in dry mode records a skip (or the one failure that
# says why the block could not run), so that test counts stay the same.
sub _check(&) {
    my ($code) = @_;
    return $code->() unless defined $Dry;
    if (defined $DryFail) {
        my $ok = Test::More::fail($Dry);
        diag($DryFail);
        undef $DryFail;
        return $ok;
    }
    return $TB->skip($Dry);
}

# The expected value of a section for request $idx: an array entry when
# the block sends several requests.
sub _expected {
    my ($block, $section, $idx, $need_array) = @_;
    my $name  = $block->name;
    my $value = $block->$section;
    if (ref $value eq 'ARRAY') {
        bail_out("$name - SHOULD NOT HAPPEN: idx != 0 and no array")
            if !$need_array && $idx != 0;
        return $value->[$idx];
    }
    bail_out("$name - You asked for many requests, the expected results "
             . "should be arrays as well.") if $need_array;
    return $value;
}

sub _subst_port {
    my ($text) = @_;
    return $text if !defined $text || ref $text;
    $text =~ s/\$ServerPort\b/$ServerPort/g;
    $text =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    return $text;
}

sub _fmt {
    my ($s) = @_;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub _patterns {
    my ($pats) = @_;
    return [] unless defined $pats;
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats] if ref $pats eq 'ARRAY';
    chomp $pats;
    return [ split /\n+/, $pats ];
}

# A log section's patterns ($TEST_NGINX_* expanded): lines of text, or an
# eval'd regex or array of strings and regexes.
sub _section_patterns {
    my ($block, $section) = @_;
    my $v = $block->$section;
    my $name = $block->name;
    $v = ref $v eq 'ARRAY' ? [ map { expand_env_in_text($_, $name) } @$v ]
                           : expand_env_in_text($v, $name);
    return _patterns($v);
}

sub _line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub check_error_code {
    my ($block, $res, $idx, $need) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    _check {
        if (defined $block->error_code_like) {
            my $re = _expected($block, 'error_code_like', $idx, $need);
            return like($code, qr/$re/sm, "$name - status code ok");
        }
        my $want = defined $block->error_code
            ? _expected($block, 'error_code', $idx, $need) : 200;
        return is($code, $want, "$name - status code ok");
    };
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need) = @_;
    my $name = $block->name;
    for my $kind (qw(like unlike)) {
        my $section = "raw_response_headers_$kind";
        next unless defined $block->$section;
        my $re = _expected($block, $section, $idx, $need);
        my $cmp = $kind eq 'like' ? \&like : \&unlike;
        _check { $cmp->($raw_headers, qr/$re/s,
                        "$name - raw resp headers $kind") };
    }
    my $like = defined $block->response_headers ? 0 : 1;
    return unless defined $block->response_headers_like || !$like;
    my $spec = _expected($block, $like ? 'response_headers_like'
                                       : 'response_headers', $idx, $need);
    $spec = expand_env_in_text($spec, $name);
    for my $pair (@{ parse_headers($spec) }) {
        my ($key, $val) = @$pair;
        my $got = $res ? $res->header($key) : undef;
        if (!defined $val && !$like) {
            _check { unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                            "$name - header $key not present in the raw "
                            . 'headers') };
        } elsif ($like) {
            _check { like($got // '', qr/^$val$/,
                          "$name - header $key like ok") };
        } else {
            $val = _subst_port($val);
            _check { is($got // '', $val, "$name - header $key ok") };
        }
    }
}

sub check_response_body {
    my ($block, $res, $idx, $rep, $need) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;
    my $what = "(repeated req $rep, req $idx)";
    if (defined $block->response_body || defined $block->response_body_eval)
    {
        my $want = defined $block->response_body_eval
            ? eval(_expected($block, 'response_body_eval', $idx, $need))
            : _expected($block, 'response_body', $idx, $need);
        if (ref $want) {
            _check { like($content, $want,
                          "$name - response_body - like $what") };
        } else {
            $want = expand_env_in_text(_subst_port($want), $name);
            my $desc = "$name - response_body - response is expected $what";
            _check { $NoLongString ? Test::More::is($content, $want, $desc)
                                   : is($content, $want, $desc) };
        }
    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $kind = defined $block->response_body_like ? 'like' : 'unlike';
        my $pat = _expected($block, "response_body_$kind", $idx, $need);
        $pat = expand_env_in_text(_subst_port($pat), $name);
        my $cmp = $kind eq 'like' ? \&like : \&unlike;
        my $summary = trim($content) // '';
        _check { $cmp->($content, qr/$pat/s, "$name - response_body_$kind"
                        . " - response is expected ($summary)") };
    }
    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $idx, $rep, $Dry);
    }
}

# As the real Test::Nginx does, the logs are read once, 45 ms after the
# response (time for the log phase): a line nginx logs later, or from a
# timer, is not waited for; the block waits for it itself (Mesh::Log), so
# that it passes under both runners.  When a wanted line is missing, the
# log is watched a little longer, only to say in the diagnostics whether
# it came late.
sub _late_deadline {
    return time + ($Test::Nginx::Util::UseValgrind ? 15 : 5);
}

# How long after the check a line matching $pat was logged ($more->()
# returns the lines logged since its last call), or undef.
sub _came_late {
    my ($pat, $more) = @_;
    my ($start, $deadline) = (time, _late_deadline());
    while (time < $deadline) {
        return time - $start if grep { _line_matches($_, $pat) } @{ $more->() };
        sleep 0.05;
    }
    return undef;
}

sub _late_diag {
    my ($pat, $file, $more) = @_;
    my $late = _came_late($pat, $more);
    diag(sprintf "the line came %.2f s after %s was read: nginx logs it "
         . "after the response; wait for it before the checks (Mesh::Log)",
         $late, $file) if defined $late;
}

# Error log lines of this request.
sub _log_lines_for {
    sleep 0.045;
    return Test::Nginx::Server::new_log_lines();
}

sub check_error_log {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $want = _section_patterns($block, 'error_log');
    my $deny = _section_patterns($block, 'no_error_log');
    my $grep = $block->grep_error_log;
    return unless @$want || @$deny || defined $grep;
    if (defined $Dry) {
        _check { 1 } for @$want, @$deny, (defined $grep ? 1 : ());
        return;
    }
    my $lines = _log_lines_for();
    if (defined $grep) {
        $grep = $grep->[$rep] if ref $grep eq 'ARRAY';
        my $out = $block->grep_error_log_out;
        $out = $out->[$rep] if ref $out eq 'ARRAY';
        $out = expand_env_in_text($out, $name);
        my $got = join '', map { "$_\n" } grep { defined && !/\n/ }
            map { ref $grep ? ($_ =~ $grep ? $& : undef)
                            : (index($_, $grep) >= 0 ? $grep : undef) }
            @$lines;
        ref $out eq 'Regexp'
            ? like($got, $out, "$name - grep_error_log_out (req $rep)")
            : is($got, $out, "$name - grep_error_log_out (req $rep)");
    }
    for my $pat (@$want) {
        my $hit = grep { _line_matches($_, $pat) } @$lines;
        ok($hit, "$name - pattern \"$pat\" "
           . ($hit ? 'matches' : 'should match') . " a line in error.log "
           . "(req $rep)")
            or _late_diag($pat, 'error.log',
                          Test::Nginx::Server::log_watcher());
    }
    for my $pat (@$deny) {
        my ($line) = grep { _line_matches($_, $pat) } @$lines;
        my $p = _fmt($pat);
        if (defined $line) {
            fail("$name - pattern \"$p\" should not match any line in "
                 . 'error.log but matches line "' . _fmt($line)
                 . "\" (req $rep)");
        } else {
            pass("$name - pattern \"$p\" does not match a line in "
                 . "error.log (req $rep)");
        }
    }
}

sub check_access_log {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my $want = _section_patterns($block, 'access_log');
    my $deny = _section_patterns($block, 'no_access_log');
    return unless @$want || @$deny;
    if (defined $Dry) {
        _check { 1 } for @$want, @$deny;
        return;
    }
    sleep 0.045;
    my $pos = 0;
    my $read = sub {
        open my $in, '<', $Test::Nginx::Util::AccLogFile or return [];
        seek $in, $pos, 0;
        my @new = <$in>;
        pop @new if @new && $new[-1] !~ /\n\z/;    # the rest comes later
        $pos += length join '', @new;
        return \@new;
    };
    my @lines = @{ $read->() };
    for my $pat (@$want) {
        ok((grep { _line_matches($_, $pat) } @lines),
           "$name - pattern \"$pat\" matches a line in access.log "
           . "(req $rep)")
            or _late_diag($pat, 'access.log', $read);
    }
    for my $pat (@$deny) {
        ok(!(grep { _line_matches($_, $pat) } @lines),
           "$name - pattern \"$pat\" does not match a line in access.log "
           . "(req $rep)");
    }
}

sub _after_request {
    my ($block, $rep) = @_;
    sleep $block->wait if $block->wait;
    check_error_log($block, $rep);
    check_access_log($block, $rep) unless defined $block->ignore_response;
}

sub _check_response {
    my ($block, $raw, $head_req, $idx, $rep, $need) = @_;
    my ($res, $raw_headers, $left, $err) =
        Test::Nginx::Request::parse_response($raw, $head_req);
    if (!defined $block->ignore_response) {
        fail($block->name . " - $err") if $err && !defined $Dry;
        check_error_code($block, $res, $idx, $need);
        check_response_headers($block, $res, $raw_headers, $idx, $need);
        check_response_body($block, $res, $idx, $rep, $need);
    }
    return $left;
}

# One repetition of a block: every request, its checks, the log checks.
sub run_test_helper {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my ($reqs, $nresp) = Test::Nginx::Request::requests($block,
                                                        $block->{_ports});
    my $timeout = parse_time(scalar($block->timeout))
        // $Test::Nginx::Util::Timeout
           * ($Test::Nginx::Util::UseValgrind ? 3 : 1);
    my $need = $nresp > 1 || @$reqs > 1;
    my $idx = 0;
    for my $r (0 .. $#$reqs) {
        my ($raw, $timed_out, $err) = ('', 0, undef);
        ($raw, $timed_out, $err) = Test::Nginx::Request::send_packets(
            $reqs->[$r], $timeout,
            shutdown     => scalar($block->shutdown),
            middle_delay =>
                parse_time(scalar($block->raw_request_middle_delay)),
        ) unless defined $Dry;
        fail("$name - $err") if $err;
        fail("ERROR: client socket timed out - $name")
            if $timed_out && !defined $block->abort;
        my $head_req = $reqs->[$r][0]{value} =~ /^\s*HEAD\s+/;
        for my $n (1 .. $nresp) {
            $raw = _check_response($block, $raw // '', $head_req, $idx,
                                   $rep, $need);
            $idx++;
            _after_request($block, $rep) if $n < $nresp || $r < $#$reqs;
        }
    }
    _after_request($block, $rep);
}

# "N: perl code" sections: skip N tests of each repetition when true.
sub _skip_count {
    my ($block) = @_;
    my $name = $block->name;
    if (defined(my $spec = $block->skip_eval)) {
        my ($n, $code) = $spec =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - bad --- skip_eval: $spec");
        my $yes = eval $code;
        bail_out("$name - skip_eval failed: $@") if $@;
        return ($n, 'skip_eval') if $yes;
    }
    if (defined(my $spec = $block->skip_nginx)) {
        my ($n, $op, @v, $why);
        ($n, $op, $v[0], $v[1], $v[2], $why) = $spec =~
            /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?/
            or bail_out("$name - Invalid --- skip_nginx spec: $spec");
        my $want = sprintf '%d.%03d%03d', @v;
        my $have = _nginx_version();
        return ($n, $why || "nginx version $op $v[0].$v[1].$v[2]")
            if eval "$have $op $want";
    }
    return (0, undef);
}

my $NginxVersion;
sub _nginx_version {
    return $NginxVersion if defined $NginxVersion;
    my $out = `$Test::Nginx::Util::NginxBinary -v 2>&1`;
    my @v = $out =~ m{nginx/(\d+)\.(\d+)\.(\d+)} or return 0;
    return $NginxVersion = sprintf '%d.%03d%03d', @v;
}

sub _report {
    my ($name, $what, @problems) = @_;
    return unless @problems;
    fail("$name - $what");
    diag(join "\n", @problems);
}

sub _stop_server {
    _report($PrevName // 'nginx', 'nginx faults after the block',
            Test::Nginx::Server::stop());
}

sub _render {
    my ($block, $config, $rand_ports, $version) = @_;
    my $name = $block->name;
    return Test::Nginx::Util::render_conf(
        config      => $config,
        map({ $_ => expand_env_in_text(scalar($block->$_), $name,
                                       $rand_ports) }
            qw(http_config main_config post_main_config)),
        server_name => scalar($block->server_name),
        log_level   => scalar($block->log_level),
        version     => $version,
        master      => $Test::Nginx::Util::UseHup ? 'on'
                     : $Test::Nginx::Util::UseValgrind ? 'off' : undef,
    );
}

sub _fresh_root {
    my ($block, %o) = @_;
    Test::Nginx::Util::setup_server_root(%o);
    if (my $code = $block->post_setup_server_root) {
        eval $code;
        bail_out($block->name . " - post_setup_server_root failed: $@")
            if $@;
    }
    Test::Nginx::Util::write_user_files($block, $block->{_ports});
}

# Gets nginx running with this block's configuration: reuse, HUP reload,
# or a fresh start.  Returns '' or why nginx is not running it.
sub _prepare_server {
    my ($block, $config) = @_;
    return '' if $Test::Nginx::Util::NoNginxManager;
    my $hup  = $Test::Nginx::Util::UseHup;
    my $conf = _render($block, $config, $block->{_ports},
                       $hup ? 'VERSION' : undef);
    my $running = Test::Nginx::Server::running();
    if ($running && ($RunningConf // '') eq $conf
        && !defined $block->user_files)
    {
        return '';
    }
    if ($hup && $running) {
        _fresh_root($block, keep_logs => 1);
        my $version = join '', map { ('a' .. 'z')[rand 26] } 1 .. 10;
        (my $text = $conf) =~ s/'VERSION'/'$version'/;
        my $err = Test::Nginx::Server::reload($text, $version);
        $RunningConf = $err ? undef : $conf;
        return defined $block->reload_fails ? '' : $err;
    }
    _stop_server();
    _fresh_root($block);
    my $err = Test::Nginx::Server::start($conf);
    $RunningConf = $err ? undef : $conf;
    return $err;
}

sub _run_must_die {
    my ($block, $config) = @_;
    my $name = $block->name;
    my $want = $block->must_die;
    _stop_server();
    for my $rep (0 .. $RepeatEach - 1) {
        _fresh_root($block);
        my $code = Test::Nginx::Server::must_die(
            _render($block, $config, $block->{_ports}));
        if (looks_like_number($want)) {
            is($code, $want, "$name - die with the expected exit code");
        } else {
            isnt($code, 0, "$name - die as expected");
        }
        check_error_log($block, $rep);
    }
}

sub _allowed_levels {
    my ($block) = @_;
    my %allowed;
    for my $pat (@{ _section_patterns($block, 'error_log') },
                 @{ _section_patterns($block, 'no_error_log') })
    {
        my $text = "$pat";
        $allowed{$1} = 1 while $text =~ /\[(alert|crit|emerg)/g;
    }
    # a block that makes a worker crash on purpose says so in error_log
    for my $pat (@{ _section_patterns($block, 'error_log') }) {
        $allowed{crash} = 1 if "$pat" =~ /exited on signal/;
    }
    return \%allowed;
}

sub run_test {
    my ($block) = @_;
    return if defined $block->SKIP;
    my $name = $block->name;
    $block->{_ports} = {};
    my $config = $block->config;
    if (defined $config) {
        $config = expand_env_in_text($config, $name, $block->{_ports});
        $PrevConfig = $config;
    } elsif (!$Test::Nginx::Util::NoNginxManager) {
        bail_out("$name - No '--- config' section specified and could not "
                 . 'get previous one.') unless defined $PrevConfig;
        $config = $PrevConfig;
    }

    my ($skip, $why) = _skip_count($block);
    if (defined $block->must_die) {
        _run_must_die($block, $config);
        $PrevName = $name;
        return;
    }

    local $Dry;
    local $DryFail;
    my $err = $skip ? '' : _prepare_server($block, $config);
    if ($err) {
        $Dry = "$name - nginx is not running the block's configuration";
        $DryFail = $err;
    }
    $PrevName = $name;
    Test::Nginx::Server::block_begins();
    if (!$Dry && defined(my $init = $block->init)) {
        eval $init;
        bail_out("$name - init failed: $@") if $@;
    }
    for my $rep (0 .. $RepeatEach - 1) {
        if ($skip) {
            $TB->skip("$name - $why") for 1 .. $skip;
            next;
        }
        Test::Nginx::Util::write_user_files($block, $block->{_ports})
            if $rep > 0 && !$Dry;
        run_test_helper($block, $rep);
    }
    return if $skip || $Dry;
    _report($name, 'nginx health after the block',
            Test::Nginx::Server::health_problems(_allowed_levels($block)));
    _stop_server() if $Test::Nginx::Util::UseValgrind;
}

sub run_tests {
    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $Test::Nginx::Util::NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @Test::Nginx::Util::BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        $_->($block) for @Test::Nginx::Util::TestCleanupHandlers;
    }
    _finish();
}

sub _finish {
    if (!$Test::Nginx::Util::NoClean || $Test::Nginx::Util::UseValgrind) {
        _stop_server();
    }
    $_->() for @Test::Nginx::Util::CleanupHandlers;
    return if $Test::Nginx::Util::NoClean || $ENV{TEST_NGINX_SERVROOT};
    if ($TB->is_passing) {
        remove_tree($ServRoot);
    } else {
        diag("nginx logs kept in $ServRoot/logs");
    }
}

1;
