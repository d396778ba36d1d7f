/*
 * forkpool_map's batch task, the child's side (mapitem.c): it runs the
 * user's function once per item with a ctx of its own and reports one
 * record per item (maprec.h) in messages; map.c is the parent's side.
 */
#ifndef FP_MAPITEM_H
#define FP_MAPITEM_H

#include <stdint.h>

#include "buf.h"
#include "forkpool.h"

#define FP_MAP_FLUSH_ITEMS 1024                /* a run reports at least every
                                                  this many items...              */
#define FP_MAP_FLUSH_BYTES ((size_t)64 << 10)  /* ...or this many bytes          */

/*
 * The batch task's argument (then, unless by_ref, the items). Its size is
 * a multiple of 16, so the items keep the alignment malloc gives.
 *
 * Items of one size (forkpool_map): item_size bytes each, contiguous. Items
 * that vary (forkpool_map_items, item_size 0): in place, `items` is their
 * forkpool_item array; else a u64 length per item follows the header, then
 * the items' bytes, each from a multiple of FP_MAP_ALIGN (the table too),
 * the gaps zero.
 */
typedef struct fp_map_hdr {
    _Alignas(16) forkpool_fn fn;
    const void *items;          /* the run's first item (item_size 0: its
                                   forkpool_item), in place; NULL: the items
                                   follow this header                       */
    void *inline_to;            /* INLINE: records go straight here,         */
    void (*inline_take)(void *to, const void *p, size_t n); /* through this */
    uint64_t item_size;         /* 0: the items vary                         */
    uint64_t count;
    uint64_t careful;           /* leading items reported one by one         */
    int64_t flush_ns;           /* report at least this often; 0: no clock   */
    uint64_t max_output;
    uint64_t zero;              /* 0: fills what would be padding, so every
                                   byte that crosses is set                  */
} fp_map_hdr;

_Static_assert(sizeof(fp_map_hdr) == 80, "fp_map_hdr has no padding");

#define FP_MAP_ALIGN 16

/* n rounded up to a multiple of FP_MAP_ALIGN (n <= SIZE_MAX - 15). */
static inline size_t fp_map_round(size_t n)
{
    return (n + FP_MAP_ALIGN - 1) & ~(size_t)(FP_MAP_ALIGN - 1);
}

/* The batch task's function: arg is an fp_map_hdr (then, unless its items
   are in place, the items). */
int fp_map_batch(forkpool_ctx *ctx, const void *arg, size_t len);

/* Appends an ERR record to b (the parent writes them too, for failures it
   learns of itself). 0, or -1 (no memory). */
int fp_rec_err(fp_buf *b, forkpool_error_kind kind, int32_t code, const char *type,
               const char *msg);

#endif
