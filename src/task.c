/*
 * The parent's handle on a task: adding handlers, running them, reading its
 * outcome, errors, release; the run queue and the dispatch list; the
 * outcome ladder's common steps.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "pool.h"
#include "program.h"
#include "task.h"


/* What a task gets once it has more than a queued task needs, allocated
   then: a million queued tasks cost no more for it (bench/queue_mem.c). */
struct fp_more {
    fp_list msgs;         /* fp_msg, waiting for a handler            */
    size_t backlog;       /* bytes of messages queued                 */
    int failed;           /* err holds its failure                    */
    fp_err err;
    forkpool_usage usage; /* once it ran                              */
    fp_buf stderr_tail;   /* capture_stderr: the end of what it wrote */
};

/* t's record, made if need be; NULL without memory. */
static struct fp_more *more_of(forkpool_task *t)
{
    if (!t->more && (t->more = calloc(1, sizeof *t->more)))
        fp_list_init(&t->more->msgs);
    return t->more;
}

static int has_msgs(const forkpool_task *t)
{
    return t->more && !fp_list_empty(&t->more->msgs);
}

static const char *const kind_names[] = {
    [FORKPOOL_ERR_THROWN] = "thrown",       [FORKPOOL_ERR_EXITED] = "exited",
    [FORKPOOL_ERR_SIGNALED] = "signaled",   [FORKPOOL_ERR_TIMEOUT] = "timeout",
    [FORKPOOL_ERR_CANCELLED] = "cancelled", [FORKPOOL_ERR_SPAWN] = "spawn",
    [FORKPOOL_ERR_OUTPUT] = "output",       [FORKPOOL_ERR_PROTOCOL] = "protocol",
    [FORKPOOL_ERR_LOST] = "lost",
};

static const char *const kind_types[] = {
    [FORKPOOL_ERR_THROWN] = "forkpool.thrown",
    [FORKPOOL_ERR_EXITED] = "forkpool.exited",
    [FORKPOOL_ERR_SIGNALED] = "forkpool.signaled",
    [FORKPOOL_ERR_TIMEOUT] = "forkpool.timeout",
    [FORKPOOL_ERR_CANCELLED] = "forkpool.cancelled",
    [FORKPOOL_ERR_SPAWN] = "forkpool.spawn",
    [FORKPOOL_ERR_OUTPUT] = "forkpool.output",
    [FORKPOOL_ERR_PROTOCOL] = "forkpool.protocol",
    [FORKPOOL_ERR_LOST] = "forkpool.lost",
};

const char *forkpool_error_kind_name(forkpool_error_kind kind)
{
    if (kind < FORKPOOL_ERR_THROWN || kind > FORKPOOL_ERR_LOST)
        return "unknown";
    return kind_names[kind];
}

/* What a failure reads as when there was no memory to record it. */
#define FP_NOMEM_ERR(k, type)                                                                  \
    [k] = {k, type, "the task failed, and there was no memory to record how", 0}
static const forkpool_error nomem_errs[] = {
    FP_NOMEM_ERR(FORKPOOL_ERR_THROWN, "forkpool.thrown"),
    FP_NOMEM_ERR(FORKPOOL_ERR_EXITED, "forkpool.exited"),
    FP_NOMEM_ERR(FORKPOOL_ERR_SIGNALED, "forkpool.signaled"),
    FP_NOMEM_ERR(FORKPOOL_ERR_TIMEOUT, "forkpool.timeout"),
    FP_NOMEM_ERR(FORKPOOL_ERR_CANCELLED, "forkpool.cancelled"),
    FP_NOMEM_ERR(FORKPOOL_ERR_SPAWN, "forkpool.spawn"),
    FP_NOMEM_ERR(FORKPOOL_ERR_OUTPUT, "forkpool.output"),
    FP_NOMEM_ERR(FORKPOOL_ERR_PROTOCOL, "forkpool.protocol"),
    FP_NOMEM_ERR(FORKPOOL_ERR_LOST, "forkpool.lost"),
};

const forkpool_error *fp_task_err(const forkpool_task *t)
{
    return t->more && t->more->failed ? &t->more->err.err : &nomem_errs[t->err_kind];
}

void fp_task_clear_err(forkpool_task *t)
{
    if (!t->more || !t->more->failed)
        return;
    free(t->more->err.type);
    free(t->more->err.msg);
    t->more->err = (fp_err){{0, NULL, NULL, 0}, NULL, NULL};
    t->more->failed = 0;
}

