/* Ranks with different thread levels: rank 0 starts MPI itself with
   MPI_THREAD_SINGLE (no heartbeat thread: it beats only from its pools'
   loops), the serving ranks let forkpool_mpi_init start it (a heartbeat
   thread of their own). A serving rank must watch rank 0's silence as
   rank 0 beats, not as it could itself: rank 0, idle outside the library
   for 7 s (past the 5 s heartbeat limit) before its first pool, is not
   taken for lost, and that pool's tasks run on the serving ranks. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool.h"
#include "forkpool_mpi.h"
#include "ranks.h"
#include "tap.h"

int main(int argc, char **argv)
{
    if (forkpool_register("rank_of", rank_of))
        return 1;
    const char *rank = getenv("OMPI_COMM_WORLD_RANK");
    int level, mine = rank && strcmp(rank, "0") == 0;
    if (mine)
        MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &level);
    if (forkpool_mpi_init(&argc, &argv) > 0)
        return forkpool_mpi_finalize();
    tap_watchdog(90);
    ok(mine, "rank 0 started MPI itself");
    sleep(7);
    is(run_rank_of(4), 0, "a pool after 7 s idle: await");
    is(lost, 0, "no task failed: the serving ranks did not take rank 0 for lost");
    is(ran_on[1] + ran_on[2], 4, "the tasks ran on the serving ranks");
    is(forkpool_mpi_finalize(), 0, "finalize");
    if (mine)
        MPI_Finalize(); /* it started MPI: it ends it */
    return done_testing();
}
