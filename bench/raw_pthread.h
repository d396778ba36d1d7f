/*
 * raw_pthread.h: a thread pool written by hand, the floor for trivial items
 * run with no process isolation at all.
 *
 * `threads` threads (created and joined inside the timed region, as a map's
 * workers are started inside its own) take items from one queue guarded by
 * a mutex and a condition variable. The main thread pushes the items one by
 * one and signals per push; a thread pops one item per lock: one item per
 * queue operation, no batching (the plainest pool; a batched map should beat
 * it). An item is a uint64_t x, its result x * 2 + 1, stored by index; the
 * results are checked after the join.
 */
#ifndef FORKPOOL_BENCH_RAW_PTHREAD_H
#define FORKPOOL_BENCH_RAW_PTHREAD_H

#include "bench.h"

#include <pthread.h>
#include <stdint.h>

enum { RAW_PTHREAD_MAX_THREADS = 64 };

struct raw_pthread_pool {
    pthread_mutex_t mu;
    pthread_cond_t nonempty;
    const uint64_t **queue; /* pushed items; [head, tail) not yet taken */
    size_t head, tail;
    int closed; /* no more pushes: threads exit once the queue is empty */
    const uint64_t *in;
    uint64_t *out;
};

static inline void *raw_pthread_worker(void *arg)
{
    struct raw_pthread_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->head == p->tail && !p->closed)
            pthread_cond_wait(&p->nonempty, &p->mu);
        if (p->head == p->tail) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        const uint64_t *item = p->queue[p->head++];
        pthread_mutex_unlock(&p->mu);
        p->out[item - p->in] = *item * 2 + 1;
    }
}

/* µs per item for `count` items over `threads` threads; -1 on failure. */
static inline double raw_pthread_map(size_t count, int threads)
{
    if (count == 0 || threads < 1 || threads > RAW_PTHREAD_MAX_THREADS)
        return -1;
    struct raw_pthread_pool p = {.mu = PTHREAD_MUTEX_INITIALIZER,
                                 .nonempty = PTHREAD_COND_INITIALIZER};
    uint64_t *in = malloc(count * sizeof *in), *out = calloc(count, sizeof *out);
    p.queue = malloc(count * sizeof *p.queue);
    double rc = -1;
    if (in == NULL || out == NULL || p.queue == NULL)
        goto out;
    for (size_t i = 0; i < count; i++)
        in[i] = i;
    p.in = in;
    p.out = out;
    pthread_t tid[RAW_PTHREAD_MAX_THREADS];
    int started = 0;
    double t0 = bench_now();
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, raw_pthread_worker, &p) != 0)
            break;
    if (started == threads)
        for (size_t i = 0; i < count; i++) {
            pthread_mutex_lock(&p.mu);
            p.queue[p.tail++] = &in[i];
            pthread_cond_signal(&p.nonempty);
            pthread_mutex_unlock(&p.mu);
        }
    pthread_mutex_lock(&p.mu);
    p.closed = 1;
    pthread_cond_broadcast(&p.nonempty);
    pthread_mutex_unlock(&p.mu);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    double elapsed = bench_now() - t0;
    if (started != threads) {
        fprintf(stderr, "raw pthread pool: pthread_create failed\n");
        goto out;
    }
    for (size_t i = 0; i < count; i++)
        if (out[i] != in[i] * 2 + 1) {
            fprintf(stderr, "raw pthread pool: wrong result for item %zu\n", i);
            goto out;
        }
    rc = elapsed / (double)count * 1e6;
out:
    free(in);
    free(out);
    free(p.queue);
    return rc;
}

#endif
