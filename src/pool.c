/*
 * The pool: the public API, filling concurrency slots from the run queue,
 * and the event loop (one epoll set holding each process's watched fds, a
 * timerfd for deadlines and an eventfd for work that needs no fd). What
 * happens to a process is the process layer's (proc.c) and its kind's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "child.h"
#include "clock.h"
#include "exec.h"
#include "fresh.h"
#include "pool.h"
#include "contain.h"
#include "names.h"
#include "program.h"
#include "remote.h"
#include "server.h"
#include "task.h"
#include "workers.h"

/*
 * epoll data: an fp_proc pointer (proc.c) with the index of the fd in its
 * fd[] in its low bits; the pool's own fds carry no pointer, only their
 * kind.
 */
enum { FP_EV_TIMER = 2, FP_EV_WAKE = 3 };
#define FP_EV_BATCH 64

static int epoll_add(forkpool *pool, int fd, uint64_t data)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = data;
    return epoll_ctl(pool->procs.epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void unwake(forkpool *pool)
{
    uint64_t n;
    if (read(pool->eventfd, &n, sizeof n) == (ssize_t)sizeof n || errno == EAGAIN)
        pool->wake_pending = 0;
}

/* ---- timers ---- */

/* Arms the timerfd for the earliest deadline, kill or poll of any task. */
static void arm_timer(forkpool *pool)
{
    int64_t at = fp_procs_due(&pool->procs), poll = fp_remote_due(pool);
    if (poll && (!at || poll < at))
        at = poll;
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

/* Starts queued tasks while slots are free, as the pool's mode does it
   (INLINE runs them from the loop itself: inline_step). */
static void fill(forkpool *pool)
{
    static void (*const fill[])(forkpool *) = {
        [FORKPOOL_FRESH] = fp_fresh_fill,
        [FORKPOOL_WORKERS] = fp_workers_fill,
        [FORKPOOL_INLINE] = NULL,
        [FORKPOOL_MPI] = fp_remote_fill,
    };
    if (fill[pool->opts.mode])
        fill[pool->opts.mode](pool);
}

/* INLINE: runs t here and records what it used: the calling thread's CPU
   time during it, and the program's peak RSS. */
static void inline_run(forkpool_task *t)
{
    struct rusage ru;
    fp_rusage before = {0, 0, 0}, after;
    int64_t started = fp_now();
    int known = getrusage(RUSAGE_THREAD, &ru) == 0;
    if (known)
        fp_rusage_from(&before, &ru);
    fp_run_inline(t);
    known = known && getrusage(RUSAGE_THREAD, &ru) == 0;
    if (known)
        fp_rusage_from(&after, &ru);
    known = known && getrusage(RUSAGE_SELF, &ru) == 0;
    if (known) {
        after.user_us -= before.user_us;
        after.sys_us -= before.sys_us;
        after.maxrss_kib = ru.ru_maxrss;
    }
    fp_task_set_usage(t, started, known ? &after : NULL);
}

/* INLINE: run the next queued task in this process. */
static void inline_step(forkpool *pool)
{
    forkpool_task *t = fp_queue_head(pool);
    if (!t)
        return;
    fp_queue_remove(pool, t);
    t->state = FORKPOOL_RUNNING;
    t->pid = getpid();
    pool->inline_task = t;
    inline_run(t);
    pool->inline_task = NULL;
    fp_chan_settle(t, NULL, 0, 0);
    fp_dispatch_push(t);
}

/* fp_spin_wait's probe in fp_step: ENDs the workers queued (taken), else
   the events ready now, if any (n -1: the error, which the caller then
   meets). */
struct fp_events {
    forkpool *pool;
    struct epoll_event *ev;
    int n, took;
};

static int poll_events(void *arg)
{
    struct fp_events *e = arg;
    if ((e->took = fp_workers_collect(e->pool)) > 0)
        return 1;
    e->n = epoll_wait(e->pool->procs.epfd, e->ev, FP_EV_BATCH, 0);
    return e->n;
}

/* Turns in a row that may leave epoll out while the rings bring ENDs: the
   channels' other frames, stderr and exits wait no longer than that. */
#define FP_QUICK_TURNS 8

/*
 * One turn of the loop: due handlers, then wait up to timeout_ms for events,
 * act on them, then the handlers they made due. If handlers were due at the
 * start, it does not wait: what its caller waits for may have happened
 * (a task cancelled while queued, say, while others run on). -1 + errno
 * only if epoll fails; EINTR is a turn with no events.
 */
int fp_step(forkpool *pool, int timeout_ms)
{
    struct epoll_event ev[FP_EV_BATCH];
    uint64_t ticks;
    if (pool->wake_pending)
        unwake(pool);
    if (fp_dispatch_run(pool))
        timeout_ms = 0;
    if (pool->doomed)
        return 0;
    if (pool->opts.mode == FORKPOOL_INLINE) {
        inline_step(pool);
        fp_dispatch_run(pool);
        if (fp_queue_head(pool))
            fp_wake(pool);
        return 0;
    }
    if (!pool->nqueued && !pool->nrunning)
        return 0;
    const int workers = pool->opts.mode == FORKPOOL_WORKERS;
    if (workers)
        fp_workers_attend(pool, 1);
    fill(pool); /* what was queued outside the loop */
    struct fp_events got = {pool, ev, 0, workers ? fp_workers_collect(pool) : 0};
    int n = 0;
    if (got.took && pool->quick < FP_QUICK_TURNS) {
        pool->quick++;
    } else {
        pool->quick = 0;
        if (got.took)
            timeout_ms = 0;
        /* Polled only while a CPU is free for it: else it would take a CPU
           from the tasks it waits for. */
        if (timeout_ms != 0 && pool->nrunning && pool->nrunning < pool->ncpu)
            fp_spin_wait(&pool->spin, poll_events, &got);
        /* Asleep, it must be woken for what the workers queue from now. */
        if (workers && timeout_ms != 0 && !got.n && !got.took && fp_workers_attend(pool, 0))
            timeout_ms = 0;
        if (!got.n && !got.took)
            n = epoll_wait(pool->procs.epfd, ev, FP_EV_BATCH, timeout_ms);
        else
            n = got.n;
    }
    if (n == -1) {
        if (errno != EINTR) {
            int err = errno;
            if (workers)
                fp_workers_attend(pool, 0);
            errno = err;
            return -1;
        }
        n = 0;
    }
    if (workers)
        fp_workers_attend(pool, 1);
    for (int i = 0; i < n; i++) {
        uint64_t data = ev[i].data.u64;
        if (fp_procs_event(&pool->procs, data))
            continue;
        if (data == FP_EV_TIMER) {
            /* Only clears readiness; fp_procs_timers acts on what is due. */
            if (read(pool->timerfd, &ticks, sizeof ticks) == (ssize_t)sizeof ticks ||
                errno == EAGAIN)
                pool->timer_at = 0;
        } else {
            unwake(pool);
        }
    }
    fp_procs_timers(&pool->procs, fp_now());
    fp_remote_progress(pool);
    if (workers)
        fp_workers_collect(pool);
    fill(pool);
    fp_procs_bury(&pool->procs);
    arm_timer(pool);
    /* Outside the loop nothing looks at the rings: the workers must wake
       it (forkpool_fd's readers too). */
    if (workers)
        fp_workers_attend(pool, 0);
    fp_dispatch_run(pool);
    return 0;
}

/* ---- the public pool API ---- */

static void pool_close_fds(forkpool *pool)
{
    const int fds[3] = {pool->procs.epfd, pool->timerfd, pool->eventfd};
    for (int i = 0; i < 3; i++)
        fp_close_if(fds[i]);
    pool->procs.epfd = pool->timerfd = pool->eventfd = -1;
}

static int pool_open_fds(forkpool *pool)
{
    pool->procs.epfd = fp_fd_high(epoll_create1(EPOLL_CLOEXEC));
    pool->timerfd = fp_fd_high(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    pool->eventfd = fp_fd_high(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (pool->procs.epfd < 0 || pool->timerfd < 0 || pool->eventfd < 0 ||
        epoll_add(pool, pool->timerfd, FP_EV_TIMER) == -1 ||
        epoll_add(pool, pool->eventfd, FP_EV_WAKE) == -1)
        return -1;
    return 0;
}

/*
 * In a new child (the registry's walk): close every fd of this copy of the
 * pool and mark it foreign, so that nothing in the child (a task's exit()
 * running the host's atexit cleanup, say) can signal, reap or close
 * anything through it; forkpool_destroy then only frees the copy's memory.
 */
static void pool_forget(fp_reg *reg)
{
    forkpool *pool = (forkpool *)((char *)reg - offsetof(forkpool, reg));
    fp_server_forget(pool);
    fp_procs_forget(&pool->procs);
    pool_close_fds(pool);
    pool->foreign = 1;
}

/* FORKPOOL_NO_PIDFD set, non-empty and not "0": use the fallback. */
static int env_no_pidfd(void)
{
    const char *no = getenv("FORKPOOL_NO_PIDFD");
    return no && *no && strcmp(no, "0") != 0;
}

static void pool_free(forkpool *pool);

/* A kill sequence is given whole (steps and a sequence, or neither), fits
   the pool's copy, names real signals and waits no negative time; it
   replaces kill_grace_ms, so both at once are ambiguous. */
static int check_kill_sequence(const forkpool_options *o)
{
    if (!o->kill_sequence)
        return o->kill_steps == 0 ? 0 : -1;
    if (o->kill_steps == 0 || o->kill_steps > FORKPOOL_KILL_STEPS_MAX || o->kill_grace_ms)
        return -1;
    for (unsigned i = 0; i < o->kill_steps; i++) {
        const forkpool_kill_step *k = &o->kill_sequence[i];
        if (k->signal < 1 || k->signal > SIGRTMAX || k->wait_ms < 0)
            return -1;
    }
    return 0;
}

static int check_options(const forkpool_options *o)
{
    if (check_kill_sequence(o) == -1 || o->timeout_ms < 0 || o->kill_grace_ms < 0 ||
        o->max_cpu_ms < 0 || o->spin_us > FP_SPIN_MAX_US ||
        (o->mode != FORKPOOL_FRESH && o->mode != FORKPOOL_WORKERS &&
         o->mode != FORKPOOL_INLINE && o->mode != FORKPOOL_MPI) ||
        (o->fork_server && (o->mode == FORKPOOL_INLINE || o->mode == FORKPOOL_MPI)) ||
        (o->child_init && o->mode == FORKPOOL_MPI) ||
        (o->capture_stderr && o->mode == FORKPOOL_MPI) ||
        (o->contain && (o->mode == FORKPOOL_INLINE || o->mode == FORKPOOL_MPI))) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int forkpool_refresh(forkpool *pool)
{
    if (!pool || pool->foreign) {
        errno = EINVAL;
        return -1;
    }
    if (pool->remote) {
        errno = ENOTSUP; /* the serving ranks run copies of their own */
        return -1;
    }
    if (pool->opts.mode == FORKPOOL_WORKERS)
        fp_workers_refresh(pool);
    if (pool->opts.fork_server) {
        /* Its children are the pool's (CLONE_PARENT): they run on. A
           helper that cannot start now is started at the next task. */
        fp_server_stop(pool);
        if (fp_server_start(pool) == -1)
            return -1;
    }
    if (pool->depth == 0)
        fp_wake(pool); /* forkpool_fd: the requeued tasks want a turn */
    return 0;
}

/* The address space this process maps now (0 if unknown). */
static size_t mapped_bytes(void)
{
    char buf[64];
    ssize_t n = -1;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
    }
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtoul(buf, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

/* The pool's own copy of the kill sequence: the one given, or SIGTERM
   and kill_grace_ms (default 200 ms); o then points to the copy. */
static void set_kill_sequence(fp_procs *set, forkpool_options *o)
{
    if (o->kill_sequence) {
        memcpy(set->kill, o->kill_sequence, o->kill_steps * sizeof *set->kill);
        set->nkill = o->kill_steps;
    } else {
        set->kill[0].signal = SIGTERM;
        set->kill[0].wait_ms = o->kill_grace_ms ? o->kill_grace_ms : 200;
        set->nkill = 1;
    }
    o->kill_sequence = set->kill;
    o->kill_steps = set->nkill;
    o->kill_grace_ms = 0;
}

forkpool *forkpool_create(const forkpool_options *opts)
{
    forkpool_options o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    if (check_options(&o) == -1 || (o.contain && fp_contain_probe() == -1))
        return NULL;
    unsigned per_rank = o.concurrency;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned cpus = online > 0 ? (unsigned)online : 1;
    if (!o.concurrency)
        o.concurrency = cpus;
    /* All under the registry lock: no other thread's fork may copy an fd
       it cannot know to close, or a pool no list reaches (which a leak
       checker in that child would call lost). */
    fp_registry_lock();
    forkpool *pool = calloc(1, sizeof *pool);
    int err = ENOMEM;
    if (pool) {
        pool->opts = o;
        fp_list_init(&pool->all);
        fp_list_init(&pool->queue);
        fp_list_init(&pool->dispatch);
        fp_list_init(&pool->procs.graveyard);
        pool->procs.epfd = pool->timerfd = pool->eventfd = -1;
        set_kill_sequence(&pool->procs, &pool->opts);
        pool->procs.no_pidfd = env_no_pidfd();
        pool->srv_fd = pool->srv_blob_fd = -1;
        pool->self = getpid();
        fp_spin_init(&pool->spin, o.mode == FORKPOOL_WORKERS ? o.spin_us : -1);
        pool->ncpu = cpus;
        pool->vm_base = o.max_memory ? mapped_bytes() : 0;
        pool->own_ops[0] = &fp_fresh_ops;
        pool->own_ops[1] = &fp_exec_ops;
        pool->reg.forget = pool_forget;
        if (pool_open_fds(pool) == 0) {
            fp_registry_add(&pool->reg);
        } else {
            err = errno;
            pool_close_fds(pool);
            free(pool);
            pool = NULL;
        }
    }
    fp_registry_unlock();
    if (pool && o.mode == FORKPOOL_MPI) {
        pool->opts.concurrency = per_rank;
        if (fp_remote_open(pool) == -1) {
            err = errno;
            pool_free(pool);
            pool = NULL;
        } else if (!pool->remote) {
            pool->opts.concurrency = o.concurrency;
        }
    }
    if (pool && o.fork_server && fp_server_start(pool) == -1) {
        err = errno;
        pool_free(pool);
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
static void pool_free(forkpool *pool)
{
    fp_remote_close(pool);
    fp_procs_destroy(&pool->procs);
    for (fp_list *n; (n = fp_list_first(&pool->all));)
        fp_task_free(FP_LIST_ITEM(n, forkpool_task, all));
    fp_server_stop(pool);
    fp_registry_lock(); /* see forkpool_create */
    if (!pool->foreign)
        fp_registry_remove(&pool->reg);
    pool_close_fds(pool);
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
    pool_free(pool);
}

/* Makes a task (a function, or a program when exec is set, which it then
   owns) and queues it; starts it if a slot is free. */
static forkpool_task *task_new(forkpool *pool, forkpool_fn fn, const void *arg, size_t len,
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
    fp_list_push_head(&pool->all, &t->all);
    fp_queue_push(pool, t);
    if (pool->opts.mode == FORKPOOL_INLINE) {
        if (!pool->depth)
            fp_wake(pool);
    } else {
        fill(pool);
        arm_timer(pool);
    }
    return t;
}

forkpool_task *forkpool_run(forkpool *pool, forkpool_fn fn, const void *arg, size_t len)
{
    if (!pool || !fn || (!arg && len)) {
        errno = EINVAL;
        return NULL;
    }
    char name[FP_NAME_MAX + 1];
    if (pool->opts.mode == FORKPOOL_MPI && fp_fn_name(fn, name) == -1) {
        errno = ENOENT;
        return NULL;
    }
    return task_new(pool, fn, arg, len, NULL);
}

forkpool_task *forkpool_exec(forkpool *pool, const char *const argv[],
                             const forkpool_exec_options *opts)
{
    if (!pool || !argv || !argv[0] || !argv[0][0] || pool->opts.mode == FORKPOOL_INLINE ||
        (opts && (opts->capture & ~(FORKPOOL_CAPTURE_STDOUT | FORKPOOL_CAPTURE_STDERR))) ||
        (opts && !opts->input && opts->input_len)) {
        errno = EINVAL;
        return NULL;
    }
    fp_exec *x = fp_exec_new(argv, opts);
    if (!x)
        return NULL;
    forkpool_task *t = task_new(pool, NULL, NULL, 0, x);
    if (!t)
        fp_exec_free(x);
    return t;
}

forkpool_task *forkpool_set_timeout(forkpool_task *t, long ms)
{
    if (!t || ms < 0) {
        errno = EINVAL;
        return NULL;
    }
    t->timeout_ms = ms;
    if (t->proc && t->proc->ops->retime && !fp_task_settled(t)) {
        t->proc->ops->retime(t->proc, t);
    } else if (t->proc && t->proc->task == t && !(t->flags & FP_T_KILLING)) {
        /* A worker's task that has not come up yet gets its deadline then. */
        t->proc->deadline = ms ? fp_after(t->proc->started, ms) : 0;
        arm_timer(t->pool);
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
        fp_cancel_unstarted(t);
        return 0;
    }
    int rc = t->proc->ops->cancel(t->proc, t);
    if (rc == -1) /* as it was: a later cancel may work */
        t->flags &= ~(uint32_t)(FP_T_CANCELLED | FP_T_KILLING);
    fill(pool);
    arm_timer(pool);
    return rc;
}

void forkpool_stop(forkpool *pool)
{
    if (!pool || pool->foreign)
        return;
    pool->stops++;
    for (forkpool_task *t; (t = fp_queue_head(pool));)
        forkpool_cancel(t);
    /* Cancelling a worker's task may send its other tasks back to the
       queue: go on until nothing is left to cancel. */
    for (int again = 1; again;) {
        again = 0;
        for (unsigned i = 0; i < pool->procs.n; i++) {
            fp_proc *pr = pool->procs.v[i];
            forkpool_task *t = pr->ops->last(pr);
            if (t && !(t->flags & (FP_T_CANCELLED | FP_T_KILLING)) &&
                forkpool_cancel(t) == 0)
                again = 1;
        }
        for (forkpool_task *t; (t = fp_queue_head(pool));) {
            forkpool_cancel(t);
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
        pool_free(pool);
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
    while (!pool->doomed && (pool->nqueued || pool->nrunning || !fp_list_empty(&pool->dispatch)))
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
    return pool->procs.epfd;
}

unsigned forkpool_concurrency(const forkpool *pool)
{
    return pool ? pool->opts.concurrency : 0;
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
