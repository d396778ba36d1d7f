/*
 * Polling before sleeping (src/spin.c), for WORKERS' round trips (issue
 * #13): a sleeping side is woken by another CPU, which on the VMs measured
 * costs more than the task itself (one task at a time: 10-20 us a round
 * trip asleep, 3 us polling). So the parent waiting for a task's end and
 * an idle worker waiting for its next task first poll for up to a window
 * (forkpool_options.spin_us), yielding the CPU between polls, then sleep.
 *
 * Adaptive: a wait that outlasts the window makes the next waits sleep at
 * once, 1, then 2, 4... up to FP_SPIN_BACKOFF_MAX of them after successive
 * misses; a wait the window caught resets that. Tasks slower than the
 * window thus cost one window in FP_SPIN_BACKOFF_MAX waits or fewer.
 */
#ifndef FP_SPIN_H
#define FP_SPIN_H

#include <stdint.h>

#define FP_SPIN_DEFAULT_US 20L
#define FP_SPIN_MAX_US 100000L
#define FP_SPIN_BACKOFF_MAX 64u

typedef struct fp_spin {
    int64_t window_ns; /* 0: never polls */
    unsigned skip;     /* waits left that sleep at once */
    unsigned backoff;  /* the last skip set; 0 after a hit */
} fp_spin;

/* spin_us as forkpool_options has it: 0 the default, negative never. */
void fp_spin_init(fp_spin *s, long spin_us);
/* Calls probe(arg) until it returns non-zero or the window passes, with
   sched_yield between calls; returns probe's last result (0: the window
   passed, or this wait does not poll). */
int fp_spin_wait(fp_spin *s, int (*probe)(void *arg), void *arg);

#endif
