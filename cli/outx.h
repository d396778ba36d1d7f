/*
 * outx.h: issue #12 item 5, where job output goes besides the default
 * (grouped, printed whole when a job ends): --tagstring, -t/--verbose,
 * --results DIR (or FILE.csv / FILE.tsv), --files, --tmpdir, -u/--ungroup,
 * --eta, --progress (--line-buffer is output.c's). Its state hangs off struct app
 * (a->outx); output.c and jobs.c call the hooks below.
 */
#ifndef FPC_OUTX_H
#define FPC_OUTX_H

#include <stdbool.h>

#include "app.h"

/* Checks the options of item 5 and sets up their state (parses
   --tagstring, opens --results' CSV/TSV file and writes its header).
   After tmpl_parse and inputs_init. 0, or -1 after a message; call
   outx_free either way. */
int outx_init(struct app *a);
void outx_free(struct app *a);

/* forkpool_exec's capture bits for a job: none with --ungroup (the job
   writes to our stdout and stderr itself), else both. */
int outx_capture(const struct app *a);

/* The templates outx_init parsed that perl may have to evaluate
   (--tagstring, --results NAME{...}): at most 2, into out; how many. */
size_t outx_tmpls(struct app *a, struct tmpl **out);

/* An attempt of j starts: expands --tagstring and --results NAME{...} for
   it (j->tag, j->resname: in job order, so Perl expressions see the jobs
   in turn), and prints its command line for -t/--verbose. 0, or -1 and
   errno (EIO: perl failed, after a message). */
int outx_started(struct app *a, struct job *j);

/* The tag to put before each line of j's output (--tag: its inputs and a
   tab; --tagstring: STR expanded, and a tab), as a new string in *tag;
   *tag NULL when lines are not tagged. 0, or -1 (ENOMEM). */
int outx_tag(struct app *a, const struct job *j, char **tag);

/* --results, --files: stores j's output (files under DIR, a CSV/TSV row,
   or a temporary file) and says what to print instead: *out a new string
   for stdout (the file's name and a newline for --files; "" for
   --results), *keep_err whether j's stderr is still printed. *out NULL:
   nothing diverted, print as usual. 0, or -1 after a message. */
int outx_divert(struct app *a, const struct job *j, char **out, bool *keep_err);

#endif
