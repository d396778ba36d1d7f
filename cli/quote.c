/* quote.c: shell quoting (contract in quote.h). */
#include "quote.h"

#include <stdbool.h>

/* The characters GNU parallel leaves unquoted: [-_.+a-zA-Z0-9/]. */
static bool quote_safe(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '+' || c == '/';
}

void quote_add(struct sbuf *b, const char *s, size_t n)
{
    bool safe = true;
    for (size_t i = 0; i < n && safe; i++)
        safe = quote_safe((unsigned char)s[i]);
    if (n == 0) {
        sb_adds(b, "''");
        return;
    }
    if (safe) {
        sb_add(b, s, n);
        return;
    }
    struct sbuf q = {0};
    sb_adds(&q, "'");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'')
            sb_adds(&q, "'\"'\"'");
        else
            sb_add(&q, &s[i], 1);
    }
    sb_adds(&q, "'");
    if (q.oom) {
        sb_free(&q);
        b->oom = true;
        return;
    }
    const char *p = q.p;
    size_t len = q.len;
    if (len >= 2 && p[0] == '\'' && p[1] == '\'') {
        p += 2;
        len -= 2;
    }
    if (len >= 2 && p[len - 1] == '\'' && p[len - 2] == '\'')
        len -= 2;
    sb_add(b, p, len);
    sb_free(&q);
}
