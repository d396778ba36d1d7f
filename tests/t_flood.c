/* A task floods stdout while the parent is busy (it does not call into the
   pool for a second after starting it): nothing is lost or reordered, and
   the parent never holds more than max_output of it.

   - a function task writes N bytes to the stdout it inherited;
   - an exec'd program does the same (stdout inherited, not captured);
   - an exec'd program with FORKPOOL_CAPTURE_STDOUT writes N bytes under a
     max_output of at most 16 MiB: it fails with FORKPOOL_ERR_OUTPUT at the
     limit, is killed, and what was captured is the stream's exact prefix.

   The inherited stdout is a pipe to a counting process (a `wc -c` that
   also checks every byte). N is FORKPOOL_FLOOD_BYTES, 64 MiB by default;
   `make stress` runs it with 4 GiB. The CLI's pass-through of a job's
   output is tests/cli/14-flood.t. */
#include <inttypes.h>
#include <sys/resource.h>

#include "forkpool.h"
#include "tap.h"

#define PERIOD 251                  /* the stream: byte i is i % PERIOD */
#define CHUNK ((size_t)1 << 20)     /* bytes per write                  */
#define CAPTURE_MAX ((uint64_t)16 << 20)

static char self_path[4096]; /* this program, run as the flooding program */
static unsigned char pattern[CHUNK + PERIOD];

static void pattern_init(void)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (unsigned char)(i % PERIOD);
}

/* Writes bytes [0, n) of the stream to fd 1. 0, or -1 and errno. */
static int write_stream(uint64_t n)
{
    uint64_t done = 0;
    while (done < n) {
        size_t k = n - done < CHUNK ? (size_t)(n - done) : CHUNK;
        ssize_t w = write(STDOUT_FILENO, pattern + done % PERIOD, k);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (uint64_t)w;
    }
    return 0;
}

/* Whether buf[0..n) is the stream from offset off on. */
static int is_stream(const unsigned char *buf, size_t n, uint64_t off)
{
    for (size_t i = 0; i < n;) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        if (memcmp(buf + i, pattern + (off + i) % PERIOD, k) != 0)
            return 0;
        i += k;
    }
    return 1;
}

static int task_flood(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    uint64_t n;
    memcpy(&n, arg, sizeof n);
    if (write_stream(n) == -1)
        return forkpool_throw(ctx, "write", "write(1): %s", strerror(errno));
    return forkpool_return(ctx, &n, sizeof n);
}

/* ------------------------------------------------- the counting process */

struct counter {
    pid_t pid;
    int result;   /* read end: the count and the number of wrong bytes */
    int saved;    /* the test's own stdout, put back by counter_end      */
};

struct count {
    uint64_t bytes, bad_chunks;
};

/* Points fd 1 at a pipe that a new process reads to EOF, counting. */
static struct counter counter_start(void)
{
    int data[2], res[2];
    struct counter c;
    fflush(stdout);
    if (pipe2(data, O_CLOEXEC) == -1 || pipe2(res, O_CLOEXEC) == -1)
        bail_out("pipe2 failed");
    (void)fcntl(data[0], F_SETPIPE_SZ, (int)CHUNK); /* fewer turns; optional */
    c.pid = fork();
    if (c.pid == -1)
        bail_out("fork failed");
    if (c.pid == 0) {
        close(data[1]);
        close(res[0]);
        static unsigned char buf[CHUNK];
        struct count n = {0, 0};
        ssize_t r;
        while ((r = read(data[0], buf, sizeof buf)) != 0) {
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                _exit(1);
            n.bad_chunks += !is_stream(buf, (size_t)r, n.bytes);
            n.bytes += (uint64_t)r;
        }
        _exit(write(res[1], &n, sizeof n) == (ssize_t)sizeof n ? 0 : 1);
    }
    close(data[0]);
    close(res[1]);
    c.result = res[0];
    c.saved = dup(STDOUT_FILENO);
    if (c.saved < 0 || dup2(data[1], STDOUT_FILENO) == -1)
        bail_out("dup/dup2 failed");
    close(data[1]);
    return c;
}

/* Puts the test's stdout back (our copy of the pipe goes, so the counter
   sees EOF once every writer is gone) and collects the count. */
static struct count counter_end(struct counter *c)
{
    struct count n = {UINT64_MAX, UINT64_MAX};
    dup2(c->saved, STDOUT_FILENO);
    close(c->saved);
    if (read(c->result, &n, sizeof n) != (ssize_t)sizeof n)
        n.bytes = UINT64_MAX;
    close(c->result);
    while (waitpid(c->pid, NULL, 0) == -1 && errno == EINTR) {
    }
    return n;
}

/* ------------------------------------------------------------- the cases */

/* The parent is busy: it does not call into the pool for a second. The
   flooding child must neither lose output nor fail meanwhile. */
static void parent_busy(void)
{
    tap_sleep_ms(1000);
}

