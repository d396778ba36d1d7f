#include "wire.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkpool.h"

void fp_decoder_init(fp_decoder *d, size_t max_data)
{
    memset(d, 0, sizeof *d);
    d->max_data = max_data ? max_data : SIZE_MAX;
}

void fp_decoder_free(fp_decoder *d)
{
    free(d->buf);
    d->buf = NULL;
}

void fp_wire_header(unsigned char hdr[FP_WIRE_HDR], unsigned type, size_t len)
{
    uint32_t magic = FP_WIRE_MAGIC, t = type;
    uint64_t l = len;
    memcpy(hdr, &magic, 4);
    memcpy(hdr + 4, &t, 4);
    memcpy(hdr + 8, &l, 8);
}

__attribute__((format(printf, 3, 4)))
static int decode_fail(fp_decoder *d, int kind, const char *fmt, ...)
{
    va_list ap;
    d->error = kind;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof d->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* A RESULT_FD payload names a plausible fd and a result length within
   max_output (0 bytes never cross as a memfd). */
static int check_result_fd(fp_decoder *d)
{
    uint32_t fd;
    uint64_t len;
    memcpy(&fd, d->buf, 4);
    memcpy(&len, d->buf + 4, 8);
    if (fd > INT32_MAX || len == 0)
        return decode_fail(d, FORKPOOL_ERR_PROTOCOL,
                       "malformed frame from task: result fd %lu of %llu bytes",
                       (unsigned long)fd, (unsigned long long)len);
    if (len > d->max_data || len > PTRDIFF_MAX)
        return decode_fail(d, FORKPOOL_ERR_OUTPUT,
                       "task sent %llu bytes, over max_output (%llu bytes)",
                       (unsigned long long)len, (unsigned long long)d->max_data);
    return 0;
}

/* Hands the finished frame to fn and resets for the next header. */
static int emit_frame(fp_decoder *d, fp_frame_fn fn, void *ud)
{
    if (d->type == FP_FRAME_RESULT_FD && check_result_fd(d) != 0)
        return -1;
    unsigned char *p = d->buf;
    size_t len = d->len;
    unsigned type = d->type;
    d->buf = NULL;
    d->len = d->got = d->cap = 0;
    d->in_payload = 0;
    d->hdr_got = 0;
    if (fn(ud, type, p, len) != 0) {
        d->error = 0;
        d->message[0] = '\0';
        return -1;
    }
    return 0;
}

/* The header is complete: check it and get ready for the payload. */
static int header_done(fp_decoder *d, fp_frame_fn fn, void *ud)
{
    uint32_t magic, type;
    uint64_t len;
    memcpy(&magic, d->hdr, 4);
    memcpy(&type, d->hdr + 4, 4);
    memcpy(&len, d->hdr + 8, 8);
    if (magic != FP_WIRE_MAGIC)
        return decode_fail(d, FORKPOOL_ERR_PROTOCOL,
                       "malformed frame from task: bad magic 0x%08x",
                       (unsigned)magic);
    switch (type) {
    case FP_FRAME_MESSAGE:
    case FP_FRAME_RESULT:
        if (len > d->max_data)
            return decode_fail(d, FORKPOOL_ERR_OUTPUT,
                           "task sent %llu bytes, over max_output (%llu bytes)",
                           (unsigned long long)len, (unsigned long long)d->max_data);
        break;
    case FP_FRAME_THROW:
        if (len < 8 || len > FP_WIRE_MAX_THROW)
            return decode_fail(d, FORKPOOL_ERR_PROTOCOL,
                           "malformed frame from task: error frame of %llu bytes",
                           (unsigned long long)len);
        break;
    case FP_FRAME_END:
        if (len != FP_WIRE_END_LEN && len != FP_WIRE_END_USAGE_LEN)
            return decode_fail(d, FORKPOOL_ERR_PROTOCOL,
                           "malformed frame from task: end frame of %llu bytes",
                           (unsigned long long)len);
        break;
    case FP_FRAME_SPAWN:
        if (len != FP_WIRE_SPAWN_LEN)
            return decode_fail(d, FORKPOOL_ERR_PROTOCOL,
                           "malformed frame from task: spawn frame of %llu bytes",
                           (unsigned long long)len);
        break;
    case FP_FRAME_WAKE:
        if (len != 0)
            return decode_fail(d, FORKPOOL_ERR_PROTOCOL,
                           "malformed frame from task: wake frame of %llu bytes",
                           (unsigned long long)len);
        break;
    case FP_FRAME_RESULT_FD:
        if (len != FP_WIRE_RESULT_FD_LEN)
            return decode_fail(d, FORKPOOL_ERR_PROTOCOL,
                           "malformed frame from task: result fd frame of %llu bytes",
                           (unsigned long long)len);
        break;
    default:
        return decode_fail(d, FORKPOOL_ERR_PROTOCOL,
                       "malformed frame from task: unknown type %u", (unsigned)type);
    }
    if (len > SIZE_MAX - 1)
        return decode_fail(d, FORKPOOL_ERR_OUTPUT, "task sent %llu bytes, too many to hold",
                       (unsigned long long)len);
    d->type = type;
    d->len = (size_t)len;
    d->got = 0;
    d->in_payload = 1;
    if (d->len == 0)
        return emit_frame(d, fn, ud);
    return 0;
}

/* Makes room for at least `need` payload bytes (need <= len). */
static int reserve_payload(fp_decoder *d, size_t need)
{
    if (need <= d->cap)
        return 0;
    size_t cap = d->cap ? d->cap : FP_WIRE_FIRST_ALLOC;
    while (cap < need && cap <= d->len / 2)
        cap *= 2;
    if (cap < need || cap > d->len)
        cap = cap < need ? need : d->len;
    /* glibc moves large blocks with mremap: growing copies nothing. */
    unsigned char *b = realloc(d->buf, cap);
    if (!b)
        return decode_fail(d, FORKPOOL_ERR_OUTPUT,
                       "cannot allocate %llu bytes for the task's output",
                       (unsigned long long)cap);
    d->buf = b;
    d->cap = cap;
    return 0;
}

int fp_decoder_feed(fp_decoder *d, const void *bytes, size_t n, fp_frame_fn fn, void *ud)
{
    const unsigned char *p = bytes;
    while (n > 0) {
        size_t take;
        if (!d->in_payload) {
            take = FP_WIRE_HDR - d->hdr_got;
            if (take > n)
                take = n;
            memcpy(d->hdr + d->hdr_got, p, take);
            d->hdr_got += take;
            if (d->hdr_got == FP_WIRE_HDR && header_done(d, fn, ud) != 0)
                return -1;
        } else {
            take = d->len - d->got;
            if (take > n)
                take = n;
            if (reserve_payload(d, d->got + take) != 0)
                return -1;
            memcpy(d->buf + d->got, p, take);
            d->got += take;
            if (d->got == d->len && emit_frame(d, fn, ud) != 0)
                return -1;
        }
        p += take;
        n -= take;
    }
    return 0;
}

int fp_decoder_idle(const fp_decoder *d)
{
    return !d->in_payload && d->hdr_got == 0;
}

size_t fp_decoder_direct(fp_decoder *d, void **dst)
{
    if (!d->in_payload)
        return 0;
    if (d->got == d->cap) {
        size_t more = d->len - d->got, step = d->cap ? d->cap : FP_WIRE_FIRST_ALLOC;
        if (more > step)
            more = step;
        if (reserve_payload(d, d->got + more) != 0)
            return 0; /* feed reports the failure on the next bytes */
    }
    *dst = d->buf + d->got;
    return d->cap - d->got;
}

int fp_decoder_direct_done(fp_decoder *d, size_t n, fp_frame_fn fn, void *ud)
{
    d->got += n;
    if (d->got == d->len)
        return emit_frame(d, fn, ud);
    return 0;
}

void fp_wire_result_fd(unsigned char p[FP_WIRE_RESULT_FD_LEN], int fd, size_t len)
{
    uint32_t f = (uint32_t)fd;
    uint64_t l = len;
    memcpy(p, &f, 4);
    memcpy(p + 4, &l, 8);
}

void fp_wire_parse_result_fd(const unsigned char *p, int *fd, size_t *len)
{
    uint32_t f;
    uint64_t l;
    memcpy(&f, p, 4);
    memcpy(&l, p + 4, 8);
    *fd = (int)f;
    *len = (size_t)l;
}

void fp_wire_end_usage(unsigned char p[FP_WIRE_END_USAGE_LEN], int32_t rc, uint64_t user_us,
                       uint64_t sys_us, uint64_t maxrss_kib)
{
    const uint32_t zero = 0;
    memcpy(p, &rc, 4);
    memcpy(p + 4, &zero, 4);
    memcpy(p + 8, &user_us, 8);
    memcpy(p + 16, &sys_us, 8);
    memcpy(p + 24, &maxrss_kib, 8);
}

int fp_wire_parse_end(const unsigned char *p, size_t len, int32_t *rc, uint64_t usage[3])
{
    memcpy(rc, p, 4);
    if (len != FP_WIRE_END_USAGE_LEN)
        return 0;
    memcpy(usage, p + 8, 24);
    return 1;
}

void fp_wire_spawn(unsigned char f[FP_WIRE_HDR + FP_WIRE_SPAWN_LEN], int err, int step)
{
    int32_t e = err, st = step;
    fp_wire_header(f, FP_FRAME_SPAWN, FP_WIRE_SPAWN_LEN);
    memcpy(f + FP_WIRE_HDR, &e, 4);
    memcpy(f + FP_WIRE_HDR + 4, &st, 4);
}

void fp_wire_parse_spawn(const unsigned char *p, int *err, int *step)
{
    int32_t e, st;
    memcpy(&e, p, 4);
    memcpy(&st, p + 4, 4);
    *err = e;
    *step = st;
}

int fp_wire_is(const unsigned char hdr[FP_WIRE_HDR], unsigned type, size_t len)
{
    unsigned char want[FP_WIRE_HDR];
    fp_wire_header(want, type, len);
    return memcmp(hdr, want, FP_WIRE_HDR) == 0;
}

_Static_assert(sizeof(void (*)(void)) <= 8, "a function pointer fits a call's header");

void fp_call_header(unsigned char h[FP_CALL_HDR], uint32_t seq, void (*fn)(void))
{
    memset(h, 0, FP_CALL_HDR);
    memcpy(h, &seq, 4);
    memcpy(h + 8, &fn, sizeof fn);
}

int fp_call_parse(const unsigned char *p, size_t len, uint32_t *seq, void (**fn)(void),
                  const unsigned char **arg, size_t *arg_len)
{
    if (len < FP_CALL_HDR)
        return -1;
    memcpy(seq, p, 4);
    memcpy(fn, p + 8, sizeof *fn);
    *arg = p + FP_CALL_HDR;
    *arg_len = len - FP_CALL_HDR;
    return 0;
}

int fp_wire_parse_throw(const unsigned char *p, size_t len, int *code, const char **type,
                        size_t *type_len, const char **msg, size_t *msg_len)
{
    int32_t c;
    uint32_t tl;
    if (!p || len < 8)
        return -1;
    memcpy(&c, p, 4);
    memcpy(&tl, p + 4, 4);
    if (tl > len - 8)
        return -1;
    *code = c;
    *type = (const char *)p + 8;
    *type_len = tl;
    *msg = (const char *)p + 8 + tl;
    *msg_len = len - 8 - tl;
    return 0;
}
