/*
 * A task as the parent keeps it (task.c): its handlers, its outcome, the
 * run queue and the dispatch list it travels through, and the outcome
 * ladder every kind of process ends with (fp_settle_common).
 */
#ifndef FP_TASK_H
#define FP_TASK_H

#include <stdint.h>
#include <sys/types.h>

#include "forkpool.h"
#include "list.h"

#define FP_MSG_BACKLOG ((size_t)64 << 20) /* most message bytes a task may
                                             have waiting for a handler */
#define FP_ERR_TAIL ((size_t)64 << 10)    /* capture_stderr keeps this much:
                                             the end of what a task wrote */

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

typedef struct fp_exec fp_exec; /* program.h: a program task's arguments and output */
typedef struct fp_proc fp_proc; /* proc.h */
struct fp_buf;                  /* buf.h */
struct fp_more;                 /* task.c */

/* A task's failure, allocated when it fails (most tasks never do). */
typedef struct fp_err {
    forkpool_error err;
    char *type, *msg; /* owned copies behind err.type / err.message, or NULL */
} fp_err;

typedef struct fp_msg {
    fp_list node;
    size_t len;
    unsigned char *data;
} fp_msg;

enum {
    FP_T_RELEASED = 1 << 0,   /* the user gave the handle back            */
    FP_T_CANCELLED = 1 << 1,  /* forkpool_cancel/stop asked for it        */
    FP_T_TIMED_OUT = 1 << 2,  /* its deadline passed                      */
    FP_T_KILLING = 1 << 3,    /* SIGTERM sent, waiting for exit           */
    FP_T_OWN = 1 << 4,        /* the library's own (a forkpool_map run):
                                 the pool's handlers skip it             */
    FP_T_SEEN = 1 << 5,       /* handlers ran once since it finished      */
    FP_T_TAKEN = 1 << 6,      /* a handler took the failure               */
    FP_T_GOT_END = 1 << 7,    /* END frame received                       */
    FP_T_THREW = 1 << 8,      /* THROW frame received                     */
    FP_T_ABORTED = 1 << 9,    /* killed for bad output; err already set   */
    FP_T_HAS_RESULT = 1 << 10,/* RESULT or RESULT_FD frame received       */
    FP_T_MAPPED = 1 << 11,    /* result is a mapping (result.c), not heap */
    FP_T_LOST = 1 << 12,      /* RESULT_FD's child ended before the memfd
                                 was taken; err already set              */
    FP_T_UNSET = 1 << 13,     /* SPAWN frame: its child's set-up failed
                                 before the task ran; err already set    */
    FP_T_STARTED = 1 << 14,   /* FORKPOOL_MPI: its rank said it started   */
    FP_T_NO_END = 1 << 15     /* no memory to record its usage (fp_more)  */
};

struct forkpool_task {
    forkpool *pool;
    forkpool_fn fn;
    fp_list all;                        /* every task of the pool        */
    fp_list run;                        /* the run queue, or a worker's
                                           in-flight list                 */
    fp_list dispatch;                   /* on the pool's dispatch list:
                                           its handlers have work         */
    fp_handler *handlers;
    uint32_t nhandlers, cap_handlers, next_handler;
    uint32_t flags;
    pid_t pid;
    int end_rc;                         /* the function's return value   */
    uint8_t state;                      /* a forkpool_state              */
    uint8_t err_kind;                   /* e's kind, kept even when e
                                           could not be allocated         */
    uint16_t pins;                      /* dispatch or forkpool_wait in
                                           progress: do not free         */
    uint32_t seq;                       /* WORKERS: its number on its
                                           worker's ring (kept past END:
                                           a killed worker's exit reads
                                           its current task's slot)       */
    long timeout_ms;
    fp_proc *proc;                      /* while a process holds it      */
    fp_exec *exec;                      /* a program task, else NULL     */
    unsigned char *result;
    size_t result_len;
    struct fp_more *more;               /* what a task gets once it has
                                           more than a queued one needs:
                                           messages, its failure, usage,
                                           captured stderr (task.c); NULL
                                           until then                     */
    size_t arg_len;
    unsigned char arg[];
};

