/* Descendants that leave the task's process group (setsid, setpgid) are
   still killed: on timeout (also when the task dies of the SIGTERM at once,
   also when it ignores it), on cancel (a fork bomb whose members setsid),
   when the task returns normally, when the task child itself moves to
   another group, and for an exec'd program. Orphans (a descendant whose
   parent exited) count too: the task child is their subreaper.

   "All gone" is exact for function tasks: every descendant holds the write
   end of a pipe the test made just before the task, and read() on it gives
   EOF only once the last holder died. An exec'd program gets only fds 0-2,
   so its descendants print their pids and each must end. */
#include <poll.h>
#include <sys/prctl.h>

#include "forkpool.h"
#include "tap.h"

#define MAXP 1024

static char self_path[4096]; /* this program, for the helper (exec) cases */
#define NKIDS 3 /* escapees per task */

struct shared {
    _Atomic int n;         /* descendants recorded */
    _Atomic int pid[MAXP]; /* their pids            */
};
static struct shared *sh;

/* ------------------------------------------------- in the task's subtree */

static void record_self(void)
{
    int i = atomic_fetch_add(&sh->n, 1);
    if (i < MAXP)
        atomic_store(&sh->pid[i], (int)tap_pid());
}

/* A descendant that left the group for good: new session, SIGTERM
   ignored, sleeps forever. daemonize: the classic double fork, so the one
   that stays is an orphan (its parent exits at once). */
static _Noreturn void escape(int daemonize)
{
    if (setsid() == -1)
        _exit(120);
    if (daemonize) {
        pid_t d = fork();
        if (d != 0)
            _exit(d > 0 ? 0 : 121);
    }
    signal(SIGTERM, SIG_IGN);
    record_self();
    tap_pause_forever();
}

struct how {
    int ignore_term; /* the task child ignores SIGTERM           */
    int daemonize;   /* the escapees double-fork (orphans)        */
    int ret;         /* return once they are all there            */
};

static int task_escapees(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    const struct how *h = arg;
    if (h->ignore_term)
        signal(SIGTERM, SIG_IGN);
    for (int i = 0; i < NKIDS; i++) {
        pid_t c = fork();
        if (c == 0)
            escape(h->daemonize);
        if (c < 0)
            return forkpool_throw(ctx, "fork", "fork: %s", strerror(errno));
    }
    if (!h->ret)
        tap_pause_forever();
    if (!TAP_WAIT_UNTIL(atomic_load(&sh->n) == NKIDS, 10000))
        return forkpool_throw(ctx, "setup", "the escapees did not start");
    return forkpool_return(ctx, "returned", 8);
}

/* Each member starts a new session and forks `fanout` members of its own,
   down to depth levels: bounded by construction, not by rlimits (the tests
   may run as root). */
static _Noreturn void bomb(int depth, int fanout)
{
    int i = 0;
    while (depth > 0 && i < fanout) {
        i++;
        if (fork() == 0) { /* a new member: one level down, its own forks */
            setsid();
            record_self();
            depth--;
            i = 0;
        }
    }
    tap_pause_forever();
}

struct bomb_how {
    int depth, fanout;
    int ignore_term; /* the task child (the bomb's root) ignores SIGTERM */
};

static int task_bomb(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)len;
    struct bomb_how h;
    memcpy(&h, arg, sizeof h);
    if (h.ignore_term)
        signal(SIGTERM, SIG_IGN);
    bomb(h.depth, h.fanout);
}

/* The task child leaves its own group for the group of a child of its own,
   leaving a SIGTERM-ignoring child in its old group: a kill of the old
   group alone would not reach the task child. */
static int task_setpgid(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    signal(SIGTERM, SIG_IGN);
    pid_t stay = fork();
    if (stay == 0) {
        record_self();
        tap_pause_forever();
    }
    pid_t lead = fork();
    if (lead == 0) {
        setpgid(0, 0);
        record_self();
        tap_pause_forever();
    }
    if (stay < 0 || lead < 0)
        return forkpool_throw(ctx, "fork", "fork/setpgid: %s", strerror(errno));
    /* The child may not have made its group yet: make it here too. */
    setpgid(lead, lead);
    if (setpgid(0, lead) == -1)
        return forkpool_throw(ctx, "setpgid", "setpgid: %s", strerror(errno));
    record_self();
    tap_pause_forever();
}

