/*
 * libFuzzer target for the command-line tool's template parser and command
 * building (cli/template.c) and its shell quoting (cli/quote.c): the
 * command line a user writes and the inputs a job gets.
 *
 * Input: a flags byte, then NUL-separated strings: the template's words
 * first, then the job's values. Flags: bits 0-2 the number of words - 1,
 * bits 3-4 the number of values - 1, bit 5 --shell, bits 6-7 the slot - 1.
 * Missing strings are empty. An input of odd size is parsed with --plus
 * and a --rpl whose tag has groups.
 *
 * Promises checked: parsing succeeds but for a {= without =}; building
 * succeeds (but for Perl expressions, which need perl: ENOSYS); the argv is
 * NULL-terminated; with --shell it is /bin/sh -c DISPLAY; without, DISPLAY
 * is the argv quoted and read back by a shell it is the argv again; a
 * template without braces is run as written, with the values appended.
 *
 * Built by `make fuzz`; the same entry point replays tests/fuzz/corpus_template/
 * in tests/cli/u_template.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

enum { FUZZ_MAX_WORDS = 8, FUZZ_MAX_VALS = 4 };

/* Reads one shell word written by quote_add from *p (unquoted bytes,
   '...' spans and "'" pairs, up to a space or the end) into out; false if
   the text is not what quote_add writes. */
static bool fuzz_unquote_word(const char **p, char *out, size_t *outlen)
{
    const char *s = *p;
    size_t n = 0;
    bool any = false;
    while (*s && *s != ' ') {
        any = true;
        if (*s == '\'') {
            const char *end = strchr(s + 1, '\'');
            if (end == NULL)
                return false;
            memcpy(out + n, s + 1, (size_t)(end - s - 1));
            n += (size_t)(end - s - 1);
            s = end + 1;
        } else if (s[0] == '"' && s[1] == '\'' && s[2] == '"') {
            out[n++] = '\'';
            s += 3;
        } else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                   (*s >= '0' && *s <= '9') || strchr("-_.+/", *s) != NULL) {
            out[n++] = *s++;
        } else {
            return false; /* a byte a shell might not take literally */
        }
    }
    *p = s;
    *outlen = n;
    return any;
}

/* Whether display, read as a shell reads it, is exactly argv. */
static bool fuzz_reads_back(const char *display, char **argv)
{
    char *buf = malloc(strlen(display) + 1);
    if (buf == NULL)
        return true;
    const char *p = display;
    bool same = true;
    for (size_t i = 0; argv[i] != NULL && same; i++) {
        size_t n;
        if (i > 0 && *p++ != ' ')
            same = false;
        else if (!fuzz_unquote_word(&p, buf, &n))
            same = false;
        else
            same = n == strlen(argv[i]) && memcmp(buf, argv[i], n) == 0;
    }
    same = same && *p == '\0';
    free(buf);
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t nwords = (size_t)(data[0] & 7) + 1, nvals = (size_t)(data[0] >> 3 & 3) + 1;
    bool shell = data[0] & 0x20;
    unsigned slot = (unsigned)(data[0] >> 6) + 1;
    char *copy = malloc(size + 1); /* the strings, each NUL-terminated */
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    char *strs[FUZZ_MAX_WORDS + FUZZ_MAX_VALS];
    char *p = copy, *end = copy + size - 1;
    bool braces = false;
    for (size_t i = 0; i < nwords + nvals; i++) {
        strs[i] = p < end ? p : end; /* past the data: "" */
        if (i < nwords && strchr(strs[i], '{') != NULL)
            braces = true;
        p += strlen(strs[i]) + 1;
    }
    struct tmpl t;
    char **argv = NULL, *display = NULL;
    struct tmpl_ctx c = {.vals = strs + nwords, .nvals = nvals, .seq = (unsigned long)size,
                         .slot = slot, .shell = shell};
    /* An odd-sized input is parsed with --plus and a --rpl with groups. */
    struct rpl_conf plus = {.plus = true,
                            .rpls = (const char *[]){"{@(\\d+?)x([^}]*)} s/$$1/$$2/"},
                            .nrpls = 1};
    if (tmpl_parse_conf(&t, strs, nwords, size % 2 ? &plus : NULL) != 0) {
        /* Refused only for a {= without its =} (the fuzzer has memory). */
        bool open = false;
        for (size_t i = 0; i < nwords; i++)
            open = open || strstr(strs[i], "{=") != NULL;
        if (errno != EINVAL || !open)
            abort();
        tmpl_free(&t);
        free(copy);
        return 0;
    }
    if (t.nexprs > 0) {
        /* Perl expressions need the coprocess (tests/cli/17-replacements.t):
           without it, building fails with ENOSYS and nothing to free, unless
           none is evaluated (a group past the last). */
        int r = tmpl_build(&t, &c, &argv, &display);
        if (r == 0) {
            tmpl_argv_free(argv);
            free(display);
        } else if (r != -1 || errno != ENOSYS) {
            abort();
        }
        tmpl_free(&t);
        free(copy);
        return 0;
    }
    if (tmpl_build(&t, &c, &argv, &display) != 0)
        abort(); /* only ENOMEM may fail, and the fuzzer does not run out */
    size_t argc = 0;
    while (argv[argc] != NULL)
        argc++;
    if (shell) {
        if (argc != 3 || strcmp(argv[0], "/bin/sh") != 0 || strcmp(argv[1], "-c") != 0 ||
            strcmp(argv[2], display) != 0)
            abort();
    } else {
        if (argc < nwords || !fuzz_reads_back(display, argv))
            abort();
        if (!braces) { /* no replacement string: the words, then the values */
            if (argc != nwords + nvals)
                abort();
            for (size_t i = 0; i < argc; i++)
                if (strcmp(argv[i], strs[i]) != 0)
                    abort();
        }
    }
    tmpl_argv_free(argv);
    free(display);
    tmpl_free(&t);
    free(copy);
    return 0;
}
