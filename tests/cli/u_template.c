/* Replacement strings and command building (cli/template.c) on their own:
   every replacement string and path transformation, positional {N}, several
   replacements in one word, literal braces, values appended or spread into
   arguments, --shell quoting, the command line shown; and the fuzz corpus
   (tests/fuzz/corpus_template) replays cleanly. */
#include <stdbool.h>

#include "tap.h"
#include "template.h"

#include "fuzz/fuzz_template.c"

/* The argv the words build for the values, as "[a0][a1]..." (malloc'd);
   *shown: the command line to show (malloc'd). */
static char *build(const char *const *words, const char *const *vals, bool shell,
                   char **shown)
{
    size_t nw = 0, nv = 0;
    while (words[nw])
        nw++;
    while (vals[nv])
        nv++;
    struct tmpl t;
    char **argv = NULL, *display = NULL;
    struct tmpl_ctx c = {.vals = (char **)vals, .nvals = nv, .seq = 42, .slot = 3, .shell = shell};
    if (tmpl_parse(&t, (char **)words, nw) != 0 || tmpl_build(&t, &c, &argv, &display) != 0)
        bail_out("out of memory");
    size_t len = 1;
    for (char **a = argv; *a; a++)
        len += strlen(*a) + 2;
    char *out = malloc(len), *p = out;
    if (!out)
        bail_out("out of memory");
    *p = '\0';
    for (char **a = argv; *a; a++)
        p += sprintf(p, "[%s]", *a);
    tmpl_argv_free(argv);
    tmpl_free(&t);
    if (shown)
        *shown = display;
    else
        free(display);
    return out;
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Without --shell, the words and values build exactly `want`. */
static void argv_is(const char *const *words, const char *const *vals, const char *want,
                    const char *name)
{
    char *got = build(words, vals, false, NULL);
    is_str(got, want, "%s", name);
    free(got);
}

static void one_value(void)
{
    const char *const *v = LIST("dir.d/file.tar.gz");
    argv_is(LIST("echo", "{}"), v, "[echo][dir.d/file.tar.gz]", "{}: the input");
    argv_is(LIST("{.}"), v, "[dir.d/file.tar]", "{.}: without the extension");
    argv_is(LIST("{/}"), v, "[file.tar.gz]", "{/}: the basename");
    argv_is(LIST("{//}"), v, "[dir.d]", "{//}: the dirname");
    argv_is(LIST("{/.}"), v, "[file.tar]", "{/.}: the basename without the extension");
    argv_is(LIST("{#}", "{%}"), v, "[42][3]", "{#} the job number, {%} the slot");
    argv_is(LIST("{1}", "{1.}", "{1/}", "{1//}", "{1/.}"), v,
            "[dir.d/file.tar.gz][dir.d/file.tar][file.tar.gz][dir.d][file.tar]",
            "{1} {1.} {1/} {1//} {1/.}: the same for group 1");

    argv_is(LIST("{.}", "{/.}"), LIST("dir.d/file"), "[dir.d/file][file]",
            "{.}: a dot before the last slash is no extension");
    argv_is(LIST("{.}", "{/}", "{//}"), LIST(".hidden"), "[][.hidden][.]",
            "a dot file: {.} empty, {//} is .");
    argv_is(LIST("{/}", "{//}"), LIST("a/b/"), "[][a]", "a trailing slash: {/} empty, {//} a");
    argv_is(LIST("{//}", "{//}", "{//}", "{//}"), LIST("/file"), "[/][/][/][/]",
            "{//} of /file: /");
    argv_is(LIST("{//}"), LIST("a//b"), "[a]", "{//} of a//b: a");
    argv_is(LIST("{//}"), LIST("//"), "[/]", "{//} of //: /");
    argv_is(LIST("{//}", "{/}"), LIST("file"), "[.][file]", "no slash: {//} is ., {/} all");
    argv_is(LIST("{}", "{.}"), LIST(""), "[][]", "an empty value: empty arguments");
}

static void several(void)
{
    const char *const *v = LIST("a/b.c", "d e");
    argv_is(LIST("cmd", "{1}", "{2}"), v, "[cmd][a/b.c][d e]", "{1} {2}: positional");
    argv_is(LIST("{2}", "{1}"), v, "[d e][a/b.c]", "positional in any order");
    argv_is(LIST("{1.}", "{2/}", "{1/.}", "{1//}"), v, "[a/b][d e][b][a]",
            "positional with transformations");
    argv_is(LIST("x{3}y", "{3}", "{10}"), v, "[xy][][]", "{N} past the last group: empty");
    argv_is(LIST("echo", "{}"), v, "[echo][a/b.c][d e]",
            "a bare {} with several groups: one argument per value");
    argv_is(LIST("{/}"), LIST("a/b", "c/d"), "[b][d]", "a bare {/} the same");
    argv_is(LIST("x{}"), v, "[xa/b.c d e]", "{} inside a word: the values space-separated");
    argv_is(LIST("echo", "-n"), v, "[echo][-n][a/b.c][d e]",
            "no replacement string: the values appended");
    argv_is(LIST("echo", "{#}"), v, "[echo][42]", "{#} counts: the values are not appended");
    argv_is(LIST("pre{1}mid{2}post{#}/{%}"), v, "[prea/b.cmidd epost42/3]",
            "several replacements in one word");
    argv_is(LIST("{1}{1}{1/}"), v, "[a/b.ca/b.cb.c]", "the same one repeated");
}

static void literal(void)
{
    const char *const *v = LIST("v");
    argv_is(LIST("{x}", "{", "}", "{}}", "{{}}"), v, "[{x}][{][}][v}][{v}]",
            "braces that are no replacement string stay");
    argv_is(LIST("{0}", "{01}", "{-1}", "{ }", "{1000001}", "{-0}"), v, "[v][v][v][{ }][][]",
            "as GNU parallel: {0} is {}, {01} is {1}, {-1} the last; a space stays; groups "
            "past the last ({99999999999}, {-0}) are empty");
    const char *const *two = LIST("a/b.c", "d/e.f");
    argv_is(LIST("{-1}", "{-2.}", "{-1/}", "{-3}", "{-1//}"), two, "[d/e.f][a/b][e.f][][d]",
            "{-N}: counted from the last group, with transformations");
    argv_is(LIST("{0.}"), two, "[a/b][d/e]", "{0.}: every group, transformed");
    argv_is(LIST("{#", "{%", "#}", "{..}", "{///}", "{1./}"), v,
            "[{#][{%][#}][{..}][{///}][{1./}][v]",
            "unfinished or unknown forms stay (and the values are appended)");
    argv_is(LIST("{1000000}"), v, "[]", "group 1000000 is a replacement string");
    argv_is(LIST(""), v, "[][v]", "an empty word stays an empty argument");
    argv_is(LIST("{}"), LIST(NULL), "[]", "no values at all: {} is empty");
}

/* --shell: the command for /bin/sh -c, and what is shown. */
static void shell(void)
{
    char *shown;
    char *got = build(LIST("echo", "{}", "{#}"), LIST("it's a $HOME"), true, &shown);
    is_str(got, "[/bin/sh][-c][echo 'it'\"'\"'s a $HOME' 42]", "--shell: values quoted");
    is_str(shown, "echo 'it'\"'\"'s a $HOME' 42", "--shell: the command shown");
    free(got);
    free(shown);
    got = build(LIST("printf", "'%s\\n'"), LIST("a b", "c"), true, &shown);
    is_str(got, "[/bin/sh][-c][printf '%s\\n' 'a b' c]",
           "--shell: words as written, values appended quoted");
    free(got);
    free(shown);
    got = build(LIST("echo {}|wc"), LIST("x y"), true, &shown);
    is_str(got, "[/bin/sh][-c][echo 'x y'|wc]", "--shell: a word may hold shell syntax");
    free(got);
    free(shown);
    got = build(LIST("echo", "{}"), LIST("a", "b c"), true, &shown);
    is_str(got, "[/bin/sh][-c][echo a 'b c']", "--shell: {} with several groups");
    free(got);
    free(shown);

    got = build(LIST("echo", "{}", "$x"), LIST("a b"), false, &shown);
    is_str(shown, "echo 'a b' '$x'", "without --shell: the argv shown quoted");
    free(got);
    free(shown);
}

int main(void)
{
    tap_watchdog(30);
    one_value();
    several();
    literal();
    shell();
    int files = tap_replay_corpus("tests/fuzz/corpus_template", LLVMFuzzerTestOneInput);
    ok(files >= 10, "replayed %d corpus inputs without a crash", files);
    return done_testing();
}