/* ------------------------------------------- the helper program (exec) */

/* `t_escape --escapees N`: prints whether it is a subreaper, then starts N
   daemonized escapees, each of which prints its pid; sleeps forever. */
static int helper_main(int n)
{
    int sub = -1;
    prctl(PR_GET_CHILD_SUBREAPER, &sub);
    printf("subreaper %d\n", sub);
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        if (fork() != 0)
            continue;
        setsid();
        if (fork() != 0)
            _exit(0);
        signal(SIGTERM, SIG_IGN);
        printf("%d\n", (int)tap_pid());
        fflush(stdout);
        tap_pause_forever();
    }
    tap_pause_forever();
}

/* --------------------------------------------------------- in the test */

/* Forgets the last case's processes: a pid left from it would pass for
   one of the next case's (pids_stored). */
static void records_reset(void)
{
    atomic_store(&sh->n, 0);
    for (int i = 0; i < MAXP; i++)
        atomic_store(&sh->pid[i], 0);
}

/* A pipe whose write end every descendant of the next task inherits. */
struct holders {
    int rd, wr;
};

static struct holders holders_open(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) == -1)
        bail_out("pipe2 failed");
    records_reset();
    return (struct holders){p[0], p[1]};
}

/* Once the task's child holds the write end: the test's copy goes. */
static void holders_started(struct holders *h)
{
    close(h->wr);
    h->wr = -1;
}

static int recorded_dead(void)
{
    for (int i = 0; i < atomic_load(&sh->n) && i < MAXP; i++)
        if (!tap_wait_pid_dead(atomic_load(&sh->pid[i]), 5000))
            return 0;
    return 1;
}

/* SIGKILLs every recorded process (cleanup on failure). A slot whose pid
   is not stored yet is skipped: kill(0) would hit the test's own group. */
static void kill_recorded(void)
{
    for (int i = 0; i < atomic_load(&sh->n) && i < MAXP; i++) {
        pid_t pid = atomic_load(&sh->pid[i]);
        if (pid > 0)
            kill(pid, SIGKILL);
    }
}

/* Whether every holder died (EOF) within ms * TEST_TIME_SCALE; closes rd.
   On failure the recorded survivors are killed, so they do not keep the
   TAP pipe open. A worker (WORKERS variants) outlives its task and holds
   the pipe too, and a child forked by the fork server (server variants)
   never had it: there every recorded descendant must be dead instead. */
static int holders_gone(struct holders *h, long ms)
{
    struct pollfd pf = {h->rd, POLLIN, 0};
    char c;
    int r = 0, gone;
    if (tap_workers() || tap_server()) {
        gone = recorded_dead();
    } else {
        do
            r = poll(&pf, 1, (int)(ms * tap_scale()));
        while (r == -1 && errno == EINTR);
        gone = r == 1 && read(h->rd, &c, 1) == 0;
    }
    close(h->rd);
    if (!gone)
        kill_recorded();
    return gone;
}

/* Whether the first n pids are stored (a process takes its index before it
   stores its pid, so a count alone may cover a slot still 0). */
static int pids_stored(int n)
{
    if (atomic_load(&sh->n) < n)
        return 0;
    for (int i = 0; i < n && i < MAXP; i++)
        if (atomic_load(&sh->pid[i]) == 0)
            return 0;
    return 1;
}

static int wait_recorded(forkpool *p, int n)
{
    return TAP_WAIT_UNTIL((forkpool_poll(p, 5), pids_stored(n)), 10000);
}

/* forkpool_wait, bounded: a task whose child is never killed (the bug this
   file is about) fails the test instead of hanging it. 2: it did not end
   by itself and was killed here. */
