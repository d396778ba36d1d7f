/* robin.c: --roundrobin's FIFOs (contracts in robin.h). */
#include "robin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fpc.h"
#include "sbuf.h"

struct rslot {
    int fd;       /* the FIFO while a job runs here (read-write until the job
                     holds it, then write-only); else -1 */
    char *path;   /* its name, until the runner removed it or the job ended */
    char *buf;    /* bytes not yet in the FIFO: buf[off..len) */
    size_t off, len, cap;
    bool named;   /* --fifo: to open write-only once the job opened it,
                     write out and close (false once closed) */
};

struct robin {
    struct rslot *s;
    unsigned n, next;
    char *dir;
    unsigned long made; /* FIFOs made: each job's name is new */
    bool eof;
};

int robin_init(struct robin **out, unsigned n, const char *tmpdir)
{
    struct robin *r = calloc(1, sizeof *r);
    *out = r;
    tmpdir = fpc_tmpdir(tmpdir);
    struct sbuf d = {0};
    sb_adds(&d, tmpdir);
    sb_adds(&d, "/forkpool-rr.XXXXXX");
    if (r == NULL || (r->s = calloc(n, sizeof *r->s)) == NULL || (r->dir = sb_take(&d)) == NULL) {
        sb_free(&d);
        fpc_say("out of memory");
        return -1;
    }
    r->n = n;
    for (unsigned i = 0; i < n; i++)
        r->s[i].fd = -1;
    if (mkdtemp(r->dir) == NULL) {
        fpc_say("cannot make a directory for the jobs' FIFOs in '%s': %s", tmpdir,
                strerror(errno));
        free(r->dir);
        r->dir = NULL;
        return -1;
    }
    return 0;
}

static bool pending(const struct rslot *s)
{
    return s->off < s->len;
}

int robin_idle(struct robin *r)
{
    for (unsigned k = 0; k < r->n; k++) {
        unsigned i = (r->next + k) % r->n;
        if (r->s[i].fd >= 0 && !pending(&r->s[i])) {
            r->next = i + 1;
            return (int)i;
        }
    }
    return -1;
}

unsigned long robin_started(const struct robin *r)
{
    return r->made;
}

int robin_give(struct robin *r, unsigned s, const char *data, size_t len)
{
    struct rslot *x = &r->s[s];
    if (x->off == x->len)
        x->off = x->len = 0;
    if (x->len + len > x->cap) {
        size_t cap = x->len + len;
        char *b = realloc(x->buf, cap ? cap : 1);
        if (b == NULL)
            return -1;
        x->buf = b;
        x->cap = cap;
    }
    if (len > 0)
        memcpy(x->buf + x->len, data, len);
    x->len += len;
    return 0;
}

int robin_give_all(struct robin *r, const char *data, size_t len)
{
    for (unsigned i = 0; i < r->n; i++)
        if (r->s[i].fd >= 0 && robin_give(r, i, data, len) != 0)
            return -1;
    return 0;
}

bool robin_all_taken(const struct robin *r)
{
    for (unsigned i = 0; i < r->n; i++)
        if (r->s[i].fd >= 0 && pending(&r->s[i]))
            return false;
    return true;
}

/* A new FIFO for slot s, named x->path; with rdwr, held open read-write
   (the open does not wait for a reader, and the FIFO keeps what is written
   while the job has not opened it yet). Then data[0..len) to write. 0, or
   -1 and errno (the slot stopped). */
