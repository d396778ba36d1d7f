/*
 * A child that speaks the wire protocol (channel.h): its launch, its
 * channel, its frames, and the outcome of its task.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "launch.h"
#include "pool.h"
#include "result.h"
#include "task.h"
#include "worker.h"

/* ---- launching ---- */

struct fp_chan_fork {
    forkpool *pool;
    fp_proc *pr;
    int keep;
    int p[2], q[2], e[2];
    void (*entry)(void *arg, int chan, int req);
    void *arg;
};

int fp_chan_err_pipe(int e[2])
{
    if (pipe2(e, O_CLOEXEC) == 0 && fcntl(e[0], F_SETFL, O_NONBLOCK) == 0)
        return 0;
    int err = errno;
    fp_close_if(e[0]);
    fp_close_if(e[1]);
    e[0] = e[1] = -1;
    errno = err;
    return -1;
}

static int chan_prepare(void *arg)
{
    struct fp_chan_fork *f = arg;
    if (fp_procs_reserve(&f->pool->procs) == 0 && pipe2(f->p, O_CLOEXEC) == 0 &&
        fcntl(f->p[0], F_SETFL, O_NONBLOCK) == 0 &&
        (!f->pool->opts.capture_stderr || fp_chan_err_pipe(f->e) == 0) &&
        (!f->keep || fp_launch_pipe(f->q, 1) == 0))
        return 0;
    int err = errno;
    int *fds[4] = {&f->p[0], &f->p[1], &f->e[0], &f->e[1]};
    for (int i = 0; i < 4; i++) {
        fp_close_if(*fds[i]);
        *fds[i] = -1;
    }
    errno = err;
    return -1;
}

static void chan_child(void *arg, int report)
{
    struct fp_chan_fork *f = arg;
    sigset_t none;
    (void)report;
    close(f->p[0]); /* the parent's ends, not on the registry yet */
    fp_close_if(f->q[1]);
    if (f->e[1] >= 0) {
        fp_close_if(f->e[0]);
        if (dup2(f->e[1], STDERR_FILENO) == -1)
            fp_setup_fail(f->p[1], errno, FP_STEP_ALLOC);
        close(f->e[1]);
    }
    int step = fp_child_limits(&f->pool->opts, f->keep ? FP_LIMITS_WORKER : FP_LIMITS_TASK);
    if (step)
        fp_setup_fail(f->p[1], errno, step);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    f->entry(f->arg, f->p[1], f->q[0]);
}

static void chan_done(void *arg, pid_t pid)
{
    struct fp_chan_fork *f = arg;
    if (pid > 0) {
        f->pr->fd[FP_FD_OUT] = fp_fd_high(f->p[0]);
        f->pr->fd[FP_FD_IN] = fp_fd_high(f->q[1]);
        f->pr->fd[FP_FD_PARK] = f->q[0]; /* held (workers.c: worker_flush) */
        f->pr->fd[FP_FD_ERR] = f->e[0] >= 0 ? fp_fd_high(f->e[0]) : -1;
        fp_proc_attach(f->pr, pid);
    } else {
        fp_close_if(f->p[0]);
        fp_close_if(f->q[1]);
        fp_close_if(f->q[0]);
        fp_close_if(f->e[0]);
    }
    fp_close_if(f->p[1]);
    fp_close_if(f->e[1]);
}

int fp_chan_fork(forkpool *pool, fp_proc *pr, int keep, void (*entry)(void *arg, int chan, int req),
                 void *arg)
{
    struct fp_chan_fork f = {pool, pr, keep, {-1, -1}, {-1, -1}, {-1, -1}, entry, arg};
    fp_launch l = {FP_LAUNCH_FORK, pool->self, 1, chan_prepare, chan_child, chan_done,
                   &f, 0};
    return fp_launch_run(&l) == -1 ? -1 : 0;
}

/* ---- reading ---- */

/*
 * pr's channel failed (kind and message say how): its task fails and it is
 * killed; a process with no task is killed alone.
 */
static void chan_fail(fp_proc *pr, int kind, const char *msg)
{
    if (pr->task) {
        if (kind)
            fp_task_fail(pr->task, (forkpool_error_kind)kind, 0, NULL, "%s", msg);
        fp_task_abort(pr->task);
        return;
    }
    fp_kill_group(pr, SIGKILL);
    fp_proc_close(pr, FP_FD_OUT);
    fp_check_soon(pr);
}

