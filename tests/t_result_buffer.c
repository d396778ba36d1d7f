/* forkpool_result_buffer: a result built in place arrives byte-exact, 0 bytes
   to 256 MiB, as a mapping of the child's memfd (no copy) when large; a
   second call replaces the buffer; EALREADY, EMSGSIZE and EINVAL as
   documented; a task that throws, returns non-zero or crashes after filling
   it fails with nothing kept; a hostile child's RESULT_FD frame (bad fd, not
   a sealed memfd, wrong size, gone before it was taken, over max_output)
   fails only that task. Afterwards the parent has its fds back and no
   result mapping. Also with the FORKPOOL_NO_PIDFD fallback (/proc), for a
   task that made itself non-dumpable (the copy path), and INLINE. In the
   WORKERS variant results cross as bytes (workers cannot hold a memfd yet)
   and a worker's RESULT_FD frame is refused. */
#include <stdint.h>
#include <sys/prctl.h>

#include "forkpool.h"
#include "tap.h"


/* What a task saw, for the parent to check. */
struct seen {
    void *p[4];
    int err[4];
};
static struct seen *sh;

/* The big size: 256 MiB, 4 MiB under valgrind (still a memfd); the other
   cases need only a memfd. */
static size_t big_size(void)
{
    return tap_scale() > 1 ? (size_t)4 << 20 : (size_t)256 << 20;
}

static size_t mid_size(void)
{
    return (size_t)4 << 20;
}

/* Word i of a pattern buffer holds i * 0x9E3779B97F4A7C15 + seed (a map
   item's result need not be aligned: words go through memcpy). */
static void fill(void *p, size_t len, uint64_t seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < len / 8; i++) {
        uint64_t w = i * 0x9E3779B97F4A7C15u + seed;
        memcpy(b + i * 8, &w, 8);
    }
    for (size_t i = len / 8 * 8; i < len; i++)
        b[i] = (unsigned char)(i + seed);
}

static int check(const void *p, size_t len, uint64_t seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len / 8; i++) {
        uint64_t w;
        memcpy(&w, b + i * 8, 8);
        if (w != i * 0x9E3779B97F4A7C15u + seed)
            return 0;
    }
    for (size_t i = len / 8 * 8; i < len; i++)
        if (((const unsigned char *)p)[i] != (unsigned char)(i + seed))
            return 0;
    return 1;
}

/* arg: {size_t len, uint64_t seed}: one buffer of len bytes, filled. */
/* No padding: WORKERS sends argument bytes through a socket, and memcheck
   calls uninitialised padding sent to a system call an error. */
struct fill_arg {
    size_t len;
    uint64_t seed;
    int64_t then; /* THEN_*: what to do after filling */
};
enum { THEN_RETURN, THEN_THROW, THEN_NONZERO, THEN_CRASH, THEN_UNDUMPABLE };

static int task_fill(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    struct fill_arg a;
    memcpy(&a, arg, sizeof a);
    if (a.then == THEN_UNDUMPABLE)
        prctl(PR_SET_DUMPABLE, 0);
    void *p = forkpool_result_buffer(ctx, a.len);
    if (!p)
        return forkpool_throw(ctx, "buffer", "forkpool_result_buffer: %s", strerror(errno));
    fill(p, a.len, a.seed);
    switch (a.then) {
    case THEN_THROW:
        return forkpool_throw(ctx, "after", "thrown after filling");
    case THEN_NONZERO:
        return 7;
    case THEN_CRASH:
        raise(SIGSEGV);
        return 0;
    default:
        return 0;
    }
}

/* 1 MiB of 'a', then 300 KiB of 'b', then 100 bytes of 'c', then the big
   size of the pattern: only the last counts. */
static int task_twice(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    size_t big = *(const size_t *)arg;
    void *a = forkpool_result_buffer(ctx, (size_t)1 << 20);
    if (!a)
        return 1;
    memset(a, 'a', (size_t)1 << 20);
    void *b = forkpool_result_buffer(ctx, (size_t)300 << 10);
    if (!b)
        return 2;
    memset(b, 'b', (size_t)300 << 10);
    void *c = forkpool_result_buffer(ctx, 100);
    if (!c)
        return 3;
    memset(c, 'c', 100);
    void *d = forkpool_result_buffer(ctx, big);
    if (!d)
        return 4;
    fill(d, big, 5);
    return 0;
}

