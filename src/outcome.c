/*
 * How a task ends (task.h): the outcome ladder's steps that do not depend
 * on the kind of process, a start that failed, a cancel before the start.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "pool.h"
#include "task.h"

/* A memfd result's child was SIGKILLed by the parent after it sent END:
   not a crash. */
static int result_handed_over(const forkpool_task *t, int status)
{
    const uint32_t both = FP_T_MAPPED | FP_T_GOT_END;
    return (t->flags & both) == both && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/* t's process died of a signal we did not send as a timeout or cancel.
   Names the limit when it was max_cpu_ms (SIGXCPU, or the SIGKILL that backs
   it up) or may have been max_memory. */
static void fail_signaled(forkpool_task *t, const char *who, long cpu_ms, int status)
{
    const forkpool_options *o = &t->pool->opts;
    int sig = WTERMSIG(status);
    if (o->max_cpu_ms && (sig == SIGXCPU || (sig == SIGKILL && cpu_ms >= o->max_cpu_ms)))
        fp_task_fail(t, FORKPOOL_ERR_SIGNALED, sig, NULL,
                     "%s used %ld ms of CPU, over max_cpu_ms (%ld ms), and was killed (%s)", who,
                     cpu_ms, o->max_cpu_ms, strsignal(sig));
    else
        fp_task_fail(t, FORKPOOL_ERR_SIGNALED, sig, NULL, "%s killed by signal %d (%s)%s%s",
                     who, sig, strsignal(sig), WCOREDUMP(status) ? ", core dumped" : "",
                     o->max_memory ? " (max_memory is in force: allocations past it fail, "
                                     "which a task may not expect)"
                                   : "");
}

int fp_settle_common(forkpool_task *t, int known, int status, const char *who, long cpu_ms)
{
    forkpool_stats *st = &t->pool->stats;
    t->state = FORKPOOL_FAILED;
    if (t->flags & (FP_T_ABORTED | FP_T_UNSET)) {
        st->failed++;
    } else if (t->flags & FP_T_CANCELLED) {
        fp_task_fail(t, FORKPOOL_ERR_CANCELLED, 0, NULL, "task cancelled while running");
        st->cancelled++;
    } else if (t->flags & FP_T_TIMED_OUT) {
        fp_task_fail(t, FORKPOOL_ERR_TIMEOUT, 0, NULL,
                     "task ran past its %ld ms limit and was killed", t->timeout_ms);
        st->timed_out++;
    } else if (known && WIFSIGNALED(status) && !result_handed_over(t, status)) {
        fail_signaled(t, who, cpu_ms, status);
        st->failed++;
    } else {
        return 0;
    }
    return 1;
}

void fp_settle_end(forkpool_task *t)
{
    if (t->state == FORKPOOL_SUCCEEDED)
        fp_task_clear_err(t);
    else
        fp_result_free(t);
}

void fp_task_abort(forkpool_task *t)
{
    t->flags |= FP_T_ABORTED | FP_T_KILLING;
    fp_proc_abort(t->proc);
}

void fp_cancel_unstarted(forkpool_task *t)
{
    fp_task_fail(t, FORKPOOL_ERR_CANCELLED, 0, NULL, "task cancelled before it started");
    t->state = FORKPOOL_FAILED;
    t->pool->stats.cancelled++;
    fp_dispatch_push(t);
}

void fp_spawn_failed(forkpool_task *t, int err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fp_task_fail(t, FORKPOOL_ERR_SPAWN, err, NULL, "%s", msg);
    t->state = FORKPOOL_FAILED;
    t->pool->stats.failed++;
    fp_dispatch_push(t);
}

