/* --header's rewriting (cli/header.c) and --colsep's regex translation
   (cli/batchopt.c) on their own. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "batchopt.h"
#include "header.h"
#include "tap.h"

/* Rewrites a copy of the words for name -> id; true if they become want. */
static bool rewrites(const char *const *words, size_t n, const char *name, size_t id,
                     const char *const *want)
{
    char *w[8];
    for (size_t i = 0; i < n; i++)
        w[i] = strdup(words[i]);
    bool good = header_rewrite(w, n, name, id) == 0;
    for (size_t i = 0; i < n; i++) {
        if (!good || strcmp(w[i], want[i]) != 0) {
            diag("word %zu: '%s', want '%s'", i, w[i], want[i]);
            good = false;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(w[i]);
    return good;
}

#define W(...) ((const char *const[]){__VA_ARGS__})

static void header(void)
{
    ok(rewrites(W("echo", "{f1}", "x{f1}y{f1}"), 3, "f1", 2, W("echo", "{2}", "x{2}y{2}")),
       "{name} anywhere in a word, every time");
    ok(rewrites(W("{p.}", "{p/}", "{p//}", "{p/.}"), 4, "p", 7, W("{7.}", "{7/}", "{7//}", "{7/.}")),
       "{name.} {name/} {name//} {name/.}");
    ok(rewrites(W("{f}", "{f1}", "{ff}", "{f1.x}", "{f"), 5, "f1", 3,
                W("{f}", "{3}", "{ff}", "{f1.x}", "{f")),
       "other names and unknown suffixes stay");
    ok(rewrites(W("{E-mail address}"), 1, "E-mail address", 2, W("{2}")),
       "a name with a space and a dash");
    ok(rewrites(W("{a.b}"), 1, "a.b", 1, W("{1}")), "a name with a dot is text, not a regex");
}

/* s split by the --colsep regex re: its first match's offsets. */
static bool matches(const char *re, const char *s, int so, int eo)
{
    regex_t r;
    if (batchopt_colsep(&r, re) != 0)
        return false;
    regmatch_t m;
    bool got = regexec(&r, s, 1, &m, 0) == 0 && m.rm_so == so && m.rm_eo == eo;
    regfree(&r);
    return got;
}

static void colsep(void)
{
    ok(matches("\\t", "a\tb", 1, 2), "\\t is a tab");
    ok(matches("\\d+", "ab12c", 2, 4), "\\d is a digit");
    ok(matches("\\D", "12c", 2, 3), "\\D is not a digit");
    ok(matches(",|;", "a;b", 1, 2), "an extended regex");
    ok(matches("\\\\", "a\\b", 1, 2), "\\\\ is a backslash");
}

int main(void)
{
    tap_watchdog(60);
    header();
    colsep();
    return done_testing();
}
