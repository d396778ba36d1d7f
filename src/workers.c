/*
 * WORKERS mode, the parent's side (worker.h says what the parent and a
 * worker share): forking workers, handing them tasks (up to
 * FP_WORKER_DEPTH in flight each, requests gathered and sent once per loop
 * turn), stealing for idle workers, and a worker's end. A worker is a kind
 * of process (worker_ops) of the process layer.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "channel.h"
#include "clock.h"
#include "fresh.h"
#include "launch.h"
#include "pool.h"
#include "server.h"
#include "task.h"
#include "wire.h"
#include "worker.h"
#include "workers.h"

typedef struct fp_worker {
    forkpool *pool;
    fp_ring *ring;         /* shared with the worker process           */
    fp_list held;          /* in flight (task.run), oldest first: the
                              first is its current task, pr->task       */
    unsigned inflight;
    uint32_t seq;          /* the next task's sequence number           */
    unsigned sent;         /* tasks sent, for max_tasks_per_worker      */
    int ran;               /* it finished a task: it got past child_init */
    int retiring;          /* takes no more tasks (max reached, dying)  */
    fp_buf out;            /* request bytes: [out_off, out.len) not sent */
    size_t out_off;
    int blocked;           /* its request pipe is full: watched for EPOLLOUT  */
    fp_rusage used;        /* CPU time its tasks' ENDs reported, summed */
    int urgent;            /* it is idle until its pending bytes go     */
    int broken;            /* its ring was found corrupt: read no more  */
    int attends;           /* the value last stored in ring->attends    */
} fp_worker;

static fp_worker *worker_of(const fp_proc *pr)
{
    return pr->kind;
}

static void worker_entry(void *arg, int chan, int req)
{
    fp_worker *w = arg;
    fp_worker_main(w->pool, w->ring, req, chan);
}

/* ------------------------------------------------------------- the parent */

/* The ring, in a memfd (*fd) so that a worker forked from the fork server
   can map it too. NULL + errno on failure. */
static fp_ring *ring_new(int *fd)
{
    void *p = MAP_FAILED;
    *fd = memfd_create("forkpool-ring", MFD_CLOEXEC);
    if (*fd >= 0 && ftruncate(*fd, sizeof(fp_ring)) == 0)
        p = mmap(NULL, sizeof(fp_ring), PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        fp_close_if(*fd);
        *fd = -1;
        errno = err;
        return NULL;
    }
    return p;
}

/* A worker forked from the fork server: fds are {channel, request pipe,
   the ring's memfd}. */
static void srv_worker_entry(forkpool *pool, const void *blob, size_t len, const int *fds,
                                int nfds)
{
    (void)blob;
    (void)len;
    if (nfds < 3)
        _exit(127);
    void *ring = mmap(NULL, sizeof(fp_ring), PROT_READ | PROT_WRITE, MAP_SHARED, fds[2], 0);
    close(fds[2]);
    if (ring == MAP_FAILED)
        fp_setup_fail(fds[0], errno, FP_STEP_ALLOC);
    fp_worker_main(pool, ring, fds[1], fds[0]);
}

static const fp_proc_ops worker_ops;

/* The ops' destroy: frees the worker's state; the tasks it held (if the
   pool is going) forget it. */
static void worker_free(fp_proc *pr)
{
    fp_worker *w = worker_of(pr);
    if (!w)
        return;
    FP_LIST_FOR(n, &w->held)
        FP_LIST_ITEM(n, forkpool_task, run)->proc = NULL;
    if (w->ring)
        munmap(w->ring, sizeof *w->ring);
    fp_buf_free(&w->out);
    free(w);
    pr->kind = NULL;
}

/* Request bytes wait to be sent (appended, not yet taken by the pipe). */
static int worker_pending(const fp_worker *w)
{
    return w->out_off < w->out.len;
}

/* The worker takes no more tasks (a new one may take its place), and ends
   once it has none left. */
