/*
 * Creating and ending children: fork hygiene, the registry of the library's
 * fds, pidfd, process-group kills and reaping.
 *
 * The registry is the library's one piece of global mutable state. A child
 * must hold none of the library's fds but its own channel, and fork() copies
 * every pool's epoll, timer, event, pipe and pidfd descriptors, not only its
 * own pool's. So every live pool is on a process-wide list, and a new child
 * closes the fds of every pool on it. The list is read in the child while the
 * parent holds its lock across fork(), so the child sees a consistent copy
 * even when other threads use other pools; every change to a pool's set of
 * fds takes the same lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static pthread_mutex_t fp_registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static forkpool *fp_registry;
static forkpool *fp_inherited; /* in a child: the parent's pools, inert */

int64_t fp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void fp_registry_lock(void)
{
    pthread_mutex_lock(&fp_registry_mutex);
}

void fp_registry_unlock(void)
{
    pthread_mutex_unlock(&fp_registry_mutex);
}

/* fp_registry_add and _remove: called with the lock held. */
void fp_registry_add(forkpool *pool)
{
    pool->reg_prev = NULL;
    pool->reg_next = fp_registry;
    if (fp_registry)
        fp_registry->reg_prev = pool;
    fp_registry = pool;
}

void fp_registry_remove(forkpool *pool)
{
    if (pool->reg_prev)
        pool->reg_prev->reg_next = pool->reg_next;
    else
        fp_registry = pool->reg_next;
    if (pool->reg_next)
        pool->reg_next->reg_prev = pool->reg_prev;
}

/*
 * Moves a library fd that landed on 0, 1 or 2 (the host had closed a
 * standard stream) to 3 or above, close-on-exec: else a program run with
 * inherited standard streams would receive it as one. Returns the fd to
 * use; on failure the original, which still works for the library.
 */
int fp_fd_high(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (moved == -1)
        return fd;
    close(fd);
    return moved;
}

void fp_close_if(int fd)
{
    if (fd >= 0)
        close(fd);
}

/*
 * In a new child: close every fd any pool of this process holds, and mark
 * every pool foreign, so that nothing in the child (a task's exit() running
 * the host's atexit cleanup, say) can signal, reap or close anything through
 * its copy; forkpool_destroy then only frees the copy's memory.
 */
void fp_child_close_library_fds(void)
{
    for (forkpool *p = fp_registry; p; p = p->reg_next) {
        fp_server_forget(p);
        fp_close_if(p->epfd);
        fp_close_if(p->timerfd);
        fp_close_if(p->eventfd);
        p->epfd = p->timerfd = p->eventfd = -1;
        for (unsigned i = 0; i < p->nprocs; i++) {
            fp_proc *pr = p->procs[i];
            for (int k = 0; k < FP_NFDS; k++) {
                fp_close_if(pr->fd[k]);
                pr->fd[k] = -1;
            }
            pr->gone = 1;
        }
        p->foreign = 1;
    }
    /* The parent's pools are not the child's: a task may make its own. The
       old list stays reachable, so leak checkers in the child (valgrind)
       do not call another thread's pool lost. */
    fp_inherited = fp_registry;
    fp_registry = NULL;
}

/*
 * In a new child: its own process group (so a kill reaches its
 * descendants), and death with the parent (checking the parent did not die
 * before that). System calls only.
 */
void fp_child_bind(pid_t parent)
{
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
        _exit(127);
}

/*
 * The first steps of every new child, a fork or an exec's vfork-style clone:
 * fp_child_bind, and default handlers for every signal. System calls only,
 * so it is safe in a child that shares the parent's memory. The caller
 * empties the signal mask once its other set-up is done (the parent blocked
 * everything across the fork, so no host handler ran in the child in
 * between).
 */
void fp_child_reset(pid_t parent)
{
    struct sigaction dfl;
    fp_child_bind(parent);
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* EINVAL for libc-reserved ones: fine */
}

static void fp_as_limit(const forkpool_options *o)
{
    if (o->max_memory) {
        struct rlimit as = {o->max_memory, o->max_memory};
        setrlimit(RLIMIT_AS, &as);
    }
}

/*
 * The pool's resource limits, in a new child. max_memory: RLIMIT_AS.
 * max_cpu_ms: a CPU-time timer sends SIGXCPU at the limit (a forked task;
 * timers do not survive exec), and RLIMIT_CPU, whole seconds, backs it up
 * with SIGKILL one second later (exec: SIGXCPU at the rounded-up limit).
 * exec < 0: a worker, which gets max_memory only. System calls only (safe
 * in a vfork-style child).
 */