/*
 * Records t's failure (replacing any earlier one). type NULL: the kind's own
 * type. If memory is short the type and message fall back to the kind's
 * own, or the whole record to a fixed one, so the error is never lost and
 * its message never empty.
 */
void fp_task_fail(forkpool_task *t, forkpool_error_kind kind, int code, const char *type,
                  const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    t->err_kind = (uint8_t)kind;
    if (!more_of(t))
        return; /* fp_task_err answers from err_kind */
    fp_err *e = &t->more->err;
    if (!t->more->failed)
        *e = (fp_err){{0, NULL, NULL, 0}, NULL, NULL};
    t->more->failed = 1;
    free(e->type);
    free(e->msg);
    e->type = type ? strdup(type) : NULL;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0 || !*msg) {
        free(msg);
        msg = NULL;
    }
    va_end(ap);
    e->msg = msg;
    e->err.kind = kind;
    e->err.code = code;
    e->err.type = e->type ? e->type : kind_types[kind];
    e->err.message = msg ? msg : kind_types[kind];
}

int fp_task_settled(const forkpool_task *t)
{
    return t->state == FORKPOOL_SUCCEEDED || t->state == FORKPOOL_FAILED;
}

int fp_task_done(const forkpool_task *t)
{
    return fp_task_settled(t) && !fp_list_linked(&t->dispatch) &&
           t->next_handler == t->nhandlers;
}

int fp_task_waiting(const forkpool_task *t)
{
    return t->state == FORKPOOL_RUNNING && t->proc && t->proc->task != t &&
           !(t->flags & FP_T_STARTED);
}

void fp_result_free(forkpool_task *t)
{
    if (t->flags & FP_T_MAPPED)
        munmap(t->result, t->result_len);
    else
        free(t->result);
    t->result = NULL;
    t->result_len = 0;
    t->flags &= ~(uint32_t)FP_T_MAPPED;
}

/* ---- the run queue and the dispatch list ---- */

forkpool_task *fp_queue_head(forkpool *pool)
{
    fp_list *n = fp_list_first(&pool->queue);
    return n ? FP_LIST_ITEM(n, forkpool_task, run) : NULL;
}

void fp_queue_push(forkpool *pool, forkpool_task *t)
{
    fp_list_push_tail(&pool->queue, &t->run);
    pool->nqueued++;
}

void fp_queue_push_front(forkpool *pool, forkpool_task *t)
{
    fp_list_push_head(&pool->queue, &t->run);
    pool->nqueued++;
    t->state = FORKPOOL_QUEUED;
    t->pid = 0;
}

void fp_queue_remove(forkpool *pool, forkpool_task *t)
{
    fp_list_remove(&t->run);
    pool->nqueued--;
}

void fp_wake(forkpool *pool)
{
    uint64_t one = 1;
    if (pool->wake_pending)
        return;
    /* Fails only if the counter would overflow, which one pending wake
       cannot make happen. */
    if (write(pool->eventfd, &one, sizeof one) == (ssize_t)sizeof one)
        pool->wake_pending = 1;
}

void fp_dispatch_push(forkpool_task *t)
{
    forkpool *pool = t->pool;
    if (fp_list_linked(&t->dispatch))
        return;
    fp_list_push_tail(&pool->dispatch, &t->dispatch);
    if (!pool->depth)
        fp_wake(pool);
}

int fp_dispatch_run(forkpool *pool)
{
    fp_list *n;
    int ran = 0;
    while (!pool->doomed && (n = fp_list_pop(&pool->dispatch))) {
        ran = 1;
        forkpool_task *t = FP_LIST_ITEM(n, forkpool_task, dispatch);
        t->pins++;
        fp_task_run_handlers(t);
        t->pins--;
        if (!pool->doomed)
            fp_task_maybe_free(t);
    }
    return ran;
}

int fp_msg_push(forkpool_task *t, unsigned char *data, size_t len)
{
    size_t cost = len + sizeof(fp_msg);
    struct fp_more *x = more_of(t);
    fp_msg *m = x ? malloc(sizeof *m) : NULL;
    if (!m) {
        free(data);
        fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL, "cannot allocate a message");
        return -1;
    }
    if (x->backlog + cost > FP_MSG_BACKLOG) {
        free(m);
        free(data);
        fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL,
                     "task sent more than %zu bytes of messages that no on_message "
                     "handler took",
                     FP_MSG_BACKLOG);
        errno = ENOBUFS;
        return -1;
    }
    x->backlog += cost;
    m->len = len;
    m->data = data;
    fp_list_push_tail(&x->msgs, &m->node);
    fp_dispatch_push(t);
    return 0;
}

