/* batch.c: each job's inputs: -N, -n, -m, -X, --xargs, -s, --colsep,
   --trim, -r, --header, no COMMAND (contracts in batch.h). */
#include "batch.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "batchopt.h"
#include "fpc.h"
#include "header.h"

extern char **environ;

static int split_cols(const regex_t *re, const char *s, char ***out, size_t *n, size_t *cap);

/* GNU parallel's search for the longest command line (find_max and
   binary_find_max in Limits::Command), run against the limit instead of
   running `echo c c ...` through a shell: it stops within 1% of the limit,
   and its users' -m and -X lines are cut where it stops. */
static size_t gnu_search(size_t lower, size_t upper, size_t limit)
{
    while (!(lower == upper || lower + 1 == upper || (double)lower / (double)upper > 0.99)) {
        size_t middle = (upper - lower) / 2 + lower;
        if (middle <= limit)
            lower = middle;
        else
            upper = middle;
    }
    return lower;
}

/* The longest command line, as GNU parallel finds it: it runs every
   command as one argument of a shell, so one argument's limit
   (MAX_ARG_STRLEN, 32 pages: 131072 bytes with its NUL) caps what
   sysconf(_SC_ARG_MAX) leaves after the environment. */
size_t batch_max_line(void)
{
    long argmax = sysconf(_SC_ARG_MAX);
    size_t m = argmax > 0 ? (size_t)argmax : 131072;
    size_t env = 2048; /* headroom, as xargs keeps */
    for (char **e = environ; e != NULL && *e != NULL; e++)
        env += strlen(*e) + 1 + sizeof *e;
    m = m > env + 4096 ? m - env : 4096;
    size_t limit = m > 131071 ? 131071 : m;
    size_t len = 324;
    do
        len *= 16;
    while (len <= limit && len <= 100000000);
    return gnu_search(len / 16, len, limit);
}

/* GNU parallel keeps 3000 bytes for its wrapping and halves the rest (for
   hex-encoding): what -m and -X fill. */
static size_t usable_max_length(size_t real)
{
    return real > 3000 + 2 * 256 ? (real - 3000) / 2 : 256;
}

/* --header: takes the first value of each input group as its column
   names (split as its inputs will be: --colsep, else at tabs, as GNU
   parallel does) and rewrites {name} into {N}. 0, or -1 after a message. */
static int header_apply(struct app *a)
{
    struct batch *b = &a->batch;
    size_t id = 1;
    for (size_t g = 0; g < a->in.ngroups; g++) {
        char *line;
        int r = inputs_take_first(&a->in, g, &line);
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            line[len - 1] = '\0';
        char **names = NULL;
        size_t n = 0, cap = 0;
        int k;
        if (b->re_ok) {
            k = split_cols(&b->re, line, &names, &n, &cap);
        } else {
            regex_t tab;
            k = regcomp(&tab, "\t", REG_EXTENDED) == 0 ? 0 : -1;
            if (k == 0) {
                k = split_cols(&tab, line, &names, &n, &cap);
                regfree(&tab);
            }
        }
        free(line);
        for (size_t i = 0; k == 0 && i < n; i++)
            k = header_rewrite(b->cmd, b->ncmd, names[i], id++);
        /* kept for --results' directory names */
        char **all = k == 0 && n > 0 ? realloc(b->hnames, (b->nhnames + n) * sizeof *all) : NULL;
        if (all != NULL) {
            memcpy(all + b->nhnames, names, n * sizeof *names);
            b->hnames = all;
            b->nhnames += n;
            free(names);
        } else {
            inputs_vals_free(names, n);
            if (n > 0)
                k = -1;
        }
        if (k != 0) {
            fpc_say("out of memory");
            return -1;
        }
    }
    a->o.cmd = b->cmd;
    return 0;
}

/* The command, owned, as given (to be rewritten). 0, or -1 (ENOMEM). */
static int cmd_copy(struct batch *b, struct opts *o)
{
    b->cmd = calloc(o->ncmd ? o->ncmd : 1, sizeof *b->cmd);
    if (b->cmd == NULL)
        return -1;
    if (o->ncmd == 0) {
        /* No COMMAND: each input (its values joined) is a shell command. */
        b->ncmd = 1;
        if ((b->cmd[0] = strdup("{}")) == NULL)
            return -1;
    } else {
        for (; b->ncmd < o->ncmd; b->ncmd++)
            if ((b->cmd[b->ncmd] = strdup(o->cmd[b->ncmd])) == NULL)
                return -1;
    }
    o->cmd = b->cmd;
    o->ncmd = b->ncmd;
    return 0;
}

