/* Kill sequences (forkpool_options.kill_sequence, GNU parallel's --termseq):
   a timed-out or cancelled task gets each step's signal in order, the next
   one only if it is still there after the step's wait, and SIGKILL after
   the last; a sequence may start with SIGKILL; the default is SIGTERM, then
   SIGKILL after kill_grace_ms; bad sequences are EINVAL. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>

#include "forkpool.h"
#include "tap.h"

#define SLOTS 8
#define LOGGED 16

/* A step's wait when the task must have run its handler before the next
   signal: it is waited out in full (the task lives on), so not too long;
   200 ms was too short for a task not scheduled at once on a starved
   machine (two signals pending together are handled last-sent first). */
static long handled_ms(void)
{
    return 500L * tap_scale();
}

/* What each task's process received, in order (written from its signal
   handlers: lock-free atomics only). */
struct shared {
    _Atomic int started[SLOTS];
    _Atomic int n[SLOTS];
    _Atomic int sig[SLOTS][LOGGED];
};
static struct shared *sh;
static int my_slot; /* in the task's process */

static void log_signal(int sig)
{
    int k = atomic_fetch_add(&sh->n[my_slot], 1);
    if (k < LOGGED)
        atomic_store(&sh->sig[my_slot][k], sig);
}

/* arg: the slot, then the signals to log (the others keep their default
   action: SIGTERM and SIGINT end the process). */
static int task_log_signals(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    const int *v = arg;
    my_slot = v[0];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = log_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 1; i < len / sizeof(int); i++)
        sigaction(v[i], &sa, NULL);
    atomic_store(&sh->started[my_slot], 1);
    tap_pause_forever();
}

/* The signals slot received, as text ("INT USR1 TERM"). */
static const char *received(int slot)
{
    static char buf[256];
    buf[0] = '\0';
    int n = atomic_load(&sh->n[slot]);
    for (int k = 0; k < n && k < LOGGED; k++) {
        int s = atomic_load(&sh->sig[slot][k]);
        const char *name = s == SIGINT ? "INT" : s == SIGTERM ? "TERM" : s == SIGUSR1 ? "USR1"
                         : s == SIGUSR2 ? "USR2" : s == SIGHUP ? "HUP" : "?";
        size_t used = strlen(buf);
        snprintf(buf + used, sizeof buf - used, "%s%s", k ? " " : "", name);
    }
    return buf;
}

static forkpool *pool_with(const forkpool_kill_step *seq, unsigned steps, long grace)
{
    forkpool_options o = {0};
    o.concurrency = 2;
    o.kill_sequence = seq;
    o.kill_steps = steps;
    o.kill_grace_ms = grace;
    forkpool *p = forkpool_create(&o);
    if (!p)
        bail_out("forkpool_create with a kill sequence failed");
    return p;
}

/* Starts task_log_signals in slot with the signals in logs[0..n); returns
   once its handlers are in place. */
static forkpool_task *start_logging(forkpool *p, int slot, const int *logs, int n)
{
    int v[8] = {slot};
    memcpy(v + 1, logs, (size_t)n * sizeof *logs);
    forkpool_task *t = forkpool_run(p, task_log_signals, v, (size_t)(n + 1) * sizeof *v);
    if (!TAP_WAIT_UNTIL((forkpool_poll(p, 5), atomic_load(&sh->started[slot])), 5000))
        bail_out("a task did not start");
    return t;
}

/* start_logging, then a 1 ms limit; returns how the task ended. */
static const forkpool_error *time_out(forkpool *p, int slot, const int *logs, int n)
{
    forkpool_task *t = start_logging(p, slot, logs, n);
    forkpool_set_timeout(t, 1);
    if (forkpool_wait(t) != 1)
        return NULL;
    return forkpool_task_error(t); /* the pool keeps t until destroy */
}

static void steps_in_order(void)
{
    /* Every signal is handled: each step waits its whole time, then the
       next; SIGKILL ends it after the last. */
    const long w = handled_ms();
    const forkpool_kill_step seq[] = {{SIGINT, w}, {SIGUSR1, w}, {SIGTERM, w}};
    forkpool *p = pool_with(seq, 3, 0);
    const int logs[] = {SIGINT, SIGUSR1, SIGTERM};
    const forkpool_error *e = time_out(p, 0, logs, 3);
    ok(e && e->kind == FORKPOOL_ERR_TIMEOUT, "a task that handles every step: TIMEOUT");
    is_str(received(0), "INT USR1 TERM", "it got the sequence's signals, in order");
    forkpool_destroy(p);
}

