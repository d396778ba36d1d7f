/*
 * Internal structures and fp_ functions shared by the library's files.
 * Nothing here is part of the public API.
 */
#ifndef FP_INTERNAL_H
#define FP_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "forkpool.h"
#include "wire.h"

#define FP_READ_CHUNK ((size_t)64 * 1024)  /* the parent's staging buffer     */
#define FP_READ_MAX ((size_t)1 << 20)     /* most bytes asked of one read   */
#define FP_READ_BUDGET ((size_t)4 << 20)   /* most bytes read from one task
                                               per event, for fairness        */
#define FP_MSG_BACKLOG ((size_t)64 << 20) /* most message bytes a task may
                                               have waiting for a handler */
#define FP_FALLBACK_POLL_NS (50 * 1000000LL) /* fallback exit check period  */

typedef enum { FP_H_THEN, FP_H_CATCH, FP_H_TIMEOUT, FP_H_MESSAGE } fp_handler_kind;

typedef struct fp_handler {
    fp_handler_kind kind;
    union {
        forkpool_then_fn then;
        forkpool_catch_fn catch_;
        forkpool_timeout_fn timeout;
        forkpool_message_fn message;
    } fn;
    void *ud;
    char *type; /* catch_type's type (owned), or NULL: matches everything */
} fp_handler;

typedef struct fp_exec fp_exec; /* exec.c: a program task's arguments and output */
typedef struct fp_item fp_item; /* map.c: one forkpool_map item being run */

typedef struct fp_buf {
    unsigned char *p;
    size_t len, cap;
} fp_buf;

/* A task's failure, allocated when it fails (most tasks never do). */
typedef struct fp_err {
    forkpool_error err;
    char *type, *msg; /* owned copies behind err.type / err.message, or NULL */
} fp_err;

typedef struct fp_msg {
    struct fp_msg *next;
    size_t len;
    unsigned char *data;
} fp_msg;

/* The fds the parent holds for a task's child; the index is also the kind
   of the fd's epoll event. -1: none (or closed). */
enum {
    FP_FD_OUT = 0,  /* read end of the channel (a function task) or of the
                       program's stdout (an exec task)                      */
    FP_FD_EXIT = 1, /* pidfd; -1: exit found by polling (fallback)          */
    FP_FD_ERR = 2,  /* read end of the program's stderr                    */
    FP_FD_IN = 3,   /* write end of the program's stdin                    */
    FP_NFDS = 4
};

typedef struct fp_worker fp_worker; /* workers.c: a WORKERS worker's state */

/*
 * What the parent keeps about a child process while it exists: a task's
 * own child (FRESH, or a program), or a worker (w set), which runs the
 * tasks on its in-flight list one after the other.
 */
typedef struct fp_proc {
    int fd[FP_NFDS];
    int slot;         /* index in pool->procs                              */
    int gone;         /* reaped, or not ours to signal: never kill(pid)     */
    pid_t pid;
    forkpool_task *task; /* the task it runs: its own, or a worker's
                            current one (NULL while the worker is idle)   */
    fp_worker *w;     /* a worker's state, else NULL                       */
    int dead;         /* ended: off the list, to be freed (fp_proc_retire) */
    struct fp_proc *next_dead;
    long cpu_ms;      /* CPU time the reaped child used                     */
    int64_t started;  /* CLOCK_MONOTONIC ns                                 */
    int64_t deadline; /* timeout due; 0: none                               */
    int64_t kill_at;  /* SIGKILL due (after SIGTERM); 0: none               */
    int64_t check_at; /* fallback: next waitid poll; 0: none                */
    int64_t check_step;
    fp_decoder dec;
} fp_proc;

enum {
    FP_T_RELEASED = 1 << 0,   /* the user gave the handle back            */
    FP_T_CANCELLED = 1 << 1,  /* forkpool_cancel/stop asked for it        */
    FP_T_TIMED_OUT = 1 << 2,  /* its deadline passed                      */
    FP_T_KILLING = 1 << 3,    /* SIGTERM sent, waiting for exit           */
    FP_T_IN_DISPATCH = 1 << 4,/* on pool's dispatch list                  */
    FP_T_SEEN = 1 << 5,       /* handlers ran once since it finished      */
    FP_T_TAKEN = 1 << 6,      /* a handler took the failure               */
    FP_T_GOT_END = 1 << 7,    /* END frame received                       */
    FP_T_THREW = 1 << 8,      /* THROW frame received                     */
    FP_T_ABORTED = 1 << 9,    /* killed for bad output; err already set   */
    FP_T_HAS_RESULT = 1 << 10,/* RESULT or RESULT_FD frame received       */
    FP_T_MAPPED = 1 << 11,    /* result is a mapping (result.c), not heap */
    FP_T_LOST = 1 << 12,      /* RESULT_FD's child ended before the memfd
                                 was taken; err already set              */
    FP_T_UNSET = 1 << 13      /* SPAWN frame: its child's set-up failed
                                 before the task ran; err already set    */
};

