/*
 * The record stream of forkpool_map (map.c): what a batch's child reports
 * per item, in MESSAGE frames, and the parent decodes. The child may be
 * crashed or hostile, so the decoder validates everything; it has a
 * libFuzzer target of its own (tests/fuzz/fuzz_map.c).
 *
 * OK record: u32 head = len << 2 | FP_REC_OK, then len bytes (len <=
 * FP_REC_SMALL_MAX); BIG: u32 head = FP_REC_BIG, u64 len, then len bytes;
 * ERR: u32 head = kind << 2 | FP_REC_ERR (THROWN or OUTPUT), i32 code,
 * u32 type length, u32 message length, then type and message, each
 * NUL-terminated, non-empty, with no NUL inside. Native byte order.
 */
#ifndef FP_MAPREC_H
#define FP_MAPREC_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define FP_MAP_MAX_TEXT (FP_WIRE_MAX_THROW / 2) /* longest error type or message */
enum { FP_REC_OK = 0, FP_REC_BIG = 1, FP_REC_ERR = 2 };
#define FP_REC_SMALL_MAX (UINT32_MAX >> 2)
#define FP_REC_ERR_FIXED 16 /* head, code, tlen, mlen */

/*
 * The size of the record at p[0..avail) if it is whole and well formed
 * (then > 0), 0 if it is not whole yet, or -1 if it is malformed.
 * max_output: the pool's (0: unlimited).
 */
ptrdiff_t fp_rec_size(const unsigned char *p, size_t avail, size_t max_output);

#endif
