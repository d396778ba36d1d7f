/*
 * output.h: what the tool writes about jobs: their captured output (with
 * --tag; by lines with --line-buffer), its own messages about them, the
 * joblog and the progress bar.
 * Never starts, frees or counts jobs (jobs.c does).
 */
#ifndef FPC_OUTPUT_H
#define FPC_OUTPUT_H

#include <stdbool.h>

#include "app.h"

/* GNU parallel's Exitval and Signal for j's final outcome: exit status;
   a signal death is 0 and the signal; a timeout -1 and SIGTERM; a program
   that cannot be run 127 (not found) or 126, like a shell. */
void out_status(const struct job *j, int *exitval, int *sig);

/* Prints j's captured stdout and stderr (each in one write, tagged with
   --tag; with --line-buffer, what out_lines has not printed), then the
   tool's own message about it, if any. 0, or -1 and errno. */
int out_print(struct app *a, struct job *j);

/* --line-buffer: whether job output is printed a line at a time as it
   comes (not with -u, --results or --files). */
bool out_line_buffered(const struct app *a);

/* --line-buffer: prints the complete lines the running jobs wrote since the
   last call (with -k, only the oldest job's; the others' lines wait for
   their turn), tagged as out_print tags them. 0, or -1 and errno. */
int out_lines(struct app *a);

/* Opens the joblog (--joblog; none in --dry-run) and writes its header.
   0, or -1 after a message. */
int out_joblog_open(struct app *a);

/* Appends j's line to the joblog, if any (Command with newlines as NUL, as
   GNU parallel writes them). 0, or -1 and errno. */
int out_joblog_write(struct app *a, const struct job *j);

void out_joblog_close(struct app *a);

/* Redraws the bar on stderr (--bar; else nothing): done/total, percent and
   ETA when the total is known (all inputs given with :::), else counts.
   `final` ends the line. */
void out_bar_draw(struct app *a, bool final);

/* Erases the progress bar line, if one is drawn, before other stderr
   output. 0, or -1 and errno. */
int out_bar_clear(struct app *a);

#endif
