/*
 * demo: SHA-256 of every regular file under /usr/share/doc, in parallel.
 *
 *   build/examples/demo [DIR]        (`make demo`; DIR defaults to /usr/share/doc)
 *
 * 1. Scans DIR (sorted, symlinks not followed) into a file table and reads
 *    every file once, so that both timed runs find them in the page cache.
 * 2. Fault injection: a task that dereferences NULL (caught by `catch` as
 *    FORKPOOL_ERR_SIGNALED) and a task that loops forever (killed after its
 *    300 ms limit; its `timeout` handler runs, its `catch` does not).
 * 3. Hashes every file with a pool of one child per CPU: the table is cut
 *    into batches of consecutive files, one task per batch; each task returns
 *    its files' digests as one binary result; a progress meter on stderr
 *    advances as `then` handlers run.
 * 4. Hashes every file again, sequentially, in this process.
 * Then it prints both times, the speed-up, and a combined digest from each run
 * (SHA-256 over "relative path NUL file digest" in table order), which must
 * be identical. An unreadable file is reported and enters the combined digest
 * as its errno; it does not stop the demo.
 *
 * Exit status: 0 when the digests match and both injected faults were handled
 * as described, 1 otherwise, 2 on a usage or set-up error.
 */
#include <forkpool.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-4), small and portable; no libcrypto.                  */

