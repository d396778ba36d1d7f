/*
 * mpi: FORKPOOL_MPI's costs (issue #10), under mpirun -np 3 (rank 0
 * measures, ranks 1 and 2 serve); bench/run.sh runs it so when Open MPI is
 * installed and `make bench` built it (with mpicc, against
 * libforkpool_mpi).
 *
 *   empty: TASKS empty tasks (8 bytes back) on a FORKPOOL_MPI pool,
 *          concurrency 1 per serving rank (2 in flight), against the same
 *          tasks on a local FRESH pool of concurrency 2 in this program:
 *          µs per task and the ratio MPI / FRESH, round by round. Pools
 *          are created per round, untimed, as bench/fresh.c does. Also
 *          raw_fork.h's loop in this rank: what a fork costs in a process
 *          that has started MPI (more mappings than bench/fresh's).
 *   cpu:   CPU_TASKS tasks of ~CPU_MS ms CPU each (a busy loop calibrated
 *          here first; the iteration count is the task's argument, since
 *          a serving rank shares no memory with this one) on a FORKPOOL_MPI
 *          pool, concurrency 1 per serving rank, all submitted at once,
 *          against the same tasks on the same kind of pool submitted one at
 *          a time (each awaited before the next): speed-up, round by round;
 *          goal >= 1.8 on 2 serving ranks. Also the same loops one after
 *          the other in this process and in 2 bare fork()ed children: the
 *          machine's own ceiling (as bench/workloads.c's cpu row), and
 *          the speed-up over the in-process loops, which also counts each
 *          task's round trip (the hub and the relays poll MPI, backing off
 *          to 20 ms while idle).
 *
 * The arms interleave (raw, FRESH, MPI, MPI one at a time, MPI all at
 * once, in process, bare children; then again), after a shorter warm-up round of
 * each. Every rank registers the two functions before forkpool_mpi_init.
 * Run without mpirun (or with fewer than 3 ranks) it reports its figures
 * NA rather than measuring a pool that would run its tasks locally.
 */
#include <forkpool.h>
#include <forkpool_mpi.h>

#include "raw_fork.h"

#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RANKS = 3, SERVING = RANKS - 1, FRESH_CONC = 2 };

static unsigned tasks, cpu_tasks;
static double cpu_ms;

static int empty_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    uint64_t v = 42;
    return forkpool_return(ctx, &v, sizeof v);
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

/* arg: the number of iterations (uint64_t). */
static int spin_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    uint64_t n;
    if (len != sizeof n)
        return forkpool_throw(ctx, "usage", "argument of %zu bytes", len);
    memcpy(&n, arg, sizeof n);
    uint64_t x = spin(n);
    return forkpool_return(ctx, &x, sizeof x);
}

static uint64_t spin_iterations; /* rank 0: set by calibrate() */
static volatile uint64_t sink;   /* keeps the in-process spins from being optimised away */