enum { ORDER_RETURN_FIRST, ORDER_THROW_FIRST, ORDER_BUFFER_FIRST, ORDER_LIMIT };

/* Records in sh what each call gave; the task's result says the rest. */
static int task_orders(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    int order = *(const int *)arg;
    errno = 0;
    switch (order) {
    case ORDER_RETURN_FIRST:
        forkpool_return(ctx, "r", 1);
        sh->p[0] = forkpool_result_buffer(ctx, 10);
        sh->err[0] = errno;
        return 0;
    case ORDER_THROW_FIRST:
        forkpool_throw(ctx, "first", "threw first");
        sh->p[0] = forkpool_result_buffer(ctx, 10);
        sh->err[0] = errno;
        return 0;
    case ORDER_BUFFER_FIRST: {
        char *p = forkpool_result_buffer(ctx, 3);
        memcpy(p, "buf", 3);
        sh->err[0] = forkpool_return(ctx, "r", 1) == -1 ? errno : 0;
        return 0;
    }
    default: { /* max_output 1000 */
        sh->p[0] = forkpool_result_buffer(ctx, 1001);
        sh->err[0] = errno;
        char *ok_ = forkpool_result_buffer(ctx, 1000);
        if (ok_)
            memset(ok_, 'm', 1000);
        sh->p[1] = forkpool_result_buffer(ctx, (size_t)1 << 30);
        sh->err[1] = errno;
        errno = 0;
        sh->p[2] = forkpool_result_buffer(NULL, 10);
        sh->err[2] = errno;
        return ok_ ? 0 : 1;
    }
    }
}

/* ---- hostile children: raw RESULT_FD frames ---- */


static void frame_result_fd(int chan, uint32_t fd, uint64_t len)
{
    unsigned char f[16 + 12];
    uint32_t magic = 0x314b5046u, type = 6; /* RESULT_FD */
    uint64_t plen = 12;
    memcpy(f, &magic, 4);
    memcpy(f + 4, &type, 4);
    memcpy(f + 8, &plen, 8);
    memcpy(f + 16, &fd, 4);
    memcpy(f + 20, &len, 8);
    tap_put(chan, f, sizeof f);
}

static void frame_end(int chan)
{
    unsigned char f[16 + 4];
    uint32_t magic = 0x314b5046u, type = 4;
    uint64_t plen = 4;
    int32_t rc = 0;
    memcpy(f, &magic, 4);
    memcpy(f + 4, &type, 4);
    memcpy(f + 8, &plen, 8);
    memcpy(f + 16, &rc, 4);
    tap_put(chan, f, sizeof f);
}

static int memfd_of(size_t len, int seal)
{
    int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
        _exit(92);
    if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0)
        _exit(93);
    return fd;
}

enum { H_BOGUS_FD, H_PIPE, H_UNSEALED, H_WRONG_SIZE, H_OVER_LIMIT, H_GONE, H_VALID, NHOSTILE };

static int task_hostile(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)len;
    int mode = *(const int *)arg, chan = tap_channel_fd();
    if (chan < 0)
        _exit(91);
    switch (mode) {
    case H_BOGUS_FD:
        frame_result_fd(chan, 999, 4096);
        break;
    case H_PIPE:
        frame_result_fd(chan, (uint32_t)chan, 4096);
        break;
    case H_UNSEALED:
        frame_result_fd(chan, (uint32_t)memfd_of(4096, 0), 4096);
        break;
    case H_WRONG_SIZE:
        frame_result_fd(chan, (uint32_t)memfd_of(4096, 1), 8192);
        break;
    case H_OVER_LIMIT: /* max_output is 1 MiB */
        frame_result_fd(chan, (uint32_t)memfd_of(4096, 1), (uint64_t)2 << 20);
        break;
    case H_GONE: /* does not wait to be ended */
        frame_result_fd(chan, (uint32_t)memfd_of(4096, 1), 4096);
        frame_end(chan);
        _exit(0);
    case H_VALID: { /* does it all by hand, and waits */
        int fd = memfd_of(4096, 1);
        if (pwrite(fd, "by hand", 7, 0) != 7)
            _exit(94);
        frame_result_fd(chan, (uint32_t)fd, 4096);
        frame_end(chan);
        break;
    }
    }
    tap_pause_forever();
}

/* ---- checks ---- */


