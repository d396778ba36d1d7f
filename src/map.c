/*
 * forkpool_map: many items per task.
 *
 * The items are cut into batches, a contiguous range each; a batch runs as
 * an ordinary task of the pool (so it works alike in every mode) whose
 * argument is a small header, followed by the items' bytes unless the child
 * can read them in place (forkpool_map_items: the same over items of
 * varying sizes, laid out as mapitem.h says). The task's function
 * (fp_map_batch, in the child) runs the user's function once per item with
 * a ctx of its own, whose forkpool_return and forkpool_throw append one
 * record per item to a buffer; the buffer goes to the parent as
 * forkpool_send messages every FP_MAP_FLUSH_ITEMS items or
 * FP_MAP_FLUSH_BYTES bytes (sooner under a timeout, see below), so a batch
 * that dies loses only what it had not sent.
 * The parent appends each message to its batch's stream, counts the whole
 * records, and calls on_result for the longest complete prefix of items
 * after every turn of the loop.
 *
 * A run that ends before reporting all its items (crash, exit, timeout, a
 * malformed stream) leaves a first unreported item. When the child had
 * reported items one by one up to it (the run's "careful" prefix), or it is
 * the last, that item is the guilty one: it fails with the run's error and
 * the rest of the batch runs again. Otherwise the guilty item is one of the
 * next FP_MAP_FLUSH_ITEMS, so the rest runs again with those reported one by
 * one, and the next failure there is exact.
 *
 * Timeouts (timeout_ms = T, per item): the child reports at least every T/4
 * (it reads the clock after each item), and every message marks progress. A
 * run whose last progress is older than T + T/4 has an item that ran past
 * T (the items completed since the last report took under T/4 together, so
 * the one running started less than T/4 after it); in the careful prefix,
 * where each report ends an item, the limit is T from the last report. The
 * parent cancels such a run and treats it as timed out. A run that has not
 * reported yet has no such deadline: the task's own limit, T per item plus
 * one, is the backstop (a child_init that hangs).
 *
 * Record stream, native byte order, unaligned: a u32 head whose low 2 bits
 * say what follows.
 *   OK:  head = len << 2; len bytes of result (len < 2^30)
 *   BIG: head = 1; u64 len; len bytes of result
 *   ERR: head = kind << 2 | 2; i32 code; u32 tlen; u32 mlen; type NUL;
 *        message NUL. A child sends only THROWN and OUTPUT; the parent
 *        writes the others itself into its copy of the stream.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "child.h"
#include "clock.h"
#include "mapitem.h"
#include "maprec.h"
#include "names.h"
#include "pool.h"
#include "task.h"

#define FP_MAP_BATCHES_PER_SLOT 4              /* batches per concurrency slot   */
#define FP_MAP_WINDOW_PER_SLOT 2               /* batches in flight per slot     */
#define FP_MAP_BATCH_BYTES ((size_t)1 << 20)   /* most item bytes in one batch   */


/* ---- the parent's state ---- */

typedef struct fp_map fp_map;

/* A range of items, and the run (task) working on what is left of it. */
typedef struct fp_batch {
    fp_map *m;             /* NULL: abandoned (see map_finish)           */
    fp_list node;          /* on the map's batches, in item order           */
    forkpool_task *task;   /* the current run, or NULL                       */
    size_t deliver;        /* the item whose record is next in `in`          */
    size_t reported;       /* items before this have a whole record          */
    size_t end;            /* one past the batch's last item                  */
    size_t launch;         /* the current run's first item                    */
    size_t careful;        /* its leading items reported one by one           */
    fp_buf in;             /* records [deliver, reported), then a partial one */
    size_t dpos, scan;     /* offsets of `deliver`'s record and of the end of
                              the last whole record                           */
    int64_t progress;      /* when the run last reported; 0: not yet          */
    int killed;            /* the run was cancelled by us for this kind       */
} fp_batch;

struct fp_map {
    forkpool *pool;
    forkpool_fn fn;
    const unsigned char *items;  /* forkpool_map: item_size bytes each     */
    const forkpool_item *vitems; /* forkpool_map_items (item_size 0)       */
    size_t count, item_size, per_batch, window;
    forkpool_map_fn on_result;
    void *ud;
    fp_list batches;
    size_t nbatches;
    size_t next;          /* first item in no batch yet                      */
    size_t failed;        /* items delivered with an error                   */
    unsigned long stops;  /* pool->stops when the map began                  */
    long timeout_ms;      /* per item; 0: none (and always in INLINE)         */
    int by_ref;           /* children read the items in place                */
    int err;              /* what ends the map early (an errno)              */
};

