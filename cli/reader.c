/* reader.c: the record reader (contracts in reader.h). */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int reader_next(struct reader *r, char **rec)
{
    if (r->buf == NULL)
        return 0; /* nothing read yet */
    size_t avail = r->len - r->start;
    char *base = r->buf + r->start;
    if (avail >= r->dlen && avail > 0) {
        char *hit = r->dlen == 1 ? memchr(base + r->scanned, r->delim[0], avail - r->scanned)
                                 : memmem(base + r->scanned, avail - r->scanned, r->delim,
                                          r->dlen);
        if (hit != NULL) {
            *hit = '\0';
            *rec = base;
            r->start += (size_t)(hit - base) + r->dlen;
            r->scanned = 0;
            return 1;
        }
        r->scanned = avail - (r->dlen - 1);
    }
    if (!r->eof)
        return 0;
    if (avail == 0)
        return -1;
    r->buf[r->len] = '\0'; /* reader_fill always leaves a spare byte */
    *rec = base;
    r->start = r->len;
    r->scanned = 0;
    return 1;
}

int reader_fill(struct reader *r)
{
    enum { CHUNK = 64 * 1024 };
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
    }
    if (r->cap - r->len < (size_t)CHUNK + 1) {
        size_t cap = r->cap ? r->cap * 2 : 2 * (size_t)CHUNK;
        while (cap - r->len < (size_t)CHUNK + 1)
            cap *= 2;
        char *b = realloc(r->buf, cap);
        if (b == NULL)
            return -1;
        r->buf = b;
        r->cap = cap;
    }
    ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len - 1);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    if (n == 0)
        r->eof = true;
    r->len += (size_t)n;
    return 0;
}

int reader_open(struct reader *r, const char *path, const char *delim, size_t dlen)
{
    *r = (struct reader){.fd = STDIN_FILENO, .delim = delim, .dlen = dlen};
    if (strcmp(path, "-") == 0)
        return 0;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0)
        return -1;
    r->close_fd = true;
    return 0;
}

void reader_close(struct reader *r)
{
    if (r->close_fd)
        close(r->fd);
    free(r->buf);
    r->buf = NULL;
    r->close_fd = false;
}
