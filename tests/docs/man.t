#!/usr/bin/env perl
# The section-3 manual pages (docs/man3) against the headers, which are the
# truth: every page renders with no groff warning and fits 80 columns; every
# function of include/forkpool.h and include/forkpool_mpi.h has its
# prototype, word for word, in the SYNOPSIS of the page that names it; every
# field of each public struct and every FORKPOOL_ constant appears in some
# page; every name on a NAME line has a prototype on its page; every
# forkpool_...(3) reference leads to a page or a name on one.
use strict;
use warnings;
use File::Basename qw(dirname basename);

my $root = dirname(dirname(dirname(__FILE__)));
$root = "$root";
my $n = 0;
my $failed = 0;

sub ok {
    my ($cond, $name, @diag) = @_;
    $n++;
    print(($cond ? "ok" : "not ok") . " $n - $name\n");
    $failed++ unless $cond;
    print map { "# $_\n" } map { split /\n/ } @diag unless $cond;
    return $cond;
}

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or die "$f: $!";
    local $/;
    return scalar <$fh>;
}

sub norm {
    my ($s) = @_;
    $s =~ s/\s+/ /g;
    $s =~ s/\( /(/g;
    $s =~ s/ \)/)/g;
    $s =~ s/^ | $//g;
    return $s;
}

if (system('command -v groff >/dev/null 2>&1') != 0) {
    ok(0, "groff is installed (the manual pages are checked with it: apt-get install groff-base)");
    print "1..$n\n";
    exit 1;
}

my @pages = sort glob("$root/docs/man3/*.3");
ok(scalar(@pages) > 0, "docs/man3 has pages") or do { print "1..$n\n"; exit 1 };

# Rendered as plain text, and groff's warnings.
my (%text, %synopsis, %names);
for my $p (@pages) {
    my $b = basename($p);
    my $warn = `groff -man -Tutf8 -ww -z '$p' 2>&1`;
    ok($warn eq '', "$b renders with no groff warning", $warn);
    my $txt = `groff -man -Tascii -P-cbou '$p' 2>/dev/null`;
    $text{$b} = $txt;
    my @long = grep { length($_) > 78 } split /\n/, $txt;
    ok(!@long, "$b fits 80 columns", @long);
    ($synopsis{$b}) = $txt =~ /^SYNOPSIS\n(.*?)\n(?=[A-Z])/ms;
    $synopsis{$b} = norm($synopsis{$b} // '');
    my ($nameline) = slurp($p) =~ /^\.SH NAME\n(.*)\n/m;
    $nameline //= '';
    $nameline =~ s/\s*\\-.*//;
    $names{$b} = [split /,\s*/, $nameline];
    ok(@{ $names{$b} } > 0, "$b has a NAME line");
}

# The name -> page index.
my %page_of;
for my $b (keys %names) {
    $page_of{$_} = $b for @{ $names{$b} };
}

# Function prototypes, typedef'd structs and constants of the headers.
for my $h ("include/forkpool.h", "include/forkpool_mpi.h") {
    my $src = slurp("$root/$h");
    $src =~ s{/\*.*?\*/}{ }gs;
    $src =~ s{//[^\n]*}{}g;
    $src =~ s/^#ifdef __cplusplus.*?^#endif//gms;
    $src =~ s/^#if defined\(__GNUC__\).*?^#endif//gms;
    $src =~ s/^#.*$//gm;

    for my $stmt (split /;/, $src) {
        next if $stmt =~ /^\s*typedef/;
        next unless $stmt =~ /((?:\b\w+[\s*]+)+(forkpool_\w+)\s*\([^;{}]*\))\s*$/s;
        my ($proto, $fn) = (norm("$1;"), $2);
        my $page = $page_of{$fn};
        if (!$page) {
            ok(0, "$fn ($h) is named on a page's NAME line");
            next;
        }
        ok(index($synopsis{$page}, $proto) >= 0, "$fn: $page SYNOPSIS matches $h",
           "header: $proto");
    }

    while ($src =~ /typedef struct\s*\w*\s*\{(.*?)\}\s*(\w+)\s*;/gs) {
        my ($body, $type) = ($1, $2);
        my @missing;
        for my $field (split /;/, $body) {
            $field = norm($field);
            next if $field eq '';
            push @missing, "$field;"
                unless grep { index(norm($_), "$field;") >= 0 } values %text;
        }
        ok(!@missing, "every field of $type ($h) is in a page", map { "missing: $_" } @missing);
    }

    my %consts;
    $consts{$_} = 1 for $src =~ /\b(FORKPOOL_[A-Z0-9_]+)\b/g;
    delete @consts{qw(FORKPOOL_H FORKPOOL_MPI_H FORKPOOL_VERSION)};
    my @missing = grep {
        my $c = $_;
        !grep { /\b$c\b/ } values %text
    } sort keys %consts;
    ok(!@missing, "every FORKPOOL_ constant of $h is in a page", map { "missing: $_" } @missing);
}

# NAME lines and cross-references.
for my $b (sort keys %names) {
    my @bad = grep { $_ ne 'forkpool' && index($synopsis{$b}, "$_(") < 0 } @{ $names{$b} };
    ok(!@bad, "$b: every name on its NAME line has a prototype in its SYNOPSIS",
       map { "no prototype: $_" } @bad);
    my %refs;
    $refs{$_} = 1 for $text{$b} =~ /\b(forkpool\w*)\(3\)/g;
    my @dangling = grep { !$page_of{$_} && !-f "$root/docs/man3/$_.3" } sort keys %refs;
    ok(!@dangling, "$b: every forkpool...(3) reference leads to a page",
       map { "dangling: $_(3)" } @dangling);
}

print "1..$n\n";
exit($failed ? 1 : 0);