static void worker_retire(forkpool *pool, fp_proc *pr)
{
    fp_worker *w = worker_of(pr);
    if (w->retiring)
        return;
    w->retiring = 1;
    pool->nworkers--;
    if (!w->inflight && !worker_pending(w))
        fp_proc_close(pr, FP_FD_IN); /* EOF: it exits */
}

/* Forks a new worker. NULL + errno if it cannot be made. */
static fp_proc *worker_spawn(forkpool *pool)
{
    fp_proc *pr = fp_proc_new(&pool->procs, pool, &worker_ops, pool->opts.max_output);
    fp_worker *w = calloc(1, sizeof *w);
    int ring_fd = -1;
    if (!pr || !w) {
        free(w);
        if (pr)
            fp_proc_free(pr);
        errno = ENOMEM;
        return NULL;
    }
    w->pool = pool;
    fp_list_init(&w->held);
    pr->kind = w;
    w->ring = ring_new(&ring_fd);
    /* A mark no task writes by chance (worker.h); from the clock if
       getrandom fails, which still no task can guess by chance. */
    if (w->ring && getrandom(w->ring->err_mark, FP_ERR_MARK, GRND_NONBLOCK) != FP_ERR_MARK) {
        int64_t now = fp_now();
        memcpy(w->ring->err_mark, &now, sizeof now);
        uintptr_t self = (uintptr_t)w;
        memcpy(w->ring->err_mark + sizeof now, &self, sizeof self);
    }
    int rc = !w->ring ? -1
             : pool->opts.fork_server
                 ? fp_server_proc(pool, pr, 1, srv_worker_entry, NULL, 0, ring_fd)
                 : fp_chan_fork(pool, pr, 1, worker_entry, w);
    int err = errno;
    fp_close_if(ring_fd);
    if (rc == -1) {
        worker_free(pr);
        fp_proc_free(pr);
        errno = err;
        return NULL;
    }
    pool->nworkers++;
    /* The request pipe is watched only while bytes wait for it. */
    if (fp_proc_watch(pr, 0, fp_now()) == -1) {
        /* Unwatched, its end would never be seen: it is killed, and its
           exit polled. */
        err = errno;
        worker_retire(pool, pr);
        errno = err;
        return NULL;
    }
    return pr;
}

/* pr's current task is t from now (NULL: it is idle); t's clock starts. */
static void worker_head(fp_proc *pr, forkpool_task *t)
{
    pr->task = t;
    pr->deadline = 0;
    if (t) {
        pr->started = fp_now();
        if (t->timeout_ms)
            pr->deadline = fp_after(pr->started, t->timeout_ms);
    }
}

/*
 * Sends the worker's pending request bytes, as far as its request pipe
 * takes them; if it is full, the rest goes when it drains (EPOLLOUT).
 * Requests are gathered in one buffer and sent once per turn of the loop,
 * so a worker's share of a burst of tasks costs one system call.
 * A pipe, not a socket: a round trip through a pipe costs less (issue #13,
 * one at a time on one CPU: 3.15 against 3.82 µs; BENCHMARKS.md). The
 * parent holds the pipe's read end too (FP_FD_PARK), so a write to a dead
 * worker can neither raise SIGPIPE nor fail with EPIPE: the pipe fills
 * (EAGAIN, and no EPOLLOUT ever comes) and the worker's exit settles it.
 */
static void worker_flush(forkpool *pool, fp_proc *pr)
{
    fp_worker *w = worker_of(pr);
    while (worker_pending(w)) {
        ssize_t n = write(pr->fd[FP_FD_IN], w->out.p + w->out_off, w->out.len - w->out_off);
        if (n > 0) {
            w->out_off += (size_t)n;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno == EAGAIN) {
            if (!w->blocked && fp_proc_watch_fd(pr, FP_FD_IN) == 0)
                w->blocked = 1;
            if (w->blocked)
                return;
        }
        /* Its pipe broken or unwatchable: the current task fails SPAWN
           with the errno, the worker is killed, its other tasks go
           elsewhere. */
        if (pr->task) {
            fp_task_fail(pr->task, FORKPOOL_ERR_SPAWN, errno, NULL,
                         "cannot send the task to its worker: %s", strerror(errno));
            fp_task_abort(pr->task);
        } else {
            fp_kill_group(pr, SIGKILL);
        }
        worker_retire(pool, pr);
        break;
    }
    w->out.len = w->out_off = 0;
    if (w->blocked) {
        epoll_ctl(pool->procs.epfd, EPOLL_CTL_DEL, pr->fd[FP_FD_IN], NULL);
        w->blocked = 0;
    }
    if (w->retiring && !w->inflight)
        fp_proc_close(pr, FP_FD_IN);
}