int batch_setup(struct app *a)
{
    struct batch *b = &a->batch;
    struct opts *o = &a->o;
    if (o->colsep != NULL) {
        if (batchopt_colsep(&b->re, o->colsep) != 0)
            return -1;
        b->re_ok = true;
        if (!o->trim_given) /* as GNU parallel: --colsep trims columns */
            o->trim_l = o->trim_r = true;
    }
    if ((o->no_command || o->header != NULL) && cmd_copy(b, o) != 0) {
        fpc_say("out of memory");
        return -1;
    }
    /* GNU parallel repeats a word holding {} per value with -X, and with
       -N too (`-N2 echo x{}` gives "xa xb"). */
    b->context = o->multi == 'X' || o->replace_args;
    if (o->no_command)
        o->shell = true; /* values unquoted: see tmpl_ctx.raw */
    if (o->skip_first_line) { /* --shebang: the script's #! line */
        char *line;
        int r = inputs_take_first(&a->in, 0, &line);
        if (r < 0)
            return -1;
        if (r > 0)
            free(line);
    }
    /* --header 0: no header line (GNU parallel then names the columns
       after -a's files, which forkpool does not). */
    if (o->header != NULL && strcmp(o->header, "0") != 0 && header_apply(a) != 0)
        return -1;
    if (o->max_args == 0) {
        b->none = true;
        b->max_args = 1;
    } else if (o->max_args > 0) {
        b->max_args = (size_t)o->max_args;
    }
    size_t real = batch_max_line();
    b->max_len = usable_max_length(real);
    if (o->show_limits) {
        printf("Maximal size of command: %zu\n"
               "Maximal usable size of command: %zu\n"
               "\n"
               "Execution will continue now, and it will try to read its input\n"
               "and run commands; if this is not what you wanted to happen, please\n"
               "press CTRL-D or CTRL-C\n",
               real, b->max_len);
        if (fflush(stdout) != 0) {
            fpc_say("cannot write to standard output: %s", strerror(errno));
            return -1;
        }
    }
    if (o->max_chars != 0) {
        if (o->max_chars <= b->max_len)
            b->max_len = o->max_chars;
        else
            fpc_say("warning: value for option -s should be < %zu; using %zu", b->max_len,
                    b->max_len);
    }
    return 0;
}

void batch_total(const struct app *a, bool *known, unsigned long *total)
{
    const struct opts *o = &a->o;
    if (!*known)
        return;
    if (o->multi || o->no_empty || o->eof_str != NULL) {
        *known = false;
        return;
    }
    size_t per = a->batch.max_args ? a->batch.max_args : 1;
    *total = *total / per + (*total % per != 0);
}

/* Whether every value is empty or white space (-r skips such an input). */
static bool all_blank(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (const char *p = v[i]; *p; p++)
            if (!isspace((unsigned char)*p))
                return false;
    return true;
}

/* Trims white space around s in place (--trim). */
static void trim(char *s, bool l, bool r)
{
    size_t n = strlen(s);
    if (r)
        while (n > 0 && isspace((unsigned char)s[n - 1]))
            s[--n] = '\0';
    size_t k = 0;
    if (l)
        while (k < n && isspace((unsigned char)s[k]))
            k++;
    memmove(s, s + k, n - k + 1);
}

/* Appends the columns of s (split at --colsep, trailing empty columns
   dropped as Perl's split does, at least one kept) to *out. 0, or -1
   (ENOMEM). */
static int split_cols(const regex_t *re, const char *s, char ***out, size_t *n, size_t *cap)
{
    size_t first = *n;
    const char *p = s;
    for (;;) {
        regmatch_t m;
        size_t take;
        const char *next;
        if (*p != '\0' && regexec(re, p, 1, &m, p == s ? 0 : REG_NOTBOL) == 0 &&
            m.rm_eo > m.rm_so) {
            take = (size_t)m.rm_so;
            next = p + m.rm_eo;
        } else {
            take = strlen(p);
            next = NULL;
        }
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 8;
            char **v = realloc(*out, c * sizeof *v);
            if (v == NULL)
                return -1;
            *out = v;
            *cap = c;
        }
        char *col = strndup(p, take);
        if (col == NULL)
            return -1;
        (*out)[(*n)++] = col;
        if (next == NULL)
            break;
        p = next;
    }
    while (*n > first + 1 && (*out)[*n - 1][0] == '\0')
        free((*out)[--*n]);
    return 0;
}

