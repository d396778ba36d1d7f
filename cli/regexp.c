/* regexp.c: --regexp's record separators (contracts in regexp.h). */
#include "regexp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpc.h"
#include "sbuf.h"

/* The POSIX bracket text for \d \s \w (their capitals negate); NULL: c is
   not one of them. */
static const char *class_of(char c)
{
    switch (tolower((unsigned char)c)) {
    case 'd': return "0-9";
    case 's': return "[:space:]";
    case 'w': return "[:alnum:]_";
    default: return NULL;
    }
}

/* The byte of a character escape at *s (after its backslash), which it
   consumes: \n \t \r \f \e \a, octal \0NN. -1: not one (nothing
   consumed). */
static int char_escape(const char **s)
{
    static const char from[] = "ntrfea", to[] = "\n\t\r\f\033\a";
    const char *k = **s != '\0' ? strchr(from, **s) : NULL;
    if (k != NULL) {
        (*s)++;
        return (unsigned char)to[k - from];
    }
    if (**s != '0')
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 3 && **s >= '0' && **s <= '7'; i++, (*s)++)
        v = v * 8 + (unsigned)(**s - '0');
    return (int)(v & 0xff);
}

static int refuse(const char *opt, const char *pat, const char *what)
{
    fpc_say("--regexp: %s '%s': %s is not supported (POSIX extended regular expressions, "
            "with Perl's \\n \\t \\d \\s \\w and (?:...))",
            opt, pat, what);
    return -1;
}

/* A byte as itself in an ERE, outside brackets. */
static void add_literal(struct sbuf *out, int b)
{
    char c = (char)b;
    if (strchr(".[]()*+?{}|^$\\", c) != NULL && c != '\0')
        sb_adds(out, "\\");
    sb_add(out, &c, 1);
}

/* [...] from *sp (after its '['), which it consumes. 0, or -1. */
static int bracket(const char **sp, struct sbuf *out, const char *opt, const char *pat)
{
    const char *s = *sp;
    struct sbuf body = {0};
    bool neg = *s == '^', close = false, dash = false;
    if (neg)
        s++;
    if (*s == ']') { /* a ] first is literal */
        close = true;
        s++;
    }
    int r = 0;
    while (r == 0 && *s != '\0' && *s != ']') {
        if (s[0] == '[' && s[1] == ':') { /* [:class:] as it is */
            const char *e = strstr(s + 2, ":]");
            size_t n = e != NULL ? (size_t)(e + 2 - s) : strlen(s);
            sb_add(&body, s, n);
            s += n;
            continue;
        }
        char c = *s++;
        if (c != '\\') {
            sb_add(&body, &c, 1);
            continue;
        }
        const char *cls = class_of(*s);
        int b;
        if (cls != NULL && islower((unsigned char)*s)) {
            sb_adds(&body, cls);
            s++;
        } else if (cls != NULL || (*s >= '1' && *s <= '9')) {
            r = refuse(opt, pat, "\\D, \\S, \\W or \\1..\\9 inside [...]");
        } else if ((b = char_escape(&s)) == 0) {
            r = refuse(opt, pat, "a NUL");
        } else if (b > 0) {
            char ch = (char)b;
            sb_add(&body, &ch, 1);
        } else if (*s == '\0') {
            r = refuse(opt, pat, "a trailing backslash");
        } else {
            char x = *s++; /* \] \- \\ \. ...: the character itself */
            if (x == ']')
                close = true;
            else if (x == '-')
                dash = true;
            else
                sb_add(&body, &x, 1);
        }
    }
    if (r == 0 && *s != ']')
        r = refuse(opt, pat, "an unclosed [");
    if (r == 0) {
        sb_printf(out, "[%s%s%.*s%s]", neg ? "^" : "", close ? "]" : "", (int)body.len,
                  body.p ? body.p : "", dash ? "-" : "");
        *sp = s + 1;
    }
    sb_free(&body);
    return r;
}