/* Large payloads are read straight into their buffer. */
void fp_chan_read(fp_proc *pr, size_t budget, fp_frame_fn on_frame)
{
    unsigned char *stage = pr->set->stage;
    while (pr->fd[FP_FD_OUT] >= 0 && budget > 0) {
        void *direct;
        size_t want = fp_decoder_direct(&pr->dec, &direct);
        int use_direct = want >= FP_READ_CHUNK;
        /* A pipe gives at most its capacity per read; asking for no more
           keeps tools that check the whole buffer per call (valgrind) linear. */
        if (want > FP_READ_MAX)
            want = FP_READ_MAX;
        if (!use_direct) {
            direct = stage;
            want = FP_READ_CHUNK;
        }
        ssize_t n = read(pr->fd[FP_FD_OUT], direct, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            char msg[96];
            snprintf(msg, sizeof msg, "cannot read from task: %s", strerror(errno));
            chan_fail(pr, FORKPOOL_ERR_PROTOCOL, msg);
            return;
        }
        if (n == 0) {
            fp_proc_close(pr, FP_FD_OUT);
            fp_check_soon(pr);
            return;
        }
        budget -= (size_t)n < budget ? (size_t)n : budget;
        int r = use_direct ? fp_decoder_direct_done(&pr->dec, (size_t)n, on_frame, pr)
                           : fp_decoder_feed(&pr->dec, stage, (size_t)n, on_frame, pr);
        if (r == -1) {
            chan_fail(pr, pr->dec.error, pr->dec.message);
            return;
        }
        /* A short read emptied the pipe: another read would only say
           EAGAIN (a system call on every task's way back). What comes
           later wakes the loop again (level-triggered); an exited child's
           bytes were all in the pipe already. */
        if ((size_t)n < want)
            return;
    }
}

/* Where the first mark in b[from..) starts, or b->len (none or NULL). */
static size_t find_mark(const fp_buf *b, size_t from, const unsigned char *mark)
{
    if (!mark || b->len < from + FP_ERR_MARK)
        return b->len;
    const unsigned char *m = memmem(b->p + from, b->len - from, mark, FP_ERR_MARK);
    return m ? (size_t)(m - b->p) : b->len;
}

/* The bytes after the last mark in b (all of b without one) start here. */
static size_t last_segment(const fp_buf *b, const unsigned char *mark)
{
    size_t seg = 0;
    for (size_t m; (m = find_mark(b, seg, mark)) < b->len;)
        seg = m + FP_ERR_MARK;
    return seg;
}

/* Bounds pr->err before a read of up to 64 KiB: the running task's bytes
   (after the last mark) past the tail move up to the mark, so at most
   twice the tail is kept (a mark whose first bytes end the buffer is in
   that tail, and is completed whole). */
static void err_trim(fp_proc *pr, const unsigned char *mark)
{
    if (pr->err.len <= FP_ERR_TAIL)
        return;
    size_t seg = last_segment(&pr->err, mark);
    if (pr->err.len - seg > FP_ERR_TAIL) {
        memmove(pr->err.p + seg, pr->err.p + pr->err.len - FP_ERR_TAIL, FP_ERR_TAIL);
        pr->err.len = seg + FP_ERR_TAIL;
    }
}

void fp_chan_read_err(fp_proc *pr, size_t budget, const unsigned char *mark)
{
    /* Straight into pr->err, not through the set's staging buffer: at a
       worker's END this runs inside the channel's frame callback, while the
       decoder still reads the channel's bytes staged there. */
    while (pr->fd[FP_FD_ERR] >= 0 && budget > 0) {
        err_trim(pr, mark);
        size_t had = pr->err.len;
        ssize_t n = fp_buf_read(&pr->err, pr->fd[FP_FD_ERR]);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0 && errno == ENOMEM && had > 0) {
            fp_buf_free(&pr->err); /* the oldest bytes go: the tail matters */
            continue;
        }
        if (n <= 0) {
            fp_proc_close(pr, FP_FD_ERR); /* EOF, unreadable, no memory at all */
            return;
        }
        budget -= (size_t)n < budget ? (size_t)n : budget;
    }
}

void fp_chan_end_err(fp_proc *pr, forkpool_task *t, const unsigned char *mark)
{
    if (!pr || t->exec || !t->pool->opts.capture_stderr)
        return;
    fp_chan_read_err(pr, FP_READ_BUDGET, mark);
    size_t m = find_mark(&pr->err, 0, mark);
    if (m == pr->err.len) {
        fp_task_take_stderr(t, &pr->err);
        return;
    }
    /* The bytes after the mark are the next task's. */
    fp_buf rest = {NULL, 0, 0};
    size_t after = m + FP_ERR_MARK;
    if (after < pr->err.len && fp_buf_append(&rest, pr->err.p + after, pr->err.len - after) == -1)
        rest.len = 0;
    pr->err.len = m;
    fp_task_take_stderr(t, &pr->err);
    pr->err = rest;
}

