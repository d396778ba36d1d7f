/* perl.c: the perl coprocess for {= =} (contracts in perl.h). */
#include "perl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fpc.h"

extern char **environ;

/* The server side: requests on fd 3, answers on fd 4; the expressions'
   own stdout and stderr are forkpool's, their stdin /dev/null. _compile
   comes first so that the expressions see none of the script's lexicals.
   make_regexp_ungreedy and uniq are GNU parallel's (20221122). */
static const char server[] =
    "sub _compile { eval \"package Arg; sub { no strict; no warnings; my \\$job = shift; "
    "$_[0]\\n}\" }\n"
    "use strict; use POSIX ();\n"
    "open(my $in, '<&=', 3) or die; open(my $out, '>&=', 4) or die;\n"
    "binmode $in; binmode $out;\n"
    "sub make_regexp_ungreedy { my $regexp = shift; my ($class_state, $escape_state, $found)"
    " = (0, 0, 0); my $ungreedy = '';\n"
    " for my $c (split(//, $regexp)) { if ($found) { if ($c ne '?') { $ungreedy .= '?'; }"
    " $found = 0; } $ungreedy .= $c;\n"
    "  if ($escape_state) { $escape_state = 0; next; } if ($c eq '\\\\') { $escape_state = 1;"
    " next; }\n"
    "  if ($c eq '[') { $class_state = 1; next; } if ($class_state) { if ($c eq ']')"
    " { $class_state = 0; } next; }\n"
    "  if ($c =~ /[*}+]/) { $found = 1; } }\n"
    " if ($found) { $ungreedy .= '?'; } return $ungreedy; }\n"
    "sub uniq { my %h; return grep { !$h{$_}++ } @_; }\n"
    "package Job;\n"
    "sub seq { $_[0]{seq} } sub slot { $_[0]{slot} } sub skip { $Arg::_skip = 1 }\n"
    "sub total_jobs { $_[0]{total} >= 0 ? $_[0]{total} : die \"total_jobs() needs the number "
    "of jobs in advance (inputs after ::: or in files read whole)\\n\" }\n"
    "package Arg;\n"
    "our ($_job, $_uq, $_skip);\n"
    "sub Q { my $s = $_[0]; if ($s =~ /[^-_.+a-z0-9\\/]/i) { $s =~ s/'/'\"'\"'/g;"
    " $s = \"'$s'\"; $s =~ s/^''//; $s =~ s/''$//; return $s; } elsif ($s eq '') {"
    " return \"''\"; } return $s; }\n"
    "sub pQ { my $s = $_[0]; $s =~ s/[\\\\\\\"\\$\\@]/\\\\$&/g; $s }\n"
    "sub uq { $_uq = 1 } sub skip { $_skip = 1 } sub seq { $_job->seq }"
    " sub slot { $_job->slot } sub total_jobs { $_job->total_jobs }\n"
    "sub hash { require B; B::hash(@_) }\n"
    "sub yyyy_mm_dd_hh_mm_ss { POSIX::strftime('%Y-%m-%dT%H:%M:%S', localtime) }\n"
    "sub yyyy_mm_dd_hh_mm { POSIX::strftime('%Y-%m-%dT%H:%M', localtime) }\n"
    "sub yyyy_mm_dd { POSIX::strftime('%Y-%m-%d', localtime) }\n"
    "sub hh_mm_ss { POSIX::strftime('%H:%M:%S', localtime) }\n"
    "sub hh_mm { POSIX::strftime('%H:%M', localtime) }\n"
    "sub yyyymmddhhmmss { POSIX::strftime('%Y%m%d%H%M%S', localtime) }\n"
    "sub yyyymmddhhmm { POSIX::strftime('%Y%m%d%H%M', localtime) }\n"
    "sub yyyymmdd { POSIX::strftime('%Y%m%d', localtime) }\n"
    "sub hhmmss { POSIX::strftime('%H%M%S', localtime) }\n"
    "sub hhmm { POSIX::strftime('%H%M', localtime) }\n"
    "package main;\n"
    "my @code;\n"
    "sub rd { my $n = shift; my $b = ''; while (length($b) < $n) {"
    " my $r = read($in, $b, $n - length($b), length($b)); exit 0 unless $r; } $b }\n"
    "sub line { local $/ = \"\\n\"; my $l = <$in>; exit 0 unless defined $l; chomp $l; $l }\n"
    "sub reply { my ($st, $v) = @_; $v = '' unless defined $v;"
    " utf8::encode($v) if utf8::is_utf8($v); my $m = \"$st \" . length($v) . \"\\n\" . $v;\n"
    " while (length $m) { my $w = syswrite($out, $m); exit 1 unless $w; substr($m, 0, $w) = ''; } }\n"
    "while (1) { my @h = split / /, line();\n"
    " if ($h[0] eq 'C') { my $f = _compile(rd($h[2]));"
    " if (ref $f) { $code[$h[1]] = $f; reply(0) } else { reply(3, $@) } next; }\n"
    " my ($id, $pos, $seq, $slot, $total, $jobs, $n) = @h[1 .. 7];\n"
    " my @a = (undef); for (1 .. $n) { push @a, rd(line()); }\n"
    " *Arg::arg = \\@a;\n"
    " $Arg::_job = bless {seq => $seq, slot => $slot, total => $total, jobs => $jobs}, 'Job';\n"
    " $Arg::_uq = $Arg::_skip = 0;\n"
    " local $_ = $pos < $n ? $a[$pos + 1] : '';\n"
    " if (eval { $code[$id]->($Arg::_job); 1 }) {"
    " reply($Arg::_skip ? 2 : $Arg::_uq ? 1 : 0, $_) } else { reply(3, $@) } }\n";
