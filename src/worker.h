/*
 * A WORKERS worker: what its process and the parent share (worker.c runs
 * the worker's loop; workers.c is the parent's side).
 *
 * Parent -> worker: a request socket carrying TASK frames (the wire header,
 * then a call: wire.h); a socket so that sending to a worker that died
 * cannot raise SIGPIPE (MSG_NOSIGNAL). Worker -> parent: the channel frames
 * of a FRESH child (MESSAGE, RESULT, THROW, END), one task after the other,
 * so a frame belongs to the oldest task in flight that has not sent END:
 * the worker's current task. Most ENDs skip the channel (the done queue,
 * below) without changing that.
 *
 * A page both map (a memfd, so a worker forked from the fork server maps it
 * too) has one slot per sequence number (mod FP_RING; fp_slot): the parent
 * marks a slot PENDING when it sends the task, the worker moves it to STARTED
 * (compare-and-swap) just before running the task, and skips the task if
 * the parent moved it to REVOKED first. That is how a task that was sent
 * but not started is cancelled without running, moved to an idle worker, or
 * sent to another worker when its own dies: only a task that STARTED can be
 * blamed for a worker's death.
 */
#ifndef FP_WORKER_H
#define FP_WORKER_H

#include <stdatomic.h>
#include <stdint.h>

#include "forkpool.h"

#define FP_WORKER_DEPTH 32 /* most tasks in flight per worker           */
#define FP_RING 128       /* slots; a worker is sent no number a ring
                             ahead of its oldest task (worker_pick)      */

enum { FP_SLOT_PENDING = 1, FP_SLOT_STARTED, FP_SLOT_REVOKED };

/* A slot's word: the task's sequence number (mod 2^30) over its state
   (low 2 bits). A request read long after it was revoked, its slot since
   given to a later task, does not match that task's word and is skipped;
   the parent never gives a worker a number whose slot is still its oldest
   task's (see worker_pick), so a task's own slot is never overwritten. */
static inline uint32_t fp_slot(uint32_t seq, uint32_t state)
{
    return seq << 2 | state;
}

#define FP_ERR_MARK 16 /* bytes of a worker's stderr mark */

/*
 * The END of a task that sent nothing through the channel while it ran
 * (no message, no throw, no large result) skips the pipe: the worker puts
 * it in the ring's done queue, and writes to the channel only if the
 * parent may be asleep (a WAKE frame). A write costs a system call a task,
 * and a system call ~1 us on the VMs measured (issue #13).
 *
 * Order: a worker ends its tasks in order, each END either in the channel
 * or in the queue. The parent takes a queued END only while it belongs to
 * the worker's current task, and before it acts on any frame from the
 * channel: a queued END was put before any later frame was written.
 *
 * Wake-up: `attends` is 1 while the parent is in its loop and will look at
 * the queue before it sleeps or returns. The worker puts an END, then reads
 * `attends`; the parent clears it, then looks at the queue (both
 * sequentially consistent): one of them sees the other, so no END waits
 * unseen. A task may write on the page too: the parent copies each entry
 * it takes and checks it.
 */
#define FP_DONE 64            /* queued ENDs; > FP_WORKER_DEPTH: never full */
#define FP_DONE_RESULT 88     /* the largest result a queued END carries   */
#define FP_DONE_NONE UINT32_MAX /* result_len: the task left no result     */

typedef struct fp_done {
    uint32_t seq;             /* the task's sequence number              */
    int32_t rc;               /* its function's return value             */
    uint32_t result_len;      /* <= FP_DONE_RESULT, or FP_DONE_NONE      */
    uint32_t zero;
    uint64_t usage[3];        /* as END's (wire.h)                       */
    unsigned char result[FP_DONE_RESULT];
} fp_done;

/*
 * With capture_stderr a worker's stderr is one pipe for all its tasks, and
 * nothing orders it with the channel: the parent may read task k+1's first
 * lines before task k's END. So after each task the worker writes err_mark
 * (random bytes the parent chose) to its stderr, before END: what the
 * parent read before the mark is task k's.
 */
typedef struct fp_ring {
    _Atomic uint32_t slot[FP_RING];
    unsigned char err_mark[FP_ERR_MARK];
    _Alignas(64) _Atomic uint32_t done_head; /* ENDs put (the worker's)  */
    _Alignas(64) _Atomic uint32_t done_tail; /* ENDs taken (the parent's) */
    _Atomic uint32_t attends;                /* the parent's, see above  */
    _Alignas(64) fp_done done[FP_DONE];
} fp_ring;

/*
 * The worker's loop, in a new worker (set up: limits, signals): child_init,
 * then read a task, claim its slot, run it, report its end, end what it
 * left; until the parent closes the request socket `in` (exit 0). out is
 * its channel. A malformed request (which the parent never sends) ends it
 * with 126.
 */
_Noreturn void fp_worker_main(forkpool *pool, fp_ring *ring, int in, int out);

#endif