/* ---- frames and outcome ---- */

/* A FRESH child's exit settles t; a worker's END frame does (workers.c
   reads END itself). */
int fp_task_frame(forkpool_task *t, unsigned type, unsigned char *payload, size_t len)
{
    int32_t rc;
    if (t->flags & FP_T_GOT_END) {
        free(payload);
        fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                     "malformed frame from task: data after its end");
        return -1;
    }
    switch (type) {
    case FP_FRAME_MESSAGE:
        return fp_msg_push(t, payload, len); /* -1: it recorded why */
    case FP_FRAME_RESULT:
    case FP_FRAME_RESULT_FD:
        if (t->flags & FP_T_HAS_RESULT) {
            free(payload);
            fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                         "malformed frame from task: a second result");
            return -1;
        }
        if (type == FP_FRAME_RESULT_FD) {
            int r = fp_result_take(t, payload);
            free(payload);
            return r;
        }
        t->result = payload;
        t->result_len = len;
        t->flags |= FP_T_HAS_RESULT;
        return 0;
    case FP_FRAME_THROW: {
        int code;
        const char *ty, *msg;
        size_t tl, ml;
        if ((t->flags & FP_T_THREW) ||
            fp_wire_parse_throw(payload, len, &code, &ty, &tl, &msg, &ml) == -1) {
            free(payload);
            fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                         "malformed frame from task: bad error frame");
            return -1;
        }
        char *tcopy = strndup(ty, tl);
        fp_task_fail(t, FORKPOOL_ERR_THROWN, code,
                     tcopy && *tcopy ? tcopy : "forkpool.thrown", "%.*s", (int)ml, msg);
        free(tcopy);
        free(payload);
        t->flags |= FP_T_THREW;
        return 0;
    }
    case FP_FRAME_WAKE: /* a worker's, and workers.c takes those */
        free(payload);
        fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                     "malformed frame from task: a wake frame");
        return -1;
    case FP_FRAME_SPAWN: {
        int err, step;
        fp_wire_parse_spawn(payload, &err, &step);
        free(payload);
        fp_task_fail(t, FORKPOOL_ERR_SPAWN, err, NULL, "cannot start the task's %s: %s failed: %s",
                     t->proc->ops->name, fp_launch_step_name(step), strerror(err));
        t->flags |= FP_T_UNSET;
        return 0;
    }
    default: /* FP_FRAME_END: the decoder checked its length */
        memcpy(&rc, payload, sizeof rc);
        free(payload);
        t->end_rc = rc;
        t->flags |= FP_T_GOT_END;
        /* It handed its result over as a memfd and waits to be ended. */
        if (t->flags & FP_T_MAPPED)
            fp_kill_group(t->proc, SIGKILL);
        fp_check_soon(t->proc);
        return 0;
    }
}

/* After fp_settle_common: the channel's part of the ladder. */
void fp_chan_settle(forkpool_task *t, const fp_proc *pr, int known, int status)
{
    forkpool_stats *st = &t->pool->stats;
    if (fp_settle_common(t, known, status, "task", pr ? &pr->ru : NULL)) {
        fp_settle_end(t);
        return;
    }
    t->state = FORKPOOL_FAILED;
    if (pr && !fp_decoder_idle(&pr->dec)) {
        fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                     "malformed frame from task: it ended in the middle of a frame");
        st->failed++;
    } else if (!(t->flags & FP_T_GOT_END)) {
        if (known)
            fp_task_fail(t, FORKPOOL_ERR_EXITED, WEXITSTATUS(status), NULL,
                         "task exited with status %d without reporting its end "
                         "(exit() in the task, or its channel was closed)",
                         WEXITSTATUS(status));
        else
            fp_task_fail(t, FORKPOOL_ERR_EXITED, -1, NULL,
                         "task's child exited without reporting its end, and its exit "
                         "status was taken by someone else (SIGCHLD ignored, or "
                         "waitpid(-1) in the program)");
        st->failed++;
    } else if (known && WEXITSTATUS(status) != 0) {
        fp_task_fail(t, FORKPOOL_ERR_EXITED, WEXITSTATUS(status), NULL,
                     "task exited with status %d after its function returned",
                     WEXITSTATUS(status));
        st->failed++;
    } else if (t->flags & (FP_T_THREW | FP_T_LOST)) {
        st->failed++;
    } else if (t->end_rc != 0) {
        fp_task_fail(t, FORKPOOL_ERR_THROWN, t->end_rc, "forkpool.return",
                     "task function returned %d", t->end_rc);
        st->failed++;
    } else {
        t->state = FORKPOOL_SUCCEEDED;
        st->succeeded++;
    }
    fp_settle_end(t);
}
