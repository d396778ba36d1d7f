/*
 * The process layer: one child process of a pool from the moment it is
 * launched to its burial. It watches the process's fds in the pool's epoll
 * set (each event carries the process and the fd's index), keeps its
 * deadline, stages kills (the pool's kill sequence, by default SIGTERM, a
 * grace period, SIGKILL; the subtree: tree.c), finds its exit (pidfd, or
 * polling at doubling intervals), reaps it, and buries it once the loop's batch of events is done.
 *
 * What a process is for is its kind's business: each kind (a task's own
 * child: fresh.c; a program: exec.c; a worker: workers.c) gives a table of
 * operations, and this layer calls them; it never looks at tasks.
 */
#ifndef FP_PROC_H
#define FP_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "forkpool.h"
#include "list.h"
#include "wire.h"

struct rusage;

/* What a process used: its CPU time and peak resident set. */
typedef struct fp_rusage {
    int64_t user_us, sys_us;
    long maxrss_kib;
} fp_rusage;

/* ru's figures as fp_rusage's. */
void fp_rusage_from(fp_rusage *out, const struct rusage *ru);

static inline long fp_rusage_cpu_ms(const fp_rusage *ru)
{
    return (long)((ru->user_us + ru->sys_us) / 1000);
}

#define FP_READ_CHUNK ((size_t)64 * 1024)  /* the parent's staging buffer     */
#define FP_READ_MAX ((size_t)1 << 20)      /* most bytes asked of one read   */
#define FP_READ_BUDGET ((size_t)4 << 20)   /* most bytes read from one process
                                              per event, for fairness         */
#define FP_FALLBACK_POLL_NS (50 * 1000000LL) /* fallback exit check period  */

/* The fds the parent holds for a child; the index is also the kind of the
   fd's epoll event. -1: none (or closed). */
enum {
    FP_FD_OUT = 0,  /* read end of the channel (a function task, a worker)
                       or of a program's stdout                            */
    FP_FD_EXIT = 1, /* pidfd; -1: exit found by polling (fallback)          */
    FP_FD_ERR = 2,  /* read end of a program's stderr, or of a task's or a
                       worker's (capture_stderr)                           */
    FP_FD_IN = 3,   /* write end of a program's stdin, a worker's requests */
    /* Held, never watched: the fork server's round trip parks the child's
       ends here until it has them; a worker's request pipe's read end
       stays in FP_FD_PARK for its life (workers.c: worker_flush).         */
    FP_FD_PARK = 4,
    FP_FD_PARK2 = 5,
    FP_NFDS = 6
};

typedef struct fp_proc fp_proc;

/* A kind of process: what the layer calls. */
typedef struct fp_proc_ops {
    const char *name; /* in messages: "child", "program", "worker"        */
    /* A task's own process: launches pr's child for t (pr->task). 0, or
       -1 + errno and *step (the child's set-up step that failed, 0 if
       none). NULL for a worker. */
    int (*launch)(fp_proc *pr, forkpool_task *t, int *step);
    /* t could not be started (err, step as launch's): it fails SPAWN with
       this kind's message (fp_spawn_failed). */
    void (*launch_failed)(forkpool_task *t, int err, int step);
    /* fd k is ready: FP_FD_OUT or FP_FD_ERR readable (read up to budget
       bytes), FP_FD_IN writable. */
    void (*io)(fp_proc *pr, int k, size_t budget);
    /* The child exited and everything it wrote was read; it is reaped
       (known: status is its wait status; else someone else reaped it).
       The layer retires pr when this returns. */
    void (*exited)(fp_proc *pr, int known, int status);
    /* pr->deadline passed and the child's exit was not seen yet. */
    void (*expired)(fp_proc *pr, int64_t now);
    /* forkpool_cancel of t, which pr holds (not settled, not being
       killed). 0, or -1 + errno. */
    int (*cancel)(fp_proc *pr, forkpool_task *t);
    /* t's timeout_ms changed while pr holds it (forkpool_set_timeout).
       NULL: the layer moves pr's deadline if t is its current task. */
    void (*retime)(fp_proc *pr, forkpool_task *t);
    /* The last task pr holds (for forkpool_stop), or NULL. */
    forkpool_task *(*last)(fp_proc *pr);
    /* The pool is going: pr (killed and reaped already) is freed after
       this; drop what refers to it. */
    void (*destroy)(fp_proc *pr);
} fp_proc_ops;

/* The set of processes a pool watches, embedded in the pool. */
typedef struct fp_procs {
    int epfd;              /* the pool's epoll set                        */
    int no_pidfd;          /* pidfd_open unavailable: poll for exits      */
    forkpool_kill_step kill[FORKPOOL_KILL_STEPS_MAX]; /* the kill sequence */
    unsigned nkill;        /* its steps: SIGKILL follows the last         */
    fp_proc **v;           /* every live process; pr->slot is its index   */
    unsigned n, cap;
    fp_list graveyard;     /* retired, freed after the batch (fp_procs_bury) */
    unsigned char stage[FP_READ_CHUNK]; /* staging buffer for reads       */
} fp_procs;

