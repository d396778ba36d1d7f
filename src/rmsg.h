/*
 * The messages between rank 0 and a serving rank (rmsg.c), whatever
 * carries them: a 16-byte header (type, pool, task; native byte order, as
 * every rank runs the same program on the same kind of machine) and the
 * type's fields. Writers append to an fp_buf; readers check every length,
 * so a malformed message is refused, never overrun.
 */
#ifndef FP_RMSG_H
#define FP_RMSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum fp_rmsg_type {
    FP_R_HELLO = 1, /* rank -> 0, first: u32 online CPUs                    */
    FP_R_POOL,      /* 0 -> rank: a pool (u32 concurrency, u64 max_output,
                       u64 max_memory, i64 max_cpu_ms, u32 keep_seed, u32
                       kill steps, each u32 signal and i64 wait_ms)        */
    FP_R_FREE,      /* 0 -> rank: the pool is gone: kill what it runs       */
    FP_R_RUN,       /* 0 -> rank: i64 timeout_ms, str name, str item name
                       (forkpool.map's batches: the user's function), bytes
                       argument                                           */
    FP_R_EXEC,      /* 0 -> rank: i64 timeout_ms, u32 capture, strv argv,
                       strv envp, str cwd, bytes input (absent: none)     */
    FP_R_CANCEL,    /* 0 -> rank: cancel the task                           */
    FP_R_RETIME,    /* 0 -> rank: i64 the task's new timeout_ms             */
    FP_R_END,       /* 0 -> rank: serve no more                             */
    FP_R_MSG,       /* rank -> 0: bytes, a message of the task              */
    FP_R_DONE,      /* rank -> 0: i32 pid, u32 state, u32 error kind, i32
                       code, str type, str message, bytes result (a
                       program's stdout), bytes stderr, then its usage:
                       u64 wall ns, u64 user us, u64 sys us, u64 peak
                       RSS KiB                                             */
    FP_R_BYE,       /* rank -> 0, last: it served its END                   */
    FP_R_START      /* rank -> 0: the task's child started: i32 its pid     */
};

#define FP_RMSG_HDR 16
/* Absent: a NULL strv (in place of its u32 count), a NULL str or bytes
   (in place of their u64 length); no real count or length is either. */
#define FP_RMSG_NONE_V UINT32_MAX
#define FP_RMSG_NONE UINT64_MAX

typedef struct fp_rmsg {
    uint32_t type, pool, task;
} fp_rmsg;

/* ---- writing: each returns 0, or -1 (no memory; b may hold a part) ---- */

int fp_rmsg_begin(fp_buf *b, uint32_t type, uint32_t pool, uint32_t task);
int fp_rmsg_u32(fp_buf *b, uint32_t v);
int fp_rmsg_u64(fp_buf *b, uint64_t v);
/* s with its NUL, or NULL. */
int fp_rmsg_str(fp_buf *b, const char *s);
/* A NULL-terminated vector of strings (fewer than FP_RMSG_NONE_V), or
   NULL. */
int fp_rmsg_strv(fp_buf *b, const char *const *v);
/* p[0..n), or none when p is NULL. */
int fp_rmsg_bytes(fp_buf *b, const void *p, size_t n);

/* ---- reading ---- */

typedef struct fp_rd {
    const unsigned char *p;
    size_t n, off;
    int bad; /* a read ran past the end or found a malformed field */
} fp_rd;

/* Reads the header of msg[0..len): 0, or -1 if it is too short. */
int fp_rmsg_open(fp_rd *r, fp_rmsg *h, const void *msg, size_t len);
uint32_t fp_rd_u32(fp_rd *r);
uint64_t fp_rd_u64(fp_rd *r);
/* A string in place (NUL-terminated), or NULL for none (or when bad). */
const char *fp_rd_str(fp_rd *r);
/* A malloc'd NULL-terminated vector pointing into the message, or NULL
   (none; or bad, or no memory: *err says which, 0 for none). */
const char **fp_rd_strv(fp_rd *r, int *err);
/* Bytes in place, *n their length; NULL with *n = 0 for none. */
const void *fp_rd_bytes(fp_rd *r, size_t *n);

/* ---- over a byte stream (a serving rank's relay and its agent) ---- */

/* Writes msg[0..len) as one frame (u64 length, then the bytes), waiting
   while fd is full. 0, or -1 + errno. */
int fp_rmsg_send(int fd, const void *msg, size_t len);
/* The first whole frame in in[0..len): its bytes and length, and *used
   the bytes it took with its length; NULL if none is whole yet. */
const unsigned char *fp_rmsg_next(const unsigned char *in, size_t len, size_t *msg_len,
                                  size_t *used);

#endif
