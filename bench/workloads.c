/*
 * workloads: whole-program timings in the style of spatie/async's examples,
 * and CPU-bound scaling.
 *
 *   true50:  create a pool (concurrency 20), run 50 tasks that return `true`
 *            (one byte), await, destroy: total wall time.
 *   sleep10: create a pool (concurrency 10), run 10 tasks sleeping 10, 20,
 *            30, 10, 20, ... ms, await, destroy: total wall time. Every task
 *            runs at once, so the floor is 30 ms; goal <= 35 ms.
 *   cpu:     4 tasks of ~50 ms CPU each (a fixed busy loop, calibrated here
 *            first), at concurrency 2, against the same 4 loops one after the
 *            other in this process: speed-up, goal >= 1.9 (on >= 2 CPUs).
 *            Also the same loops in bare fork()ed children (2 children, 2
 *            loops each, waitpid): the machine's own ceiling, which on a VM
 *            with shared or throttled vCPUs can be far below 2.
 *
 * true50 and sleep10 run 7 rounds, cpu 5 (sequential, pool and bare
 * children interleaved); each figure is reported as median and min..max
 * (bench.h's output contract). No hand-written baseline runs the first two:
 * their peers are PHP libraries, quoted from issue #3.
 */
#include <forkpool.h>

#include "bench.h"

#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

enum { CPU_TASKS = 4, CPU_CONC = 2 };

/* ------------------------------------------------------------------------ */

static int true_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    static const unsigned char yes = 1;
    return forkpool_return(ctx, &yes, 1);
}

static int sleep_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    long ms;
    if (len != sizeof ms)
        return forkpool_throw(ctx, "usage", "argument of %zu bytes", len);
    memcpy(&ms, arg, sizeof ms);
    if (bench_sleep_ms(ms) != 0)
        return forkpool_throw(ctx, "os", "nanosleep: %s", strerror(errno));
    return 0;
}

