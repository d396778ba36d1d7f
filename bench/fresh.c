/*
 * fresh: the cost of one FRESH-mode task against the cheapest way to do the
 * same by hand (raw_fork.h), with a tiny parent and with a 256 MiB one, with
 * and without fork_server.
 *
 * Every arm runs TASKS empty tasks, CONC in flight; a task sends 8 bytes
 * back and exits. forkpool: forkpool_run + release, then forkpool_await.
 * Rounds interleave the arms (tiny parent: raw, forkpool, fork_server;
 * then the parent touches a 256 MiB allocation: raw, forkpool, fork_server;
 * then Python; the next round frees the allocation first), so drift hits
 * all alike. The fork_server pool is created
 * once, at start, while the program is small, as a program that grows
 * would do; the other pools are created per round (untimed).
 *
 * Goals (issue #3): forkpool/raw <= 1.15 with a tiny parent; with a 256 MiB
 * parent, fork_server within 1.5x of the tiny-parent FRESH figure.
 *
 * Python's ProcessPoolExecutor runs the same tasks as the last arm
 * (bench/ppe.py, 2 reused workers, start-up included) when python3 is there.
 *
 * Until fork_server is built, forkpool_create ignores it (or fails): a probe
 * task tells (a child forked by a server made at create cannot see a write
 * the parent made after create), and the fork_server arms report NA.
 */
#include <forkpool.h>

#include "raw_fork.h"

#include <sys/mman.h>

enum { CONC = 2, BIG_MIB = 256 };

static unsigned tasks, big_tasks;

/* The 256 MiB parent: allocated and touched before a big arm, freed before
   a tiny one (neither timed). */
static unsigned char *big;
static const size_t big_len = (size_t)BIG_MIB << 20;

static int parent_big(int want)
{
    if (want && big == NULL) {
        big = mmap(NULL, big_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (big == MAP_FAILED) {
            big = NULL;
            perror("fresh: mmap 256 MiB");
            return -1;
        }
        memset(big, 1, big_len);
    } else if (!want && big != NULL) {
        munmap(big, big_len);
        big = NULL;
    }
    return 0;
}

static int empty_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    uint64_t v = 42;
    return forkpool_return(ctx, &v, sizeof v);
}

/* µs per task for n empty tasks on pool, or -1 on any failure. */
static double run_tasks(forkpool *pool, unsigned n)
{
    forkpool_stats before = forkpool_get_stats(pool);
    double t0 = bench_now();
    for (unsigned i = 0; i < n; i++) {
        forkpool_task *t = forkpool_run(pool, empty_task, NULL, 0);
        if (t == NULL) {
            perror("fresh: forkpool_run");
            return -1;
        }
        forkpool_task_release(t);
    }
    int unhandled = forkpool_await(pool);
    double elapsed = bench_now() - t0;
    forkpool_stats st = forkpool_get_stats(pool);
    if (unhandled != 0 || st.succeeded - before.succeeded != n) {
        fprintf(stderr, "fresh: await %d, %zu of %u succeeded\n", unhandled,
                st.succeeded - before.succeeded, n);
        return -1;
    }
    return elapsed / n * 1e6;
}

/* One arm: which parent, which side, and the server pool if it uses one. */
struct arm {
    int big;          /* run with the 256 MiB parent */
    int raw;          /* the hand-written loop instead of forkpool */
    forkpool *server; /* non-NULL: run on this fork_server pool */
    int contain;      /* the pool contains (a PID namespace per task) */
};

static double round_fn(void *ud, int warmup)
{
    const struct arm *a = ud;
    if (parent_big(a->big) != 0)
        return -1;
    unsigned n = a->big ? big_tasks : tasks;
    if (warmup)
        n = n / 10 + 1;
    if (a->raw)
        return raw_fork_loop(n, CONC);
    if (a->server)
        return run_tasks(a->server, n);
    /* Pool creation is not timed (once per program); destroying it is not
       either: it reaps nothing here. */
    forkpool *pool =
        forkpool_create(&(forkpool_options){.concurrency = CONC, .contain = a->contain});
    if (pool == NULL) {
        perror("fresh: forkpool_create");
        return -1;
    }
    double us = run_tasks(pool, n);
    forkpool_destroy(pool);
    return us;
}

static char py_cmd[512];

static double python_round(void *ud, int warmup)
{
    (void)ud;
    return warmup ? 0 : bench_external(py_cmd); /* each round is its own interpreter */
}

/* Set to 1 right after the fork_server pool is created: a child forked from
   the server sees 0. */
static int written_after_create;

static int probe_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return forkpool_return(ctx, &written_after_create, sizeof written_after_create);
}