static forkpool_task *run_wait(forkpool *p, forkpool_fn fn, const void *arg, size_t len,
                               int *rc)
{
    forkpool_task *t = forkpool_run(p, fn, arg, len);
    forkpool_set_timeout(t, 20000L * tap_scale());
    *rc = forkpool_wait(t);
    return t;
}

static void expect_fail(forkpool_task *t, int rc, forkpool_error_kind kind, const char *words,
                        const char *what)
{
    const forkpool_error *e = forkpool_task_error(t);
    is(rc, 1, "%s: fails", what);
    ok(e && e->kind == kind, "%s: kind %s (got %s)", what, forkpool_error_kind_name(kind),
       e ? forkpool_error_kind_name(e->kind) : "none");
    ok(e && strstr(e->message, words), "%s: message '%s'", what, e ? e->message : "");
    size_t n = 1;
    ok(forkpool_task_result(t, &n) == NULL && n == 0, "%s: no result kept", what);
}

struct then_rec {
    int calls, exact;
    uint64_t seed;
};

static void on_then(forkpool_task *t, const void *r, size_t n, void *ud)
{
    struct then_rec *rec = ud;
    size_t tn = 0;
    rec->calls++;
    rec->exact = r != NULL && forkpool_task_result(t, &tn) == r && tn == n &&
                 check(r, n, rec->seed);
}

static void case_sizes(forkpool *p, const char *mode, int inline_mode)
{
    const size_t sizes[] = {0, 1, 100, (size_t)256 << 10, (size_t)1 << 20, big_size()};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct fill_arg a = {sizes[i], 40 + i, THEN_RETURN};
        struct then_rec rec = {0, 0, a.seed};
        forkpool_task *t = forkpool_then(forkpool_run(p, task_fill, &a, sizeof a), on_then, &rec);
        int rc = forkpool_wait(t);
        size_t n = 0;
        forkpool_task_result(t, &n);
        const forkpool_error *e = forkpool_task_error(t);
        is(rc, 0, "%s: %zu-byte buffer: succeeded (%s)", mode, sizes[i], e ? e->message : "ok");
        ok(rec.calls == 1 && rec.exact && n == sizes[i],
           "%s: then got all %zu bytes, byte-exact", mode, sizes[i]);
        /* WORKERS: bytes, until workers hold memfds (src/result.h). */
        int mapped = !inline_mode && !tap_workers();
        if (sizes[i] == big_size())
            is(tap_result_mappings(), mapped, "%s: the big result is %s", mode,
               mapped ? "a mapping of the child's memfd" : "plain memory");
        forkpool_task_release(t);
    }
    is(tap_result_mappings(), 0, "%s: released: no result mapping left", mode);
}

static void case_twice(forkpool *p, const char *mode)
{
    size_t big = mid_size();
    int rc;
    forkpool_task *t = run_wait(p, task_twice, &big, sizeof big, &rc);
    size_t n = 0;
    const void *r = forkpool_task_result(t, &n);
    is(rc, 0, "%s: four buffers in turn: succeeded", mode);
    ok(r && n == big && check(r, n, 5), "%s: the result is the last buffer", mode);
    forkpool_task_release(t);
}