static void msgs_free(forkpool_task *t)
{
    for (fp_list *n; t->more && (n = fp_list_pop(&t->more->msgs));) {
        fp_msg *m = FP_LIST_ITEM(n, fp_msg, node);
        free(m->data);
        free(m);
    }
}

/* Frees t; the caller has unlinked it from every list but `all`. */
void fp_task_free(forkpool_task *t)
{
    fp_list_remove(&t->all);
    for (uint32_t i = 0; i < t->nhandlers; i++)
        free(t->handlers[i].type);
    free(t->handlers);
    msgs_free(t);
    fp_result_free(t);
    fp_task_clear_err(t);
    fp_exec_free(t->exec);
    if (t->more)
        fp_buf_free(&t->more->stderr_tail);
    free(t->more);
    free(t);
}

static int has_handler(const forkpool_task *t, fp_handler_kind kind)
{
    for (uint32_t i = 0; i < t->nhandlers; i++)
        if (t->handlers[i].kind == kind)
            return 1;
    return 0;
}

/* Frees a released task once it is done, nothing refers to it and no
   on_message handler has messages waiting. */
void fp_task_maybe_free(forkpool_task *t)
{
    if ((t->flags & FP_T_RELEASED) && !t->pins && fp_task_done(t) &&
        !(has_msgs(t) && has_handler(t, FP_H_MESSAGE)))
        fp_task_free(t);
}

static forkpool_task *add_handler(forkpool_task *t, fp_handler h)
{
    if (t->nhandlers == t->cap_handlers) {
        uint32_t cap = t->cap_handlers ? t->cap_handlers * 2 : 2;
        fp_handler *hs = realloc(t->handlers, cap * sizeof *hs);
        if (!hs) {
            free(h.type);
            errno = ENOMEM;
            return NULL;
        }
        t->handlers = hs;
        t->cap_handlers = cap;
    }
    t->handlers[t->nhandlers++] = h;
    if (fp_task_settled(t) || (h.kind == FP_H_MESSAGE && has_msgs(t)))
        fp_dispatch_push(t);
    return t;
}

#define FP_CHECK_ARGS(t, fn)                                                                   \
    do {                                                                                       \
        if (!(t) || !(fn)) {                                                                   \
            errno = EINVAL;                                                                    \
            return NULL;                                                                       \
        }                                                                                      \
    } while (0)

forkpool_task *forkpool_then(forkpool_task *t, forkpool_then_fn fn, void *ud)
{
    FP_CHECK_ARGS(t, fn);
    fp_handler h = {.kind = FP_H_THEN, .fn.then = fn, .ud = ud};
    return add_handler(t, h);
}

forkpool_task *forkpool_catch(forkpool_task *t, forkpool_catch_fn fn, void *ud)
{
    FP_CHECK_ARGS(t, fn);
    fp_handler h = {.kind = FP_H_CATCH, .fn.catch_ = fn, .ud = ud};
    return add_handler(t, h);
}

forkpool_task *forkpool_catch_type(forkpool_task *t, const char *type, forkpool_catch_fn fn,
                                   void *ud)
{
    FP_CHECK_ARGS(t, fn);
    if (!type) {
        errno = EINVAL;
        return NULL;
    }
    fp_handler h = {.kind = FP_H_CATCH, .fn.catch_ = fn, .ud = ud, .type = strdup(type)};
    if (!h.type) {
        errno = ENOMEM;
        return NULL;
    }
    return add_handler(t, h);
}

forkpool_task *forkpool_timeout(forkpool_task *t, forkpool_timeout_fn fn, void *ud)
{
    FP_CHECK_ARGS(t, fn);
    fp_handler h = {.kind = FP_H_TIMEOUT, .fn.timeout = fn, .ud = ud};
    return add_handler(t, h);
}

forkpool_task *forkpool_on_message(forkpool_task *t, forkpool_message_fn fn, void *ud)
{
    FP_CHECK_ARGS(t, fn);
    fp_handler h = {.kind = FP_H_MESSAGE, .fn.message = fn, .ud = ud};
    return add_handler(t, h);
}

