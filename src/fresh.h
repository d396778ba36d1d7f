/*
 * A task in a process of its own (fresh.c): a FRESH pool's task, or a
 * program in any pool. The kind's ops start it, and its end frees the
 * concurrency slot it held.
 */
#ifndef FP_FRESH_H
#define FP_FRESH_H

#include "forkpool.h"
#include "proc.h"

/* What a FRESH pool's function task runs in. */
extern const fp_proc_ops fp_fresh_ops;

/* FRESH mode's fill: starts queued tasks while concurrency slots are free. */
void fp_fresh_fill(forkpool *pool);
/* Takes t off the queue and starts it in a process of its own, of its
   kind (t->kind), if a slot is free. 1 if it did, 0 if none was free. */
int fp_start_own(forkpool *pool, forkpool_task *t);

/* The parts of a task's own process that do not depend on what runs in it
   (the program kind's ops use them too). */
void fp_own_finished(forkpool_task *t);
void fp_own_expired(fp_proc *pr, int64_t now);
int fp_own_cancel(fp_proc *pr, forkpool_task *t);
forkpool_task *fp_own_last(fp_proc *pr);
void fp_own_destroy(fp_proc *pr);

#endif
