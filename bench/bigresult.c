/*
 * bigresult: how fast a large result crosses from a child to the parent.
 *
 * Part 1, 256 MiB, ROUNDS interleaved rounds of four ways (A B C D A B C D
 * ...), one untimed warm-up each:
 *   raw 64 KiB pipe  a bare fork; the child write()s its buffer into a pipe
 *                    of the default size, the parent read()s it into its own
 *                    buffer, then reaps the child
 *   raw 1 MiB pipe   the same with F_SETPIPE_SZ 1 MiB
 *   forkpool_return  a FRESH task returns its buffer (crosses as a memfd:
 *                    one copy, the parent maps it)
 *   result_buffer    a FRESH task builds its result in forkpool_result_buffer
 *                    memory (no copy at all)
 * Each child fills 256 MiB (memset), then notes the time in shared memory:
 * "cross" is from then until the parent holds the result with every page
 * touched once (a byte per page read and checked), child reaped; "whole" is
 * from fork / forkpool_run until the same point, fill included. Memory at
 * the peak, by construction: raw pipes and forkpool_return hold 2 x 256 MiB
 * (the child's buffer and the parent's copy, or the memfd the parent maps);
 * result_buffer holds 256 MiB.
 *
 * "parent CPU" is the CPU time the parent spent on the whole task (fork,
 * reading or mapping, touching, reaping).
 *
 * Part 2, results from 16 KiB to 4 MiB: forkpool_return (a memfd from
 * FP_MAP_MIN, 128 KiB) against the same bytes sent with forkpool_send
 * (always the pipe), µs per task, to show where the memfd starts to pay.
 *
 * Goal (issue #3): forkpool_return >= 2x faster than the raw 64 KiB pipe.
 * Run: make build/bench/bigresult && build/bench/bigresult
 */
#include <forkpool.h>

#include "bench.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG ((size_t)256 << 20)
#define PAGE 4096
enum { ROUNDS = 7, NWAYS = 4, SWEEP_TASKS = 40, SWEEP_ROUNDS = 5 };

static const char *const way_name[NWAYS] = {"raw 64 KiB pipe", "raw 1 MiB pipe",
                                            "forkpool_return", "forkpool_result_buffer"};

/* Written by the child when its buffer is full. */
static volatile double *filled_at;

/* CPU time (user + system) this process has used, in ms. */
static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* One measurement, in ms: filled -> held, start -> held, parent CPU. */
typedef struct {
    double cross, whole, cpu;
} sample;

/* Reads a byte of every page and checks it: the parent's cost of having
   the result in its hands. 0 if every byte is v. */
static int touch(const unsigned char *p, size_t len, unsigned char v)
{
    int bad = 0;
    for (size_t off = 0; off < len; off += PAGE)
        bad |= p[off] != v;
    return bad || p[len - 1] != v;
}

