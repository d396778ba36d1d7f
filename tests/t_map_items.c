/* forkpool_map_items: items of varying sizes (strings of 0 bytes to 1 MiB,
   paths of files the children read) reach fn whole, results checked against
   the parent's own computation, once each and in order; items that crash,
   time out, throw or return non-zero fail only themselves, with the right
   kind; items are read in place exactly where forkpool_map reads them so;
   bad arguments; count 0; EDEADLK; INLINE; FORKPOOL_MPI over two loopback
   agents; no fds or children left. */
#include <sys/stat.h>

#include "forkpool.h"
#include "loopback.h"
#include "tap.h"

/*
 * What an item does is in its bytes, so that children forked from a fork
 * server, a worker or a serving agent behave alike: "!segv", "!exit",
 * "!hang", "!throw" and "!code" do what they say; "@path" returns the
 * FNV-1a hash of the file's bytes (8 bytes); "&" returns the address fn saw
 * (pointer-sized); anything else returns its bytes reversed (from 4 KiB in
 * a forkpool_result_buffer). A NULL argument throws "test.null".
 */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211u;
    return h;
}
#define FNV_BASIS 14695981039346656037u

static int is_cmd(const void *arg, size_t len, const char *cmd)
{
    return len == strlen(cmd) && memcmp(arg, cmd, len) == 0;
}

/* The file's hash, read with stdio (the parent reads it with read(2)). */
static int hash_file(forkpool_ctx *ctx, const char *path, size_t len)
{
    char name[512];
    if (len >= sizeof name)
        return forkpool_throw(ctx, "test", "path of %zu bytes", len);
    memcpy(name, path, len);
    name[len] = '\0';
    FILE *f = fopen(name, "rb");
    if (!f)
        return forkpool_throw(ctx, "test.open", "%s: %s", name, strerror(errno));
    uint64_t h = FNV_BASIS;
    char buf[1000];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        h = fnv1a(h, buf, n);
    fclose(f);
    return forkpool_return(ctx, &h, sizeof h);
}

static int item_fn(forkpool_ctx *ctx, const void *arg, size_t len)
{
    const unsigned char *s = arg;
    if (!arg)
        return forkpool_throw(ctx, "test.null", "NULL argument for %zu bytes", len);
    if (is_cmd(arg, len, "!segv")) {
        signal(SIGSEGV, SIG_DFL); /* sanitizer runtimes install their own */
        raise(SIGSEGV);
    }
    if (is_cmd(arg, len, "!exit"))
        exit(5);
    if (is_cmd(arg, len, "!hang"))
        tap_pause_forever();
    if (is_cmd(arg, len, "!throw"))
        return forkpool_throw(ctx, "item.bad", "bad item of %zu bytes", len);
    if (is_cmd(arg, len, "!code"))
        return 42;
    if (is_cmd(arg, len, "&"))
        return forkpool_return(ctx, &arg, sizeof arg);
    if (len > 0 && s[0] == '@')
        return hash_file(ctx, (const char *)s + 1, len - 1);
    if (len < 4096) {
        unsigned char r[4096];
        for (size_t i = 0; i < len; i++)
            r[i] = s[len - 1 - i];
        return forkpool_return(ctx, r, len);
    }
    unsigned char *r = forkpool_result_buffer(ctx, len);
    if (!r)
        return forkpool_throw(ctx, "test", "no result buffer of %zu bytes", len);
    for (size_t i = 0; i < len; i++)
        r[i] = s[len - 1 - i];
    return 0;
}

/* ---- what on_result saw, against what each item should give ---- */

struct want {
    int kind;           /* 0: succeeds                                     */
    int code;
    const char *type;
    uint64_t hash;      /* "@path" items: the file's hash                  */
};

struct got {
    const forkpool_item *items;
    const struct want *want;
    forkpool *pool;
    size_t calls, next, out_of_order, wrong, addr_same, addr_items;
    int nested_rc, nested_errno;
    char first_wrong[256];
};

static forkpool *pool;

static void note_wrong(struct got *g, size_t i, const char *why)
{
    if (!g->wrong++)
        snprintf(g->first_wrong, sizeof g->first_wrong, "item %zu: %s", i, why);
}

