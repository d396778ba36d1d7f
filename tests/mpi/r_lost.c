/* A serving rank lost mid-run, under mpirun's recovery options (the job
   survives a dead rank): rank 0 notices within seconds (no heartbeat),
   the tasks that had started there fail FORKPOOL_ERR_LOST, the rest run
   on the other rank, each once; the lost rank's task children are gone;
   new tasks go to the rank left; finalize ends within seconds, even while
   a process that outlived the lost rank holds its connections. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "forkpool.h"
#include "forkpool_mpi.h"
#include "ranks.h"
#include "tap.h"

static int nap(forkpool_ctx *ctx, const void *arg, size_t len)
{
    int ms;
    (void)len;
    memcpy(&ms, arg, sizeof ms);
    usleep((useconds_t)ms * 1000);
    return rank_of(ctx, arg, len);
}

/* A process that outlives rank_pid holding copies of its fds beyond
   stdio (its connections to mpirun's runtime among them), as a program's
   daemon or a stalled exit would: Open MPI's closing fence waited for it,
   holding every other rank in MPI_Finalize. It lives until rank 0 has
   ended (60 s at most) and notes how many fds it holds (note_put). */
static void outlive(pid_t rank_pid, pid_t rank0)
{
    int pidfd = (int)syscall(SYS_pidfd_open, rank_pid, 0), held = 0;
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)rank_pid);
    DIR *d = opendir(dir);
    for (struct dirent *e; pidfd >= 0 && d && (e = readdir(d));)
        if (atoi(e->d_name) > 2 && syscall(SYS_pidfd_getfd, pidfd, atoi(e->d_name), 0) >= 0)
            held++;
    if (d)
        closedir(d);
    if (fork() != 0)
        return;
    setsid();
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; fd++)
        dup2(null, fd);
    (void)note_put(rank0, held);
    for (int i = 0; i < 1200 && kill(rank0, 0) == 0; i++)
        usleep(50000);
    _exit(0);
}

/* Kills the MPI process of its own rank (the parent of the helper that
   forked this child), a process of its own outliving it, then waits to
   be killed in turn. It waits a second first, so that word of its start
   has reached rank 0: a task whose start was not heard of when its rank
   died runs again elsewhere. */
static int kill_my_rank(forkpool_ctx *ctx, const void *arg, size_t len)
{
    pid_t rank0;
    (void)ctx;
    if (len != sizeof rank0)
        return 1;
    memcpy(&rank0, arg, sizeof rank0);
    sleep(1);
    pid_t rank_pid = ppid_of(getppid());
    if (rank_pid > 1) {
        outlive(rank_pid, rank0);
        kill(rank_pid, SIGKILL);
    }
    sleep(60);
    return 0;
}

/* catch: a task that should not have failed; why names its error. */
static int failed;
static char why[256] = "(none)";
static void on_failure(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    (void)ud;
    failed++;
    snprintf(why, sizeof why, "%s", e->message ? e->message : "(no message)");
}

int main(int argc, char **argv)
{
    if (forkpool_register("rank_of", rank_of) || forkpool_register("nap", nap) ||
        forkpool_register("kill_my_rank", kill_my_rank))
        return 1;
    int rc = forkpool_mpi_init(&argc, &argv);
    if (rc > 0)
        return forkpool_mpi_finalize();
    tap_watchdog(90);
    is(rc, 0, "rank 0");
    forkpool_options o = {.mode = FORKPOOL_MPI, .concurrency = 2};
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "a pool, 2 tasks at once per serving rank");

    /* The least busy rank gets the next task, the lower on a tie: the
       killer and a long nap go to rank 1, a 3 s nap to rank 2. */
    pid_t self = getpid();
    forkpool_task *killer = forkpool_run(p, kill_my_rank, &self, sizeof self);
    int ms = 3000, long_ms = 60000;
    forkpool_task *on2 = forkpool_run(p, nap, &ms, sizeof ms);
    forkpool_task *on1 = forkpool_run(p, nap, &long_ms, sizeof long_ms);
    forkpool_catch_type(killer, "forkpool.lost", on_lost, NULL);
    forkpool_catch_type(on1, "forkpool.lost", on_lost, NULL);
    forkpool_then(on2, count, NULL);
    for (int i = 0; i < 20; i++)
        forkpool_task_release(forkpool_then(forkpool_run(p, rank_of, "", 0), count, NULL));
    long long t0 = tap_now_ms();
    is(forkpool_await(p), 0, "await: every failure was taken");
    long long took = tap_now_ms() - t0;
    ok(took < 30000, "done in %lld ms: the loss was noticed within seconds", took);
    is(lost, 2, "the killer and the nap that started on the lost rank failed LOST");
    const forkpool_error *e = forkpool_task_error(on1);
    ok(e && e->kind == FORKPOOL_ERR_LOST && strstr(e->message, "rank 1"),
       "LOST, naming rank 1: %s", e ? e->message : "(none)");
    is(forkpool_task_state(on2), FORKPOOL_SUCCEEDED, "the task on rank 2 succeeded");
    is(ran_on[2], 21, "the 20 quick tasks and the nap ran on rank 2, once each");
    is(ran_on[1], 0, "none is counted from rank 1");
    pid_t kpid = forkpool_task_pid(killer), npid = forkpool_task_pid(on1);
    ok(kpid > 0 && npid > 0, "their children's pids were known (START)");
    ok(TAP_WAIT_UNTIL(kill(kpid, 0) == -1 && kill(npid, 0) == -1, 10000),
       "the lost rank's task children are gone");
    forkpool_task_release(killer);
    forkpool_task_release(on1);
    forkpool_task_release(on2);

    ran_on[2] = 0;
    for (int i = 0; i < 4; i++) {
        forkpool_task *t = forkpool_then(forkpool_run(p, rank_of, "", 0), count, NULL);
        forkpool_task_release(forkpool_catch(t, on_failure, NULL));
    }
    is(forkpool_await(p), 0, "new tasks after the loss");
    is(failed, 0, "none failed (the last failure: %s)", why);
    is(ran_on[2], 4, "all on rank 2");
    forkpool_destroy(p);
    int held = note_get(self, 1);
    ok(held > 0, "a process outlives rank 1 holding %d of its fds", held);
    t0 = tap_now_ms();
    is(forkpool_mpi_finalize(), 0, "finalize without the lost rank");
    took = tap_now_ms() - t0;
    ok(took < 20000,
       "finalize took %lld ms: it does not wait for the lost rank's last process (60 s)", took);
    return done_testing();
}
