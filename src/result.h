/*
 * Large results as memory the parent maps instead of bytes it reads
 * (src/result.c): forkpool_result_buffer, and forkpool_return above
 * FP_MAP_MIN bytes.
 *
 * Child: the result lives in a memfd ("forkpool-result"), sealed against
 * shrinking and growing before the task's end. If the task succeeds, the
 * child sends RESULT_FD {its fd number, length} then END, and keeps the memfd
 * open until the parent has taken it (see fp_rbuf_hold). Results below
 * FP_MAP_MIN bytes, and every result when the runner cannot hold the memfd
 * (ctx->map_ok 0) or the memfd cannot be made, cross as RESULT bytes.
 *
 * Parent: on RESULT_FD it takes the memfd out of the child (pidfd_getfd, or
 * /proc/<pid>/fd/<n>), checks it, maps it read-only as the task's result
 * (FP_T_MAPPED) and closes it; on END it ends the child, which has nothing
 * left to do.
 */
#ifndef FP_RESULT_H
#define FP_RESULT_H

#include <stddef.h>

#include "forkpool.h"

/* Smallest result that crosses as a memfd. Below 32 KiB copying through
   the pipe is cheaper than creating, sealing, taking and mapping a memfd;
   from 64 KiB the memfd wins (bench/bigresult.c). 128 KiB is also glibc's
   first mmap threshold: a result this large would likely be a mapping of
   its own in the parent anyway, so mapped results cost no more of the
   parent's vm.max_map_count than copied ones. */
#define FP_MAP_MIN ((size_t)128 << 10)

/* A child's result waiting for its task's end. */
typedef struct fp_rbuf {
    unsigned char *p; /* the bytes: a mapping of fd, or malloc'd if fd < 0;
                         NULL with fd >= 0: written into fd, not mapped    */
    size_t len;
    int fd;           /* the memfd, or -1                                  */
} fp_rbuf;

#define FP_RBUF_NONE {NULL, 0, -1}

/* ---- in the child ---- */

/* A new buffer of len bytes replacing b's: a memfd mapping when map_ok and
   len >= FP_MAP_MIN, else malloc'd. NULL + errno (b unchanged) on failure. */
void *fp_rbuf_new(fp_rbuf *b, size_t len, int map_ok);
/* forkpool_result_resize: b's buffer (one fp_rbuf_new made) as len bytes,
   keeping the first min(old, len), the rest zero. NULL + errno (b
   unchanged) on failure. */
void *fp_rbuf_resize(fp_rbuf *b, size_t len, int map_ok);
/* forkpool_return's large path: copies data[0..len) into a new memfd as b.
   0, or -1 + errno (b unchanged; the caller sends the bytes instead). */
int fp_rbuf_copy(fp_rbuf *b, const void *data, size_t len);
/* Whether b holds a result. */
int fp_rbuf_pending(const fp_rbuf *b);
/* Seals b's memfd so it can never shrink (the parent's mapping could then
   fault) nor grow. 0, or -1 + errno. */
int fp_rbuf_seal(fp_rbuf *b);
/* Unmaps, closes or frees what b holds. */
void fp_rbuf_free(fp_rbuf *b);
/* FRESH, after RESULT_FD and END: waits, holding the memfd, until the parent
   ends the child (it SIGKILLs it once it has taken the memfd; SIGTERM from a
   timeout or cancel, and PR_SET_PDEATHSIG, end it too). A worker cannot end
   this way: it keeps the memfd open until the parent acknowledges having
   taken it, then calls fp_rbuf_free. */
_Noreturn void fp_rbuf_hold(void);

/* INLINE: len bytes of zeroed malloc'd memory that become t's result (replacing an
   earlier buffer). NULL + ENOMEM. */
void *fp_result_inline(forkpool_task *t, size_t len);
/* INLINE: t's result buffer (fp_result_inline's) resized as
   fp_rbuf_resize does. NULL + ENOMEM (unchanged). */
void *fp_result_inline_resize(forkpool_task *t, size_t len);

/* ---- in the parent ---- */

/* A RESULT_FD frame (payload checked by the decoder): takes, checks and maps
   the child's memfd as t's result (a worker never sends one: it cannot
   hold the memfd yet). 0, or -1 with t's error recorded (the
   caller stops reading and kills the child). A child that ended before its
   memfd was taken (killed, or it did not wait) is not killed: t is marked
   FP_T_LOST with its error recorded, and 0 is returned. */
int fp_result_take(forkpool_task *t, const unsigned char *payload);


#endif