/* Appends t's request to the worker's pending bytes. 0, or -1 (ENOMEM). */
static int worker_queue(fp_worker *w, forkpool_task *t)
{
    unsigned char hdr[FP_WIRE_HDR + FP_CALL_HDR];
    fp_wire_header(hdr, FP_FRAME_TASK, FP_CALL_HDR + t->arg_len);
    fp_call_header(hdr + FP_WIRE_HDR, t->seq, (void (*)(void))t->fn);
    size_t was = w->out.len;
    if (fp_buf_append(&w->out, hdr, sizeof hdr) == -1 ||
        fp_buf_append(&w->out, t->arg, t->arg_len) == -1) {
        w->out.len = was;
        return -1;
    }
    return 0;
}

/* The first task pr holds, or NULL. */
static forkpool_task *worker_first(fp_proc *pr)
{
    fp_list *n = fp_list_first(&worker_of(pr)->held);
    return n ? FP_LIST_ITEM(n, forkpool_task, run) : NULL;
}

/* t leaves pr's in-flight list. */
static void worker_unlink(forkpool *pool, fp_proc *pr, forkpool_task *t)
{
    fp_worker *w = worker_of(pr);
    fp_list_remove(&t->run);
    if (pr->task == t)
        worker_head(pr, worker_first(pr));
    t->proc = NULL;
    pool->nrunning--;
    if (--w->inflight == 0) {
        pool->nbusy--;
        if (w->retiring && !worker_pending(w))
            fp_proc_close(pr, FP_FD_IN); /* EOF: it exits */
    }
}

/* Hands t to the worker: it runs once the tasks ahead of it are done. */
static void worker_send(forkpool *pool, fp_proc *pr, forkpool_task *t)
{
    fp_worker *w = worker_of(pr);
    t->seq = w->seq++;
    atomic_store(&w->ring->slot[t->seq % FP_RING], fp_slot(t->seq, FP_SLOT_PENDING));
    t->proc = pr;
    t->pid = pr->pid;
    t->state = FORKPOOL_RUNNING;
    fp_list_push_tail(&w->held, &t->run);
    if (!pr->task)
        worker_head(pr, t);
    if (w->inflight++ == 0) {
        pool->nbusy++;
        w->urgent = 1; /* idle: it waits for this one */
    }
    pool->nrunning++;
    w->sent++;
    if (worker_queue(w, t) == -1) {
        /* It stays in flight; the worker's exit settles it. */
        fp_kill_group(pr, SIGKILL);
        worker_retire(pool, pr);
        return;
    }
    if (pool->opts.max_tasks_per_worker && w->sent >= pool->opts.max_tasks_per_worker)
        worker_retire(pool, pr);
}

/* Takes t back from pr if it has not started there. 1 if it did. */
static int worker_revoke(forkpool *pool, fp_proc *pr, forkpool_task *t)
{
    uint32_t expect = fp_slot(t->seq, FP_SLOT_PENDING);
    if (!atomic_compare_exchange_strong(&worker_of(pr)->ring->slot[t->seq % FP_RING], &expect,
                                        fp_slot(t->seq, FP_SLOT_REVOKED)))
        return 0;
    worker_unlink(pool, pr, t);
    t->pid = 0;
    return 1;
}

/* Sends up to `most` of pr's tasks that have not started (a reaped worker:
   all of them), taken from the tail and never its current task unless it
   may go too (all), back to the head of the queue, in order. */