static void case_fails(forkpool *p, const char *mode)
{
    static const struct {
        int then;
        forkpool_error_kind kind;
        const char *words, *what;
    } c[] = {
        {THEN_THROW, FORKPOOL_ERR_THROWN, "thrown after filling", "throw after filling"},
        {THEN_NONZERO, FORKPOOL_ERR_THROWN, "returned 7", "return 7 after filling"},
        {THEN_CRASH, FORKPOOL_ERR_SIGNALED, "signal", "SIGSEGV after filling"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        struct fill_arg a = {mid_size(), 9, c[i].then};
        char what[96];
        snprintf(what, sizeof what, "%s: %s", mode, c[i].what);
        int rc;
        forkpool_task *t = run_wait(p, task_fill, &a, sizeof a, &rc);
        expect_fail(t, rc, c[i].kind, c[i].words, what);
        forkpool_task_release(t);
    }
}

static void case_orders(const char *mode, int inline_mode)
{
    forkpool_options o = {0};
    o.max_output = 1000;
    o.mode = inline_mode ? FORKPOOL_INLINE : FORKPOOL_FRESH;
    forkpool *p = forkpool_create(&o);
    int rc;
    for (int order = 0; order <= ORDER_LIMIT; order++) {
        memset(sh, 0, sizeof *sh);
        forkpool_task *t = run_wait(p, task_orders, &order, sizeof order, &rc);
        size_t n = 0;
        const char *r = forkpool_task_result(t, &n);
        switch (order) {
        case ORDER_RETURN_FIRST:
            ok(sh->p[0] == NULL && sh->err[0] == EALREADY,
               "%s: after forkpool_return: NULL, EALREADY", mode);
            ok(rc == 0 && n == 1 && r && r[0] == 'r', "%s: the returned result stands", mode);
            break;
        case ORDER_THROW_FIRST:
            ok(sh->p[0] == NULL && sh->err[0] == EALREADY,
               "%s: after forkpool_throw: NULL, EALREADY", mode);
            is(rc, 1, "%s: the task failed as thrown", mode);
            break;
        case ORDER_BUFFER_FIRST:
            is(sh->err[0], EALREADY, "%s: forkpool_return after it: EALREADY", mode);
            ok(rc == 0 && n == 3 && r && memcmp(r, "buf", 3) == 0,
               "%s: the buffer is the result", mode);
            break;
        default:
            ok(sh->p[0] == NULL && sh->err[0] == EMSGSIZE,
               "%s: over max_output: NULL, EMSGSIZE", mode);
            ok(sh->p[1] == NULL && sh->err[1] == EMSGSIZE,
               "%s: far over max_output: NULL, EMSGSIZE, the earlier buffer kept", mode);
            ok(sh->p[2] == NULL && sh->err[2] == EINVAL, "%s: NULL ctx: EINVAL", mode);
            ok(rc == 0 && n == 1000 && r && r[0] == 'm' && r[999] == 'm',
               "%s: exactly max_output is fine, and is the result", mode);
            break;
        }
        forkpool_task_release(t);
    }
    forkpool_destroy(p);
}

static void case_hostile(forkpool *p, const char *mode)
{
    static const struct {
        forkpool_error_kind kind;
        const char *words;
    } want[NHOSTILE] = {
        [H_BOGUS_FD] = {FORKPOOL_ERR_PROTOCOL, "result's fd 999"},
        [H_PIPE] = {FORKPOOL_ERR_PROTOCOL, "not a memfd sealed"},
        [H_UNSEALED] = {FORKPOOL_ERR_PROTOCOL, "not a memfd sealed"},
        [H_WRONG_SIZE] = {FORKPOOL_ERR_PROTOCOL, "holds 4096 bytes, not 8192"},
        [H_OVER_LIMIT] = {FORKPOOL_ERR_OUTPUT, "over max_output"},
        [H_GONE] = {FORKPOOL_ERR_PROTOCOL, "ended before the parent took"},
    };
    for (int m = 0; m < NHOSTILE; m++) {
        const char *words = want[m].words;
        forkpool_error_kind kind = want[m].kind;
        if (tap_workers() && m != H_OVER_LIMIT) {
            words = "a worker sent a result fd";
            kind = FORKPOOL_ERR_PROTOCOL;
        }
        char what[64];
        snprintf(what, sizeof what, "%s: hostile %d", mode, m);
        forkpool_task *t = forkpool_run(p, task_hostile, &m, sizeof m);
        forkpool_set_timeout(t, 20000L * tap_scale());
        /* The parent reads nothing until wait: let this one be gone first. */
        if (m == H_GONE)
            ok(TAP_WAIT_UNTIL(tap_pid_dead(forkpool_task_pid(t)), 10000),
               "%s: the child exited before the parent looked", what);
        int rc = forkpool_wait(t);
        if (m == H_VALID && !tap_workers()) {
            size_t n = 0;
            const char *r = forkpool_task_result(t, &n);
            ok(rc == 0 && n == 4096 && r && memcmp(r, "by hand\0", 8) == 0,
               "%s: a hand-made sealed memfd that waits is a result", what);
        } else {
            expect_fail(t, rc, kind, words, what);
        }
        ok(tap_pid_dead(forkpool_task_pid(t)), "%s: the child is gone", what);
        forkpool_task_release(t);
    }
}

static void run_fresh(int fallback)
{
    const char *mode = fallback ? "fallback" : "pidfd";
    if (fallback)
        setenv("FORKPOOL_NO_PIDFD", "1", 1);
    else
        unsetenv("FORKPOOL_NO_PIDFD");
    int fds = tap_fd_count();
    forkpool_options o = {0};
    o.concurrency = 2;
    o.max_output = (size_t)1 << 30;
    forkpool *p = forkpool_create(&o);
    if (!p)
        bail_out("forkpool_create failed");
    case_sizes(p, mode, 0);
    case_twice(p, mode);
    case_fails(p, mode);
    forkpool_destroy(p);

    o.max_output = (size_t)1 << 20;
    p = forkpool_create(&o);
    case_hostile(p, mode);
    forkpool_destroy(p);

    case_orders(mode, 0);
    is(tap_fd_count(), fds, "%s: the parent's fd count is back to where it was", mode);
    is(tap_result_mappings(), 0, "%s: no result mapping left", mode);
    ok(tap_no_children(), "%s: no child left", mode);
}

/* A host that made itself non-dumpable: the parent could not take a memfd,
   so results cross by copy, still whole. */
static void run_undumpable(void)
{
    forkpool *p = forkpool_create(NULL);
    struct fill_arg a = {(size_t)4 << 20, 77, THEN_UNDUMPABLE};
    int rc;
    forkpool_task *t = run_wait(p, task_fill, &a, sizeof a, &rc);
    size_t n = 0;
    const void *r = forkpool_task_result(t, &n);
    is(rc, 0, "non-dumpable task: 4 MiB buffer: succeeded");
    ok(r && n == a.len && check(r, n, a.seed), "non-dumpable task: byte-exact (copied)");
    is(tap_result_mappings(), 0, "non-dumpable task: not a mapping");
    /* A worker stays non-dumpable: this pool ends here. */
    forkpool_task_release(t);
    forkpool_destroy(p);
}

#ifndef FP_ASAN
/* A result in static memory, so the child needs no new mapping. */
static unsigned char static_result[(size_t)4 << 20];

static int task_return_static(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    fill(static_result, sizeof static_result, 11);
    return forkpool_return(ctx, static_result, sizeof static_result);
}
#endif

/* The parent at its vm.max_map_count (one-page mappings that cannot merge):
   the memfd cannot be mapped, and the task fails OUTPUT saying so; with
   mappings free again, the pool goes on. Not under valgrind or ASan, which
   need mappings of their own. */
static void run_no_mappings(void)
{
#ifndef FP_ASAN
    if (tap_scale() == 1 && !tap_workers()) {
        long max = 0;
        FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
        if (f && fscanf(f, "%ld", &max) == 1 && max > 0 && max <= 1000000) {
            fclose(f);
            forkpool *p = forkpool_create(NULL);
            void **fill_maps = calloc((size_t)max, sizeof *fill_maps);
            long n = 0;
            while (n < max) {
                int prot = n % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
                void *m = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (m == MAP_FAILED)
                    break;
                fill_maps[n++] = m;
            }
            int rc;
            forkpool_task *t = run_wait(p, task_return_static, NULL, 0, &rc);
            while (n > 0)
                munmap(fill_maps[--n], 4096);
            free(fill_maps);
            expect_fail(t, rc, FORKPOOL_ERR_OUTPUT, "cannot map the task's 4194304-byte result",
                        "no mappings left");
            forkpool_task_release(t);
            t = run_wait(p, task_return_static, NULL, 0, &rc);
            size_t len = 0;
            const void *r = forkpool_task_result(t, &len);
            ok(rc == 0 && r && len == sizeof static_result && check(r, len, 11),
               "no mappings left: freed again, the same task succeeds");
            forkpool_task_release(t);
            forkpool_destroy(p);
            return;
        }
        if (f)
            fclose(f);
    }
#endif
    ok(1, "no mappings left: skipped (valgrind, ASan, WORKERS, or no vm.max_map_count)");
}

/* forkpool_map items may build their results in place too (plain memory,
   copied into the batch's records); a throw after it drops it. */
static int item_fill(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)len;
    size_t n;
    memcpy(&n, arg, sizeof n);
    void *p = forkpool_result_buffer(ctx, n == 7 ? 1 : n);
    if (!p)
        return forkpool_throw(ctx, "buffer", "forkpool_result_buffer: %s", strerror(errno));
    fill(p, n == 7 ? 1 : n, n);
    return n == 7 ? forkpool_throw(ctx, "seven", "thrown after filling") : 0;
}