void fp_child_limits(const forkpool_options *o, int exec)
{
    if (exec < 0) { /* a worker: max_cpu_ms is set per task (fp_cpu_limit) */
        fp_as_limit(o);
        return;
    }
    fp_as_limit(o);
    if (o->max_cpu_ms) {
        rlim_t secs = (rlim_t)(o->max_cpu_ms / 1000 + (o->max_cpu_ms % 1000 != 0));
        struct rlimit cpu = {exec ? secs : secs + 1, secs + 1};
        setrlimit(RLIMIT_CPU, &cpu);
        if (!exec) {
            struct sigevent ev;
            timer_t id;
            memset(&ev, 0, sizeof ev);
            ev.sigev_notify = SIGEV_SIGNAL;
            ev.sigev_signo = SIGXCPU;
            struct itimerspec at = {{0, 0}, {o->max_cpu_ms / 1000, (o->max_cpu_ms % 1000) * 1000000}};
            if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &ev, &id) == 0)
                timer_settime(id, 0, &at, NULL);
        }
    }
}

/* A forked child (task or worker): fp_child_reset, limits (a worker sets
   the CPU limit per task itself), none of the library's fds. */
static void fp_child_setup(forkpool *pool)
{
    sigset_t none;
    fp_child_reset(pool->self);
    fp_child_limits(&pool->opts, pool->opts.mode == FORKPOOL_WORKERS ? -1 : 0);
    fp_child_close_library_fds();
    fp_registry_unlock();
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

int fp_pidfd_open(forkpool *pool, pid_t pid)
{
#ifdef SYS_pidfd_open
    if (!pool->no_pidfd) {
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd >= 0)
            return fp_fd_high(fd);
        /* ENOSYS (old kernel, valgrind): poll from now on. Any other
           failure (EMFILE, ...): this task alone is polled. */
        if (errno == ENOSYS)
            pool->no_pidfd = 1;
    }
#else
    (void)pid;
    pool->no_pidfd = 1;
#endif
    return -1;
}

fp_proc *fp_proc_new(forkpool *pool)
{
    fp_proc *pr = calloc(1, sizeof *pr);
    if (!pr)
        return NULL;
    for (int k = 0; k < FP_NFDS; k++)
        pr->fd[k] = -1;
    fp_decoder_init(&pr->dec, pool->opts.max_output);
    return pr;
}

void fp_proc_free(fp_proc *pr)
{
    fp_decoder_free(&pr->dec);
    free(pr);
}

/*
 * Puts pr, whose child pid was just made, on the pool's list, with its
 * pidfd. Called with the registry lock held; cannot fail (fp_spawn and
 * fp_exec_spawn grew the list beforehand with fp_procs_reserve).
 */
void fp_proc_attach(forkpool *pool, fp_proc *pr, pid_t pid)
{
    pr->pid = pid;
    pr->fd[FP_FD_EXIT] = fp_pidfd_open(pool, pid);
    pr->slot = (int)pool->nprocs;
    pool->procs[pool->nprocs++] = pr;
}

/* Room for one more process on the list; call with the registry lock
   held. 0, or -1 + ENOMEM. */
int fp_procs_reserve(forkpool *pool)
{
    if (pool->nprocs < pool->cap_procs)
        return 0;
    unsigned cap = pool->cap_procs ? pool->cap_procs * 2 : 4;
    fp_proc **p = realloc(pool->procs, cap * sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    pool->procs = p;
    pool->cap_procs = cap;
    return 0;
}

/*
 * Forks a child for pr with a channel (a pipe: the child writes, the parent
 * reads pr->fd[FP_FD_OUT]) and, when keep is set, a request socket (the
 * parent sends on pr->fd[FP_FD_IN], non-blocking, with MSG_NOSIGNAL). The child runs entry(arg) with the
 * channel's fd in the ctx the entry knows how to find (see fp_fork_chan)
 * and never returns. On success pr is attached (fp_proc_attach) and 0 is
 * returned; else -1 with errno and nothing is left behind. In the child,
 * fp_fork_fd(0) is the channel and fp_fork_fd(1) the request socket.
 */
static int fp_fork_chan[2] = {-1, -1};

int fp_fork_fd(int which)
{
    return fp_fork_chan[which];
}

int fp_fork(forkpool *pool, fp_proc *pr, int keep, void (*entry)(void *), void *arg)
{
    sigset_t all, old;
    int p[2] = {-1, -1}, q[2] = {-1, -1}, saved = 0;
    pid_t pid = -1;

    /* Output buffered in the parent's stdio would otherwise appear twice. */
    fflush(NULL);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* The pipes are made under the lock too: a fork by another thread's
       pool must never copy an fd that is not yet on the registry. */
    fp_registry_lock();
    if (fp_procs_reserve(pool) == 0 && pipe2(p, O_CLOEXEC) == 0 &&
        fcntl(p[0], F_SETFL, O_NONBLOCK) == 0 &&
        (!keep || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, q) == 0)) {
        pid = fork();
        if (pid == 0) {
            close(p[0]);
            fp_close_if(q[1]);
            fp_fork_chan[0] = p[1];
            fp_fork_chan[1] = q[0];
            fp_child_setup(pool);
            entry(arg);
            _exit(127); /* entries do not return */
        }
    }
    saved = errno;
    if (pid > 0) {
        /* Also done by the child; whichever runs first closes the race in
           which we signal the group before it exists. */
        setpgid(pid, pid);
        pr->fd[FP_FD_OUT] = fp_fd_high(p[0]);
        pr->fd[FP_FD_IN] = fp_fd_high(q[1]);
        fp_proc_attach(pool, pr, pid);
    } else {
        fp_close_if(p[0]);
        fp_close_if(q[1]);
    }
    fp_close_if(p[1]);
    fp_close_if(q[0]);
    fp_registry_unlock();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid <= 0) {
        errno = saved;
        return -1;
    }
    return 0;
}

