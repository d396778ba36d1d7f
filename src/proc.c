/*
 * The process layer (proc.h): a pool's child processes from launch to
 * burial.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "proc.h"
#include "registry.h"
#include "tree.h"

/* ---- one process ---- */

fp_proc *fp_proc_new(fp_procs *set, forkpool *pool, const fp_proc_ops *ops, size_t max_output)
{
    fp_proc *pr = calloc(1, sizeof *pr);
    if (!pr)
        return NULL;
    pr->ops = ops;
    pr->set = set;
    pr->pool = pool;
    for (int k = 0; k < FP_NFDS; k++)
        pr->fd[k] = -1;
    fp_decoder_init(&pr->dec, max_output);
    return pr;
}

void fp_proc_free(fp_proc *pr)
{
    fp_decoder_free(&pr->dec);
    fp_buf_free(&pr->err);
    free(pr);
}

int fp_proc_pidfd(fp_procs *set, pid_t pid)
{
#ifdef SYS_pidfd_open
    if (!set->no_pidfd) {
        int fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd >= 0)
            return fp_fd_high(fd);
        /* ENOSYS (old kernel, valgrind): poll from now on. Any other
           failure (EMFILE, ...): this process alone is polled. */
        if (errno == ENOSYS)
            set->no_pidfd = 1;
    }
#else
    (void)pid;
    set->no_pidfd = 1;
#endif
    return -1;
}

int fp_procs_reserve(fp_procs *set)
{
    if (set->n < set->cap)
        return 0;
    unsigned cap = set->cap ? set->cap * 2 : 4;
    fp_proc **v = realloc(set->v, cap * sizeof(fp_proc *));
    if (!v) {
        errno = ENOMEM;
        return -1;
    }
    set->v = v;
    set->cap = cap;
    return 0;
}

void fp_proc_park(fp_proc *pr)
{
    fp_procs *set = pr->set;
    pr->gone = 1; /* no child yet: nothing to signal */
    pr->slot = (int)set->n;
    set->v[set->n++] = pr;
}

void fp_proc_attach(fp_proc *pr, pid_t pid)
{
    pr->pid = pid;
    pr->fd[FP_FD_EXIT] = fp_proc_pidfd(pr->set, pid);
    fp_proc_park(pr);
    pr->gone = 0;
}

/* Takes pr off the list and closes its fds. */
void fp_proc_release(fp_proc *pr)
{
    fp_procs *set = pr->set;
    fp_registry_lock();
    unsigned last = --set->n;
    set->v[pr->slot] = set->v[last];
    set->v[pr->slot]->slot = pr->slot;
    set->v[last] = NULL;
    for (int k = 0; k < FP_NFDS; k++) {
        fp_close_if(pr->fd[k]);
        pr->fd[k] = -1;
    }
    fp_registry_unlock();
}

int fp_proc_watch_fd(fp_proc *pr, int k)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = k == FP_FD_IN ? EPOLLOUT : EPOLLIN;
    ev.data.u64 = (uint64_t)(uintptr_t)pr | (uint64_t)k;
    return epoll_ctl(pr->set->epfd, EPOLL_CTL_ADD, pr->fd[k], &ev);
}

int fp_proc_watch(fp_proc *pr, int watch_in, int64_t now)
{
    if (pr->fd[FP_FD_EXIT] < 0) {
        /* Fallback: poll from 1 ms, doubling (poll_step). */
        pr->check_step = 1000000;
        pr->check_at = now + pr->check_step;
    }
    for (int k = 0; k < FP_FD_PARK; k++) {
        if (pr->fd[k] < 0 || (k == FP_FD_IN && !watch_in) || fp_proc_watch_fd(pr, k) == 0)
            continue;
        int err = errno;
        fp_proc_abort(pr);
        /* Find its exit by polling, whatever is watched. */
        pr->check_at = now;
        errno = err;
        return -1;
    }
    return 0;
}

