/* The command-line parser (cli/options.c) on its own: option forms, the
   operands and input groups, --timeout durations, --halt, --retries, -j
   resolution and -d escapes; every bad value is refused with the message
   the tool prints (forkpool's stderr, captured byte for byte). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>

#include "options.h"
#include "tap.h"

/* opt_parse on "forkpool" and the words; *err: what it printed. The words
   stay valid (o borrows them) until the next call. */
static int parse(struct opts *o, const char **err, const char *const *words)
{
    static char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"forkpool";
    while (*words != NULL && argc < 63)
        argv[argc++] = (char *)*words++;
    argv[argc] = NULL;
    tap_stderr_begin();
    int r = opt_parse(o, argc, argv);
    *err = tap_stderr_end();
    return r;
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The words parse, print nothing; o is left for the caller to check. */
static bool parses(struct opts *o, const char *const *words)
{
    const char *err;
    int r = parse(o, &err, words);
    if (r != 0 || *err != '\0')
        diag("opt_parse: %d, stderr: %s", r, err);
    return r == 0 && *err == '\0';
}

/* The words are refused with exactly `message` (plus "forkpool: " and a
   newline) on stderr. */
static void refused(const char *message, const char *const *words)
{
    struct opts o;
    const char *err;
    char want[512];
    snprintf(want, sizeof want, "forkpool: %s\n", message);
    int r = parse(&o, &err, words);
    opt_free(&o);
    if (!ok(r == -1 && strcmp(err, want) == 0, "refused: %s", message))
        diag("opt_parse: %d, stderr: %s", r, err);
}

static void forms(void)
{
    struct opts o;
    ok(parses(&o, WORDS("echo")) && o.ncmd == 1 && strcmp(o.cmd[0], "echo") == 0 &&
           o.nsrcs == 0 && o.max_tries == 1 && o.timeout_ms == 0 &&
           o.halt_when == HALT_NEVER && o.jobs_arg == NULL && o.dlen == 1 && o.delim[0] == '\n',
       "defaults: one try, no timeout, no halt, -j unset, records end at \\n");
    opt_free(&o);
    ok(parses(&o, WORDS("-j4", "echo")) && strcmp(o.jobs_arg, "4") == 0, "-j4");
    opt_free(&o);
    ok(parses(&o, WORDS("-j", "4", "echo")) && strcmp(o.jobs_arg, "4") == 0, "-j 4");
    opt_free(&o);
    ok(parses(&o, WORDS("--jobs=50%", "echo")) && strcmp(o.jobs_arg, "50%") == 0,
       "--jobs=50%%");
    opt_free(&o);
    ok(parses(&o, WORDS("--max-procs", "+1", "-P", "-1", "echo")) &&
           strcmp(o.jobs_arg, "-1") == 0,
       "--max-procs and -P, the last one counts");
    opt_free(&o);
    ok(parses(&o, WORDS("-kj2", "echo")) && o.keep_order && strcmp(o.jobs_arg, "2") == 0,
       "a cluster: -kj2");
    opt_free(&o);
    ok(parses(&o, WORDS("-k0", "--bar", "--dry-run", "--tag", "--shell", "--joblog", "-",
                        "echo")) &&
           o.keep_order && o.dlen == 1 && o.delim[0] == '\0' && o.bar && o.dry_run && o.tag &&
           o.shell && strcmp(o.joblog, "-") == 0,
       "flags: -k -0 --bar --dry-run --tag --shell --joblog -");
    opt_free(&o);
    ok(parses(&o, WORDS("--", "-k", "x")) && !o.keep_order && o.ncmd == 2 &&
           strcmp(o.cmd[0], "-k") == 0,
       "-- ends the options");
    opt_free(&o);
    ok(parses(&o, WORDS("echo", "-k", "--tag")) && !o.keep_order && !o.tag && o.ncmd == 3,
       "options after the command are the command's");
    opt_free(&o);
    ok(parses(&o, WORDS("-", "x")) && o.ncmd == 2 && strcmp(o.cmd[0], "-") == 0,
       "a lone - is the command");
    opt_free(&o);
    ok(parses(&o, WORDS("--help", "--bogus")) && o.help, "--help stops the parse");
    opt_free(&o);
    ok(parses(&o, WORDS("-h")) && o.help, "-h");
    opt_free(&o);
    ok(parses(&o, WORDS("--version")) && o.version, "--version");
    opt_free(&o);

    refused("unknown option '--bogus' (try --help)", WORDS("--bogus", "echo"));
    refused("unknown option '--jobsx' (try --help)", WORDS("--jobsx=2", "echo"));
    refused("unknown option '-x' (try --help)", WORDS("-kx", "echo"));
    refused("option '-j' needs a value", WORDS("-j"));
    refused("option '--timeout' needs a value", WORDS("--timeout"));
    refused("option '--tag' takes no value", WORDS("--tag=1", "echo"));
    /* No COMMAND: each input is a command (cli/batch.c). */
    ok(parses(&o, WORDS("-k")) && o.no_command && o.ncmd == 0, "no command: inputs from stdin");
    opt_free(&o);
    ok(parses(&o, WORDS("-k", ":::", "a")) && o.no_command && o.nsrcs == 1,
       "no command before ':::'");
    opt_free(&o);
    ok(parses(&o, WORDS("::::", "f")) && o.no_command && o.nsrcs == 1,
       "no command before '::::'");
    opt_free(&o);
}

static void operands(void)
{
    struct opts o;
    ok(parses(&o, WORDS("echo", "x", ":::", "a", "b", ":::", ":::", "c", "::::", "f1", "f2",
                        ":::", "d")),
       "groups: ::: a b ::: ::: c :::: f1 f2 ::: d");
    ok(o.ncmd == 2 && strcmp(o.cmd[1], "x") == 0, "the command is echo x");
    is(o.nsrcs, 6, "six groups");
    ok(o.srcs[0].nargs == 2 && strcmp(o.srcs[0].args[1], "b") == 0 && o.srcs[0].path == NULL,
       "group 1: a b");
    ok(o.srcs[1].nargs == 0 && o.srcs[1].path == NULL, "group 2: empty");
    ok(o.srcs[2].nargs == 1 && strcmp(o.srcs[2].args[0], "c") == 0, "group 3: c");
    ok(o.srcs[3].path && strcmp(o.srcs[3].path, "f1") == 0 && o.srcs[4].path &&
           strcmp(o.srcs[4].path, "f2") == 0,
       "groups 4 and 5: one per file after ::::");
    ok(o.srcs[5].nargs == 1 && strcmp(o.srcs[5].args[0], "d") == 0, "group 6: d");
    opt_free(&o);
    refused("'::::' needs at least one file", WORDS("echo", "::::"));
    refused("'::::' needs at least one file", WORDS("echo", "::::", ":::", "a"));

    ok(parses(&o, WORDS("-a", "f1", "--arg-file=f2", "-af3", "echo", ":::", "x")),
       "-a FILE, --arg-file=FILE, -aFILE");
    is(o.nsrcs, 4, "-a: one group per file, then the ::: group");
    ok(o.srcs[0].path && strcmp(o.srcs[0].path, "f1") == 0 && o.srcs[2].path &&
           strcmp(o.srcs[2].path, "f3") == 0 && o.srcs[3].nargs == 1,
       "-a groups come first, in order");
    opt_free(&o);
    refused("option '-a' needs a value", WORDS("-a"));
}

/* --timeout value: *ms and *secs; false (and a diag) if refused. */
static bool timeout_of(const char *v, long *ms, double *secs)
{
    struct opts o;
    bool r = parses(&o, WORDS("--timeout", v, "echo"));
    *ms = o.timeout_ms;
    *secs = o.timeout_s;
    opt_free(&o);
    return r;
}

static void durations(void)
{
    static const struct {
        const char *v;
        long ms;
        double secs;
    } good[] = {
        {"2.5", 2500, 2.5},        {"10s", 10000, 10},      {"1m", 60000, 60},
        {"1.5h", 5400000, 5400},   {"1d", 86400000, 86400}, {"0", 0, 0},
        {"0.0001", 1, 0.0001},     {"0.0015", 2, 0.0015},   {"3e1", 30000, 30},
        {"1e300", LONG_MAX / 2, 1e300},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        long ms = -1;
        double secs = -1;
        if (!ok(timeout_of(good[i].v, &ms, &secs) && ms == good[i].ms && secs == good[i].secs,
           "--timeout %s: %ld ms (rounded up), %g s", good[i].v, good[i].ms, good[i].secs))
            diag("got %ld ms, %g s", ms, secs);
    }
    static const char *const bad[] = {"-1", "abc", "", "5x", "5ss", "1e400", "nan", "inf", "s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "bad value '%s' for --timeout: expected seconds (e.g. 2.5, 10s, 1m)", bad[i]);
        refused(msg, WORDS("--timeout", bad[i], "echo"));
    }
}

static void halt(void)
{
    static const struct {
        const char *v;
        enum halt_when when;
        enum halt_why why;
        unsigned long n;
    } good[] = {
        {"never", HALT_NEVER, HALT_FAIL, 1},      {"0", HALT_NEVER, HALT_FAIL, 1},
        {"1", HALT_SOON, HALT_FAIL, 1},           {"2", HALT_NOW, HALT_FAIL, 1},
        {"-1", HALT_SOON, HALT_SUCCESS, 1},       {"-2", HALT_NOW, HALT_SUCCESS, 1},
        {"now,fail=1", HALT_NOW, HALT_FAIL, 1},   {"soon,fail=3", HALT_SOON, HALT_FAIL, 3},
        {"now,success=2", HALT_NOW, HALT_SUCCESS, 2}, {"soon,done=10", HALT_SOON, HALT_DONE, 10},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct opts o;
        ok(parses(&o, WORDS("--halt", good[i].v, "echo")) && o.halt_when == good[i].when &&
               o.halt_why == good[i].why && o.halt_n == good[i].n,
           "--halt %s", good[i].v);
        opt_free(&o);
    }
    struct opts o;
    ok(parses(&o, WORDS("--halt-on-error", "2", "echo")) && o.halt_when == HALT_NOW,
       "--halt-on-error is --halt");
    opt_free(&o);
    static const char *const bad[] = {"now,fail=0", "now,fail=101%", "now,fail=x%", "later,fail=1",
                                      "now,oops=1", "now,fail=",    "now,fail=-1",
                                      "3",          "now",          "NOW,fail=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "bad value '%s' for --halt: expected never, or now|soon,fail|success|done=N or N%%",
                 bad[i]);
        refused(msg, WORDS("--halt", bad[i], "echo"));
    }
}

