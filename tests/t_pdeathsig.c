/* Tasks do not outlive their program: when the process that owns the pool is
   SIGKILLed (no chance to clean up), its running tasks die too
   (PR_SET_PDEATHSIG) - including one that ignores SIGTERM. */
#include "forkpool.h"
#include "tap.h"

struct shared {
    _Atomic int pid[4];
    _Atomic int n;
};
static struct shared *sh;

static int task_record_and_sleep(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)len;
    if (*(const int *)arg)
        signal(SIGTERM, SIG_IGN);
    int i = atomic_fetch_add(&sh->n, 1);
    atomic_store(&sh->pid[i], (int)tap_pid());
    tap_pause_forever();
}

static void sub(int no_pidfd)
{
    if (no_pidfd)
        setenv("FORKPOOL_NO_PIDFD", "1", 1);
    forkpool *p = forkpool_create(NULL);
    if (!p)
        _exit(2);
    static int plain = 0, stubborn = 1;
    forkpool_run(p, task_record_and_sleep, &plain, sizeof plain);
    forkpool_run(p, task_record_and_sleep, &stubborn, sizeof stubborn);
    forkpool_await(p); /* never returns: the test kills us */
    _exit(3);
}

static void check(const char *mode, int no_pidfd)
{
    memset(sh, 0, sizeof *sh);
    fflush(stdout);
    pid_t s = fork();
    if (s == 0)
        sub(no_pidfd);
    ok(s > 0, "%s: forked the pool's owner", mode);
    /* both pids, not just the count: a task takes its index before it
       stores its pid, so the second may be recorded before the first */
    int started = TAP_WAIT_UNTIL(atomic_load(&sh->pid[0]) != 0 && atomic_load(&sh->pid[1]) != 0,
                                 10000);
    ok(started, "%s: both tasks are running", mode);
    pid_t t0 = atomic_load(&sh->pid[0]), t1 = atomic_load(&sh->pid[1]);
    ok(t0 > 0 && !tap_pid_dead(t0) && t1 > 0 && !tap_pid_dead(t1), "%s: the task processes exist", mode);
    kill(s, SIGKILL);
    int st = 0;
    is(waitpid(s, &st, 0), s, "%s: reaped the owner", mode);
    ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: the owner died of SIGKILL", mode);
    ok(t0 > 0 && tap_wait_pid_dead(t0, 5000), "%s: the task died with its owner", mode);
    ok(t1 > 0 && tap_wait_pid_dead(t1, 5000), "%s: the SIGTERM-ignoring task died too", mode);
    /* on failure, do not leave orphans holding the TAP pipe open */
    if (t0 > 0 && !tap_pid_dead(t0))
        kill(t0, SIGKILL);
    if (t1 > 0 && !tap_pid_dead(t1))
        kill(t1, SIGKILL);
}

int main(void)
{
    tap_watchdog(30);
    sh = tap_shared(sizeof *sh);
    check("pidfd", 0);
    check("FORKPOOL_NO_PIDFD=1", 1);
    ok(tap_no_children(), "no children");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
