/* output.c: job output, the joblog and the progress bar (contracts in
   output.h). */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "fpc.h"
#include "machine.h"
#include "outx.h"
#include "sbuf.h"

void out_status(const struct job *j, int *exitval, int *sig)
{
    *exitval = 0;
    *sig = 0;
    if (j->skipped) {
        *exitval = -2; /* skip() in {= =}: GNU parallel's joblog says -2 */
        return;
    }
    if (j->ok)
        return;
    switch (j->kind) {
    case FORKPOOL_ERR_EXITED: *exitval = j->code; break;
    case FORKPOOL_ERR_SIGNALED: *sig = j->code; break;
    case FORKPOOL_ERR_TIMEOUT:
    case FORKPOOL_ERR_CANCELLED:
        *exitval = -1;
        *sig = SIGTERM;
        break;
    case FORKPOOL_ERR_SPAWN: *exitval = j->code == ENOENT ? 127 : 126; break;
    default: *exitval = -1; break;
    }
}

/* Appends buf[0..n) to b with tag before each line (none if tag is NULL). */
static void add_tagged(struct sbuf *b, const char *buf, size_t n, const char *tag)
{
    if (tag == NULL) {
        sb_add(b, buf, n);
        return;
    }
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - buf) + 1 : n;
        sb_adds(b, tag);
        sb_add(b, buf + i, end - i);
        i = end;
    }
}

int out_bar_clear(struct app *a)
{
    if (a->bar_width == 0)
        return 0;
    struct sbuf b = {0};
    sb_adds(&b, "\r");
    for (size_t i = 0; i < a->bar_width; i++)
        sb_adds(&b, " ");
    sb_adds(&b, "\r");
    int r = sb_write(&b, STDERR_FILENO);
    a->bar_width = 0;
    return r;
}

/* --eta: GNU parallel's compute_eta: the average time per job since the
   first one completed, smoothed as more complete, times the jobs left;
   kept when it would grow by less than 10%. */
static long eta_secs(struct app *a, unsigned long total, double *avg)
{
    unsigned long done = a->ndone;
    *avg = 0;
    if (done == 0)
        return 0;
    double now = fpc_mono_now();
    if (a->eta_first == 0)
        a->eta_first = now;
    double pct = (double)done / (double)total;
    *avg = (now - a->eta_first) / (double)done;
    if (a->eta_avg == 0)
        a->eta_avg = *avg;
    a->eta_avg = (1 - pct) * a->eta_avg + pct * *avg;
    long eta = (long)((double)(total - done) * a->eta_avg);
    if ((double)eta * 0.9 < (double)a->eta_last && a->eta_last < eta)
        return a->eta_last;
    a->eta_last = eta;
    return eta;
}

/* --eta, --progress (without --bar): GNU parallel's status, for its one
   computer, "local": first (once) the table of computers and the legend,
   then "[ETA: Ns Left: N AVG: N.NNs  ]local:running/completed/%/avg s". The
   total is the inputs' count when known before the start, else the jobs
   seen so far. Returns the status's length (after its "\r"). */
static size_t gnu_status(struct app *a, struct sbuf *b)
{
    if (!a->status_head) {
        a->status_head = true;
        sb_adds(b, "\nComputers / CPU cores / Max jobs to run\n");
        sb_printf(b, "1:local / %ld / %u\n\n", mach_cpus(&a->o), a->jobs);
        sb_adds(b, "Computer:jobs running/jobs completed/%of started jobs/Average seconds "
                   "to complete\n");
    }
    sb_adds(b, "\r");
    size_t start = b->len;
    unsigned long known = a->ndone + a->nrunning;
    unsigned long total = a->total_known && a->total > known ? a->total : known;
    if (a->o.eta) {
        double avg;
        long eta = eta_secs(a, total, &avg);
        sb_printf(b, "ETA: %lds Left: %lu AVG: %.2fs  ", eta, total - a->ndone, avg);
    }
    if (known > 0) {
        double el = fpc_mono_now() - a->t0;
        sb_printf(b, "local:%u/%lu/100%%/%.1fs ", a->nrunning, a->ndone,
                  a->ndone ? el / (double)a->ndone : 0.0);
    }
    return b->len - start;
}

