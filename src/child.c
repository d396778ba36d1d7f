/*
 * The child's side of a task: the forkpool_ctx functions, and running the
 * task function then reporting its end. In INLINE mode the same functions
 * write straight into the task instead of a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "clock.h"
#include "contain.h"
#include "pool.h"
#include "result.h"
#include "task.h"
#include "tree.h"
#include "wire.h"
#include "worker.h"

enum { FP_RET_NONE, FP_RET_COPY, FP_RET_BUFFER }; /* forkpool_ctx.returned */

/* Results of at most this many bytes wait for the END frame and go with it
   in one write (one system call a task fewer; issue #13). */
#define FP_RESULT_WITH_END ((size_t)4096)
/* Those of at most this many wait on the runner's stack rather than the
   heap: a new child then writes no malloc page for them, and each page it
   writes costs a copy of the parent's (issue #13; 4096 here cost the child
   one more stack page than it saved). */
#define FP_RESULT_ON_STACK ((size_t)512)

struct forkpool_ctx {
    int fd;                    /* the channel to the parent; -1 inline  */
    forkpool_task *inline_task;/* INLINE: the task itself               */
    int returned, thrown;      /* returned: FP_RET_*                    */
    size_t max_output;         /* the pool's; 0: none                   */
    const uint64_t *usage;     /* a worker's: END carries this (user us,
                                  sys us, peak RSS KiB); NULL: none     */
    const fp_worker_end *worker; /* a worker's task, else NULL          */
    int piped;                 /* it sent a frame before END: END
                                  follows it through the channel        */
    int map_ok;                /* a large result may cross as a memfd,
                                  which the runner then holds after END
                                  (see fp_child_call)                   */
    fp_rbuf rbuf;              /* the result, sent at the task's end    */
    unsigned char *small;      /* FP_RESULT_ON_STACK bytes on the
                                  runner's stack, or NULL (see
                                  fp_child_call)                        */
    size_t small_len;          /* forkpool_return's result in small, or
                                  SIZE_MAX: none there                  */
    fp_item *item;             /* forkpool_map: the item being run; its
                                  return and throw go there, through     */
    const fp_item_ops *item_ops;
};

#define FP_BIG_PIPE ((size_t)1 << 20)

/*
 * writev all of iov[0..n), n <= 5, through partial writes and EINTR. Each
 * call offers at most FP_BIG_PIPE bytes: the pipe takes no more at once, and
 * tools that check the whole buffer on every call (valgrind) stay linear.
 * 0, or -1 + errno.
 */
static int writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct iovec part[5];
        size_t room = FP_BIG_PIPE;
        int k = 0;
        for (; k < n && room > 0; k++) {
            part[k] = iov[k];
            if (part[k].iov_len > room)
                part[k].iov_len = room;
            room -= part[k].iov_len;
        }
        ssize_t w = writev(fd, part, k);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* A large payload crosses in fewer, larger copies through a bigger pipe; if
   the system refuses, the default size still works. */
static void pipe_for(int fd, size_t len)
{
    if (len > FP_BIG_PIPE / 4 && fcntl(fd, F_GETPIPE_SZ) < (int)FP_BIG_PIPE)
        (void)fcntl(fd, F_SETPIPE_SZ, (int)FP_BIG_PIPE);
}

/* Sends a RESULT frame of part and an END frame of end in one write. */
static int send_result_end(int fd, struct iovec part, struct iovec end)
{
    unsigned char h1[FP_WIRE_HDR], h2[FP_WIRE_HDR];
    pipe_for(fd, part.iov_len);
    fp_wire_header(h1, FP_FRAME_RESULT, part.iov_len);
    fp_wire_header(h2, FP_FRAME_END, end.iov_len);
    struct iovec iov[4] = {{h1, sizeof h1}, part, {h2, sizeof h2}, end};
    return writev_all(fd, iov, 4);
}