static void retries(void)
{
    struct opts o;
    ok(parses(&o, WORDS("--retries", "3", "echo")) && o.max_tries == 3, "--retries 3");
    opt_free(&o);
    ok(parses(&o, WORDS("--retries=0", "echo")) && o.max_tries == 0,
       "--retries=0: unlimited");
    opt_free(&o);
    refused("bad value 'x' for --retries: expected a number", WORDS("--retries", "x", "echo"));
    refused("bad value '-1' for --retries: expected a number", WORDS("--retries", "-1", "echo"));
    refused("bad value '2x' for --retries: expected a number", WORDS("--retries", "2x", "echo"));
}

/* opt_jobs with its message captured. */
static int jobs_of(const char *s, long cpus, const unsigned long *total, unsigned *jobs,
                   const char **err)
{
    tap_stderr_begin();
    int r = opt_jobs(s, cpus, total, jobs);
    *err = tap_stderr_end();
    return r;
}

static void jobs(void)
{
    static const struct {
        const char *s;
        long cpus;
        unsigned want;
    } good[] = {
        {NULL, 8, 8}, {NULL, 0, 1}, {"4", 8, 4},   {"1", 8, 1},   {"50%", 8, 4},
        {"1%", 8, 1}, {"250%", 2, 5}, {"+2", 8, 10}, {"-3", 8, 5}, {"-10", 8, 1},
        {"+0", 3, 3}, {"1000000", 1, 1000000},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        unsigned j = 0;
        const char *err;
        if (!ok(jobs_of(good[i].s, good[i].cpus, NULL, &j, &err) == 0 && j == good[i].want &&
               *err == '\0',
           "-j %s with %ld CPUs: %u", good[i].s ? good[i].s : "(none)", good[i].cpus,
           good[i].want))
            diag("got %u", j);
    }
    unsigned j = 0;
    const char *err;
    unsigned long total = 5;
    ok(jobs_of("0", 2, &total, &j, &err) == 0 && j == 5, "-j 0 with 5 inputs: 5 at once");
    total = 0;
    ok(jobs_of("0", 2, &total, &j, &err) == 0 && j == 1, "-j 0 with no inputs: 1");
    ok(jobs_of("0", 2, NULL, &j, &err) == 0 && j >= 1 && j <= 4096,
       "-j 0 with a stream: as many as the fds allow, at most 4096 (%u)", j);
    static const char *const bad[] = {"x", "%", "4.5", "+", "-", "", "50%%", "-x", "1 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[128];
        snprintf(want, sizeof want,
                 "forkpool: bad value '%s' for -j: expected N, N%%, +N, -N or 0, or a file "
                 "holding one\n", bad[i]);
        if (!ok(jobs_of(bad[i], 8, NULL, &j, &err) == -1 && strcmp(err, want) == 0,
           "-j '%s' refused", bad[i]))
            diag("stderr: %s", err);
    }
    ok(jobs_of("1000001", 8, NULL, &j, &err) == -1 &&
           strcmp(err, "forkpool: too many jobs for -j: '1000001'\n") == 0,
       "-j 1000001: too many");
    ok(jobs_of("+999999", 8, NULL, &j, &err) == -1 &&
           strcmp(err, "forkpool: too many jobs for -j: '+999999'\n") == 0,
       "-j +999999 with 8 CPUs: too many");
}