/* (A skipped job's value is still sent: the joblog shows its command.) */

struct perl {
    pid_t pid;
    int to, from;        /* requests, answers */
    char buf[4096];      /* answers read ahead */
    size_t beg, end;
};

/* Moves fd above the standard and protocol fds (so that posix_spawn's
   dup2 onto 3 and 4 never meets itself). The new fd is close-on-exec. */
static int fd_high(int fd)
{
    if (fd > 4)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    close(fd);
    return n;
}

/* Makes sure answer bytes are buffered. 0, or -1 (EIO at EOF). */
static int rd_fill(struct perl *p)
{
    while (p->beg == p->end) {
        ssize_t r = read(p->from, p->buf, sizeof p->buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        p->beg = 0;
        p->end = (size_t)r;
    }
    return 0;
}

/* Appends the next n bytes of the answer to sb. 0, or -1 (EIO). */
static int rd_exact(struct perl *p, struct sbuf *sb, size_t n)
{
    while (n > 0) {
        if (rd_fill(p) != 0)
            return -1;
        size_t k = p->end - p->beg < n ? p->end - p->beg : n;
        sb_add(sb, p->buf + p->beg, k);
        p->beg += k;
        n -= k;
    }
    return 0;
}

/* Reads an answer's header "status len\n". 0, or -1 (EIO). */
static int rd_header(struct perl *p, int *status, size_t *len)
{
    char h[64];
    size_t n = 0;
    for (;;) {
        if (rd_fill(p) != 0)
            return -1;
        h[n] = p->buf[p->beg++];
        if (h[n] == '\n')
            break;
        if (++n == sizeof h - 1) {
            errno = EIO;
            return -1;
        }
    }
    h[n] = '\0';
    char *end;
    errno = 0;
    long st = strtol(h, &end, 10);
    if (*end != ' ' || end == h) {
        errno = EIO;
        return -1;
    }
    const char *num = end + 1;
    unsigned long long l = strtoull(num, &end, 10);
    if (*end != '\0' || end == num || errno != 0 || st < 0 || st > 3) {
        errno = EIO;
        return -1;
    }
    *status = (int)st;
    *len = (size_t)l;
    return 0;
}

/* Reads one answer: status, and the text into out. 0, or -1 (EIO). */
static int rd_answer(struct perl *p, int *status, struct sbuf *out)
{
    size_t len;
    if (rd_header(p, status, &len) != 0)
        return -1;
    return rd_exact(p, out, len);
}

static int spawn(struct perl *p)
{
    int req[2], ans[2];
    if (pipe2(req, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(ans, O_CLOEXEC) != 0) {
        close(req[0]);
        close(req[1]);
        return -1;
    }
    req[0] = fd_high(req[0]);
    ans[1] = fd_high(ans[1]);
    p->to = req[1];
    p->from = ans[0];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) {
        rc = posix_spawnattr_init(&at);
        if (rc != 0)
            posix_spawn_file_actions_destroy(&fa);
    }
    if (rc == 0) {
        if (req[0] < 0 || ans[1] < 0)
            rc = EMFILE;
        if (rc == 0)
            rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        if (rc == 0)
            rc = posix_spawn_file_actions_adddup2(&fa, req[0], 3);
        if (rc == 0)
            rc = posix_spawn_file_actions_adddup2(&fa, ans[1], 4);
        if (rc == 0)
            rc = posix_spawnattr_setsigmask(&at, &none);
        if (rc == 0)
            rc = posix_spawnattr_setsigdefault(&at, &def);
        if (rc == 0)
            rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        char *argv[] = {"perl", "-e", (char *)server, NULL};
        if (rc == 0)
            rc = posix_spawnp(&p->pid, "perl", &fa, &at, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
    }
    if (req[0] >= 0)
        close(req[0]);
    if (ans[1] >= 0)
        close(ans[1]);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}

int perl_start(struct perl **pp, char *const *exprs, size_t n)
{
    *pp = NULL;
    struct perl *p = calloc(1, sizeof *p);
    if (p == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    p->pid = -1;
    p->to = p->from = -1;
    if (spawn(p) != 0) {
        if (errno == ENOENT || errno == EACCES)
            fpc_say("{= =} needs perl (none found on PATH)");
        else
            fpc_say("cannot start perl: %s", strerror(errno));
        perl_stop(p);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct sbuf b = {0};
        size_t len = strlen(exprs[i]);
        sb_printf(&b, "C %zu %zu\n", i, len);
        sb_add(&b, exprs[i], len);
        int status = -1;
        struct sbuf err = {0};
        if (sb_write(&b, p->to) != 0 || rd_answer(p, &status, &err) != 0 || status != 0) {
            if (status == 3)
                fpc_say("cannot use the Perl expression '%s': %.*s", exprs[i],
                        (int)(err.len && err.p[err.len - 1] == '\n' ? err.len - 1 : err.len),
                        err.p ? err.p : "");
            else
                fpc_say("perl: %s", strerror(errno));
            sb_free(&err);
            perl_stop(p);
            return -1;
        }
        sb_free(&err);
    }
    *pp = p;
    return 0;
}

int perl_eval(struct perl *p, size_t id, const struct perl_job *j, size_t pos, struct sbuf *out,
              bool *unquoted)
{
    struct sbuf b = {0};
    sb_printf(&b, "E %zu %zu %lu %u %lld %u %zu\n", id, pos, j->seq, j->slot, j->total, j->jobs,
              j->nvals);
    for (size_t i = 0; i < j->nvals; i++) {
        size_t len = strlen(j->vals[i]);
        sb_printf(&b, "%zu\n", len);
        sb_add(&b, j->vals[i], len);
    }
    int status = -1;
    if (sb_write(&b, p->to) != 0 || rd_answer(p, &status, out) != 0) {
        if (errno == ENOMEM)
            return -1;
        fpc_say("perl exited while evaluating a Perl expression");
        errno = EIO;
        return -1;
    }
    if (status == 3) {
        fpc_say("a Perl expression died: %.*s",
                (int)(out->len && out->p[out->len - 1] == '\n' ? out->len - 1 : out->len),
                out->p ? out->p : "");
        errno = EIO;
        return -1;
    }
    *unquoted = status == 1;
    return status == 2 ? 1 : 0;
}

void perl_stop(struct perl *p)
{
    if (p == NULL)
        return;
    if (p->to >= 0)
        close(p->to);
    if (p->from >= 0)
        close(p->from);
    if (p->pid > 0) {
        int st;
        while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    free(p);
}
