/* batchopt.c: the values of the options of issue #12 items 1 and 3
   (contracts in batchopt.h). */
#include "batchopt.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fpc.h"

/* Parses -s: a number with an optional unit as GNU parallel reads it (k
   m g: powers of 1000; K M G, or ki mi gi in any case: powers of 1024).
   0 or -1. */
static int parse_size(const char *s, unsigned long *out)
{
    static const struct {
        const char *sfx;
        unsigned long mult;
    } units[] = {{"", 1},          {"k", 1000UL},         {"m", 1000000UL},
                 {"g", 1000000000UL}, {"K", 1024UL},      {"M", 1048576UL},
                 {"G", 1073741824UL}, {"ki", 1024UL},     {"Ki", 1024UL},
                 {"mi", 1048576UL},   {"Mi", 1048576UL},  {"gi", 1073741824UL},
                 {"Gi", 1073741824UL}};
    char num[32];
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n >= sizeof num)
        return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    unsigned long v;
    if (fpc_parse_ulong(num, &v) != 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(s + n, units[i].sfx) == 0) {
            if (v > ULONG_MAX / units[i].mult)
                return -1;
            *out = v * units[i].mult;
            return 0;
        }
    return -1;
}

/* Translates the Perl escapes GNU parallel's users write in --colsep (\t
   \n \r \f \v \d \D) into POSIX ERE; other escapes stay (glibc reads \s \S
   \w \W). NULL: ENOMEM. */
static char *colsep_ere(const char *s)
{
    char *out = malloc(strlen(s) * 6 + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (; *s; s++) {
        if (*s != '\\' || s[1] == '\0') {
            out[n++] = *s;
            continue;
        }
        const char *rep = NULL;
        char one = 0;
        switch (s[1]) {
        case 't': one = '\t'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 'f': one = '\f'; break;
        case 'v': one = '\v'; break;
        case 'd': rep = "[0-9]"; break;
        case 'D': rep = "[^0-9]"; break;
        default: break;
        }
        if (one != 0) {
            out[n++] = one;
        } else if (rep != NULL) {
            memcpy(out + n, rep, strlen(rep));
            n += strlen(rep);
        } else {
            out[n++] = s[0];
            out[n++] = s[1];
        }
        s++;
    }
    out[n] = '\0';
    return out;
}

int batchopt_colsep(regex_t *re, const char *s)
{
    char *ere = colsep_ere(s);
    if (ere == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    int r = regcomp(re, ere, REG_EXTENDED);
    free(ere);
    if (r != 0) {
        char msg[128];
        regerror(r, re, msg, sizeof msg);
        fpc_say("bad value '%s' for --colsep: %s", s, msg);
        return -1;
    }
    return 0;
}

int batchopt_apply(struct opts *o, const char *name, const char *val, const char *shown)
{
    unsigned long v;
    if (strcmp(name, "max-replace-args") == 0 || strcmp(name, "max-args") == 0) {
        if (fpc_parse_ulong(val, &v) != 0 || v > 1000000) {
            fpc_say("bad value '%s' for %s: expected a number of inputs (0 to 1000000)", val,
                    shown);
            return -1;
        }
        o->max_args = (long)v;
        o->replace_args = strcmp(name, "max-replace-args") == 0;
    } else if (strcmp(name, "multiple-args") == 0) {
        o->multi = 'm';
    } else if (strcmp(name, "context-replace") == 0) {
        o->multi = 'X';
    } else if (strcmp(name, "xargs") == 0) {
        o->multi = 'x';
    } else if (strcmp(name, "max-chars") == 0) {
        if (parse_size(val, &v) != 0 || v == 0) {
            fpc_say("bad value '%s' for %s: expected a number of characters (k, K...)", val,
                    shown);
            return -1;
        }
        o->max_chars = v;
    } else if (strcmp(name, "show-limits") == 0) {
        o->show_limits = true;
    } else if (strcmp(name, "link") == 0 || strcmp(name, "xapply") == 0) {
        o->link = true;
    } else if (strcmp(name, "colsep") == 0) {
        regex_t re;
        if (*val == '\0' || batchopt_colsep(&re, val) != 0) {
            if (*val == '\0')
                fpc_say("bad value '' for %s: expected a regular expression", shown);
            return -1;
        }
        regfree(&re);
        o->colsep = val;
    } else if (strcmp(name, "header") == 0) {
        if (*val == '\0') {
            fpc_say("bad value '' for %s: expected ':' (the first line) or a regex", shown);
            return -1;
        }
        o->header = val;
    } else if (strcmp(name, "eof") == 0) {
        o->eof_str = *val != '\0' ? val : NULL; /* -E '': none, as GNU parallel */
    } else if (strcmp(name, "no-run-if-empty") == 0) {
        o->no_empty = true;
    } else if (strcmp(name, "trim") == 0) {
        bool n = strcmp(val, "n") == 0, l = strcmp(val, "l") == 0, r = strcmp(val, "r") == 0,
             lr = strcmp(val, "lr") == 0 || strcmp(val, "rl") == 0;
        if (!(n || l || r || lr)) {
            fpc_say("bad value '%s' for %s: expected n, l, r, lr or rl", val, shown);
            return -1;
        }
        o->trim_l = l || lr;
        o->trim_r = r || lr;
        o->trim_given = true;
    } else if (strcmp(name, "arg-sep") == 0 || strcmp(name, "arg-file-sep") == 0) {
        if (*val == '\0') {
            fpc_say("bad value '' for %s: expected a separator word", shown);
            return -1;
        }
        if (name[4] == 's')
            o->arg_sep = val;
        else
            o->arg_file_sep = val;
    } else {
        fpc_say("internal error: option '%s' has no parser", shown);
        return -1;
    }
    return 0;
}