/* Sends one frame whose payload is the concatenation of parts[0..n), n <= 4. */
static int send_frame(int fd, unsigned type, struct iovec *parts, int n)
{
    unsigned char hdr[FP_WIRE_HDR];
    struct iovec iov[5];
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += parts[i].iov_len;
    pipe_for(fd, len);
    fp_wire_header(hdr, type, len);
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof hdr;
    for (int i = 0; i < n; i++)
        iov[i + 1] = parts[i];
    return writev_all(fd, iov, n + 1);
}

/* A frame of the task's, before its END (see forkpool_ctx.piped). */
static int ctx_send(forkpool_ctx *ctx, unsigned type, struct iovec *parts, int n)
{
    ctx->piped = 1;
    return send_frame(ctx->fd, type, parts, n);
}

static int copy_to(unsigned char **dst, const void *src, size_t len)
{
    *dst = malloc(len ? len : 1);
    if (!*dst)
        return -1;
    if (len)
        memcpy(*dst, src, len);
    return 0;
}

/* INLINE: the check the parent's decoder makes for a child. */
static int inline_over_limit(forkpool_task *t, size_t len)
{
    size_t max = t->pool->opts.max_output;
    if (!max || len <= max)
        return 0;
    fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL,
                 "task sent %zu bytes, over max_output (%zu bytes)", len, max);
    t->flags |= FP_T_ABORTED;
    errno = EMSGSIZE;
    return 1;
}

int forkpool_return(forkpool_ctx *ctx, const void *data, size_t len)
{
    if (!ctx || (!data && len)) {
        errno = EINVAL;
        return -1;
    }
    if (ctx->returned || ctx->thrown) {
        errno = EALREADY;
        return -1;
    }
    ctx->returned = FP_RET_COPY;
    if (ctx->item)
        return ctx->item_ops->ret(ctx->item, data, len);
    if (ctx->inline_task) {
        forkpool_task *t = ctx->inline_task;
        if (inline_over_limit(t, len) || copy_to(&t->result, data, len) == -1)
            return -1;
        t->result_len = len;
        t->flags |= FP_T_HAS_RESULT;
        return 0;
    }
    /* Over max_output it goes by pipe, for the parent to refuse at the
       header. */
    if (ctx->map_ok && len >= FP_MAP_MIN && (!ctx->max_output || len <= ctx->max_output) &&
        fp_rbuf_copy(&ctx->rbuf, data, len) == 0)
        return 0;
    /* A small one waits for END (send_end); a copy, as data may not live
       that long. The parent sees no difference: a result counts only with
       an END that says the task succeeded. */
    if (len <= FP_RESULT_WITH_END && (!ctx->max_output || len <= ctx->max_output)) {
        int on_stack = ctx->small && len <= FP_RESULT_ON_STACK;
        void *p = on_stack ? ctx->small : fp_rbuf_new(&ctx->rbuf, len, 0);
        if (p) {
            if (len)
                memcpy(p, data, len); /* data may be NULL when len is 0 */
            if (on_stack)
                ctx->small_len = len;
            return 0;
        }
    }
    struct iovec part = {(void *)data, len};
    return ctx_send(ctx, FP_FRAME_RESULT, &part, 1);
}

void *forkpool_result_buffer(forkpool_ctx *ctx, size_t len)
{
    if (!ctx) {
        errno = EINVAL;
        return NULL;
    }
    if (ctx->returned == FP_RET_COPY || ctx->thrown) {
        errno = EALREADY;
        return NULL;
    }
    if (ctx->max_output && len > ctx->max_output) {
        errno = EMSGSIZE;
        return NULL;
    }
    void *p = ctx->inline_task ? fp_result_inline(ctx->inline_task, len)
                               : fp_rbuf_new(&ctx->rbuf, len, ctx->map_ok);
    if (p)
        ctx->returned = FP_RET_BUFFER;
    return p;
}