/* ---- errors and outcome ---- */

/* Records t's failure (replacing any earlier one). type NULL: the kind's
   own type. Never lost for want of memory (the kind's fixed record). */
void fp_task_fail(forkpool_task *t, forkpool_error_kind kind, int code, const char *type,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
const forkpool_error *fp_task_err(const forkpool_task *t);
void fp_task_clear_err(forkpool_task *t);
/* SUCCEEDED or FAILED. */
int fp_task_settled(const forkpool_task *t);
/* Settled, and every message and handler of it has run: what
   forkpool_wait waits for. */
int fp_task_done(const forkpool_task *t);
/* Sent to a worker ahead of time, not its current task, or to a serving
   rank that did not say it started: to the user it is still queued. */
int fp_task_waiting(const forkpool_task *t);
/* Releases t's result however it was made (heap or mapping). */
void fp_result_free(forkpool_task *t);
/*
 * The steps of the outcome ladder that do not depend on the kind of
 * process: aborted or set-up failed (error recorded), cancelled, timed out,
 * killed by a signal we did not send (who: "task" or the program's name in
 * quotes; ru: what the reaped process used, or NULL). 1 if t is settled
 * (FAILED, stats counted), 0 if the kind decides the rest.
 */
int fp_settle_common(forkpool_task *t, int known, int status, const char *who,
                     const struct fp_rusage *ru);
/* t ended: records what it used (forkpool_task_usage), its run time
   counted from started (CLOCK_MONOTONIC ns). ru NULL: CPU and memory not
   known (zeros). */
void fp_task_set_usage(forkpool_task *t, int64_t started, const struct fp_rusage *ru);
/* capture_stderr: t's process wrote *tail (the last FP_ERR_TAIL bytes or
   more; taken, *tail left empty). Kept for forkpool_task_stderr; a crash,
   exit or throw's message ends with its last non-empty line. */
void fp_task_take_stderr(forkpool_task *t, struct fp_buf *tail);
/* After the ladder: a task that succeeded forgets any error recorded on
   the way, one that failed releases any result. */
void fp_settle_end(forkpool_task *t);
/* Kills t's process at once for what it sent (t's error recorded). */
void fp_task_abort(forkpool_task *t);
/* t is cancelled before it started (off the queue, or revoked from a
   worker): it fails CANCELLED at once, counted, and is dispatched. */
void fp_cancel_unstarted(forkpool_task *t);
/* The start of t failed: it fails SPAWN with err (and the message's
   printf arguments), counted, and is dispatched. */
void fp_spawn_failed(forkpool_task *t, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the run queue and the dispatch list (the pool's) ---- */

/* The task at the head of the queue, or NULL. */
forkpool_task *fp_queue_head(forkpool *pool);
void fp_queue_push(forkpool *pool, forkpool_task *t);
/* Back to the head of the queue (QUEUED, no pid): a task a worker took but
   never started. */
void fp_queue_push_front(forkpool *pool, forkpool_task *t);
void fp_queue_remove(forkpool *pool, forkpool_task *t);
/* Puts a task whose handlers have something to do on the dispatch list
   (and makes forkpool_fd readable outside the loop). */
void fp_dispatch_push(forkpool_task *t);
/* Runs the handlers of the tasks on the dispatch list. 1 if there were
   any, else 0. */
int fp_dispatch_run(forkpool *pool);
/* Makes forkpool_fd readable for work that has no fd of its own. */
void fp_wake(forkpool *pool);

/* ---- life ---- */

/* Takes data (malloc'd, or NULL for 0 bytes) even when it fails; on failure
   (backlog full, no memory) the task's error says why. */
int fp_msg_push(forkpool_task *t, unsigned char *data, size_t len);
void fp_task_free(forkpool_task *t);
void fp_task_maybe_free(forkpool_task *t);
void fp_task_run_handlers(forkpool_task *t);

#endif
