/*
 * fresh: the cost of one FRESH-mode task, against the cheapest way to do the
 * same thing by hand.
 *
 * Both sides run TASKS empty tasks with CONC in flight; each task sends 8
 * bytes back to the parent and exits. forkpool: forkpool_run + release, then
 * forkpool_await. Raw: a bare loop of pipe2 + fork (child: write, _exit),
 * poll over the in-flight pipes, read to EOF, waitpid on that pid. The raw
 * loop has no timeouts, no process groups, no error reporting: it is the
 * floor, not a competitor. Rounds alternate A B A B ... so drift (CPU
 * frequency, other load) hits both alike; one untimed warm-up round each.
 *
 * Goal (issue #2): forkpool per-task time <= 1.15 x raw.
 */
#include <forkpool.h>

#include "bench.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

enum { TASKS = 1000, CONC = 2, ROUNDS = 7, WARMUP_TASKS = 100 };

static int empty_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    uint64_t v = 42;
    return forkpool_return(ctx, &v, sizeof v);
}

/* µs per task with forkpool, or -1 on any failure. Pool creation is not
   timed (once per program); destroying the pool is, as it reaps nothing
   here but is part of finishing. */
static double forkpool_round(unsigned tasks)
{
    forkpool *pool = forkpool_create(&(forkpool_options){.concurrency = CONC});
    if (pool == NULL) {
        perror("forkpool_create");
        return -1;
    }
    double t0 = bench_now();
    for (unsigned i = 0; i < tasks; i++) {
        forkpool_task *t = forkpool_run(pool, empty_task, NULL, 0);
        if (t == NULL) {
            perror("forkpool_run");
            forkpool_destroy(pool);
            return -1;
        }
        forkpool_task_release(t);
    }
    int unhandled = forkpool_await(pool);
    double elapsed = bench_now() - t0;
    forkpool_stats st = forkpool_get_stats(pool);
    forkpool_destroy(pool);
    if (unhandled != 0 || st.succeeded != tasks) {
        fprintf(stderr, "fresh: forkpool round: await %d, %zu of %u succeeded\n", unhandled,
                st.succeeded, tasks);
        return -1;
    }
    return elapsed / tasks * 1e6;
}

struct slot {
    pid_t pid; /* 0: free */
    int fd;    /* read end of the child's pipe */
};

static int raw_spawn(struct slot *s)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        uint64_t v = 42;
        _exit(write(p[1], &v, sizeof v) == (ssize_t)sizeof v ? 0 : 1);
    }
    close(p[1]);
    *s = (struct slot){pid, p[0]};
    return 0;
}

/* Reads the child's result to EOF and reaps it; 0 if it sent 8 bytes and
   exited 0. */
static int raw_finish(struct slot *s)
{
    char buf[64];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0 || errno != EINTR)
            break;
    }
    close(s->fd);
    int status;
    pid_t r;
    while ((r = waitpid(s->pid, &status, 0)) < 0 && errno == EINTR)
        ;
    s->pid = 0;
    return r > 0 && got == sizeof(uint64_t) && WIFEXITED(status) && WEXITSTATUS(status) == 0
               ? 0
               : -1;
}

/* µs per task with the bare loop, or -1 on any failure. */
static double raw_round(unsigned tasks)
{
    struct slot slots[CONC] = {{0, -1}};
    unsigned started = 0, done = 0;
    int rc = 0;
    double t0 = bench_now();
    while (done < tasks && rc == 0) {
        struct pollfd fds[CONC];
        int map[CONC], n = 0;
        for (int i = 0; i < CONC; i++) {
            if (slots[i].pid == 0 && started < tasks) {
                if (raw_spawn(&slots[i]) != 0) {
                    perror("raw: fork");
                    rc = -1;
                    break;
                }
                started++;
            }
            if (slots[i].pid != 0) {
                fds[n] = (struct pollfd){.fd = slots[i].fd, .events = POLLIN};
                map[n++] = i;
            }
        }
        if (rc != 0)
            break;
        if (poll(fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("raw: poll");
            rc = -1;
            break;
        }
        for (int k = 0; k < n; k++) {
            if (fds[k].revents == 0)
                continue;
            if (raw_finish(&slots[map[k]]) != 0)
                rc = -1;
            done++;
        }
    }
    double elapsed = bench_now() - t0;
    for (int i = 0; i < CONC; i++) /* after an error: no zombies left behind */
        if (slots[i].pid != 0)
            raw_finish(&slots[i]);
    if (rc != 0) {
        fprintf(stderr, "fresh: raw round failed after %u tasks\n", done);
        return -1;
    }
    return elapsed / tasks * 1e6;
}

int main(void)
{
    double fp[ROUNDS], raw[ROUNDS], ratio[ROUNDS];
    if (forkpool_round(WARMUP_TASKS) < 0 || raw_round(WARMUP_TASKS) < 0)
        return 1;
    for (int r = 0; r < ROUNDS; r++) {
        fp[r] = forkpool_round(TASKS);
        raw[r] = raw_round(TASKS);
        if (fp[r] < 0 || raw[r] < 0)
            return 1;
        ratio[r] = fp[r] / raw[r];
        fprintf(stderr, "fresh: round %d: forkpool %.1f us, raw %.1f us per task\n", r + 1,
                fp[r], raw[r]);
    }
    bench_summary f = bench_summarize(fp, ROUNDS), w = bench_summarize(raw, ROUNDS),
                  q = bench_summarize(ratio, ROUNDS);
    double overall = f.median / w.median;
    printf("| fresh: forkpool, %d empty tasks, %d at a time | %.1f us/task | %.1f..%.1f | | |\n",
           TASKS, CONC, f.median, f.min, f.max);
    printf("| fresh: raw fork+pipe+waitpid loop, same | %.1f us/task | %.1f..%.1f | | |\n",
           w.median, w.min, w.max);
    printf("| fresh: ratio forkpool/raw (medians; range per round) | %.3f | %.3f..%.3f "
           "| <= 1.15 | %s |\n",
           overall, q.min, q.max, overall <= 1.15 ? "yes" : "NO");
    printf("BENCH fresh_us %.1f\nBENCH raw_us %.1f\nBENCH fresh_ratio %.3f\n", f.median,
           w.median, overall);
    return 0;
}
