/* WORKERS mode (workers.c): long-lived worker processes, each running
   many tasks in turn. */
#ifndef FP_WORKERS_H
#define FP_WORKERS_H

#include "forkpool.h"

/* WORKERS mode's fill: hands queued tasks to workers (a program to a
   process of its own) and sends each worker its share. */
void fp_workers_fill(forkpool *pool);
/* forkpool_refresh: every worker takes no more tasks; idle ones end now,
   busy ones after their current task, whose followers go back to the
   queue for workers forked from the program as it is now. */
void fp_workers_refresh(forkpool *pool);
/* Takes the ENDs the workers queued in their rings (worker.h); how many. */
int fp_workers_collect(forkpool *pool);
/* on: the loop will look at the rings before it sleeps or returns, so the
   workers need not wake it. Off (before it sleeps or returns): they must;
   then takes what they queued meanwhile, and returns how many. */
int fp_workers_attend(forkpool *pool, int on);

#endif