static void worker_requeue(forkpool *pool, fp_proc *pr, int all, unsigned most)
{
    fp_list *held = &worker_of(pr)->held;
    /* From the tail, so each goes in front of the ones after it; a dead
       worker's go whatever their slot says. */
    fp_list *n = fp_list_last(held);
    for (unsigned moved = 0; n && moved < most; moved++) {
        forkpool_task *t = FP_LIST_ITEM(n, forkpool_task, run);
        if (t == pr->task && !all)
            break;
        n = fp_list_prev(held, n);
        if (pr->gone) {
            worker_unlink(pool, pr, t);
            t->pid = 0;
        } else if (!worker_revoke(pool, pr, t)) {
            break;
        }
        fp_queue_push_front(pool, t);
    }
}

/* Starts killing pr for its current task (timeout, cancel); its other
   tasks go back to the queue at once. */
static void worker_kill(forkpool *pool, fp_proc *pr, int64_t now)
{
    worker_retire(pool, pr);
    worker_requeue(pool, pr, 0, FP_WORKER_DEPTH);
    pr->task->flags |= FP_T_KILLING;
    fp_proc_terminate(pr, now);
}

/* t, pr's current task, died with its worker, whose reap says it used
   `total` in all: t used what the tasks before it did not report. */
static void worker_died_usage(fp_proc *pr, forkpool_task *t, const fp_rusage *total)
{
    const fp_rusage *before = &worker_of(pr)->used;
    fp_rusage d = {total->user_us - before->user_us, total->sys_us - before->sys_us,
                   total->maxrss_kib};
    if (d.user_us < 0)
        d.user_us = 0;
    if (d.sys_us < 0)
        d.sys_us = 0;
    fp_task_set_usage(t, pr->started, &d);
}

static int worker_frame_one(fp_proc *pr, unsigned type, unsigned char *payload, size_t len)
{
    forkpool_task *t = pr->task;
    int32_t rc;
    if (!t) {
        free(payload);
        return -1; /* a frame for no task: fp_chan_read ends the worker */
    }
    if (type == FP_FRAME_RESULT_FD) {
        /* It cannot hold the memfd until the parent has taken it. */
        free(payload);
        fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                     "malformed frame from task: a worker sent a result fd");
        return -1;
    }
    /* A task being killed ends as the kill decides: a late END changes
       nothing (and a second END is a protocol error, as in FRESH). */
    if (type != FP_FRAME_END || (t->flags & FP_T_KILLING))
        return fp_task_frame(t, type, payload, len);
    uint64_t used[3];
    int has_usage = fp_wire_parse_end(payload, len, &rc, used);
    free(payload);
    if (has_usage) {
        fp_rusage mine = {(int64_t)used[0], (int64_t)used[1], (long)used[2]};
        fp_rusage *sum = &worker_of(pr)->used;
        sum->user_us += mine.user_us;
        sum->sys_us += mine.sys_us;
        fp_task_set_usage(t, pr->started, &mine);
    } else {
        fp_task_set_usage(t, pr->started, NULL);
    }
    worker_of(pr)->ran = 1;
    t->end_rc = rc;
    t->flags |= FP_T_GOT_END;
    fp_chan_settle(t, pr, 1, 0);
    /* It wrote its stderr and its mark before its END: in the pipe now. */
    fp_chan_end_err(pr, t, worker_of(pr)->ring->err_mark);
    worker_unlink(t->pool, pr, t);
    fp_dispatch_push(t);
    return 0;
}

/*
 * One queued END (a copy: the page is the worker's, and a task may have
 * written on it) as the frames it stands for, RESULT then END, checked as
 * the decoder checks them. 0, or -1 with the current task's failure
 * recorded (or none, if a frame handler found no task).
 */
