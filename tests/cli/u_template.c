/* Replacement strings and command building (cli/template.c) on their own:
   every replacement string and path transformation, positional {N}, several
   replacements in one word, literal braces, values appended or spread into
   arguments, --shell quoting, the command line shown; and the fuzz corpus
   (tests/fuzz/corpus_template) replays cleanly. */
#include <errno.h>
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
    argv_is(LIST("x", "{}", "a{}b"), LIST(NULL), "[x][ab]",
            "no values at all (-N0): a word that is only {} is dropped, as in GNU parallel");
    argv_is(LIST("{}"), LIST(NULL), "[]", "... but not the command's only word");
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

/* The argv words build with the table conf builds (no perl: Perl
   expressions must not be built; see tests/cli/17-replacements.t). */
static char *build_conf(const char *const *words, const char *const *vals,
                        const struct rpl_conf *conf)
{
    size_t nw = 0, nv = 0;
    while (words[nw])
        nw++;
    while (vals[nv])
        nv++;
    struct tmpl t;
    char **argv = NULL, *display = NULL;
    struct tmpl_ctx c = {.vals = (char **)vals, .nvals = nv, .seq = 7, .slot = 2,
                         .total_known = true, .total = 12, .jobs = 3};
    if (tmpl_parse_conf(&t, (char **)words, nw, conf) != 0 ||
        tmpl_build(&t, &c, &argv, &display) != 0)
        bail_out("tmpl_parse_conf/tmpl_build failed");
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
    free(display);
    tmpl_free(&t);
    return out;
}

static void conf_is(const char *const *words, const char *const *vals,
                    const struct rpl_conf *conf, const char *want, const char *name)
{
    char *got = build_conf(words, vals, conf);
    is_str(got, want, "%s", name);
    free(got);
}

