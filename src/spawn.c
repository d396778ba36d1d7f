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
#include "launch.h"

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
    fp_proc **p = realloc(pool->procs, cap * sizeof(fp_proc *));
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
 * parent sends on pr->fd[FP_FD_IN], non-blocking, with MSG_NOSIGNAL). The
 * child sets the pool's limits (a failure is reported on the channel),
 * then runs entry(arg, channel, request socket or -1) and never returns. On
 * success pr is attached (fp_proc_attach) and 0 is returned; else -1 with
 * errno and nothing is left behind.
 */
struct fp_chan_fork {
    forkpool *pool;
    fp_proc *pr;
    int keep;
    int p[2], q[2];
    void (*entry)(void *arg, int chan, int req);
    void *arg;
};

static int fp_chan_prepare(void *arg)
{
    struct fp_chan_fork *f = arg;
    if (fp_procs_reserve(f->pool) == 0 && pipe2(f->p, O_CLOEXEC) == 0 &&
        fcntl(f->p[0], F_SETFL, O_NONBLOCK) == 0 &&
        (!f->keep || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->q) == 0))
        return 0;
    int err = errno;
    fp_close_if(f->p[0]);
    fp_close_if(f->p[1]);
    errno = err;
    return -1;
}

static void fp_chan_child(void *arg, int report)
{
    struct fp_chan_fork *f = arg;
    sigset_t none;
    (void)report;
    close(f->p[0]); /* the parent's ends, not on the registry yet */
    fp_close_if(f->q[1]);
    int step = fp_child_limits(&f->pool->opts,
                               f->keep ? FP_LIMITS_WORKER : FP_LIMITS_TASK);
    if (step)
        fp_setup_fail(f->p[1], errno, step);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    f->entry(f->arg, f->p[1], f->q[0]);
}

static void fp_chan_done(void *arg, pid_t pid)
{
    struct fp_chan_fork *f = arg;
    if (pid > 0) {
        f->pr->fd[FP_FD_OUT] = fp_fd_high(f->p[0]);
        f->pr->fd[FP_FD_IN] = fp_fd_high(f->q[1]);
        fp_proc_attach(f->pool, f->pr, pid);
    } else {
        fp_close_if(f->p[0]);
        fp_close_if(f->q[1]);
    }
    fp_close_if(f->p[1]);
    fp_close_if(f->q[0]);
}

int fp_fork(forkpool *pool, fp_proc *pr, int keep, void (*entry)(void *, int, int), void *arg)
{
    struct fp_chan_fork f = {pool, pr, keep, {-1, -1}, {-1, -1}, entry, arg};
    fp_launch l = {FP_LAUNCH_FORK, pool->self, 1, fp_chan_prepare, fp_chan_child,
                   fp_chan_done, &f, 0};
    return fp_launch_run(&l) == -1 ? -1 : 0;
}

static void fp_task_entry(void *arg, int chan, int req)
{
    (void)req;
    fp_child_main(arg, chan);
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
 * Signals pr's child and its whole process group: the child may have moved
 * to another group (setpgid) and left descendants in its own. SIGKILL and
 * SIGTERM first reach the descendants that left the group (tree.c): all of
 * them are killed before a SIGKILL, those outside the group before a
 * SIGTERM. The child is unreaped (else pr->gone), so its pid, the group's
 * id, cannot have been reused.
 */
void fp_kill_group(fp_proc *pr, int sig)
{
    if (pr->gone)
        return;
    if (sig == SIGKILL || sig == SIGTERM)
        fp_tree_kill(pr->pid, sig == SIGKILL);
    kill(-pr->pid, sig);
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
