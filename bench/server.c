/*
 * server: the cost of one FRESH task with and without fork_server, with a
 * tiny parent and after the parent has grown by 256 MiB of touched memory.
 *
 * Both pools are made while the program is tiny (as a program using
 * fork_server should: the helper is a snapshot of the program at create).
 * Each side runs TASKS empty tasks with CONC in flight (forkpool_run +
 * release, then forkpool_await); the raw baseline is a bare loop of pipe2 +
 * fork (child: write 8 bytes, _exit), poll, read to EOF, waitpid. Rounds
 * alternate raw / FRESH / fork_server so drift hits all alike.
 *
 * Goals (issue #3): fork_server with a 256 MiB parent within 1.5x of FRESH
 * with a tiny parent; and, informally, the FRESH overhead goal (<= 1.15x
 * raw) checked for fork_server.
 */
#include <forkpool.h>

#include "bench.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

enum { TASKS = 1000, CONC = 2, ROUNDS = 7, WARMUP_TASKS = 100 };
#define BIG ((size_t)256 << 20)

static int empty_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    uint64_t v = 42;
    return forkpool_return(ctx, &v, sizeof v);
}

/* µs per task on an existing pool, or -1. */
static double pool_round(forkpool *pool, unsigned tasks)
{
    forkpool_stats before = forkpool_get_stats(pool);
    double t0 = bench_now();
    for (unsigned i = 0; i < tasks; i++) {
        forkpool_task *t = forkpool_run(pool, empty_task, NULL, 0);
        if (t == NULL) {
            perror("forkpool_run");
            return -1;
        }
        forkpool_task_release(t);
    }
    int unhandled = forkpool_await(pool);
    double elapsed = bench_now() - t0;
    forkpool_stats st = forkpool_get_stats(pool);
    if (unhandled != 0 || st.succeeded - before.succeeded != tasks) {
        fprintf(stderr, "server: round: await %d, %zu of %u succeeded\n", unhandled,
                st.succeeded - before.succeeded, tasks);
        return -1;
    }
    return elapsed / tasks * 1e6;
}

/* The raw loop: µs per task, or -1. */
static double raw_round(unsigned tasks)
{
    pid_t pid[CONC] = {0};
    int fd[CONC];
    unsigned started = 0, done = 0;
    double t0 = bench_now();
    while (done < tasks) {
        struct pollfd pf[CONC];
        int map[CONC], n = 0;
        for (int i = 0; i < CONC; i++) {
            if (pid[i] == 0 && started < tasks) {
                int p[2];
                if (pipe2(p, O_CLOEXEC) != 0)
                    return -1;
                pid[i] = fork();
                if (pid[i] < 0)
                    return -1;
                if (pid[i] == 0) {
                    uint64_t v = 42;
                    _exit(write(p[1], &v, sizeof v) == (ssize_t)sizeof v ? 0 : 1);
                }
                close(p[1]);
                fd[i] = p[0];
                started++;
            }
            if (pid[i] != 0) {
                pf[n] = (struct pollfd){.fd = fd[i], .events = POLLIN};
                map[n++] = i;
            }
        }
        if (poll(pf, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        for (int k = 0; k < n; k++) {
            if (pf[k].revents == 0)
                continue;
            int i = map[k], status;
            char buf[64];
            while (read(fd[i], buf, sizeof buf) > 0)
                ;
            close(fd[i]);
            while (waitpid(pid[i], &status, 0) < 0 && errno == EINTR)
                ;
            pid[i] = 0;
            done++;
        }
    }
    return (bench_now() - t0) / tasks * 1e6;
}

struct row {
    double raw[ROUNDS], fresh[ROUNDS], server[ROUNDS];
};

static int measure(const char *label, forkpool *fresh, forkpool *server, struct row *r)
{
    if (raw_round(WARMUP_TASKS) < 0 || pool_round(fresh, WARMUP_TASKS) < 0 ||
        pool_round(server, WARMUP_TASKS) < 0)
        return -1;
    for (int i = 0; i < ROUNDS; i++) {
        r->raw[i] = raw_round(TASKS);
        r->fresh[i] = pool_round(fresh, TASKS);
        r->server[i] = pool_round(server, TASKS);
        if (r->raw[i] < 0 || r->fresh[i] < 0 || r->server[i] < 0)
            return -1;
        fprintf(stderr, "server: %s round %d: raw %.1f, FRESH %.1f, fork_server %.1f us\n",
                label, i + 1, r->raw[i], r->fresh[i], r->server[i]);
    }
    return 0;
}

static void print_row(const char *what, const char *parent, const double *v)
{
    bench_summary s = bench_summarize(v, ROUNDS);
    printf("| server: %s, %d empty tasks, %d at a time, %s parent | %.1f us/task | %.1f..%.1f "
           "| | |\n",
           what, TASKS, CONC, parent, s.median, s.min, s.max);
}

int main(void)
{
    forkpool *fresh = forkpool_create(&(forkpool_options){.concurrency = CONC});
    forkpool *server =
        forkpool_create(&(forkpool_options){.concurrency = CONC, .fork_server = 1});
    if (!fresh || !server) {
        perror("forkpool_create");
        return 1;
    }
    static struct row tiny, big;
    if (measure("tiny", fresh, server, &tiny) < 0)
        return 1;
    unsigned char *mem = malloc(BIG);
    if (!mem)
        return 1;
    memset(mem, 1, BIG); /* touched: every page is mapped */
    if (measure("256 MiB", fresh, server, &big) < 0)
        return 1;

    print_row("raw fork+pipe+waitpid", "tiny", tiny.raw);
    print_row("FRESH", "tiny", tiny.fresh);
    print_row("FRESH + fork_server", "tiny", tiny.server);
    print_row("raw fork+pipe+waitpid", "256 MiB", big.raw);
    print_row("FRESH", "256 MiB", big.fresh);
    print_row("FRESH + fork_server", "256 MiB", big.server);
    double ft = bench_summarize(tiny.fresh, ROUNDS).median;
    double st = bench_summarize(tiny.server, ROUNDS).median;
    double sb = bench_summarize(big.server, ROUNDS).median;
    double rt = bench_summarize(tiny.raw, ROUNDS).median;
    printf("| server: fork_server 256 MiB parent / FRESH tiny parent | %.3f | | <= 1.5 | %s |\n",
           sb / ft, sb / ft <= 1.5 ? "yes" : "NO");
    printf("| server: fork_server tiny parent / raw fork+pipe+waitpid | %.3f | | <= 1.15 | %s |\n",
           st / rt, st / rt <= 1.15 ? "yes" : "NO");
    printf("BENCH server_big_us %.1f\nBENCH server_big_ratio %.3f\nBENCH server_raw_ratio %.3f\n",
           sb, sb / ft, st / rt);
    free(mem);
    forkpool_destroy(server);
    forkpool_destroy(fresh);
    return 0;
}