/* opt_delim(s) is exactly want[0..wlen). */
static void delim_is(const char *s, const char *want, size_t wlen, const char *name)
{
    char *d = NULL;
    size_t n = 0;
    int r = opt_delim(s, &d, &n);
    ok(r == 0 && n == wlen && memcmp(d, want, n) == 0, "-d %s: %s", s, name);
    free(d);
}

static void delimiters(void)
{
    delim_is("\\n", "\n", 1, "newline");
    delim_is("\\t", "\t", 1, "tab");
    delim_is("\\r\\n", "\r\n", 2, "CR LF");
    delim_is("\\0", "\0", 1, "NUL");
    delim_is("\\\\", "\\", 1, "backslash");
    delim_is("\\a\\b\\f\\v", "\a\b\f\v", 4, "bell, backspace, form feed, vertical tab");
    delim_is("\\x41", "A", 1, "hex");
    delim_is("\\x4", "\x04", 1, "hex, one digit");
    delim_is("\\x4g", "\x04g", 2, "hex ends at a non-digit");
    delim_is("\\xfF", "\xff", 1, "hex, either case");
    delim_is("\\x414", "A4", 2, "hex takes two digits at most");
    delim_is("\\xg", "\\xg", 3, "\\x without digits stays");
    delim_is("\\101", "A", 1, "octal");
    delim_is("\\1", "\x01", 1, "octal, one digit");
    delim_is("\\0101", "\x08" "1", 2, "octal takes three digits at most");
    delim_is("\\18", "\x01" "8", 2, "octal ends at 8");
    delim_is("\\q", "\\q", 2, "an unknown escape stays");
    delim_is("ab\\", "ab\\", 3, "a trailing backslash stays");
    delim_is("::", "::", 2, "plain text");
    char *d = NULL;
    size_t n;
    errno = 0;
    ok(opt_delim("", &d, &n) == -1 && errno == EINVAL && d == NULL, "an empty delimiter: EINVAL");

    struct opts o;
    ok(parses(&o, WORDS("-d", "\\x00X", "echo")) && o.dlen == 2 && memcmp(o.delim, "\0X", 2) == 0,
       "-d through opt_parse: may hold a NUL");
    opt_free(&o);
    ok(parses(&o, WORDS("-d,", "-0", "echo")) && o.dlen == 1 && o.delim[0] == '\0',
       "-0 after -d: the last one counts");
    opt_free(&o);
    refused("bad delimiter '' for -d", WORDS("-d", "", "echo"));
    refused("bad delimiter '' for --delimiter", WORDS("--delimiter=", "echo"));
}

