/*
 * WORKERS mode: long-lived worker processes, each running many tasks in
 * turn.
 *
 * Parent -> worker: a request socket carrying TASK frames (the wire header,
 * then u32 sequence number, u32 zero, the function pointer, then the
 * argument bytes); a socket so that sending to a worker that died cannot
 * raise SIGPIPE (MSG_NOSIGNAL). Worker -> parent: the channel frames of a
 * FRESH child (MESSAGE, RESULT, THROW, END), one task after the other, so a
 * frame belongs to the oldest task in flight that has not sent END: the
 * worker's current task, pr->task.
 *
 * Up to FP_WORKER_DEPTH tasks are in flight per worker, so a worker never
 * waits for the parent between tasks. A page both map has one slot per
 * sequence number (mod FP_RING): the parent marks a slot PENDING when it
 * sends the task, the worker moves it to STARTED (compare-and-swap) just
 * before running the task, and skips the task if the parent moved it to
 * REVOKED first. That is how a task that was sent but not started is
 * cancelled without running, moved to an idle worker, or sent to another
 * worker when its own dies: only a task that STARTED can be blamed for a
 * worker's death.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "launch.h"

#define FP_WORKER_DEPTH 16 /* most tasks in flight per worker           */
#define FP_RING 64        /* slots; more than FP_WORKER_DEPTH, so a slot
                             is free again long before its number recurs */
#define FP_TASK_HDR 16    /* seq, zero, function pointer                */

enum { FP_SLOT_PENDING = 1, FP_SLOT_STARTED, FP_SLOT_REVOKED };

typedef struct fp_ring {
    _Atomic uint32_t slot[FP_RING];
} fp_ring;

struct fp_worker {
    forkpool *pool;
    fp_ring *ring;         /* shared with the worker process           */
    forkpool_task *tail;   /* in flight: pr->task ... tail, by w_next   */
    unsigned inflight;
    uint32_t seq;          /* the next task's sequence number           */
    unsigned sent;         /* tasks sent, for max_tasks_per_worker      */
    int ran;               /* it finished a task: it got past child_init */
    int retiring;          /* takes no more tasks (max reached, dying)  */
    fp_buf out;            /* request bytes: [out_off, out.len) not sent */
    size_t out_off;
    int blocked;           /* its socket is full: watched for EPOLLOUT  */
    int urgent;            /* it is idle until its pending bytes go     */
};

_Static_assert(sizeof(forkpool_fn) <= 8, "a function pointer fits the TASK header");

/* ------------------------------------------------------------- the worker */

/* The worker's reader of its request socket: one read() takes as many of
   the requests in flight as have arrived. */
typedef struct fp_reader {
    int fd;
    size_t pos, end;
    unsigned char buf[64 * 1024];
} fp_reader;

/* Reads exactly n bytes into p (large ones straight from the socket). 1, 0
   at EOF before any byte, -1 on error or EOF in the middle. */