/* Delivers t's queued messages to its on_message handlers, if it has any. */
static void deliver_messages(forkpool_task *t)
{
    forkpool *pool = t->pool;
    if (!has_handler(t, FP_H_MESSAGE))
        return;
    fp_list *n;
    while (!pool->doomed && has_msgs(t) && (n = fp_list_pop(&t->more->msgs))) {
        fp_msg *m = FP_LIST_ITEM(n, fp_msg, node);
        t->more->backlog -= m->len + sizeof(fp_msg);
        /* Re-read nhandlers: a handler may add handlers. */
        for (uint32_t i = 0; i < t->nhandlers && !pool->doomed; i++) {
            fp_handler h = t->handlers[i];
            if (h.kind != FP_H_MESSAGE)
                continue;
            pool->in_handler++;
            h.fn.message(t, m->data ? (const void *)m->data : (const void *)"", m->len, h.ud);
            pool->in_handler--;
        }
        free(m->data);
        free(m);
    }
}

static int catch_matches(const fp_handler *h, const forkpool_task *t)
{
    return !h->type || strcmp(h->type, fp_task_err(t)->type) == 0;
}

static void call_handler(forkpool_task *t, const fp_handler *h)
{
    forkpool *pool = t->pool;
    int failed = t->state == FORKPOOL_FAILED;
    switch (h->kind) {
    case FP_H_THEN:
        if (failed)
            return;
        size_t len;
        const void *result = forkpool_task_result(t, &len);
        pool->in_handler++;
        h->fn.then(t, result, len, h->ud);
        break;
    case FP_H_CATCH:
        if (!failed || (t->flags & FP_T_TAKEN) || !catch_matches(h, t))
            return;
        t->flags |= FP_T_TAKEN;
        pool->in_handler++;
        h->fn.catch_(t, fp_task_err(t), h->ud);
        break;
    case FP_H_TIMEOUT:
        if (!failed || t->err_kind != FORKPOOL_ERR_TIMEOUT)
            return;
        pool->in_handler++;
        h->fn.timeout(t, h->ud);
        break;
    case FP_H_MESSAGE:
        return;
    }
    pool->in_handler--;
}

/* The pool's handlers, once per task, after the task's own first run:
   pool_then for a success, pool_catch for a failure none of the task's
   handlers took (which it then takes). */
static void run_pool_handlers(forkpool_task *t)
{
    forkpool *pool = t->pool;
    if (t->flags & FP_T_OWN)
        return;
    if (t->state == FORKPOOL_SUCCEEDED && pool->then_fn) {
        fp_handler h = {.kind = FP_H_THEN, .fn.then = pool->then_fn, .ud = pool->then_ud};
        call_handler(t, &h);
    } else if (t->state == FORKPOOL_FAILED && pool->catch_fn && !(t->flags & FP_T_TAKEN)) {
        fp_handler h = {.kind = FP_H_CATCH, .fn.catch_ = pool->catch_fn, .ud = pool->catch_ud};
        call_handler(t, &h);
    }
}

/*
 * Runs what is due for t: queued messages, then (once it finished) each
 * handler not yet run, in the order added. A failure no handler took on the
 * first run counts toward forkpool_await's return value.
 */
void fp_task_run_handlers(forkpool_task *t)
{
    forkpool *pool = t->pool;
    deliver_messages(t);
    if (!fp_task_settled(t) || pool->doomed)
        return;
    int first = !(t->flags & FP_T_SEEN);
    if (first) {
        t->flags |= FP_T_SEEN;
        if (t->state == FORKPOOL_FAILED && t->err_kind == FORKPOOL_ERR_TIMEOUT &&
            has_handler(t, FP_H_TIMEOUT))
            t->flags |= FP_T_TAKEN;
    }
    while (t->next_handler < t->nhandlers && !pool->doomed) {
        fp_handler h = t->handlers[t->next_handler++];
        call_handler(t, &h);
    }
    if (first && !pool->doomed)
        run_pool_handlers(t);
    /* A cancel was asked for: not a failure to report. */
    if (first && t->state == FORKPOOL_FAILED && !(t->flags & FP_T_TAKEN) &&
        t->err_kind != FORKPOOL_ERR_CANCELLED)
        pool->unhandled++;
}

void forkpool_pool_then(forkpool *pool, forkpool_then_fn fn, void *ud)
{
    if (!pool) {
        errno = EINVAL;
        return;
    }
    pool->then_fn = fn;
    pool->then_ud = fn ? ud : NULL;
}

void forkpool_pool_catch(forkpool *pool, forkpool_catch_fn fn, void *ud)
{
    if (!pool) {
        errno = EINVAL;
        return;
    }
    pool->catch_fn = fn;
    pool->catch_ud = fn ? ud : NULL;
}

forkpool_state forkpool_task_state(const forkpool_task *t)
{
    if (!t) {
        errno = EINVAL;
        return FORKPOOL_FAILED;
    }
    return fp_task_waiting(t) ? FORKPOOL_QUEUED : (forkpool_state)t->state;
}

