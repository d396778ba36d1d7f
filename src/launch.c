/*
 * The launcher (launch.h): every fork and clone of the library, and the
 * first steps of every new child.
 *
 * Fork hygiene, in the manner of reproc's process_fork: stdio flushed (else
 * a buffer the parent had not written yet is written by the child too),
 * every signal blocked across the fork (no host handler runs in the child
 * before its handlers are reset), the fds made and the child launched under
 * the registry lock (no other thread's fork may copy an fd that is not yet
 * on the registry), and a failed set-up step reported to the parent rather
 * than guessed from an exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contain.h"
#include "launch.h"
#include "registry.h"
#include "wire.h"

#define FP_VFORK_STACK ((size_t)64 * 1024)

/* ---- in a new child ---- */

const char *fp_launch_step_name(int step)
{
    switch (step) {
    case FP_STEP_BIND:
        return "joining its process group";
    case FP_STEP_MEMORY:
        return "setting max_memory (RLIMIT_AS)";
    case FP_STEP_CPU:
        return "setting max_cpu_ms (RLIMIT_CPU and a CPU-time timer)";
    case FP_STEP_ALLOC:
        return "allocating its own state";
    case FP_STEP_FDS:
        return "setting up its standard streams";
    case FP_STEP_CWD:
        return "changing to its working directory";
    case FP_STEP_CONTAIN:
        return "making its PID namespace (contain)";
    default:
        return "starting the program";
    }
}

_Noreturn void fp_setup_fail(int fd, int err, int step)
{
    unsigned char f[FP_WIRE_HDR + FP_WIRE_SPAWN_LEN];
    fp_wire_spawn(f, err, step);
    ssize_t w;
    do
        w = write(fd, f, sizeof f);
    while (w == -1 && errno == EINTR);
    _exit(127);
}

/*
 * Its own process group (so a kill reaches its descendants), child
 * subreaper (so its orphaned descendants stay in its subtree, where tree.c
 * finds them; kept across exec), and death with the parent. A parent that
 * died before that leaves no one to report to: exit 127.
 */
static void child_bind(pid_t parent)
{
    setpgid(0, 0);
    /* prctl reads all five arguments: unused ones are passed as 0. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 || getppid() != parent)
        _exit(127);
}

/* child_bind, and default handlers for every signal. */
static void child_reset(pid_t parent)
{
    struct sigaction dfl;
    child_bind(parent);
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* EINVAL for libc-reserved ones: fine */
}

/* A CPU-time timer of this process sending sig after ms of CPU (0: made
   disarmed). 0, or -1 + errno. */
static int cpu_timer(int sig, long ms, timer_t *id)
{
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = sig;
    if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &ev, id) != 0)
        return -1;
    struct itimerspec at;
    memset(&at, 0, sizeof at);
    at.it_value.tv_sec = ms / 1000;
    at.it_value.tv_nsec = (ms % 1000) * 1000000;
    return timer_settime(*id, 0, &at, NULL);
}

int fp_child_limits(const forkpool_options *o, fp_limits_for who)
{
    /* A program's launcher shares the parent's memory: its init's pid is
       not kept (the program's exit ends the namespace, contain.h). */
    pid_t program_init;
    if (o->contain &&
        fp_contain_enter(who == FP_LIMITS_PROGRAM ? &program_init : &fp_contain_init) == -1)
        return FP_STEP_CONTAIN;
    if (o->max_memory) {
        struct rlimit as = {o->max_memory, o->max_memory};
        if (setrlimit(RLIMIT_AS, &as) == -1)
            return FP_STEP_MEMORY;
    }
    if (!o->max_cpu_ms || who == FP_LIMITS_WORKER)
        return 0;
    rlim_t secs = (rlim_t)(o->max_cpu_ms / 1000 + (o->max_cpu_ms % 1000 != 0));
    struct rlimit cpu = {who == FP_LIMITS_PROGRAM ? secs : secs + 1, secs + 1};
    timer_t id;
    if (setrlimit(RLIMIT_CPU, &cpu) == -1 ||
        (who == FP_LIMITS_TASK && cpu_timer(SIGXCPU, o->max_cpu_ms, &id) == -1))
        return FP_STEP_CPU;
    return 0;
}

int fp_cpu_timers_new(fp_cpu_timers *ct, long ms)
{
    ct->ms = ms;
    if (!ms)
        return 0;
    if (cpu_timer(SIGXCPU, 0, &ct->id[0]) == -1)
        return -1;
    if (cpu_timer(SIGKILL, 0, &ct->id[1]) == -1) {
        int err = errno;
        timer_delete(ct->id[0]);
        errno = err;
        return -1;
    }
    return 0;
}

void fp_cpu_timers_arm(const fp_cpu_timers *ct, int arm)
{
    if (!ct->ms)
        return;
    for (int i = 0; i < 2; i++) {
        struct itimerspec at;
        memset(&at, 0, sizeof at);
        if (arm) {
            long ms = ct->ms + i * 1000L;
            at.it_value.tv_sec = ms / 1000;
            at.it_value.tv_nsec = (ms % 1000) * 1000000;
        }
        timer_settime(ct->id[i], 0, &at, NULL); /* valid arguments: cannot fail */
    }
}

