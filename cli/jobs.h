/*
 * jobs.h: the life of jobs: starting each attempt on the pool (or printing
 * it, --dry-run), taking completions, retries (--retries), --halt, and
 * printing in order (-k). At most a->jobs are outstanding, so every
 * submitted task starts at once and its {%} slot is known when its command
 * is built. Inputs are read only as jobs start, and a task is released as
 * soon as its output is printed; with -k only finished jobs that wait for
 * an earlier one are kept.
 */
#ifndef FPC_JOBS_H
#define FPC_JOBS_H

#include <stddef.h>

#include "app.h"

/* Starts jobs while slots are free and inputs are at hand (none once
   halting, stopping or failed); sets a->input_wait when group 0's stream
   must be read first. */
void jobs_fill(struct app *a);

/* Processes every completion the task handlers queued: each attempt is
   retried, or logged, counted, printed and checked against --halt.
   Returns how many. */
size_t jobs_complete(struct app *a);

/* Sets a->fatal after printing what failed (what: strerror(errno)). A
   reader of our output that went away (EPIPE: `forkpool ... | head`) is no
   error to report: it sets a->stop_signal to SIGPIPE instead, so we stop
   quietly, killing what runs, and exit as SIGPIPE would (141). */
void jobs_fail(struct app *a, const char *what);

/* Frees every job still alive and the -k heap; call after forkpool_destroy
   (which freed their tasks). */
void jobs_free_all(struct app *a);

#endif