/* --plus's strings done in C, positional forms, the renames, --parens. */
static void plus(void)
{
    struct rpl_conf pc = {.plus = true};
    const char *const *v = LIST("dir.d/sub/file.ex1.ex2.ex3");
    conf_is(LIST("{..}", "{...}", "{/..}", "{/...}"), v, &pc,
            "[dir.d/sub/file.ex1][dir.d/sub/file][file.ex1][file]", "--plus {..} {...} {/..} {/...}");
    conf_is(LIST("{+/}", "{+.}", "{+..}", "{+...}"), v, &pc,
            "[dir.d/sub][ex3][ex2.ex3][ex1.ex2.ex3]", "--plus {+/} {+.} {+..} {+...}");
    conf_is(LIST("{+.}", "{+..}", "{+/}", "{..}"), LIST("a.b/c"), &pc, "[b/c][][a.b][a.b/c]",
            "--plus: {+.} takes from the last dot even across a slash (s:.*\\.::)");
    conf_is(LIST("{+/}", "{..}", "{+..}"), LIST(".a.b"), &pc, "[][][a.b]", "--plus on .a.b");
    conf_is(LIST("{##}", "{0#}", "{0%}", "{slot}", "[{host}]", "[{hgrp}]"), LIST("x"), &pc,
            "[12][07][2][2][[:]][[]]", "--plus {##} {0#} {0%} {slot} {host} {hgrp}");
    conf_is(LIST("{2..}", "{-1+.}", "{1 +/}", "{-2...}"), LIST("a/b.c.d", "x.y.z.w"), &pc,
            "[x.y][w][a][a/b.c.d]", "--plus positional {2..} {-1+.} {1 +/} {-2...}");
    conf_is(LIST("{..}", "{+.}"), LIST("a.b.c"), NULL, "[{..}][{+.}][a.b.c]",
            "without --plus, {..} and {+.} are text (values appended)");

    struct rpl_conf ren = {.rename = {",,", "E", "B", "D", "BE", "S", "L"}};
    conf_is(LIST(",,", "E", "B", "D", "BE", "S", "L", "{}", "{1,,}"), LIST("a/b.c"), &ren,
            "[a/b.c][a/b][b.c][a][b][7][2][{}][{1a/b.c}]",
            "-I --er --bnr --dnr --bner --seqreplace --slotreplace; a tag without { has no "
            "positional form");
    struct rpl_conf ri = {.rename = {"{x}"}};
    conf_is(LIST("{x}", "{2x}", "{-2x}", "{}"), LIST("a", "b"), &ri, "[a][b][b][a][{}]",
            "-I '{x}': a bare {x} one argument per value, positional {2x} {-2x}; {} is text");

    struct tmpl t;
    char *w1[] = {"echo", "{=", "s/a/b/", "=}", "x{=1", "$_", "=}y", "{==}"};
    ok(tmpl_parse(&t, w1, 8) == 0 && t.nwords == 4 && t.nexprs == 3 &&
           strcmp(t.exprs[0], "s/a/b/ ") == 0 && strcmp(t.exprs[1], "$_ ") == 0 &&
           strcmp(t.exprs[2], "") == 0,
       "{= and =} in separate words: joined with spaces, each expression once");
    char **argv = NULL, *display = NULL;
    struct tmpl_ctx c = {.vals = (char *[]){"a"}, .nvals = 1};
    errno = 0;
    ok(tmpl_build(&t, &c, &argv, &display) == -1 && errno == ENOSYS && argv == NULL &&
           display == NULL,
       "Perl expressions without a perl: ENOSYS, nothing to free");
    tmpl_free(&t);
    char *w2[] = {"echo", "{= s/a/b/", "x"};
    ok(tmpl_parse(&t, w2, 3) == -1 && errno == EINVAL && t.err != NULL &&
           strstr(t.err, "without") != NULL,
       "a {= without =}: EINVAL and why");
    tmpl_free(&t);
    char *w3[] = {"{= {= x =}"};
    ok(tmpl_parse(&t, w3, 1) == 0 && t.nexprs == 1 && strcmp(t.exprs[0], "x ") == 0,
       "{= {= x =}: the =} pairs with the nearest {=, as in GNU parallel");
    tmpl_free(&t);
    struct rpl_conf par = {.parens = ",,,,"};
    char *w4[] = {",,2 s/x// ,,", "{= y =}"};
    ok(tmpl_parse_conf(&t, w4, 2, &par) == 0 && t.nexprs == 1 &&
           strcmp(t.exprs[0], "s/x// ") == 0,
       "--parens ,,,,: ,,2 ... ,, is positional Perl, {= =} text");
    tmpl_free(&t);
    char *w5[] = {"{foo}", "${HOME}", "{ a }", "{}"};
    ok(tmpl_parse(&t, w5, 4) == 0 && t.unknown != NULL && t.unknown_len == 5 &&
           strncmp(t.unknown, "{foo}", 5) == 0,
       "an unknown {foo} is noted; ${HOME} and { a } are not");
    tmpl_free(&t);
    struct rpl_conf rp = {.rpls = (const char *[]){"{%(.+?)} s/$$1$//;", "{x}"}, .nrpls = 1};
    char *w6[] = {"{%.gz}.zip{%a\"$}"};
    ok(tmpl_parse_conf(&t, w6, 1, &rp) == 0 && t.nexprs == 2 &&
           strcmp(t.exprs[0], "$_pAr_gRp1 = \".gz\";s/$_pAr_gRp1$//;") == 0 &&
           strcmp(t.exprs[1], "$_pAr_gRp1 = \"a\\\"\\$\";s/$_pAr_gRp1$//;") == 0,
       "--rpl with a group: the shortest match, $$1 set Perl-quoted");
    tmpl_free(&t);
    rp.nrpls = 2;
    ok(tmpl_parse_conf(&t, w6, 1, &rp) == -1 && errno == EINVAL && t.err != NULL,
       "--rpl without an expression: EINVAL");
    tmpl_free(&t);
}

int main(void)
{
    tap_watchdog(30);
    one_value();
    several();
    literal();
    shell();
    plus();
    int files = tap_replay_corpus("tests/fuzz/corpus_template", LLVMFuzzerTestOneInput);
    ok(files >= 10, "replayed %d corpus inputs without a crash", files);
    return done_testing();
}