/* The fork_server pool, or NULL when this build has none (said on stderr). */
static forkpool *server_pool(void)
{
    forkpool *pool =
        forkpool_create(&(forkpool_options){.concurrency = CONC, .fork_server = 1});
    if (pool == NULL) {
        perror("fresh: fork_server: forkpool_create");
        return NULL;
    }
    written_after_create = 1;
    forkpool_task *t = forkpool_run(pool, probe_task, NULL, 0);
    size_t len = 0;
    const int *seen = forkpool_wait(t) == 0 ? forkpool_task_result(t, &len) : NULL;
    int served = seen && len == sizeof *seen && *seen == 0;
    forkpool_task_release(t);
    if (!served) {
        fprintf(stderr, "fresh: fork_server ignored: the child saw the parent as it is now\n");
        forkpool_destroy(pool);
        return NULL;
    }
    return pool;
}

int main(void)
{
    tasks = (unsigned)bench_size(1000, 200);
    big_tasks = (unsigned)bench_size(1000, 100);
    const char *py = bench_python();
    if (py)
        snprintf(py_cmd, sizeof py_cmd, "'%s' bench/ppe.py --once %u", py, tasks);
    forkpool *server = server_pool();
    const char *no_server = server ? NULL : "not built";

    forkpool *probe = forkpool_create(&(forkpool_options){.contain = 1});
    const char *no_contain = probe ? NULL : "contain refused here (needs CAP_SYS_ADMIN)";
    forkpool_destroy(probe);

    struct arm raw = {0, 1, NULL, 0}, fp = {0, 0, NULL, 0}, sv = {0, 0, server, 0},
               ct = {0, 0, NULL, 1}, big_raw = {1, 1, NULL, 0}, big_fp = {1, 0, NULL, 0},
               big_sv = {1, 0, server, 0};
    char w1[96], w2[96], w3[128];
    snprintf(w1, sizeof w1, "%u empty tasks, %d at a time, tiny parent", tasks, CONC);
    snprintf(w2, sizeof w2, "%u empty tasks, %d at a time, %d MiB touched parent", big_tasks,
             CONC, BIG_MIB);
    snprintf(w3, sizeof w3,
             "ProcessPoolExecutor, %u empty tasks, %d reused workers, incl. start-up", tasks, CONC);
    bench_arm arms[] = {
        {.key = "fresh.raw", .what = w1, .unit = "us/task", .fn = round_fn, .ud = &raw},
        {.key = "fresh.forkpool", .what = w1, .unit = "us/task", .fn = round_fn, .ud = &fp},
        {.key = "fresh.server", .what = w1, .unit = "us/task", .fn = round_fn, .ud = &sv,
         .na = no_server},
        {.key = "fresh.contain", .what = w1, .unit = "us/task", .fn = round_fn, .ud = &ct,
         .na = no_contain},
        {.key = "big.raw", .what = w2, .unit = "us/task", .fn = round_fn, .ud = &big_raw},
        {.key = "big.forkpool", .what = w2, .unit = "us/task", .fn = round_fn, .ud = &big_fp},
        {.key = "big.server", .what = w2, .unit = "us/task", .fn = round_fn, .ud = &big_sv,
         .na = no_server},
        {.key = "fresh.ppe", .what = w3, .unit = "us/task", .fn = python_round,
         .na = py ? NULL : "python3 not installed", .optional = 1},
    };
    enum { RAW, FP, SV, CT, BIG_RAW, BIG_FP, BIG_SV, PY, N };
    fprintf(stderr, "fresh: %u tasks (%u with the big parent) per round\n", tasks, big_tasks);
    int rc = bench_interleave(arms, N, bench_rounds(5, 2));
    parent_big(0);
    forkpool_destroy(server);
    if (rc != 0)
        return 1;
    for (int i = 0; i < N; i++)
        bench_emit(&arms[i]);
    bench_emit_ratio("fresh.ratio", &arms[FP], &arms[RAW], "FRESH / raw fork loop");
    bench_emit_ratio("fresh.server_ratio", &arms[SV], &arms[RAW],
                     "FRESH with fork_server / raw fork loop, tiny parent");
    bench_emit_ratio("fresh.contain_ratio", &arms[CT], &arms[FP],
                     "FRESH with contain / FRESH, tiny parent");
    bench_emit_ratio("big.ratio", &arms[BIG_FP], &arms[BIG_RAW],
                     "FRESH / raw fork loop, both with a 256 MiB parent");
    bench_emit_ratio("big.server_ratio", &arms[BIG_SV], &arms[FP],
                     "fork_server with a 256 MiB parent / FRESH with a tiny parent");
    bench_emit_ratio("fresh.ratio_ppe", &arms[FP], &arms[PY],
                     "FRESH / ProcessPoolExecutor (reused workers), tiny parent");
    return 0;
}