struct map_rec {
    int exact, failed_seven, calls;
};

static void on_item(size_t i, const void *r, size_t n, const forkpool_error *err, void *ud)
{
    static const size_t want[] = {0, 10, (size_t)200 << 10, 7, 5000};
    struct map_rec *m = ud;
    m->calls++;
    if (want[i] == 7)
        m->failed_seven = err && strcmp(err->type, "seven") == 0 && r == NULL;
    else if (!err && n == want[i] && check(r, n, want[i]))
        m->exact++;
}

static void run_map(int inline_mode)
{
    const char *mode = inline_mode ? "inline map" : "map";
    forkpool_options o = {0};
    o.mode = inline_mode ? FORKPOOL_INLINE : FORKPOOL_FRESH;
    forkpool *p = forkpool_create(&o);
    const size_t items[] = {0, 10, (size_t)200 << 10, 7, 5000};
    struct map_rec m = {0, 0, 0};
    int failed = forkpool_map(p, item_fill, items, 5, sizeof items[0], on_item, &m);
    is(failed, 1, "%s: one item failed (it threw after filling)", mode);
    ok(m.calls == 5 && m.exact == 4, "%s: four in-place results, byte-exact", mode);
    ok(m.failed_seven, "%s: the throw after filling dropped that item's buffer", mode);
    forkpool_destroy(p);
}

