/*
 * bigresult: how fast a large result crosses from a child to the parent.
 *
 * Part 1: 256 MiB, six arms in interleaved rounds (A B C D E F A B ...),
 * one untimed warm-up each:
 *   bigresult.pipe64k  raw: a bare fork; the child write()s its buffer into a
 *                      pipe of the default size (64 KiB), the parent read()s
 *                      it into fresh memory. Two copies.
 *   bigresult.pipe1m   the same with F_SETPIPE_SZ 1 MiB
 *   bigresult.memfd    raw: the child write()s its buffer into a memfd the
 *                      parent made before the fork; the parent maps it. One
 *                      copy: the floor for forkpool_return.
 *   bigresult.inplace  raw: the child builds its result in that memfd,
 *                      mapped; the parent maps it. No copy: the floor for
 *                      forkpool_result_buffer.
 *   bigresult.return   a FRESH task fills a malloc'd buffer, forkpool_return
 *                      it, frees it (the result crosses as a memfd)
 *   bigresult.buffer   a FRESH task builds its result in
 *                      forkpool_result_buffer memory
 * Each child fills 256 MiB (memset), then notes the time in shared memory.
 * The figure ("cross") runs from then until the parent holds the result:
 * one byte of every page read and checked, the child reaped (forkpool: in
 * the then handler, which runs once the child is reaped). Also reported:
 * bigresult.whole_* (from fork / forkpool_run, the fill included) and
 * bigresult.cpu_* (the parent's CPU time for the whole task). Ratios per
 * round: ratio_pipe64k = return / pipe64k (goal <= 0.5: 2x faster),
 * ratio_memfd = return / memfd, ratio_inplace = buffer / inplace (goal
 * <= 1.1: the cost of mapping). Memory at the peak, by construction: the
 * pipes, memfd and return hold 2 x 256 MiB (the child's buffer, and the
 * parent's copy or the memfd), inplace and buffer 256 MiB.
 *
 * Part 2, 16 KiB to 4 MiB: forkpool_return (a memfd from FP_MAP_MIN,
 * 128 KiB) against the same bytes sent with forkpool_send (always the
 * pipe), us per task, one task at a time (bigresult.sweep_return_<KiB>,
 * bigresult.sweep_send_<KiB>): where the memfd starts to pay.
 *
 * Output: bench/bench.h's M lines; rounds on stderr. BENCH_QUICK=1: 64 MiB,
 * 3 rounds, a shorter sweep; BENCH_ROUNDS=N: N rounds.
 * Run alone: make build/bench/bigresult && build/bench/bigresult
 */
#include <forkpool.h>

#include "bench.h"
#include "raw_copy.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ROUNDS = 7, QUICK_ROUNDS = 3, SWEEP_TASKS = 40, QUICK_SWEEP_TASKS = 10 };

static size_t big;                 /* bytes per result                      */
static volatile double *filled_at; /* written by each child: buffer full    */

/* CPU time (user + system) this process has used, ms. */
static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* One arm's extra figures, per timed round. */
typedef struct {
    int kind;        /* WAY_*                          */
    int n;           /* timed rounds recorded so far   */
    double whole[BENCH_MAX_ROUNDS], cpu[BENCH_MAX_ROUNDS];
    forkpool *pool;  /* forkpool arms                  */
} way;

enum { WAY_PIPE64K, WAY_PIPE1M, WAY_MEMFD, WAY_INPLACE, WAY_RETURN, WAY_BUFFER, NWAYS };

/* Records a round; returns the cross time, ms. */
static double record(way *w, int warmup, double t0, double c0, double t1, double c1)
{
    if (!warmup && w->n < BENCH_MAX_ROUNDS) {
        w->whole[w->n] = (t1 - t0) * 1e3;
        w->cpu[w->n] = c1 - c0;
        w->n++;
    }
    return (t1 - *filled_at) * 1e3;
}

/* ---- raw ---- */