struct forkpool_task {
    forkpool *pool;
    forkpool_fn fn;
    forkpool_task *all_prev, *all_next; /* every task of the pool        */
    union {
        forkpool_task *q_prev;          /* the run queue, or             */
        forkpool_task *w_next;          /* a worker's in-flight list     */
    };
    union {                             /* a task is on one list at most: */
        forkpool_task *q_next;          /* the run queue, or             */
        forkpool_task *d_next;          /* the dispatch list             */
    };
    fp_handler *handlers;
    uint32_t nhandlers, cap_handlers, next_handler;
    uint32_t flags;
    pid_t pid;
    union {
        int end_rc;                     /* the function's return value   */
        uint32_t seq;                   /* WORKERS, until END: its number
                                           on its worker's ring           */
    };
    uint8_t state;                      /* a forkpool_state              */
    uint8_t err_kind;                   /* e's kind, kept even when e
                                           could not be allocated         */
    uint16_t pins;                      /* dispatch or forkpool_wait in
                                           progress: do not free         */
    long timeout_ms;
    fp_proc *proc;                      /* while the child exists        */
    fp_exec *exec;                      /* a program task, else NULL     */
    fp_msg *msg_head, *msg_tail;
    size_t backlog;                     /* bytes of messages queued      */
    unsigned char *result;
    size_t result_len;
    fp_err *e;                          /* the failure, or NULL          */
    size_t arg_len;
    unsigned char arg[];
};

struct forkpool {
    forkpool_options opts;
    int epfd, timerfd, eventfd;
    int no_pidfd;          /* pidfd_open unavailable: poll for exits    */
    pid_t self;            /* the pool's process, for PR_SET_PDEATHSIG   */
    pid_t srv_pid;         /* the fork server (server.c); 0: none        */
    int srv_fd;            /* our end of its socket; -1: none            */
    int srv_blob_fd;       /* a large request's memfd while it is sent   */
    unsigned char *srv_stage; /* a request's bytes while it is out       */
    forkpool_task *all;    /* every task not yet freed                   */
    forkpool_task *q_head, *q_tail;
    forkpool_task *d_head, *d_tail;
    fp_proc **procs;       /* every child process the pool watches     */
    unsigned nprocs, cap_procs;
    unsigned nrunning;     /* tasks RUNNING (WORKERS: sent to a worker) */
    unsigned nbusy;        /* concurrency slots taken: FRESH children,
                              programs, workers with tasks in flight    */
    unsigned nworkers;     /* WORKERS: workers taking tasks             */
    fp_proc *graveyard;    /* ended processes, freed after each turn    */
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
    forkpool_stats stats;
    forkpool *reg_next, *reg_prev; /* the process-wide registry         */
    unsigned char stage[FP_READ_CHUNK];
};

/* spawn.c */
int64_t fp_now(void);
void fp_registry_add(forkpool *pool);
void fp_registry_remove(forkpool *pool);
void fp_registry_lock(void);
void fp_registry_unlock(void);
int fp_spawn(forkpool *pool, forkpool_task *t);
int fp_procs_reserve(forkpool *pool);
int fp_fork(forkpool *pool, fp_proc *pr, int keep, void (*entry)(void *arg, int chan, int req),
            void *arg);
fp_proc *fp_proc_new(forkpool *pool);
void fp_proc_attach(forkpool *pool, fp_proc *pr, pid_t pid);
void fp_proc_release(forkpool *pool, fp_proc *pr);
void fp_proc_free(fp_proc *pr);
void fp_proc_close(forkpool *pool, fp_proc *pr, int k);
void fp_close_if(int fd);
int fp_fd_high(int fd);
void fp_kill_group(fp_proc *pr, int sig);
int fp_proc_probe(fp_proc *pr);
int fp_proc_reap(fp_proc *pr, int *status);
void fp_reap_now(fp_proc *pr);

int fp_pidfd_open(forkpool *pool, pid_t pid);
void fp_child_close_library_fds(void);

/* server.c: the fork server (opts.fork_server). An entry runs in a child
   forked from the helper, with the helper's copy of the pool, the request's
   blob and fds; it must not return (it ends with _exit). */
typedef void (*fp_entry)(forkpool *pool, const void *blob, size_t len, const int *fds,
                         int nfds);
int fp_server_start(forkpool *pool);
void fp_server_stop(forkpool *pool);
void fp_server_forget(forkpool *pool);
pid_t fp_server_fork(forkpool *pool, fp_entry entry, const void *blob, size_t len,
                     const int *fds, int nfds);
