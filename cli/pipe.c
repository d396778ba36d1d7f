/* pipe.c: --pipe and --pipepart (contracts in pipe.h). The splitting
   follows GNU parallel 20221122's spreadstdin and find_split_positions step
   by step, so that the same input gives the same blocks. */
#include "pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "fpc.h"
#include "regexp.h"
#include "sbuf.h"

/* argv[1] of the runners: what no user types as a command. */
static const char runner_mark[] = "--internal-pipepart-runner";
static const char fifo_mark[] = "--internal-fifo-runner"; /* --roundrobin */

enum { BLOCK_MAX = INT32_MAX, PART_READ = 131072 };

/* How a round's buffer is cut (GNU parallel's pass, pass_n and
   pass_n_line_records). */
enum cut_mode { CUT_LAST, CUT_N, CUT_LINES };

struct pipe_src {
    bool part;
    char *rs, *re, *rere; /* --recstart, --recend, recend+recstart */
    size_t rslen, relen, rerelen;
    bool rrs;
    bool regexp; /* --regexp: rx, not the strings, finds the cuts */
    struct rx rx_rs, rx_re; /* --regexp: recstart alone; recend alone (--rrs) */
    unsigned long hlines; /* --header: lines; 0: none */
    char *header;
    size_t hlen;
    unsigned long long block;

    /* --pipe: standard input, read in rounds of up to the next multiple of
       the block size (GNU parallel's read_block); each round is then cut. */
    int fd;
    char *buf;
    size_t len, cap, done; /* buf[done..len): not handed out yet */
    size_t need;           /* bytes still to read this round */
    long bt_ms;            /* --block-timeout; 0: none */
    double round_t0;       /* when the round began (--block-timeout) */
    bool ready;            /* the round is read (or EOF): cut it */
    bool timed;            /* the round was cut short by --block-timeout */
    bool garbage_done;     /* --regexp -N: the leading garbage was looked for */
    bool eof, finished, header_phase, cut_once, anything;
    enum cut_mode mode;
    unsigned long nrec; /* CUT_N: records (of -L lines) per job */
    unsigned long lines;
    char *scratch; /* a block with its header, or without separators */
    size_t scap;

    /* --pipepart: the -a files in turn. */
    const char *const *files;
    size_t nfiles, fi;
    int pfd;
    unsigned long long size, prev, cand, phlen;
    struct rx rx;
    char self[PATH_MAX];
};

/* ---- parsing ---- */

/* GNU parallel's printf escapes for --recstart/--recend: \0 \r \n \t \'
   \" \\; any other backslash stays. A new buffer of *n bytes. */
static char *decode_sep(const char *s, size_t *n)
{
    char *d = malloc(strlen(s) + 1);
    if (d == NULL)
        return NULL;
    size_t k = 0;
    for (; *s; s++) {
        const char *esc = s[0] == '\\' && s[1] ? strchr("0rnt'\"\\", s[1]) : NULL;
        if (esc == NULL) {
            d[k++] = *s;
            continue;
        }
        s++;
        switch (*s) {
        case '0': d[k++] = '\0'; break;
        case 'r': d[k++] = '\r'; break;
        case 'n': d[k++] = '\n'; break;
        case 't': d[k++] = '\t'; break;
        default: d[k++] = *s; break;
        }
    }
    *n = k;
    return d;
}

/* A size as GNU parallel's multiply_binary_prefix reads it: a number
   (fraction allowed) times k=1e3 K=2^10 m=1e6 M=2^20 g=1e9 G=2^30 t=1e12
   T=2^40 (Ki, ki... = binary). neg: a leading '-' is allowed. 0, or -1. */
static int parse_size(const char *s, bool neg, double *out)
{
    const char *p = s;
    bool minus = false;
    if (neg && *p == '-') {
        minus = true;
        p++;
    }
    if (*p < '0' || *p > '9')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (errno != 0 || end == p)
        return -1;
    if (*end != '\0') {
        static const char units[] = "kmgt";
        const char *u = strchr(units, *end | 0x20);
        if (u == NULL)
            return -1;
        int pow = (int)(u - units) + 1;
        bool binary = (*end >= 'A' && *end <= 'Z') || ((end[1] | 0x20) == 'i');
        if ((end[1] | 0x20) == 'i')
            end++;
        end++;
        if (*end != '\0')
            return -1;
        for (int i = 0; i < pow; i++)
            v *= binary ? 1024.0 : 1000.0;
    }
    if (v > 1e18)
        return -1;
    *out = minus ? -v : v;
    return 0;
}

/* -N, -L: a whole number of at least 1 (suffixes as --block). */
static int parse_count(const char *s, unsigned long *out)
{
    double v;
    if (parse_size(s, false, &v) != 0 || v < 1 || v > 1e9 || v != (double)(unsigned long)v)
        return -1;
    *out = (unsigned long)v;
    return 0;
}