static fp_batch *batch_first(fp_map *m)
{
    fp_list *n = fp_list_first(&m->batches);
    return n ? FP_LIST_ITEM(n, fp_batch, node) : NULL;
}

static fp_batch *batch_next(fp_map *m, fp_batch *b)
{
    fp_list *n = fp_list_next(&m->batches, &b->node);
    return n ? FP_LIST_ITEM(n, fp_batch, node) : NULL;
}

/* Each batch, in item order. */
/* NOLINTNEXTLINE(bugprone-macro-parentheses): b is a declarator */
#define FP_BATCHES(b, m) for (fp_batch *b = batch_first(m); b; b = batch_next(m, b))

static int map_over(const fp_map *m)
{
    return m->err || m->pool->doomed || m->pool->stops != m->stops;
}

/* ---- the parent's side: taking records ---- */


/*
 * Takes bytes of b's current run's record stream (a message, or INLINE's
 * direct report): marks progress and counts the whole records. A malformed
 * stream, or more records than items, stops taking and cancels the run.
 */
static void batch_take(void *to, const void *p, size_t n)
{
    fp_batch *b = to;
    fp_map *m = b->m;
    if (!m || b->killed || m->err)
        return;
    if (m->timeout_ms)
        b->progress = fp_now();
    if (n && !fp_buf_grow(&b->in, n)) {
        m->err = ENOMEM;
        return;
    }
    if (n)
        memcpy(b->in.p + b->in.len - n, p, n);
    ptrdiff_t size;
    while ((size = fp_rec_size(b->in.p + b->scan, b->in.len - b->scan,
                               m->pool->opts.max_output)) > 0 &&
           b->reported < b->end) {
        b->scan += (size_t)size;
        b->reported++;
    }
    if (size < 0 || (size > 0 && b->reported == b->end)) {
        b->in.len = b->scan;
        b->killed = FORKPOOL_ERR_PROTOCOL;
        if (b->task)
            forkpool_cancel(b->task);
    }
}

static void batch_message(forkpool_task *t, const void *msg, size_t len, void *ud)
{
    (void)t;
    batch_take(ud, msg, len);
}

/* Takes a run's failure, so that it does not count as unhandled: what it
   means for the items is decided by batch_ended. */
static void batch_caught(forkpool_task *t, const forkpool_error *err, void *ud)
{
    (void)t;
    (void)err;
    (void)ud;
}

/* ---- the parent's side: runs ---- */

/* The bytes that items of varying sizes v[0..n) take after a batch's
   header when copied: their length table, then their bytes (mapitem.h).
   forkpool_map_items checked that it cannot overflow. */
static size_t var_size(const forkpool_item *v, size_t n)
{
    size_t bytes = fp_map_round(n * 8);
    for (size_t i = 0; i < n; i++)
        bytes += fp_map_round(v[i].len);
    return bytes;
}

/* Copies items of varying sizes v[0..n) to p, laid out as var_size counts
   them; p is zeroed already. */
static void var_copy(unsigned char *p, const forkpool_item *v, size_t n)
{
    unsigned char *data = p + fp_map_round(n * 8);
    for (size_t i = 0; i < n; i++) {
        uint64_t len = v[i].len;
        memcpy(p + i * 8, &len, 8);
        if (v[i].len)
            memcpy(data, v[i].data, v[i].len);
        data += fp_map_round(v[i].len);
    }
}

/* Starts a run for b's unreported items, the first `careful` of them
   reported one by one. If it cannot, m->err says why. */