/* 1 if result/len is what item it returns on success. */
static int result_ok(const forkpool_item *it, const struct want *w, const void *result,
                     size_t len)
{
    const unsigned char *s = it->data, *r = result;
    if (is_cmd(s, it->len, "&"))
        return len == sizeof(void *);
    if (it->len > 0 && s[0] == '@')
        return len == 8 && memcmp(result, &w->hash, 8) == 0;
    if (len != it->len || !result)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (r[i] != s[len - 1 - i])
            return 0;
    return 1;
}

static void on_result(size_t index, const void *result, size_t len, const forkpool_error *err,
                      void *ud)
{
    struct got *g = ud;
    char why[200];
    g->calls++;
    if (index != g->next)
        g->out_of_order++;
    g->next = index + 1;
    const forkpool_item *it = &g->items[index];
    const struct want *w = &g->want[index];
    if (err) {
        if (!w->kind || (int)err->kind != w->kind || err->code != w->code ||
            strcmp(err->type, w->type) != 0 || !err->message[0] || result || len) {
            snprintf(why, sizeof why, "failed %s/%d/%s: %s", forkpool_error_kind_name(err->kind),
                     err->code, err->type, err->message);
            note_wrong(g, index, why);
        }
    } else if (w->kind) {
        note_wrong(g, index, "succeeded, should have failed");
    } else if (!result_ok(it, w, result, len)) {
        snprintf(why, sizeof why, "wrong result of %zu bytes", len);
        note_wrong(g, index, why);
    } else if (is_cmd(it->data, it->len, "&")) {
        const void *seen;
        memcpy(&seen, result, sizeof seen);
        g->addr_items++;
        g->addr_same += seen == it->data;
    }
    if (index == 0) {
        errno = 0;
        g->nested_rc = forkpool_map_items(g->pool, item_fn, g->items, 1, on_result, g);
        g->nested_errno = errno;
    }
}

/* Maps items[0..n) and checks every promise: once each, in order, each
   success's bytes and each failure's kind right. Returns the map's value. */
static int run_map(const char *name, const forkpool_item *items, const struct want *want,
                   size_t n, struct got *g)
{
    memset(g, 0, sizeof *g);
    g->items = items;
    g->want = want;
    g->pool = pool;
    errno = 0;
    int rc = forkpool_map_items(pool, item_fn, items, n, on_result, g);
    int err = errno;
    size_t failing = 0;
    for (size_t i = 0; i < n; i++)
        failing += want[i].kind != 0;
    is(rc, (long long)failing, "%s: returns %zu failed items", name, failing);
    is(g->calls, n, "%s: on_result ran once per item (%zu)", name, n);
    is(g->out_of_order, 0, "%s: in input order", name);
    if (!is(g->wrong, 0, "%s: every result and error right", name))
        diag("first: %s", g->first_wrong);
    ok(g->nested_rc == -1 && g->nested_errno == EDEADLK,
       "%s: forkpool_map_items inside on_result: -1/EDEADLK", name);
    errno = err;
    return rc;
}

static forkpool *make_pool(forkpool_mode mode, unsigned conc, long timeout_ms)
{
    forkpool_options o = {0};
    o.mode = mode;
    o.concurrency = conc;
    o.timeout_ms = timeout_ms;
    forkpool *p = forkpool_create(&o);
    if (!p)
        bail_out("forkpool_create failed");
    return p;
}

/* ---- the items ---- */

/* n strings of letters, of lengths 0 to max (xorshift, fixed seed), in one
   block; items 0 to 2 have 0 bytes (item 1 NULL data), item `big` (if < n)
   1 MiB. All succeed (want zeroed) until set_cmd says otherwise. */
struct strings {
    forkpool_item *items;
    struct want *want;
    unsigned char *block, *big;
};

