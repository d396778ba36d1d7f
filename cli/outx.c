/* outx.c: --tagstring, -t, --results, --files, --tmpdir, -u,
   --line-buffer, --eta, --progress (issue #12 item 5; contracts in
   outx.h). */
#include "outx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fpc.h"
#include "output.h"
#include "sbuf.h"

/* --results DIR, NAME with replacement strings (expanded per job), FILE.csv
   or FILE.tsv */
enum res_kind { RES_NONE, RES_DIR, RES_TMPL, RES_CSV, RES_TSV };

struct outx {
    struct tmpl tagstr; /* --tagstring, parsed (nwords 0: none) */
    char *tagword;      /* its one word (tmpl borrows it) */
    enum res_kind res;
    struct tmpl resstr; /* RES_TMPL: the name, parsed */
    char *resword;      /* --results' word when it holds a '{' */
    int res_fd;         /* --results FILE.csv/.tsv; -1: none */
};

/* Whether s ends with suffix. */
static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Whether dir is a directory we can create files in. */
static bool writable_dir(const char *dir)
{
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0;
}

/* Appends one CSV/TSV field, quoted as GNU parallel (Text::CSV) quotes:
   in double quotes (each " doubled) when it holds the separator, a quote,
   a blank or a line break; empty as nothing. */
static void add_field(struct sbuf *b, const char *s, size_t n, char sep)
{
    bool q = false;
    for (size_t i = 0; i < n && !q; i++)
        q = s[i] == sep || s[i] == '"' || s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
            s[i] == '\r';
    if (!q) {
        sb_add(b, s, n);
        return;
    }
    sb_adds(b, "\"");
    for (size_t i = 0; i < n; i++)
        sb_add(b, s[i] == '"' ? "\"\"" : s + i, s[i] == '"' ? 2 : 1);
    sb_adds(b, "\"");
}