typedef struct {
    uint32_t h[8];
    uint64_t total;          /* bytes hashed so far */
    unsigned char block[64]; /* pending partial block */
    size_t used;             /* bytes in block */
} sha256_ctx;

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror32(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static void sha256_compress(uint32_t h[8], const unsigned char p[64])
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha256_k[i] + w[i];
        uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

static void sha256_init(sha256_ctx *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->total = 0;
    s->used = 0;
}

static void sha256_update(sha256_ctx *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->total += len;
    if (s->used > 0) {
        size_t take = 64 - s->used < len ? 64 - s->used : len;
        memcpy(s->block + s->used, p, take);
        s->used += take, p += take, len -= take;
        if (s->used < 64)
            return;
        sha256_compress(s->h, s->block);
        s->used = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        sha256_compress(s->h, p);
    memcpy(s->block, p, len);
    s->used = len;
}

static void sha256_final(sha256_ctx *s, unsigned char out[32])
{
    uint64_t bits = s->total * 8;
    static const unsigned char pad[64] = {0x80};
    sha256_update(s, pad, s->used < 56 ? 56 - s->used : 120 - s->used);
    unsigned char len_be[8];
    for (int i = 0; i < 8; i++)
        len_be[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(s, len_be, 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (unsigned char)(s->h[i] >> (24 - 8 * j));
}

/* ------------------------------------------------------------------------ */
/* The file table: every regular file under the root, in a fixed order.     */

struct file_entry {
    char *rel;     /* path relative to the root */
    uint64_t size; /* as scanned */
};

struct file_table {
    const char *root;
    struct file_entry *v;
    size_t n, cap;
    uint64_t bytes;
    size_t dirs, skipped, scan_errors; /* skipped: symlinks, devices, ... */
};

/* One file's outcome; results travel from child to parent as arrays of these
   (same program, same layout, so the bytes need no encoding). */
struct file_hash {
    int32_t err; /* 0, or the errno that stopped the read */
    unsigned char sha[32];
};

static int skip_dots(const struct dirent *d)
{
    return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* strcmp, not strcoll: the order must not depend on the locale. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int table_add(struct file_table *ft, const char *rel, uint64_t size)
{
    if (ft->n == ft->cap) {
        size_t cap = ft->cap ? ft->cap * 2 : 1024;
        struct file_entry *v = realloc(ft->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        ft->v = v, ft->cap = cap;
    }
    char *copy = strdup(rel);
    if (copy == NULL)
        return -1;
    ft->v[ft->n++] = (struct file_entry){copy, size};
    ft->bytes += size;
    return 0;
}

/* Adds the files under path (whose first root_len bytes are the root, which
   must be a directory) depth first, each directory's entries sorted by name.
   Unreadable directories are reported and skipped. -1 only on ENOMEM or when
   the root itself cannot be listed. */
static int scan_dir(struct file_table *ft, char path[PATH_MAX], size_t len, size_t root_len)
{
    struct dirent **names;
    int n = scandir(path, &names, skip_dots, by_name);
    if (n < 0) {
        fprintf(stderr, "warning: cannot list %s: %s\n", path, strerror(errno));
        ft->scan_errors++;
        return len == root_len ? -1 : 0;
    }
    ft->dirs++;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        int m = rc == 0 ? snprintf(path + len, PATH_MAX - len, "/%s", names[i]->d_name) : -1;
        struct stat st;
        if (rc != 0) {
            /* an earlier entry failed: just free the rest */
        } else if (m < 0 || (size_t)m >= PATH_MAX - len) {
            fprintf(stderr, "warning: path too long under %.*s\n", (int)len, path);
            ft->scan_errors++;
        } else if (lstat(path, &st) != 0) {
            fprintf(stderr, "warning: cannot stat %s: %s\n", path, strerror(errno));
            ft->scan_errors++;
        } else if (S_ISDIR(st.st_mode)) {
            rc = scan_dir(ft, path, len + (size_t)m, root_len);
        } else if (S_ISREG(st.st_mode)) {
            rc = table_add(ft, path + root_len + 1, (uint64_t)st.st_size);
        } else {
            ft->skipped++;
        }
        free(names[i]);
    }
    free(names);
    path[len] = '\0';
    return rc;
}

static int table_scan(struct file_table *ft, const char *root)
{
    *ft = (struct file_table){.root = root};
    char path[PATH_MAX];
    int m = snprintf(path, sizeof path, "%s", root);
    if (m <= 0 || (size_t)m >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return scan_dir(ft, path, (size_t)m, (size_t)m);
}

static void table_free(struct file_table *ft)
{
    for (size_t i = 0; i < ft->n; i++)
        free(ft->v[i].rel);
    free(ft->v);
}

/* Reads root/rel to the end, feeding sha (if not NULL). Returns 0 or an errno. */
static int read_file(const char *root, const char *rel, sha256_ctx *sha)
{
    static unsigned char buf[1 << 16]; /* one per process: the demo hashes in one thread */
    char path[PATH_MAX];
    int m = snprintf(path, sizeof path, "%s/%s", root, rel);
    if (m < 0 || (size_t)m >= sizeof path)
        return ENAMETOOLONG;
    /* O_NOFOLLOW | O_NONBLOCK: if the file was swapped for a symlink or a FIFO
       since the scan, fail instead of following it or blocking. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno;
    int err = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            if (sha != NULL)
                sha256_update(sha, buf, (size_t)n);
        } else if (n == 0) {
            break;
        } else if (errno != EINTR) {
            err = errno;
            break;
        }
    }
    close(fd); /* read-only: nothing to lose if close fails */
    return err;
}

static void hash_file(const char *root, const char *rel, struct file_hash *out)
{
    sha256_ctx sha;
    sha256_init(&sha);
    memset(out, 0, sizeof *out);
    out->err = read_file(root, rel, &sha);
    if (out->err == 0)
        sha256_final(&sha, out->sha);
}

/* SHA-256 over every file's relative path, a NUL, and then its digest, or
   "E" and the errno (as text) for a file that could not be read. */
static void combined_digest(const struct file_table *ft, const struct file_hash *h,
                            unsigned char out[32])
{
    sha256_ctx sha;
    sha256_init(&sha);
    for (size_t i = 0; i < ft->n; i++) {
        sha256_update(&sha, ft->v[i].rel, strlen(ft->v[i].rel) + 1);
        if (h[i].err == 0) {
            sha256_update(&sha, h[i].sha, sizeof h[i].sha);
        } else {
            char e[16];
            int m = snprintf(e, sizeof e, "E%" PRId32, h[i].err);
            sha256_update(&sha, e, (size_t)m);
        }
    }
    sha256_final(&sha, out);
}

/* ------------------------------------------------------------------------ */
/* Timing and progress.                                                     */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail with CLOCK_MONOTONIC */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

struct progress {
    size_t files_done, files_total;
    uint64_t bytes_done, bytes_total;
    bool tty;         /* redraw one line in place, else print every 10% */
    double last_draw; /* tty: redraws at most every 100 ms */
    int last_tenth;   /* not a tty: last 10% step printed */
};

static void progress_draw(struct progress *p, bool final)
{
    double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : 1.0;
    int tenth = (int)(frac * 10.0);
    if (p->tty) {
        double t = now_s();
        if (!final && t - p->last_draw < 0.1)
            return;
        p->last_draw = t;
        char bar[21];
        int full = (int)(frac * 20.0);
        for (int i = 0; i < 20; i++)
            bar[i] = i < full ? '#' : '.';
        bar[20] = '\0';
        fprintf(stderr, "\r  [%s] %3d%%  %zu/%zu files  %.1f/%.1f MiB%s", bar,
                (int)(frac * 100.0), p->files_done, p->files_total, mib(p->bytes_done),
                mib(p->bytes_total), final ? "\n" : "");
    } else if (tenth > p->last_tenth) {
        p->last_tenth = tenth;
        fprintf(stderr, "  progress %3d%%  %zu/%zu files  %.1f/%.1f MiB\n", tenth * 10,
                p->files_done, p->files_total, mib(p->bytes_done), mib(p->bytes_total));
    }
}

/* ------------------------------------------------------------------------ */
/* The parallel run: one task per batch of consecutive files.               */

/* Built before the first forkpool_run and never changed while tasks run:
   each child is a fork of this process and sees it as it was at the fork,
   so a task's argument can be a mere index range into it. */
static struct file_table files;

struct batch {
    uint32_t first, count; /* files[first .. first+count) */
};

enum { BATCH_MAX_FILES = 256 };
static const uint64_t BATCH_MAX_BYTES = 1 << 20;

/* The task, in the child: hashes its batch, returns an array of file_hash. */
static int hash_batch_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    struct batch b;
    if (len != sizeof b)
        return forkpool_throw(ctx, "usage", "batch argument of %zu bytes", len);
    memcpy(&b, arg, sizeof b);
    if (b.count == 0 || b.first > files.n || b.count > files.n - b.first)
        return forkpool_throw(ctx, "usage", "batch %" PRIu32 "+%" PRIu32 " out of range",
                              b.first, b.count);
    struct file_hash *out = calloc(b.count, sizeof *out);
    if (out == NULL)
        return forkpool_throw(ctx, "oom", "no memory for %" PRIu32 " digests", b.count);
    for (uint32_t i = 0; i < b.count; i++)
        hash_file(files.root, files.v[b.first + i].rel, &out[i]);
    int rc = forkpool_return(ctx, out, b.count * sizeof *out);
    free(out);
    return rc;
}

struct run {
    struct file_hash *hashes; /* one per file in the table, filled by the handlers */
    struct progress prog;
    size_t failed_batches;
};

struct batch_job {
    struct batch b;
    uint64_t bytes;
    struct run *run;
};

static void on_batch_done(forkpool_task *t, const void *result, size_t len, void *ud)
{
    (void)t;
    struct batch_job *job = ud;
    struct run *run = job->run;
    if (len != job->b.count * sizeof(struct file_hash)) {
        fprintf(stderr, "\nerror: batch at file %" PRIu32 ": result of %zu bytes\n",
                job->b.first, len);
        run->failed_batches++;
        return;
    }
    memcpy(run->hashes + job->b.first, result, len);
    run->prog.files_done += job->b.count;
    run->prog.bytes_done += job->bytes;
    progress_draw(&run->prog, false);
}

static void on_batch_failed(forkpool_task *t, const forkpool_error *err, void *ud)
{
    (void)t;
    struct batch_job *job = ud;
    fprintf(stderr, "\nerror: batch at file %" PRIu32 " (%s) failed: %s: %s\n", job->b.first,
            files.v[job->b.first].rel, forkpool_error_kind_name(err->kind), err->message);
    job->run->failed_batches++;
}

/* Cuts the table into batches of consecutive files; returns how many, or
   (size_t)-1 on ENOMEM. */
static size_t make_batches(struct run *run, struct batch_job **out)
{
    struct batch_job *jobs = malloc((files.n ? files.n : 1) * sizeof *jobs);
    if (jobs == NULL)
        return (size_t)-1;
    size_t n = 0;
    for (size_t i = 0; i < files.n;) {
        struct batch_job *j = &jobs[n++];
        *j = (struct batch_job){.b = {(uint32_t)i, 0}, .run = run};
        do {
            j->bytes += files.v[i].size;
            j->b.count++, i++;
        } while (i < files.n && j->b.count < BATCH_MAX_FILES && j->bytes < BATCH_MAX_BYTES);
    }
    *out = jobs;
    return n;
}

/* Largest batches first: a big file queued last would leave the other CPUs
   idle at the end. Sorts pointers so the jobs (handler user data) stay put. */
static int by_bytes_desc(const void *a, const void *b)
{
    const struct batch_job *x = *(struct batch_job *const *)a, *y = *(struct batch_job *const *)b;
    return (x->bytes < y->bytes) - (x->bytes > y->bytes);
}

/* Returns 0 when every batch succeeded, else -1. */
static int run_parallel(forkpool *pool, struct run *run, size_t *nbatches)
{
    struct batch_job *jobs;
    size_t n = make_batches(run, &jobs);
    if (n == (size_t)-1)
        return -1;
    struct batch_job **order = malloc((n ? n : 1) * sizeof *order);
    if (order == NULL) {
        free(jobs);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = &jobs[i];
    qsort(order, n, sizeof *order, by_bytes_desc);

    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        forkpool_task *t = forkpool_run(pool, hash_batch_task, &order[i]->b, sizeof order[i]->b);
        if (t == NULL) {
            perror("forkpool_run");
            rc = -1;
        } else if (forkpool_catch(forkpool_then(t, on_batch_done, order[i]),
                                  on_batch_failed, order[i]) == NULL) {
            perror("adding handlers");
            rc = -1;
        }
        forkpool_task_release(t); /* NULL-safe */
    }
    /* Even after an error, wait: the handlers still point into jobs. */
    int unhandled = forkpool_await(pool);
    if (unhandled != 0 || run->failed_batches != 0)
        rc = -1;
    progress_draw(&run->prog, true);
    free(order);
    free(jobs);
    *nbatches = n;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Fault injection.                                                         */

/* Injected crash: a NULL dereference, as a buggy task might do with a failed
   lookup. Both volatiles are needed: the pointer's, so the compiler cannot
   prove it NULL; the target's, or GCC drops the store as dead. No core file: core_pattern may
   put one in the current directory. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize) /* else UBSan reports the store and exits 1 */
__attribute__((no_sanitize("undefined")))
#endif
#endif
static int injected_crash_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx, (void)arg, (void)len;
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* best effort: failure only means a core file */
    volatile int *volatile p = NULL;
    *p = 42;
    return 0;
}

/* Injected endless loop: burns CPU until killed. */
static int injected_endless_task(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx, (void)arg, (void)len;
    volatile unsigned long spins = 0;
    for (;;)
        spins++;
    return 0; /* not reached; some compilers want a return statement */
}

struct faults {
    double start;
    bool crash_caught, crash_other;  /* other: succeeded or failed another way */
    bool loop_timed_out, loop_other; /* other: its catch ran, or it succeeded  */
};

static void crash_caught(forkpool_task *t, const forkpool_error *err, void *ud)
{
    (void)t;
    struct faults *f = ud;
    bool ok = err->kind == FORKPOOL_ERR_SIGNALED;
    if (ok)
        f->crash_caught = true;
    else
        f->crash_other = true;
    printf("  injected crash:        catch ran: %s (%s): %s\n", forkpool_error_kind_name(err->kind),
           err->type, err->message);
}

static void loop_timed_out(forkpool_task *t, void *ud)
{
    (void)t;
    struct faults *f = ud;
    f->loop_timed_out = true;
    printf("  injected endless loop: timeout handler ran after %.0f ms; process group killed\n",
           (now_s() - f->start) * 1000.0);
}

/* Must not run: the timeout handler takes the timeout. */
static void loop_caught(forkpool_task *t, const forkpool_error *err, void *ud)
{
    (void)t;
    struct faults *f = ud;
    f->loop_other = true;
    printf("  injected endless loop: UNEXPECTED catch: %s: %s\n",
           forkpool_error_kind_name(err->kind), err->message);
}

/* Must not run either. */
static void fault_succeeded(forkpool_task *t, const void *result, size_t len, void *ud)
{
    (void)result, (void)len;
    struct faults *f = ud;
    printf("  UNEXPECTED success of the injected fault in pid %ld\n", (long)forkpool_task_pid(t));
    f->crash_other = f->loop_other = true;
}

static int run_faults(forkpool *pool)
{
    struct faults f = {.start = now_s()};
    forkpool_task *crash = forkpool_run(pool, injected_crash_task, NULL, 0);
    forkpool_task *loop = forkpool_run(pool, injected_endless_task, NULL, 0);
    if (crash == NULL || loop == NULL) {
        perror("forkpool_run");
    } else {
        forkpool_catch(forkpool_then(crash, fault_succeeded, &f), crash_caught, &f);
        /* 300 ms from its start, then SIGTERM to its process group (SIGKILL
           after the pool's kill_grace_ms if that is not enough). */
        forkpool_set_timeout(loop, 300);
        forkpool_timeout(loop, loop_timed_out, &f);
        forkpool_catch(forkpool_then(loop, fault_succeeded, &f), loop_caught, &f);
    }
    forkpool_task_release(crash);
    forkpool_task_release(loop);
    int unhandled = forkpool_await(pool);
    if (unhandled < 0)
        perror("forkpool_await");
    return unhandled == 0 && f.crash_caught && f.loop_timed_out && !f.crash_other &&
                   !f.loop_other
               ? 0
               : -1;
}

/* ------------------------------------------------------------------------ */

static void hex(const unsigned char d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Hashes and warms in the same process: read_file with sha NULL only reads. */
static double warm_cache(void)
{
    double t0 = now_s();
    for (size_t i = 0; i < files.n; i++)
        read_file(files.root, files.v[i].rel, NULL); /* errors show up in the runs */
    return now_s() - t0;
}

static double run_sequential(struct file_hash *hashes)
{
    double t0 = now_s();
    for (size_t i = 0; i < files.n; i++)
        hash_file(files.root, files.v[i].rel, &hashes[i]);
    return now_s() - t0;
}

/* Reports unreadable files (same in both runs, else the digests differ). */
static void report_unreadable(const struct file_hash *h)
{
    size_t bad = 0;
    for (size_t i = 0; i < files.n; i++) {
        if (h[i].err == 0)
            continue;
        if (bad++ < 10)
            fprintf(stderr, "  warning: cannot read %s/%s: %s\n", files.root, files.v[i].rel,
                    strerror(h[i].err));
    }
    if (bad > 10)
        fprintf(stderr, "  warning: ... %zu unreadable files in all\n", bad);
    else if (bad == 0)
        printf("  every file was read\n");
}

/* Prints the digests and the first differing file, if any; 0 if identical. */
static int compare_runs(const struct file_hash *par, const struct file_hash *seq)
{
    unsigned char dp[32], ds[32];
    char hp[65], hs[65];
    combined_digest(&files, par, dp);
    combined_digest(&files, seq, ds);
    hex(dp, hp);
    hex(ds, hs);
    bool same = memcmp(dp, ds, sizeof dp) == 0;
    printf("combined digest, pool:       %s\n", hp);
    printf("combined digest, sequential: %s  %s\n", hs, same ? "(identical)" : "(DIFFERENT)");
    for (size_t i = 0; i < files.n && !same; i++) {
        if (par[i].err != seq[i].err || memcmp(par[i].sha, seq[i].sha, 32) != 0) {
            printf("first difference: %s\n", files.v[i].rel);
            break;
        }
    }
    return same ? 0 : -1;
}

static int hash_and_compare(forkpool *pool, long cpus)
{
    struct run run = {.prog = {.files_total = files.n, .bytes_total = files.bytes,
                               .tty = isatty(STDERR_FILENO) == 1, .last_tenth = 0}};
    struct file_hash *seq = calloc(files.n ? files.n : 1, sizeof *seq);
    run.hashes = calloc(files.n ? files.n : 1, sizeof *run.hashes);
    if (seq == NULL || run.hashes == NULL) {
        perror("calloc");
        free(seq);
        free(run.hashes);
        return -1;
    }

    size_t nbatches = 0;
    printf("\npool: %ld processes at a time, one child per batch of <= %d files / %.0f MiB\n",
           cpus, BATCH_MAX_FILES, mib(BATCH_MAX_BYTES));
    fflush(stdout);
    double t0 = now_s();
    int rc = run_parallel(pool, &run, &nbatches);
    double t_par = now_s() - t0;
    printf("  %zu tasks: %.3f s (%.0f MiB/s)\n", nbatches, t_par, mib(files.bytes) / t_par);
    report_unreadable(run.hashes);

    printf("\nsequential: the same hashing in this one process\n");
    fflush(stdout);
    double t_seq = run_sequential(seq);
    printf("  %.3f s (%.0f MiB/s)\n\n", t_seq, mib(files.bytes) / t_seq);

    if (compare_runs(run.hashes, seq) != 0)
        rc = -1;
    printf("speed-up with the pool: %.2fx on %ld CPUs\n", t_seq / t_par, cpus);
    free(seq);
    free(run.hashes);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s [DIR]\n", argv[0]);
        return 2;
    }
    const char *root = argc == 2 ? argv[1] : "/usr/share/doc";
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;

    printf("forkpool %s demo: SHA-256 of every regular file under %s\n", FORKPOOL_VERSION, root);
    double t0 = now_s();
    if (table_scan(&files, root) != 0) {
        fprintf(stderr, "demo: cannot scan %s: %s\n", root, strerror(errno));
        table_free(&files);
        return 2;
    }
    double t_scan = now_s() - t0;
    printf("scan: %zu files, %.1f MiB, %zu directories (%zu other entries skipped) in %.3f s\n",
           files.n, mib(files.bytes), files.dirs, files.skipped, t_scan);
    printf("read every file once to warm the page cache: %.3f s\n", warm_cache());

    /* concurrency 0: one running task per online CPU. */
    forkpool *pool = forkpool_create(&(forkpool_options){.concurrency = 0});
    if (pool == NULL) {
        perror("forkpool_create");
        table_free(&files);
        return 2;
    }

    printf("\nfault injection (the pool carries on afterwards):\n");
    fflush(stdout);
    int rc = run_faults(pool);
    if (hash_and_compare(pool, cpus) != 0)
        rc = -1;

    forkpool_stats st = forkpool_get_stats(pool);
    printf("pool totals: %zu succeeded, %zu failed, %zu timed out, %zu cancelled\n",
           st.succeeded, st.failed, st.timed_out, st.cancelled);
    forkpool_destroy(pool);
    table_free(&files);
    printf("%s\n", rc == 0 ? "demo: OK" : "demo: FAILED");
    return rc == 0 ? 0 : 1;
}