static int fifo_new(struct robin *r, unsigned s, bool rdwr, const char *data, size_t len,
                    const char **path)
{
    struct rslot *x = &r->s[s];
    struct sbuf p = {0};
    sb_adds(&p, r->dir);
    sb_printf(&p, "/%lu", ++r->made);
    x->path = sb_take(&p);
    if (x->path == NULL)
        return -1;
    if (mkfifo(x->path, 0600) != 0 ||
        (rdwr && (x->fd = open(x->path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)) {
        int e = errno;
        robin_stop(r, s);
        errno = e;
        return -1;
    }
    x->named = !rdwr;
    *path = x->path;
    return robin_give(r, s, data, len);
}

int robin_start(struct robin *r, unsigned s, const char *data, size_t len, const char **path)
{
    return fifo_new(r, s, true, data, len, path);
}

int robin_start_named(struct robin *r, unsigned s, const char *data, size_t len,
                      const char **path)
{
    return fifo_new(r, s, false, data, len, path);
}

/* --fifo: opens slot x's FIFO once its job has (ENXIO until then), writes
   what it can and closes it when written out (the job then reads EOF); a
   job that closed its end (EPIPE) is given nothing more. The name goes
   then: opened again, it would wait for a writer for ever. 0, or -1 and
   errno. */
static int flush_named(struct rslot *x)
{
    if (x->fd < 0) {
        x->fd = open(x->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (x->fd < 0)
            return errno == ENXIO || errno == EINTR ? 0 : -1;
    }
    while (pending(x)) {
        ssize_t w = write(x->fd, x->buf + x->off, x->len - x->off);
        if (w > 0)
            x->off += (size_t)w;
        else if (w < 0 && errno == EPIPE)
            x->off = x->len;
        else if (w < 0 && errno == EAGAIN)
            return 0;
        else if (w < 0 && errno != EINTR)
            return -1;
    }
    (void)unlink(x->path); /* before the EOF the close gives */
    close(x->fd);
    x->fd = -1;
    x->named = false;
    return 0;
}

void robin_stop(struct robin *r, unsigned s)
{
    struct rslot *x = &r->s[s];
    x->named = false;
    if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
    if (x->path != NULL)
        (void)unlink(x->path); /* the runner may have removed it already */
    free(x->path);
    x->path = NULL;
    x->off = x->len = 0;
}

void robin_eof(struct robin *r)
{
    r->eof = true;
}

/* Once the runner removed slot x's name (its job holds the FIFO open),
   the read-write fd becomes a write-only one, opened through /proc: a job
   that closes its end while it runs on then makes the writes fail (EPIPE)
   instead of filling the FIFO for ever and, with --tee, holding the other
   jobs back. Where /proc is missing the read-write fd stays. */
static void held_by_job(struct rslot *x)
{
    if (x->path == NULL || access(x->path, F_OK) == 0 || errno != ENOENT)
        return;
    free(x->path);
    x->path = NULL;
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", x->fd);
    int w = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w >= 0) {
        close(x->fd);
        x->fd = w;
    }
}

/* Slot x's job closed its end and runs on: like a pipe's writer, the tool
   gives it nothing more, and the slot is out of the rotation (no block
   goes to it again) until the job ends (robin_stop). */
static void gone_reader(struct rslot *x)
{
    x->off = x->len = 0;
    close(x->fd);
    x->fd = -1;
}

int robin_flush(struct robin *r)
{
    int done = 0;
    for (unsigned i = 0; i < r->n; i++) {
        struct rslot *x = &r->s[i];
        if (x->named) {
            if (flush_named(x) != 0)
                return -1;
            continue;
        }
        if (x->fd >= 0)
            held_by_job(x);
        bool had = x->fd >= 0 && pending(x);
        while (x->fd >= 0 && pending(x)) {
            ssize_t w = write(x->fd, x->buf + x->off, x->len - x->off);
            if (w > 0)
                x->off += (size_t)w;
            else if (w < 0 && errno == EPIPE)
                gone_reader(x);
            else if (w < 0 && errno == EAGAIN)
                break;
            else if (w < 0 && errno != EINTR)
                return -1;
        }
        /* a job that closed its end took all it will: the next block may
           go to the others (else reading waited for this job to end) */
        if (had && (x->fd < 0 || !pending(x)))
            done++;
        if (r->eof && x->fd >= 0 && !pending(x) && x->path == NULL) {
            close(x->fd);
            x->fd = -1;
        }
    }
    return done;
}

size_t robin_pollfds(const struct robin *r, struct pollfd *fds, int *wait_ms)
{
    size_t k = 0;
    *wait_ms = -1;
    for (unsigned i = 0; i < r->n; i++) {
        const struct rslot *x = &r->s[i];
        if (x->fd >= 0 && pending(x))
            fds[k++] = (struct pollfd){.fd = x->fd, .events = POLLOUT};
        /* a name to see go (held_by_job), a FIFO to close or to open */
        if ((x->fd >= 0 && ((x->path != NULL && !x->named) || (r->eof && !pending(x)))) ||
            (x->named && x->fd < 0))
            *wait_ms = 10;
    }
    return k;
}

void robin_free(struct robin *r)
{
    if (r == NULL)
        return;
    for (unsigned i = 0; r->s != NULL && i < r->n; i++) {
        robin_stop(r, i);
        free(r->s[i].buf);
    }
    if (r->dir != NULL)
        (void)rmdir(r->dir);
    free(r->dir);
    free(r->s);
    free(r);
}