/* Issue #12 item 2: --plus, -I and the renames, --rpl (repeatable),
   --parens; their values are checked when the template is parsed
   (u_template), only an empty rename here. */
static void replacements(void)
{
    struct opts o;
    ok(parses(&o, WORDS("--plus", "-I", ",,", "--er", "E", "--bnr=B", "--dnr", "D", "--bner",
                        "BE", "--seqreplace", "S", "--slotreplace", "L", "--rpl", "{a} s/a/b/",
                        "--rpl={b} 1", "--parens", ",,,,", "echo")) &&
           o.rpl.plus && strcmp(o.rpl.rename[REN_ARG], ",,") == 0 &&
           strcmp(o.rpl.rename[REN_NOEXT], "E") == 0 && strcmp(o.rpl.rename[REN_BASE], "B") == 0 &&
           strcmp(o.rpl.rename[REN_DIR], "D") == 0 &&
           strcmp(o.rpl.rename[REN_BASE_NOEXT], "BE") == 0 &&
           strcmp(o.rpl.rename[REN_SEQ], "S") == 0 && strcmp(o.rpl.rename[REN_SLOT], "L") == 0 &&
           o.rpl.nrpls == 2 && strcmp(o.rpl.rpls[1], "{b} 1") == 0 &&
           strcmp(o.rpl.parens, ",,,,") == 0 && o.ncmd == 1,
       "--plus -I --er --bnr --dnr --bner --seqreplace --slotreplace --rpl --parens");
    opt_free(&o);
    ok(parses(&o, WORDS("--extensionreplace", "1", "--basenamereplace", "2", "--dirnamereplace",
                        "3", "--basenameextensionreplace", "4", "--replace", "5", "echo")) &&
           strcmp(o.rpl.rename[REN_NOEXT], "1") == 0 && strcmp(o.rpl.rename[REN_ARG], "5") == 0 &&
           strcmp(o.rpl.rename[REN_BASE_NOEXT], "4") == 0,
       "the long names of the renames");
    opt_free(&o);
    refused("bad value '' for -I: a replacement string cannot be empty", WORDS("-I", "", "echo"));
    refused("bad value '' for --slotreplace: a replacement string cannot be empty",
            WORDS("--slotreplace=", "echo"));
    refused("option '--rpl' needs a value", WORDS("--rpl"));
    refused("option '--plus' takes no value", WORDS("--plus=1", "echo"));
}

int main(void)
{
    tap_watchdog(30);
    forms();
    operands();
    durations();
    halt();
    retries();
    jobs();
    delimiters();
    replacements();
    return done_testing();
}
