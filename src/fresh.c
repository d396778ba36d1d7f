/*
 * A task in a process of its own (fresh.h): starting it in a concurrency
 * slot, its deadline and cancel, freeing the slot when it ends; and the
 * FRESH kind itself, a forked child (from the fork server, if the pool has
 * one) that runs the task's function and reports on its channel.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "child.h"
#include "clock.h"
#include "fresh.h"
#include "launch.h"
#include "pool.h"
#include "server.h"
#include "task.h"
#include "wire.h"

/* ---- a task's own process, whatever its kind ---- */

int fp_start_own(forkpool *pool, forkpool_task *t)
{
    if (pool->nbusy >= pool->opts.concurrency)
        return 0;
    fp_queue_remove(pool, t);
    const fp_proc_ops *kind = pool->own_ops[t->exec != NULL];
    fp_proc *pr = fp_proc_new(&pool->procs, pool, kind, pool->opts.max_output);
    if (!pr) {
        kind->launch_failed(t, ENOMEM, 0);
        return 1;
    }
    pr->task = t;
    t->proc = pr;
    int step = 0;
    /* Before the launch: a run time (forkpool_task_usage) is never shorter
       than what the child did, however late this thread runs again. */
    pr->started = fp_now();
    if (kind->launch(pr, t, &step) == -1) {
        int err = errno;
        t->proc = NULL;
        fp_proc_free(pr);
        kind->launch_failed(t, err, step);
        return 1;
    }
    t->state = FORKPOOL_RUNNING;
    pool->nrunning++;
    pool->nbusy++;
    int64_t now = fp_now();
    if (t->timeout_ms)
        pr->deadline = fp_after(now, t->timeout_ms);
    if (fp_proc_watch(pr, 1, now) == -1) {
        fp_task_fail(t, FORKPOOL_ERR_SPAWN, errno, NULL, "cannot watch the task's %s: %s",
                     kind->name, strerror(errno));
        t->flags |= FP_T_ABORTED | FP_T_KILLING;
    }
    return 1;
}

void fp_fresh_fill(forkpool *pool)
{
    forkpool_task *t;
    while ((t = fp_queue_head(pool)) && fp_start_own(pool, t))
        ;
}

/* t's own child is gone (the layer retires it): its slot is free. */
void fp_own_finished(forkpool_task *t)
{
    forkpool *pool = t->pool;
    fp_task_set_usage(t, t->proc->started, &t->proc->ru);
    fp_chan_end_err(t->proc, t, NULL);
    t->proc->task = NULL;
    t->proc = NULL;
    pool->nrunning--;
    pool->nbusy--;
    fp_dispatch_push(t);
}

void fp_own_expired(fp_proc *pr, int64_t now)
{
    /* It may have ended in time, with its exit not yet seen. */
    fp_proc_check_exit(pr, 0);
    if (fp_proc_dead(pr))
        return;
    pr->task->flags |= FP_T_TIMED_OUT | FP_T_KILLING;
    fp_proc_terminate(pr, now);
}

int fp_own_cancel(fp_proc *pr, forkpool_task *t)
{
    t->flags |= FP_T_KILLING;
    fp_proc_terminate(pr, fp_now());
    return 0;
}

forkpool_task *fp_own_last(fp_proc *pr)
{
    return pr->task;
}

void fp_own_destroy(fp_proc *pr)
{
    if (pr->task)
        pr->task->proc = NULL;
}

/* ---- the FRESH kind ---- */

static void fresh_entry(void *arg, int chan, int req)
{
    (void)req;
    fp_child_main(arg, chan);
}

/* The child's side of a FRESH task forked from the fork server: rebuilds
   the task from its call (wire.h) and runs it. */
static void fresh_srv_entry(forkpool *pool, const void *blob, size_t len, const int *fds,
                               int nfds)
{
    (void)nfds; /* at least the channel: the server checked */
    uint32_t seq;
    void (*fn)(void);
    const unsigned char *arg;
    size_t arg_len;
    forkpool_task *t = NULL;
    if (fp_call_parse(blob, len, &seq, &fn, &arg, &arg_len) == -1 ||
        !(t = calloc(1, sizeof *t + arg_len)))
        fp_setup_fail(fds[0], t ? EPROTO : ENOMEM, FP_STEP_ALLOC);
    t->pool = pool;
    t->fn = (forkpool_fn)fn;
    t->arg_len = arg_len;
    memcpy(t->arg, arg, arg_len);
    fp_child_main(t, fds[0]);
}

static int fresh_launch(fp_proc *pr, forkpool_task *t, int *step)
{
    forkpool *pool = pr->pool;
    *step = 0;
    int rc;
    if (pool->opts.fork_server) {
        size_t len = FP_CALL_HDR + t->arg_len;
        /* Reachable from the pool while the request is out: a helper another
           thread forks meanwhile holds a copy of it, and in that copy this
           thread does not exist (a leak checker there would call it lost). */
        unsigned char *blob = pool->srv_stage = malloc(len);
        if (!blob) {
            errno = ENOMEM;
            return -1;
        }
        fp_call_header(blob, 0, (void (*)(void))t->fn);
        memcpy(blob + FP_CALL_HDR, t->arg, t->arg_len);
        rc = fp_server_proc(pool, pr, 0, fresh_srv_entry, blob, len, -1);
        int saved = errno;
        free(blob);
        pool->srv_stage = NULL;
        errno = saved;
    } else {
        rc = fp_chan_fork(pool, pr, 0, fresh_entry, t);
    }
    if (rc == 0)
        t->pid = pr->pid;
    return rc;
}

static void fresh_launch_failed(forkpool_task *t, int err, int step)
{
    (void)step;
    fp_spawn_failed(t, err, "cannot start the task's child%s: %s",
                    t->pool->opts.fork_server ? " (through the fork server)" : "",
                    strerror(err));
}

static int fresh_frame(void *ud, unsigned type, unsigned char *payload, size_t len)
{
    fp_proc *pr = ud;
    return fp_task_frame(pr->task, type, payload, len);
}

static void fresh_io(fp_proc *pr, int k, size_t budget)
{
    if (k == FP_FD_ERR)
        fp_chan_read_err(pr, budget, NULL);
    else
        fp_chan_read(pr, budget, fresh_frame);
}

static void fresh_exited(fp_proc *pr, int known, int status)
{
    fp_chan_settle(pr->task, pr, known, status);
    fp_own_finished(pr->task);
}

const fp_proc_ops fp_fresh_ops = {
    .name = "child",
    .launch = fresh_launch,
    .launch_failed = fresh_launch_failed,
    .io = fresh_io,
    .exited = fresh_exited,
    .expired = fp_own_expired,
    .cancel = fp_own_cancel,
    .last = fp_own_last,
    .destroy = fp_own_destroy,
};