static void stops_when_gone(void)
{
    /* SIGTERM ends it: the minute-long wait after it is not waited out
       (the watchdog would stop the test), and SIGUSR2 is never sent. */
    const forkpool_kill_step seq[] = {{SIGUSR1, handled_ms()}, {SIGTERM, 60000}, {SIGUSR2, 0}};
    forkpool *p = pool_with(seq, 3, 0);
    const int logs[] = {SIGUSR1, SIGUSR2};
    const forkpool_error *e = time_out(p, 1, logs, 2);
    ok(e && e->kind == FORKPOOL_ERR_TIMEOUT, "a task that dies of the second step: TIMEOUT");
    is_str(received(1), "USR1", "it got the first step's signal; nothing after the one it died of");
    forkpool_destroy(p);
}

static void kill_first(void)
{
    const forkpool_kill_step seq[] = {{SIGKILL, 0}};
    forkpool *p = pool_with(seq, 1, 0);
    const int logs[] = {SIGTERM};
    const forkpool_error *e = time_out(p, 2, logs, 1);
    ok(e && e->kind == FORKPOOL_ERR_TIMEOUT, "a sequence of SIGKILL alone: TIMEOUT");
    is_str(received(2), "", "no SIGTERM before it");
    forkpool_destroy(p);
}

static void default_sequence(void)
{
    forkpool *p = pool_with(NULL, 0, handled_ms());
    const int logs[] = {SIGTERM, SIGINT};
    const forkpool_error *e = time_out(p, 3, logs, 2);
    ok(e && e->kind == FORKPOOL_ERR_TIMEOUT, "no sequence: a SIGTERM-handling task: TIMEOUT");
    is_str(received(3), "TERM", "no sequence: SIGTERM, then SIGKILL after kill_grace_ms");
    forkpool_destroy(p);
}

static void on_cancel(void)
{
    const long w = handled_ms();
    const forkpool_kill_step seq[] = {{SIGHUP, w}, {SIGUSR1, w}};
    forkpool *p = pool_with(seq, 2, 0);
    const int logs[] = {SIGHUP, SIGUSR1};
    forkpool_task *t = start_logging(p, 4, logs, 2);
    is(forkpool_cancel(t), 0, "cancel a running task");
    is(forkpool_wait(t), 1, "it failed");
    ok(forkpool_task_error(t) && forkpool_task_error(t)->kind == FORKPOOL_ERR_CANCELLED,
       "CANCELLED");
    is_str(received(4), "HUP USR1", "cancel ends it by the sequence too");
    forkpool_destroy(p);
}

static void refuse(const char *what, const forkpool_kill_step *seq, unsigned steps, long grace)
{
    forkpool_options o = {0};
    o.kill_sequence = seq;
    o.kill_steps = steps;
    o.kill_grace_ms = grace;
    errno = 0;
    forkpool *p = forkpool_create(&o);
    ok(p == NULL && errno == EINVAL, "EINVAL: %s", what);
    forkpool_destroy(p);
}

static void bad_sequences(void)
{
    const forkpool_kill_step one[] = {{SIGTERM, 10}};
    forkpool_kill_step many[FORKPOOL_KILL_STEPS_MAX + 1];
    for (int i = 0; i <= FORKPOOL_KILL_STEPS_MAX; i++)
        many[i] = (forkpool_kill_step){SIGTERM, 1};
    const forkpool_kill_step zero[] = {{0, 10}};
    const forkpool_kill_step high[] = {{SIGRTMAX + 1, 10}};
    const forkpool_kill_step negative[] = {{SIGTERM, 10}, {SIGINT, -1}};
    refuse("a sequence of 0 steps", one, 0, 0);
    refuse("steps without a sequence", NULL, 1, 0);
    refuse("more than FORKPOOL_KILL_STEPS_MAX steps", many, FORKPOOL_KILL_STEPS_MAX + 1, 0);
    refuse("signal 0", zero, 1, 0);
    refuse("a signal above SIGRTMAX", high, 1, 0);
    refuse("a negative wait", negative, 2, 0);
    refuse("kill_grace_ms with a sequence", one, 1, 100);

    forkpool_options o = {0};
    o.kill_sequence = many;
    o.kill_steps = FORKPOOL_KILL_STEPS_MAX;
    forkpool *p = forkpool_create(&o);
    ok(p != NULL, "FORKPOOL_KILL_STEPS_MAX steps are accepted");
    forkpool_destroy(p);
}

int main(void)
{
    tap_watchdog(30);
    int fds0 = tap_fd_count();
    sh = tap_shared(sizeof *sh);
    steps_in_order();
    stops_when_gone();
    kill_first();
    default_sequence();
    on_cancel();
    bad_sequences();
    ok(tap_no_children(), "no children left");
    tap_shared_free(sh, sizeof *sh);
    is(tap_fd_count(), fds0, "no fds left");
    return done_testing();
}