static double sequential_spins_ms(unsigned n)
{
    double t0 = bench_now();
    for (unsigned i = 0; i < n; i++)
        sink = spin(spin_iterations);
    return (bench_now() - t0) * 1000.0;
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

static forkpool *make_pool(forkpool_mode mode, unsigned concurrency)
{
    forkpool *pool = forkpool_create(&(forkpool_options){.mode = mode,
                                                         .concurrency = concurrency,
                                                         .timeout_ms = 60000});
    if (pool == NULL)
        perror(mode == FORKPOOL_MPI ? "mpi: forkpool_create (FORKPOOL_MPI)"
                                    : "mpi: forkpool_create (FRESH)");
    return pool;
}

/* Wall seconds for n tasks fn(arg) on pool: all submitted at once, or (one
   = 1) each awaited before the next; -1 on any failure. */
static double run_tasks(forkpool *pool, forkpool_fn fn, const void *arg, size_t len, unsigned n,
                        int one)
{
    forkpool_stats before = forkpool_get_stats(pool);
    double t0 = bench_now();
    for (unsigned i = 0; i < n; i++) {
        forkpool_task *t = forkpool_run(pool, fn, arg, len);
        if (t == NULL) {
            perror("mpi: forkpool_run");
            return -1;
        }
        if (one && forkpool_wait(t) != 0) {
            const forkpool_error *e = forkpool_task_error(t);
            fprintf(stderr, "mpi: task failed: %s\n", e ? e->message : "?");
            forkpool_task_release(t);
            return -1;
        }
        forkpool_task_release(t);
    }
    int unhandled = forkpool_await(pool);
    double elapsed = bench_now() - t0;
    forkpool_stats st = forkpool_get_stats(pool);
    if (unhandled != 0 || st.succeeded - before.succeeded != n) {
        fprintf(stderr, "mpi: await %d, %zu of %u succeeded\n", unhandled,
                st.succeeded - before.succeeded, n);
        return -1;
    }
    return elapsed;
}

/* The empty-task arms: µs per task. */
static double empty_round(void *ud, int warmup)
{
    unsigned n = warmup ? tasks / 10 + 1 : tasks;
    if (ud == NULL)
        return raw_fork_loop(n, FRESH_CONC);
    forkpool_mode mode = *(const forkpool_mode *)ud;
    /* 2 in flight either way: 1 on each serving rank, or 2 local children. */
    forkpool *pool = make_pool(mode, mode == FORKPOOL_MPI ? 1 : FRESH_CONC);
    if (pool == NULL)
        return -1;
    double s = run_tasks(pool, empty_task, NULL, 0, n, 0);
    forkpool_destroy(pool);
    return s < 0 ? -1 : s / n * 1e6;
}

/* The CPU arms on the MPI pool: ms for the cpu_tasks loops (2 in a
   warm-up round). ud: non-NULL for one at a time. */
static double cpu_mpi_round(void *ud, int warmup)
{
    forkpool *pool = make_pool(FORKPOOL_MPI, 1);
    if (pool == NULL)
        return -1;
    uint64_t n = spin_iterations;
    double s = run_tasks(pool, spin_task, &n, sizeof n, warmup ? SERVING : cpu_tasks, ud != NULL);
    forkpool_destroy(pool);
    return s < 0 ? -1 : s * 1000.0;
}

static double cpu_inproc_round(void *ud, int warmup)
{
    (void)ud;
    return sequential_spins_ms(warmup ? 1 : cpu_tasks);
}

/* The ceiling without forkpool or MPI: SERVING bare children share the
   loops. */
static double cpu_bare_round(void *ud, int warmup)
{
    (void)ud;
    unsigned each = warmup ? 1 : cpu_tasks / SERVING;
    double t0 = bench_now();
    pid_t pids[SERVING];
    int started = 0, rc = 0;
    for (; started < SERVING; started++) {
        pids[started] = fork();
        if (pids[started] < 0) {
            perror("mpi: fork");
            rc = -1;
            break;
        }
        if (pids[started] == 0) {
            for (unsigned i = 0; i < each; i++)
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

/* ------------------------------------------------------------------------ */

static const char *const keys[] = {
    "mpi.raw",        "mpi.fresh",       "mpi.forkpool",    "mpi.ratio",
    "mpi.fresh_raw",  "mpi.cpu_one",     "mpi.cpu_all",     "mpi.cpu_inproc",
    "mpi.cpu_bare",   "mpi.cpu_speedup", "mpi.cpu_ceiling", "mpi.cpu_speedup_inproc"};

static void all_na(const char *reason)
{
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        bench_emit_na(keys[i], reason);
}

int main(int argc, char **argv)
{
    if (forkpool_register("bench.empty", empty_task) != 0 ||
        forkpool_register("bench.spin", spin_task) != 0) {
        perror("mpi: forkpool_register");
        return 1;
    }
    int rank = forkpool_mpi_init(&argc, &argv);
    if (rank > 0)
        return forkpool_mpi_finalize();
    if (rank < 0) {
        perror("mpi: forkpool_mpi_init");
        return 1;
    }
    int size = forkpool_mpi_size();
    if (size != RANKS) {
        char why[96];
        snprintf(why, sizeof why, "needs mpirun -np %d (%d rank%s here)", RANKS, size,
                 size == 1 ? "" : "s");
        fprintf(stderr, "mpi: %s\n", why);
        all_na(why);
        return forkpool_mpi_finalize() == 0 ? 0 : 1;
    }

    tasks = (unsigned)bench_size(1000, 200);
    cpu_tasks = (unsigned)bench_size(8, 4);
    cpu_ms = (double)bench_size(100, 50);
    calibrate(cpu_ms);

    static const forkpool_mode fresh = FORKPOOL_FRESH, mpi = FORKPOOL_MPI;
    static const int one = 1;
    char w0[96], w1[96], w2[96], w3[112], w4[112], w5[96], w6[96];
    snprintf(w0, sizeof w0, "%u empty tasks, raw fork+pipe+waitpid loop in rank 0, %d at a time",
             tasks, FRESH_CONC);
    snprintf(w1, sizeof w1, "%u empty tasks, local FRESH pool, %d at a time", tasks, FRESH_CONC);
    snprintf(w2, sizeof w2, "%u empty tasks, FORKPOOL_MPI, %d serving ranks, 1 at a time each",
             tasks, SERVING);
    snprintf(w3, sizeof w3, "%u x %.0f ms busy loop, FORKPOOL_MPI, one task at a time", cpu_tasks,
             cpu_ms);
    snprintf(w4, sizeof w4, "%u x %.0f ms busy loop, FORKPOOL_MPI, %d serving ranks, 1 each",
             cpu_tasks, cpu_ms, SERVING);
    snprintf(w5, sizeof w5, "%u x %.0f ms busy loop, one after another in rank 0", cpu_tasks,
             cpu_ms);
    snprintf(w6, sizeof w6, "%u x %.0f ms busy loop, %d bare fork()ed children of rank 0",
             cpu_tasks, cpu_ms, SERVING);
    bench_arm arms[] = {
        {.key = "mpi.raw", .what = w0, .unit = "us/task", .fn = empty_round},
        {.key = "mpi.fresh", .what = w1, .unit = "us/task", .fn = empty_round,
         .ud = (void *)&fresh},
        {.key = "mpi.forkpool", .what = w2, .unit = "us/task", .fn = empty_round,
         .ud = (void *)&mpi},
        {.key = "mpi.cpu_one", .what = w3, .unit = "ms", .fn = cpu_mpi_round, .ud = (void *)&one},
        {.key = "mpi.cpu_all", .what = w4, .unit = "ms", .fn = cpu_mpi_round},
        {.key = "mpi.cpu_inproc", .what = w5, .unit = "ms", .fn = cpu_inproc_round},
        {.key = "mpi.cpu_bare", .what = w6, .unit = "ms", .fn = cpu_bare_round},
    };
    enum { RAW, FRESH, MPI, ONE, ALL, INPROC, BARE, N };
    fprintf(stderr, "mpi: %d ranks; %u empty tasks; %u x %.0f ms CPU tasks per round\n", size,
            tasks, cpu_tasks, cpu_ms);
    int rc = bench_interleave(arms, N, bench_rounds(5, 2));
    if (forkpool_mpi_finalize() != 0)
        perror("mpi: forkpool_mpi_finalize");
    if (rc != 0)
        return 1;
    for (int i = 0; i < N; i++)
        bench_emit(&arms[i]);
    bench_emit_ratio("mpi.ratio", &arms[MPI], &arms[FRESH],
                     "FORKPOOL_MPI (2 serving ranks) / local FRESH, empty tasks");
    bench_emit_ratio("mpi.fresh_raw", &arms[FRESH], &arms[RAW],
                     "local FRESH / raw fork loop, both in rank 0 of the MPI job");
    if (sysconf(_SC_NPROCESSORS_ONLN) < SERVING) {
        bench_emit_na("mpi.cpu_speedup", "1 CPU online: no speed-up possible");
        bench_emit_na("mpi.cpu_ceiling", "1 CPU online: no speed-up possible");
        bench_emit_na("mpi.cpu_speedup_inproc", "1 CPU online: no speed-up possible");
        return 0;
    }
    bench_emit_ratio("mpi.cpu_speedup", &arms[ONE], &arms[ALL],
                     "speed-up of 2 serving ranks over the same MPI pool one task at a time");
    bench_emit_ratio("mpi.cpu_ceiling", &arms[INPROC], &arms[BARE],
                     "speed-up of 2 bare children over sequential (the machine's ceiling)");
    bench_emit_ratio("mpi.cpu_speedup_inproc", &arms[INPROC], &arms[ALL],
                     "speed-up of 2 serving ranks over the loops one after another in rank 0");
    return 0;
}
