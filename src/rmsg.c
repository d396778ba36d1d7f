/*
 * Writing and reading the messages between ranks (rmsg.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/uio.h>

#include "rmsg.h"

int fp_rmsg_begin(fp_buf *b, uint32_t type, uint32_t pool, uint32_t task)
{
    b->len = 0;
    return fp_rmsg_u32(b, type) | fp_rmsg_u32(b, pool) | fp_rmsg_u32(b, task) |
           fp_rmsg_u32(b, 0);
}

int fp_rmsg_u32(fp_buf *b, uint32_t v)
{
    return fp_buf_append(b, &v, sizeof v);
}

int fp_rmsg_u64(fp_buf *b, uint64_t v)
{
    return fp_buf_append(b, &v, sizeof v);
}

int fp_rmsg_str(fp_buf *b, const char *s)
{
    if (!s)
        return fp_rmsg_u64(b, FP_RMSG_NONE);
    return fp_rmsg_bytes(b, s, strlen(s) + 1);
}

int fp_rmsg_strv(fp_buf *b, const char *const *v)
{
    if (!v)
        return fp_rmsg_u32(b, FP_RMSG_NONE_V);
    uint32_t n = 0;
    while (v[n])
        if (++n == FP_RMSG_NONE_V)
            return -1;
    int rc = fp_rmsg_u32(b, n);
    for (uint32_t i = 0; i < n; i++)
        rc |= fp_rmsg_str(b, v[i]);
    return rc;
}

int fp_rmsg_bytes(fp_buf *b, const void *p, size_t n)
{
    if (!p)
        return fp_rmsg_u64(b, FP_RMSG_NONE);
    if (fp_rmsg_u64(b, n) == -1)
        return -1;
    return n ? fp_buf_append(b, p, n) : 0;
}

int fp_rmsg_open(fp_rd *r, fp_rmsg *h, const void *msg, size_t len)
{
    r->p = msg;
    r->n = len;
    r->off = 0;
    r->bad = len < FP_RMSG_HDR;
    h->type = fp_rd_u32(r);
    h->pool = fp_rd_u32(r);
    h->task = fp_rd_u32(r);
    (void)fp_rd_u32(r);
    return r->bad ? -1 : 0;
}

/* The next n bytes, or NULL (and bad) if there are not that many. */
static const unsigned char *take(fp_rd *r, size_t n)
{
    if (r->bad || n > r->n - r->off) {
        r->bad = 1;
        return NULL;
    }
    const unsigned char *p = r->p + r->off;
    r->off += n;
    return p;
}

uint32_t fp_rd_u32(fp_rd *r)
{
    uint32_t v = 0;
    const unsigned char *p = take(r, sizeof v);
    if (p)
        memcpy(&v, p, sizeof v);
    return v;
}

uint64_t fp_rd_u64(fp_rd *r)
{
    uint64_t v = 0;
    const unsigned char *p = take(r, sizeof v);
    if (p)
        memcpy(&v, p, sizeof v);
    return v;
}

const void *fp_rd_bytes(fp_rd *r, size_t *n)
{
    uint64_t len = fp_rd_u64(r);
    *n = 0;
    if (r->bad || len == FP_RMSG_NONE || len == 0)
        return r->bad || len ? NULL : r->p + r->off;
    const void *p = take(r, len);
    if (p)
        *n = (size_t)len;
    return p;
}

const char *fp_rd_str(fp_rd *r)
{
    size_t n;
    const char *s = fp_rd_bytes(r, &n);
    if (!s)
        return NULL;
    if (!n || s[n - 1] || memchr(s, 0, n - 1)) {
        r->bad = 1;
        return NULL;
    }
    return s;
}

const char **fp_rd_strv(fp_rd *r, int *err)
{
    uint32_t n = fp_rd_u32(r);
    *err = 0;
    if (r->bad || n == FP_RMSG_NONE_V) {
        *err = r->bad ? EPROTO : 0;
        return NULL;
    }
    /* Each string takes at least 9 bytes: a count past that is a lie. */
    if (n > (r->n - r->off) / 9) {
        r->bad = 1;
        *err = EPROTO;
        return NULL;
    }
    const char **v = calloc((size_t)n + 1, sizeof *v);
    if (!v) {
        *err = ENOMEM;
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++)
        if (!(v[i] = fp_rd_str(r))) {
            free(v);
            r->bad = 1;
            *err = EPROTO;
            return NULL;
        }
    return v;
}

int fp_rmsg_send(int fd, const void *msg, size_t len)
{
    uint64_t n = len;
    struct iovec iov[2] = {{&n, sizeof n}, {(void *)msg, len}};
    struct iovec *v = iov;
    int cnt = 2;
    while (cnt) {
        ssize_t w = writev(fd, v, cnt);
        if (w < 0) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (errno == EAGAIN)
                poll(&p, 1, -1);
            else if (errno != EINTR)
                return -1;
            continue;
        }
        size_t left = (size_t)w;
        for (; cnt && left >= v->iov_len; v++, cnt--)
            left -= v->iov_len;
        if (cnt) {
            v->iov_base = (char *)v->iov_base + left;
            v->iov_len -= left;
        }
    }
    return 0;
}

const unsigned char *fp_rmsg_next(const unsigned char *in, size_t len, size_t *msg_len,
                                  size_t *used)
{
    uint64_t n;
    if (len < sizeof n)
        return NULL;
    memcpy(&n, in, sizeof n);
    if (n > len - sizeof n)
        return NULL;
    *msg_len = (size_t)n;
    *used = sizeof n + (size_t)n;
    return in + sizeof n;
}