void *forkpool_result_resize(forkpool_ctx *ctx, size_t len)
{
    if (!ctx || ctx->returned != FP_RET_BUFFER || ctx->thrown)
        return forkpool_result_buffer(ctx, len);
    if (ctx->max_output && len > ctx->max_output) {
        errno = EMSGSIZE;
        return NULL;
    }
    return ctx->inline_task ? fp_result_inline_resize(ctx->inline_task, len)
                            : fp_rbuf_resize(&ctx->rbuf, len, ctx->map_ok);
}

int forkpool_send(forkpool_ctx *ctx, const void *msg, size_t len)
{
    if (!ctx || ctx->item || (!msg && len)) {
        errno = EINVAL;
        return -1;
    }
    if (ctx->inline_task) {
        forkpool_task *t = ctx->inline_task;
        unsigned char *copy;
        if (inline_over_limit(t, len) || copy_to(&copy, msg, len) == -1)
            return -1;
        if (fp_msg_push(t, copy, len) == -1) {
            t->flags |= FP_T_ABORTED;
            return -1;
        }
        return 0;
    }
    struct iovec part = {(void *)msg, len};
    return ctx_send(ctx, FP_FRAME_MESSAGE, &part, 1);
}

int forkpool_throw(forkpool_ctx *ctx, const char *type, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    if (!ctx) {
        errno = EINVAL;
        return -1;
    }
    if (ctx->thrown)
        return -1;
    ctx->thrown = 1;
    if (!type || !*type)
        type = "forkpool.thrown";
    if (fmt) {
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
            msg = NULL;
        va_end(ap);
    }
    const char *text = msg && *msg ? msg : "task threw an error";
    if (ctx->item) {
        ctx->item_ops->throw_(ctx->item, type, text);
    } else if (ctx->inline_task) {
        fp_task_fail(ctx->inline_task, FORKPOOL_ERR_THROWN, -1, type, "%s", text);
        ctx->inline_task->flags |= FP_T_THREW;
    } else {
        size_t tl = strnlen(type, FP_WIRE_MAX_THROW / 2);
        size_t ml = strnlen(text, FP_WIRE_MAX_THROW / 2 - 8);
        int32_t code = -1;
        uint32_t tl32 = (uint32_t)tl;
        struct iovec parts[4] = {
            {&code, 4}, {&tl32, 4}, {(void *)type, tl}, {(void *)text, ml}};
        /* Fails only when the parent is gone or gave up on the task: there
           is no one left to tell. */
        (void)ctx_send(ctx, FP_FRAME_THROW, parts, 4);
    }
    free(msg);
    return -1;
}

/* stdio flushed, what the task started and left running killed (tree.c),
   and, in make coverage, gcov's counters written. */
static void child_flush(void)
{
    fflush(NULL);
    fp_contain_end(&fp_contain_init);
    fp_tree_end_own();
#ifdef FP_COVERAGE
    /* make coverage: _exit skips the atexit hook that writes gcov data. */
    extern void __gcov_dump(void);
    __gcov_dump();
#endif
}

/* A worker's task: puts task seq's END (rc, usage, and result[0..len) if
   result is not NULL, len <= FP_DONE_RESULT) in the ring's done queue, and
   wakes the parent through chan if it may be asleep (worker.h). 1 if put,
   0 if the queue is full (the END goes through the channel), -1 if the
   wake could not be sent. */
static int done_put(fp_ring *ring, uint32_t seq, int32_t rc, const uint64_t usage[3],
                    const void *result, size_t len, int chan)
{
    uint32_t head = atomic_load_explicit(&ring->done_head, memory_order_relaxed);
    if (head - atomic_load_explicit(&ring->done_tail, memory_order_acquire) >= FP_DONE)
        return 0;
    fp_done *d = &ring->done[head % FP_DONE];
    d->seq = seq;
    d->rc = rc;
    d->result_len = result ? (uint32_t)len : FP_DONE_NONE;
    d->zero = 0;
    memcpy(d->usage, usage, sizeof d->usage);
    if (result && len)
        memcpy(d->result, result, len);
    atomic_store(&ring->done_head, head + 1);
    if (!atomic_load(&ring->attends)) {
        unsigned char wake[FP_WIRE_HDR];
        fp_wire_header(wake, FP_FRAME_WAKE, 0);
        ssize_t n;
        while ((n = write(chan, wake, sizeof wake)) == -1 && errno == EINTR)
            ;
        if (n != (ssize_t)sizeof wake)
            return -1;
    }
    return 1;
}

