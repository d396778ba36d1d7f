/* control.c: --resume, --resume-failed, --retry-failed, --delay, --memfree,
   --load, --noswap, --timeout N% and --halt ...=N% (issue #12 item 6; contracts in
   control.h). */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fpc.h"
#include "machine.h"

/* The largest job number a joblog may name: its done-map is that many
   bytes. */
enum { MAX_LOG_SEQ = 100000000 };

struct ctl {
    /* from the joblog: done[seq] for seq < ndone_map */
    unsigned char *done;
    unsigned long ndone_map;
    bool log_exists;
    /* --retry-failed: the joblog's commands as the one input group, and
       the command `SHELL -c {}` */
    char **cmds;
    unsigned long ncmds;
    char *argv3[3];
    char opt_c[3], brace[3], binsh[8];
    /* --delay, --memfree, --load */
    double delay, last_start;
    bool started_any, held;
    double memfree;  /* bytes; 0: none */
    double load;     /* 0: none */
    /* --noswap: pages swapped in and out at the last sample, its time */
    bool swapping;
    unsigned long long swin, swout;
    double swap_t;
    /* --timeout N%: run times of the jobs that succeeded, as two heaps
       (lo: max-heap of the smaller half; hi: min-heap of the larger) */
    double *lo, *hi;
    size_t nlo, nhi, caplo, caphi;
    unsigned long *cancelled; /* seqs we cancelled for --timeout N% */
    size_t ncancelled, capcancelled;
};

/* Rounds v up to a whole number (without libm). */
static double round_up(double v)
{
    double t = (double)(long long)v;
    return t < v ? t + 1 : t;
}

/* Parses SECS with an optional s/m/h/d suffix. 0, or -1. */
static int parse_secs(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0 || *s == '-' || *s == '+')
        return -1;
    static const char units[] = "smhd";
    static const double mult[] = {1, 60, 3600, 86400};
    if (*end != '\0') {
        const char *u = strchr(units, *end);
        if (u == NULL || end[1] != '\0')
            return -1;
        v *= mult[u - units];
    }
    *out = v;
    return 0;
}

/* Parses SIZE with an optional K M G T P (powers of 1024) or k m g t p
   (powers of 1000) suffix, as GNU parallel. 0, or -1. */
static int parse_size(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0 || *s == '-' || *s == '+')
        return -1;
    if (*end != '\0') {
        static const char big[] = "KMGTP", small[] = "kmgtp";
        const char *u = strchr(big, *end);
        double base = 1024;
        if (u == NULL) {
            u = strchr(small, *end);
            base = 1000;
        }
        if (u == NULL || end[1] != '\0')
            return -1;
        for (const char *k = base == 1024 ? big : small; k <= u; k++)
            v *= base;
    }
    *out = v;
    return 0;
}

/* Parses --load's MAX like -j: N (fractional), N% of the CPUs, +N or -N
   CPUs; 0 is 0.01 (GNU parallel). 0, or -1. */
static int parse_load(const char *s, long cpus, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s + (*s == '+' || *s == '-'), &end);
    if (end == s + (*s == '+' || *s == '-') || errno != 0 || !isfinite(v) || v < 0)
        return -1;
    if (*s == '+' || *s == '-') {
        if (*end != '\0')
            return -1;
        v = *s == '+' ? (double)cpus + v : (double)cpus - v;
    } else if (strcmp(end, "%") == 0) {
        v = (double)cpus * v / 100.0;
    } else if (*end != '\0') {
        return -1;
    }
    *out = v <= 0 ? 0.01 : v;
    return 0;
}

/* The 1-minute load average (/proc/loadavg). 0, or -1. */
static int read_load(double *load)
{
    FILE *f = fopen("/proc/loadavg", "re");
    if (f == NULL)
        return -1;
    char line[128];
    int r = -1;
    if (fgets(line, sizeof line, f) != NULL) {
        char *end;
        errno = 0;
        double v = strtod(line, &end);
        if (end != line && errno == 0 && (*end == ' ' || *end == '\n')) {
            *load = v;
            r = 0;
        }
    }
    fclose(f);
    return r;
}

/* The number after `key` (a whole word at the start of a line) in the
   /proc file at path: "MemAvailable:  123 kB", "pswpin 45". 0, or -1. */