/* ---- searching, as Perl's index and rindex ---- */

/* The first occurrence of s[0..sn) in b[0..n) at or after pos; -1. */
static long long find_at(const char *b, size_t n, const char *s, size_t sn, size_t pos)
{
    if (pos > n)
        pos = n;
    if (sn == 0)
        return (long long)pos;
    while (pos + sn <= n) {
        const char *c = memchr(b + pos, s[0], n - pos - sn + 1);
        if (c == NULL)
            return -1;
        pos = (size_t)(c - b);
        if (memcmp(c, s, sn) == 0)
            return (long long)pos;
        pos++;
    }
    return -1;
}

/* The last occurrence starting at or before pos (pos < 0 counts as 0). */
static long long rfind_at(const char *b, size_t n, const char *s, size_t sn, long long pos)
{
    if (sn > n)
        return -1;
    long long start = pos < 0 ? 0 : pos;
    if (start > (long long)(n - sn))
        start = (long long)(n - sn);
    if (sn == 0)
        return start;
    for (long long i = start; i >= 0; i--)
        if (b[i] == s[0] && memcmp(b + i, s, sn) == 0)
            return i;
    return -1;
}

/* GNU parallel's nindex: the k-th occurrence, searching from 1 on. */
static long long nfind(const char *b, size_t n, const char *s, size_t sn, unsigned long k)
{
    long long i = 0;
    for (unsigned long m = 0; m < k; m++) {
        i = find_at(b, n, s, sn, (size_t)i + 1);
        if (i == -1)
            break;
    }
    return i;
}

/* The cut after the last record end followed by a record start in b[0..n)
   (GNU parallel's pass: rindex, or the greedy regexp); -1: none. */
static long long last_split(struct pipe_src *p, const char *b, size_t n)
{
    if (!p->regexp) {
        long long i = rfind_at(b, n, p->rere, p->rerelen, (long long)n);
        return i < 0 ? -1 : i + (long long)p->relen;
    }
    long long last = -1;
    size_t start, split;
    for (size_t pos = 0; rx_find(&p->rx, b, n, pos, &start, &split); pos = start + 1)
        last = (long long)split;
    return last;
}

/* The cut after k records (GNU parallel's nindex, searching from 1 on);
   -1: fewer. */
/* --regexp -N, as GNU parallel's pass_n_regexps: input that does not
   start with a recstart begins with "garbage", up to the first place
   where a record ends and the next starts, which is a block of its own.
   Looked for once, in what the first cut has; the cut or -1. */
static long long garbage_cut(struct pipe_src *p, const char *b, size_t n)
{
    size_t so, eo, start, split;
    p->garbage_done = true;
    if (rx_span(&p->rx_rs, b, n, 0, &so, &eo) && so == 0)
        return -1;
    return rx_find(&p->rx, b, n, 0, &start, &split) && split > 0 ? (long long)split : -1;
}

static long long nth_split(struct pipe_src *p, const char *b, size_t n, unsigned long k)
{
    if (!p->regexp) {
        long long i = nfind(b, n, p->rere, p->rerelen, k);
        return i < 0 ? -1 : i + (long long)p->relen;
    }
    size_t start = 0, split = 0;
    for (unsigned long m = 0; m < k; m++)
        if (!rx_find(&p->rx, b, n, start + 1, &start, &split))
            return -1;
    return (long long)split;
}

/* ---- setup ---- */

/* This program's path, for the runners. 0, or -1 after a message. */
static int find_self(struct pipe_src *p)
{
    ssize_t n = readlink("/proc/self/exe", p->self, sizeof p->self - 1);
    if (n <= 0 || (size_t)n >= sizeof p->self - 1) {
        fpc_say("cannot find this program (/proc/self/exe), which runs the jobs' "
                "commands with --pipepart and --roundrobin: %s",
                n < 0 ? strerror(errno) : "name too long");
        return -1;
    }
    p->self[n] = '\0';
    return 0;
}