/*
 * The task function returned rc: sends the result it left in ctx->rbuf (if
 * it succeeded), then END. Returns 1 if the result went as a memfd, which
 * the caller must then hold (see map_ok), 0 if not, -1 if a write failed.
 */
static int send_end(forkpool_ctx *ctx, int32_t rc)
{
    fp_rbuf *b = &ctx->rbuf;
    struct iovec end = {&rc, sizeof rc};
    unsigned char with_usage[FP_WIRE_END_USAGE_LEN];
    if (ctx->usage) {
        fp_wire_end_usage(with_usage, rc, ctx->usage[0], ctx->usage[1], ctx->usage[2]);
        end = (struct iovec){with_usage, sizeof with_usage};
    }
    int held = 0, sent = 0;
    const fp_worker_end *w = ctx->worker;
    if (w && w->ring && ctx->usage && !ctx->piped && !fp_rbuf_pending(b)) {
        int has = rc == 0 && !ctx->thrown && ctx->small_len != SIZE_MAX;
        if (!has || ctx->small_len <= FP_DONE_RESULT) {
            int put = done_put(w->ring, w->seq, rc, ctx->usage, has ? ctx->small : NULL,
                               has ? ctx->small_len : 0, ctx->fd);
            if (put != 0)
                return put == 1 ? 0 : -1;
        }
    }
    if (rc == 0 && !ctx->thrown && ctx->small && ctx->small_len != SIZE_MAX)
        return send_result_end(ctx->fd, (struct iovec){ctx->small, ctx->small_len}, end) == 0
                   ? 0
                   : -1;
    if (rc == 0 && !ctx->thrown && fp_rbuf_pending(b)) {
        unsigned char pl[FP_WIRE_RESULT_FD_LEN];
        struct iovec part = {pl, sizeof pl};
        if (b->fd >= 0) {
            /* Once the parent has END and the memfd, it may end us. */
            child_flush();
            fp_wire_result_fd(pl, b->fd, b->len);
            held = 1;
        } else {
            sent = send_result_end(ctx->fd, (struct iovec){b->p, b->len}, end);
            fp_rbuf_free(b);
            return sent == 0 ? 0 : -1;
        }
        sent = send_frame(ctx->fd, FP_FRAME_RESULT_FD, &part, 1);
    }
    if (!held)
        fp_rbuf_free(b);
    if (sent == 0)
        sent = send_frame(ctx->fd, FP_FRAME_END, &end, 1);
    return sent == 0 ? held : -1;
}

/*
 * Runs fn(arg) with a fresh ctx on channel fd and reports its end: the
 * result the task left, then END. max_output: the pool's. held: where a
 * result sent as a memfd stays, for a caller that can keep it open until the
 * parent has it (a FRESH child: fp_rbuf_hold); NULL: results cross as bytes
 * (a worker, until it holds memfds until the parent acknowledges them).
 * Returns 0; 1 if *held holds a memfd the parent is taking; -1 if a frame
 * could not be sent (the parent is gone or gave up).
 */
/* What a worker's task used (see fp_worker_end): out = user us, sys us,
   peak RSS KiB. */