static int done_frames(fp_proc *pr, const fp_done *d)
{
    forkpool_task *t = pr->task;
    if (d->result_len != FP_DONE_NONE) {
        size_t len = d->result_len;
        unsigned char *p = len && len <= FP_DONE_RESULT ? malloc(len) : NULL;
        if (len > FP_DONE_RESULT) {
            fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                         "malformed end from task: a result of %zu bytes in its worker's ring",
                         len);
            return -1;
        }
        if (pr->dec.max_data && len > pr->dec.max_data) {
            free(p);
            fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL,
                         "task sent %zu bytes, over max_output (%zu bytes)", len,
                         pr->dec.max_data);
            return -1;
        }
        if (len && !p) {
            fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL,
                         "cannot allocate %zu bytes for the task's output", len);
            return -1;
        }
        if (len)
            memcpy(p, d->result, len);
        if (worker_frame_one(pr, FP_FRAME_RESULT, p, len) != 0)
            return -1;
    }
    unsigned char *end = malloc(FP_WIRE_END_USAGE_LEN);
    if (!end) {
        fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL, "cannot allocate the task's end");
        return -1;
    }
    fp_wire_end_usage(end, d->rc, d->usage[0], d->usage[1], d->usage[2]);
    return worker_frame_one(pr, FP_FRAME_END, end, FP_WIRE_END_USAGE_LEN);
}

/*
 * Takes the ENDs queued in pr's ring while each belongs to pr's current
 * task (worker.h: a later one waits for the channel to bring the current
 * task's END). The number taken, or -1 if the worker is being ended for
 * what it sent.
 */
static int worker_take_done(fp_proc *pr)
{
    fp_worker *w = worker_of(pr);
    if (!w || !w->ring || w->broken)
        return 0;
    fp_ring *ring = w->ring;
    int took = 0;
    for (;;) {
        uint32_t tail = atomic_load_explicit(&ring->done_tail, memory_order_relaxed);
        uint32_t head = atomic_load(&ring->done_head);
        if (head == tail)
            return took;
        fp_done d;
        memcpy(&d, &ring->done[tail % FP_DONE], sizeof d);
        if (head - tail > FP_DONE && pr->task)
            fp_task_fail(pr->task, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                         "malformed end from task: its worker's ring holds %u ends",
                         (unsigned)(head - tail));
        else if (!pr->task || pr->task->seq != d.seq)
            return took;
        else
            atomic_store_explicit(&ring->done_tail, tail + 1, memory_order_release);
        if (head - tail > FP_DONE || done_frames(pr, &d) != 0) {
            /* As the channel ends a worker for a bad frame (chan_fail). */
            w->broken = 1;
            if (pr->task)
                fp_task_abort(pr->task);
            else
                fp_kill_group(pr, SIGKILL);
            return -1;
        }
        took++;
    }
}

/* The channel's frame callback: the ENDs queued before the frame go
   first. A WAKE frame only says there are some. */
static int worker_frame(void *ud, unsigned type, unsigned char *payload, size_t len)
{
    fp_proc *pr = ud;
    if (worker_take_done(pr) == -1) {
        free(payload);
        return -1;
    }
    if (type == FP_FRAME_WAKE) {
        free(payload);
        return 0;
    }
    return worker_frame_one(pr, type, payload, len);
}

/* What pr's worker sent: the channel's frames, then the ENDs it queued. */
static void worker_read(fp_proc *pr, size_t budget)
{
    fp_chan_read(pr, budget, worker_frame);
    (void)worker_take_done(pr);
}

static void worker_io(fp_proc *pr, int k, size_t budget)
{
    if (k == FP_FD_OUT)
        worker_read(pr, budget);
    else if (k == FP_FD_ERR)
        fp_chan_read_err(pr, budget, worker_of(pr)->ring->err_mark);
    else
        worker_flush(pr->pool, pr);
}

/*
 * pr's worker has exited, was read to the end and reaped: its current task
 * fails if it started there (or the worker died before finishing any task,
 * in child_init or its set-up, or it was being killed for it); every other
 * task it held runs elsewhere.
 */
