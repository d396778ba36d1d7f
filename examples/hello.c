/*
 * hello: the smallest complete forkpool program.
 *
 * Five tasks each compute a Fibonacci number in a child process and return it
 * as text; one of them is given a negative argument and throws. Results arrive
 * in a `then` handler, the failure in a `catch` handler, and forkpool_await
 * waits for all of them.
 *
 *   build/examples/hello
 */
#include <forkpool.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * The task. It runs in a child process (a fork of this program), gets a copy
 * of the bytes given to forkpool_run, and reports back with forkpool_return
 * (any bytes) or forkpool_throw (an error type and message).
 */
static int fib_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    int n;
    if (len != sizeof n)
        return forkpool_throw(ctx, "usage", "expected an int, got %zu bytes", len);
    memcpy(&n, arg, sizeof n); /* arg has no particular alignment */
    if (n < 0)
        return forkpool_throw(ctx, "math.domain", "fib(%d): n must not be negative", n);

    unsigned long long a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        unsigned long long next = a + b;
        a = b;
        b = next;
    }
    char text[80];
    int m = snprintf(text, sizeof text, "fib(%d) = %llu, computed by pid %ld",
                     n, a, (long)getpid());
    /* The result is a byte string, not a C string: no terminating NUL needed. */
    return forkpool_return(ctx, text, (size_t)m);
}

/* Runs in the parent, in the thread that calls forkpool_await. */
static void on_result(forkpool_task *t, const void *result, size_t len, void *ud)
{
    (void)t;
    (void)ud;
    printf("then:  %.*s\n", (int)len, (const char *)result);
}

/* Any failure: a throw, a crash, an exit(), a timeout without a timeout handler. */
static void on_error(forkpool_task *t, const forkpool_error *err, void *ud)
{
    (void)ud;
    printf("catch: task in pid %ld failed: %s (%s): %s\n", (long)forkpool_task_pid(t),
           forkpool_error_kind_name(err->kind), err->type, err->message);
}

int main(void)
{
    /* NULL options: concurrency = online CPUs, a fresh child per task, no timeout. */
    forkpool *pool = forkpool_create(NULL);
    if (pool == NULL) {
        perror("forkpool_create");
        return 1;
    }

    static const int inputs[] = {10, 20, -1, 50, 90};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        /* The argument bytes are copied now; the task starts as soon as a slot is free. */
        forkpool_task *t = forkpool_run(pool, fib_task, &inputs[i], sizeof inputs[i]);
        if (t == NULL) {
            perror("forkpool_run");
            forkpool_destroy(pool);
            return 1;
        }
        /* Handler calls return the task (NULL on ENOMEM), so they chain. */
        if (forkpool_catch(forkpool_then(t, on_result, NULL), on_error, NULL) == NULL)
            perror("adding handlers"); /* the task runs anyway; await counts it if it fails */
        /* We keep no handle: the task is freed once it finished and its handlers ran. */
        forkpool_task_release(t);
    }

    /* Runs the handlers as tasks finish; returns how many failures no handler took. */
    int unhandled = forkpool_await(pool);
    if (unhandled < 0)
        perror("forkpool_await");
    forkpool_destroy(pool);
    return unhandled == 0 ? 0 : 1;
}