int pipe_init(struct pipe_src **out, const struct opts *o, unsigned jobs)
{
    *out = NULL;
    if (!o->pipe && !o->pipepart) {
        const char *which = o->pipe_l ? "-L" : o->block_arg ? "--block"
                          : o->recstart ? "--recstart" : o->recend ? "--recend"
                          : o->rrs ? "--rrs" : o->regexp ? "--regexp"
                          : o->cat ? "--cat" : o->tee ? "--tee"
                          : o->block_timeout_ms ? "--block-timeout" : NULL;
        if (which != NULL) {
            fpc_say("%s works only with --pipe%s", which,
                    which[1] == 'L' || strcmp(which, "--tee") == 0 ||
                            strcmp(which, "--block-timeout") == 0
                        ? ""
                        : " or --pipepart");
            return -1;
        }
        return 0;
    }
    if (o->pipepart && (o->nargfiles == 0 || o->nsrcs != o->nargfiles)) {
        fpc_say("--pipepart splits the files given with -a FILE (and takes no ::: or "
                ":::: inputs)");
        return -1;
    }
    if (o->tee && (o->pipepart || o->roundrobin || o->cat || o->header != NULL || o->rrs ||
                   o->max_tries != 1)) {
        fpc_say("--tee gives every job all of standard input, as it comes: it works with "
                "--pipe, without --pipepart (use --pipe --tee < FILE), --roundrobin, --cat, "
                "--header, --rrs and --retries");
        return -1;
    }
    for (size_t i = 0; o->tee && i < o->nsrcs; i++)
        if (o->srcs[i].path != NULL &&
            (strcmp(o->srcs[i].path, "-") == 0 || strcmp(o->srcs[i].path, "/dev/stdin") == 0)) {
            fpc_say("--tee gives standard input to the jobs: their inputs cannot come from it "
                    "(:::: - or -a -)");
            return -1;
        }
    if (o->tee && o->nsrcs == 0) {
        fpc_say("--tee runs one job for each input of ::: (or :::: or -a), each reading all of "
                "standard input: give it inputs");
        return -1;
    }
    if (!o->pipepart && !o->tee && o->nsrcs != 0) {
        fpc_say("--pipe sends standard input to the jobs: it takes no ::: or :::: or -a "
                "inputs (for a file use --pipepart -a FILE, or < FILE)");
        return -1;
    }
    if (o->fifo && (o->pipepart || o->roundrobin || o->cat || o->tee || o->max_tries != 1)) {
        fpc_say("--fifo gives each job its block through a FIFO it opens by name: it works "
                "with --pipe, without %s",
                o->pipepart ? "--pipepart (use --cat)" : o->roundrobin ? "--roundrobin"
                : o->cat ? "--cat" : o->tee ? "--tee" : "--retries (the block is not kept)");
        return -1;
    }
    if (o->roundrobin && o->cat) {
        fpc_say("--cat gives each job a file of its own input; with --roundrobin a job's "
                "input is not known when it starts");
        return -1;
    }
    if (o->roundrobin && (o->pipepart || o->max_tries != 1)) {
        fpc_say("--roundrobin works with --pipe, without --retries (a job's input, fed "
                "to it as it comes, is not kept)");
        return -1;
    }
    if (o->pipepart && o->block_timeout_ms) {
        fpc_say("--block-timeout works with --pipe (--pipepart reads a file, which never "
                "makes it wait)");
        return -1;
    }
    if (o->pipepart && (o->max_args >= 0 || o->pipe_l)) {
        fpc_say("--pipepart is incompatible with -N and -L (use --pipe)");
        return -1;
    }
    struct pipe_src *p = calloc(1, sizeof *p);
    if (p == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    *out = p;
    p->part = o->pipepart;
    p->fd = STDIN_FILENO;
    p->pfd = -1;
    p->rrs = o->rrs;
    const char *rs = o->recstart ? o->recstart : "";
    const char *re = o->recend ? o->recend : o->recstart ? "" : "\n";
    p->rs = decode_sep(rs, &p->rslen);
    p->re = decode_sep(re, &p->relen);
    p->rere = malloc(p->rslen + p->relen + 1);
    if (p->rs == NULL || p->re == NULL || p->rere == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    memcpy(p->rere, p->re, p->relen);
    memcpy(p->rere + p->relen, p->rs, p->rslen);
    p->rerelen = p->relen + p->rslen;
    p->regexp = o->regexp;
    if (p->regexp && rx_compile(&p->rx, re, rs, !o->pipepart) != 0)
        return -1;
    /* --rrs: GNU parallel's s/^recstart//s and s/recend$//s (no /m);
       -N: whether the input starts with a record (garbage_cut) */
    if (p->regexp && (p->rrs || o->recstart) && rx_compile(&p->rx_rs, "", rs, false) != 0)
        return -1;
    if (p->regexp && p->rrs && rx_compile(&p->rx_re, re, "", false) != 0)
        return -1;
    p->garbage_done = !p->regexp || o->recstart == NULL || o->recstart[0] == '\0';
    if (o->max_args == 0) {
        fpc_say("-N0 with --pipe: a job needs at least 1 record");
        return -1;
    }
    if (o->max_args > 0)
        p->nrec = (unsigned long)o->max_args;
    if (o->pipe_l && parse_count(o->pipe_l, &p->lines) != 0) {
        fpc_say("bad value '%s' for -L: expected a number of lines, at least 1", o->pipe_l);
        return -1;
    }
    if (o->header) {
        if (strcmp(o->header, ":") == 0)
            p->hlines = 1;
        else if (parse_count(o->header, &p->hlines) != 0 || strchr(o->header, '.') != NULL) {
            fpc_say("bad value '%s' for --header with --pipe: expected a number of lines "
                    "or ':' (a regular expression is not supported)",
                    o->header);
            return -1;
        }
    }
    double block = 1024.0 * 1024.0;
    bool given = o->block_arg != NULL;
    if (given && (parse_size(o->block_arg, o->pipepart, &block) != 0 || block == 0 ||
                  (block > 0 && block < 1))) {
        fpc_say("bad value '%s' for --block: expected a size in bytes (suffix k K m M g G "
                "t T)%s",
                o->block_arg, o->pipepart ? ", or -N for N parts per job slot" : "");
        return -1;
    }
    if (p->nrec) {
        p->mode = CUT_N;
        p->nrec *= p->lines ? p->lines : 1;
    } else if (p->lines)
        p->mode = CUT_LINES;
    if (!p->part) {
        if (block > BLOCK_MAX) {
            fpc_say("warning: --block above 2G-1 bytes: using 2G-1");
            block = BLOCK_MAX;
        }
        p->block = (unsigned long long)block;
        p->header_phase = p->hlines > 0;
        p->need = (size_t)p->block;
        p->bt_ms = o->block_timeout_ms;
        p->round_t0 = fpc_mono_now();
        return o->roundrobin || o->tee ? find_self(p) : 0;
    }
    /* --pipepart: every file must be there; without --block (or with a
       negative one), the size is split into 10 (or -N) parts per job slot. */
    p->files = o->argfiles;
    p->nfiles = o->nargfiles;
    unsigned long long total = 0;
    for (size_t i = 0; i < p->nfiles; i++) {
        struct stat st;
        if (stat(p->files[i], &st) != 0) {
            fpc_say("%s: %s", p->files[i], strerror(errno));
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            fpc_say("--pipepart only works on seekable files, not streams or pipes: %s",
                    p->files[i]);
            return -1;
        }
        total += (unsigned long long)st.st_size;
    }
    if (!given)
        block = -10;
    if (block < 0)
        p->block = 1 + (unsigned long long)((double)total / (jobs ? jobs : 1) / -block);
    else
        p->block = (unsigned long long)block;
    return find_self(p);
}

int pipe_fd(const struct pipe_src *p)
{
    return p->fd;
}

/* --block-timeout: the seconds left before the round is cut short. */
static double bt_left(const struct pipe_src *p)
{
    return p->round_t0 + (double)p->bt_ms / 1000.0 - fpc_mono_now();
}

int pipe_wait_ms(const struct pipe_src *p)
{
    if (p->part || p->bt_ms == 0 || p->ready || p->finished || p->header_phase)
        return -1;
    double left = bt_left(p);
    return left <= 0 ? 0 : left > 86400 ? 86400 * 1000 : (int)(left * 1000.0) + 1;
}

/* --block-timeout: whether the round is cut now, with what was read: its
   time is up and something came (else its time starts again). */
static bool bt_due(struct pipe_src *p)
{
    if (p->bt_ms == 0 || p->header_phase || bt_left(p) > 0)
        return false;
    if (p->len == p->done) {
        p->round_t0 = fpc_mono_now();
        return false;
    }
    return true;
}

void pipe_free(struct pipe_src *p)
{
    if (p == NULL)
        return;
    if (p->pfd >= 0)
        close(p->pfd);
    free(p->rs);
    free(p->re);
    free(p->rere);
    rx_free(&p->rx);
    rx_free(&p->rx_rs);
    rx_free(&p->rx_re);
    free(p->header);
    free(p->buf);
    free(p->scratch);
    free(p);
}

void pipe_blk_free(struct pipe_blk *b)
{
    free(b->owned);
    *b = (struct pipe_blk){0};
}

/* ---- --pipe ---- */

/* Starts the next round: read up to the next multiple of the block size. */
static void round_start(struct pipe_src *p)
{
    if (p->done > 0) {
        memmove(p->buf, p->buf + p->done, p->len - p->done);
        p->len -= p->done;
        p->buf[p->len] = '\0';
        p->done = 0;
    }
    p->need = (size_t)(p->block - p->len % p->block);
    p->ready = p->timed = false;
    p->round_t0 = fpc_mono_now();
    p->cut_once = false;
    p->anything = false;
}

/* --header: once the first hlines lines are in, they become the header. */
static int header_take(struct pipe_src *p)
{
    size_t pos = 0;
    for (unsigned long k = 0; k < p->hlines; k++) {
        const char *nl = memchr(p->buf + pos, '\n', p->len - pos);
        if (nl == NULL)
            return 0;
        pos = (size_t)(nl - p->buf) + 1;
    }
    p->header = malloc(pos ? pos : 1); /* pos >= 1: hlines >= 1 */
    if (p->header == NULL)
        return -1;
    memcpy(p->header, p->buf, pos);
    p->hlen = pos;
    p->done = pos;
    p->header_phase = false;
    round_start(p);
    return 0;
}

int pipe_fill(struct pipe_src *p)
{
    if (p->part || p->ready || p->finished)
        return 0;
    size_t want = p->header_phase ? (size_t)p->block : p->need;
    if (p->cap - p->len < want + 1) { /* + a NUL after the data (below) */
        size_t cap = p->len + want + 1;
        char *nb = realloc(p->buf, cap);
        if (nb == NULL)
            return -1;
        p->buf = nb;
        p->cap = cap;
    }
    ssize_t n = read(p->fd, p->buf + p->len, want);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    if (n == 0) {
        p->eof = p->ready = true;
        p->header_phase = false;
        return 0;
    }
    p->len += (size_t)n;
    p->buf[p->len] = '\0'; /* regexec (--regexp) is given a C string too */
    if (p->header_phase)
        return header_take(p);
    p->need -= (size_t)n;
    if (p->need == 0)
        p->ready = true;
    return 0;
}

/* The next cut of this round: *cut bytes from buf + done; false when the
   round has no more. */
static bool round_cut(struct pipe_src *p, size_t *cut)
{
    const char *b = p->buf + p->done;
    size_t n = p->len - p->done;
    long long i;
    switch (p->mode) {
    case CUT_LAST:
        if (p->eof || p->cut_once)
            return false;
        p->cut_once = true;
        i = last_split(p, b, n);
        if (i < 0)
            return false;
        *cut = (size_t)i;
        return *cut > 0;
    case CUT_N:
        if (n == 0)
            return false;
        i = p->garbage_done ? -1 : garbage_cut(p, b, n);
        if (i < 0)
            i = nth_split(p, b, n, p->nrec);
        if (i < 0)
            return false;
        *cut = (size_t)i;
        if (*cut > n)
            *cut = n;
        return *cut > 0;
    case CUT_LINES: {
        if (p->cut_once)
            return false;
        p->cut_once = true;
        unsigned long nl = 0;
        for (const char *q = b; (q = memchr(q, '\n', n - (size_t)(q - b))) != NULL; q++)
            nl++;
        i = rfind_at(b, n, "\n", 1, (long long)n);
        while (nl % p->lines) {
            nl--;
            i = rfind_at(b, n, "\n", 1, i - 1);
        }
        *cut = (size_t)(i + 1);
        return *cut > 0;
    }
    }
    return false;
}

/* GNU parallel's remove_rec_sep: every recend+recstart, then a recstart at
   the start and a recend at the end (or before a final newline). */
static size_t rrs_apply(const struct pipe_src *p, char *d, size_t n)
{
    size_t k = 0;
    if (p->rerelen > 0) {
        for (size_t i = 0; i < n;) {
            if (i + p->rerelen <= n && memcmp(d + i, p->rere, p->rerelen) == 0) {
                i += p->rerelen;
                continue;
            }
            d[k++] = d[i++];
        }
        n = k;
    }
    if (p->rslen > 0 && n >= p->rslen && memcmp(d, p->rs, p->rslen) == 0) {
        memmove(d, d + p->rslen, n - p->rslen);
        n -= p->rslen;
    }
    if (p->relen > 0) {
        if (n >= p->relen && memcmp(d + n - p->relen, p->re, p->relen) == 0)
            n -= p->relen;
        else if (n >= p->relen + 1 && d[n - 1] == '\n' &&
                 memcmp(d + n - 1 - p->relen, p->re, p->relen) == 0) {
            d[n - 1 - p->relen] = '\n';
            n -= p->relen;
        }
    }
    return n;
}

/* --regexp's remove_rec_sep, as GNU parallel's: every recend+recstart
   match (/m), then a recstart match at the start and a recend match at
   the end or before a final newline (/s). d[n] is a NUL, and stays one
   (regexec reads a C string). */
static size_t rrs_regexp(struct pipe_src *p, char *d, size_t n)
{
    size_t k = 0, i = 0, so, eo;
    while (i < n && rx_span(&p->rx, d, n, i, &so, &eo)) {
        memmove(d + k, d + i, so - i); /* k <= i: what is left is unmoved */
        k += so - i;
        i = eo;
        if (eo == so) /* an empty match removes nothing: step over a byte */
            d[k++] = d[i++];
    }
    memmove(d + k, d + i, n - i + 1);
    n = k + (n - i);
    if (n > 0 && rx_span(&p->rx_rs, d, n, 0, &so, &eo) && so == 0 && eo > 0) {
        memmove(d, d + eo, n - eo + 1);
        n -= eo;
    }
    for (size_t pos = 0; pos < n && rx_span(&p->rx_re, d, n, pos, &so, &eo); pos = so + 1)
        if (eo > so && (eo == n || (eo == n - 1 && d[n - 1] == '\n'))) {
            memmove(d + so, d + eo, n - eo + 1);
            n -= eo - so;
            break;
        }
    return n;
}

/* Hands out buf[done..done+n) (with the header, or without separators). */
static int emit(struct pipe_src *p, struct pipe_blk *b, size_t n)
{
    *b = (struct pipe_blk){.data = p->buf + p->done, .len = n};
    bool head = p->hlen > 0 && !p->rrs;
    if (head || p->rrs) {
        size_t need = n + (head ? p->hlen : 0) + 1; /* + a NUL, for regexec */
        if (need > p->scap) {
            char *s = realloc(p->scratch, need);
            if (s == NULL)
                return -1;
            p->scratch = s;
            p->scap = need;
        }
        size_t k = 0;
        if (head) {
            memcpy(p->scratch, p->header, p->hlen);
            k = p->hlen;
        }
        memcpy(p->scratch + k, p->buf + p->done, n);
        k += n;
        p->scratch[k] = '\0';
        if (p->rrs)
            k = p->regexp ? rrs_regexp(p, p->scratch, k) : rrs_apply(p, p->scratch, k);
        b->data = p->scratch;
        b->len = k;
    }
    p->done += n;
    p->anything = true;
    return 1;
}

static int stdin_next(struct pipe_src *p, struct pipe_blk *b)
{
    for (;;) {
        if (p->finished)
            return -1;
        if (!p->ready && !bt_due(p))
            return 0;
        if (!p->ready)
            p->ready = p->timed = true;
        size_t cut;
        if (round_cut(p, &cut))
            return emit(p, b, cut) == 1 ? 1 : -2;
        if (p->eof) {
            p->finished = true;
            if (p->len > p->done)
                return emit(p, b, p->len - p->done) == 1 ? 1 : -2;
            return -1;
        }
        if (!p->anything && !p->timed && p->block < BLOCK_MAX) {
            /* A record longer than the block: grow it, as GNU parallel
               (not when the round was cut short: GNU's neither). */
            double v = (double)p->block * 1.3 + 1;
            unsigned long long nb = (unsigned long long)v;
            if ((double)nb < v)
                nb++;
            if (nb > BLOCK_MAX)
                nb = BLOCK_MAX;
            fpc_say("warning: a record was longer than %llu bytes: --block is now %llu",
                    p->block, nb);
            p->block = nb;
        }
        round_start(p);
    }
}

/* ---- --pipepart ---- */

/* The first position at or after `from` where s[0..sn) (sn >= 1) starts in
   the open file (read in PART_READ pieces); -1 (none) or -2 (error). */
static long long part_find(const struct pipe_src *p, unsigned long long from, const char *s,
                           size_t sn)
{
    size_t keep = sn - 1; /* a match may straddle two pieces */
    char *buf = malloc(PART_READ + keep);
    if (buf == NULL)
        return -2;
    size_t have = 0;
    unsigned long long base = from; /* file offset of buf[0] */
    long long r = -1;
    for (;;) {
        ssize_t n = pread(p->pfd, buf + have, PART_READ, (off_t)(base + have));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -2;
            break;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        long long i = find_at(buf, have, s, sn, 0);
        if (i >= 0) {
            r = (long long)base + i;
            break;
        }
        size_t drop = have > keep ? have - keep : 0;
        memmove(buf, buf + drop, have - drop);
        have -= drop;
        base += drop;
    }
    free(buf);
    return r;
}

/* --regexp: a cut at or after `from` in the open file, as GNU parallel's
   find_split_positions finds it: the file is read from there in PART_READ
   pieces until the separators match, and the cut is their last match in
   what was read (its pattern is greedy), not the first. -1 (none) or -2
   (error). */
static long long part_find_rx(struct pipe_src *p, unsigned long long from)
{
    char *buf = NULL;
    size_t have = 0;
    long long r = -1;
    for (;;) {
        char *nb = realloc(buf, have + PART_READ + 1); /* + a NUL, as pipe_fill */
        if (nb == NULL) {
            r = -2;
            break;
        }
        buf = nb;
        ssize_t n = pread(p->pfd, buf + have, PART_READ, (off_t)(from + have));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -2;
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        long long split = last_split(p, buf, have);
        if (split >= 0) {
            r = (long long)from + split;
            break;
        }
    }
    free(buf);
    return r;
}

/* The first cut at or after `from` in the open file: after a record end
   followed by a record start. -1 (none) or -2 (error). */
static long long part_split(struct pipe_src *p, unsigned long long from)
{
    if (p->regexp)
        return part_find_rx(p, from);
    long long i = part_find(p, from, p->rere, p->rerelen);
    return i < 0 ? i : i + (long long)p->relen;
}

/* --header with --pipepart: the length of the file's first hlines lines
   (0 when it has fewer). 0, or -1. */
static int part_header(struct pipe_src *p)
{
    p->phlen = 0;
    unsigned long long pos = 0;
    for (unsigned long k = 0; k < p->hlines; k++) {
        long long i = part_find(p, pos, "\n", 1);
        if (i == -2)
            return -1;
        if (i < 0)
            return 0;
        pos = (unsigned long long)i + 1;
    }
    p->phlen = pos;
    return 0;
}

static int part_next(struct pipe_src *p, struct pipe_blk *b)
{
    for (;;) {
        if (p->pfd < 0) {
            if (p->fi >= p->nfiles)
                return -1;
            const char *f = p->files[p->fi];
            struct stat st;
            p->pfd = open(f, O_RDONLY | O_CLOEXEC);
            if (p->pfd < 0 || fstat(p->pfd, &st) != 0 || part_header(p) != 0) {
                fpc_say("%s: %s", f, strerror(errno));
                return -2;
            }
            p->size = (unsigned long long)st.st_size;
            p->prev = p->phlen;
            p->cand = p->block + p->phlen;
        }
        if (p->prev >= p->size) {
            close(p->pfd);
            p->pfd = -1;
            p->fi++;
            continue;
        }
        unsigned long long next = p->size;
        while (p->cand < p->size) {
            if (p->rerelen == 0 && !p->regexp) {
                next = p->cand;
                p->cand += p->block;
                break;
            }
            long long i = part_split(p, p->cand);
            if (i == -2) {
                fpc_say("%s: %s", p->files[p->fi], strerror(errno));
                return -2;
            }
            if (i < 0) {
                p->cand = p->size; /* none up to the end: the rest is one part */
                break;
            }
            next = (unsigned long long)i;
            p->cand = next + p->block;
            break;
        }
        *b = (struct pipe_blk){.path = p->files[p->fi],
                               .poff = {0, p->prev},
                               .plen = {p->phlen, next - p->prev}};
        p->prev = next;
        return 1;
    }
}

int pipe_next(struct pipe_src *p, struct pipe_blk *b)
{
    return p->part ? part_next(p, b) : stdin_next(p, b);
}

/* Puts head[0..nhead) (copied) before the words of the NULL-terminated
   *argv (taken over). 0, or -1 (ENOMEM; *argv unchanged). */
static int wrap_argv(const char *const *head, size_t nhead, char ***argv)
{
    size_t n = 0;
    while ((*argv)[n])
        n++;
    char **v = calloc(n + nhead + 1, sizeof *v);
    if (v == NULL)
        return -1;
    for (size_t k = 0; k < nhead; k++)
        if ((v[k] = strdup(head[k])) == NULL) {
            for (size_t m = 0; m < k; m++)
                free(v[m]);
            free(v);
            return -1;
        }
    memcpy(v + nhead, *argv, (n + 1) * sizeof *v);
    free(*argv); /* its strings now belong to v */
    *argv = v;
    return 0;
}

/* Copies the file's [off, off+len) to out (into a pipe with splice: no
   copy through user space; else pread/write). 0, or -1 and errno (EIO: the
   file got shorter). */
static int copy_range(int fd, int out, unsigned long long off, unsigned long long len)
{
    static char buf[65536];
    bool plain = false;
    while (len > 0) {
        size_t want = len > (1u << 20) ? (1u << 20) : (size_t)len;
        ssize_t n;
        if (!plain) {
            loff_t o = (loff_t)off;
            n = splice(fd, &o, out, NULL, want, SPLICE_F_MOVE);
            if (n < 0 && errno == EINVAL) {
                plain = true;
                continue;
            }
        } else {
            n = pread(fd, buf, want > sizeof buf ? sizeof buf : want, (off_t)off);
            if (n > 0 && fpc_write_all(out, buf, (size_t)n) != 0)
                return -1;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = EIO; /* the file got shorter */
        if (n <= 0)
            return -1;
        off += (unsigned long long)n;
        len -= (unsigned long long)n;
    }
    return 0;
}

int pipe_blk_save(const struct pipe_src *p, const struct pipe_blk *b, const char *dir,
                  char **path)
{
    struct sbuf s = {0};
    sb_adds(&s, dir);
    sb_adds(&s, "/parXXXXXX");
    char *name = sb_take(&s);
    if (name == NULL)
        return -1;
    int fd = mkostemp(name, O_CLOEXEC), r = fd < 0 ? -1 : 0;
    if (r == 0 && !p->part) {
        r = fpc_write_all(fd, b->data, b->len);
    } else if (r == 0) {
        int in = open(b->path, O_RDONLY | O_CLOEXEC);
        r = in >= 0 && copy_range(in, fd, b->poff[0], b->plen[0]) == 0 &&
                    copy_range(in, fd, b->poff[1], b->plen[1]) == 0
                ? 0
                : -1;
        int e = errno;
        if (in >= 0)
            close(in);
        errno = e;
    }
    if (fd >= 0 && close(fd) != 0)
        r = -1;
    if (r != 0) {
        int e = errno;
        if (fd >= 0)
            unlink(name);
        free(name);
        errno = e;
        return -1;
    }
    *path = name;
    return 0;
}

int pipe_job_prepare(const struct pipe_src *p, struct pipe_blk *b, bool retries,
                     char ***argv, const void **input, size_t *input_len)
{
    if (!p->part) {
        if (retries && b->owned == NULL) {
            b->owned = malloc(b->len ? b->len : 1);
            if (b->owned == NULL)
                return -1;
            memcpy(b->owned, b->data, b->len);
            b->data = b->owned;
        }
        *input = b->len ? b->data : "";
        *input_len = b->len;
        return 0;
    }
    /* self MARK PATH HOFF HLEN OFF LEN COMMAND... */
    char nums[4][24];
    snprintf(nums[0], sizeof nums[0], "%llu", b->poff[0]);
    snprintf(nums[1], sizeof nums[1], "%llu", b->plen[0]);
    snprintf(nums[2], sizeof nums[2], "%llu", b->poff[1]);
    snprintf(nums[3], sizeof nums[3], "%llu", b->plen[1]);
    const char *head[7] = {p->self, runner_mark, b->path, nums[0], nums[1], nums[2], nums[3]};
    return wrap_argv(head, 7, argv);
}

int pipe_fifo_argv(const struct pipe_src *p, const char *fifo, char ***argv)
{
    const char *head[3] = {p->self, fifo_mark, fifo}; /* self MARK FIFO COMMAND... */
    return wrap_argv(head, 3, argv);
}

/* ---- the --pipepart runner (a job's own process) ---- */

static unsigned long long runner_num(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        fpc_say("--pipepart runner: bad number '%s'", s);
        _exit(255);
    }
    return v;
}

/* --roundrobin's runner: the FIFO as the command's stdin; removing its
   name tells the tool the job holds it (robin.h). */
static void fifo_runner(int argc, char **argv)
{
    if (argc < 4) {
        fpc_say("--roundrobin runner: too few arguments (it is run by forkpool --roundrobin)");
        _exit(255);
    }
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0 || unlink(argv[2]) != 0 || dup2(fd, STDIN_FILENO) < 0) {
        fpc_say("--roundrobin: %s: %s", argv[2], strerror(errno));
        _exit(255);
    }
    if (fd != STDIN_FILENO)
        close(fd);
    execvp(argv[3], argv + 3);
    int e = errno;
    fpc_say("%s: %s", argv[3], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

void pipe_runner(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], fifo_mark) == 0)
        fifo_runner(argc, argv);
    if (argc < 2 || strcmp(argv[1], runner_mark) != 0)
        return;
    if (argc < 8) {
        fpc_say("--pipepart runner: too few arguments (it is run by forkpool --pipepart)");
        _exit(255);
    }
    const char *path = argv[2];
    unsigned long long hoff = runner_num(argv[3]), hlen = runner_num(argv[4]);
    unsigned long long off = runner_num(argv[5]), len = runner_num(argv[6]);
    char **cmd = argv + 7;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fpc_say("%s: %s", path, strerror(errno));
        _exit(255);
    }
    if (hlen == 0 && off + len == (unsigned long long)st.st_size) {
        /* The last part: the command reads the file itself. */
        if (lseek(fd, (off_t)off, SEEK_SET) < 0 || dup2(fd, STDIN_FILENO) < 0) {
            fpc_say("%s: %s", path, strerror(errno));
            _exit(255);
        }
    } else {
        int pp[2];
        if (pipe2(pp, O_CLOEXEC) != 0) {
            fpc_say("--pipepart: pipe: %s", strerror(errno));
            _exit(255);
        }
        (void)fcntl(pp[1], F_SETPIPE_SZ, 1 << 20); /* fewer wake-ups; best effort */
        pid_t pid = fork();
        if (pid < 0) {
            fpc_say("--pipepart: fork: %s", strerror(errno));
            _exit(255);
        }
        if (pid == 0) {
            /* The feeder: a command that stops reading ends it (SIGPIPE). */
            close(pp[0]);
            _exit(copy_range(fd, pp[1], hoff, hlen) == 0 &&
                          copy_range(fd, pp[1], off, len) == 0
                      ? 0
                      : 1);
        }
        if (dup2(pp[0], STDIN_FILENO) < 0) {
            fpc_say("--pipepart: dup2: %s", strerror(errno));
            _exit(255);
        }
        close(pp[0]);
        close(pp[1]);
    }
    execvp(cmd[0], cmd);
    int e = errno;
    fpc_say("%s: %s", cmd[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}
