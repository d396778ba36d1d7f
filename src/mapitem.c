/* forkpool_map's batch task, the child's side (mapitem.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "clock.h"
#include "mapitem.h"
#include "maprec.h"

/* Type and message are cut at FP_MAP_MAX_TEXT. */
int fp_rec_err(fp_buf *b, forkpool_error_kind kind, int32_t code, const char *type,
                      const char *msg)
{
    uint32_t tl = (uint32_t)strnlen(type, FP_MAP_MAX_TEXT);
    uint32_t ml = (uint32_t)strnlen(msg, FP_MAP_MAX_TEXT);
    unsigned char *p = fp_buf_grow(b, FP_REC_ERR_FIXED + tl + 1 + ml + 1);
    if (!p)
        return -1;
    uint32_t head = (uint32_t)kind << 2 | FP_REC_ERR;
    memcpy(p, &head, 4);
    memcpy(p + 4, &code, 4);
    memcpy(p + 8, &tl, 4);
    memcpy(p + 12, &ml, 4);
    p += FP_REC_ERR_FIXED;
    memcpy(p, type, tl);
    p[tl] = '\0';
    memcpy(p + tl + 1, msg, ml);
    p[tl + 1 + ml] = '\0';
    return 0;
}

struct fp_item {
    fp_buf out;            /* records not yet sent                         */
    size_t start;          /* where the current item's record begins       */
    int decided;           /* its record is final (thrown, or its result
                              could not be kept)                            */
    int broken;            /* no memory even for an error record           */
    size_t max_output;
    forkpool_ctx *ctx;     /* the batch task's own, to send with           */
    void *inline_to;
    void (*inline_take)(void *to, const void *p, size_t n);
    int64_t flush_ns;      /* report at least this often; 0: no clock      */
    int64_t flushed_at;    /* when the last report began                    */
};

/* The item's record becomes this error (whatever it returned before). */
static void item_fail(fp_item *c, forkpool_error_kind kind, int32_t code, const char *type,
                         const char *msg)
{
    c->out.len = c->start;
    c->decided = 1;
    if (fp_rec_err(&c->out, kind, code, type, msg) == -1)
        c->broken = 1;
}

static int item_return(fp_item *c, const void *data, size_t len)
{
    char msg[160];
    int over = c->max_output && len > c->max_output;
    size_t hl = len <= FP_REC_SMALL_MAX ? 4 : 12;
    unsigned char *p = over || len > SIZE_MAX - hl ? NULL : fp_buf_grow(&c->out, hl + len);
    if (!p) {
        int err = over ? EMSGSIZE : ENOMEM;
        if (over)
            snprintf(msg, sizeof msg, "map item's result of %zu bytes is over max_output (%zu bytes)",
                     len, c->max_output);
        else
            snprintf(msg, sizeof msg, "map item's result of %zu bytes cannot be kept: %s", len,
                     strerror(err));
        item_fail(c, FORKPOOL_ERR_OUTPUT, 0, "forkpool.output", msg);
        errno = err;
        return -1;
    }
    if (hl == 4) {
        uint32_t head = (uint32_t)len << 2 | FP_REC_OK;
        memcpy(p, &head, 4);
    } else {
        uint32_t head = FP_REC_BIG;
        uint64_t l64 = len;
        memcpy(p, &head, 4);
        memcpy(p + 4, &l64, 8);
    }
    if (len)
        memcpy(p + hl, data, len);
    return 0;
}

static void item_throw(fp_item *c, const char *type, const char *message)
{
    if (!c->decided)
        item_fail(c, FORKPOOL_ERR_THROWN, -1, type, message);
}

static const fp_item_ops item_sink = {item_return, item_throw};

/* After the item's function returned rc: its record is complete. */
static void item_end(fp_item *c, int rc)
{
    char msg[64];
    if (c->decided)
        return;
    if (rc != 0) {
        snprintf(msg, sizeof msg, "map item function returned %d", rc);
        item_fail(c, FORKPOOL_ERR_THROWN, rc, "forkpool.return", msg);
    } else if (c->out.len == c->start) {
        unsigned char *p = fp_buf_grow(&c->out, 4);
        if (p)
            memset(p, 0, 4); /* OK, 0 bytes */
        else
            c->broken = 1;
    }
}

/* Sends the buffered records, in messages no larger than max_output.
   0, or -1 if the parent is gone or gave up on the run. */