static void worker_exited(fp_proc *pr, int known, int status)
{
    forkpool *pool = pr->pool;
    (void)worker_take_done(pr); /* the tasks it finished before it died */
    forkpool_task *t = pr->task;
    if (t) {
        uint32_t st = atomic_load(&worker_of(pr)->ring->slot[t->seq % FP_RING]);
        if (st == fp_slot(t->seq, FP_SLOT_STARTED) || !worker_of(pr)->ran ||
            (t->flags & (FP_T_KILLING | FP_T_CANCELLED | FP_T_ABORTED))) {
            worker_died_usage(pr, t, &pr->ru);
            fp_chan_settle(t, pr, known, status);
            fp_chan_end_err(pr, t, worker_of(pr)->ring->err_mark);
            worker_unlink(pool, pr, t);
            fp_dispatch_push(t);
        }
        /* The rest never started, or (behind a task being killed, whose
           END is ignored) started after it: all run again elsewhere. */
        if (pr->task)
            worker_requeue(pool, pr, 1, FP_WORKER_DEPTH);
    }
    worker_retire(pool, pr);
}

static void worker_expired(fp_proc *pr, int64_t now)
{
    /* It may have ended in time, with its END not yet read. */
    forkpool_task *t = pr->task;
    worker_read(pr, FP_READ_BUDGET);
    if (pr->task == t && pr->deadline && now >= pr->deadline) {
        t->flags |= FP_T_TIMED_OUT;
        worker_kill(pr->pool, pr, now);
    }
}

/*
 * forkpool_cancel of a task a worker holds (t->flags has FP_T_CANCELLED).
 * Not started: it fails at once and never runs. Its current task: the
 * worker is killed, as a FRESH child would be.
 */
static int worker_cancel(fp_proc *pr, forkpool_task *t)
{
    forkpool *pool = t->pool;
    if (pr->task != t) {
        if (worker_revoke(pool, pr, t)) {
            fp_cancel_unstarted(t);
            return 0;
        }
        /* It started: the END of the tasks before it is in the channel. */
        worker_read(pr, SIZE_MAX);
        if (t->proc != pr || pr->task != t)
            return 0; /* it ended (CANCELLED, by the flag) or its worker died */
    }
    worker_kill(pool, pr, fp_now());
    return 0;
}

static forkpool_task *worker_last(fp_proc *pr)
{
    fp_list *n = fp_list_last(&worker_of(pr)->held);
    return n ? FP_LIST_ITEM(n, forkpool_task, run) : NULL;
}

static const fp_proc_ops worker_ops = {
    .name = "worker",
    .io = worker_io,
    .exited = worker_exited,
    .expired = worker_expired,
    .cancel = worker_cancel,
    .last = worker_last,
    .destroy = worker_free,
};

/* pr's worker, if pr is a worker. */
static fp_worker *as_worker(const fp_proc *pr)
{
    return pr->ops == &worker_ops ? worker_of(pr) : NULL;
}

/* 1 if pr's next sequence number would take the slot of the oldest task it
   holds (a long one, with many sent behind it and taken back): it gets no
   more until that one ends. */
static int ring_full(fp_proc *pr)
{
    forkpool_task *first = worker_first(pr);
    return first && worker_of(pr)->seq - first->seq >= FP_RING;
}

/* The worker to give the next task: an idle one while slots are free,
   else a new one, else the least loaded busy one. NULL: none can take it. */
static fp_proc *worker_pick(forkpool *pool, int *spawn)
{
    fp_proc *best = NULL;
    int free_slot = pool->nbusy < pool->opts.concurrency;
    *spawn = 0;
    for (unsigned i = 0; i < pool->procs.n; i++) {
        fp_proc *pr = pool->procs.v[i];
        fp_worker *w = as_worker(pr);
        if (!w || w->retiring || w->blocked || w->inflight >= FP_WORKER_DEPTH ||
            (!w->inflight && !free_slot) || ring_full(pr))
            continue;
        if (!w->inflight)
            return pr;
        if (!best || w->inflight < worker_of(best)->inflight)
            best = pr;
    }
    if (free_slot && pool->nworkers < pool->opts.concurrency) {
        *spawn = 1;
        return NULL;
    }
    return best;
}

