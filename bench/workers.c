/*
 * workers: the cost of one WORKERS-mode task against a pre-forked pool
 * written by hand (raw_prefork.h), with 1 and with DEEP requests in flight
 * per worker, and against Python's ProcessPoolExecutor (bench/ppe.py, run
 * once per round through python3 when bench/run.sh found one).
 *
 * Each arm runs its tasks at concurrency 2 and is timed whole: workers
 * started (forkpool forks them lazily, on the first tasks), tasks run, all
 * stopped. forkpool: TASKS forkpool_run + release, then forkpool_await and
 * forkpool_destroy. Python runs fewer tasks per round (it costs ~100 µs a
 * task); figures are per task. Rounds interleave the arms.
 *
 * Latency: one task at a time (forkpool_run, then forkpool_wait) through a
 * pool of one worker, against the raw pool with one worker and 1 request in
 * flight; LAT_TASKS round trips, start and stop included.
 *
 * Goals: forkpool/raw at the same depth <= 1.25 (issue #13; #3 asked 1.3);
 * one at a time <= 1.2 (issue #13); forkpool at least 5x faster than
 * ProcessPoolExecutor (issue #3).
 *
 * Until WORKERS mode is built, forkpool_create fails with ENOTSUP and the
 * forkpool arm is reported NA; a probe also checks that two tasks in turn
 * really share one worker.
 */
#include <forkpool.h>

#include "raw_prefork.h"

enum { CONC = 2, DEEP = 32 }; /* DEEP: the depth WORKERS keeps in flight */

static unsigned long tasks, py_tasks, lat_tasks;

static int empty_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    uint64_t v = 42;
    return forkpool_return(ctx, &v, sizeof v);
}

static double forkpool_round(void *ud, int warmup)
{
    (void)ud;
    unsigned long n = warmup ? tasks / 10 : tasks;
    double t0 = bench_now();
    forkpool *pool =
        forkpool_create(&(forkpool_options){.concurrency = CONC, .mode = FORKPOOL_WORKERS});
    if (pool == NULL) {
        perror("workers: forkpool_create");
        return -1;
    }
    for (unsigned long i = 0; i < n; i++) {
        forkpool_task *t = forkpool_run(pool, empty_task, NULL, 0);
        if (t == NULL) {
            perror("workers: forkpool_run");
            forkpool_destroy(pool);
            return -1;
        }
        forkpool_task_release(t);
    }
    int unhandled = forkpool_await(pool);
    forkpool_stats st = forkpool_get_stats(pool);
    forkpool_destroy(pool);
    double elapsed = bench_now() - t0;
    if (unhandled != 0 || st.succeeded != n) {
        fprintf(stderr, "workers: await %d, %zu of %lu succeeded\n", unhandled, st.succeeded, n);
        return -1;
    }
    return elapsed / (double)n * 1e6;
}

static double forkpool_lat_round(void *ud, int warmup)
{
    (void)ud;
    unsigned long n = warmup ? lat_tasks / 10 : lat_tasks;
    double t0 = bench_now();
    forkpool *pool =
        forkpool_create(&(forkpool_options){.concurrency = 1, .mode = FORKPOOL_WORKERS});
    if (pool == NULL) {
        perror("workers: forkpool_create");
        return -1;
    }
    for (unsigned long i = 0; i < n; i++) {
        forkpool_task *t = forkpool_run(pool, empty_task, NULL, 0);
        size_t len = 0;
        const uint64_t *r = t && forkpool_wait(t) == 0 ? forkpool_task_result(t, &len) : NULL;
        int right = r && len == sizeof *r && *r == 42;
        forkpool_task_release(t);
        if (!right) {
            fprintf(stderr, "workers: round trip %lu failed\n", i);
            forkpool_destroy(pool);
            return -1;
        }
    }
    forkpool_destroy(pool);
    return (bench_now() - t0) / (double)n * 1e6;
}

static double raw_lat_round(void *ud, int warmup)
{
    (void)ud;
    return raw_prefork_pool(warmup ? lat_tasks / 10 : lat_tasks, 1, 1);
}

static double raw_round(void *ud, int warmup)
{
    const unsigned *depth = ud;
    return raw_prefork_pool(warmup ? tasks / 10 : tasks, CONC, *depth);
}

static char py_cmd[512];

static double python_round(void *ud, int warmup)
{
    (void)ud;
    if (warmup)
        return 0; /* the interpreter warms up inside each round's own process */
    return bench_external(py_cmd);
}