static int item_flush(fp_item *c)
{
    if (c->flush_ns)
        c->flushed_at = fp_now();
    if (c->inline_to) {
        c->inline_take(c->inline_to, c->out.p, c->out.len);
    } else {
        /* At least one message, even empty: it marks progress. */
        size_t off = 0;
        do {
            size_t n = c->out.len - off;
            if (c->max_output && n > c->max_output)
                n = c->max_output;
            if (forkpool_send(c->ctx, c->out.p + off, n) == -1)
                return -1;
            off += n;
        } while (off < c->out.len);
    }
    c->out.len = 0;
    return 0;
}

/*
 * Where the batch's items are (mapitem.h): the cursor hands out each in
 * turn. Copied items of varying sizes are checked against the argument's
 * length first.
 */
typedef struct fp_items {
    const unsigned char *at;    /* the next item's bytes (copied items)     */
    const unsigned char *lens;  /* copied items of varying sizes: the table */
    const forkpool_item *v;     /* items of varying sizes, in place         */
    size_t item_size;           /* 0: they vary                             */
} fp_items;

/* 0, or -1 if the argument is too short for the items h describes. */
static int items_open(fp_items *it, const fp_map_hdr *h, const void *arg, size_t len)
{
    const unsigned char *after = (const unsigned char *)arg + sizeof *h;
    size_t room = len - sizeof *h;
    it->item_size = h->item_size;
    it->v = h->item_size || !h->items ? NULL : h->items;
    it->at = h->items ? h->items : after;
    it->lens = NULL;
    if (h->items)
        return 0;
    if (h->item_size)
        return h->count > room / h->item_size ? -1 : 0;
    if (h->count > room / 8 || fp_map_round(h->count * 8) > room)
        return -1;
    it->lens = after;
    it->at = after + fp_map_round(h->count * 8);
    room -= fp_map_round(h->count * 8);
    for (uint64_t i = 0; i < h->count; i++) {
        uint64_t l;
        memcpy(&l, it->lens + i * 8, 8);
        if (l > room || fp_map_round((size_t)l) > room)
            return -1;
        room -= fp_map_round((size_t)l);
    }
    return 0;
}

/* Item i (each in turn, from 0) and its length; never NULL. */
static const void *items_next(fp_items *it, uint64_t i, size_t *len)
{
    const unsigned char *p = it->at;
    if (it->item_size) {
        *len = it->item_size;
        return p + i * it->item_size;
    }
    if (it->v) {
        *len = it->v[i].len;
        return it->v[i].data ? it->v[i].data : "";
    }
    uint64_t l;
    memcpy(&l, it->lens + i * 8, 8);
    *len = (size_t)l;
    it->at += fp_map_round((size_t)l);
    return p;
}

/* The batch task: each item in turn, reporting as it goes. */
int fp_map_batch(forkpool_ctx *ctx, const void *arg, size_t len)
{
    fp_map_hdr h;
    fp_items items;
    if (len < sizeof h)
        return forkpool_throw(ctx, "forkpool.protocol", "map batch without its header");
    memcpy(&h, arg, sizeof h);
    if (items_open(&items, &h, arg, len) == -1)
        return forkpool_throw(ctx, "forkpool.protocol", "map batch shorter than its items");
    fp_item c = {.max_output = h.max_output,
                 .ctx = ctx,
                 .inline_to = h.inline_to,
                 .inline_take = h.inline_take,
                 .flush_ns = h.flush_ns};
    int rc = 0;
    if (!fp_buf_grow(&c.out, FP_MAP_FLUSH_BYTES))
        return forkpool_throw(ctx, "forkpool.map", "map batch: no memory for its records");
    c.out.len = 0;
    if (h.flush_ns)
        rc = item_flush(&c); /* an empty report: the run started */
    for (uint64_t i = 0, unsent = 0; i < h.count && rc == 0 && !c.broken; i++) {
        c.start = c.out.len;
        c.decided = 0;
        size_t n;
        const void *p = items_next(&items, i, &n);
        item_end(&c, fp_item_call(h.fn, &c, &item_sink, p, n, c.max_output));
        if (i < h.careful || ++unsent >= FP_MAP_FLUSH_ITEMS || c.out.len >= FP_MAP_FLUSH_BYTES ||
            (c.flush_ns && fp_now() - c.flushed_at >= c.flush_ns)) {
            rc = item_flush(&c);
            unsent = 0;
        }
    }
    if (rc == 0 && c.broken) {
        /* The records before the one it could not make are whole: send
           them, and fail the run at that item. */
        (void)item_flush(&c);
        free(c.out.p);
        return forkpool_throw(ctx, "forkpool.map", "map batch: no memory to record an item");
    }
    if (rc == 0)
        rc = item_flush(&c);
    free(c.out.p);
    return rc;
}