static _Noreturn void raw_child(int kind, int fd)
{
    unsigned char *b;
    if (kind == WAY_INPLACE) {
        if (ftruncate(fd, (off_t)big) != 0)
            _exit(1);
        b = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    } else {
        b = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (b == MAP_FAILED)
        _exit(1);
    memset(b, RAW_COPY_BYTE, big);
    *filled_at = bench_now();
    if (kind != WAY_INPLACE && raw_copy_write_all(fd, b, big) != 0)
        _exit(1);
    _exit(0);
}

/* Reads the pipe into fresh memory; the result stays mapped at *out. */
static int raw_read(int fd, unsigned char **out)
{
    unsigned char *dst = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                              -1, 0);
    if (dst == MAP_FAILED)
        return -1;
    size_t got = 0;
    while (got < big) {
        ssize_t n = read(fd, dst + got, big - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    *out = dst;
    return got == big ? 0 : -1;
}

static double raw_round(void *ud, int warmup)
{
    way *w = ud;
    int fds[2] = {-1, -1}, rc = 0, st = 0;
    unsigned char *res = MAP_FAILED;
    if (w->kind == WAY_PIPE64K || w->kind == WAY_PIPE1M) {
        if (pipe2(fds, O_CLOEXEC) != 0)
            return -1;
        if (w->kind == WAY_PIPE1M && fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) < (1 << 20))
            rc = -1;
    } else if ((fds[0] = memfd_create("bigresult", MFD_CLOEXEC)) < 0) {
        return -1;
    }
    double t0 = bench_now(), c0 = cpu_ms();
    pid_t pid = rc == 0 ? fork() : -1;
    if (pid == 0) {
        if (fds[1] >= 0)
            close(fds[0]);
        raw_child(w->kind, fds[1] >= 0 ? fds[1] : fds[0]);
    }
    if (fds[1] >= 0) {
        close(fds[1]);
        if (pid > 0)
            rc = raw_read(fds[0], &res);
    }
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        rc = -1;
    if (rc == 0 && res == MAP_FAILED) {
        res = mmap(NULL, big, PROT_READ, MAP_SHARED, fds[0], 0);
        rc = res == MAP_FAILED ? -1 : 0;
    }
    if (rc == 0)
        rc = raw_copy_check(res, big);
    double t1 = bench_now(), c1 = cpu_ms();
    if (res != MAP_FAILED)
        munmap(res, big);
    close(fds[0]);
    return rc == 0 ? record(w, warmup, t0, c0, t1, c1) : -1;
}

/* ---- forkpool ---- */

static int task_big(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int in_place = *(const int *)arg;
    if (in_place) {
        unsigned char *b = forkpool_result_buffer(ctx, big);
        if (!b)
            return 1;
        memset(b, RAW_COPY_BYTE, big);
        *filled_at = bench_now();
        return 0;
    }
    unsigned char *b = malloc(big);
    if (!b)
        return 1;
    memset(b, RAW_COPY_BYTE, big);
    *filled_at = bench_now();
    int rc = forkpool_return(ctx, b, big);
    free(b);
    return rc;
}

struct got {
    int bad;
    double t1, c1;
};

static void then_big(forkpool_task *t, const void *r, size_t len, void *ud)
{
    (void)t;
    struct got *g = ud;
    g->bad = len != big || raw_copy_check(r, len) != 0;
    g->t1 = bench_now();
    g->c1 = cpu_ms();
}

static double fp_round(void *ud, int warmup)
{
    way *w = ud;
    int in_place = w->kind == WAY_BUFFER;
    struct got g = {1, 0, 0};
    double t0 = bench_now(), c0 = cpu_ms();
    forkpool_task *t = forkpool_then(forkpool_run(w->pool, task_big, &in_place, sizeof in_place),
                                     then_big, &g);
    int rc = forkpool_wait(t);
    forkpool_task_release(t);
    if (rc != 0 || g.bad)
        return -1;
    return record(w, warmup, t0, c0, g.t1, g.c1);
}

static int part_big(forkpool *pool)
{
    static const char *const keys[NWAYS] = {"pipe64k", "pipe1m", "memfd",
                                            "inplace", "return", "buffer"};
    static const char *const what[NWAYS] = {
        "raw: write() into a 64 KiB pipe, parent read()s",
        "raw: write() into a 1 MiB pipe, parent read()s",
        "raw: write() into a memfd, parent maps it",
        "raw: built in a shared memfd, parent maps it",
        "forkpool_return (crosses as a memfd)",
        "forkpool_result_buffer (built in place)",
    };
    way ways[NWAYS];
    bench_arm arms[NWAYS];
    char key[NWAYS][48], text[NWAYS][160];
    for (int i = 0; i < NWAYS; i++) {
        ways[i] = (way){.kind = i, .pool = pool};
        snprintf(key[i], sizeof key[i], "bigresult.%s", keys[i]);
        snprintf(text[i], sizeof text[i],
                 "%zu MiB, %s: from the child's full buffer to the parent holding it", big >> 20,
                 what[i]);
        arms[i] = (bench_arm){.key = key[i], .what = text[i], .unit = "ms",
                              .fn = i >= WAY_RETURN ? fp_round : raw_round, .ud = &ways[i]};
    }
    if (bench_interleave(arms, NWAYS, bench_rounds(ROUNDS, QUICK_ROUNDS)) != 0)
        return -1;
    for (int i = 0; i < NWAYS; i++) {
        char k[64], t[200];
        bench_emit(&arms[i]);
        snprintf(k, sizeof k, "bigresult.whole_%s", keys[i]);
        snprintf(t, sizeof t, "%zu MiB, %s: whole task, from fork, fill included", big >> 20,
                 what[i]);
        bench_emit_values(k, ways[i].whole, ways[i].n, "ms", t);
        snprintf(k, sizeof k, "bigresult.cpu_%s", keys[i]);
        snprintf(t, sizeof t, "%zu MiB, %s: the parent's CPU time for the whole task", big >> 20,
                 what[i]);
        bench_emit_values(k, ways[i].cpu, ways[i].n, "ms", t);
    }
    bench_emit_ratio("bigresult.ratio_pipe64k", &arms[WAY_RETURN], &arms[WAY_PIPE64K],
                     "forkpool_return / raw 64 KiB pipe, per round");
    bench_emit_ratio("bigresult.ratio_memfd", &arms[WAY_RETURN], &arms[WAY_MEMFD],
                     "forkpool_return / raw memfd copy, per round");
    bench_emit_ratio("bigresult.ratio_inplace", &arms[WAY_BUFFER], &arms[WAY_INPLACE],
                     "forkpool_result_buffer / raw memfd built in place, per round");
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

struct sweep {
    forkpool *pool;
    size_t n;
    int send;
};

/* us per task, tasks of n bytes one at a time. */
static double sweep_round(void *ud, int warmup)
{
    const struct sweep *s = ud;
    unsigned char arg[sizeof s->n + sizeof s->send];
    size_t sum = 0, tasks = bench_size(SWEEP_TASKS, QUICK_SWEEP_TASKS);
    (void)warmup;
    memcpy(arg, &s->n, sizeof s->n);
    memcpy(arg + sizeof s->n, &s->send, sizeof s->send);
    double t0 = bench_now();
    for (size_t i = 0; i < tasks; i++) {
        forkpool_task *t = forkpool_run(s->pool, task_sized, arg, sizeof arg);
        if (s->send)
            forkpool_on_message(t, got_bytes, &sum);
        else
            forkpool_then(t, got_bytes, &sum);
        forkpool_task_release(t);
    }
    int unhandled = forkpool_await(s->pool);
    double us = (bench_now() - t0) / (double)tasks * 1e6;
    return unhandled == 0 && sum == tasks * (s->n + 7) ? us : -1;
}

static int part_sweep(forkpool *pool)
{
    static const size_t kib[] = {16, 64, 128, 256, 1024, 4096};
    for (size_t i = 0; i < sizeof kib / sizeof kib[0]; i++) {
        struct sweep s[2] = {{pool, kib[i] << 10, 0}, {pool, kib[i] << 10, 1}};
        char key[2][48], text[2][128];
        bench_arm arms[2];
        for (int k = 0; k < 2; k++) {
            snprintf(key[k], sizeof key[k], "bigresult.sweep_%s_%zu", k ? "send" : "return",
                     kib[i]);
            snprintf(text[k], sizeof text[k], "%zu KiB results, one task at a time, %s", kib[i],
                     k ? "sent with forkpool_send (the pipe)" : "forkpool_return");
            arms[k] = (bench_arm){.key = key[k], .what = text[k], .unit = "us/task",
                                  .fn = sweep_round, .ud = &s[k]};
        }
        if (bench_interleave(arms, 2, bench_rounds(5, 2)) != 0)
            return -1;
        bench_emit(&arms[0]);
        bench_emit(&arms[1]);
    }
    return 0;
}

int main(void)
{
    big = bench_size((size_t)256 << 20, (size_t)64 << 20);
    filled_at = mmap(NULL, sizeof *filled_at, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    if (filled_at == MAP_FAILED) {
        perror("bigresult: mmap");
        return 1;
    }
    forkpool *pool = forkpool_create(&(forkpool_options){.concurrency = 1});
    if (!pool) {
        perror("bigresult: forkpool_create");
        return 1;
    }
    int rc = part_big(pool) == 0 && part_sweep(pool) == 0 ? 0 : 1;
    forkpool_destroy(pool);
    return rc;
}
