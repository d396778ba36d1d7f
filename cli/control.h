/*
 * control.h: issue #12 item 6, control over when jobs start and stop:
 * --resume, --resume-failed, --retry-failed (with --joblog), --delay,
 * --memfree, --load, --timeout N% and --halt ...=N%. Its state hangs off
 * struct app (a->ctl); main.c, jobs.c and output.c call the hooks below.
 */
#ifndef FPC_CONTROL_H
#define FPC_CONTROL_H

#include <stdbool.h>

#include "app.h"

/* Before the command and inputs are looked at: checks the options of item
   6 and reads the joblog for --resume, --resume-failed and --retry-failed
   (which replaces the command with `$SHELL -c {}` and the inputs with the
   joblog's commands, so that each keeps its number). 0, or -1 after a
   message; call ctl_free either way. */
int ctl_prepare(struct app *a);

/* Once the inputs are set up (a->total_known): checks what needs the
   number of jobs (--halt ...=N%). 0, or -1 after a message. */
int ctl_init(struct app *a);
void ctl_free(struct app *a);

/* Whether the joblog is appended to (resuming from an existing one, whose
   header is then not written again). */
bool ctl_joblog_append(const struct app *a);

/* Whether job number seq is not run (the joblog says it is done). */
bool ctl_skip(const struct app *a, unsigned long seq);

/* Whether a new job may start now (--delay since the last start, --memfree,
   --load); when not, the main loop must poll again within ctl_wait_ms and
   not end while ctl_held. */
bool ctl_may_start(struct app *a);
bool ctl_held(const struct app *a);

/* --retry-failed: j's command line shown (joblog, messages) is the
   joblog's command, not `SHELL -c COMMAND`. 0, or -1 (ENOMEM). */
int ctl_display(const struct app *a, struct job *j);

/* A job's attempt started now (for --delay). */
void ctl_started(struct app *a);

/* How long the main loop may sleep in poll (ms; -1: no limit). */
int ctl_wait_ms(const struct app *a);

/* --timeout N%: cancels every running job that ran longer than N% of the
   median run time of the jobs that succeeded so far. */
void ctl_tick(struct app *a);

/* An attempt of j ended (before it is retried, logged or printed): records
   its run time, and turns our --timeout N% cancel into a timeout. */
void ctl_completed(struct app *a, struct job *j);

/* --halt ...=N%: how many jobs must fail, succeed or be done (N% of all
   jobs); else --halt's count. */
unsigned long ctl_halt_need(const struct app *a);

/* The exit status --halt ...,fail=N% or done=N% gives: the percentage of
   all jobs that failed, rounded up (as GNU parallel). */
int ctl_halt_status(const struct app *a);

/* The exit status when --halt ...=N% never halted the run: the percentage
   of the jobs run that failed, rounded up (GNU parallel's halt()). */
int ctl_end_status(const struct app *a);

#endif