static int wait_bounded(forkpool *p, forkpool_task *t)
{
    if (TAP_WAIT_UNTIL((forkpool_poll(p, 5), forkpool_task_state(t) >= FORKPOOL_SUCCEEDED),
                       10000))
        return forkpool_wait(t);
    kill_recorded();
    kill(forkpool_task_pid(t), SIGKILL);
    forkpool_wait(t);
    return 2;
}

static const char *kind_name(forkpool_task *t)
{
    const forkpool_error *e = forkpool_task_error(t);
    return e ? forkpool_error_kind_name(e->kind) : "none";
}

static int failed_with(forkpool_task *t, forkpool_error_kind kind)
{
    const forkpool_error *e = forkpool_task_error(t);
    return e && e->kind == kind;
}

static void case_timeout(forkpool *p, int ignore_term, int daemonize)
{
    char what[96];
    snprintf(what, sizeof what, "timeout, %s task, %s escapees",
             ignore_term ? "SIGTERM-ignoring" : "plain", daemonize ? "orphaned" : "setsid");
    struct holders h = holders_open();
    struct how how = {ignore_term, daemonize, 0};
    forkpool_task *t = forkpool_run(p, task_escapees, &how, sizeof how);
    holders_started(&h);
    ok(wait_recorded(p, NKIDS), "%s: %d escapees started", what, NKIDS);
    forkpool_set_timeout(t, 100); /* once they surely exist */
    is(wait_bounded(p, t), 1, "%s: the task failed", what);
    ok(failed_with(t, FORKPOOL_ERR_TIMEOUT), "%s: TIMEOUT (got %s)", what, kind_name(t));
    ok(holders_gone(&h, 10000), "%s: every descendant is gone", what);
    forkpool_task_release(t);
}

/*
 * A bomb (depth levels of fanout members, each in a new session) is
 * cancelled while it still grows. A root that ignores SIGTERM lives until
 * the SIGKILL, and the whole tree is killed then. A plain root dies of the
 * SIGTERM at once: the members that left the group must be dead before it,
 * and those still in it (also one whose fork was in flight) are stopped and
 * die of that SIGTERM. Under valgrind (TEST_TIME_SCALE > 1) every process
 * has a real SIGTERM handler (valgrind's, which emulates the default action
 * a little later), so a plain root or member can still run between the
 * SIGTERM and its death: the documented limit of the grace period. The
 * plain-root cases are then not run.
 */
static void case_bomb_cancel(forkpool *p, int depth, int fanout, int ignore_term)
{
    char what[128];
    int total = 0;
    for (int d = 1, w = 1; d <= depth; d++)
        total += (w *= fanout);
    snprintf(what, sizeof what, "cancelled bomb of %d setsid members (%d levels), %s root", total,
             depth, ignore_term ? "SIGTERM-ignoring" : "plain");
    struct bomb_how how = {depth, fanout, ignore_term};
    struct holders h = holders_open();
    forkpool_task *t = forkpool_run(p, task_bomb, &how, sizeof how);
    holders_started(&h);
    ok(wait_recorded(p, total / 8), "%s: it is growing", what);
    is(forkpool_cancel(t), 0, "%s: cancel", what);
    is(wait_bounded(p, t), 1, "%s: the task failed", what);
    ok(failed_with(t, FORKPOOL_ERR_CANCELLED), "%s: CANCELLED (got %s)", what, kind_name(t));
    ok(holders_gone(&h, 10000), "%s: every member is gone (%d had started)", what,
       atomic_load(&sh->n));
    forkpool_task_release(t);
}

static void case_return(forkpool *p, int daemonize)
{
    char what[96];
    snprintf(what, sizeof what, "task returns leaving %s escapees",
             daemonize ? "orphaned" : "setsid");
    struct holders h = holders_open();
    struct how how = {0, daemonize, 1};
    forkpool_task *t = forkpool_run(p, task_escapees, &how, sizeof how);
    holders_started(&h);
    int rc = wait_bounded(p, t);
    is(rc, 0, "%s: the task succeeded (error: %s)", what, kind_name(t));
    size_t n = 0;
    const void *r = forkpool_task_result(t, &n);
    is_mem(r, n, "returned", 8, "%s: with its result", what);
    is(atomic_load(&sh->n), NKIDS, "%s: %d escapees had started", what, NKIDS);
    ok(holders_gone(&h, 10000), "%s: every descendant is gone", what);
    forkpool_task_release(t);
}