/* 1 if WORKERS mode runs two tasks in turn in one worker, else 0 (and why
   on stderr). */
static int workers_built(void)
{
    forkpool *pool =
        forkpool_create(&(forkpool_options){.concurrency = 1, .mode = FORKPOOL_WORKERS});
    if (pool == NULL) {
        perror("workers: forkpool_create(WORKERS)");
        return 0;
    }
    forkpool_task *a = forkpool_run(pool, empty_task, NULL, 0);
    forkpool_task *b = forkpool_run(pool, empty_task, NULL, 0);
    int ok = forkpool_wait(a) == 0 && forkpool_wait(b) == 0 &&
             forkpool_task_pid(a) == forkpool_task_pid(b);
    forkpool_task_release(a);
    forkpool_task_release(b);
    forkpool_destroy(pool);
    if (!ok)
        fprintf(stderr, "workers: two tasks in turn did not share a worker\n");
    return ok;
}

int main(void)
{
    tasks = bench_size(100000, 10000);
    py_tasks = bench_size(20000, 2000);
    lat_tasks = bench_size(20000, 2000);
    const char *py = bench_python();
    if (py)
        snprintf(py_cmd, sizeof py_cmd, "'%s' bench/ppe.py --once %lu", py, py_tasks);

    static unsigned one = 1, deep = DEEP;
    char w_fp[96], w_raw1[128], w_raw[128], w_py[128], w_lat[128], w_raw_lat[128];
    snprintf(w_fp, sizeof w_fp, "WORKERS, %lu empty tasks, %d workers", tasks, CONC);
    snprintf(w_raw1, sizeof w_raw1, "raw pre-forked pool, %lu empty tasks, %d workers, 1 in flight",
             tasks, CONC);
    snprintf(w_raw, sizeof w_raw, "raw pre-forked pool, %lu empty tasks, %d workers, %d in flight",
             tasks, CONC, DEEP);
    snprintf(w_py, sizeof w_py, "ProcessPoolExecutor, %lu empty tasks, %d workers, incl. start-up",
             py_tasks, CONC);
    snprintf(w_lat, sizeof w_lat, "WORKERS, %lu empty tasks one at a time, 1 worker", lat_tasks);
    snprintf(w_raw_lat, sizeof w_raw_lat,
             "raw pre-forked pool, %lu empty tasks, 1 worker, 1 in flight", lat_tasks);
    const char *na_workers = workers_built() ? NULL : "not built";
    bench_arm arms[] = {
        {.key = "workers.raw1", .what = w_raw1, .unit = "us/task", .fn = raw_round,
         .ud = &one},
        {.key = "workers.raw_deep", .what = w_raw, .unit = "us/task", .fn = raw_round,
         .ud = &deep},
        {.key = "workers.forkpool", .what = w_fp, .unit = "us/task", .fn = forkpool_round,
         .na = na_workers},
        {.key = "workers.ppe", .what = w_py, .unit = "us/task", .fn = python_round,
         .na = py ? NULL : "python3 not installed", .optional = 1},
        {.key = "workers.raw_lat", .what = w_raw_lat, .unit = "us/task", .fn = raw_lat_round},
        {.key = "workers.lat", .what = w_lat, .unit = "us/task", .fn = forkpool_lat_round,
         .na = na_workers},
    };
    enum { RAW1, RAW, FP, PY, RAW_LAT, LAT, N };
    if (bench_interleave(arms, N, bench_rounds(5, 2)) != 0)
        return 1;
    for (int i = 0; i < N; i++)
        bench_emit(&arms[i]);
    bench_emit_ratio("workers.ratio_deep", &arms[FP], &arms[RAW],
                     "WORKERS / raw pool, DEEP in flight");
    bench_emit_ratio("workers.ratio1", &arms[FP], &arms[RAW1], "WORKERS / raw pool, 1 in flight");
    bench_emit_ratio("workers.ratio_ppe", &arms[FP], &arms[PY], "WORKERS / ProcessPoolExecutor");
    bench_emit_ratio("workers.raw_ratio_ppe", &arms[RAW], &arms[PY],
                     "raw pool (DEEP in flight) / ProcessPoolExecutor");
    bench_emit_ratio("workers.ratio_lat", &arms[LAT], &arms[RAW_LAT],
                     "WORKERS / raw pool, one task at a time");
    return 0;
}
