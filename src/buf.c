/* The growable byte buffer (buf.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

unsigned char *fp_buf_grow(fp_buf *b, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2)
                return NULL;
            cap *= 2;
        }
        unsigned char *q = realloc(b->p, cap);
        if (!q)
            return NULL;
        b->p = q;
        b->cap = cap;
    }
    unsigned char *at = b->p + b->len;
    b->len += n;
    return at;
}

int fp_buf_append(fp_buf *b, const void *p, size_t n)
{
    unsigned char *at = fp_buf_grow(b, n);
    if (!at)
        return -1;
    if (n)
        memcpy(at, p, n);
    return 0;
}

const void *fp_buf_get(const fp_buf *b, size_t *len)
{
    if (len)
        *len = b->len;
    return b->p ? (const void *)b->p : (const void *)"";
}

void fp_buf_free(fp_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

ssize_t fp_buf_read(fp_buf *b, int fd)
{
    enum { FP_BUF_READ = 65536 };
    unsigned char *at = fp_buf_grow(b, FP_BUF_READ);
    if (!at) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t n = read(fd, at, FP_BUF_READ);
    b->len -= FP_BUF_READ - (n > 0 ? (size_t)n : 0);
    return n;
}
