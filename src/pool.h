/*
 * The pool as every module of the library sees it: its options, counters,
 * lists and fds. The functions here are the loop's, for forkpool_map.
 */
#ifndef FP_POOL_H
#define FP_POOL_H

#include <stdint.h>
#include <sys/types.h>

#include "forkpool.h"
#include "list.h"
#include "proc.h"
#include "registry.h"
#include "spin.h"

struct forkpool {
    forkpool_options opts;
    fp_reg reg;            /* on the registry: fds a new child closes     */
    fp_procs procs;        /* every child process the pool watches       */
    const fp_proc_ops *own_ops[2]; /* the kind of a task's own process: a
                              FRESH child, a program (fresh.c picks)    */
    struct fp_remote *remote; /* FORKPOOL_MPI with serving ranks (remote.c);
                              NULL: its tasks run here               */
    int timerfd, eventfd;
    pid_t self;            /* the pool's process, for PR_SET_PDEATHSIG   */
    pid_t srv_pid;         /* the fork server (server.c); 0: none        */
    int srv_fd;            /* our end of its socket; -1: none            */
    int srv_blob_fd;       /* a large request's memfd while it is sent   */
    unsigned char *srv_stage; /* a request's bytes while it is out       */
    fp_list all;           /* every task not yet freed (task.all)        */
    fp_list queue;         /* the run queue (task.run)                   */
    fp_list dispatch;      /* tasks whose handlers have work             */
    unsigned nrunning;     /* tasks RUNNING (WORKERS: sent to a worker) */
    unsigned nbusy;        /* concurrency slots taken: FRESH children,
                              programs, workers with tasks in flight    */
    unsigned nworkers;     /* WORKERS: workers taking tasks             */
    size_t nqueued;
    int depth;             /* await/wait/poll nesting (0 or 1)           */
    int in_handler;        /* a handler is running                       */
    int doomed;            /* destroyed from a handler: free on return   */
    int foreign;           /* a copy inherited by a child: unusable      */
    forkpool_task *inline_task; /* INLINE: the task running now           */
    int wake_pending;      /* eventfd holds a count                      */
    int64_t timer_at;      /* what timerfd is armed for; 0: disarmed     */
    int unhandled;         /* failures no handler took, since last await */
    unsigned long stops;   /* forkpool_stop calls (forkpool_map notices) */
    size_t vm_base;        /* max_memory: the address space mapped at
                              create, which children start with        */
    forkpool_then_fn then_fn;   /* forkpool_pool_then; NULL: none        */
    void *then_ud;
    forkpool_catch_fn catch_fn; /* forkpool_pool_catch; NULL: none       */
    void *catch_ud;
    forkpool_stats stats;
    fp_spin spin;          /* WORKERS: polling for a task's end (spin.h) */
    unsigned ncpu;         /* online CPUs at create                      */
    unsigned quick;        /* WORKERS: turns in a row that took ENDs from
                              the rings and left epoll out (fp_step)     */
};

/* The event loop, for forkpool_map: enter/leave bracket a drive of the
   loop as in forkpool_await (EINVAL, EDEADLK; leave frees a doomed pool
   and fails with ECANCELED); step is one turn of it (forkpool_poll's). */
int fp_enter(forkpool *pool);
int fp_leave(forkpool *pool, int rc);
int fp_step(forkpool *pool, int timeout_ms);

#endif