static void run_inline(void)
{
    forkpool_options o = {0};
    o.mode = FORKPOOL_INLINE;
    forkpool *p = forkpool_create(&o);
    case_sizes(p, "inline", 1);
    case_twice(p, "inline");
    struct fill_arg a = {4096, 3, THEN_THROW};
    int rc;
    forkpool_task *t = run_wait(p, task_fill, &a, sizeof a, &rc);
    expect_fail(t, rc, FORKPOOL_ERR_THROWN, "thrown after filling", "inline: throw after filling");
    forkpool_task_release(t);
    a.then = THEN_NONZERO;
    t = run_wait(p, task_fill, &a, sizeof a, &rc);
    expect_fail(t, rc, FORKPOOL_ERR_THROWN, "returned 7", "inline: return 7 after filling");
    forkpool_task_release(t);
    forkpool_destroy(p);
    case_orders("inline", 1);
}

/* Writes only the first 10 of a 1000-byte buffer, after dirtying the heap
   a freed block of that size may come from. */
static int task_sparse(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    char *junk = malloc(1000);
    if (junk) {
        memset(junk, 0x5a, 1000);
        free(junk);
    }
    char *p = forkpool_result_buffer(ctx, 1000);
    if (!p)
        return 1;
    memcpy(p, "0123456789", 10);
    return 0;
}

/* Bytes the task did not write arrive as zeros, in every mode (issue #11:
   a WORKERS buffer arrived with stray bytes, and valgrind saw them sent
   uninitialised). */
static void run_sparse(int inline_mode)
{
    const char *mode = inline_mode ? "inline" : "pool";
    forkpool_options o = {.mode = inline_mode ? FORKPOOL_INLINE : FORKPOOL_FRESH};
    forkpool *p = forkpool_create(&o);
    forkpool_task *t = forkpool_run(p, task_sparse, "", 0);
    is(forkpool_wait(t), 0, "%s: sparse buffer: succeeded", mode);
    size_t len;
    const unsigned char *r = forkpool_task_result(t, &len);
    int zeros = r && len == 1000 && memcmp(r, "0123456789", 10) == 0;
    for (size_t i = 10; zeros && i < len; i++)
        zeros = r[i] == 0;
    ok(zeros, "%s: sparse buffer: its 10 bytes, then 990 zeros", mode);
    forkpool_task_release(t);
    forkpool_destroy(p);
}

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + 1); }

/* Resizes its buffer through arg's sizes (the first by resize alone, with
   no buffer yet); after each, checks the kept bytes and the zero tail, then
   fills the whole buffer with the pattern. Throws on the first surprise. */
static int task_resize(forkpool_ctx *ctx, const void *arg, size_t len)
{
    const size_t *sizes = arg;
    size_t n = len / sizeof *sizes, have = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char *p = forkpool_result_resize(ctx, sizes[k]);
        if (!p)
            return forkpool_throw(ctx, "test", "resize to %zu: errno %d", sizes[k], errno);
        for (size_t i = 0; i < sizes[k]; i++)
            if (p[i] != (i < have ? pattern(i) : 0))
                return forkpool_throw(ctx, "test", "resize %zu -> %zu: byte %zu is %u", have,
                                      sizes[k], i, p[i]);
        for (size_t i = 0; i < sizes[k]; i++)
            p[i] = pattern(i);
        have = sizes[k];
    }
    return 0;
}

