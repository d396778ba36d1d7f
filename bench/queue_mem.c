/*
 * queue_mem: parent memory per queued task. Queues 1,000,000 tasks with
 * 16-byte arguments behind one that never ends (so none starts), and
 * reports the growth of the parent's RSS, once (it does not vary by more
 * than a page or two). Goal (issue #3): <= 200 MB.
 */
#include <forkpool.h>

#include "bench.h"

#include <unistd.h>

enum { QUEUED = 1000000 };

static int idle_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    pause();
    return 0;
}

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1e6;
}

int main(void)
{
    forkpool *pool = forkpool_create(&(forkpool_options){.concurrency = 1});
    if (!pool) {
        perror("forkpool_create");
        return 1;
    }
    char arg[16] = {0};
    forkpool_task_release(forkpool_run(pool, idle_task, arg, sizeof arg)); /* holds the slot */
    double before = rss_mb();
    for (int i = 0; i < QUEUED; i++) {
        forkpool_task *t = forkpool_run(pool, idle_task, arg, sizeof arg);
        if (!t) {
            perror("forkpool_run");
            return 1;
        }
        forkpool_task_release(t);
    }
    double grew = rss_mb() - before;
    char what[96];
    snprintf(what, sizeof what,
             "1,000,000 queued tasks with 16-byte arguments, parent RSS growth (%.0f bytes/task)",
             grew * 1e6 / QUEUED);
    bench_emit_values("queue.mb", &grew, 1, "MB", what);
    forkpool_destroy(pool); /* kills the idle task; frees the queue */
    return 0;
}