static int fp_read_full(fp_reader *r, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        if (r->pos < r->end) {
            size_t k = r->end - r->pos < n - got ? r->end - r->pos : n - got;
            memcpy((char *)p + got, r->buf + r->pos, k);
            r->pos += k;
            got += k;
            continue;
        }
        int direct = n - got >= sizeof r->buf;
        ssize_t k = read(r->fd, direct ? (char *)p + got : (char *)r->buf,
                         direct ? n - got : sizeof r->buf);
        if (k > 0 && direct) {
            got += (size_t)k;
        } else if (k > 0) {
            r->pos = 0;
            r->end = (size_t)k;
        } else if (k == 0) {
            return got ? -1 : 0;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    return 1;
}

/*
 * The worker's loop: read a task, claim its slot, run it, report its end.
 * Ends (status 0) when the parent closes the request socket; a malformed
 * request (which the parent never sends) ends it with 126.
 */
static _Noreturn void fp_worker_main(forkpool *pool, fp_ring *ring, int in, int out)
{
    unsigned char hdr[FP_WIRE_HDR];
    unsigned char *buf = NULL;
    size_t cap = 0;
    fp_cpu_timers cpu;
    static fp_reader rd;
    rd.fd = in;
    if (fp_cpu_timers_new(&cpu, pool->opts.max_cpu_ms) == -1)
        fp_setup_fail(out, errno, FP_STEP_CPU);
    if (pool->opts.child_init)
        pool->opts.child_init(pool->opts.child_init_arg);
    for (;;) {
        uint32_t magic, type, seq;
        uint64_t len;
        forkpool_fn fn;
        int r = fp_read_full(&rd, hdr, sizeof hdr);
        if (r == 0)
            fp_child_exit(0);
        memcpy(&magic, hdr, 4);
        memcpy(&type, hdr + 4, 4);
        memcpy(&len, hdr + 8, 8);
        if (r < 0 || magic != FP_WIRE_MAGIC || type != FP_FRAME_TASK || len < FP_TASK_HDR)
            fp_child_exit(126);
        if (len > cap) {
            free(buf);
            cap = len;
            buf = malloc(cap);
            if (!buf)
                fp_child_exit(126);
        }
        if (fp_read_full(&rd, buf, len) != 1)
            fp_child_exit(126);
        memcpy(&seq, buf, 4);
        memcpy(&fn, buf + 8, sizeof fn);
        uint32_t expect = FP_SLOT_PENDING;
        if (!atomic_compare_exchange_strong(&ring->slot[seq % FP_RING], &expect,
                                            FP_SLOT_STARTED))
            continue; /* revoked: it runs elsewhere, or not at all */
        fp_cpu_timers_arm(&cpu, 1);
        int sent = fp_child_call(out, fn, buf + FP_TASK_HDR, (size_t)len - FP_TASK_HDR,
                                 pool->opts.max_output, NULL);
        fp_cpu_timers_arm(&cpu, 0);
        fp_tree_end_own(); /* what the task left (the worker is a subreaper) */
        if (sent != 0)
            fp_child_exit(125);
#ifdef FP_COVERAGE
        /* make coverage: a worker is often killed, not exited; its counts
           are written after each task (and zeroed, so none count twice). */
        extern void __gcov_dump(void);
        extern void __gcov_reset(void);
        __gcov_dump();
        __gcov_reset();
#endif
    }
}

static void fp_worker_entry(void *arg, int chan, int req)
{
    fp_worker *w = arg;
    fp_worker_main(w->pool, w->ring, req, chan);
}

/* ------------------------------------------------------------- the parent */

/* The ring, in a memfd (*fd) so that a worker forked from the fork server
   can map it too. NULL + errno on failure. */
static fp_ring *fp_ring_new(int *fd)
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

/* A worker forked from the fork server: fds are {channel, request socket,
   the ring's memfd}. */
static void fp_srv_worker_entry(forkpool *pool, const void *blob, size_t len, const int *fds,
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

void fp_worker_free(fp_proc *pr)
{
    fp_worker *w = pr->w;
    for (forkpool_task *t = pr->task; t; t = t->w_next)
        t->proc = NULL;
    if (w->ring)
        munmap(w->ring, sizeof *w->ring);
    free(w->out.p);
    free(w);
    pr->w = NULL;
}

/* Request bytes wait to be sent (appended, not yet taken by the socket). */
static int fp_worker_pending(const fp_worker *w)
{
    return w->out_off < w->out.len;
}

/* The worker takes no more tasks (a new one may take its place), and ends
   once it has none left. */
static void fp_worker_retire(forkpool *pool, fp_proc *pr)
{
    fp_worker *w = pr->w;
    if (w->retiring)
        return;
    w->retiring = 1;
    pool->nworkers--;
    if (!w->inflight && !fp_worker_pending(w))
        fp_proc_close(pool, pr, FP_FD_IN); /* EOF: it exits */
}

/* Forks a new worker. NULL + errno if it cannot be made. */
static fp_proc *fp_worker_spawn(forkpool *pool)
{
    fp_proc *pr = fp_proc_new(pool);
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
    pr->w = w;
    w->ring = fp_ring_new(&ring_fd);
    int rc = !w->ring ? -1
             : pool->opts.fork_server
                 ? fp_server_proc(pool, pr, 1, fp_srv_worker_entry, NULL, 0, ring_fd)
                 : fp_fork(pool, pr, 1, fp_worker_entry, w);
    int err = errno;
    fp_close_if(ring_fd);
    if (rc == -1) {
        fp_worker_free(pr);
        fp_proc_free(pr);
        errno = err;
        return NULL;
    }
    pool->nworkers++;
    if (pr->fd[FP_FD_EXIT] < 0)
        fp_poll_step(pr, fp_now());
    /* The request socket is watched only while bytes wait for it. */
    const int kinds[2] = {FP_FD_OUT, FP_FD_EXIT};
    for (int i = 0; i < 2; i++) {
        int fd = pr->fd[kinds[i]];
        if (fd >= 0 &&
            fp_epoll_add(pool, fd, (uint64_t)(uintptr_t)pr | (uint64_t)kinds[i], EPOLLIN) == -1) {
            /* Unwatched, its end would never be seen: end it now. */
            int err = errno;
            fp_reap_now(pr);
            fp_worker_retire(pool, pr);
            fp_proc_retire(pool, pr);
            errno = err;
            return NULL;
        }
    }
    return pr;
}

/* pr's current task is t from now (NULL: it is idle); t's clock starts. */
static void fp_worker_head(fp_proc *pr, forkpool_task *t)
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
 * Sends the worker's pending request bytes, as far as its socket takes
 * them; if it is full, the rest goes when it drains (EPOLLOUT). Requests
 * are gathered in one buffer and sent once per turn of the loop, so a
 * worker's share of a burst of tasks costs one system call.
 */
static void fp_worker_flush(forkpool *pool, fp_proc *pr)
{
    fp_worker *w = pr->w;
    while (fp_worker_pending(w)) {
        ssize_t n = send(pr->fd[FP_FD_IN], w->out.p + w->out_off, w->out.len - w->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            w->out_off += (size_t)n;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno == EAGAIN) {
            if (!w->blocked &&
                fp_epoll_add(pool, pr->fd[FP_FD_IN], (uint64_t)(uintptr_t)pr | FP_FD_IN,
                             EPOLLOUT) == 0)
                w->blocked = 1;
            if (w->blocked)
                return;
        }
        /* Gone (EPIPE, ECONNRESET): its exit settles its tasks. Its
           socket broken or unwatchable: the current task fails SPAWN with
           the errno, the worker is killed, its other tasks go elsewhere. */
        if (errno != EPIPE && errno != ECONNRESET && pr->task) {
            fp_task_fail(pr->task, FORKPOOL_ERR_SPAWN, errno, NULL,
                         "cannot send the task to its worker: %s", strerror(errno));
            fp_task_abort(pr->task);
        } else {
            fp_kill_group(pr, SIGKILL);
        }
        fp_worker_retire(pool, pr);
        break;
    }
    w->out.len = w->out_off = 0;
    if (w->blocked) {
        epoll_ctl(pool->epfd, EPOLL_CTL_DEL, pr->fd[FP_FD_IN], NULL);
        w->blocked = 0;
    }
    if (w->retiring && !w->inflight)
        fp_proc_close(pool, pr, FP_FD_IN);
}

/* Appends t's request to the worker's pending bytes. 0, or -1 (ENOMEM). */
static int fp_worker_queue(fp_worker *w, forkpool_task *t)
{
    unsigned char hdr[FP_WIRE_HDR + FP_TASK_HDR];
    fp_wire_header(hdr, FP_FRAME_TASK, FP_TASK_HDR + t->arg_len);
    memset(hdr + FP_WIRE_HDR, 0, FP_TASK_HDR);
    memcpy(hdr + FP_WIRE_HDR, &t->seq, 4);
    memcpy(hdr + FP_WIRE_HDR + 8, &t->fn, sizeof t->fn);
    size_t was = w->out.len;
    if (fp_buf_append(&w->out, hdr, sizeof hdr) == -1 ||
        fp_buf_append(&w->out, t->arg, t->arg_len) == -1) {
        w->out.len = was;
        return -1;
    }
    return 0;
}

/* t leaves pr's in-flight list (prev: the task before it, or NULL). */
static void fp_worker_unlink(forkpool *pool, fp_proc *pr, forkpool_task *t, forkpool_task *prev)
{
    fp_worker *w = pr->w;
    if (prev)
        prev->w_next = t->w_next;
    else
        fp_worker_head(pr, t->w_next);
    if (w->tail == t)
        w->tail = prev;
    t->w_next = NULL;
    t->proc = NULL;
    pool->nrunning--;
    if (--w->inflight == 0) {
        pool->nbusy--;
        if (w->retiring && !fp_worker_pending(w))
            fp_proc_close(pool, pr, FP_FD_IN); /* EOF: it exits */
    }
}

/* Hands t to the worker: it runs once the tasks ahead of it are done. */
static void fp_worker_send(forkpool *pool, fp_proc *pr, forkpool_task *t)
{
    fp_worker *w = pr->w;
    t->seq = w->seq++;
    atomic_store(&w->ring->slot[t->seq % FP_RING], FP_SLOT_PENDING);
    t->proc = pr;
    t->pid = pr->pid;
    t->state = FORKPOOL_RUNNING;
    t->w_next = NULL;
    if (w->tail)
        w->tail->w_next = t;
    w->tail = t;
    if (!pr->task)
        fp_worker_head(pr, t);
    if (w->inflight++ == 0) {
        pool->nbusy++;
        w->urgent = 1; /* idle: it waits for this one */
    }
    pool->nrunning++;
    w->sent++;
    if (fp_worker_queue(w, t) == -1) {
        /* It stays in flight; the worker's exit settles it. */
        fp_kill_group(pr, SIGKILL);
        fp_worker_retire(pool, pr);
        return;
    }
    if (pool->opts.max_tasks_per_worker && w->sent >= pool->opts.max_tasks_per_worker)
        fp_worker_retire(pool, pr);
}

/* Takes t back from pr if it has not started there. 1 if it did. */
static int fp_worker_revoke(forkpool *pool, fp_proc *pr, forkpool_task *t)
{
    uint32_t expect = FP_SLOT_PENDING;
    if (!atomic_compare_exchange_strong(&pr->w->ring->slot[t->seq % FP_RING], &expect,
                                        FP_SLOT_REVOKED))
        return 0;
    forkpool_task *prev = NULL;
    for (forkpool_task *i = pr->task; i != t; i = i->w_next)
        prev = i;
    fp_worker_unlink(pool, pr, t, prev);
    t->pid = 0;
    return 1;
}

/* Sends up to `most` of pr's tasks that have not started (a reaped worker:
   all of them), taken from the tail and never its current task unless it
   may go too (all), back to the head of the queue, in order. */
static void fp_worker_requeue(forkpool *pool, fp_proc *pr, int all, unsigned most)
{
    forkpool_task *take[FP_WORKER_DEPTH];
    unsigned n = 0;
    for (forkpool_task *t = all ? pr->task : pr->task->w_next; t && n < FP_WORKER_DEPTH;
         t = t->w_next)
        take[n++] = t;
    /* From the tail, so each goes in front of the ones after it; a dead
       worker's go whatever their slot says (force). */
    for (unsigned i = 0; i < n && i < most; i++) {
        forkpool_task *t = take[n - 1 - i];
        if (pr->gone) {
            fp_worker_unlink(pool, pr, t, n - 1 - i ? take[n - 2 - i] : NULL);
            t->pid = 0;
        } else if (!fp_worker_revoke(pool, pr, t)) {
            break;
        }
        fp_queue_push_front(pool, t);
    }
}

/* t was sent to a worker ahead of time and is not its current task: to
   the user it is still queued. */
int fp_worker_waiting(const forkpool_task *t)
{
    return t->state == FORKPOOL_RUNNING && t->proc && t->proc->w && t->proc->task != t;
}

forkpool_task *fp_worker_last(fp_proc *pr)
{
    return pr->w->tail;
}

/* Starts killing pr for its current task (timeout, cancel); its other
   tasks go back to the queue at once. */
static void fp_worker_kill(forkpool *pool, fp_proc *pr, int64_t now)
{
    fp_worker_retire(pool, pr);
    fp_worker_requeue(pool, pr, 0, FP_WORKER_DEPTH);
    fp_begin_kill(pr, now);
}

int fp_worker_frame(void *ud, unsigned type, unsigned char *payload, size_t len)
{
    fp_proc *pr = ud;
    forkpool_task *t = pr->task;
    int32_t rc;
    if (!t) {
        free(payload);
        return -1; /* a frame for no task: fp_proc_read ends the worker */
    }
    /* A task being killed ends as the kill decides: a late END changes
       nothing (and a second END is a protocol error, as in FRESH). */
    if (type != FP_FRAME_END || (t->flags & FP_T_KILLING))
        return fp_task_frame(t, type, payload, len);
    memcpy(&rc, payload, sizeof rc);
    free(payload);
    pr->w->ran = 1;
    t->end_rc = rc;
    t->flags |= FP_T_GOT_END;
    fp_settle(t, 1, 0);
    fp_worker_unlink(t->pool, pr, t, NULL);
    fp_dispatch_push(t);
    return 0;
}

/*
 * If pr's worker has exited (exited: known to have), reads what it left,
 * reaps it, and settles its tasks: its current task fails if it started
 * there (or the worker died before finishing any task, in child_init, or it
 * was being killed for it); every other task it held runs elsewhere.
 */
static void fp_worker_check_exit(forkpool *pool, fp_proc *pr, int exited)
{
    int status = 0;
    if (!exited && fp_proc_probe(pr) == 0)
        return;
    fp_proc_read(pool, pr, FP_READ_BUDGET);
    int known = fp_proc_reap(pr, &status);
    forkpool_task *t = pr->task;
    if (t) {
        uint32_t st = atomic_load(&pr->w->ring->slot[t->seq % FP_RING]);
        if (st == FP_SLOT_STARTED || !pr->w->ran ||
            (t->flags & (FP_T_KILLING | FP_T_CANCELLED | FP_T_ABORTED))) {
            fp_settle(t, known, status);
            fp_worker_unlink(pool, pr, t, NULL);
            fp_dispatch_push(t);
        }
        /* The rest never started, or (behind a task being killed, whose
           END is ignored) started after it: all run again elsewhere. */
        if (pr->task)
            fp_worker_requeue(pool, pr, 1, FP_WORKER_DEPTH);
    }
    fp_worker_retire(pool, pr);
    fp_proc_retire(pool, pr);
    fp_fill(pool);
}

void fp_worker_event(fp_proc *pr, int kind)
{
    forkpool *pool = pr->w->pool;
    if (kind == FP_FD_OUT)
        fp_proc_read(pool, pr, FP_READ_BUDGET);
    else if (kind == FP_FD_EXIT)
        fp_worker_check_exit(pool, pr, 1);
    else
        fp_worker_flush(pool, pr);
    if (!pr->dead)
        fp_fill(pool);
}

void fp_worker_timers(fp_proc *pr, int64_t now)
{
    forkpool *pool = pr->w->pool;
    if (pr->check_at && now >= pr->check_at) {
        fp_poll_step(pr, now);
        fp_worker_check_exit(pool, pr, 0);
        if (pr->dead)
            return;
    }
    if (pr->deadline && now >= pr->deadline) {
        /* It may have ended in time, with its END not yet read. */
        forkpool_task *t = pr->task;
        fp_proc_read(pool, pr, FP_READ_BUDGET);
        if (pr->task == t && pr->deadline && now >= pr->deadline) {
            t->flags |= FP_T_TIMED_OUT;
            fp_worker_kill(pool, pr, now);
        }
        fp_fill(pool);
    }
    if (pr->kill_at && now >= pr->kill_at) {
        fp_kill_group(pr, SIGKILL);
        pr->kill_at = 0;
    }
}

/*
 * forkpool_cancel of a task a worker holds (t->flags has FP_T_CANCELLED).
 * Not started: it fails at once and never runs. Its current task: the
 * worker is killed, as a FRESH child would be.
 */
int fp_worker_cancel(forkpool_task *t)
{
    fp_proc *pr = t->proc;
    forkpool *pool = t->pool;
    if (pr->task != t) {
        if (fp_worker_revoke(pool, pr, t)) {
            fp_task_fail(t, FORKPOOL_ERR_CANCELLED, 0, NULL, "task cancelled before it started");
            t->state = FORKPOOL_FAILED;
            pool->stats.cancelled++;
            fp_dispatch_push(t);
            fp_fill(pool);
            return 0;
        }
        /* It started: the END of the tasks before it is in the channel. */
        fp_proc_read(pool, pr, SIZE_MAX);
        if (t->proc != pr || pr->task != t)
            return 0; /* it ended (CANCELLED, by the flag) or its worker died */
    }
    fp_worker_kill(pool, pr, fp_now());
    fp_arm_timer(pool);
    fp_fill(pool);
    return 0;
}

/* The worker to give the next task: an idle one while slots are free,
   else a new one, else the least loaded busy one. NULL: none can take it. */
static fp_proc *fp_worker_pick(forkpool *pool, int *spawn)
{
    fp_proc *best = NULL;
    int free_slot = pool->nbusy < pool->opts.concurrency;
    *spawn = 0;
    for (unsigned i = 0; i < pool->nprocs; i++) {
        fp_proc *pr = pool->procs[i];
        fp_worker *w = pr->w;
        if (!w || w->retiring || w->blocked || w->inflight >= FP_WORKER_DEPTH ||
            (!w->inflight && !free_slot))
            continue;
        if (!w->inflight)
            return pr;
        if (!best || w->inflight < best->w->inflight)
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
static void fp_workers_steal(forkpool *pool)
{
    fp_proc *busiest = NULL;
    for (unsigned i = 0; i < pool->nprocs; i++) {
        fp_proc *pr = pool->procs[i];
        if (pr->w && pr->w->inflight > 1 && !(pr->task->flags & FP_T_KILLING) &&
            (!busiest || pr->w->inflight > busiest->w->inflight))
            busiest = pr;
    }
    if (busiest)
        fp_worker_requeue(pool, busiest, 0, busiest->w->inflight / 2);
}

/* Hands queued tasks to workers while any can take one. */
static void fp_workers_assign(forkpool *pool)
{
    int stole = 0;
    for (;;) {
        if (!pool->q_head) {
            /* Steal once, and only for a worker that would sit idle. */
            int spawn;
            fp_proc *idle = stole ? NULL : fp_worker_pick(pool, &spawn);
            if (!idle || idle->w->inflight)
                return;
            stole = 1;
            fp_workers_steal(pool);
            continue;
        }
        forkpool_task *t = pool->q_head;
        if (t->exec) { /* a program: a child of its own, in a slot */
            if (!fp_start_next(pool))
                return;
            continue;
        }
        int spawn;
        fp_proc *pr = fp_worker_pick(pool, &spawn);
        if (!pr && spawn && !(pr = fp_worker_spawn(pool))) {
            fp_queue_remove(pool, t);
            fp_spawn_failed(t, errno, 0);
            continue;
        }
        if (!pr)
            return;
        fp_queue_remove(pool, t);
        fp_worker_send(pool, pr, t);
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
    fp_workers_assign(pool);
    for (unsigned i = 0; i < pool->nprocs; i++) {
        fp_proc *pr = pool->procs[i];
        fp_worker *w = pr->w;
        if (w && !w->blocked && fp_worker_pending(w) && (pool->depth || w->urgent)) {
            w->urgent = 0;
            fp_worker_flush(pool, pr);
        }
    }
}
