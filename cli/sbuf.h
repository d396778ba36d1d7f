/*
 * sbuf.h: a growable NUL-terminated byte string. Allocation failure is
 * sticky (`oom`): callers append freely and check once, in sb_take or
 * sb_write.
 * Start from `struct sbuf b = {0};`.
 */
#ifndef FPC_SBUF_H
#define FPC_SBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "fpc.h"

struct sbuf {
    char *p; /* NULL until the first append */
    size_t len, cap;
    bool oom;
};

/* Appends s[0..n) (may hold NUL bytes). */
void sb_add(struct sbuf *b, const char *s, size_t n);
void sb_adds(struct sbuf *b, const char *s);
/* Appends a short formatted string (under 128 bytes; longer sets oom). */
void sb_printf(struct sbuf *b, const char *fmt, ...) FPC_PRINTF(2, 3);
void sb_free(struct sbuf *b);
/* Hands over the string (never NULL on success, even when empty) and resets
   b; NULL with errno ENOMEM if any append failed (b is freed). */
char *sb_take(struct sbuf *b);
/* Writes the string to fd whole (fpc_write_all) and frees b. 0, or -1 and
   errno (ENOMEM if an append failed: nothing is written). */
int sb_write(struct sbuf *b, int fd);

#endif
