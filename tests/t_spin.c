/* spin_us (issue #13): WORKERS' program and workers poll for a short window
   before they sleep, and never longer: waiting for a slow task, or idle
   between tasks, costs no CPU beyond the window; after misses the polling
   backs off; a negative spin_us never polls; above 100 ms is EINVAL. CPU
   time is read from the kernel (the program's clock, a worker's
   /proc/PID/stat); the bounds are a fraction of what polling the whole
   wait would cost. */
#include <time.h>

#include "forkpool.h"
#include "tap.h"

static int task_sleep(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)len;
    long ms;
    memcpy(&ms, arg, sizeof ms);
    tap_sleep_ms(ms);
    return 0;
}

/* The program's CPU time in ms. */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A process's user + system CPU time in ms, from /proc/PID/stat; -1 if gone. */
static double proc_cpu_ms(pid_t pid)
{
    char buf[1024];
    const char *p = tap_proc_stat(pid, buf, sizeof buf);
    unsigned long long ut, st;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt
       majflt cmajflt utime stime */
    if (!p || sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1e3 / (double)sysconf(_SC_CLK_TCK);
}

/* CPU the program spent in forkpool_wait on tasks sleeping ms each, n of
   them one at a time, on a WORKERS pool with spin_us. */
static double wait_cpu(long spin_us, long ms, int n)
{
    forkpool_options o = {.mode = FORKPOOL_WORKERS, .concurrency = 1, .spin_us = spin_us};
    forkpool *p = forkpool_create(&o);
    if (!p)
        bail_out("no pool");
    double used = 0;
    for (int i = 0; i < n; i++) {
        forkpool_task *t = forkpool_run(p, task_sleep, &ms, sizeof ms);
        double c0 = cpu_ms();
        int rc = forkpool_wait(t);
        used += cpu_ms() - c0;
        if (rc != 0)
            used = 1e9; /* the assertion then fails */
        forkpool_task_release(t);
    }
    forkpool_destroy(p);
    return used;
}

int main(void)
{
    tap_watchdog(60);
    int scale = tap_scale();

    /* The default window is 20 us: a 300 ms wait costs about nothing. */
    double used = wait_cpu(0, 300, 1);
    ok(used < 30.0 * scale, "default: waiting 300 ms for a task took %.1f ms of CPU", used);

    /* Never: a 50 ms wait, which a 100 ms window would poll through. */
    used = wait_cpu(-1, 50, 1);
    ok(used < 25.0 * scale, "spin_us -1: waiting 50 ms took %.1f ms of CPU", used);

    /* Backing off: 20 waits of 30 ms with a 10 ms window would poll 200 ms
       without it; misses make the next 1, 2, 4... waits sleep at once. */
    used = wait_cpu(10000, 30, 20);
    ok(used < 120.0 * scale, "spin_us 10 ms, 20 tasks of 30 ms: %.1f ms of CPU", used);

    /* An idle worker sleeps after its window: 300 ms idle, about no CPU. */
    forkpool_options o = {.mode = FORKPOOL_WORKERS, .concurrency = 1, .spin_us = 100000};
    forkpool *p = forkpool_create(&o);
    if (!p)
        bail_out("no pool");
    long zero = 0;
    forkpool_task *t = forkpool_run(p, task_sleep, &zero, sizeof zero);
    is(forkpool_wait(t), 0, "a task ran on the worker");
    pid_t worker = forkpool_task_pid(t);
    forkpool_task_release(t);
    tap_sleep_ms(150); /* past its 100 ms window */
    double w0 = proc_cpu_ms(worker);
    tap_sleep_ms(300);
    double w1 = proc_cpu_ms(worker);
    ok(w0 >= 0 && w1 >= 0 && w1 - w0 < 50.0 * scale,
       "an idle worker slept: %.0f ms of CPU in 300 ms idle", w1 - w0);
    forkpool_destroy(p);

    /* Bounds. */
    o = (forkpool_options){.mode = FORKPOOL_WORKERS, .spin_us = 100001};
    errno = 0;
    ok(!forkpool_create(&o) && errno == EINVAL, "spin_us above 100,000: EINVAL");
    o.spin_us = 100000;
    p = forkpool_create(&o);
    ok(p != NULL, "spin_us 100,000 is accepted");
    forkpool_destroy(p);
    o.spin_us = -5;
    p = forkpool_create(&o);
    ok(p != NULL, "a negative spin_us is accepted (never polls)");
    forkpool_destroy(p);

    ok(tap_no_children(), "no children left");
    return done_testing();
}
