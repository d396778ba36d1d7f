/*
 * The launcher: the one place the library makes a process (fork, a
 * vfork-style clone for programs, a CLONE_PARENT clone from the fork
 * server), and the set-up every new child makes before it runs anything of
 * the user's. A set-up step that fails is reported to the parent as a SPAWN
 * frame (wire.h: errno and the step), so the task fails FORKPOOL_ERR_SPAWN
 * with the errno instead of looking like an exit.
 */
#ifndef FP_LAUNCH_H
#define FP_LAUNCH_H

#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "forkpool.h"

typedef enum {
    FP_LAUNCH_FORK,   /* fork(): a copy of the caller runs child()         */
    FP_LAUNCH_VFORK,  /* clone(CLONE_VM | CLONE_VFORK) on a stack of its
                         own: the child borrows the caller's memory until
                         it execs, so child() may only make system calls;
                         the launcher waits for the exec or its report    */
    FP_LAUNCH_SIBLING /* clone(CLONE_PARENT) in the fork server: the child
                         is the server's parent's; no atfork handler runs */
} fp_launch_how;

typedef struct fp_launch {
    fp_launch_how how;
    pid_t parent;  /* the process the child dies with (PR_SET_PDEATHSIG) */
    int locked;    /* take the registry lock around it (not in the server) */
    /* In the parent, every signal blocked (and the lock held if locked):
       makes what the child needs. 0, or -1 + errno (nothing is launched).
       NULL: nothing to make. */
    int (*prepare)(void *arg);
    /* In the child, after the launcher's part of the set-up (FORK: its own
       process group, PDEATHSIG, default handlers, none of the library's
       fds; VFORK: the same but the fds; SIBLING: group and PDEATHSIG),
       every signal still blocked. report: where a failed set-up step is
       reported (VFORK: the launcher's report pipe; -1: the child's own
       channel, which the caller knows). Never returns. */
    void (*child)(void *arg, int report);
    /* In the parent, as prepare: pid > 0 is the new child; -1: the launch
       failed (errno says why) and whatever prepare made must go. */
    void (*done)(void *arg, pid_t pid);
    void *arg;
    int step;      /* set by fp_launch_run: the VFORK child's failed set-up
                      step (FP_STEP_*), 0 if none failed                */
} fp_launch;

/* A fork by the clone system call with flags (SIGCHLD, CLONE_PARENT...):
   no atfork handler runs, so the child may only make system calls. Inline,
   so that contain.c, which launch.c calls, need not call launch.c back. */
static inline pid_t fp_clone_raw(unsigned long flags)
{
    /* Every pointer argument is 0, so only the argument order of the
       architectures that put the stack first matters. */
#if defined(__s390__) || defined(__CRIS__)
    return (pid_t)syscall(SYS_clone, 0, flags, 0, 0, 0);
#else
    return (pid_t)syscall(SYS_clone, flags, 0, 0, 0, 0);
#endif
}

/* Launches a child as l says. Its pid, or -1 + errno: the fork failed, or
   (VFORK) the child reported a failed set-up step (l->step) before its
   exec. */
pid_t fp_launch_run(fp_launch *l);

/* A pipe for a child that moves fds onto 0..2: both ends >= 3 (so that
   cannot clobber them) and close-on-exec; the end nonblock_end (0: read, 1:
   write, -1: neither) non-blocking. 0, or -1 + errno with p = {-1, -1}. */
int fp_launch_pipe(int p[2], int nonblock_end);

/* ---- in a new child ---- */

/* Set-up steps, reported with the errno in a SPAWN frame. */
enum {
    FP_STEP_BIND = 1,   /* process group, PDEATHSIG, the parent alive */
    FP_STEP_MEMORY,     /* max_memory: RLIMIT_AS                    */
    FP_STEP_CPU,        /* max_cpu_ms: RLIMIT_CPU, a CPU-time timer  */
    FP_STEP_ALLOC,      /* memory for the child's own state         */
    FP_STEP_FDS,        /* a program's standard streams             */
    FP_STEP_CWD,        /* a program's working directory            */
    FP_STEP_EXEC,       /* the program itself                       */
    FP_STEP_CONTAIN     /* contain: its PID namespace (contain.h)    */
};

/* What a step set up, for messages ("setting max_memory (RLIMIT_AS)"). */
const char *fp_launch_step_name(int step);

/* Reports a failed set-up step on fd (a SPAWN frame) and exits 127. Only
   system calls: safe in a VFORK child. */
_Noreturn void fp_setup_fail(int fd, int err, int step);

/* Whose limits fp_child_limits sets. */
typedef enum {
    FP_LIMITS_TASK,    /* a FRESH task's child: all of them              */
    FP_LIMITS_PROGRAM, /* a program: RLIMIT_AS and RLIMIT_CPU (timers do
                          not survive exec)                              */
    FP_LIMITS_WORKER   /* a worker: RLIMIT_AS; max_cpu_ms is per task
                          (fp_cpu_timers)                                */
} fp_limits_for;

/*
 * The pool's resource limits in a new child: max_memory as RLIMIT_AS;
 * max_cpu_ms as RLIMIT_CPU in whole seconds (a task: SIGKILL a second past
 * the limit, backing up the SIGXCPU timer; a program: SIGXCPU at the
 * rounded-up limit) and, for a task, a CPU-time timer sending SIGXCPU at
 * the limit. 0, or the failed step (errno set). System calls only, but a
 * task's timer (not made for a program).
 */
int fp_child_limits(const forkpool_options *o, fp_limits_for who);

/*
 * max_cpu_ms for one task at a time in a long-lived process (a worker):
 * two CPU-time timers, SIGXCPU at the limit and SIGKILL a second later for
 * a task that blocks or ignores SIGXCPU, armed relative to the CPU time
 * used so far. fp_cpu_timers_new makes them (0, or -1 + errno);
 * fp_cpu_timers_arm arms (arm) or disarms them.
 */
typedef struct fp_cpu_timers {
    timer_t id[2];
    long ms;
} fp_cpu_timers;
int fp_cpu_timers_new(fp_cpu_timers *ct, long ms);
void fp_cpu_timers_arm(const fp_cpu_timers *ct, int arm);

#endif