static const char *err_text(forkpool_task *t)
{
    const forkpool_error *e = forkpool_task_error(t);
    return e ? e->message : "none";
}

static void case_function(uint64_t n, const char *size)
{
    struct counter c = counter_start();
    /* After the redirect: a WORKERS pool's worker keeps the stdout it was
       forked with. */
    forkpool *p = forkpool_create(NULL);
    if (!p)
        bail_out("forkpool_create failed");
    forkpool_task *t = forkpool_run(p, task_flood, &n, sizeof n);
    parent_busy();
    int rc = forkpool_wait(t);
    size_t len = 0;
    const void *r = forkpool_task_result(t, &len);
    uint64_t wrote = 0;
    if (r && len == sizeof wrote)
        memcpy(&wrote, r, sizeof wrote);
    char why[256];
    snprintf(why, sizeof why, "%s", err_text(t));
    forkpool_task_release(t);
    forkpool_destroy(p);
    struct count got = counter_end(&c);
    is(rc, 0, "function task wrote %s to stdout: it succeeded (error: %s)", size, why);
    is(wrote, n, "function task: its result arrived too");
    is(got.bytes, n, "function task: every byte reached stdout");
    is(got.bad_chunks, 0, "function task: in order, unchanged");
}

static void case_exec_inherit(uint64_t n, const char *size)
{
    char arg[32];
    snprintf(arg, sizeof arg, "%" PRIu64, n);
    const char *argv[] = {self_path, "--write", arg, NULL};
    struct counter c = counter_start();
    forkpool *p = forkpool_create(NULL);
    if (!p)
        bail_out("forkpool_create failed");
    forkpool_task *t = forkpool_exec(p, argv, NULL);
    parent_busy();
    int rc = forkpool_wait(t);
    char why[256];
    snprintf(why, sizeof why, "%s", err_text(t));
    forkpool_task_release(t);
    forkpool_destroy(p);
    struct count got = counter_end(&c);
    is(rc, 0, "program wrote %s to its inherited stdout: it succeeded (error: %s)", size, why);
    is(got.bytes, n, "program: every byte reached stdout");
    is(got.bad_chunks, 0, "program: in order, unchanged");
}

static void case_exec_capture(uint64_t n, const char *size)
{
    uint64_t max = n / 2 < CAPTURE_MAX ? n / 2 : CAPTURE_MAX;
    char arg[32];
    snprintf(arg, sizeof arg, "%" PRIu64, n);
    const char *argv[] = {self_path, "--write", arg, NULL};
    forkpool_options o = {0};
    o.max_output = (size_t)max;
    forkpool *p = forkpool_create(&o);
    if (!p)
        bail_out("forkpool_create failed");
    forkpool_exec_options xo = {0};
    xo.capture = FORKPOOL_CAPTURE_STDOUT;
    forkpool_task *t = forkpool_exec(p, argv, &xo);
    parent_busy();
    int rc = forkpool_wait(t);
    const forkpool_error *e = forkpool_task_error(t);
    size_t len = 0;
    const unsigned char *out = forkpool_task_stdout(t, &len);
    is(rc, 1, "program wrote %s to captured stdout, max_output %" PRIu64 " MiB: it failed",
       size, max >> 20);
    ok(e && e->kind == FORKPOOL_ERR_OUTPUT && strstr(e->message, "max_output"),
       "captured: OUTPUT, message '%s'", err_text(t));
    ok(out && len <= max && len + CHUNK > max,
       "captured: %zu bytes kept, no more than max_output (%" PRIu64 ")", len, max);
    ok(out && is_stream(out, len, 0), "captured: the stream's exact prefix");
    forkpool_task_release(t);
    forkpool_destroy(p);
}

int main(int argc, char **argv)
{
    pattern_init();
    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        return write_stream(strtoull(argv[2], NULL, 10)) == 0 ? 0 : 1;
    if (!realpath(argv[0], self_path))
        bail_out("realpath(argv[0]) failed");
    const char *env = getenv("FORKPOOL_FLOOD_BYTES");
    uint64_t n = env && *env ? strtoull(env, NULL, 10) : (uint64_t)64 << 20;
    if (n < 2 * CHUNK)
        bail_out("FORKPOOL_FLOOD_BYTES must be at least 2 MiB");
    char size[32];
    if (n % (1 << 30) == 0)
        snprintf(size, sizeof size, "%" PRIu64 " GiB", n >> 30);
    else
        snprintf(size, sizeof size, "%" PRIu64 " MiB", n >> 20);
    /* A pipe moves a few GB/s; a loaded machine, or valgrind, far less. */
    tap_watchdog(120 + (unsigned)(n >> 24));
    int fds = tap_fd_count();

    case_function(n, size);
    case_exec_inherit(n, size);
    case_exec_capture(n, size);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    diag("parent peak RSS %ld MiB while %s went through", ru.ru_maxrss >> 10, size);
    ok(tap_no_children(), "no child, no zombie");
    is(tap_fd_count(), fds, "no fd leaked");
    return done_testing();
}
