/*
 * The child's side of a task (child.c): the forkpool_ctx functions, running
 * the task's function and reporting its end on the channel; INLINE mode,
 * where the same functions write straight into the task; and a ctx for one
 * forkpool_map item, whose return and throw go to the item's record.
 */
#ifndef FP_CHILD_H
#define FP_CHILD_H

#include <stddef.h>
#include <stdint.h>

#include "forkpool.h"
#include "proc.h"
#include "result.h"

/* In a new child (FRESH, a worker): libc's generators reseeded, unless
   the pool's keep_seed. */
void fp_child_reseed(const forkpool_options *o);
/* In a new child, set up: reseeds, runs child_init and the task, reports
   its end, exits. */
_Noreturn void fp_child_main(forkpool_task *t, int fd);
/*
 * How a worker runs a task (NULL for a FRESH child): err_mark (NULL: none;
 * worker.h) goes to its stderr before END, END goes through the ring when
 * it can (worker.h: the done queue), and END carries what the task
 * used (the parent cannot reap a worker per task). A getrusage per task
 * would cost an empty task a fifth more, so a task shorter than
 * FP_USAGE_SAMPLE_NS is not sampled: its run time counts as user CPU time
 * (it ran, on the worker's one thread, for no longer), and the next sample
 * settles the difference.
 */
#define FP_USAGE_SAMPLE_NS 20000
struct fp_ring; /* worker.h */
typedef struct fp_worker_end {
    const unsigned char *err_mark;
    struct fp_ring *ring; /* where END goes when the task sent nothing
                             through the channel (worker.h)             */
    uint32_t seq;         /* the task's sequence number                 */
    int sampled;         /* base holds a sample                          */
    fp_rusage base;      /* the worker's totals at the last sample       */
    int64_t lent_us;     /* user CPU time reported, unsampled, since     */
    int64_t ran_ns;      /* the last task's run time (wall clock)        */
} fp_worker_end;

/*
 * Runs fn(arg) with a fresh ctx on channel fd and reports its end: the
 * result the task left, then END. max_output: the pool's. held: where a
 * result sent as a memfd stays, for a caller that can keep it open until the
 * parent has it (a FRESH child: fp_rbuf_hold); NULL: results cross as bytes.
 * w: a worker's (see fp_worker_end; the parent cannot reap a worker per
 * task). 0; 1 if *held holds a memfd the parent is taking; -1 if a frame could not
 * be sent (the parent is gone or gave up).
 */
int fp_child_call(int fd, forkpool_fn fn, const void *arg, size_t len, size_t max_output,
                  fp_rbuf *held, fp_worker_end *w);
/* Ends a child: its stdio flushed, what it left running killed, no atexit
   handler of the host run. */
_Noreturn void fp_child_exit(int code);
/* INLINE: runs t's function in this process, its outcome recorded in t. */
void fp_run_inline(forkpool_task *t);

/* forkpool_map's item (map.c), and where its ctx's return and throw go. */
typedef struct fp_item fp_item;
typedef struct fp_item_ops {
    int (*ret)(fp_item *item, const void *data, size_t len);
    void (*throw_)(fp_item *item, const char *type, const char *message);
} fp_item_ops;
/* fn(arg) with a ctx whose return and throw go to item through ops; a
   result built in place (forkpool_result_buffer) is returned to it at the
   end. fn's return value. */
int fp_item_call(forkpool_fn fn, fp_item *item, const fp_item_ops *ops, const void *arg,
                 size_t len, size_t max_output);

#endif