/* Queues one input. 0, or -1 (ENOMEM; rec's values are freed). */
static int queue_push(struct batch *b, struct batch_rec rec)
{
    if (b->head > 0 && b->head + b->n == b->cap) {
        memmove(b->q, b->q + b->head, b->n * sizeof *b->q);
        b->head = 0;
    }
    if (b->n == b->cap) {
        size_t c = b->cap ? b->cap * 2 : 16;
        struct batch_rec *q = realloc(b->q, c * sizeof *q);
        if (q == NULL) {
            inputs_vals_free(rec.v, rec.n);
            return -1;
        }
        b->q = q;
        b->cap = c;
    }
    b->q[b->head + b->n++] = rec;
    b->qlen += rec.len;
    b->qvals += rec.n;
    return 0;
}

/* Reads one combination and queues it as an input (unless -r skips it).
   1, 0 (the stream must be read first), -1 (no more: b->eof), -2 (errno). */
static int pull(struct app *a)
{
    struct batch *b = &a->batch;
    const struct opts *o = &a->o;
    char **v;
    int r = inputs_next(&a->in, &v);
    if (r == -1)
        b->eof = true;
    if (r != 1)
        return r;
    struct batch_rec rec = {v, a->in.ngroups, 0};
    if (o->no_empty && all_blank(rec.v, rec.n)) {
        inputs_vals_free(rec.v, rec.n);
        return 1;
    }
    if (b->re_ok) {
        char **cols = NULL;
        size_t n = 0, cap = 0;
        for (size_t g = 0; g < rec.n; g++)
            if (split_cols(&b->re, rec.v[g], &cols, &n, &cap) != 0) {
                inputs_vals_free(cols, n);
                inputs_vals_free(rec.v, rec.n);
                errno = ENOMEM;
                return -2;
            }
        inputs_vals_free(rec.v, rec.n);
        rec.v = cols;
        rec.n = n;
    }
    for (size_t i = 0; i < rec.n; i++) {
        if (o->trim_l || o->trim_r)
            trim(rec.v[i], o->trim_l, o->trim_r);
        rec.len += strlen(rec.v[i]) + (i > 0);
    }
    if (queue_push(b, rec) != 0) {
        errno = ENOMEM;
        return -2;
    }
    return 1;
}

/* The length of a command line holding k inputs with nv values in all,
   whose lengths (values joined by spaces) sum to len. -X repeats a word
   per value, so there the values count, not the inputs. */
static size_t cmd_len(const struct batch *b, size_t k, size_t nv, size_t len)
{
    if (b->context)
        return b->cost.fixed + nv * b->cost.per_arg + (len - (nv - k)) * b->cost.per_char -
               b->cost.less;
    return b->cost.fixed + k * b->cost.per_arg + len * b->cost.per_char - b->cost.less;
}

/* Hands the first k queued inputs over as one job's values. 1, or -2. */
static int emit(struct batch *b, size_t k, char ***vals, size_t *nvals)
{
    if (k == 1 && !b->none) { /* the common case: the input's own array */
        struct batch_rec *r = &b->q[b->head];
        *vals = r->v;
        *nvals = r->n;
        b->qlen -= r->len;
        b->qvals -= r->n;
        b->head = --b->n == 0 ? 0 : b->head + 1;
        return 1;
    }
    size_t total = 0;
    for (size_t i = 0; i < k; i++)
        total += b->none ? 0 : b->q[b->head + i].n;
    char **out = malloc((total ? total : 1) * sizeof *out);
    if (out == NULL)
        return -2;
    size_t n = 0;
    for (size_t i = 0; i < k; i++) {
        struct batch_rec *r = &b->q[b->head + i];
        if (b->none) {
            inputs_vals_free(r->v, r->n);
        } else {
            memcpy(out + n, r->v, r->n * sizeof *out);
            n += r->n;
            free(r->v);
        }
        b->qlen -= r->len;
        b->qvals -= r->n;
    }
    b->head += k;
    b->n -= k;
    if (b->n == 0)
        b->head = 0;
    *vals = out;
    *nvals = n;
    return 1;
}

