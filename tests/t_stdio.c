/* stdio buffers are neither duplicated nor lost: with stdout fully buffered
   (a file), the parent's unflushed line appears exactly once and each task's
   unflushed printf appears exactly once - for succeeding and failing tasks;
   and a line another thread prints between the library's flush and its
   fork (played by an atfork handler, which runs exactly there) appears
   once, not again from the child. */
#include <pthread.h>

#include "forkpool.h"
#include "tap.h"

static int atfork_lines; /* printed by the handler, in the sub-process */

static void atfork_print(void)
{
    printf("atfork-line\n"); /* no fflush: in the buffer the child copies */
    atfork_lines++;
}

static int task_print(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx; (void)len;
    printf("task-line-%d\n", *(const int *)arg); /* no fflush */
    return 0;
}

static int task_print_throw(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    printf("task-line-%d\n", *(const int *)arg);
    return forkpool_throw(ctx, "t", "failed after printing");
}

static int task_print_return(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)len;
    printf("task-line-%d\n", *(const int *)arg);
    return 5;
}

static int count_lines(const char *buf, const char *line)
{
    int n = 0;
    size_t l = strlen(line);
    const char *p = buf;
    while ((p = strstr(p, line)) != NULL) {
        if ((p == buf || p[-1] == '\n') && (p[l] == '\n'))
            n++;
        p += l;
    }
    return n;
}

/* the sub-process: stdout is a regular file, hence fully buffered */
static void sub(int no_pidfd)
{
    if (no_pidfd)
        setenv("FORKPOOL_NO_PIDFD", "1", 1);
    printf("parent-line\n"); /* stays in the buffer across the forks */
    if (pthread_atfork(atfork_print, NULL, NULL) != 0)
        _exit(4);
    forkpool_options o = {0};
    o.concurrency = 3;
    forkpool *p = forkpool_create(&o);
    if (!p)
        _exit(2);
    static int ids[6] = {0, 1, 2, 3, 4, 5};
    for (int i = 0; i < 6; i++) {
        forkpool_fn fn = i == 4 ? task_print_throw : i == 5 ? task_print_return : task_print;
        forkpool_task_release(forkpool_run(p, fn, &ids[i], sizeof ids[i]));
    }
    int unhandled = forkpool_await(p);
    printf("parent-after-await-%d\n", unhandled);
    forkpool_destroy(p);
    printf("atfork-lines-%d\n", atfork_lines);
    exit(0); /* flushes stdout once */
}

static void check(const char *mode, int no_pidfd)
{
    FILE *f = tmpfile();
    if (!f)
        bail_out("tmpfile failed");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (dup2(fileno(f), STDOUT_FILENO) < 0)
            _exit(3);
        /* stdout was line/fully buffered to prove's pipe with nothing
           pending; make it fully buffered on the file */
        setvbuf(stdout, NULL, _IOFBF, BUFSIZ);
        sub(no_pidfd);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: sub-process exited 0 (status %d)", mode, st);
    char buf[8192];
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    is(count_lines(buf, "parent-line"), 1, "%s: the parent's unflushed line appears exactly once", mode);
    for (int i = 0; i < 6; i++) {
        char line[32];
        snprintf(line, sizeof line, "task-line-%d", i);
        is(count_lines(buf, line), 1, "%s: %s appears exactly once%s", mode, line,
           i == 4 ? " (task threw)" : i == 5 ? " (task returned 5)" : "");
    }
    is(count_lines(buf, "parent-after-await-2"), 1, "%s: await counted the 2 failing tasks", mode);
    const char *a = strstr(buf, "atfork-lines-");
    int forks = a ? atoi(a + strlen("atfork-lines-")) : -1;
    ok(forks > 0, "%s: the library forked with the atfork handler (%d times)", mode, forks);
    is(count_lines(buf, "atfork-line"), forks,
       "%s: a line printed between the flush and a fork appears once per fork", mode);
    if (tap_st()->failed)
        diag("output was:\n%s", buf);
}

int main(void)
{
    tap_watchdog(30);
    check("pidfd", 0);
    check("FORKPOOL_NO_PIDFD=1", 1);
    ok(tap_no_children(), "no children");
    return done_testing();
}
