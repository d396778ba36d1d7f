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
 * a child of the serving rank's helper, never in the rank itself.
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
 * 0 at once, once every serving rank said hello: the caller creates
 * FORKPOOL_MPI pools. On every other rank it serves tasks for rank 0 and
 * returns only after rank 0 called forkpool_mpi_finalize, returning its
 * rank (> 0). -1 and errno on error: EALREADY (called before), EPROTO (an
 * MPI call failed, or the helper died), or fork's or socketpair's errno.
 */
int forkpool_mpi_init(int *argc, char ***argv);
/* Rank 0: ends the serving ranks (call it after destroying the pools:
   tasks still running there fail FORKPOOL_ERR_LOST, later ones run
   locally). Every rank: finalises MPI if forkpool_mpi_init initialised it.
   0, or -1 and errno (EINVAL: not initialised; EPROTO). */
int forkpool_mpi_finalize(void);
/* The rank this process serves (0: the program's), the task's rank in a
   task's child; -1 before forkpool_mpi_init. */
int forkpool_mpi_rank(void);
/* The number of ranks; 0 before forkpool_mpi_init. */
int forkpool_mpi_size(void);

#ifdef __cplusplus
}
#endif

#endif