void fp_proc_close(fp_proc *pr, int k)
{
    if (pr->fd[k] < 0)
        return;
    epoll_ctl(pr->set->epfd, EPOLL_CTL_DEL, pr->fd[k], NULL);
    fp_registry_lock();
    close(pr->fd[k]);
    pr->fd[k] = -1;
    fp_registry_unlock();
}

/*
 * The child may have moved to another group (setpgid) and left descendants
 * in its own, so both are signalled; the child by pid only when it has
 * moved, since one that handles the signal could otherwise get it twice
 * (a kill sequence's signals are counted by their handlers). Every signal
 * but SIGCONT first reaches the descendants that left the group (tree.c):
 * all of them before a SIGKILL, those outside the group before the others.
 * The child is unreaped (else pr->gone), so its pid, the group's id, cannot
 * have been reused.
 */
void fp_kill_group(fp_proc *pr, int sig)
{
    if (pr->gone)
        return;
    if (sig != SIGCONT)
        fp_tree_kill(pr->pid, sig == SIGKILL);
    kill(-pr->pid, sig);
    if (getpgid(pr->pid) != pr->pid)
        kill(pr->pid, sig);
}

/* Sends the kill sequence's steps from pr->kill_next on, up to one that
   waits; after the last, SIGKILL. */
static void kill_steps(fp_proc *pr, int64_t now)
{
    const fp_procs *set = pr->set;
    pr->kill_at = 0;
    while (pr->kill_next < set->nkill) {
        const forkpool_kill_step *k = &set->kill[pr->kill_next++];
        fp_kill_group(pr, k->signal);
        if (k->signal == SIGKILL)
            return;
        fp_kill_group(pr, SIGCONT); /* a stopped child acts on it */
        if (k->wait_ms > 0) {
            pr->kill_at = fp_after(now, k->wait_ms);
            return;
        }
    }
    fp_kill_group(pr, SIGKILL);
}

void fp_proc_terminate(fp_proc *pr, int64_t now)
{
    pr->deadline = 0;
    pr->kill_next = 0;
    kill_steps(pr, now);
}

void fp_check_soon(fp_proc *pr)
{
    if (pr->fd[FP_FD_EXIT] >= 0)
        return;
    pr->check_step = 0;
    pr->check_at = fp_now();
}

void fp_proc_abort(fp_proc *pr)
{
    fp_kill_group(pr, SIGKILL);
    pr->deadline = pr->kill_at = 0;
    for (int k = 0; k < FP_NFDS; k++)
        if (k != FP_FD_EXIT)
            fp_proc_close(pr, k);
    fp_check_soon(pr);
}

/* waitpid that goes on through EINTR; ru (may be NULL) gets its usage. */
static pid_t wait_child(pid_t pid, int *status, struct rusage *ru)
{
    pid_t r;
    do
        r = wait4(pid, status, 0, ru);
    while (r == -1 && errno == EINTR);
    return r;
}

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
 * while the zombie still pins the group id. 1 with *status set, or 0 if
 * someone else reaped it.
 */
static int proc_reap(fp_proc *pr, int *status)
{
    if (pr->gone)
        return 0;
    kill(-pr->pid, SIGKILL);
    pr->gone = 1;
    struct rusage ru;
    if (wait_child(pr->pid, status, &ru) != pr->pid)
        return 0;
    fp_rusage_from(&pr->ru, &ru);
    return 1;
}

void fp_rusage_from(fp_rusage *out, const struct rusage *ru)
{
    out->user_us = (int64_t)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec;
    out->sys_us = (int64_t)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec;
    out->maxrss_kib = ru->ru_maxrss;
}

void fp_proc_check_exit(fp_proc *pr, int exited)
{
    int status = 0;
    if (!exited && fp_proc_probe(pr) == 0)
        return;
    /* Everything the child wrote is in its pipes now; a pipe holds at most
       its capacity, so this ends even if a stray descendant keeps writing. */
    const int out[2] = {FP_FD_OUT, FP_FD_ERR};
    for (int i = 0; i < 2; i++)
        if (pr->fd[out[i]] >= 0)
            pr->ops->io(pr, out[i], FP_READ_BUDGET);
    int known = proc_reap(pr, &status);
    pr->ops->exited(pr, known, status);
    fp_proc_retire(pr);
}