/* Over max_output (4 KiB here): EMSGSIZE, and the buffer stays. After
   forkpool_return: EALREADY. */
static int task_resize_limits(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    char *p = forkpool_result_buffer(ctx, 3);
    if (!p)
        return forkpool_throw(ctx, "test", "buffer: errno %d", errno);
    memcpy(p, "abc", 3);
    errno = 0;
    if (forkpool_result_resize(ctx, 5000) != NULL || errno != EMSGSIZE)
        return forkpool_throw(ctx, "test", "over max_output: errno %d", errno);
    if (forkpool_result_resize(NULL, 1) != NULL || errno != EINVAL)
        return forkpool_throw(ctx, "test", "NULL ctx: errno %d", errno);
    return 0;
}

static int task_resize_after_return(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    if (forkpool_return(ctx, "x", 1) != 0)
        return 1;
    errno = 0;
    if (forkpool_result_resize(ctx, 10) != NULL || errno != EALREADY)
        return forkpool_throw(ctx, "test", "after return: errno %d", errno);
    return 0;
}

static void expect_pattern(forkpool *p, const size_t *sizes, size_t n, const char *what)
{
    forkpool_task *t = forkpool_run(p, task_resize, sizes, n * sizeof *sizes);
    int rc = forkpool_wait(t);
    const forkpool_error *e = forkpool_task_error(t);
    is(rc, 0, "%s: succeeded%s%s", what, e ? ": " : "", e ? e->message : "");
    size_t len;
    const unsigned char *r = forkpool_task_result(t, &len);
    int same = r && len == sizes[n - 1];
    for (size_t i = 0; same && i < len; i++)
        same = r[i] == pattern(i);
    ok(same, "%s: the last size's bytes arrived (%zu)", what, len);
    forkpool_task_release(t);
}

/* forkpool_result_resize across the heap/memfd boundary (128 KiB) both
   ways, in place and moving, and its failures (issue #11). */
static void run_resize(int inline_mode)
{
    const char *mode = inline_mode ? "inline" : "pool";
    forkpool_options o = {.mode = inline_mode ? FORKPOOL_INLINE : FORKPOOL_FRESH,
                          .max_output = 4096};
    forkpool *p = forkpool_create(&o);
    char what[64];
    const size_t small[] = {10, 1000, 5, 0, 3000};
    snprintf(what, sizeof what, "%s: resize within the heap", mode);
    expect_pattern(p, small, 5, what);
    forkpool_task *t = forkpool_run(p, task_resize_limits, "", 0);
    int rc = forkpool_wait(t);
    const forkpool_error *e = forkpool_task_error(t);
    is(rc, 0, "%s: resize limits%s%s", mode, e ? ": " : "", e ? e->message : "");
    size_t len;
    const void *r = forkpool_task_result(t, &len);
    is_mem(r, len, "abc", 3, "%s: a refused resize keeps the old buffer", mode);
    forkpool_task_release(t);
    t = forkpool_run(p, task_resize_after_return, "", 0);
    rc = forkpool_wait(t);
    e = forkpool_task_error(t);
    is(rc, 0, "%s: resize after return%s%s", mode, e ? ": " : "", e ? e->message : "");
    forkpool_task_release(t);
    forkpool_destroy(p);

    o.max_output = 0;
    p = forkpool_create(&o);
    const size_t big[] = {100, (size_t)300 << 10, (size_t)200 << 10, (size_t)1 << 20, 4000,
                          (size_t)130 << 10};
    snprintf(what, sizeof what, "%s: resize across 128 KiB both ways", mode);
    expect_pattern(p, big, 6, what);
    forkpool_destroy(p);
}

int main(void)
{
    tap_watchdog(120);
    tap_no_core_dumps();
    sh = tap_shared(sizeof *sh);
    run_fresh(0);
    run_fresh(1);
    run_undumpable();
    run_no_mappings();
    run_map(0);
    run_map(1);
    run_inline();
    run_sparse(0);
    run_sparse(1);
    run_resize(0);
    run_resize(1);
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