static void fp_task_entry(void *arg)
{
    forkpool_task *t = arg;
    fp_child_main(t, fp_fork_chan[0]);
}

/* Forks t's own child (FRESH), from the fork server if the pool has one.
   0, or -1 + errno. */
int fp_spawn(forkpool *pool, forkpool_task *t)
{
    if (pool->opts.fork_server)
        return fp_server_spawn(pool, t);
    if (fp_fork(pool, t->proc, 0, fp_task_entry, t) == -1)
        return -1;
    t->pid = t->proc->pid;
    return 0;
}

/* Takes pr off the pool's list and closes its fds. */
void fp_proc_release(forkpool *pool, fp_proc *pr)
{
    fp_registry_lock();
    unsigned last = --pool->nprocs;
    pool->procs[pr->slot] = pool->procs[last];
    pool->procs[pr->slot]->slot = pr->slot;
    pool->procs[last] = NULL;
    for (int k = 0; k < FP_NFDS; k++) {
        fp_close_if(pr->fd[k]);
        pr->fd[k] = -1;
    }
    fp_registry_unlock();
}

/* Stops watching and closes one of pr's fds (FP_FD_*), if open. */
void fp_proc_close(forkpool *pool, fp_proc *pr, int k)
{
    if (pr->fd[k] < 0)
        return;
    epoll_ctl(pool->epfd, EPOLL_CTL_DEL, pr->fd[k], NULL);
    fp_registry_lock();
    close(pr->fd[k]);
    pr->fd[k] = -1;
    fp_registry_unlock();
}

/*
 * Signals pr's whole process group. The child is unreaped (else pr->gone),
 * so its pid, the group's id, cannot have been reused.
 */
void fp_kill_group(fp_proc *pr, int sig)
{
    if (pr->gone)
        return;
    if (kill(-pr->pid, sig) == -1 && errno == ESRCH)
        kill(pr->pid, sig);
}
/* waitpid that goes on through EINTR; ru (may be NULL) gets its usage. */
static pid_t fp_waitpid(pid_t pid, int *status, struct rusage *ru)
{
    pid_t r;
    do
        r = wait4(pid, status, 0, ru);
    while (r == -1 && errno == EINTR);
    return r;
}

/*
 * Has pr's child exited? 0: not yet; 1: yes, and it is still a zombie; -1:
 * it is gone already, reaped by someone else (the host set SIGCHLD to
 * SIG_IGN, or called waitpid(-1)).
 */
int fp_proc_probe(fp_proc *pr)
{
    siginfo_t si;
    int r;
    memset(&si, 0, sizeof si);
    do
        r = waitid(P_PID, (id_t)pr->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    while (r == -1 && errno == EINTR);
    if (r == -1) {
        /* Reaped behind our back just now. Its group may still hold
           descendants, and its id cannot be reused while they live (nor,
           in practice, within the moments since the reap: that takes a
           wrap of the whole pid space), so end them as for any task. */
        kill(-pr->pid, SIGKILL);
        pr->gone = 1;
        return -1;
    }
    return si.si_pid != 0;
}

/*
 * Reaps pr's exited child: first kills what is left of its process group,
 * while the zombie still pins the group id. Returns 1 with *status set, or 0
 * if someone else reaped it.
 */
int fp_proc_reap(fp_proc *pr, int *status)
{
    if (pr->gone)
        return 0;
    kill(-pr->pid, SIGKILL);
    pr->gone = 1;
    struct rusage ru;
    if (fp_waitpid(pr->pid, status, &ru) != pr->pid)
        return 0;
    pr->cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000L +
                      (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
    return 1;
}

/* forkpool_destroy: kill pr's group now and reap its child. ECHILD (someone
   else reaped it) leaves nothing to do. */
void fp_reap_now(fp_proc *pr)
{
    int status;
    fp_kill_group(pr, SIGKILL);
    if (!pr->gone)
        fp_waitpid(pr->pid, &status, NULL);
    pr->gone = 1;
}