/* A busy loop the compiler cannot shorten: xorshift64 steps. */
static uint64_t spin(uint64_t iterations)
{
    uint64_t x = 88172645463325252u;
    for (uint64_t i = 0; i < iterations; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

static uint64_t spin_iterations; /* set by calibrate() before any fork */

static int spin_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    uint64_t x = spin(spin_iterations);
    return forkpool_return(ctx, &x, sizeof x);
}

/* ------------------------------------------------------------------------ */

/* Creates a pool, runs n tasks fn(args[i]) (args may be NULL), awaits and
   destroys it; returns the wall time in ms, or -1 if anything failed. */
static double whole_program(unsigned concurrency, forkpool_fn fn, const long *args, unsigned n)
{
    double t0 = bench_now();
    forkpool *pool = forkpool_create(&(forkpool_options){.concurrency = concurrency});
    if (pool == NULL) {
        perror("forkpool_create");
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        forkpool_task *t = args ? forkpool_run(pool, fn, &args[i], sizeof args[i])
                                : forkpool_run(pool, fn, NULL, 0);
        if (t == NULL) {
            perror("forkpool_run");
            forkpool_destroy(pool);
            return -1;
        }
        forkpool_task_release(t);
    }
    int unhandled = forkpool_await(pool);
    forkpool_stats st = forkpool_get_stats(pool);
    forkpool_destroy(pool);
    double ms = (bench_now() - t0) * 1000.0;
    if (unhandled != 0 || st.succeeded != n) {
        fprintf(stderr, "workloads: await %d, %zu of %u succeeded\n", unhandled, st.succeeded, n);
        return -1;
    }
    return ms;
}

static volatile uint64_t sink; /* keeps the in-process spins from being optimised away */

static double sequential_spins_ms(unsigned n)
{
    double t0 = bench_now();
    for (unsigned i = 0; i < n; i++)
        sink = spin(spin_iterations);
    return (bench_now() - t0) * 1000.0;
}

/* The ceiling without forkpool: CPU_CONC bare children share the loops. */
static double raw_parallel_spins_ms(void)
{
    double t0 = bench_now();
    pid_t pids[CPU_CONC];
    int started = 0, rc = 0;
    for (; started < CPU_CONC; started++) {
        pids[started] = fork();
        if (pids[started] < 0) {
            perror("fork");
            rc = -1;
            break;
        }
        if (pids[started] == 0) {
            for (int i = 0; i < CPU_TASKS / CPU_CONC; i++)
                sink = spin(spin_iterations);
            _exit(0);
        }
    }
    for (int i = 0; i < started; i++) {
        int status;
        pid_t r;
        while ((r = waitpid(pids[i], &status, 0)) < 0 && errno == EINTR)
            ;
        if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            rc = -1;
    }
    return rc == 0 ? (bench_now() - t0) * 1000.0 : -1;
}

/* Picks spin_iterations so that one spin takes about target_ms here. */
static void calibrate(double target_ms)
{
    spin_iterations = 1u << 20;
    for (int pass = 0; pass < 3; pass++) {
        double ms = sequential_spins_ms(1);
        if (ms < 0.5)
            ms = 0.5;
        spin_iterations = (uint64_t)((double)spin_iterations * target_ms / ms);
    }
}

/* ------------------------------------------------------------------------ */

static int bench_true50(void)
{
    int rounds = bench_rounds(7, 2);
    double v[BENCH_MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        if ((v[r] = whole_program(20, true_task, NULL, 50)) < 0)
            return -1;
    bench_emit_values("workloads.true50", v, rounds, "ms",
                      "50 tasks returning true, 20 at a time, whole program");
    return 0;
}

static int bench_sleep10(void)
{
    long ms[10];
    for (int i = 0; i < 10; i++)
        ms[i] = 10 * (i % 3 + 1);
    int rounds = bench_rounds(7, 2);
    double v[BENCH_MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        if ((v[r] = whole_program(10, sleep_task, ms, 10)) < 0)
            return -1;
    bench_emit_values("workloads.sleep10", v, rounds, "ms",
                      "10 tasks sleeping 10/20/30 ms, 10 at a time, whole program");
    return 0;
}

static int bench_cpu(void)
{
    calibrate(50.0);
    int rounds = bench_rounds(5, 2);
    double pool[BENCH_MAX_ROUNDS], seq[BENCH_MAX_ROUNDS], raw[BENCH_MAX_ROUNDS],
        up[BENCH_MAX_ROUNDS], ceiling[BENCH_MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        if ((pool[r] = whole_program(CPU_CONC, spin_task, NULL, CPU_TASKS)) < 0 ||
            (raw[r] = raw_parallel_spins_ms()) < 0)
            return -1;
        seq[r] = sequential_spins_ms(CPU_TASKS);
        up[r] = seq[r] / pool[r];
        ceiling[r] = seq[r] / raw[r];
    }
    char what[96];
    snprintf(what, sizeof what, "%d x %.0f ms busy loop, one after another in process",
             CPU_TASKS, bench_summarize(seq, (size_t)rounds).median / CPU_TASKS);
    bench_emit_values("cpu.seq", seq, rounds, "ms", what);
    bench_emit_values("cpu.pool", pool, rounds, "ms", "the same loops, pool of 2 (FRESH)");
    bench_emit_values("cpu.raw", raw, rounds, "ms", "the same loops, 2 bare fork()ed children");
    if (sysconf(_SC_NPROCESSORS_ONLN) < CPU_CONC) {
        bench_emit_na("cpu.speedup", "1 CPU online: no speed-up possible");
        bench_emit_na("cpu.ceiling", "1 CPU online: no speed-up possible");
        return 0;
    }
    bench_emit_values("cpu.speedup", up, rounds, "x", "speed-up of the pool over sequential");
    bench_emit_values("cpu.ceiling", ceiling, rounds, "x",
                      "speed-up of 2 bare children over sequential (the machine's ceiling)");
    return 0;
}

int main(void)
{
    if (bench_true50() != 0 || bench_sleep10() != 0 || bench_cpu() != 0)
        return 1;
    return 0;
}