static void case_setpgid(forkpool *p)
{
    const char *what = "task child moved to another group";
    struct holders h = holders_open();
    forkpool_task *t = forkpool_run(p, task_setpgid, NULL, 0);
    holders_started(&h);
    ok(wait_recorded(p, 3), "%s: it moved, its children started", what);
    forkpool_set_timeout(t, 100);
    is(wait_bounded(p, t), 1, "%s: the task failed", what);
    ok(failed_with(t, FORKPOOL_ERR_TIMEOUT), "%s: TIMEOUT (got %s)", what, kind_name(t));
    ok(holders_gone(&h, 10000), "%s: it and both children are gone", what);
    forkpool_task_release(t);
}

/* The pids the helper's escapees printed, into sh; whether all n did. */
static int helper_pids(forkpool_task *t, int n, int *sub)
{
    size_t len = 0;
    const char *out = forkpool_task_stdout(t, &len);
    char buf[4096];
    if (!out || len >= sizeof buf)
        return 0;
    memcpy(buf, out, len);
    buf[len] = '\0';
    int k = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (sscanf(line, "subreaper %d", sub) == 1)
            continue;
        if (k < MAXP)
            atomic_store(&sh->pid[k++], atoi(line));
    }
    atomic_store(&sh->n, k);
    return k >= n && *sub != -2;
}

static void case_exec(forkpool *p, int cancel)
{
    char what[96];
    snprintf(what, sizeof what, "exec'd program with escapees, %s",
             cancel ? "cancelled" : "timed out");
    const char *argv[] = {self_path, "--escapees", "3", NULL};
    forkpool_exec_options xo = {0};
    xo.capture = FORKPOOL_CAPTURE_STDOUT;
    records_reset();
    forkpool_task *t = forkpool_exec(p, argv, &xo);
    int sub = -2;
    ok(TAP_WAIT_UNTIL((forkpool_poll(p, 5), helper_pids(t, 3, &sub)), 10000),
       "%s: 3 escapees started", what);
    is(sub, 1, "%s: PR_SET_CHILD_SUBREAPER survived execve", what);
    if (cancel)
        forkpool_cancel(t);
    else
        forkpool_set_timeout(t, 100);
    is(wait_bounded(p, t), 1, "%s: the task failed", what);
    ok(failed_with(t, cancel ? FORKPOOL_ERR_CANCELLED : FORKPOOL_ERR_TIMEOUT), "%s: %s (got %s)",
       what, cancel ? "CANCELLED" : "TIMEOUT", kind_name(t));
    ok(recorded_dead(), "%s: every escapee is gone", what);
    forkpool_task_release(t);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--escapees") == 0)
        return helper_main(atoi(argv[2]));
    if (!realpath(argv[0], self_path))
        bail_out("realpath(argv[0]) failed");
    tap_watchdog(120);
    sh = tap_shared(sizeof *sh);
    int fds = tap_fd_count();
    forkpool_options o = {0};
    o.concurrency = 2;
    o.kill_grace_ms = 100;
    forkpool *p = forkpool_create(&o);
    if (!p)
        bail_out("forkpool_create failed");

    case_timeout(p, 0, 0);
    case_timeout(p, 0, 1);
    case_timeout(p, 1, 0);
    case_timeout(p, 1, 1);
    /* A tree, and a root that forks without pause while it is killed. */
    int small = tap_scale() > 1;
    for (int plain = 0; plain <= !small; plain++) {
        case_bomb_cancel(p, small ? 2 : 3, 5, !plain);
        case_bomb_cancel(p, 1, small ? 60 : 300, !plain);
    }
    case_return(p, 0);
    case_return(p, 1);
    case_setpgid(p);
    case_exec(p, 0);
    case_exec(p, 1);

    forkpool_destroy(p);
    ok(tap_no_children(), "no child, no zombie");
    is(tap_fd_count(), fds, "no fd leaked");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