static struct strings make_strings(size_t n, size_t max, size_t big)
{
    struct strings s;
    uint64_t x = 88172645463325252u, total = 0;
    size_t *lens = calloc(n, sizeof *lens);
    s.items = calloc(n, sizeof *s.items);
    s.want = calloc(n, sizeof *s.want);
    if (!lens || !s.items || !s.want)
        bail_out("no memory");
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        lens[i] = i < 3 ? 0 : (size_t)(x % (max + 1));
        total += lens[i];
    }
    s.block = malloc(total + 1);
    s.big = malloc((size_t)1 << 20);
    if (!s.block || !s.big)
        bail_out("no memory");
    for (size_t i = 0; i < ((size_t)1 << 20); i++)
        s.big[i] = (unsigned char)('a' + (i * 7 + i / 251) % 26);
    unsigned char *p = s.block;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < lens[i]; j++)
            p[j] = (unsigned char)("abcdefghijklmnopqrstuvwxyz0123456789/._-"[(i + j * 5) % 40]);
        s.items[i] = (forkpool_item){p, lens[i]};
        p += lens[i];
    }
    if (n > 1)
        s.items[1].data = NULL;
    if (big < n)
        s.items[big] = (forkpool_item){s.big, (size_t)1 << 20};
    free(lens);
    return s;
}

static void free_strings(struct strings *s)
{
    free(s->items);
    free(s->want);
    free(s->block);
    free(s->big);
}

static void set_cmd(struct strings *s, size_t i, const char *cmd, int kind, int code,
                    const char *type)
{
    s->items[i] = (forkpool_item){cmd, strlen(cmd)};
    s->want[i] = (struct want){kind, code, type, 0};
}

/* ---- tests ---- */

static void test_strings(void)
{
    struct got g;
    pool = make_pool(FORKPOOL_FRESH, 2, 0);

    /* About 11 MiB: batches cut by bytes (1 MiB), then by count. */
    struct strings s = make_strings(23000, 1000, 17);
    run_map("23,000 strings of 0..1000 bytes and one of 1 MiB", s.items, s.want, 23000, &g);
    diag("in %zu runs", forkpool_get_stats(pool).succeeded);
    free_strings(&s);
    s = make_strings(23000, 30, 17);
    run_map("23,000 strings of 0..30 bytes and one of 1 MiB", s.items, s.want, 23000, &g);
    free_strings(&s);

    /* One item, of each shape. */
    s = make_strings(3, 300, 3);
    run_map("one 0-byte item with NULL data", s.items + 1, s.want, 1, &g);
    run_map("one 0-byte item", s.items + 2, s.want, 1, &g);
    free_strings(&s);
    s = make_strings(1, 300, 0);
    run_map("one 1 MiB item", s.items, s.want, 1, &g);
    free_strings(&s);

    /* In place exactly where forkpool_map reads in place: FRESH without a
       fork server (the other variants copy them). */
    s = make_strings(3000, 300, 3000);
    for (size_t i = 0; i < 3000; i += 100)
        s.items[i] = (forkpool_item){"&", 1};
    run_map("addresses", s.items, s.want, 3000, &g);
    int in_place = !tap_workers() && !tap_server();
    is(g.addr_same, in_place ? g.addr_items : 0, "%s: %zu of %zu items seen at their own address",
       in_place ? "read in place" : "copied", g.addr_same, g.addr_items);
    free_strings(&s);

    /* count 0 */
    g.calls = 0;
    is(forkpool_map_items(pool, item_fn, NULL, 0, on_result, &g), 0, "0 items, NULL: 0");
    is(g.calls, 0, "0 items: on_result not called");
    is(forkpool_await(pool), 0, "await afterwards: no unhandled failures");
    forkpool_destroy(pool);
}

/* Files of different sizes under names of different lengths, each hashed
   by a child and by this process. */