static int proc_ulong(const char *path, const char *key, unsigned long long *v)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char line[256];
    size_t klen = strlen(key);
    int r = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, klen) != 0 || (line[klen] != ' ' && line[klen] != '\t'))
            continue;
        char *end;
        errno = 0;
        *v = strtoull(line + klen, &end, 10);
        if (errno == 0 && end != line + klen)
            r = 0;
        break;
    }
    fclose(f);
    return r;
}

/* MemAvailable from /proc/meminfo, in bytes. 0, or -1. */
static int read_memfree(double *bytes)
{
    unsigned long long kb;
    if (proc_ulong("/proc/meminfo", "MemAvailable:", &kb) != 0)
        return -1;
    *bytes = (double)kb * 1024.0;
    return 0;
}

/* Pages swapped in and out since boot (/proc/vmstat). 0, or -1. */
static int read_swap(unsigned long long *in, unsigned long long *out)
{
    return proc_ulong("/proc/vmstat", "pswpin", in) == 0 &&
                   proc_ulong("/proc/vmstat", "pswpout", out) == 0
               ? 0
               : -1;
}

/* --noswap: whether the machine swaps both in and out (GNU parallel's
   test), sampled at most once a second. */
static bool swapping(struct ctl *x)
{
    double now = fpc_mono_now();
    unsigned long long in, out;
    if (now - x->swap_t < 1.0 || read_swap(&in, &out) != 0)
        return x->swapping;
    x->swapping = in > x->swin && out > x->swout;
    x->swin = in;
    x->swout = out;
    x->swap_t = now;
    return x->swapping;
}

/* Reads the whole file at path into a new NUL-terminated buffer. NULL and
   errno (ENOENT: no file). */
static char *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL)
            break;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            buf = NULL;
            errno = e;
            break;
        }
        if (r == 0) {
            buf[n] = '\0';
            *len = n;
            break;
        }
        n += (size_t)r;
    }
    int e = errno;
    close(fd);
    errno = e;
    return buf;
}

/* Grows x->done (and x->cmds for --retry-failed) to hold seq. 0, or -1. */
static int done_grow(struct ctl *x, unsigned long seq, bool cmds)
{
    if (seq < x->ndone_map)
        return 0;
    unsigned long n = x->ndone_map ? x->ndone_map : 64;
    while (n <= seq)
        n *= 2;
    unsigned char *d = realloc(x->done, n);
    if (d == NULL)
        return -1;
    memset(d + x->ndone_map, 0, n - x->ndone_map);
    x->done = d;
    if (cmds) {
        char **c = realloc(x->cmds, n * sizeof *c);
        if (c == NULL)
            return -1;
        memset(c + x->ndone_map, 0, (n - x->ndone_map) * sizeof *c);
        x->cmds = c;
    }
    x->ndone_map = n;
    return 0;
}

/* Reads the joblog for --resume (every seq logged is done), --resume-failed
   and --retry-failed (a seq is done once a line logs it with Exitval 0 and
   Signal 0; --retry-failed keeps each seq's last Command). 0, or -1 after
   a message. */
static int read_joblog(struct app *a, struct ctl *x)
{
    size_t len;
    char *buf = read_all(a->o.joblog, &len);
    if (buf == NULL) {
        if (errno == ENOENT)
            return 0;
        fpc_say("cannot read joblog '%s': %s", a->o.joblog, strerror(errno));
        return -1;
    }
    x->log_exists = len > 0;
    bool retry = a->o.retry_failed, any_ok = a->o.resume && !a->o.resume_failed && !retry;
    int r = 0;
    unsigned long lineno = 0;
    for (char *line = buf; line < buf + len && r == 0;) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        char *end = nl ? nl : buf + len;
        *end = '\0';
        lineno++;
        char *f[9] = {line};
        int nf = 1;
        for (char *p = line; nf < 9 && (p = strchr(p, '\t')) != NULL; nf++) {
            *p++ = '\0';
            f[nf] = p;
        }
        char *e1, *e2, *e3;
        unsigned long seq = strtoul(f[0], &e1, 10);
        long exitval = nf >= 8 ? strtol(f[6], &e2, 10) : 0;
        long sig = nf >= 8 ? strtol(f[7], &e3, 10) : 0;
        if (lineno == 1 && strcmp(f[0], "Seq") == 0) {
            line = end + 1;
            continue;
        }
        if (nf < 9 || *f[0] < '0' || *f[0] > '9' || *e1 != '\0' || *e2 != '\0' ||
            *e3 != '\0' || seq == 0 || seq > MAX_LOG_SEQ) {
            fpc_say("joblog '%s', line %lu: not a joblog line (Seq Host Starttime JobRuntime "
                    "Send Receive Exitval Signal Command)", a->o.joblog, lineno);
            r = -1;
            break;
        }
        if (done_grow(x, seq, retry) != 0) {
            fpc_say("out of memory");
            r = -1;
            break;
        }
        if (any_ok || (exitval == 0 && sig == 0))
            x->done[seq] = 1;
        if (retry) {
            for (char *p = f[8]; p < end; p++)
                if (*p == '\0')
                    *p = '\n'; /* the joblog writes newlines as NUL */
            free(x->cmds[seq]);
            x->cmds[seq] = strdup(f[8]);
            if (x->cmds[seq] == NULL) {
                fpc_say("out of memory");
                r = -1;
            }
            if (seq > x->ncmds)
                x->ncmds = seq;
        }
        line = end + 1;
    }
    free(buf);
    return r;
}