void out_bar_draw(struct app *a, bool final)
{
    if (!a->o.bar && !a->o.eta && !a->o.progress)
        return;
    struct sbuf b = {0};
    if (!a->o.bar) {
        size_t width = gnu_status(a, &b);
        while (width < a->bar_width) {
            sb_adds(&b, " ");
            width++;
        }
        if (final)
            sb_adds(&b, "\n");
        if (sb_write(&b, STDERR_FILENO) == 0)
            a->bar_width = final ? 0 : width;
        return;
    }
    sb_adds(&b, "\r");
    unsigned long total = a->total_known ? a->total : 0;
    if (final && !a->total_known)
        total = a->ndone;
    if (total > 0 || final) {
        unsigned long pct = total ? a->ndone * 100 / total : 100;
        enum { W = 30 };
        unsigned long fill = total ? a->ndone * W / total : W;
        sb_adds(&b, "[");
        for (unsigned long i = 0; i < W; i++)
            sb_adds(&b, i < fill ? "#" : "-");
        sb_printf(&b, "] %3lu%% %lu/%lu", pct, a->ndone, total);
        if (a->ndone > 0 && a->ndone < total) {
            double el = fpc_mono_now() - a->t0;
            double eta = el / (double)a->ndone * (double)(total - a->ndone);
            sb_printf(&b, " ETA %.0fs", eta);
        }
    } else {
        sb_printf(&b, "%lu done", a->ndone);
    }
    if (a->nrunning > 0)
        sb_printf(&b, ", %u running", a->nrunning);
    size_t width = b.len - 1;
    while (b.len - 1 < a->bar_width)
        sb_adds(&b, " ");
    if (final)
        sb_adds(&b, "\n");
    if (sb_write(&b, STDERR_FILENO) == 0) /* else (out of memory) one frame is lost */
        a->bar_width = final ? 0 : width;
}

bool out_line_buffered(const struct app *a)
{
    return a->o.line_buffer && !a->o.ungroup && !a->o.results && !a->o.files;
}

/* Where the complete lines of buf[0..n) end: past the last newline, or
   p->shown when none came since. Only bytes not searched before are
   (p->seen), so a long line arriving in pieces is not searched again. */
static size_t lines_end(const char *buf, size_t n, struct lb_pos *p)
{
    if (buf == NULL || n <= p->seen)
        return p->shown;
    const char *nl = memrchr(buf + p->seen, '\n', n - p->seen);
    p->seen = n;
    return nl != NULL ? (size_t)(nl - buf) + 1 : p->shown;
}

/* Appends buf[p->shown..end) to b (tagged) and marks it printed. */
static void take_lines(struct sbuf *b, const char *buf, size_t end, struct lb_pos *p,
                       const char *tag)
{
    if (end > p->shown)
        add_tagged(b, buf + p->shown, end - p->shown, tag);
    p->shown = end;
}

int out_lines(struct app *a)
{
    if (!out_line_buffered(a))
        return 0;
    for (struct job *j = a->live; j != NULL; j = j->live_next) {
        if (j->task == NULL || j->skipped || j->silent || (a->o.keep_order && j->seq != a->next_print))
            continue;
        size_t on = 0, en = 0;
        const char *out = forkpool_task_stdout(j->task, &on);
        const char *err = forkpool_task_stderr(j->task, &en);
        bool cmd = a->o.print_cmd && !j->shown_cmd;
        size_t oend = lines_end(out, on, &j->lb_out), eend = lines_end(err, en, &j->lb_err);
        if (!cmd && oend == j->lb_out.shown && eend == j->lb_err.shown)
            continue; /* nothing new to print: no tag built */
        char *tag = NULL;
        if (outx_tag(a, j, &tag) != 0)
            return -1;
        struct sbuf bo = {0}, be = {0};
        if (cmd) { /* -v: the command line first */
            add_tagged(&bo, j->display, strlen(j->display), tag);
            sb_adds(&bo, "\n");
            j->shown_cmd = true;
        }
        take_lines(&bo, out, oend, &j->lb_out, tag);
        take_lines(&be, err, eend, &j->lb_err, tag);
        free(tag);
        int r = sb_write(&bo, STDOUT_FILENO);
        if (r == 0 && be.len > 0 && out_bar_clear(a) != 0)
            r = -1;
        if (r == 0)
            r = sb_write(&be, STDERR_FILENO);
        else
            sb_free(&be);
        if (r != 0)
            return -1;
    }
    return 0;
}