/* ---- in the parent ---- */

/* What a VFORK child runs on its own stack. */
struct fp_vfork {
    const fp_launch *l;
    int report;
};

static int vfork_child(void *arg)
{
    const struct fp_vfork *v = arg;
    child_reset(v->l->parent);
    v->l->child(v->l->arg, v->report);
    _exit(127);
}

int fp_launch_pipe(int p[2], int nonblock_end)
{
    if (pipe2(p, O_CLOEXEC) == -1)
        return -1;
    for (int i = 0; i < 2; i++)
        if (p[i] < 3) {
            int moved = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
            if (moved == -1)
                goto fail;
            close(p[i]);
            p[i] = moved;
        }
    if (nonblock_end >= 0 && fcntl(p[nonblock_end], F_SETFL, O_NONBLOCK) == -1)
        goto fail;
    return 0;
fail:;
    int err = errno;
    fp_close_if(p[0]);
    fp_close_if(p[1]);
    p[0] = p[1] = -1;
    errno = err;
    return -1;
}

/* Reads a VFORK child's report: 0 if it exec'd (EOF), else its errno
   (*step: the step that failed). */
static int report_read(int fd, int *step)
{
    unsigned char f[FP_WIRE_HDR + FP_WIRE_SPAWN_LEN];
    size_t got = 0;
    while (got < sizeof f) {
        ssize_t r = read(fd, f + got, sizeof f - got);
        if (r > 0)
            got += (size_t)r;
        else if (r == 0 || errno != EINTR)
            break;
    }
    int err;
    if (got != sizeof f || !fp_wire_is(f, FP_FRAME_SPAWN, FP_WIRE_SPAWN_LEN))
        return 0;
    fp_wire_parse_spawn(f + FP_WIRE_HDR, &err, step);
    return err > 0 ? err : EPROTO;
}

/* The VFORK launch: the child has exec'd or reported by the time the clone
   returns (under tools that make it a plain fork, valgrind, the report
   read waits). */
static pid_t launch_vfork(fp_launch *l)
{
    int rep[2];
    char *stack = malloc(FP_VFORK_STACK);
    if (!stack || fp_launch_pipe(rep, -1) == -1) {
        int err = stack ? errno : ENOMEM;
        free(stack);
        errno = err;
        return -1;
    }
    struct fp_vfork v = {l, rep[1]};
    /* The child runs on this thread's state: a pending cancellation must
       not act in it (open and write are cancellation points). */
    int cancel;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    pid_t pid = clone(vfork_child, stack + FP_VFORK_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD,
                      &v);
    int err = errno;
    pthread_setcancelstate(cancel, NULL);
    close(rep[1]);
    if (pid > 0 && (err = report_read(rep[0], &l->step)) != 0) {
        int status;
        while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
            ;
        pid = -1;
    }
    close(rep[0]);
    free(stack);
    errno = err;
    return pid;
}

pid_t fp_launch_run(fp_launch *l)
{
    sigset_t all, old;
    pid_t pid = -1;
    int err = 0;
    l->step = 0;
    if (l->how == FP_LAUNCH_FORK)
        fflush(NULL);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (l->locked)
        fp_registry_lock();
    if (!l->prepare || l->prepare(l->arg) == 0) {
        if (l->how == FP_LAUNCH_VFORK) {
            pid = launch_vfork(l);
        } else {
            pid = l->how == FP_LAUNCH_FORK ? fork() : fp_clone_raw(CLONE_PARENT | SIGCHLD);
            if (pid == 0) {
                if (l->how == FP_LAUNCH_FORK) {
                    /* What another thread printed between our fflush and
                       the fork is the parent's to write: the child's copy
                       would be written again when it flushes. Looked at
                       first: a purge writes the FILE, and each page a new
                       child writes is a copy of the parent's (issue #13). */
                    if (__fpending(stdout))
                        __fpurge(stdout);
                    if (__fpending(stderr))
                        __fpurge(stderr);
                    child_reset(l->parent);
                    fp_registry_forget_all();
                } else {
                    child_bind(l->parent);
                }
                l->child(l->arg, -1);
                _exit(127);
            }
        }
        if (pid > 0 && l->how == FP_LAUNCH_FORK)
            setpgid(pid, pid); /* the child does it too: whichever runs
                                  first closes the race in which we
                                  signal a group not made yet */
        else if (pid <= 0)
            err = errno;
        if (l->done)
            l->done(l->arg, pid);
    } else {
        err = errno;
    }
    if (l->locked)
        fp_registry_unlock();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid > 0)
        return pid;
    /* Only here: after a fork every page is shared with the child until
       written, and a write costs a fault and a copy (issue #13). errno's
       page is written by nothing else on the way. */
    errno = err;
    return -1;
}