int outx_init(struct app *a)
{
    const struct opts *o = &a->o;
    struct outx *x = calloc(1, sizeof *x);
    if (x == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    x->res_fd = -1;
    a->outx = x;
    if (o->ungroup && (o->tag || o->tagstring || o->results || o->files)) {
        fpc_say("--ungroup: a job writes its output itself, so it cannot be used with "
                "%s", o->tag ? "--tag" : o->tagstring ? "--tagstring" : o->results ? "--results"
                                                                                  : "--files");
        return -1;
    }
    if (o->tmpdir != NULL && !writable_dir(o->tmpdir)) {
        fpc_say("--tmpdir: '%s' is not a directory we can write to", o->tmpdir);
        return -1;
    }
    if (o->tagstring != NULL) {
        /* \t, \033... decoded first, as GNU parallel does (a NUL ends it) */
        size_t n;
        if (opt_delim(o->tagstring, &x->tagword, &n) != 0 && errno == EINVAL)
            x->tagword = strdup(""); /* --tagstring '' */
        if (x->tagword == NULL || tmpl_parse_conf(&x->tagstr, &x->tagword, 1, &a->o.rpl) != 0) {
            fpc_say("--tagstring: %s", errno == EINVAL ? x->tagstr.err : "out of memory");
            return -1;
        }
        if (x->tagstr.unknown != NULL)
            fpc_say("warning: %.*s in --tagstring is not a replacement string: left as text",
                    (int)x->tagstr.unknown_len, x->tagstr.unknown);
    }
    if (o->results == NULL)
        return 0;
    if (o->results[0] == '\0') {
        fpc_say("--results: an empty name");
        return -1;
    }
    bool csv = ends_with(o->results, ".csv"), tsv = ends_with(o->results, ".tsv");
    if (strchr(o->results, '{') != NULL) {
        /* GNU parallel expands them per job (outx_started) */
        x->resword = strdup(o->results);
        if (x->resword == NULL ||
            tmpl_parse_conf(&x->resstr, &x->resword, 1, &a->o.rpl) != 0) {
            fpc_say("--results: %s", errno == EINVAL ? x->resstr.err : "out of memory");
            return -1;
        }
        if (x->resstr.has_repl || x->resstr.nexprs > 0) {
            if (csv || tsv) {
                fpc_say("--results '%s': a .csv or .tsv file's name cannot hold "
                        "replacement strings",
                        o->results);
                return -1;
            }
            x->res = RES_TMPL;
            return 0;
        }
    }
    if (!csv && !tsv) {
        x->res = RES_DIR;
        if (mkdir(o->results, 0777) != 0 && errno != EEXIST) {
            fpc_say("--results: cannot make '%s': %s", o->results, strerror(errno));
            return -1;
        }
        if (!writable_dir(o->results)) {
            fpc_say("--results: '%s' is not a directory we can write to", o->results);
            return -1;
        }
        return 0;
    }
    x->res = csv ? RES_CSV : RES_TSV;
    if (o->dry_run)
        return 0;
    x->res_fd = open(o->results, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (x->res_fd < 0) {
        fpc_say("--results: cannot open '%s': %s", o->results, strerror(errno));
        return -1;
    }
    char sep = csv ? ',' : '\t';
    static const char *const cols[] = {"Seq",     "Host",    "Starttime", "JobRuntime",
                                       "Send",    "Receive", "Exitval",   "Signal",
                                       "Command"};
    struct sbuf b = {0};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        sb_adds(&b, cols[i]);
        sb_add(&b, &sep, 1);
    }
    for (size_t g = 0; g < a->in.ngroups; g++) {
        sb_printf(&b, "V%zu", g + 1);
        sb_add(&b, &sep, 1);
    }
    sb_adds(&b, "Stdout");
    sb_add(&b, &sep, 1);
    sb_adds(&b, "Stderr\n");
    if (sb_write(&b, x->res_fd) != 0) {
        fpc_say("--results: cannot write '%s': %s", o->results, strerror(errno));
        return -1;
    }
    return 0;
}

void outx_free(struct app *a)
{
    struct outx *x = a->outx;
    if (x == NULL)
        return;
    if (x->tagword != NULL)
        tmpl_free(&x->tagstr);
    free(x->tagword);
    if (x->resword != NULL)
        tmpl_free(&x->resstr);
    free(x->resword);
    if (x->res_fd >= 0)
        close(x->res_fd);
    free(x);
    a->outx = NULL;
}

int outx_capture(const struct app *a)
{
    return a->o.ungroup ? 0 : FORKPOOL_CAPTURE_STDOUT | FORKPOOL_CAPTURE_STDERR;
}

size_t outx_tmpls(struct app *a, struct tmpl **out)
{
    size_t n = 0;
    if (a->outx != NULL && a->outx->tagword != NULL)
        out[n++] = &a->outx->tagstr;
    if (a->outx != NULL && a->outx->res == RES_TMPL)
        out[n++] = &a->outx->resstr;
    return n;
}

/* t (one word) expanded for j, as a new string in *out: the word itself
   without replacement strings; with them, every argument it makes, joined
   by spaces. 0, or -1 and errno (EIO: perl failed, told). */
static int expand(const struct app *a, const struct job *j, const struct tmpl *t, char **out)
{
    struct tmpl_ctx c = {.vals = j->vals,
                         .nvals = j->nvals,
                         .seq = j->seq,
                         .slot = j->slot,
                         .total_known = a->total_known,
                         .total = a->total,
                         .jobs = a->jobs,
                         .perl = a->perl};
    char **argv, *display;
    if (tmpl_build(t, &c, &argv, &display) < 0) /* 1: skip() there means nothing */
        return -1;
    free(display);
    struct sbuf s = {0};
    for (size_t i = 0; argv[i] != NULL && (i == 0 || t->has_repl); i++) {
        if (i > 0)
            sb_adds(&s, " ");
        sb_adds(&s, argv[i]);
    }
    tmpl_argv_free(argv);
    *out = sb_take(&s);
    return *out == NULL ? -1 : 0;
}

int outx_started(struct app *a, struct job *j)
{
    /* -t: on stderr; -v with -u: on stdout (grouped, out_print puts it
       before the job's output) */
    int fds[2], n = 0;
    if (j->silent)
        return 0;
    free(j->tag);
    free(j->resname);
    j->tag = j->resname = NULL;
    if (a->outx->tagword != NULL && expand(a, j, &a->outx->tagstr, &j->tag) != 0)
        return -1;
    if (a->outx->res == RES_TMPL && expand(a, j, &a->outx->resstr, &j->resname) != 0)
        return -1;
    if (a->o.print_cmd && a->o.ungroup)
        fds[n++] = STDOUT_FILENO;
    if (a->o.verbose)
        fds[n++] = STDERR_FILENO;
    if (n > 0 && out_bar_clear(a) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        struct sbuf b = {0};
        sb_adds(&b, j->display);
        sb_adds(&b, "\n");
        if (sb_write(&b, fds[i]) != 0)
            return -1;
    }
    return 0;
}

int outx_tag(struct app *a, const struct job *j, char **tag)
{
    *tag = NULL;
    struct sbuf t = {0};
    if (a->outx != NULL && a->outx->tagword != NULL) {
        sb_adds(&t, j->tag != NULL ? j->tag : ""); /* outx_started made it */
    } else if (a->o.tag) {
        for (size_t g = 0; g < j->nvals; g++) {
            if (g > 0)
                sb_adds(&t, " ");
            sb_adds(&t, j->vals[g]);
        }
    } else {
        return 0;
    }
    sb_adds(&t, "\t");
    *tag = sb_take(&t);
    return *tag == NULL ? -1 : 0;
}

/* Appends a value as one path component, as GNU parallel names them:
   '\' as "\\", '/' as "\_". */
static void add_component(struct sbuf *b, const char *v)
{
    for (; *v; v++)
        sb_adds(b, *v == '\\' ? "\\\\" : *v == '/' ? "\\_" : (char[2]){*v, '\0'});
}

/* Writes buf[0..n) to the new file path. 0, or -1 after a message. */
static int write_file(const char *path, const char *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0 || fpc_write_all(fd, buf, n) != 0 || close(fd) != 0) {
        fpc_say("--results: cannot write '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return 0;
}

/* mkdir -p for path[0..end): every directory from its second character on
   (the first may be the root). 0, or -1 after a message. */
static int make_dirs(char *path, size_t end)
{
    for (size_t i = 1; i <= end; i++) {
        if (i < end && path[i] != '/')
            continue;
        char c = path[i];
        path[i] = '\0';
        int r = mkdir(path, 0777);
        int e = errno;
        path[i] = c;
        if (r != 0 && e != EEXIST) {
            fpc_say("--results: cannot make '%.*s': %s", (int)i, path, strerror(e));
            return -1;
        }
    }
    return 0;
}

/* Writes j's stdout, stderr and number to prefix+suffix[0..2]; *name the
   stdout file's path (new string). 0, or -1 after a message. */
static int write_results(const struct job *j, const char *prefix, const char *const suffix[3],
                         char **name)
{
    size_t on = 0, en = 0;
    const char *out = forkpool_task_stdout(j->task, &on);
    const char *err = forkpool_task_stderr(j->task, &en);
    char seq[32];
    int sn = snprintf(seq, sizeof seq, "%lu", j->seq);
    const char *bufs[] = {out ? out : "", err ? err : "", seq};
    size_t lens[] = {out ? on : 0, err ? en : 0, (size_t)sn};
    *name = NULL;
    for (size_t i = 0; i < 3; i++) {
        struct sbuf f = {0};
        sb_adds(&f, prefix);
        sb_adds(&f, suffix[i]);
        char *path = sb_take(&f);
        if (path == NULL)
            fpc_say("out of memory");
        if (path == NULL || write_file(path, bufs[i], lens[i]) != 0) {
            free(path);
            free(*name);
            *name = NULL;
            return -1;
        }
        if (i == 0)
            *name = path;
        else
            free(path);
    }
    return 0;
}

/* --results DIR: DIR/1/V1/2/V2/.../{stdout,stderr,seq}; *name the stdout
   file's path (new string). 0, or -1 after a message. */
static int results_dir(struct app *a, const struct job *j, char **name)
{
    struct sbuf p = {0};
    sb_adds(&p, a->o.results);
    for (size_t g = 0; g < j->nvals; g++) {
        if (g < a->batch.nhnames) { /* --header: the column's name */
            sb_adds(&p, "/");
            add_component(&p, a->batch.hnames[g]);
        } else {
            sb_printf(&p, "/%zu", g + 1);
        }
        sb_adds(&p, "/");
        add_component(&p, j->vals[g]);
    }
    char *dir = sb_take(&p);
    if (dir == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    static const char *const names[] = {"/stdout", "/stderr", "/seq"};
    int r = make_dirs(dir, strlen(dir)) == 0 ? write_results(j, dir, names, name) : -1;
    free(dir);
    return r;
}

/* --results NAME{...}, as GNU parallel: NAME/ is a directory holding
   stdout, stderr and seq; else NAME (stdout), NAME.err and NAME.seq. 0, or
   -1 after a message. */
static int results_named(const struct job *j, char **name)
{
    size_t n = j->resname != NULL ? strlen(j->resname) : 0;
    if (n == 0) {
        fpc_say("--results: the name is empty for job %lu", j->seq);
        return -1;
    }
    bool dir = j->resname[n - 1] == '/';
    static const char *const in_dir[] = {"stdout", "stderr", "seq"};
    static const char *const beside[] = {"", ".err", ".seq"};
    char *end = strrchr(j->resname, '/');
    if (end != NULL && make_dirs(j->resname, (size_t)(end - j->resname)) != 0)
        return -1;
    return write_results(j, j->resname, dir ? in_dir : beside, name);
}

/* --results FILE.csv/.tsv: one row, as GNU parallel writes it. */
static int results_row(struct app *a, const struct job *j)
{
    if (a->outx->res_fd < 0)
        return 0;
    char sep = a->outx->res == RES_CSV ? ',' : '\t';
    int exitval, sig;
    out_status(j, &exitval, &sig);
    size_t on = 0, en = 0;
    const char *out = forkpool_task_stdout(j->task, &on);
    const char *err = forkpool_task_stderr(j->task, &en);
    if (out == NULL)
        on = 0;
    if (err == NULL)
        en = 0;
    struct sbuf b = {0};
    sb_printf(&b, "%lu%c:%c%.3f%c%.3f%c0%c%zu%c%d%c%d%c", j->seq, sep, sep, j->start_real, sep,
              j->runtime, sep, sep, on, sep, exitval, sep, sig, sep);
    add_field(&b, j->display, strlen(j->display), sep);
    for (size_t g = 0; g < j->nvals; g++) {
        sb_add(&b, &sep, 1);
        add_field(&b, j->vals[g], strlen(j->vals[g]), sep);
    }
    sb_add(&b, &sep, 1);
    add_field(&b, out ? out : "", on, sep);
    sb_add(&b, &sep, 1);
    add_field(&b, err ? err : "", en, sep);
    sb_adds(&b, "\n");
    if (sb_write(&b, a->outx->res_fd) != 0) {
        fpc_say("--results: cannot write '%s': %s", a->o.results, strerror(errno));
        return -1;
    }
    return 0;
}

/* --files without --results: j's stdout in a new file parXXXXXX.par under
   --tmpdir, $TMPDIR or /tmp; *name its path (new string). */
static int temp_file(struct app *a, const struct job *j, char **name)
{
    const char *dir = fpc_tmpdir(a->o.tmpdir);
    struct sbuf p = {0};
    sb_adds(&p, dir);
    sb_adds(&p, "/parXXXXXX.par");
    char *path = sb_take(&p);
    if (path == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    int fd = mkostemps(path, 4, O_CLOEXEC);
    size_t on = 0;
    const char *out = forkpool_task_stdout(j->task, &on);
    if (fd < 0 || fpc_write_all(fd, out ? out : "", out ? on : 0) != 0 || close(fd) != 0) {
        fpc_say("--files: cannot write a file in '%s': %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(path);
        return -1;
    }
    *name = path;
    return 0;
}

int outx_divert(struct app *a, const struct job *j, char **out, bool *keep_err)
{
    *out = NULL;
    *keep_err = true;
    struct outx *x = a->outx;
    if (x == NULL || (x->res == RES_NONE && !a->o.files))
        return 0;
    char *name = NULL;
    int r = 0;
    if (x->res == RES_DIR)
        r = results_dir(a, j, &name);
    else if (x->res == RES_TMPL)
        r = results_named(j, &name);
    else if (x->res != RES_NONE)
        r = results_row(a, j);
    else
        r = temp_file(a, j, &name);
    if (r != 0)
        return -1;
    *keep_err = x->res == RES_NONE; /* --results keeps stderr in its files */
    struct sbuf b = {0};
    if (a->o.files && name != NULL) {
        sb_adds(&b, name);
        sb_adds(&b, "\n");
    }
    free(name);
    *out = sb_take(&b);
    if (*out == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    return 0;
}