static void test_paths(void)
{
    enum { NF = 60 };
    struct got g;
    char dir[] = "/tmp/t_map_items.XXXXXX";
    if (!mkdtemp(dir))
        bail_out("mkdtemp");
    char *paths[NF];
    forkpool_item items[NF];
    struct want want[NF];
    memset(want, 0, sizeof want);
    unsigned char *buf = malloc(200000);
    if (!buf)
        bail_out("no memory");
    for (size_t i = 0; i < NF; i++) {
        size_t size = (i * i * 53) % 200000, namelen = 1 + (i * 13) % 80;
        char name[100];
        for (size_t j = 0; j < namelen; j++)
            name[j] = (char)('a' + (i + j) % 26);
        name[namelen] = '\0';
        if (asprintf(&paths[i], "@%s/%s", dir, name) < 0)
            bail_out("no memory");
        for (size_t j = 0; j < size; j++)
            buf[j] = (unsigned char)(j * 31 + i);
        int fd = open(paths[i] + 1, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, buf, size) != (ssize_t)size || close(fd) != 0)
            bail_out("cannot write a test file");
        /* The parent's hash: the file read back with read(2). */
        fd = open(paths[i] + 1, O_RDONLY | O_CLOEXEC);
        uint64_t h = FNV_BASIS;
        ssize_t n;
        while (fd >= 0 && (n = read(fd, buf, 4096)) > 0)
            h = fnv1a(h, buf, (size_t)n);
        close(fd);
        want[i].hash = h;
        items[i] = (forkpool_item){paths[i], strlen(paths[i])};
    }
    /* A path that is not there fails that item only. */
    items[NF - 1].len -= 1;
    want[NF - 1] = (struct want){FORKPOOL_ERR_THROWN, -1, "test.open", 0};
    pool = make_pool(FORKPOOL_FRESH, 2, 0);
    run_map("paths of files", items, want, NF, &g);
    forkpool_destroy(pool);
    for (size_t i = 0; i < NF; i++) {
        unlink(paths[i] + 1);
        free(paths[i]);
    }
    rmdir(dir);
    free(buf);
}

static void test_failures(void)
{
    struct got g;
    enum { N = 5000 };
    pool = make_pool(FORKPOOL_FRESH, 2, 0);
    struct strings s = make_strings(N, 300, 2500);
    set_cmd(&s, 0, "!segv", FORKPOOL_ERR_SIGNALED, SIGSEGV, "forkpool.signaled");
    set_cmd(&s, 700, "!throw", FORKPOOL_ERR_THROWN, -1, "item.bad");
    set_cmd(&s, 701, "!code", FORKPOOL_ERR_THROWN, 42, "forkpool.return");
    set_cmd(&s, 2499, "!segv", FORKPOOL_ERR_SIGNALED, SIGSEGV, "forkpool.signaled");
    set_cmd(&s, 3001, "!exit", FORKPOOL_ERR_EXITED, 5, "forkpool.exited");
    set_cmd(&s, N - 1, "!segv", FORKPOOL_ERR_SIGNALED, SIGSEGV, "forkpool.signaled");
    run_map("crashes, exit, throw and return 42 among 5,000", s.items, s.want, N, &g);
    free_strings(&s);
    is(forkpool_await(pool), 0, "await afterwards: the batches' failures are not unhandled");
    forkpool_destroy(pool);
}

static void test_timeout(void)
{
    struct got g;
    long t = 300L * tap_scale();
    pool = make_pool(FORKPOOL_FRESH, 2, t);
    struct strings s = make_strings(3000, 300, 1500);
    set_cmd(&s, 1000, "!hang", FORKPOOL_ERR_TIMEOUT, 0, "forkpool.timeout");
    set_cmd(&s, 2999, "!hang", FORKPOOL_ERR_TIMEOUT, 0, "forkpool.timeout");
    run_map("two items that hang", s.items, s.want, 3000, &g);
    free_strings(&s);
    forkpool_stats st = forkpool_get_stats(pool);
    is(st.running + st.queued, 0, "hang: nothing left running");
    forkpool_destroy(pool);
}

static void count_calls(size_t index, const void *result, size_t len, const forkpool_error *err,
                        void *ud)
{
    (void)index;
    (void)result;
    (void)len;
    (void)err;
    (*(size_t *)ud)++;
}