void fp_proc_retire(fp_proc *pr)
{
    fp_procs *set = pr->set;
    for (int k = 0; k < FP_NFDS; k++)
        if (pr->fd[k] >= 0)
            epoll_ctl(set->epfd, EPOLL_CTL_DEL, pr->fd[k], NULL);
    fp_proc_release(pr);
    fp_list_push_tail(&set->graveyard, &pr->grave);
}

/* Fallback exit detection: the next poll, at doubling intervals from
   100 us, capped. */
static void poll_step(fp_proc *pr, int64_t now)
{
    pr->check_step = pr->check_step ? pr->check_step * 2 : 100000;
    if (pr->check_step > FP_FALLBACK_POLL_NS)
        pr->check_step = FP_FALLBACK_POLL_NS;
    pr->check_at = now + pr->check_step;
}

/* ---- the set ---- */

int fp_procs_event(fp_procs *set, uint64_t data)
{
    fp_proc *pr = (fp_proc *)(uintptr_t)(data & ~FP_EV_KIND_MASK);
    int k = (int)(data & FP_EV_KIND_MASK);
    (void)set;
    if (!pr)
        return 0;
    if (fp_proc_dead(pr)) /* it ended earlier in this batch */
        return 1;
    if (k == FP_FD_EXIT)
        fp_proc_check_exit(pr, 1);
    else
        pr->ops->io(pr, k, FP_READ_BUDGET);
    return 1;
}

static void proc_timers(fp_proc *pr, int64_t now)
{
    if (pr->check_at && now >= pr->check_at) {
        poll_step(pr, now);
        fp_proc_check_exit(pr, 0);
        if (fp_proc_dead(pr))
            return;
    }
    if (pr->deadline && now >= pr->deadline) {
        pr->ops->expired(pr, now);
        if (fp_proc_dead(pr))
            return;
    }
    if (pr->kill_at && now >= pr->kill_at)
        kill_steps(pr, now);
}

void fp_procs_timers(fp_procs *set, int64_t now)
{
    /* Backwards: a process that ends swaps the last one into its slot, and
       new ones are added at the end. */
    for (unsigned i = set->n; i-- > 0;)
        if (i < set->n)
            proc_timers(set->v[i], now);
}

void fp_procs_bury(fp_procs *set)
{
    for (fp_list *n; (n = fp_list_pop(&set->graveyard));) {
        fp_proc *pr = FP_LIST_ITEM(n, fp_proc, grave);
        if (pr->ops->destroy)
            pr->ops->destroy(pr);
        fp_proc_free(pr);
    }
}

int64_t fp_procs_due(const fp_procs *set)
{
    int64_t at = 0;
    for (unsigned i = 0; i < set->n; i++) {
        const fp_proc *pr = set->v[i];
        const int64_t due[3] = {pr->deadline, pr->kill_at, pr->check_at};
        for (int k = 0; k < 3; k++)
            if (due[k] && (!at || due[k] < at))
                at = due[k];
    }
    return at;
}

void fp_procs_destroy(fp_procs *set)
{
    while (set->n) {
        fp_proc *pr = set->v[set->n - 1];
        int status;
        fp_kill_group(pr, SIGKILL);
        if (!pr->gone)
            wait_child(pr->pid, &status, NULL); /* ECHILD: reaped elsewhere */
        pr->gone = 1;
        fp_proc_release(pr);
        if (pr->ops->destroy)
            pr->ops->destroy(pr);
        fp_proc_free(pr);
    }
    fp_procs_bury(set);
    free(set->v);
    set->v = NULL;
    set->cap = 0;
}

void fp_procs_forget(fp_procs *set)
{
    fp_close_if(set->epfd);
    set->epfd = -1;
    for (unsigned i = 0; i < set->n; i++) {
        fp_proc *pr = set->v[i];
        for (int k = 0; k < FP_NFDS; k++) {
            fp_close_if(pr->fd[k]);
            pr->fd[k] = -1;
        }
        pr->gone = 1;
    }
}