struct fp_proc {
    const fp_proc_ops *ops;
    fp_procs *set;
    forkpool *pool;   /* the owner, for the kind (never used here)         */
    int fd[FP_NFDS];
    int slot;         /* index in set->v                                   */
    int gone;         /* reaped, or not ours to signal: never kill(pid)     */
    pid_t pid;
    forkpool_task *task; /* the task it runs now, or NULL                  */
    void *kind;       /* the kind's own state (a worker's), or NULL        */
    fp_list grave;    /* in the graveyard: retired, to be freed (dead)     */
    fp_rusage ru;     /* what the reaped child used (zeros until then)      */
    int64_t started;  /* CLOCK_MONOTONIC ns                                 */
    int64_t deadline; /* its task's timeout; 0: none                        */
    int64_t kill_at;  /* the next kill step due; 0: none                    */
    unsigned kill_next; /* that step's index (nkill: the final SIGKILL)     */
    int64_t check_at; /* fallback: next waitid poll; 0: none                */
    int64_t check_step;
    fp_decoder dec;   /* the channel's decoder (channel.c)                 */
    fp_buf err;       /* capture_stderr: what its task wrote so far (the
                         end of it: channel.c trims it)                     */
};

/* Retired: its child ended (and was reaped), its fds are closed; it is
   freed after the batch of events, which may still name it. */
static inline int fp_proc_dead(const fp_proc *pr)
{
    return fp_list_linked(&pr->grave);
}

/* ---- the set (the pool's loop) ---- */

/* An epoll event's data for a set's own fds carry no process, only a
   small kind (< 4): fp_procs_event ignores them (returns 0). */
#define FP_EV_KIND_MASK ((uint64_t)3)

/* Acts on one epoll event's data. 1 if it was a process's, 0 if it was
   one of the pool's own (pointer bits 0: the caller's). */
int fp_procs_event(fp_procs *set, uint64_t data);
/* Acts on deadlines, kills and exit polls due by now. */
void fp_procs_timers(fp_procs *set, int64_t now);
/* Frees the processes retired during the batch of events. */
void fp_procs_bury(fp_procs *set);
/* The earliest deadline, kill or poll of any process; 0: none. */
int64_t fp_procs_due(const fp_procs *set);
/* forkpool_destroy: kills and reaps every process, then destroys it. */
void fp_procs_destroy(fp_procs *set);
/* In a new child: the copy's fds closed, none of its processes ours. */
void fp_procs_forget(fp_procs *set);

/* ---- one process ---- */

/* A process of this kind, not launched yet. NULL (ENOMEM). */
fp_proc *fp_proc_new(fp_procs *set, forkpool *pool, const fp_proc_ops *ops, size_t max_output);
void fp_proc_free(fp_proc *pr);
/* Room for one more process on the list; under the registry lock. 0, or
   -1 + ENOMEM. */
int fp_procs_reserve(fp_procs *set);
/* pr's child pid was just launched: on the list, with its pidfd. Under the
   registry lock, after fp_procs_reserve (cannot fail). */
void fp_proc_attach(fp_proc *pr, pid_t pid);
/* pr on the list before its child exists (the fork server's round trip:
   fds parked in it must be closed by any fork meanwhile); gone is set.
   Under the registry lock, after fp_procs_reserve. */
void fp_proc_park(fp_proc *pr);
/* A pidfd for pid, or -1 (polled; ENOSYS switches the set to polling). */
int fp_proc_pidfd(fp_procs *set, pid_t pid);
/* Watches pr's fds (the request fd only for FP_FD_IN if watch_in), and
   starts its exit polling when it has no pidfd. -1 + errno if one could
   not be watched: pr is then aborted (fp_proc_abort) and its exit polled. */
int fp_proc_watch(fp_proc *pr, int watch_in, int64_t now);
/* Watches fd k of pr for events (EPOLLIN, or EPOLLOUT for FP_FD_IN). */
int fp_proc_watch_fd(fp_proc *pr, int k);
/* Stops watching and closes fd k of pr, if open. */
void fp_proc_close(fp_proc *pr, int k);

/* Signals pr's child and its whole process group (and, for any signal but
   SIGCONT, descendants that left it: tree.c; all of them before SIGKILL,
   else those outside the group). Nothing once it is gone. */
void fp_kill_group(fp_proc *pr, int sig);
/* Starts the kill sequence: its first signal (and SIGCONT) now, each next
   one when the step before has waited, SIGKILL after the last. */
void fp_proc_terminate(fp_proc *pr, int64_t now);
/* SIGKILL now; no more reading or feeding (every fd but the exit's
   closed); its exit looked for at once. */
void fp_proc_abort(fp_proc *pr);
/* Fallback: the child is about to exit (its channel ended): look now. */
void fp_check_soon(fp_proc *pr);
/* If pr's child has exited (exited: known to have), reads what it left
   while it is an unreaped zombie (so a kill for bad data cannot reach a
   reused pid), reaps it, tells its kind, retires it. */
void fp_proc_check_exit(fp_proc *pr, int exited);
/* Has pr's child exited? 0: not yet; 1: yes, still a zombie; -1: reaped
   by someone else (SIGCHLD ignored, waitpid(-1) in the host). */
int fp_proc_probe(fp_proc *pr);
/* Off the list, its fds closed (a launch that failed half way). */
void fp_proc_release(fp_proc *pr);
/* Off the list (its fds closed), freed after the batch of events. */
void fp_proc_retire(fp_proc *pr);

#endif
