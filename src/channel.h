/*
 * A child that speaks the wire protocol (a FRESH task's child, a worker):
 * launching it with its channel (channel.c), reading the channel, and
 * turning its frames and its exit into its task's outcome.
 */
#ifndef FP_CHANNEL_H
#define FP_CHANNEL_H

#include <stddef.h>

#include "forkpool.h"
#include "proc.h"
#include "wire.h"

/*
 * Forks a child for pr with a channel (a pipe: the child writes, the parent
 * reads pr->fd[FP_FD_OUT]) and, when keep is set, a request socket (the
 * parent sends on pr->fd[FP_FD_IN]). The child sets the pool's limits (a
 * task's, or a worker's when keep is set; a failure is reported on the
 * channel), then runs entry(arg, channel, request socket or -1), which never
 * returns. With capture_stderr its stderr is a pipe the parent reads
 * (pr->fd[FP_FD_ERR]: fp_chan_read_err). 0 with pr attached, or -1 + errno
 * with nothing left behind.
 */
int fp_chan_fork(forkpool *pool, fp_proc *pr, int keep, void (*entry)(void *arg, int chan, int req),
                 void *arg);

/* Reads what pr's child sent, up to budget bytes, handing each whole frame
   to on_frame(pr, ...). A channel that fails (a read error, a malformed
   frame, on_frame's -1) fails pr's current task and kills pr. */
void fp_chan_read(fp_proc *pr, size_t budget, fp_frame_fn on_frame);

/* capture_stderr: a pipe for a child's stderr (e[0] the parent's end,
   non-blocking; both close-on-exec). 0, or -1 + errno with nothing left. */
int fp_chan_err_pipe(int e[2]);
/* Reads what pr's child wrote to its stderr, up to budget bytes, into
   pr->err, of which the last FP_ERR_TAIL bytes or more are kept after the
   last mark (a worker's, FP_ERR_MARK bytes; NULL: none). */
void fp_chan_read_err(fp_proc *pr, size_t budget, const unsigned char *mark);
/* t, pr's task, ended: what pr's stderr pipe holds is read, and what it
   wrote during t (up to the first mark, which goes too; all without one)
   goes to t (fp_task_take_stderr). Nothing without capture_stderr, or for
   a program (its own capture). */
void fp_chan_end_err(fp_proc *pr, forkpool_task *t, const unsigned char *mark);

/* One frame for t from its child. 0, or -1 when t must be killed (its error
   recorded). END sets t->end_rc. */
int fp_task_frame(forkpool_task *t, unsigned type, unsigned char *payload, size_t len);

/* Settles t from what its child sent and how the child (pr) exited; pr
   NULL: t ran in this process (INLINE). */
void fp_chan_settle(forkpool_task *t, const fp_proc *pr, int known, int status);

#endif