static void test_bad_args(void)
{
    size_t calls = 0;
    pool = make_pool(FORKPOOL_FRESH, 1, 0);
    forkpool_item one[1] = {{"x", 1}};
    forkpool_item null_data[2] = {{"x", 1}, {NULL, 1}};
    forkpool_item huge[2] = {{"x", SIZE_MAX / 2 + 1}, {"y", SIZE_MAX / 2 + 1}};
    forkpool_item too_big[1] = {{"x", SIZE_MAX}};
    struct {
        const char *what;
        forkpool *p;
        forkpool_fn fn;
        const forkpool_item *items;
        size_t count;
        forkpool_map_fn cb;
    } cases[] = {
        {"NULL pool", NULL, item_fn, one, 1, count_calls},
        {"NULL fn", pool, NULL, one, 1, count_calls},
        {"NULL on_result", pool, item_fn, one, 1, NULL},
        {"NULL items, count 1", pool, item_fn, NULL, 1, count_calls},
        {"an item with NULL data and 1 byte", pool, item_fn, null_data, 2, count_calls},
        {"total size overflows", pool, item_fn, huge, 2, count_calls},
        {"one item of SIZE_MAX bytes", pool, item_fn, too_big, 1, count_calls},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        int rc = forkpool_map_items(cases[i].p, cases[i].fn, cases[i].items, cases[i].count,
                                    cases[i].cb, &calls);
        ok(rc == -1 && errno == EINVAL, "%s: -1/EINVAL", cases[i].what);
    }
    is(calls, 0, "bad arguments: on_result never called");
    is(forkpool_map_items(pool, item_fn, NULL, 0, count_calls, &calls), 0, "count 0, NULL items: 0");
    is(forkpool_map_items(pool, item_fn, null_data, 0, count_calls, &calls), 0,
       "count 0: items not looked at");
    forkpool_stats st = forkpool_get_stats(pool);
    is(st.succeeded + st.failed + st.queued + st.running, 0, "bad arguments: no task was made");
    forkpool_destroy(pool);
}

static void test_inline(void)
{
    struct got g;
    pool = make_pool(FORKPOOL_INLINE, 0, 0);
    struct strings s = make_strings(3000, 300, 2000);
    set_cmd(&s, 5, "!throw", FORKPOOL_ERR_THROWN, -1, "item.bad");
    set_cmd(&s, 6, "!code", FORKPOOL_ERR_THROWN, 42, "forkpool.return");
    for (size_t i = 100; i < 3000; i += 100)
        s.items[i] = (forkpool_item){"&", 1};
    run_map("INLINE", s.items, s.want, 3000, &g);
    is(g.addr_same, g.addr_items, "INLINE: items read in place (%zu of %zu)", g.addr_same,
       g.addr_items);
    free_strings(&s);
    forkpool_destroy(pool);
}

/* FORKPOOL_MPI: the items cross to two loopback agents as bytes. */
static int not_registered(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    return 0;
}

static void test_mpi(void)
{
    struct got g;
    is(fp_loopback_start(2), 0, "two serving agents");
    pool = make_pool(FORKPOOL_MPI, 2, 0);
    struct strings s = make_strings(5000, 300, 4000);
    set_cmd(&s, 13, "!throw", FORKPOOL_ERR_THROWN, -1, "item.bad");
    set_cmd(&s, 2000, "!segv", FORKPOOL_ERR_SIGNALED, SIGSEGV, "forkpool.signaled");
    run_map("MPI (loopback)", s.items, s.want, 5000, &g);
    errno = 0;
    size_t calls = 0;
    ok(forkpool_map_items(pool, not_registered, s.items, 1, count_calls, &calls) == -1 &&
           errno == ENOENT && calls == 0,
       "MPI: an unregistered function: -1/ENOENT");
    free_strings(&s);
    forkpool_destroy(pool);
    is(fp_loopback_stop(), 0, "the agents ended");
}

int main(void)
{
    if (forkpool_register("t_map_items.item_fn", item_fn) != 0)
        return 1;
    tap_watchdog(120);
    tap_no_core_dumps();
    int fds = tap_fd_count();

    test_bad_args();
    test_strings();
    test_paths();
    test_failures();
    test_timeout();
    test_inline();
    test_mpi();

    is(tap_fd_count(), fds, "no fds left");
    ok(tap_no_children(), "no children left");
    return done_testing();
}
