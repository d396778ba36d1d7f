/* A growable byte buffer (buf.c): the one used for captured output,
   requests to workers and map records. */
#ifndef FP_BUF_H
#define FP_BUF_H

#include <stddef.h>
#include <sys/types.h>

typedef struct fp_buf {
    unsigned char *p;
    size_t len, cap;
} fp_buf;

/* Room for n more bytes at the end of b, its length grown by n (the bytes
   are the caller's to write), growing it geometrically. Their address, or
   NULL when there is no memory (b unchanged). */
unsigned char *fp_buf_grow(fp_buf *b, size_t n);
/* Appends p[0..n) to b. 0, or -1 (no memory; b unchanged). */
int fp_buf_append(fp_buf *b, const void *p, size_t n);
/* b's bytes ("" when it never had any) and their length (len may be
   NULL). */
const void *fp_buf_get(const fp_buf *b, size_t *len);
void fp_buf_free(fp_buf *b);
/* Reads what fd has, up to 64 KiB, onto the end of b: read's result (0 at
   the end of the stream; -1 + errno, EAGAIN included), or -1 with ENOMEM
   when b cannot grow. b keeps exactly the bytes read. */
ssize_t fp_buf_read(fp_buf *b, int fd);

#endif
