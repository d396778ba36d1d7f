/* sbuf.c: the growable string (contracts in sbuf.h). */
#include "sbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for `extra` more bytes plus the NUL; false once out of memory. */
static bool sb_reserve(struct sbuf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = true;
        return false;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (!sb_reserve(b, n))
        return;
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sb_adds(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) { /* only short numeric formats are used */
        b->oom = true;
        return;
    }
    sb_add(b, tmp, (size_t)n);
}

void sb_free(struct sbuf *b)
{
    free(b->p);
    *b = (struct sbuf){0};
}

char *sb_take(struct sbuf *b)
{
    sb_reserve(b, 0);
    if (b->oom) {
        sb_free(b);
        errno = ENOMEM;
        return NULL;
    }
    b->p[b->len] = '\0'; /* not yet written if nothing was appended */
    char *p = b->p;
    *b = (struct sbuf){0};
    return p;
}

int sb_write(struct sbuf *b, int fd)
{
    size_t len = b->len;
    char *s = sb_take(b);
    if (s == NULL)
        return -1;
    int r = fpc_write_all(fd, s, len);
    free(s);
    return r;
}