static void worker_usage(fp_worker_end *w, int64_t ran_ns, uint64_t out[3])
{
    struct rusage ru;
    fp_rusage now;
    w->ran_ns = ran_ns;
    if ((ran_ns < FP_USAGE_SAMPLE_NS && w->sampled) || getrusage(RUSAGE_SELF, &ru) == -1) {
        out[0] = (uint64_t)(ran_ns / 1000);
        out[1] = 0;
        out[2] = (uint64_t)w->base.maxrss_kib;
        w->lent_us += ran_ns / 1000;
        return;
    }
    fp_rusage_from(&now, &ru);
    int64_t user = now.user_us - w->base.user_us - w->lent_us, sys = now.sys_us - w->base.sys_us;
    out[0] = (uint64_t)(user > 0 ? user : 0);
    out[1] = (uint64_t)(sys > 0 ? sys : 0);
    out[2] = (uint64_t)now.maxrss_kib;
    w->base = now;
    w->lent_us = 0;
    w->sampled = 1;
}

int fp_child_call(int fd, forkpool_fn fn, const void *arg, size_t len, size_t max_output,
                  fp_rbuf *held, fp_worker_end *w)
{
    uint64_t used[3];
    unsigned char small[FP_RESULT_ON_STACK]; /* not zeroed: only what a
                                  result fills is written */
    forkpool_ctx ctx = {.fd = fd, .max_output = max_output, .map_ok = held != NULL,
                        .rbuf = FP_RBUF_NONE, .small = small, .small_len = SIZE_MAX};
    int64_t start = w ? fp_now() : 0;
    int32_t rc = fn(&ctx, arg, len);
    if (w) {
        worker_usage(w, fp_now() - start, used);
        ctx.usage = used;
        ctx.worker = w;
    }
    /* What the task printed is out before the parent hears it ended (a
       worker's stdio would otherwise hold it until the worker exits). */
    fflush(NULL);
    if (w && w->err_mark)
        (void)!write(STDERR_FILENO, w->err_mark, FP_ERR_MARK); /* the parent
                                  then takes all it read as this task's */
    int r = send_end(&ctx, rc);
    if (r == 1)
        *held = ctx.rbuf;
    return r;
}

/* Ends a child: its stdio flushed, no atexit handler of the host run. */
_Noreturn void fp_child_exit(int code)
{
    child_flush();
    _exit(code);
}

/* In a new child, set up (launch.c): run the task and report its end. */
void fp_child_reseed(const forkpool_options *o)
{
    unsigned seed;
    if (o->keep_seed)
        return;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 16);
    }
    srandom(seed);
    srand48((long)seed);
}

_Noreturn void fp_child_main(forkpool_task *t, int fd)
{
    forkpool *pool = t->pool;
    fp_rbuf held = FP_RBUF_NONE;
    fp_child_reseed(&pool->opts);
    if (pool->opts.child_init)
        pool->opts.child_init(pool->opts.child_init_arg);
    int r = fp_child_call(fd, t->fn, t->arg, t->arg_len, pool->opts.max_output, &held, NULL);
    if (r == 1)
        fp_rbuf_hold();
    fp_child_exit(r == 0 ? 0 : 125);
}

int fp_item_call(forkpool_fn fn, fp_item *item, const fp_item_ops *ops, const void *arg,
                 size_t len, size_t max_output)
{
    forkpool_ctx ctx = {.fd = -1, .item = item, .item_ops = ops, .max_output = max_output,
                        .rbuf = FP_RBUF_NONE};
    int rc = fn(&ctx, arg, len);
    /* A result built in place (plain memory here) is the item's result;
       a failure to keep it is recorded on the item. */
    if (rc == 0 && !ctx.thrown && fp_rbuf_pending(&ctx.rbuf))
        (void)ops->ret(item, ctx.rbuf.p, ctx.rbuf.len);
    fp_rbuf_free(&ctx.rbuf);
    return rc;
}

void fp_run_inline(forkpool_task *t)
{
    forkpool_ctx ctx = {.fd = -1, .inline_task = t, .max_output = t->pool->opts.max_output,
                        .rbuf = FP_RBUF_NONE};
    t->end_rc = t->fn(&ctx, t->arg, t->arg_len);
    t->flags |= FP_T_GOT_END;
}
