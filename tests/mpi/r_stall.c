/* A serving rank that stalls (SIGSTOP) past the heartbeat limit, under
   mpirun's recovery options: rank 0 takes it for lost (its started task
   fails FORKPOOL_ERR_LOST, the rest run on the other rank) and tells it to
   end, so that when it comes back (SIGCONT) it kills its task's child
   instead of running on beside the tasks run again elsewhere. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool.h"
#include "forkpool_mpi.h"
#include "ranks.h"
#include "tap.h"

/* Sends the pid of its rank's MPI process (the parent of its helper),
   waits a second for that to reach rank 0, stops that process, then
   lingers. */
static int stall_my_rank(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    pid_t rank_pid = ppid_of(getppid());
    forkpool_send(ctx, &rank_pid, sizeof rank_pid);
    sleep(1);
    if (rank_pid > 1)
        kill(rank_pid, SIGSTOP);
    sleep(60);
    return 0;
}

static pid_t stalled;
static void on_pid(forkpool_task *t, const void *m, size_t len, void *ud)
{
    (void)t;
    (void)ud;
    if (len == sizeof stalled)
        memcpy(&stalled, m, sizeof stalled);
}

int main(int argc, char **argv)
{
    if (forkpool_register("rank_of", rank_of) || forkpool_register("stall_my_rank", stall_my_rank))
        return 1;
    if (forkpool_mpi_init(&argc, &argv) > 0)
        return forkpool_mpi_finalize();
    tap_watchdog(90);
    forkpool_options o = {.mode = FORKPOOL_MPI, .concurrency = 1};
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "a pool, 1 task at once per serving rank");
    /* The stalling task goes to rank 1, the lower of two idle ranks. */
    forkpool_task *st = forkpool_run(p, stall_my_rank, "", 0);
    forkpool_on_message(st, on_pid, NULL);
    forkpool_catch_type(st, "forkpool.lost", on_lost, NULL);
    for (int i = 0; i < 6; i++)
        forkpool_task_release(forkpool_then(forkpool_run(p, rank_of, "", 0), count, NULL));
    long long t0 = tap_now_ms();
    is(forkpool_await(p), 0, "await: the stalled rank's task was caught");
    ok(tap_now_ms() - t0 < 30000, "the stall was noticed within seconds");
    is(lost, 1, "the task on the stalled rank failed LOST");
    is(ran_on[2], 6, "the other tasks ran on rank 2");
    pid_t child = forkpool_task_pid(st);
    ok(stalled > 1 && child > 0, "the stalled rank's pid and its task's child's are known");
    if (stalled > 1)
        kill(stalled, SIGCONT);
    ok(TAP_WAIT_UNTIL(child > 0 && kill(child, 0) == -1, 10000),
       "back from its stall, the rank ended its task's child (rank 0 told it to end)");
    forkpool_task_release(st);
    forkpool_destroy(p);
    is(forkpool_mpi_finalize(), 0, "finalize");
    return done_testing();
}