static void batch_run(fp_map *m, fp_batch *b, size_t careful)
{
    forkpool *pool = m->pool;
    size_t n = b->end - b->reported;
    const void *first = m->vitems ? (const void *)(m->vitems + b->reported)
                                  : (const void *)(m->items + b->reported * m->item_size);
    fp_map_hdr h = {
        .fn = m->fn,
        .items = m->by_ref ? first : NULL,
        .inline_to = pool->opts.mode == FORKPOOL_INLINE ? b : NULL,
        .inline_take = batch_take,
        .item_size = m->item_size,
        .count = n,
        .careful = careful,
        .flush_ns = (int64_t)m->timeout_ms * 250000, /* T/4 */
        .max_output = pool->opts.max_output,
    };
    size_t bytes = sizeof h;
    if (!m->by_ref)
        bytes += m->vitems ? var_size(m->vitems + b->reported, n) : n * m->item_size;
    const void *arg = &h;
    unsigned char *copy = NULL;
    if (!m->by_ref) {
        /* Varying items leave gaps, which must not cross uninitialised. */
        if (!(copy = m->vitems ? calloc(1, bytes) : malloc(bytes))) {
            m->err = ENOMEM;
            return;
        }
        memcpy(copy, &h, sizeof h);
        if (m->vitems)
            var_copy(copy + sizeof h, m->vitems + b->reported, n);
        else
            memcpy(copy + sizeof h, first, n * m->item_size);
        arg = copy;
    }
    forkpool_task *t = forkpool_run(pool, fp_map_batch, arg, bytes);
    free(copy);
    if (!t) {
        m->err = errno;
        return;
    }
    t->flags |= FP_T_OWN;
    b->task = t;
    b->launch = b->reported;
    b->careful = careful;
    b->progress = 0;
    b->killed = 0;
    /* Whatever the pool's default, the run may take T per item (and one
       more T for starting): map_deadlines enforces T per item. */
    long limit = 0;
    if (m->timeout_ms)
        limit = (size_t)m->timeout_ms > (size_t)LONG_MAX / (n + 1) ? LONG_MAX
                                                                   : m->timeout_ms * (long)(n + 1);
    if (!forkpool_catch(t, batch_caught, NULL) ||
        !forkpool_on_message(t, batch_message, b) || !forkpool_set_timeout(t, limit)) {
        m->err = ENOMEM;
        forkpool_cancel(t);
    }
}

/* One past the last item of a new batch from `start`: per_batch items, and
   for items of varying sizes no more than FP_MAP_BATCH_BYTES of them (as
   copied), unless one item alone is larger. */
static size_t batch_end(const fp_map *m, size_t start)
{
    size_t end = m->count - start < m->per_batch ? m->count : start + m->per_batch;
    if (!m->vitems)
        return end;
    /* No sum overflows: forkpool_map_items checked the whole. */
    size_t i = start, bytes = 0;
    do
        bytes += fp_map_round(m->vitems[i++].len) + 8;
    while (i < end && bytes + fp_map_round(m->vitems[i].len) + 8 <= FP_MAP_BATCH_BYTES);
    return i;
}

/* Queues new batches while fewer than the window are in flight. */
static void map_launch(fp_map *m)
{
    while (m->nbatches < m->window && m->next < m->count && !m->err) {
        fp_batch *b = calloc(1, sizeof *b);
        if (!b) {
            m->err = ENOMEM;
            return;
        }
        b->m = m;
        b->deliver = b->reported = m->next;
        b->end = batch_end(m, m->next);
        m->next = b->end;
        fp_list_push_tail(&m->batches, &b->node);
        m->nbatches++;
        batch_run(m, b, 0);
    }
}

/*
 * b's run ended (its task is done). If items are left unreported, either
 * the first of them is known to be the guilty one (it was in the careful
 * prefix, or it is the last, or nothing ran at all: SPAWN): it fails with
 * the run's error, and the rest runs again; or the rest runs again with its
 * first FP_MAP_FLUSH_ITEMS reported one by one.
 */
static void batch_ended(fp_map *m, fp_batch *b)
{
    forkpool_task *t = b->task;
    const forkpool_error *e = forkpool_task_error(t);
    char msg[96];
    b->task = NULL;
    b->in.len = b->scan; /* a record cut short */
    size_t r = b->reported;
    if (e && e->kind == FORKPOOL_ERR_CANCELLED && !b->killed)
        m->err = ECANCELED; /* forkpool_stop: map_over knows already */
    if (r == b->end || map_over(m)) {
        forkpool_task_release(t);
        return;
    }
    forkpool_error why = {FORKPOOL_ERR_PROTOCOL, "forkpool.protocol",
                          "map batch ended without reporting every item", 0};
    if (b->killed == FORKPOOL_ERR_PROTOCOL)
        why.message = "map batch sent malformed records";
    else if (b->killed == FORKPOOL_ERR_TIMEOUT || (e && e->kind == FORKPOOL_ERR_TIMEOUT)) {
        snprintf(msg, sizeof msg, "map item ran past its %ld ms limit and was killed",
                 m->timeout_ms);
        why = (forkpool_error){FORKPOOL_ERR_TIMEOUT, "forkpool.timeout", msg, 0};
    } else if (e)
        why = *e;
    int exact = r < b->launch + b->careful || r + 1 == b->end || why.kind == FORKPOOL_ERR_SPAWN;
    if (exact && fp_rec_err(&b->in, why.kind, why.code, why.type, why.message) == -1)
        m->err = ENOMEM;
    forkpool_task_release(t);
    if (m->err)
        return;
    if (!exact) {
        batch_run(m, b, b->end - r < FP_MAP_FLUSH_ITEMS ? b->end - r : FP_MAP_FLUSH_ITEMS);
        return;
    }
    b->scan = b->in.len;
    if (++b->reported < b->end)
        batch_run(m, b, 0);
}