static int next_job(struct app *a, char ***vals, size_t *nvals)
{
    struct batch *b = &a->batch;
    const char multi = a->o.multi;
    if (!b->cost_ok) {
        tmpl_cost(&a->tmpl, multi == 'X', &b->cost);
        b->cost_ok = true;
    }
    for (;;) {
        size_t most = b->max_args ? b->max_args : (multi ? (size_t)-1 : 1);
        if (b->n >= most && (!multi || b->n == most))
            return emit(b, most, vals, nvals);
        if (multi && b->n > 0 && cmd_len(b, b->n, b->qvals, b->qlen) >= b->max_len) {
            if (b->n > 1) /* the last one read does not fit: it waits */
                return emit(b, b->n - 1, vals, nvals);
            const struct batch_rec *r = &b->q[b->head];
            fpc_say("command line too long (%zu >= %zu) at input: %.50s%s",
                    cmd_len(b, 1, r->n, r->len), b->max_len, r->n ? r->v[0] : "",
                    r->len > 50 ? "..." : "");
            return -3;
        }
        if (b->eof) {
            if (b->n == 0)
                return -1;
            /* -m and -X spread the last inputs over the job slots, once,
               as GNU parallel does at the end of its input. */
            if ((multi == 'm' || multi == 'X') && !b->spread_done && a->jobs > 1) {
                b->spread_done = true;
                if (b->n > 1 && (b->max_args == 0 || b->max_args > (b->n + a->jobs - 1) / a->jobs)) {
                    b->max_args = (b->n + a->jobs - 1) / a->jobs;
                    continue;
                }
            }
            return emit(b, b->n < most ? b->n : most, vals, nvals);
        }
        int r = pull(a);
        if (r == 0 || r < -1)
            return r;
    }
}

size_t batch_per_input(const struct batch *b, size_t nvals)
{
    (void)nvals;
    return b->context ? 1 : 0; /* GNU parallel repeats the word per value */
}

void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        inputs_vals_free(b->q[b->head + i].v, b->q[b->head + i].n);
    free(b->q);
    if (b->re_ok)
        regfree(&b->re);
    for (size_t i = 0; b->cmd != NULL && i < b->ncmd; i++)
        free(b->cmd[i]);
    free(b->cmd);
    for (size_t i = 0; i < b->nhnames; i++)
        free(b->hnames[i]);
    free(b->hnames);
    for (size_t i = b->head_all; i < b->nall; i++)
        inputs_vals_free(b->all[i].vals, b->all[i].nvals);
    free(b->all);
    *b = (struct batch){0};
}

/* Every job's values read first (--shuf, or b->collect): then the number
   of jobs is known; with --shuf they are served in a random order (the
   job numbers {#} still count up as jobs start, as GNU parallel's do). 1,
   0 (input must be read first: call again), or what next_job returns. */
static int collect_all(struct app *a)
{
    struct batch *b = &a->batch;
    for (;;) {
        char **v;
        size_t n;
        int r = next_job(a, &v, &n);
        if (r == -1)
            break;
        if (r != 1)
            return r;
        if (b->nall == b->allcap) {
            size_t cap = b->allcap ? b->allcap * 2 : 64;
            struct batch_job *t = realloc(b->all, cap * sizeof *t);
            if (t == NULL) {
                inputs_vals_free(v, n);
                return -2;
            }
            b->all = t;
            b->allcap = cap;
        }
        b->all[b->nall++] = (struct batch_job){v, n};
    }
    unsigned seed = (unsigned)getpid() ^ (unsigned)(fpc_mono_now() * 1e6);
    for (size_t i = b->nall; a->o.shuf && i > 1; i--) {
        size_t k = (size_t)rand_r(&seed) % i;
        struct batch_job t = b->all[i - 1];
        b->all[i - 1] = b->all[k];
        b->all[k] = t;
    }
    b->all_ready = true;
    a->total = b->nall;
    a->total_known = true;
    return 1;
}

int batch_next(struct app *a, char ***vals, size_t *nvals)
{
    struct batch *b = &a->batch;
    if (!a->o.shuf && !b->collect)
        return next_job(a, vals, nvals);
    if (!b->all_ready) {
        int r = collect_all(a);
        if (r != 1)
            return r;
    }
    if (b->head_all == b->nall)
        return -1;
    *vals = b->all[b->head_all].vals;
    *nvals = b->all[b->head_all].nvals;
    b->head_all++;
    return 1;
}