/* Appends Perl pattern pat as a POSIX extended one; *groups counts the
   groups it opens. 0, or -1 after a message. */
static int translate(const char *pat, struct sbuf *out, const char *opt, size_t *groups)
{
    const char *s = pat;
    *groups = 0;
    while (*s != '\0') {
        char c = *s++;
        if (c == '[') {
            if (bracket(&s, out, opt, pat) != 0)
                return -1;
            continue;
        }
        if (c == '(') {
            if (s[0] == '?' && s[1] != ':')
                return refuse(opt, pat, "(?...) other than (?:...)");
            s += s[0] == '?' ? 2 : 0;
            ++*groups;
            sb_adds(out, "(");
            continue;
        }
        if (strchr("*+?}", c) != NULL && *s == '?')
            return refuse(opt, pat, "a lazy quantifier (*? +? ?? {}?)");
        if (c != '\\') {
            sb_add(out, &c, 1);
            continue;
        }
        const char *cls = class_of(*s);
        int b;
        if (cls != NULL) {
            sb_printf(out, "[%s%s]", isupper((unsigned char)*s) ? "^" : "", cls);
            s++;
        } else if (*s >= '1' && *s <= '9') {
            return refuse(opt, pat, "a back-reference");
        } else if ((b = char_escape(&s)) == 0) {
            return refuse(opt, pat, "a NUL");
        } else if (b > 0) {
            add_literal(out, b);
        } else if (ispunct((unsigned char)*s)) {
            add_literal(out, *s++);
        } else {
            char what[16];
            snprintf(what, sizeof what, "\\%c", *s != '\0' ? *s : ' ');
            return refuse(opt, pat, *s != '\0' ? what : "a trailing backslash");
        }
    }
    return 0;
}

int rx_compile(struct rx *r, const char *recend, const char *recstart, bool lines)
{
    *r = (struct rx){0};
    struct sbuf s = {0};
    size_t ge, gs;
    sb_adds(&s, "(");
    if (translate(recend, &s, "--recend", &ge) != 0) {
        sb_free(&s);
        return -1;
    }
    sb_adds(&s, ")(");
    if (translate(recstart, &s, "--recstart", &gs) != 0) {
        sb_free(&s);
        return -1;
    }
    sb_adds(&s, ")");
    char *pat = sb_take(&s);
    if (pat == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    int rc = regcomp(&r->re, pat, REG_EXTENDED | (lines ? REG_NEWLINE : 0));
    free(pat);
    if (rc != 0) {
        char msg[200];
        regerror(rc, &r->re, msg, sizeof msg);
        fpc_say("--regexp: --recend '%s' --recstart '%s': %s", recend, recstart, msg);
        return -1;
    }
    r->ok = true;
    r->split = 2 + ge; /* (recend), its groups, then (recstart) */
    r->m = calloc(r->re.re_nsub + 1, sizeof *r->m);
    if (r->m == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    return 0;
}

void rx_free(struct rx *r)
{
    if (r->ok)
        regfree(&r->re);
    free(r->m);
    *r = (struct rx){0};
}

bool rx_span(struct rx *r, const char *b, size_t n, size_t pos, size_t *so, size_t *eo)
{
    if (pos > n)
        return false;
    r->m[0].rm_so = (regoff_t)pos;
    r->m[0].rm_eo = (regoff_t)n;
    if (regexec(&r->re, b, r->re.re_nsub + 1, r->m, REG_STARTEND) != 0)
        return false;
    *so = (size_t)r->m[0].rm_so;
    *eo = (size_t)r->m[0].rm_eo;
    return true;
}

bool rx_find(struct rx *r, const char *b, size_t n, size_t pos, size_t *start, size_t *split)
{
    size_t end;
    if (!rx_span(r, b, n, pos, start, &end))
        return false;
    *split = (size_t)r->m[r->split].rm_so;
    return true;
}
