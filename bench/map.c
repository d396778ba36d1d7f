/*
 * map: forkpool_map over 1,000,000 trivial items (a uint64_t x each; the
 * function returns x * 2 + 1), FRESH, concurrency 2. A round's time covers
 * forkpool_create, the map (every batch's fork included) and
 * forkpool_destroy, as a peer's covers starting and stopping its workers;
 * the results are checked in on_result. One untimed warm-up round.
 *
 * Goal (issue #3): <= 0.1 us per item, faster than Python's
 * multiprocessing.Pool.map with its default chunksize (bench/pool_map.py)
 * and than a pthread pool taking one item per queue operation.
 *
 * Output: one measurement line, "M <TAB> map.forkpool <TAB> median <TAB>
 * min <TAB> max <TAB> us/item <TAB> what", and each round on stderr.
 * BENCH_QUICK=1: 100,000 items, 3 rounds; BENCH_ROUNDS=N: N rounds.
 */
#include <forkpool.h>

#include "bench.h"

#include <stdint.h>

enum { ITEMS = 1000000, QUICK_ITEMS = 100000, ROUNDS = 7, QUICK_ROUNDS = 3, MAX_ROUNDS = 64 };

static int twice_plus_one(forkpool_ctx *ctx, const void *arg, size_t len)
{
    uint64_t x;
    (void)len;
    memcpy(&x, arg, sizeof x);
    x = x * 2 + 1;
    return forkpool_return(ctx, &x, sizeof x);
}

struct check {
    const uint64_t *in;
    size_t wrong;
};

static void on_result(size_t i, const void *result, size_t len, const forkpool_error *err,
                      void *ud)
{
    struct check *c = ud;
    uint64_t y;
    if (err || len != sizeof y || (memcpy(&y, result, sizeof y), y != c->in[i] * 2 + 1))
        c->wrong++;
}

/* us per item, or -1 on any failure. */
static double map_round(const uint64_t *in, size_t n)
{
    struct check c = {in, 0};
    double t0 = bench_now();
    forkpool *pool = forkpool_create(&(forkpool_options){.concurrency = 2});
    if (!pool) {
        perror("map: forkpool_create");
        return -1;
    }
    int rc = forkpool_map(pool, twice_plus_one, in, n, sizeof *in, on_result, &c);
    forkpool_destroy(pool);
    double elapsed = bench_now() - t0;
    if (rc != 0 || c.wrong) {
        fprintf(stderr, "map: forkpool_map returned %d, %zu wrong results\n", rc, c.wrong);
        return -1;
    }
    return elapsed / (double)n * 1e6;
}

static int map_quick(void)
{
    const char *q = getenv("BENCH_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

static int map_rounds(void)
{
    const char *r = getenv("BENCH_ROUNDS");
    int n = r && *r ? atoi(r) : 0;
    if (n >= 1 && n <= MAX_ROUNDS)
        return n;
    return map_quick() ? QUICK_ROUNDS : ROUNDS;
}

int main(void)
{
    size_t n = map_quick() ? QUICK_ITEMS : ITEMS;
    int rounds = map_rounds();
    double us[MAX_ROUNDS];
    uint64_t *in = malloc(n * sizeof *in);
    if (!in) {
        perror("map: malloc");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        in[i] = i;
    if (map_round(in, n) < 0) {
        free(in);
        return 1;
    }
    for (int r = 0; r < rounds; r++) {
        if ((us[r] = map_round(in, n)) < 0) {
            free(in);
            return 1;
        }
        fprintf(stderr, "map: round %d: %.4f us/item\n", r + 1, us[r]);
    }
    free(in);
    bench_summary s = bench_summarize(us, (size_t)rounds);
    printf("M\tmap.forkpool\t%.4f\t%.4f\t%.4f\tus/item\tforkpool_map, %zu items of 8 bytes "
           "(x -> 2x + 1), FRESH, concurrency 2, create to destroy\n",
           s.median, s.min, s.max, n);
    return 0;
}