/* --retry-failed: the command becomes `SHELL -c {}` and the one input group
   the joblog's commands, by seq (a seq the joblog lacks: "" and done). */
static int retry_setup(struct app *a, struct ctl *x)
{
    struct opts *o = &a->o;
    if (x->ncmds == 0) {
        fpc_say("--retry-failed: joblog '%s' lists no job", o->joblog);
        return -1;
    }
    for (unsigned long s = 1; s <= x->ncmds; s++)
        if (x->cmds[s] == NULL) {
            x->done[s] = 1;
            if ((x->cmds[s] = strdup("")) == NULL) {
                fpc_say("out of memory");
                return -1;
            }
        }
    struct source *src = calloc(1, sizeof *src);
    if (src == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    src->args = x->cmds + 1;
    src->nargs = x->ncmds;
    free(o->srcs);
    o->srcs = src;
    o->nsrcs = 1;
    o->nargfiles = 0;
    char *sh = getenv("SHELL");
    if (sh == NULL || sh[0] != '/') {
        memcpy(x->binsh, "/bin/sh", 8);
        sh = x->binsh;
    }
    memcpy(x->opt_c, "-c", 3);
    memcpy(x->brace, "{}", 3);
    x->argv3[0] = sh; /* borrowed, never written */
    x->argv3[1] = x->opt_c;
    x->argv3[2] = x->brace;
    o->cmd = x->argv3;
    o->ncmd = 3;
    o->shell = o->quote = false;
    o->no_command = false;
    return 0;
}

int ctl_prepare(struct app *a)
{
    struct opts *o = &a->o;
    struct ctl *x = calloc(1, sizeof *x);
    if (x == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    a->ctl = x;
    if (o->delay != NULL && parse_secs(o->delay, &x->delay) != 0) {
        fpc_say("bad value '%s' for --delay: expected seconds (e.g. 0.5, 2s, 1m)", o->delay);
        return -1;
    }
    if (o->memfree != NULL) {
        double now;
        if (parse_size(o->memfree, &x->memfree) != 0) {
            fpc_say("bad value '%s' for --memfree: expected a size (e.g. 500M, 2G)",
                    o->memfree);
            return -1;
        }
        if (read_memfree(&now) != 0) {
            fpc_say("--memfree: cannot read MemAvailable in /proc/meminfo");
            return -1;
        }
    }
    if (o->load != NULL) {
        double now;
        if (parse_load(o->load, mach_cpus(o), &x->load) != 0) {
            fpc_say("bad value '%s' for --load: expected N, N%%, +N or -N", o->load);
            return -1;
        }
        if (read_load(&now) != 0) {
            fpc_say("--load: cannot read /proc/loadavg");
            return -1;
        }
    }
    if (o->noswap) {
        if (read_swap(&x->swin, &x->swout) != 0) {
            fpc_say("--noswap: cannot read pswpin and pswpout in /proc/vmstat");
            return -1;
        }
        x->swap_t = fpc_mono_now();
    }
    bool resuming = o->resume || o->resume_failed || o->retry_failed;
    if (!resuming)
        return 0;
    const char *which = o->retry_failed ? "--retry-failed"
                        : o->resume_failed ? "--resume-failed"
                                           : "--resume";
    if (o->joblog == NULL || strcmp(o->joblog, "-") == 0) {
        fpc_say("%s needs --joblog FILE (the log of the earlier run)", which);
        return -1;
    }
    if (read_joblog(a, x) != 0)
        return -1;
    if (o->retry_failed) {
        if (!x->log_exists) {
            fpc_say("--retry-failed: no joblog '%s' to read", o->joblog);
            return -1;
        }
        return retry_setup(a, x);
    }
    return 0;
}

int ctl_init(struct app *a)
{
    if (a->o.halt_pct > 0 && !a->total_known) {
        if ((a->o.pipe || a->o.pipepart) && !a->o.tee) {
            fpc_say("--halt ...=N%%: needs the number of jobs, which --pipe does not know; "
                    "give a count instead of N%%");
            return -1;
        }
        a->batch.collect = true; /* every input read first, as GNU parallel does */
    }
    return 0;
}

void ctl_free(struct app *a)
{
    struct ctl *x = a->ctl;
    if (x == NULL)
        return;
    if (x->cmds != NULL)
        for (unsigned long s = 0; s < x->ndone_map; s++)
            free(x->cmds[s]);
    free(x->cmds);
    free(x->done);
    free(x->lo);
    free(x->hi);
    free(x->cancelled);
    free(x);
    a->ctl = NULL;
}

bool ctl_joblog_append(const struct app *a)
{
    return a->ctl != NULL && a->ctl->log_exists;
}

bool ctl_skip(const struct app *a, unsigned long seq)
{
    const struct ctl *x = a->ctl;
    return x != NULL && seq < x->ndone_map && x->done[seq];
}

bool ctl_may_start(struct app *a)
{
    struct ctl *x = a->ctl;
    if (x == NULL || a->o.dry_run)
        return true;
    x->held = false;
    if (x->delay > 0 && x->started_any && fpc_mono_now() - x->last_start < x->delay)
        x->held = true;
    double v;
    if (!x->held && x->memfree > 0 && read_memfree(&v) == 0 && v < x->memfree)
        x->held = true;
    if (!x->held && x->load > 0 && read_load(&v) == 0 && v >= x->load)
        x->held = true;
    if (!x->held && a->o.noswap && swapping(x))
        x->held = true;
    return !x->held;
}

bool ctl_held(const struct app *a)
{
    return a->ctl != NULL && a->ctl->held;
}

int ctl_display(const struct app *a, struct job *j)
{
    if (!a->o.retry_failed)
        return 0;
    char *d = strdup(j->vals[0]);
    if (d == NULL)
        return -1;
    free(j->display);
    j->display = d;
    return 0;
}

void ctl_started(struct app *a)
{
    struct ctl *x = a->ctl;
    if (x == NULL)
        return;
    x->last_start = fpc_mono_now();
    x->started_any = true;
}

/* The median run time of the jobs that succeeded; -1: none yet. */
static double median(const struct ctl *x)
{
    if (x->nlo == 0)
        return -1;
    return x->nlo > x->nhi ? x->lo[0] : (x->lo[0] + x->hi[0]) / 2;
}

/* The --timeout N% limit now, in seconds; -1: none. */
static double pct_limit(const struct app *a)
{
    double m = a->ctl != NULL && a->o.timeout_pct > 0 ? median(a->ctl) : -1;
    return m < 0 ? -1 : m * a->o.timeout_pct;
}

int ctl_wait_ms(const struct app *a)
{
    const struct ctl *x = a->ctl;
    if (x == NULL)
        return -1;
    double wait = -1, now = fpc_mono_now();
    if (x->held) {
        wait = 1.0; /* memory, load and swap: look again each second */
        double d = x->last_start + x->delay - now;
        if (x->delay > 0 && x->started_any && d < wait)
            wait = d < 0 ? 0 : d;
    }
    double lim = pct_limit(a);
    if (lim >= 0)
        for (const struct job *j = a->live; j != NULL; j = j->live_next)
            if (j->slot != 0 && j->task != NULL) {
                double d = j->start_mono + lim - now;
                if (d < 0)
                    d = 0;
                if (wait < 0 || d < wait)
                    wait = d;
            }
    if (wait < 0)
        return -1;
    return (int)round_up(wait * 1000.0);
}

/* Remembers that we cancelled job seq. */
static void cancelled_add(struct ctl *x, unsigned long seq)
{
    if (x->ncancelled == x->capcancelled) {
        size_t cap = x->capcancelled ? x->capcancelled * 2 : 8;
        unsigned long *c = realloc(x->cancelled, cap * sizeof *c);
        if (c == NULL)
            return; /* reported as cancelled, not timed out */
        x->cancelled = c;
        x->capcancelled = cap;
    }
    x->cancelled[x->ncancelled++] = seq;
}

void ctl_tick(struct app *a)
{
    double lim = pct_limit(a);
    if (lim < 0)
        return;
    double now = fpc_mono_now();
    for (struct job *j = a->live; j != NULL; j = j->live_next)
        if (j->slot != 0 && j->task != NULL && now - j->start_mono >= lim &&
            forkpool_cancel(j->task) == 0)
            cancelled_add(a->ctl, j->seq);
}

/* Pushes v on a heap of doubles: max-heap when sign is 1, min-heap when
   -1. 0, or -1 (ENOMEM). */
static int heap_add(double **h, size_t *n, size_t *cap, double v, double sign)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        double *nh = realloc(*h, c * sizeof *nh);
        if (nh == NULL)
            return -1;
        *h = nh;
        *cap = c;
    }
    size_t i = (*n)++;
    while (i > 0 && sign * (*h)[(i - 1) / 2] < sign * v) {
        (*h)[i] = (*h)[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    (*h)[i] = v;
    return 0;
}

static double heap_take(double *h, size_t *n, double sign)
{
    double top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && sign * h[c + 1] > sign * h[c])
            c++;
        if (sign * h[c] <= sign * last)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = last;
    return top;
}

/* Adds a run time to the running median (lost on out of memory). */
static void median_add(struct ctl *x, double v)
{
    if (x->nlo == 0 || v <= x->lo[0]) {
        if (heap_add(&x->lo, &x->nlo, &x->caplo, v, 1) != 0)
            return;
    } else if (heap_add(&x->hi, &x->nhi, &x->caphi, v, -1) != 0) {
        return;
    }
    if (x->nlo > x->nhi + 1) {
        double m = heap_take(x->lo, &x->nlo, 1);
        if (heap_add(&x->hi, &x->nhi, &x->caphi, m, -1) != 0)
            (void)heap_add(&x->lo, &x->nlo, &x->caplo, m, 1); /* room was there */
    } else if (x->nhi > x->nlo) {
        double m = heap_take(x->hi, &x->nhi, -1);
        if (heap_add(&x->lo, &x->nlo, &x->caplo, m, 1) != 0)
            (void)heap_add(&x->hi, &x->nhi, &x->caphi, m, -1);
    }
}

void ctl_completed(struct app *a, struct job *j)
{
    struct ctl *x = a->ctl;
    if (x == NULL || a->o.timeout_pct <= 0)
        return;
    if (j->ok) {
        median_add(x, j->runtime);
        return;
    }
    for (size_t i = 0; i < x->ncancelled; i++)
        if (x->cancelled[i] == j->seq) {
            x->cancelled[i] = x->cancelled[--x->ncancelled];
            if (j->kind == FORKPOOL_ERR_CANCELLED) {
                j->kind = FORKPOOL_ERR_TIMEOUT;
                double lim = pct_limit(a);
                a->o.timeout_s = lim >= 0 ? lim : j->runtime; /* for its message */
            }
            break;
        }
}

unsigned long ctl_halt_need(const struct app *a)
{
    if (a->o.halt_pct <= 0)
        return a->o.halt_n;
    double need = round_up((double)a->total * a->o.halt_pct - 1e-9);
    return need < 1 ? 1 : (unsigned long)need;
}

/* The percentage of n jobs that failed, rounded up (at most 100). */
static int pct_failed(const struct app *a, double n)
{
    double pct = round_up((double)a->nfail / (n > 0 ? n : 1) * 100.0 - 1e-9);
    return pct > 100 ? 100 : (int)pct;
}

int ctl_halt_status(const struct app *a)
{
    return pct_failed(a, a->total_known ? (double)a->total : 1);
}

int ctl_end_status(const struct app *a)
{
    return pct_failed(a, (double)a->ndone);
}
