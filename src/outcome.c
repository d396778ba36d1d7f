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

/*
 * May a death by sig come from max_memory? An allocation refused under
 * RLIMIT_AS shows as a crash of the code that did not expect it (SIGSEGV,
 * SIGBUS) or an abort() on "out of memory" (SIGABRT); and a process that
 * ran into the limit by growing used much of the room the limit left it
 * (the limit less what the program mapped at create: a child starts with
 * that): here, half of it. A crash of a process that stayed small is its
 * own bug: no hint then (issue #11). Not caught: one huge allocation that
 * failed on its own.
 */
static int may_be_memory_limit(const forkpool *pool, int sig, const fp_rusage *ru)
{
    size_t max = pool->opts.max_memory;
    if (!max || !ru || (sig != SIGSEGV && sig != SIGBUS && sig != SIGABRT))
        return 0;
    size_t room = max > pool->vm_base ? max - pool->vm_base : 0;
    return (size_t)ru->maxrss_kib >= room / 1024 / 2;
}

/* t's process died of a signal we did not send as a timeout or cancel.
   Names the limit when it was max_cpu_ms (SIGXCPU, or the SIGKILL that backs
   it up) or may have been max_memory. */
static void fail_signaled(forkpool_task *t, const char *who, const fp_rusage *ru, int status)
{
    const forkpool_options *o = &t->pool->opts;
    int sig = WTERMSIG(status);
    long cpu_ms = ru ? fp_rusage_cpu_ms(ru) : 0;
    if (o->max_cpu_ms && (sig == SIGXCPU || (sig == SIGKILL && cpu_ms >= o->max_cpu_ms)))
        fp_task_fail(t, FORKPOOL_ERR_SIGNALED, sig, NULL,
                     "%s used %ld ms of CPU, over max_cpu_ms (%ld ms), and was killed (%s)", who,
                     cpu_ms, o->max_cpu_ms, strsignal(sig));
    else if (may_be_memory_limit(t->pool, sig, ru))
        fp_task_fail(t, FORKPOOL_ERR_SIGNALED, sig, NULL,
                     "%s killed by signal %d (%s)%s after its resident memory reached %ld "
                     "KiB: max_memory (%zu KiB) may have refused an allocation the task did "
                     "not expect to fail",
                     who, sig, strsignal(sig), WCOREDUMP(status) ? ", core dumped," : "",
                     ru->maxrss_kib, o->max_memory / 1024);
    else
        fp_task_fail(t, FORKPOOL_ERR_SIGNALED, sig, NULL, "%s killed by signal %d (%s)%s", who,
                     sig, strsignal(sig), WCOREDUMP(status) ? ", core dumped" : "");
}

int fp_settle_common(forkpool_task *t, int known, int status, const char *who,
                     const fp_rusage *ru)
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
        fail_signaled(t, who, ru, status);
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