/* ---- raw ---- */

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* One raw transfer. 0, or -1 on failure. */
static int raw_round(int pipe_size, unsigned char v, sample *out)
{
    int p[2];
    unsigned char *dst = malloc(BIG);
    if (!dst || pipe2(p, O_CLOEXEC) != 0) {
        free(dst);
        return -1;
    }
    if (pipe_size)
        fcntl(p[1], F_SETPIPE_SZ, pipe_size);
    double t0 = bench_now(), c0 = cpu_ms();
    pid_t pid = fork();
    if (pid == 0) {
        unsigned char *b = malloc(BIG);
        if (!b)
            _exit(1);
        memset(b, v, BIG);
        *filled_at = bench_now();
        _exit(write_all(p[1], b, BIG) == 0 ? 0 : 1);
    }
    close(p[1]);
    size_t got = 0;
    while (pid > 0 && got < BIG) {
        ssize_t n = read(p[0], dst + got, BIG - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(p[0]);
    int status = -1;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int bad = got != BIG || status != 0 || touch(dst, BIG, v);
    double t1 = bench_now();
    out->cpu = cpu_ms() - c0;
    free(dst);
    out->cross = (t1 - *filled_at) * 1e3;
    out->whole = (t1 - t0) * 1e3;
    return bad ? -1 : 0;
}

/* ---- forkpool ---- */

struct big_arg {
    int in_place;
    unsigned char v;
};

static int task_big(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    const struct big_arg *a = arg;
    if (a->in_place) {
        unsigned char *b = forkpool_result_buffer(ctx, BIG);
        if (!b)
            return 1;
        memset(b, a->v, BIG);
        *filled_at = bench_now();
        return 0;
    }
    unsigned char *b = malloc(BIG);
    if (!b)
        return 1;
    memset(b, a->v, BIG);
    *filled_at = bench_now();
    int rc = forkpool_return(ctx, b, BIG);
    free(b);
    return rc;
}

struct got {
    unsigned char v; /* expected */
    int bad;
    double t1, c1;
};

static void then_big(forkpool_task *t, const void *r, size_t len, void *ud)
{
    (void)t;
    struct got *g = ud;
    g->bad = len != BIG || touch(r, len, g->v);
    g->t1 = bench_now();
    g->c1 = cpu_ms();
}

static int fp_round(forkpool *pool, int in_place, unsigned char v, sample *out)
{
    struct big_arg a = {in_place, v};
    struct got g = {v, 1, 0, 0};
    double t0 = bench_now(), c0 = cpu_ms();
    forkpool_task *t = forkpool_then(forkpool_run(pool, task_big, &a, sizeof a), then_big, &g);
    int rc = forkpool_wait(t);
    forkpool_task_release(t);
    if (rc != 0 || g.bad)
        return -1;
    out->cross = (g.t1 - *filled_at) * 1e3;
    out->whole = (g.t1 - t0) * 1e3;
    out->cpu = g.c1 - c0;
    return 0;
}

static int run_way(forkpool *pool, int way, unsigned char v, sample *out)
{
    switch (way) {
    case 0:
        return raw_round(0, v, out);
    case 1:
        return raw_round(1 << 20, v, out);
    default:
        return fp_round(pool, way == 3, v, out);
    }
}

static void print_way(int way, const char *what, const double *v, const char *unit)
{
    bench_summary m = bench_summarize(v, ROUNDS);
    printf("| bigresult: 256 MiB, %s: %s | %.1f %s | %.1f..%.1f | | |\n", way_name[way], what,
           m.median, unit, m.min, m.max);
}

static int part_big(forkpool *pool)
{
    double cross[NWAYS][ROUNDS], whole[NWAYS][ROUNDS], cpu[NWAYS][ROUNDS], ratio[ROUNDS];
    for (int r = -1; r < ROUNDS; r++) { /* -1: warm-up */
        for (int way = 0; way < NWAYS; way++) {
            sample s;
            if (run_way(pool, way, (unsigned char)(r + 2), &s) != 0) {
                fprintf(stderr, "bigresult: %s failed\n", way_name[way]);
                return -1;
            }
            if (r >= 0) {
                cross[way][r] = s.cross;
                whole[way][r] = s.whole;
                cpu[way][r] = s.cpu;
            }
        }
        if (r < 0)
            continue;
        ratio[r] = cross[0][r] / cross[2][r];
        fprintf(stderr, "bigresult: round %d: cross %.0f / %.0f / %.0f / %.0f ms\n", r + 1,
                cross[0][r], cross[1][r], cross[2][r], cross[3][r]);
    }
    for (int way = 0; way < NWAYS; way++) {
        print_way(way, "child filled it -> parent holds it", cross[way], "ms");
        print_way(way, "whole task, fill included", whole[way], "ms");
        print_way(way, "parent CPU time for the whole task", cpu[way], "ms");
    }
    bench_summary q = bench_summarize(ratio, ROUNDS);
    double m0 = bench_summarize(cross[0], ROUNDS).median,
           m2 = bench_summarize(cross[2], ROUNDS).median,
           m3 = bench_summarize(cross[3], ROUNDS).median;
    printf("| bigresult: speed-up of forkpool_return over the raw 64 KiB pipe (medians; range "
           "per round) | %.2fx | %.2f..%.2f | >= 2x | %s |\n",
           m0 / m2, q.min, q.max, m0 / m2 >= 2 ? "yes" : "NO");
    printf("BENCH bigresult_raw64k_ms %.1f\nBENCH bigresult_return_ms %.1f\n"
           "BENCH bigresult_buffer_ms %.1f\nBENCH bigresult_speedup %.2f\n",
           m0, m2, m3, m0 / m2);
    return 0;
}

/* ---- part 2: around the memfd threshold ---- */

static int task_sized(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    size_t n;
    int send;
    memcpy(&n, arg, sizeof n);
    memcpy(&send, (const char *)arg + sizeof n, sizeof send);
    unsigned char *b = malloc(n);
    if (!b)
        return 1;
    memset(b, 7, n);
    int rc = send ? forkpool_send(ctx, b, n) : forkpool_return(ctx, b, n);
    free(b);
    return rc;
}

static void got_bytes(forkpool_task *t, const void *r, size_t len, void *ud)
{
    (void)t;
    size_t *sum = ud;
    *sum += len + ((const unsigned char *)r)[len - 1];
}

/* µs per task for SWEEP_TASKS tasks of n bytes each, one at a time. */
static double sweep_round(forkpool *pool, size_t n, int send)
{
    unsigned char arg[sizeof n + sizeof send];
    size_t sum = 0;
    memcpy(arg, &n, sizeof n);
    memcpy(arg + sizeof n, &send, sizeof send);
    double t0 = bench_now();
    for (int i = 0; i < SWEEP_TASKS; i++) {
        forkpool_task *t = forkpool_run(pool, task_sized, arg, sizeof arg);
        if (send)
            forkpool_on_message(t, got_bytes, &sum);
        else
            forkpool_then(t, got_bytes, &sum);
        forkpool_task_release(t);
    }
    int unhandled = forkpool_await(pool);
    double us = (bench_now() - t0) / SWEEP_TASKS * 1e6;
    return unhandled == 0 && sum == SWEEP_TASKS * (n + 7) ? us : -1;
}

static int part_sweep(forkpool *pool)
{
    static const size_t sizes[] = {(size_t)16 << 10,  (size_t)64 << 10, (size_t)128 << 10,
                                   (size_t)256 << 10, (size_t)1 << 20,  (size_t)4 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double ret[SWEEP_ROUNDS], snd[SWEEP_ROUNDS];
        sweep_round(pool, sizes[i], 0);
        sweep_round(pool, sizes[i], 1);
        for (int r = 0; r < SWEEP_ROUNDS; r++) {
            ret[r] = sweep_round(pool, sizes[i], 0);
            snd[r] = sweep_round(pool, sizes[i], 1);
            if (ret[r] < 0 || snd[r] < 0) {
                fprintf(stderr, "bigresult: sweep at %zu bytes failed\n", sizes[i]);
                return -1;
            }
        }
        bench_summary a = bench_summarize(ret, SWEEP_ROUNDS), b = bench_summarize(snd, SWEEP_ROUNDS);
        printf("| bigresult: %zu KiB, forkpool_return | %.0f us/task | %.0f..%.0f | | |\n",
               sizes[i] >> 10, a.median, a.min, a.max);
        printf("| bigresult: %zu KiB, the same bytes by forkpool_send (pipe) | %.0f us/task | "
               "%.0f..%.0f | | |\n",
               sizes[i] >> 10, b.median, b.min, b.max);
    }
    return 0;
}

int main(void)
{
    filled_at = mmap(NULL, sizeof *filled_at, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    if (filled_at == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    forkpool *pool = forkpool_create(&(forkpool_options){.concurrency = 1});
    if (!pool) {
        perror("forkpool_create");
        return 1;
    }
    int rc = part_big(pool) == 0 && part_sweep(pool) == 0 ? 0 : 1;
    forkpool_destroy(pool);
    return rc;
}
