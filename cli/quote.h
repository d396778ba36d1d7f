/* quote.h: quoting for a POSIX shell, as GNU parallel quotes. */
#ifndef FPC_QUOTE_H
#define FPC_QUOTE_H

#include <stddef.h>

#include "sbuf.h"

/* Appends s[0..n) quoted for /bin/sh exactly as GNU parallel quotes
   (shell_quote_scalar_default): unchanged if every byte is one of
   [-_.+a-zA-Z0-9/], '' when empty, else in single quotes with each ' written
   as '"'"' and a leading or trailing '' removed. The shell reads the result
   back as the one word s (a NUL byte inside s cannot survive the shell). */
void quote_add(struct sbuf *b, const char *s, size_t n);

#endif