const void *forkpool_task_result(const forkpool_task *t, size_t *len)
{
    if (len)
        *len = 0;
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    if (t->state != FORKPOOL_SUCCEEDED)
        return NULL;
    if (t->exec)
        return fp_buf_get(&t->exec->out, len);
    if (len)
        *len = t->result_len;
    return t->result ? (const void *)t->result : (const void *)"";
}

const forkpool_error *forkpool_task_error(const forkpool_task *t)
{
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    return t->state == FORKPOOL_FAILED ? fp_task_err(t) : NULL;
}

void fp_task_set_usage(forkpool_task *t, int64_t started, const fp_rusage *ru)
{
    struct fp_more *x = more_of(t);
    if (!x) {
        t->flags |= FP_T_NO_END;
        return;
    }
    forkpool_usage *u = &x->usage;
    int64_t now = fp_now();
    *u = (forkpool_usage){.wall_s = started && now > started ? (double)(now - started) / 1e9 : 0};
    if (ru) {
        u->user_s = (double)ru->user_us / 1e6;
        u->sys_s = (double)ru->sys_us / 1e6;
        u->max_rss_kib = ru->maxrss_kib;
    }
}

/* The last non-empty line of b (without its newline), at most 512 bytes
   of its end: *len, and where it starts (NULL: none). */
static const char *last_line(const fp_buf *b, size_t *len)
{
    const char *p = (const char *)b->p;
    size_t end = b->len;
    while (end > 0 && (p[end - 1] == '\n' || p[end - 1] == '\r' || p[end - 1] == ' '))
        end--;
    if (end == 0)
        return NULL;
    size_t start = end;
    while (start > 0 && p[start - 1] != '\n' && end - start < 512)
        start--;
    *len = end - start;
    return p + start;
}

void fp_task_take_stderr(forkpool_task *t, fp_buf *tail)
{
    struct fp_more *x = more_of(t);
    if (!x) {
        fp_buf_free(tail);
        return;
    }
    fp_buf *b = &x->stderr_tail;
    fp_buf_free(b);
    *b = *tail;
    *tail = (fp_buf){NULL, 0, 0};
    if (b->len > FP_ERR_TAIL) {
        memmove(b->p, b->p + b->len - FP_ERR_TAIL, FP_ERR_TAIL);
        b->len = FP_ERR_TAIL;
    }
    size_t n;
    const char *line = last_line(b, &n);
    int k = t->err_kind;
    if (!line || t->state != FORKPOOL_FAILED ||
        (k != FORKPOOL_ERR_SIGNALED && k != FORKPOOL_ERR_EXITED && k != FORKPOOL_ERR_THROWN))
        return;
    const forkpool_error *was = fp_task_err(t);
    char *msg = strdup(was->message), *type = strdup(was->type);
    if (msg && type)
        fp_task_fail(t, (forkpool_error_kind)k, was->code, type, "%s; stderr: %.*s", msg, (int)n,
                     line);
    free(msg);
    free(type);
}

int forkpool_task_usage(const forkpool_task *t, forkpool_usage *u)
{
    if (!t || !u) {
        errno = EINVAL;
        return -1;
    }
    if (!fp_task_settled(t)) {
        errno = EBUSY;
        return -1;
    }
    if (t->flags & FP_T_NO_END) {
        errno = ENOMEM;
        return -1;
    }
    /* No record: it never ran (cancelled before its start, or its start
       failed). */
    *u = t->more ? t->more->usage : (forkpool_usage){0, 0, 0, 0};
    return 0;
}

pid_t forkpool_task_pid(const forkpool_task *t)
{
    if (!t) {
        errno = EINVAL;
        return 0;
    }
    return fp_task_waiting(t) ? 0 : t->pid;
}

void forkpool_task_release(forkpool_task *t)
{
    if (!t || (t->flags & FP_T_RELEASED))
        return;
    t->flags |= FP_T_RELEASED;
    fp_task_maybe_free(t);
}

const void *forkpool_task_stdout(const forkpool_task *t, size_t *len)
{
    if (len)
        *len = 0;
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    if (t->exec)
        return fp_buf_get(&t->exec->out, len);
    return forkpool_task_result(t, len);
}

const void *forkpool_task_stderr(const forkpool_task *t, size_t *len)
{
    if (len)
        *len = 0;
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    if (t->exec)
        return fp_buf_get(&t->exec->err, len);
    return t->more ? fp_buf_get(&t->more->stderr_tail, len) : "";
}
