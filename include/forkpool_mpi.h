/*
 * forkpool over MPI (the MPI build: `make MPI=1`, libforkpool_mpi, which
 * holds the whole library; `pkg-config --cflags --libs forkpool-mpi`).
 *
 * Rank 0 runs the program; every other rank serves it: FORKPOOL_MPI pools
 * made on rank 0 run their tasks on the serving ranks, each in a child of
 * its own there (see "MPI mode" in forkpool.h). A typical program:
 *
 *     forkpool_register("work", work);          // in every rank, first
 *     if (forkpool_mpi_init(&argc, &argv) > 0)  // serving ranks stay here
 *         return forkpool_mpi_finalize();
 *     ... pools with .mode = FORKPOOL_MPI ...
 *     forkpool_destroy(pool);
 *     return forkpool_mpi_finalize();
 *
 * A serving rank runs its tasks from a helper process forked before MPI
 * starts (Open MPI discourages fork after MPI_Init); when the program
 * started MPI itself, the helper is forked after, which works on
 * shared-memory and TCP transports. The rank is read from the launcher's
 * environment (Open MPI, PMIx, PMI, Slurm) to know before MPI_Init that a
 * process serves.
 *
 * Faults: by default Open MPI ends the whole job when any rank dies. A
 * task that crashes, exits or times out fails that task alone: it runs in
 * a child of the serving rank's helper, never in the rank itself. Under
 * mpirun's recovery options, ranks watch each other by heartbeats (one a
 * second; silent for 5 s: lost), from a thread of their own when MPI gives
 * MPI_THREAD_MULTIPLE (it does when forkpool_mpi_init starts MPI). A
 * program that started MPI with less beats only from its pools' loops:
 * while tasks run out, rank 0 must come back to them within 5 s.
 *
 * Threads: call these, and use FORKPOOL_MPI pools, from one thread.
 */
#ifndef FORKPOOL_MPI_H
#define FORKPOOL_MPI_H

#include "forkpool.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Initialises MPI (or uses MPI the program initialised). On rank 0 returns
 * 0 once every serving rank said hello (a rank silent for 5 s meanwhile
 * counts as lost): the caller creates FORKPOOL_MPI pools. On every other
 * rank it serves tasks for rank 0 until rank 0 calls
 * forkpool_mpi_finalize, or is lost, or serving fails, and then returns
 * its rank (> 0) whatever happened: forkpool_mpi_finalize says how serving
 * ended. -1 and errno only before MPI is up (EALREADY: called before;
 * EPROTO: MPI_Init failed; or fork's or socketpair's errno), or on rank 0
 * (ENOMEM, EPROTO: an MPI call failed), where forkpool_mpi_finalize must
 * still be called to end the serving ranks and MPI.
 */
int forkpool_mpi_init(int *argc, char ***argv);
/* Rank 0: ends the serving ranks (call it after destroying the pools:
   tasks still running there fail FORKPOOL_ERR_LOST, later ones run
   locally). Every rank: finalises MPI if forkpool_mpi_init initialised it
   (not on a serving rank that lost rank 0: MPI_Finalize would wait for it
   for ever); the live ranks meet first, for 5 s at most, in place of Open
   MPI's closing fence, which a lost rank could hold for ever (see
   docs/DESIGN.md). 0, or -1 and errno: EINVAL (not initialised), EPROTO (an MPI
   call failed, or the serving rank's helper died), ECONNRESET (a serving
   rank lost rank 0), ENOMEM, or the helper's fork or socketpair errno. */
int forkpool_mpi_finalize(void);
/* The rank this process serves (0: the program's), the task's rank in a
   task's child; -1 before forkpool_mpi_init. */
int forkpool_mpi_rank(void);
/* The number of ranks (in a task's child, the launcher's figure); 0
   before forkpool_mpi_init. */
int forkpool_mpi_size(void);

#ifdef __cplusplus
}
#endif

#endif
