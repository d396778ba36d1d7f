/*
 * The pool: the run queue, starting tasks, the event loop (one epoll set
 * holding each running task's pipe and pidfd, a timerfd for deadlines and an
 * eventfd for work that needs no fd), settling outcomes, and dispatching
 * handlers.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "launch.h"
#include "result.h"

/*
 * epoll data: an fp_proc pointer (malloc'd, so at least 8-aligned) with the
 * index of the fd in its fd[] (FP_FD_*) in its low bits; the pool's own fds
 * carry no pointer, only their kind.
 */
enum { FP_EV_TIMER = 2, FP_EV_WAKE = 3 };
#define FP_EV_MASK ((uint64_t)3)
#define FP_EV_BATCH 64

int fp_epoll_add(forkpool *pool, int fd, uint64_t data, uint32_t events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(pool->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Makes forkpool_fd readable for work that has no fd of its own. */
static void fp_wake(forkpool *pool)
{
    uint64_t one = 1;
    if (pool->wake_pending)
        return;
    /* Fails only if the counter would overflow, which one pending wake
       cannot make happen. */
    if (write(pool->eventfd, &one, sizeof one) == (ssize_t)sizeof one)
        pool->wake_pending = 1;
}

static void fp_unwake(forkpool *pool)
{
    uint64_t n;
    if (read(pool->eventfd, &n, sizeof n) == (ssize_t)sizeof n || errno == EAGAIN)
        pool->wake_pending = 0;
}

/* Puts a task whose handlers have something to do on the dispatch list. */
void fp_dispatch_push(forkpool_task *t)
{
    forkpool *pool = t->pool;
    if (t->flags & FP_T_IN_DISPATCH)
        return;
    t->flags |= FP_T_IN_DISPATCH;
    t->d_next = NULL;
    if (pool->d_tail)
        pool->d_tail->d_next = t;
    else
        pool->d_head = t;
    pool->d_tail = t;
    if (!pool->depth)
        fp_wake(pool);
}

static void fp_dispatch(forkpool *pool)
{
    forkpool_task *t;
    while (!pool->doomed && (t = pool->d_head)) {
        pool->d_head = t->d_next;
        if (!pool->d_head)
            pool->d_tail = NULL;
        t->flags &= ~(uint32_t)FP_T_IN_DISPATCH;
        t->pins++;
        fp_task_run_handlers(t);
        t->pins--;
        if (!pool->doomed)
            fp_task_maybe_free(t);
    }
}

/* ---- the queue ---- */

static void fp_queue_push(forkpool *pool, forkpool_task *t)
{
    t->q_next = NULL;
    t->q_prev = pool->q_tail;
    if (pool->q_tail)
        pool->q_tail->q_next = t;
    else
        pool->q_head = t;
    pool->q_tail = t;
    pool->nqueued++;
}

/* Back to the head of the queue: a task a worker took but never started. */
void fp_queue_push_front(forkpool *pool, forkpool_task *t)
{
    t->q_prev = NULL;
    t->q_next = pool->q_head;
    if (pool->q_head)
        pool->q_head->q_prev = t;
    else
        pool->q_tail = t;
    pool->q_head = t;
    pool->nqueued++;
    t->state = FORKPOOL_QUEUED;
    t->pid = 0;
}

void fp_queue_remove(forkpool *pool, forkpool_task *t)
{
    if (t->q_prev)
        t->q_prev->q_next = t->q_next;
    else
        pool->q_head = t->q_next;
    if (t->q_next)
        t->q_next->q_prev = t->q_prev;
    else
        pool->q_tail = t->q_prev;
    t->q_prev = t->q_next = NULL;
    pool->nqueued--;
}

/* ---- timers ---- */

/* Arms the timerfd for the earliest deadline, kill or poll of any task. */
void fp_arm_timer(forkpool *pool)
{
    int64_t at = 0;
    for (unsigned i = 0; i < pool->nprocs; i++) {
        const fp_proc *pr = pool->procs[i];
        const int64_t due[3] = {pr->deadline, pr->kill_at, pr->check_at};
        for (int k = 0; k < 3; k++)
            if (due[k] && (!at || due[k] < at))
                at = due[k];
    }
    if (at == pool->timer_at)
        return;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = at / 1000000000;
    its.it_value.tv_nsec = at % 1000000000;
    /* An absolute time already past fires at once, which is what we want.
       timerfd_settime cannot fail with these arguments. */
    if (timerfd_settime(pool->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        pool->timer_at = at;
}

/* start + ms, saturating: a limit too far to represent never falls due. */
int64_t fp_after(int64_t start, long ms)
{
    if (ms > (INT64_MAX - start) / 1000000)
        return INT64_MAX;
    return start + (int64_t)ms * 1000000;
}

/* SIGTERM now (and SIGCONT, so a stopped task acts on it), SIGKILL later;
   pr->task is marked as being killed. */
void fp_begin_kill(fp_proc *pr, int64_t now)
{
    forkpool_task *t = pr->task;
    t->flags |= FP_T_KILLING;
    fp_kill_group(pr, SIGTERM);
    fp_kill_group(pr, SIGCONT);
    pr->deadline = 0;
    pr->kill_at = fp_after(now, t->pool->opts.kill_grace_ms);
}

/* Fallback: the child is about to exit (its channel ended); look now, then
   at growing intervals (fp_poll_exit). */
void fp_check_soon(fp_proc *pr)
{
    if (pr->fd[FP_FD_EXIT] >= 0)
        return;
    pr->check_step = 0;
    pr->check_at = fp_now();
}

/* Kills t's child (or worker) at once for what it sent; err says why. */
void fp_task_abort(forkpool_task *t)
{
    fp_proc *pr = t->proc;
    t->flags |= FP_T_ABORTED | FP_T_KILLING;
    fp_kill_group(pr, SIGKILL);
    pr->deadline = pr->kill_at = 0;
    /* Stop reading and feeding it; what was captured so far stays. */
    for (int k = 0; k < FP_NFDS; k++)
        if (k != FP_FD_EXIT)
            fp_proc_close(t->pool, pr, k);
    fp_check_soon(pr);
}

/* ---- starting ---- */

/* The start of t failed (err; step: the child's set-up step that
   failed, 0 if none did): t fails SPAWN. */
void fp_spawn_failed(forkpool_task *t, int err, int step)
{
    forkpool *pool = t->pool;
    if (t->exec && step && step != FP_STEP_EXEC)
        fp_task_fail(t, FORKPOOL_ERR_SPAWN, err, NULL, "cannot run '%s': %s failed: %s",
                     fp_exec_name(t), fp_launch_step_name(step), strerror(err));
    else if (t->exec)
        fp_task_fail(t, FORKPOOL_ERR_SPAWN, err, NULL, "cannot run '%s': %s",
                     fp_exec_name(t), strerror(err));
    else
        fp_task_fail(t, FORKPOOL_ERR_SPAWN, err, NULL, "cannot start the task's child%s: %s",
                     pool->opts.fork_server ? " (through the fork server)" : "",
                     strerror(err));
    t->state = FORKPOOL_FAILED;
    pool->stats.failed++;
    fp_dispatch_push(t);
}

/* Watches pr's fds; a failure fails and aborts pr->task. */
static void fp_watch(forkpool *pool, fp_proc *pr, int64_t now)
{
    for (int k = 0; k < FP_NFDS; k++) {
        if (pr->fd[k] < 0 || fp_epoll_add(pool, pr->fd[k], (uint64_t)(uintptr_t)pr | (uint64_t)k,
                                         k == FP_FD_IN ? EPOLLOUT : EPOLLIN) == 0)
            continue;
        fp_task_fail(pr->task, FORKPOOL_ERR_SPAWN, errno, NULL,
                     "cannot watch the task's child: %s", strerror(errno));
        fp_task_abort(pr->task);
        /* Find its exit by polling, whatever is watched. */
        pr->check_at = now;
        break;
    }
}

/* Starts t in a child of its own (FRESH, or a program). */
static void fp_start(forkpool_task *t)
{
    forkpool *pool = t->pool;
    fp_proc *pr = fp_proc_new(pool);
    if (!pr) {
        fp_spawn_failed(t, ENOMEM, 0);
        return;
    }
    pr->task = t;
    t->proc = pr;
    int step = 0;
    if ((t->exec ? fp_exec_spawn(pool, t, &step) : fp_spawn(pool, t)) == -1) {
        int err = errno;
        t->proc = NULL;
        fp_proc_free(pr);
        fp_spawn_failed(t, err, step);
        return;
    }
    t->state = FORKPOOL_RUNNING;
    pool->nrunning++;
    pool->nbusy++;
    int64_t now = fp_now();
    pr->started = now;
    if (t->timeout_ms)
        pr->deadline = fp_after(now, t->timeout_ms);
    if (pr->fd[FP_FD_EXIT] < 0) {
        /* Fallback: poll from 1 ms, doubling (fp_poll_exit). */
        pr->check_step = 1000000;
        pr->check_at = now + pr->check_step;
    }
    fp_watch(pool, pr, now);
}

/*
 * Takes the head of the queue off it and starts it in a child of its own,
 * if a concurrency slot is free (a worker pool's programs come here too).
 * 1 if it did, 0 if no slot was free.
 */
int fp_start_next(forkpool *pool)
{
    if (pool->nbusy >= pool->opts.concurrency)
        return 0;
    forkpool_task *t = pool->q_head;
    fp_queue_remove(pool, t);
    fp_start(t);
    return 1;
}

/* Starts queued tasks while slots are free. */
void fp_fill(forkpool *pool)
{
    if (pool->opts.mode == FORKPOOL_INLINE)
        return;
    if (pool->opts.mode == FORKPOOL_WORKERS) {
        fp_workers_fill(pool);
        return;
    }
    while (pool->q_head && fp_start_next(pool))
        ;
}

/* ---- ending ---- */

/*
 * t's child died of a signal we did not send as a timeout or cancel. Names
 * the program for an exec task, and the limit when it was max_cpu_ms
 * (SIGXCPU, or the SIGKILL that backs it up) or may have been max_memory.
 */
void fp_fail_signaled(forkpool_task *t, const fp_proc *pr, int status)
{
    const forkpool_options *o = &t->pool->opts;
    int sig = WTERMSIG(status);
    char who[96];
    if (t->exec)
        snprintf(who, sizeof who, "'%s'", fp_exec_name(t));
    else
        snprintf(who, sizeof who, "task");
    if (o->max_cpu_ms && (sig == SIGXCPU || (sig == SIGKILL && pr->cpu_ms >= o->max_cpu_ms)))
        fp_task_fail(t, FORKPOOL_ERR_SIGNALED, sig, NULL,
                     "%s used %ld ms of CPU, over max_cpu_ms (%ld ms), and was killed (%s)", who,
                     pr->cpu_ms, o->max_cpu_ms, strsignal(sig));
    else
        fp_task_fail(t, FORKPOOL_ERR_SIGNALED, sig, NULL, "%s killed by signal %d (%s)%s%s",
                     who, sig, strsignal(sig), WCOREDUMP(status) ? ", core dumped" : "",
                     o->max_memory ? " (max_memory is in force: allocations past it fail, "
                                     "which a task may not expect)"
                                   : "");
}

/*
 * Decides how t ended, from what it sent and how its child exited
 * (known: status is a wait status; else it was reaped by someone else, or
 * the task ran inline).
 */
void fp_settle(forkpool_task *t, int known, int status)
{
    forkpool *pool = t->pool;
    forkpool_stats *st = &pool->stats;
    t->state = FORKPOOL_FAILED;
    if (t->flags & (FP_T_ABORTED | FP_T_UNSET)) {
        st->failed++;
    } else if (t->flags & FP_T_CANCELLED) {
        fp_task_fail(t, FORKPOOL_ERR_CANCELLED, 0, NULL, "task cancelled while running");
        st->cancelled++;
    } else if (t->flags & FP_T_TIMED_OUT) {
        fp_task_fail(t, FORKPOOL_ERR_TIMEOUT, 0, NULL,
                     "task ran past its %ld ms limit and was killed", t->timeout_ms);
        st->timed_out++;
    } else if (known && WIFSIGNALED(status) && !fp_result_handed_over(t, status)) {
        fp_fail_signaled(t, t->proc, status);
        st->failed++;
    } else if (t->exec) {
        fp_exec_settle(t, known, status);
        return;
    } else if (t->proc && !fp_decoder_idle(&t->proc->dec)) {
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
    if (t->state == FORKPOOL_SUCCEEDED) {
        fp_task_clear_err(t);
    } else {
        fp_result_free(t);
    }
}

/* t's own child is gone: release its slot and fds, start the next task. */
void fp_task_finished(forkpool_task *t)
{
    forkpool *pool = t->pool;
    fp_proc_retire(pool, t->proc);
    t->proc = NULL;
    pool->nrunning--;
    pool->nbusy--;
    fp_dispatch_push(t);
    fp_fill(pool);
}

/* ---- reading ---- */

/*
 * One frame from the child running t. 0, or -1 when t must be killed (its
 * error is set). END sets t->end_rc; a FRESH child's exit settles t, a
 * worker's END frame does (workers.c reads END itself).
 */
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
    case FP_FRAME_SPAWN: {
        int err, step;
        fp_wire_parse_spawn(payload, &err, &step);
        free(payload);
        fp_task_fail(t, FORKPOOL_ERR_SPAWN, err, NULL, "cannot start the task's %s: %s failed: %s",
                     t->proc->w ? "worker" : "child", fp_launch_step_name(step),
                     strerror(err));
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

static int fp_on_frame(void *ud, unsigned type, unsigned char *payload, size_t len)
{
    fp_proc *pr = ud;
    return fp_task_frame(pr->task, type, payload, len);
}

/*
 * pr's channel failed (kind and message say how): its task fails and it is
 * killed; a worker with no task is killed alone.
 */
static void fp_chan_fail(forkpool *pool, fp_proc *pr, int kind, const char *msg)
{
    if (pr->task) {
        if (kind)
            fp_task_fail(pr->task, (forkpool_error_kind)kind, 0, NULL, "%s", msg);
        fp_task_abort(pr->task);
        return;
    }
    fp_kill_group(pr, SIGKILL);
    fp_proc_close(pool, pr, FP_FD_OUT);
    fp_check_soon(pr);
}

/*
 * Reads what pr's child sent, up to budget bytes (so one chatty task cannot
 * starve the rest). Large payloads are read straight into their buffer.
 */
void fp_proc_read(forkpool *pool, fp_proc *pr, size_t budget)
{
    if (!pr->w && pr->task->exec) {
        fp_exec_read(pr->task, FP_FD_OUT, budget);
        return;
    }
    fp_frame_fn on_frame = pr->w ? fp_worker_frame : fp_on_frame;
    while (pr->fd[FP_FD_OUT] >= 0 && budget > 0) {
        void *direct;
        size_t want = fp_decoder_direct(&pr->dec, &direct);
        int use_direct = want >= FP_READ_CHUNK;
        /* A pipe gives at most its capacity per read; asking for no more
           keeps tools that check the whole buffer per call (valgrind) linear. */
        if (want > FP_READ_MAX)
            want = FP_READ_MAX;
        if (!use_direct) {
            direct = pool->stage;
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
            fp_chan_fail(pool, pr, FORKPOOL_ERR_PROTOCOL, msg);
            return;
        }
        if (n == 0) {
            fp_proc_close(pool, pr, FP_FD_OUT);
            fp_check_soon(pr);
            return;
        }
        budget -= (size_t)n < budget ? (size_t)n : budget;
        int r = use_direct ? fp_decoder_direct_done(&pr->dec, (size_t)n, on_frame, pr)
                           : fp_decoder_feed(&pr->dec, pool->stage, (size_t)n, on_frame, pr);
        if (r == -1) {
            fp_chan_fail(pool, pr, pr->dec.error, pr->dec.message);
            return;
        }
    }
}

/*
 * If t's child has exited (exited: known to have): read what it left while
 * it is still an unreaped zombie (so a kill for bad data cannot reach a
 * reused pid), reap it, settle t.
 */
static void fp_check_exit(forkpool_task *t, int exited)
{
    int status = 0;
    if (!exited && fp_proc_probe(t->proc) == 0)
        return;
    /* Everything the child wrote is in the pipe now; a pipe holds at most
       its capacity, so this ends even if a stray descendant keeps writing. */
    fp_proc_read(t->pool, t->proc, FP_READ_BUDGET);
    if (t->exec && t->proc->fd[FP_FD_ERR] >= 0)
        fp_exec_read(t, FP_FD_ERR, FP_READ_BUDGET);
    int known = fp_proc_reap(t->proc, &status);
    fp_settle(t, known, status);
    fp_task_finished(t);
}

/* Fallback exit detection: the next poll, at doubling intervals from
   100 us, capped. */
void fp_poll_step(fp_proc *pr, int64_t now)
{
    pr->check_step = pr->check_step ? pr->check_step * 2 : 100000;
    if (pr->check_step > FP_FALLBACK_POLL_NS)
        pr->check_step = FP_FALLBACK_POLL_NS;
    pr->check_at = now + pr->check_step;
}

/* Deadlines, kills and polls due for a task's own child. */
static void fp_task_timers(forkpool_task *t, int64_t now)
{
    fp_proc *pr = t->proc;
    if (pr->check_at && now >= pr->check_at) {
        fp_poll_step(pr, now);
        fp_check_exit(t, 0);
        if (!t->proc)
            return;
    }
    if (pr->deadline && now >= pr->deadline) {
        /* It may have ended in time, with its exit not yet seen. */
        fp_check_exit(t, 0);
        if (!t->proc)
            return;
        t->flags |= FP_T_TIMED_OUT;
        fp_begin_kill(pr, now);
    }
    if (pr->kill_at && now >= pr->kill_at) {
        fp_kill_group(pr, SIGKILL);
        pr->kill_at = 0;
    }
}

/* Acts on deadlines, kills and polls that are due. */
static void fp_run_timers(forkpool *pool)
{
    int64_t now = fp_now();
    /* Backwards: a process that ends swaps the last one into its slot, and
       new ones are added at the end. */
    for (unsigned i = pool->nprocs; i-- > 0;) {
        if (i >= pool->nprocs)
            continue;
        fp_proc *pr = pool->procs[i];
        if (pr->w)
            fp_worker_timers(pr, now);
        else
            fp_task_timers(pr->task, now);
    }
}

/*
 * A process that ended: off the list (its fds closed), and freed when the
 * current batch of events is done, since later events of the batch may
 * still name it.
 */
void fp_proc_retire(forkpool *pool, fp_proc *pr)
{
    for (int k = 0; k < FP_NFDS; k++)
        if (pr->fd[k] >= 0)
            epoll_ctl(pool->epfd, EPOLL_CTL_DEL, pr->fd[k], NULL);
    fp_proc_release(pool, pr);
    pr->dead = 1;
    pr->next_dead = pool->graveyard;
    pool->graveyard = pr;
}

static void fp_bury(forkpool *pool)
{
    while (pool->graveyard) {
        fp_proc *pr = pool->graveyard;
        pool->graveyard = pr->next_dead;
        if (pr->w)
            fp_worker_free(pr);
        fp_proc_free(pr);
    }
}

static void fp_handle_event(forkpool *pool, uint64_t data)
{
    fp_proc *pr = (fp_proc *)(uintptr_t)(data & ~FP_EV_MASK);
    int kind = (int)(data & FP_EV_MASK);
    uint64_t ticks;
    if (!pr) {
        if (kind == FP_EV_TIMER) {
            /* Only clears readiness; fp_run_timers acts on what is due. */
            if (read(pool->timerfd, &ticks, sizeof ticks) == (ssize_t)sizeof ticks ||
                errno == EAGAIN)
                pool->timer_at = 0;
        } else {
            fp_unwake(pool);
        }
        return;
    }
    if (pr->dead) /* it ended earlier in this batch */
        return;
    if (pr->w) {
        fp_worker_event(pr, kind);
        return;
    }
    forkpool_task *t = pr->task;
    switch (kind) {
    case FP_FD_OUT:
        fp_proc_read(pool, pr, FP_READ_BUDGET);
        break;
    case FP_FD_EXIT:
        fp_check_exit(t, 1);
        break;
    case FP_FD_ERR:
        fp_exec_read(t, FP_FD_ERR, FP_READ_BUDGET);
        break;
    default:
        fp_exec_write_input(t);
        break;
    }
}

/* INLINE: run the next queued task in this process. */
static void fp_inline_step(forkpool *pool)
{
    forkpool_task *t = pool->q_head;
    if (!t)
        return;
    fp_queue_remove(pool, t);
    t->state = FORKPOOL_RUNNING;
    t->pid = getpid();
    pool->inline_task = t;
    fp_run_inline(t);
    pool->inline_task = NULL;
    fp_settle(t, 0, 0);
    fp_dispatch_push(t);
}

/*
 * One turn of the loop: due handlers, then wait up to timeout_ms for events,
 * act on them, then the handlers they made due. -1 + errno only if epoll
 * fails; EINTR is a turn with no events.
 */
int fp_step(forkpool *pool, int timeout_ms)
{
    struct epoll_event ev[FP_EV_BATCH];
    if (pool->wake_pending)
        fp_unwake(pool);
    fp_dispatch(pool);
    if (pool->doomed)
        return 0;
    if (pool->opts.mode == FORKPOOL_INLINE) {
        fp_inline_step(pool);
        fp_dispatch(pool);
        if (pool->q_head)
            fp_wake(pool);
        return 0;
    }
    if (!pool->nqueued && !pool->nrunning)
        return 0;
    if (pool->opts.mode == FORKPOOL_WORKERS)
        fp_fill(pool); /* sends what was queued outside the loop */
    int n = epoll_wait(pool->epfd, ev, FP_EV_BATCH, timeout_ms);
    if (n == -1) {
        if (errno != EINTR)
            return -1;
        n = 0;
    }
    for (int i = 0; i < n; i++)
        fp_handle_event(pool, ev[i].data.u64);
    fp_run_timers(pool);
    fp_bury(pool);
    fp_arm_timer(pool);
    fp_dispatch(pool);
    return 0;
}

/* ---- the public pool API ---- */

static void fp_pool_close_fds(forkpool *pool)
{
    const int fds[3] = {pool->epfd, pool->timerfd, pool->eventfd};
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pool->epfd = pool->timerfd = pool->eventfd = -1;
}

static int fp_pool_open_fds(forkpool *pool)
{
    pool->epfd = fp_fd_high(epoll_create1(EPOLL_CLOEXEC));
    pool->timerfd = fp_fd_high(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    pool->eventfd = fp_fd_high(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (pool->epfd < 0 || pool->timerfd < 0 || pool->eventfd < 0 ||
        fp_epoll_add(pool, pool->timerfd, FP_EV_TIMER, EPOLLIN) == -1 ||
        fp_epoll_add(pool, pool->eventfd, FP_EV_WAKE, EPOLLIN) == -1)
        return -1;
    return 0;
}

/* FORKPOOL_NO_PIDFD set, non-empty and not "0": use the fallback. */
static int fp_env_no_pidfd(void)
{
    const char *no = getenv("FORKPOOL_NO_PIDFD");
    return no && *no && strcmp(no, "0") != 0;
}

static void fp_pool_free(forkpool *pool);

static int fp_check_options(const forkpool_options *o)
{
    if (o->timeout_ms < 0 || o->kill_grace_ms < 0 || o->max_cpu_ms < 0 ||
        (o->mode != FORKPOOL_FRESH && o->mode != FORKPOOL_WORKERS &&
         o->mode != FORKPOOL_INLINE) ||
        (o->fork_server && o->mode == FORKPOOL_INLINE)) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

forkpool *forkpool_create(const forkpool_options *opts)
{
    forkpool_options o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    if (fp_check_options(&o) == -1)
        return NULL;
    if (!o.concurrency) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.concurrency = n > 0 ? (unsigned)n : 1;
    }
    if (!o.kill_grace_ms)
        o.kill_grace_ms = 200;
    /* All under the registry lock: no other thread's fork may copy an fd
       it cannot know to close, or a pool no list reaches (which a leak
       checker in that child would call lost). */
    fp_registry_lock();
    forkpool *pool = calloc(1, sizeof *pool);
    int err = ENOMEM;
    if (pool) {
        pool->opts = o;
        pool->epfd = pool->timerfd = pool->eventfd = -1;
        pool->srv_fd = pool->srv_blob_fd = -1;
        pool->no_pidfd = fp_env_no_pidfd();
        pool->self = getpid();
        if (fp_pool_open_fds(pool) == 0) {
            fp_registry_add(pool);
        } else {
            err = errno;
            fp_pool_close_fds(pool);
            free(pool);
            pool = NULL;
        }
    }
    fp_registry_unlock();
    if (pool && o.fork_server && fp_server_start(pool) == -1) {
        err = errno;
        fp_pool_free(pool);
        pool = NULL;
    }
    if (!pool) {
        errno = err;
        return NULL;
    }
    if (o.mode == FORKPOOL_INLINE && o.child_init)
        o.child_init(o.child_init_arg);
    return pool;
}

/* Kills and reaps every child, frees every task, closes every fd. */
static void fp_pool_free(forkpool *pool)
{
    while (pool->nprocs) {
        fp_proc *pr = pool->procs[pool->nprocs - 1];
        fp_reap_now(pr);
        fp_proc_release(pool, pr);
        if (pr->w)
            fp_worker_free(pr);
        else
            pr->task->proc = NULL;
        fp_proc_free(pr);
    }
    fp_bury(pool);
    while (pool->all)
        fp_task_free(pool->all);
    fp_server_stop(pool);
    fp_registry_lock(); /* see forkpool_create */
    if (!pool->foreign)
        fp_registry_remove(pool);
    fp_pool_close_fds(pool);
    free(pool->procs);
    free(pool);
    fp_registry_unlock();
}

void forkpool_destroy(forkpool *pool)
{
    if (!pool)
        return;
    if (pool->depth) {
        pool->doomed = 1;
        forkpool_stop(pool);
        return;
    }
    fp_pool_free(pool);
}

/* Makes a task (a function, or a program when exec is set, which it then
   owns) and queues it; starts it if a slot is free. */
forkpool_task *fp_task_new(forkpool *pool, forkpool_fn fn, const void *arg, size_t len,
                           fp_exec *exec)
{
    if (pool->doomed || pool->foreign) {
        errno = EINVAL;
        return NULL;
    }
    if (len > SIZE_MAX - sizeof(forkpool_task)) {
        errno = ENOMEM;
        return NULL;
    }
    forkpool_task *t = calloc(1, sizeof *t + len);
    if (!t)
        return NULL;
    t->pool = pool;
    t->fn = fn;
    t->exec = exec;
    t->state = FORKPOOL_QUEUED;
    t->timeout_ms = pool->opts.timeout_ms;
    t->arg_len = len;
    if (len)
        memcpy(t->arg, arg, len);
    t->all_next = pool->all;
    if (pool->all)
        pool->all->all_prev = t;
    pool->all = t;
    fp_queue_push(pool, t);
    if (pool->opts.mode == FORKPOOL_INLINE) {
        if (!pool->depth)
            fp_wake(pool);
    } else {
        fp_fill(pool);
        fp_arm_timer(pool);
    }
    return t;
}

forkpool_task *forkpool_run(forkpool *pool, forkpool_fn fn, const void *arg, size_t len)
{
    if (!pool || !fn || (!arg && len)) {
        errno = EINVAL;
        return NULL;
    }
    return fp_task_new(pool, fn, arg, len, NULL);
}

forkpool_task *forkpool_set_timeout(forkpool_task *t, long ms)
{
    if (!t || ms < 0) {
        errno = EINVAL;
        return NULL;
    }
    t->timeout_ms = ms;
    /* A worker's task that has not come up yet gets its deadline then. */
    if (t->proc && t->proc->task == t && !(t->flags & FP_T_KILLING)) {
        t->proc->deadline = ms ? fp_after(t->proc->started, ms) : 0;
        fp_arm_timer(t->pool);
    }
    return t;
}

int forkpool_cancel(forkpool_task *t)
{
    if (!t) {
        errno = EINVAL;
        return -1;
    }
    forkpool *pool = t->pool;
    if (pool->foreign) {
        errno = EINVAL;
        return -1;
    }
    if (fp_task_settled(t) || (t->flags & (FP_T_CANCELLED | FP_T_KILLING))) {
        errno = EALREADY;
        return -1;
    }
    if (t->state == FORKPOOL_RUNNING && !t->proc) {
        errno = EBUSY; /* INLINE: it runs on our own stack */
        return -1;
    }
    /* From here on the flag is what settles it CANCELLED, however it ends. */
    t->flags |= FP_T_CANCELLED;
    if (t->state == FORKPOOL_QUEUED) {
        fp_queue_remove(pool, t);
        fp_task_fail(t, FORKPOOL_ERR_CANCELLED, 0, NULL, "task cancelled before it started");
        t->state = FORKPOOL_FAILED;
        pool->stats.cancelled++;
        fp_dispatch_push(t);
        return 0;
    }
    if (t->proc->w)
        return fp_worker_cancel(t);
    fp_begin_kill(t->proc, fp_now());
    fp_arm_timer(pool);
    return 0;
}

void forkpool_stop(forkpool *pool)
{
    if (!pool || pool->foreign)
        return;
    pool->stops++;
    while (pool->q_head)
        forkpool_cancel(pool->q_head);
    /* Cancelling a worker's task may send its other tasks back to the
       queue: go on until nothing is left to cancel. */
    for (int again = 1; again;) {
        again = 0;
        for (unsigned i = 0; i < pool->nprocs; i++) {
            fp_proc *pr = pool->procs[i];
            forkpool_task *t = pr->w ? fp_worker_last(pr) : pr->task;
            if (t && !(t->flags & (FP_T_CANCELLED | FP_T_KILLING)) &&
                forkpool_cancel(t) == 0)
                again = 1;
        }
        while (pool->q_head) {
            forkpool_cancel(pool->q_head);
            again = 1;
        }
    }
}

/* Common entry of await/wait/poll (and forkpool_map). */
int fp_enter(forkpool *pool)
{
    if (!pool || pool->foreign) {
        errno = EINVAL;
        return -1;
    }
    if (pool->in_handler || pool->depth) {
        errno = EDEADLK;
        return -1;
    }
    pool->depth++;
    return 0;
}

/* Common exit: frees a pool a handler destroyed. */
int fp_leave(forkpool *pool, int rc)
{
    pool->depth--;
    if (pool->doomed) {
        fp_pool_free(pool);
        errno = ECANCELED;
        return -1;
    }
    return rc;
}

int forkpool_await(forkpool *pool)
{
    int rc = 0;
    if (fp_enter(pool) == -1)
        return -1;
    while (!pool->doomed && (pool->nqueued || pool->nrunning || pool->d_head))
        if (fp_step(pool, -1) == -1) {
            rc = -1;
            break;
        }
    if (rc == 0 && !pool->doomed) {
        rc = pool->unhandled;
        pool->unhandled = 0;
    }
    return fp_leave(pool, rc);
}

static int fp_task_done(const forkpool_task *t)
{
    return fp_task_settled(t) && !(t->flags & FP_T_IN_DISPATCH) &&
           t->next_handler == t->nhandlers;
}

int forkpool_wait(forkpool_task *t)
{
    int rc = 0;
    if (!t) {
        errno = EINVAL;
        return -1;
    }
    forkpool *pool = t->pool;
    if (fp_enter(pool) == -1)
        return -1;
    t->pins++;
    while (!pool->doomed && !fp_task_done(t))
        if (fp_step(pool, -1) == -1) {
            rc = -1;
            break;
        }
    t->pins--;
    if (rc == 0 && !pool->doomed) {
        rc = t->state == FORKPOOL_SUCCEEDED ? 0 : 1;
        fp_task_maybe_free(t);
    }
    return fp_leave(pool, rc);
}

int forkpool_poll(forkpool *pool, int timeout_ms)
{
    if (fp_enter(pool) == -1)
        return -1;
    int rc = fp_step(pool, timeout_ms);
    if (rc == 0)
        rc = (int)(pool->nqueued + pool->nrunning);
    return fp_leave(pool, rc);
}

int forkpool_fd(const forkpool *pool)
{
    if (!pool) {
        errno = EINVAL;
        return -1;
    }
    return pool->epfd;
}

forkpool_stats forkpool_get_stats(const forkpool *pool)
{
    forkpool_stats s;
    memset(&s, 0, sizeof s);
    if (!pool)
        return s;
    s = pool->stats;
    /* A worker's tasks behind its current one count as queued. */
    s.queued = pool->nqueued + (pool->nrunning - pool->nbusy);
    s.running = pool->nbusy + (pool->inline_task != NULL);
    return s;
}
