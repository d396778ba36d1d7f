/*
 * raw: the hand-written baselines that have no forkpool counterpart in this
 * program, measured on their own so the table shows them even before the
 * features they judge exist (bench/map.c and bench/bigresult.c may also run
 * them interleaved with forkpool, through raw_pthread.h and raw_copy.h;
 * bench/run.sh then prefers their keys).
 *
 *   raw.pthread          ITEMS trivial items over a 2-thread pool, one item
 *                        per queue operation (raw_pthread.h), µs per item
 *   raw.pipe64k          a 256 MiB result through a default (64 KiB) pipe, ms
 *   raw.pipe1m           the same through a 1 MiB pipe (F_SETPIPE_SZ), ms
 *   raw.memfd            the same written into a memfd, mapped by the parent
 *   raw.memfd_inplace    the same built in place in a shared memfd
 *
 * The four copies run interleaved (A B C D A B C D ...).
 */
#include "raw_copy.h"
#include "raw_pthread.h"

enum { THREADS = 2, RESULT_MIB = 256, BIG_PIPE = 1 << 20 };

static size_t items;

static double pthread_round(void *ud, int warmup)
{
    (void)ud;
    return raw_pthread_map(warmup ? items / 10 : items, THREADS);
}

struct copy_arm {
    raw_copy_kind kind;
    int pipe_size;
};

static double copy_round(void *ud, int warmup)
{
    const struct copy_arm *c = ud;
    size_t len = (size_t)RESULT_MIB << 20;
    return raw_copy(c->kind, warmup ? len / 16 : len, c->pipe_size);
}

/* NULL if a pipe can be given size bytes, else why not. */
static const char *pipe_size_refused(int size)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return "pipe2 failed";
    int got = fcntl(p[1], F_SETPIPE_SZ, size);
    close(p[0]);
    close(p[1]);
    return got >= size ? NULL : "F_SETPIPE_SZ to 1 MiB refused (see /proc/sys/fs/pipe-max-size)";
}

static int default_pipe_size(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    int size = fcntl(p[1], F_GETPIPE_SZ);
    close(p[0]);
    close(p[1]);
    return size;
}

int main(void)
{
    items = bench_size(1000000, 100000);
    char what[160];
    snprintf(what, sizeof what,
             "%zu trivial items, pthread pool of %d, mutex+condvar queue, 1 item per queue op",
             items, THREADS);
    bench_arm pt[] = {{.key = "raw.pthread", .what = what, .unit = "us/item", .fn = pthread_round}};
    if (bench_interleave(pt, 1, bench_rounds(5, 2)) != 0)
        return 1;
    bench_emit(&pt[0]);

    char pipe_what[160];
    snprintf(pipe_what, sizeof pipe_what,
             "%d MiB from a child: default pipe (%d KiB here), read into new memory",
             RESULT_MIB, default_pipe_size() / 1024);
    struct copy_arm pipe64 = {RAW_COPY_PIPE, 0}, pipe1m = {RAW_COPY_PIPE, BIG_PIPE},
                    memfd = {RAW_COPY_MEMFD, 0}, inplace = {RAW_COPY_INPLACE, 0};
    bench_arm copies[] = {
        {.key = "raw.pipe64k", .what = pipe_what, .unit = "ms", .fn = copy_round,
         .ud = &pipe64},
        {.key = "raw.pipe1m", .what = "256 MiB from a child through a 1 MiB pipe (F_SETPIPE_SZ)",
         .unit = "ms", .fn = copy_round, .ud = &pipe1m, .na = pipe_size_refused(BIG_PIPE)},
        {.key = "raw.memfd", .what = "256 MiB from a child: write() into a memfd, parent maps it",
         .unit = "ms", .fn = copy_round, .ud = &memfd},
        {.key = "raw.memfd_inplace",
         .what = "256 MiB built by a child in a shared memfd, parent maps it", .unit = "ms",
         .fn = copy_round, .ud = &inplace},
    };
    size_t n = sizeof copies / sizeof copies[0];
    if (bench_interleave(copies, n, bench_rounds(5, 2)) != 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        bench_emit(&copies[i]);
    return 0;
}