int out_print(struct app *a, struct job *j)
{
    char *tag = NULL, *diverted = NULL;
    bool keep_err = true;
    if (outx_divert(a, j, &diverted, &keep_err) != 0) { /* --results, --files */
        errno = EIO; /* reported */
        return -1;
    }
    if (outx_tag(a, j, &tag) != 0) { /* --tag, --tagstring */
        free(diverted);
        return -1;
    }
    size_t on = 0, en = 0;
    const char *out = forkpool_task_stdout(j->task, &on);
    const char *err = forkpool_task_stderr(j->task, &en);
    if (diverted != NULL) {
        out = diverted;
        on = strlen(diverted);
    }
    if (!keep_err)
        err = NULL;
    if (out_line_buffered(a)) { /* out_lines printed the lines before */
        if (out != NULL) {
            out += j->lb_out.shown;
            on -= j->lb_out.shown;
        }
        if (err != NULL) {
            err += j->lb_err.shown;
            en -= j->lb_err.shown;
        }
    }
    struct sbuf bo = {0}, be = {0};
    /* Untagged stdout is written straight from the task's buffer: a copy
       would double the memory a job's large output takes. -v's command
       line comes first, as part of the job's output (tagged with it). */
    bool cmd = a->o.print_cmd && !a->o.ungroup && !j->shown_cmd;
    bool tagged = tag != NULL || cmd;
    if (cmd) {
        add_tagged(&bo, j->display, strlen(j->display), tag);
        sb_adds(&bo, "\n");
    }
    if (out != NULL && tagged)
        add_tagged(&bo, out, on, tag);
    if (err != NULL)
        add_tagged(&be, err, en, tag);
    if (!j->ok && j->kind == FORKPOOL_ERR_SPAWN) {
        sb_adds(&be, "forkpool: cannot run '");
        sb_adds(&be, j->argv[0]);
        sb_adds(&be, "': ");
        sb_adds(&be, strerror(j->code));
        sb_adds(&be, "\n");
    } else if (!j->ok && j->kind == FORKPOOL_ERR_TIMEOUT) {
        sb_printf(&be, "forkpool: timed out after %g s: ", a->o.timeout_s);
        sb_adds(&be, j->display);
        sb_adds(&be, "\n");
    } else if (!j->ok && j->kind == FORKPOOL_ERR_LOST) {
        sb_adds(&be, "forkpool: lost with the rank that ran it: ");
        sb_adds(&be, j->display);
        sb_adds(&be, "\n");
    }
    free(tag);
    size_t olen = tagged ? bo.len : on, elen = be.len;
    char *os = sb_take(&bo), *es = sb_take(&be);
    const char *op = tagged || out == NULL ? os : out;
    int r = -1;
    if (os != NULL && es != NULL && fpc_write_all(STDOUT_FILENO, op, olen) == 0 &&
        (elen == 0 || (out_bar_clear(a) == 0 && fpc_write_all(STDERR_FILENO, es, elen) == 0)))
        r = 0;
    free(os);
    free(es);
    free(diverted);
    return r;
}

int out_joblog_open(struct app *a)
{
    a->joblog_fd = -1;
    if (a->o.joblog == NULL || a->o.dry_run)
        return 0;
    if (strcmp(a->o.joblog, "-") == 0) {
        a->joblog_fd = STDOUT_FILENO;
    } else {
        bool append = ctl_joblog_append(a); /* --resume... */
        a->joblog_fd = open(a->o.joblog,
                            O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC) | O_CLOEXEC, 0666);
        if (a->joblog_fd < 0) {
            fpc_say("cannot open joblog '%s': %s", a->o.joblog, strerror(errno));
            return -1;
        }
        a->joblog_close = true;
        if (append)
            return 0; /* it has its header */
    }
    static const char header[] =
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";
    if (fpc_write_all(a->joblog_fd, header, sizeof header - 1) != 0) {
        fpc_say("cannot write joblog '%s': %s", a->o.joblog, strerror(errno));
        return -1;
    }
    return 0;
}

int out_joblog_write(struct app *a, const struct job *j)
{
    if (a->joblog_fd < 0)
        return 0;
    int exitval, sig;
    out_status(j, &exitval, &sig);
    size_t out = 0;
    if (forkpool_task_stdout(j->task, &out) == NULL)
        out = 0;
    struct sbuf b = {0};
    /* Send: the bytes of its --pipe block (0 otherwise), as GNU parallel. */
    sb_printf(&b, "%lu\t:\t%.3f\t%10.3f\t%zu\t%zu\t%d\t%d\t", j->seq, j->start_real,
              j->runtime, j->blk.len, out, exitval, sig);
    for (const char *p = j->display; *p; p++)
        sb_add(&b, *p == '\n' ? "" : p, 1); /* "" + NUL byte for '\n' */
    sb_adds(&b, "\n");
    return sb_write(&b, a->joblog_fd);
}

void out_joblog_close(struct app *a)
{
    if (a->joblog_close)
        close(a->joblog_fd);
    a->joblog_close = false;
    a->joblog_fd = -1;
}