static void map_reap(fp_map *m)
{
    FP_BATCHES(b, m)
        if (b->task && fp_task_done(b->task))
            batch_ended(m, b);
}

/* Cancels runs that went too long without reporting (see the top of the
   file). Returns the ms until the next such deadline, or -1 for none. */
static int map_deadlines(fp_map *m)
{
    if (!m->timeout_ms)
        return -1;
    int64_t now = fp_now(), first = 0, limit = (int64_t)m->timeout_ms * 1000000;
    FP_BATCHES(b, m) {
        if (!b->task || !b->progress || b->killed)
            continue;
        int64_t due = b->progress + limit + (b->reported < b->launch + b->careful ? 0 : limit / 4);
        if (now < due) {
            if (!first || due < first)
                first = due;
        } else if (forkpool_cancel(b->task) == 0) {
            b->killed = FORKPOOL_ERR_TIMEOUT;
            b->in.len = b->scan;
        }
    }
    if (!first)
        return -1;
    int64_t ms = (first - now + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* ---- the parent's side: delivering ---- */

/* Calls on_result for the record at p (whole and checked). Its size. */
static size_t map_deliver_one(fp_map *m, size_t index, const unsigned char *p)
{
    uint32_t head, tl, ml;
    uint64_t len;
    memcpy(&head, p, 4);
    switch (head & 3) {
    case FP_REC_OK:
        m->on_result(index, p + 4, head >> 2, NULL, m->ud);
        return 4 + (head >> 2);
    case FP_REC_BIG:
        memcpy(&len, p + 4, 8);
        m->on_result(index, p + 12, (size_t)len, NULL, m->ud);
        return 12 + (size_t)len;
    default: {
        forkpool_error e;
        memcpy(&e.code, p + 4, 4);
        memcpy(&tl, p + 8, 4);
        memcpy(&ml, p + 12, 4);
        e.kind = (forkpool_error_kind)(head >> 2);
        e.type = (const char *)p + FP_REC_ERR_FIXED;
        e.message = e.type + tl + 1;
        m->failed++;
        m->on_result(index, NULL, 0, &e, m->ud);
        return FP_REC_ERR_FIXED + tl + 1 + ml + 1;
    }
    }
}

/*
 * Calls on_result for every item of the complete prefix, batch after
 * batch, and frees the batches that are done. Stops at once when the map
 * is over (a callback may have stopped or destroyed the pool).
 */
static void map_deliver(fp_map *m)
{
    FP_BATCHES(b, m) {
        if (map_over(m))
            break;
        while (b->dpos < b->scan && !map_over(m)) {
            b->dpos += map_deliver_one(m, b->deliver, b->in.p + b->dpos);
            b->deliver++;
        }
        if (b->dpos) { /* keep only the partial record, at the start */
            memmove(b->in.p, b->in.p + b->dpos, b->in.len - b->dpos);
            b->in.len -= b->dpos;
            b->scan -= b->dpos;
            b->dpos = 0;
        }
        if (b->deliver < b->end)
            break;
    }
    fp_batch *b;
    while ((b = batch_first(m)) && b->deliver == b->end && !b->task) {
        fp_list_pop(&m->batches);
        m->nbatches--;
        free(b->in.p);
        free(b);
    }
}

/* ---- driving ---- */

static int map_live(fp_map *m)
{
    FP_BATCHES(b, m)
        if (b->task)
            return 1;
    return 0;
}

/*
 * Ends the map: cancels the runs still going and waits for them (their
 * handlers point at the batches), then frees the batches. A destroyed pool
 * frees its tasks itself and runs no handler. If the loop fails while
 * waiting, the batches with a run are left allocated and abandoned (m
 * NULL), so handlers that still run find memory they may touch.
 */
static void map_finish(fp_map *m)
{
    forkpool *pool = m->pool;
    if (!pool->doomed) {
        FP_BATCHES(b, m)
            if (b->task)
                forkpool_cancel(b->task);
        for (;;) {
            FP_BATCHES(b, m)
                if (b->task && fp_task_done(b->task)) {
                    forkpool_task_release(b->task);
                    b->task = NULL;
                }
            if (pool->doomed || !map_live(m) || fp_step(pool, !fp_list_empty(&pool->dispatch) ? 0 : -1) == -1)
                break;
        }
    }
    for (fp_list *n; (n = fp_list_pop(&m->batches));) {
        fp_batch *b = FP_LIST_ITEM(n, fp_batch, node);
        free(b->in.p);
        b->in.p = NULL;
        if (b->task && !pool->doomed) {
            b->m = NULL;
            forkpool_task_release(b->task);
        } else {
            free(b);
        }
    }
}

static int map_drive(fp_map *m)
{
    forkpool *pool = m->pool;
    for (;;) {
        map_reap(m);
        map_deliver(m);
        if (map_over(m) || (fp_list_empty(&m->batches) && m->next == m->count))
            break;
        map_launch(m);
        int ms = map_deadlines(m);
        if (map_over(m))
            break;
        /* Handlers that our own calls made due (a cancel, a failed start)
           run in the step's first dispatch: do not then block. */
        if (fp_step(pool, !fp_list_empty(&pool->dispatch) ? 0 : ms) == -1) {
            m->err = errno;
            break;
        }
    }
    int err = m->err ? m->err : ECANCELED;
    int over = map_over(m);
    map_finish(m);
    if (over) {
        errno = err;
        return -1;
    }
    return m->failed > INT_MAX ? INT_MAX : (int)m->failed;
}

/* Runs the map m describes (its items, fn, on_result and ud set, its
   arguments checked): forkpool_map's value. */
static int map_run(fp_map *m)
{
    forkpool *pool = m->pool;
    char name[FP_NAME_MAX + 1];
    if (pool->opts.mode == FORKPOOL_MPI && fp_fn_name(m->fn, name) == -1) {
        errno = ENOENT;
        return -1;
    }
    if (!m->count)
        return 0;
    if (fp_enter(pool) == -1)
        return -1;
    const forkpool_options *o = &pool->opts;
    size_t slots = o->concurrency;
    size_t per = m->count / (slots * FP_MAP_BATCHES_PER_SLOT);
    if (per * slots * FP_MAP_BATCHES_PER_SLOT < m->count)
        per++;
    if (m->item_size) {
        size_t cap = FP_MAP_BATCH_BYTES / m->item_size;
        per = per < cap ? per : cap ? cap : 1;
    }
    m->per_batch = per;
    m->window = slots * FP_MAP_WINDOW_PER_SLOT;
    m->stops = pool->stops;
    m->timeout_ms = o->mode == FORKPOOL_INLINE ? 0 : o->timeout_ms;
    /* A FRESH child forked from this process now reads them in place. */
    m->by_ref = o->mode == FORKPOOL_INLINE || (o->mode == FORKPOOL_FRESH && !o->fork_server);
    fp_list_init(&m->batches);
    return fp_leave(pool, map_drive(m));
}

int forkpool_map(forkpool *pool, forkpool_fn fn, const void *items, size_t count,
                 size_t item_size, forkpool_map_fn on_result, void *ud)
{
    if (!pool || !fn || !on_result ||
        (count && (!items || !item_size || count > SIZE_MAX / item_size))) {
        errno = EINVAL;
        return -1;
    }
    fp_map m = {.pool = pool, .fn = fn, .items = items, .count = count,
                .item_size = item_size, .on_result = on_result, .ud = ud};
    return map_run(&m);
}

int forkpool_map_items(forkpool *pool, forkpool_fn fn, const forkpool_item *items, size_t count,
                       forkpool_map_fn on_result, void *ud)
{
    if (!pool || !fn || !on_result || (count && !items)) {
        errno = EINVAL;
        return -1;
    }
    /* Every batch's argument, and every sum of item sizes map.c makes,
       fits in a size_t if all the items' copies together do. */
    size_t total = sizeof(fp_map_hdr) + FP_MAP_ALIGN;
    for (size_t i = 0; i < count; i++) {
        size_t len = items[i].len;
        if ((!items[i].data && len) || len > SIZE_MAX - FP_MAP_ALIGN - 8 ||
            fp_map_round(len) + 8 > SIZE_MAX - total) {
            errno = EINVAL;
            return -1;
        }
        total += fp_map_round(len) + 8;
    }
    fp_map m = {.pool = pool, .fn = fn, .vitems = items, .count = count,
                .on_result = on_result, .ud = ud};
    return map_run(&m);
}