/* A worker that has nothing left takes up to half of the not yet started
   tasks of the busiest one, so a long task does not hold others up. */
static void workers_steal(forkpool *pool)
{
    fp_proc *busiest = NULL;
    for (unsigned i = 0; i < pool->procs.n; i++) {
        fp_proc *pr = pool->procs.v[i];
        fp_worker *w = as_worker(pr);
        if (w && w->inflight > 1 && !(pr->task->flags & FP_T_KILLING) &&
            (!busiest || w->inflight > worker_of(busiest)->inflight))
            busiest = pr;
    }
    if (busiest)
        worker_requeue(pool, busiest, 0, worker_of(busiest)->inflight / 2);
}

/* Hands queued tasks to workers while any can take one. */
static void workers_assign(forkpool *pool)
{
    int stole = 0;
    for (;;) {
        forkpool_task *t = fp_queue_head(pool);
        if (!t) {
            /* Steal once, and only for a worker that would sit idle. */
            int spawn;
            fp_proc *idle = stole ? NULL : worker_pick(pool, &spawn);
            if (!idle || worker_of(idle)->inflight)
                return;
            stole = 1;
            workers_steal(pool);
            continue;
        }
        if (t->exec) { /* a program: a process of its own, in a slot */
            if (!fp_start_own(pool, t))
                return;
            continue;
        }
        int spawn;
        fp_proc *pr = worker_pick(pool, &spawn);
        if (!pr && spawn && !(pr = worker_spawn(pool))) {
            int err = errno;
            fp_queue_remove(pool, t);
            fp_spawn_failed(t, err, "cannot start the task's child%s: %s",
                            pool->opts.fork_server ? " (through the fork server)" : "",
                            strerror(err));
            continue;
        }
        if (!pr)
            return;
        fp_queue_remove(pool, t);
        worker_send(pool, pr, t);
    }
}

/*
 * Hands queued tasks to workers, then sends each worker its share: at once
 * to an idle worker; to a busy one only from inside the event loop (the
 * next turn sends tasks queued outside it), so a burst of forkpool_run
 * calls costs a system call per worker, not per task. A busy worker has
 * work until then, as a FRESH slot waits for the loop to see its child end.
 */
void fp_workers_fill(forkpool *pool)
{
    workers_assign(pool);
    for (unsigned i = 0; i < pool->procs.n; i++) {
        fp_proc *pr = pool->procs.v[i];
        fp_worker *w = as_worker(pr);
        if (w && !w->blocked && worker_pending(w) && (pool->depth || w->urgent)) {
            w->urgent = 0;
            worker_flush(pool, pr);
        }
    }
}

void fp_workers_refresh(forkpool *pool)
{
    fp_procs *set = &pool->procs;
    for (unsigned i = 0; i < set->n; i++) {
        fp_proc *pr = set->v[i];
        if (pr->ops != &worker_ops || fp_proc_dead(pr) || worker_of(pr)->retiring)
            continue;
        worker_requeue(pool, pr, 0, FP_WORKER_DEPTH);
        worker_retire(pool, pr);
    }
}

int fp_workers_collect(forkpool *pool)
{
    int took = 0;
    for (unsigned i = 0; i < pool->procs.n; i++) {
        fp_proc *pr = pool->procs.v[i];
        fp_worker *w = as_worker(pr);
        if (w && w->inflight) {
            int k = worker_take_done(pr);
            if (k > 0)
                took += k;
        }
    }
    return took;
}

int fp_workers_attend(forkpool *pool, int on)
{
    for (unsigned i = 0; i < pool->procs.n; i++) {
        fp_worker *w = as_worker(pool->procs.v[i]);
        if (w && w->ring && w->attends != on) {
            w->attends = on;
            atomic_store(&w->ring->attends, (uint32_t)on);
        }
    }
    return on ? 0 : fp_workers_collect(pool);
}
