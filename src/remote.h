/*
 * A FORKPOOL_MPI pool on rank 0 (remote.c): each serving rank is one
 * process of the pool (the "rank" kind, with no pid or fds of its own
 * here) holding the tasks sent to it; the hub, shared by every such pool
 * of the process, moves messages through a transport (mpi/mpi.c gives
 * MPI's) and routes what comes back to its pool and task.
 */
#ifndef FP_REMOTE_H
#define FP_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "forkpool.h"

#define FP_REMOTE_POLL_MIN_NS (50 * 1000LL)       /* after traffic...     */
#define FP_REMOTE_POLL_MAX_NS (20 * 1000000LL)    /* ...doubling to this  */

/*
 * The next poll step after a turn (got: something came or went): back to
 * the shortest at once; while idle, doubling up to the longest, and to no
 * more than an eighth of idle_ns, the time since the last traffic. Without
 * that bound two sides that take turns waiting for each other climb to the
 * longest together (a side that polls as seldom as it has waited makes its
 * peer wait as long): two serving ranks given rank 0's tasks one at a time
 * took 20 ms a task. With it a message waits at most about an eighth of
 * the quiet time before it.
 */
static inline int64_t fp_remote_backoff(int64_t step, int got, int64_t idle_ns)
{
    if (got)
        return FP_REMOTE_POLL_MIN_NS;
    step = step ? step * 2 : FP_REMOTE_POLL_MIN_NS;
    if (step > idle_ns / 8)
        step = idle_ns / 8;
    if (step < FP_REMOTE_POLL_MIN_NS)
        step = FP_REMOTE_POLL_MIN_NS;
    return step > FP_REMOTE_POLL_MAX_NS ? FP_REMOTE_POLL_MAX_NS : step;
}

typedef struct fp_transport {
    /* Sends b's bytes to rank as one message; the transport takes them (b
       is left empty, whatever it returns). 0, or -1 + errno (ECONNRESET:
       the rank is gone, and will be reported by lost()). */
    int (*send)(int rank, fp_buf *b);
    /* The next message that has come from any rank: 1 (*msg malloc'd, the
       caller's), 2 (only its header: its body did not fit in memory), 0
       none yet, -1 + errno (ENOMEM: nothing was lost, ask again later;
       else the transport failed: nothing more will come). */
    int (*recv)(int *rank, unsigned char **msg, size_t *len);
    /* A serving rank found lost since the last call (no heartbeat, or it
       ended), or 0. Asked after recv drained what had come. */
    int (*lost)(void);
} fp_transport;

/* Rank 0 of a job of nranks: FORKPOOL_MPI pools created from now on run
   their tasks on ranks 1..nranks-1, rank r having cpus[r] online CPUs
   (copied; 0: the rank is lost already). nranks < 2: they run locally. 0,
   or -1 + ENOMEM. */
int fp_remote_use(const fp_transport *tr, int nranks, const unsigned *cpus);

/* At forkpool_create of a FORKPOOL_MPI pool, before its concurrency is
   defaulted: tells every serving rank about it; the pool's concurrency
   becomes the sum over the ranks. Runs locally (pool->remote NULL) when
   there are no serving ranks. 0, or -1 + errno. */
int fp_remote_open(forkpool *pool);
/* At its destroy: the serving ranks kill what it runs there. */
void fp_remote_close(forkpool *pool);
/* Sends queued tasks to ranks with room (locally: fp_fresh_fill). */
void fp_remote_fill(forkpool *pool);
/* Takes what the ranks sent (for every pool), when it is due. */
void fp_remote_progress(forkpool *pool);
/* When the pool should next look for messages; 0: nothing to wait for. */
int64_t fp_remote_due(const forkpool *pool);

#endif
