/* Without a heartbeat thread (the program starts MPI itself with
   MPI_THREAD_SINGLE), a serving rank watches rank 0's silence only while it
   runs tasks for rank 0: rank 0 beats from its pools' loops, which it runs
   only while it has tasks out. Tasks killed with their pool
   (forkpool_destroy while they run) must stop counting: rank 0, idle past
   the 5 s heartbeat limit afterwards, is not taken for lost, and its next
   pool's tasks run on the serving ranks. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "forkpool.h"
#include "forkpool_mpi.h"
#include "ranks.h"
#include "tap.h"

/* Says it started, then runs until its pool is destroyed. */
static int linger(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    int r = forkpool_mpi_rank();
    forkpool_send(ctx, &r, sizeof r);
    sleep(120);
    return 0;
}

static int started;
static void on_start(forkpool_task *t, const void *m, size_t len, void *ud)
{
    (void)t;
    (void)m;
    (void)len;
    (void)ud;
    started++;
}

int main(int argc, char **argv)
{
    if (forkpool_register("rank_of", rank_of) || forkpool_register("linger", linger))
        return 1;
    int level;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &level);
    if (forkpool_mpi_init(&argc, &argv) > 0) {
        int rc = forkpool_mpi_finalize();
        MPI_Finalize(); /* the program started MPI: it ends it */
        return rc;
    }
    tap_watchdog(90);
    forkpool_options o = {.mode = FORKPOOL_MPI, .concurrency = 1};
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "a pool, 1 task at once per serving rank");
    for (int i = 0; i < 2; i++)
        forkpool_task_release(forkpool_on_message(forkpool_run(p, linger, "", 0), on_start, NULL));
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 10), started == 2), 20000),
       "a lingering task runs on each serving rank");
    forkpool_destroy(p);
    /* Idle, no MPI call: past the limit after which a rank that rank 0
       owes heartbeats takes it for lost (FP_LOST_NS, 5 s). */
    sleep(7);
    is(run_rank_of(4), 0, "a second pool: await");
    is(lost, 0, "no task failed: the serving ranks did not take rank 0 for lost");
    is(ran_on[1] + ran_on[2], 4, "the second pool's tasks ran on the serving ranks");
    is(forkpool_mpi_finalize(), 0, "finalize");
    MPI_Finalize();
    return done_testing();
}