int fp_server_spawn(forkpool *pool, forkpool_task *t);
int fp_server_proc(forkpool *pool, fp_proc *pr, int keep, fp_entry entry, const void *blob,
                   size_t len, int extra_fd);

/* tree.c */
void fp_tree_kill(pid_t root, int all);
void fp_tree_end_own(void);

/* exec.c */
/* Appends p[0..n) to b, growing it geometrically. 0, or -1 (no memory). */
int fp_buf_append(fp_buf *b, const void *p, size_t n);
int fp_exec_spawn(forkpool *pool, forkpool_task *t, int *step);
void fp_exec_free(fp_exec *x);
const char *fp_exec_name(const forkpool_task *t);
void fp_exec_read(forkpool_task *t, int k, size_t budget);
void fp_exec_write_input(forkpool_task *t);
void fp_exec_settle(forkpool_task *t, int known, int status);
const void *fp_exec_stdout(const forkpool_task *t, size_t *len);

/* child.c */
_Noreturn void fp_child_main(forkpool_task *t, int fd);
struct fp_rbuf;
int fp_child_call(int fd, forkpool_fn fn, const void *arg, size_t len, size_t max_output,
                  struct fp_rbuf *held);
_Noreturn void fp_child_exit(int code);
void fp_run_inline(forkpool_task *t);
/* forkpool_map: fn(arg) with a ctx whose return and throw go to item. */
int fp_item_call(forkpool_fn fn, fp_item *item, const void *arg, size_t len, size_t max_output);

/* map.c: the child's side of a forkpool_map item (forkpool_return and
   forkpool_throw on its ctx land here) */
int fp_item_return(fp_item *item, const void *data, size_t len);
void fp_item_throw(fp_item *item, const char *type, const char *message);

/* task.c */
void fp_task_fail(forkpool_task *t, forkpool_error_kind kind, int code, const char *type,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void fp_task_free(forkpool_task *t);
const forkpool_error *fp_task_err(const forkpool_task *t);
void fp_task_clear_err(forkpool_task *t);
void fp_task_maybe_free(forkpool_task *t);
void fp_task_run_handlers(forkpool_task *t);
int fp_task_settled(const forkpool_task *t);
/* Takes data (malloc'd, or NULL for 0 bytes) even when it fails; on failure
   (backlog full, no memory) the task's error says why. */
int fp_msg_push(forkpool_task *t, unsigned char *data, size_t len);

/* workers.c */
void fp_workers_fill(forkpool *pool);
int fp_worker_frame(void *ud, unsigned type, unsigned char *payload, size_t len);
void fp_worker_event(fp_proc *pr, int kind);
void fp_worker_timers(fp_proc *pr, int64_t now);
int fp_worker_cancel(forkpool_task *t);
forkpool_task *fp_worker_last(fp_proc *pr);
int fp_worker_waiting(const forkpool_task *t);
void fp_worker_free(fp_proc *pr);

/* pool.c */
void fp_settle(forkpool_task *t, int known, int status);
int fp_task_frame(forkpool_task *t, unsigned type, unsigned char *payload, size_t len);
void fp_begin_kill(fp_proc *pr, int64_t now);
int64_t fp_after(int64_t start, long ms);
int fp_epoll_add(forkpool *pool, int fd, uint64_t data, uint32_t events);
void fp_queue_push_front(forkpool *pool, forkpool_task *t);
void fp_queue_remove(forkpool *pool, forkpool_task *t);
void fp_spawn_failed(forkpool_task *t, int err, int step);
void fp_fail_signaled(forkpool_task *t, const fp_proc *pr, int status);
forkpool_task *fp_task_new(forkpool *pool, forkpool_fn fn, const void *arg, size_t len,
                           fp_exec *exec);
void fp_task_abort(forkpool_task *t);
void fp_check_soon(fp_proc *pr);
void fp_poll_step(fp_proc *pr, int64_t now);
void fp_proc_retire(forkpool *pool, fp_proc *pr);
void fp_proc_read(forkpool *pool, fp_proc *pr, size_t budget);
void fp_fill(forkpool *pool);
int fp_start_next(forkpool *pool);
void fp_dispatch_push(forkpool_task *t);
void fp_task_finished(forkpool_task *t);
void fp_arm_timer(forkpool *pool);
/* The event loop, for forkpool_map: enter/leave bracket a drive of the
   loop as in forkpool_await (EINVAL, EDEADLK; leave frees a doomed pool
   and fails with ECANCELED); step is one turn of it (forkpool_poll's). */
int fp_enter(forkpool *pool);
int fp_leave(forkpool *pool, int rc);
int fp_step(forkpool *pool, int timeout_ms);

#endif
