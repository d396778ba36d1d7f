/* A serving rank's helper dies (killed, as an OOM killer would) under
   mpirun's recovery options: that rank stops serving and says BYE; a
   task rank 0 sent it in the meantime, too large to be sent eagerly,
   runs again on the other rank; and finalize on rank 0 still ends within
   seconds, though that send to the rank that stopped listening can
   never complete. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool.h"
#include "forkpool_mpi.h"
#include "ranks.h"
#include "tap.h"

#define BIG ((size_t)1 << 20)

/* Kills the helper that forked this child (and so this child), having
   noted its pid (note_put). */
static int kill_my_helper(forkpool_ctx *ctx, const void *arg, size_t len)
{
    pid_t rank0, helper = getppid();
    (void)ctx;
    if (len != sizeof rank0)
        return 1;
    memcpy(&rank0, arg, sizeof rank0);
    if (note_put(rank0, (int)helper) == -1)
        return 1;
    kill(helper, SIGKILL);
    sleep(60);
    return 0;
}

/* catch on the large tasks: none should fail; the first failure is kept
   for the diagnostics. */
static int big_failed;
static char big_why[256];
static void on_big_failed(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    (void)ud;
    if (!big_failed++)
        snprintf(big_why, sizeof big_why, "kind %d (%s), code %d: %s", (int)e->kind,
                 forkpool_error_kind_name(e->kind), e->code, e->message);
}

int main(int argc, char **argv)
{
    if (forkpool_register("rank_of", rank_of) || forkpool_register("kill_my_helper", kill_my_helper))
        return 1;
    int rc = forkpool_mpi_init(&argc, &argv);
    if (rc > 0) {
        forkpool_mpi_finalize(); /* -1 (EPROTO) on rank 1: its helper died */
        return 0;
    }
    tap_watchdog(90);
    is(rc, 0, "rank 0");
    forkpool_options o = {.mode = FORKPOOL_MPI, .concurrency = 2};
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "a pool, 2 tasks at once per serving rank");

    /* The least busy rank gets the next task, the lower on a tie: the
       killer goes to rank 1. Rank 0 then looks away while rank 1's helper
       dies and rank 1 stops listening; of the large tasks sent next, the
       first goes to rank 2, the second to rank 1. */
    pid_t self = getpid(), helper = 0;
    forkpool_task *killer = forkpool_run(p, kill_my_helper, &self, sizeof self);
    forkpool_catch(killer, on_lost, NULL);
    /* Rank 1 reaps its helper once its relay has stopped (agent_end). */
    ok(TAP_WAIT_UNTIL((helper = note_get(self, 0)) > 0 && kill(helper, 0) == -1, 30000),
       "rank 1's helper (%d) died and was reaped: rank 1 no longer listens", (int)helper);
    (void)note_get(self, 1);
    char *big = calloc(1, BIG);
    if (!big)
        return 1;
    for (int i = 0; i < 4; i++)
        forkpool_task_release(forkpool_catch(
            forkpool_then(forkpool_run(p, rank_of, big, BIG), count, NULL), on_big_failed, NULL));
    free(big);
    is(forkpool_await(p), 0, "await: every failure was taken");
    is(big_failed, 0, "no large task failed%s%s", big_failed ? ": the first: " : "", big_why);
    is(lost, 1, "the killer failed (its helper died)");
    is(ran_on[2], 4, "the 4 large tasks ran on rank 2, once each");
    forkpool_task_release(killer);
    forkpool_destroy(p);
    long long t0 = tap_now_ms();
    is(forkpool_mpi_finalize(), 0, "finalize");
    long long took = tap_now_ms() - t0;
    ok(took < 20000, "finalize took %lld ms: a send the lost rank will never take does not hold it",
       took);
    return done_testing();
}
