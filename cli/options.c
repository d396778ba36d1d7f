/* options.c: the command line into struct opts (contracts in options.h). */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "batchopt.h"
#include "fpc.h"

enum opt_id {
    O_JOBS, O_KEEP, O_NULL, O_DELIM, O_TIMEOUT, O_RETRIES, O_HALT,
    O_JOBLOG, O_BAR, O_DRYRUN, O_TAG, O_SHELL, O_VERSION, O_HELP, O_ARGFILE, O_CONTAIN,
    O_BATCH, /* issue #12 items 1 and 3: values parsed by batchopt_apply (cli/batchopt.c) */
    /* issue #12 item 2: replacement strings */
    O_PLUS, O_RPL, O_PARENS, O_REN_ARG, O_REN_NOEXT, O_REN_BASE, O_REN_DIR, O_REN_BASE_NOEXT,
    O_REN_SEQ, O_REN_SLOT,
    /* issue #12 items 5-7 (output, control, shell) */
    O_QUOTE, O_SHELLQUOTE, O_VERBOSE, O_UNGROUP, O_LINEBUF, O_FILES, O_ETA, O_PROGRESS, O_TOTAL,
    O_TAGSTRING, O_RESULTS, O_TMPDIR, O_RESUME, O_RESUMEFAILED, O_RETRYFAILED, O_DELAY,
    O_MEMFREE, O_LOAD,
    /* --pipe (issue #12 item 4; cli/pipe.c); -N and --header are O_BATCH's */
    O_PIPE, O_PIPEPART, O_BLOCK, O_RECSTART, O_RECEND, O_REGEXP, O_PIPE_L, O_RRS, O_ROBIN, O_CAT, O_TEE, O_BT,
    O_FIFO,
    /* the machine (cli/machine.c) and GNU parallel's other options */
    O_INFO, O_MINVERSION, O_CPU_CORES, O_CPU_SOCKETS, O_NICE, O_NOSWAP, O_SHUF, O_COMPRESS,
    O_PRINT_CMD, O_TERMSEQ,
    /* read before the command line (cli/profile.c); -S : (this machine) */
    O_PROFILE, O_PLAIN, O_RECORD_ENV, O_SHEBANG, O_SSHLOGIN
};

struct optdef {
    const char *lng;
    char shrt; /* 0: long form only */
    bool arg;  /* takes a value */
    enum opt_id id;
};

static const struct optdef optdefs[] = {
    {"jobs", 'j', true, O_JOBS},         {"max-procs", 'P', true, O_JOBS},
    {"keep-order", 'k', false, O_KEEP},  {"null", '0', false, O_NULL},
    {"delimiter", 'd', true, O_DELIM},   {"timeout", 0, true, O_TIMEOUT},
    {"retries", 0, true, O_RETRIES},     {"halt", 0, true, O_HALT},
    {"halt-on-error", 0, true, O_HALT},  {"joblog", 0, true, O_JOBLOG},
    {"bar", 0, false, O_BAR},            {"dry-run", 0, false, O_DRYRUN},
    {"tag", 0, false, O_TAG},            {"shell", 0, false, O_SHELL},
    {"version", 0, false, O_VERSION},    {"help", 'h', false, O_HELP},
    {"arg-file", 'a', true, O_ARGFILE},  {"contain", 0, false, O_CONTAIN},
    /* issue #12 items 1 and 3 (cli/batchopt.c, cli/batch.c) */
    {"max-replace-args", 'N', true, O_BATCH}, {"max-args", 'n', true, O_BATCH},
    {"multiple-args", 'm', false, O_BATCH},  {"context-replace", 'X', false, O_BATCH},
    {"xargs", 0, false, O_BATCH},            {"max-chars", 's', true, O_BATCH},
    {"show-limits", 0, false, O_BATCH},      {"link", 0, false, O_BATCH},
    {"xapply", 0, false, O_BATCH},           {"colsep", 0, true, O_BATCH},
    {"header", 0, true, O_BATCH},            {"eof", 'E', true, O_BATCH},
    {"no-run-if-empty", 'r', false, O_BATCH}, {"trim", 0, true, O_BATCH},
    {"arg-sep", 0, true, O_BATCH},           {"arg-file-sep", 0, true, O_BATCH},
    /* issue #12 item 2: replacement strings */
    {"plus", 0, false, O_PLUS},          {"rpl", 0, true, O_RPL},
    {"parens", 0, true, O_PARENS},       {"replace", 'I', true, O_REN_ARG},
    {"extensionreplace", 0, true, O_REN_NOEXT}, {"er", 0, true, O_REN_NOEXT},
    {"basenamereplace", 0, true, O_REN_BASE},   {"bnr", 0, true, O_REN_BASE},
    {"dirnamereplace", 0, true, O_REN_DIR},     {"dnr", 0, true, O_REN_DIR},
    {"basenameextensionreplace", 0, true, O_REN_BASE_NOEXT},
    {"bner", 0, true, O_REN_BASE_NOEXT},
    {"seqreplace", 0, true, O_REN_SEQ},  {"slotreplace", 0, true, O_REN_SLOT},
    /* issue #12 items 5-7 (output, control, shell) */
    {"dryrun", 0, false, O_DRYRUN},      {"quote", 'q', false, O_QUOTE},
    {"shellquote", 0, false, O_SHELLQUOTE}, {"verbose", 't', false, O_VERBOSE},
    {"ungroup", 'u', false, O_UNGROUP},  {"line-buffer", 0, false, O_LINEBUF},
    {"lb", 0, false, O_LINEBUF},         {"linebuffer", 0, false, O_LINEBUF},
    {"files", 0, false, O_FILES},
    {"eta", 0, false, O_ETA},            {"progress", 0, false, O_PROGRESS},
    {"total-jobs", 0, true, O_TOTAL},    {"total", 0, true, O_TOTAL},
    {"tagstring", 0, true, O_TAGSTRING}, {"results", 0, true, O_RESULTS},
    {"res", 0, true, O_RESULTS},         {"tmpdir", 0, true, O_TMPDIR},
    {"resume", 0, false, O_RESUME},      {"resume-failed", 0, false, O_RESUMEFAILED},
    {"retry-failed", 0, false, O_RETRYFAILED}, {"delay", 0, true, O_DELAY},
    {"memfree", 0, true, O_MEMFREE},     {"load", 0, true, O_LOAD},
    {"termseq", 0, true, O_TERMSEQ},     {"term-seq", 0, true, O_TERMSEQ},
    /* --pipe (issue #12 item 4; cli/pipe.c); with it -N counts records */
    {"pipe", 0, false, O_PIPE},          {"spreadstdin", 0, false, O_PIPE},
    {"pipepart", 0, false, O_PIPEPART},  {"pipe-part", 0, false, O_PIPEPART},
    {"block", 0, true, O_BLOCK},         {"block-size", 0, true, O_BLOCK},
    {"blocksize", 0, true, O_BLOCK},     {"recstart", 0, true, O_RECSTART},
    {"recend", 0, true, O_RECEND},       {"regexp", 0, false, O_REGEXP},
    {"regex", 0, false, O_REGEXP},
    {"", 'L', true, O_PIPE_L},           {"rrs", 0, false, O_RRS},
    {"remove-rec-sep", 0, false, O_RRS}, {"removerecsep", 0, false, O_RRS},
    {"roundrobin", 0, false, O_ROBIN},   {"round-robin", 0, false, O_ROBIN},
    {"round", 0, false, O_ROBIN},        {"cat", 0, false, O_CAT},
    {"tee", 0, false, O_TEE},            {"fifo", 0, false, O_FIFO},
    {"block-timeout", 0, true, O_BT},    {"blocktimeout", 0, true, O_BT},
    {"bt", 0, true, O_BT},
    /* the machine (cli/machine.c) and GNU parallel's other options */
    {"number-of-threads", 0, false, O_INFO}, {"number-of-cores", 0, false, O_INFO},
    {"number-of-cpus", 0, false, O_INFO},    {"number-of-sockets", 0, false, O_INFO},
    {"max-line-length-allowed", 0, false, O_INFO},
    {"minversion", 0, true, O_MINVERSION},
    {"use-cores-instead-of-threads", 0, false, O_CPU_CORES},
    {"use-sockets-instead-of-threads", 0, false, O_CPU_SOCKETS},
    {"use-cpus-instead-of-cores", 0, false, O_CPU_SOCKETS}, /* GNU's alias */
    {"nice", 0, true, O_NICE},           {"noswap", 0, false, O_NOSWAP},
    {"shuf", 0, false, O_SHUF},          {"compress", 0, false, O_COMPRESS},
    {"", 'v', false, O_PRINT_CMD},
    /* read before the command line (cli/profile.c) */
    {"profile", 'J', true, O_PROFILE},   {"plain", 0, false, O_PLAIN},
    {"record-env", 0, false, O_RECORD_ENV},
    {"shebang", 0, false, O_SHEBANG},    {"shebang-wrap", 0, false, O_SHEBANG},
    {"hashbang", 0, false, O_SHEBANG},
    {"sshlogin", 'S', true, O_SSHLOGIN},
};
enum { NOPTDEFS = sizeof optdefs / sizeof optdefs[0] };

const char opt_usage[] =
    "Usage: forkpool [OPTIONS] COMMAND [ARGS...] [::: INPUTS...]... [:::: FILE...]...\n"
    "Runs COMMAND once per input (or per combination of inputs), N at a time.\n"
    "With no ::: or ::::, inputs are read from stdin, one per line.\n"
    "\n"
    "  -j, --jobs N         jobs at once: N, N% of CPUs, +N/-N CPUs, 0 as many as\n"
    "                       possible, or a file holding one (default: online CPUs)\n"
    "  -k, --keep-order     print outputs in input order\n"
    "  -0, --null           inputs are separated by NUL\n"
    "  -d, --delimiter D    inputs are separated by D (\\n, \\t, \\0, \\xHH, \\NNN)\n"
    "  -a, --arg-file FILE  one more input group, read from FILE (before the\n"
    "                       ::: and :::: groups; - for stdin)\n"
    "      --timeout SECS   kill a job after SECS (fractional; suffix s, m, h, d)\n"
    "                       or N% of the median run time of the jobs done\n"
    "      --termseq SEQ    kill a job by SIG,MS,SIG,MS...: each signal, then up\n"
    "                       to MS ms (default TERM,200,TERM,100,TERM,50,KILL,25)\n"
    "      --retries N      run a failing job up to N times in all (0: forever)\n"
    "      --halt WHEN,WHY=N  WHEN now|soon, WHY fail|success|done; or never\n"
    "                       (N may be N% of all jobs)\n"
    "      --joblog FILE    log each job (GNU parallel's format; - for stdout)\n"
    "      --bar            progress bar on stderr\n"
    "      --dry-run        print the commands, run nothing (also --dryrun)\n"
    "      --contain        each job's descendants in a PID namespace, killed\n"
    "                       with the job (setsid or not); needs root\n"
    "  -N, --max-replace-args N  N inputs per job, {1}..{N} (-N0: none, run once\n"
    "                       per input)\n"
    "  -n, --max-args N     at most N inputs per job\n"
    "  -m                   as many inputs per job as the command line holds,\n"
    "                       spread over the job slots at the end\n"
    "  -X                   as -m, each input in its own copy of the word with {}\n"
    "      --xargs          as -m, without spreading\n"
    "  -s, --max-chars N    command lines up to N characters (-m, -X, --xargs)\n"
    "      --show-limits    print the command-line length limits\n"
    "      --link, --xapply link the input groups (one value of each per job,\n"
    "                       shorter groups wrap); :::+ ::::+ link one group to\n"
    "                       the one before (the shortest ends)\n"
    "      --colsep REGEX   split each input into columns {1} {2}... (POSIX ERE)\n"
    "      --header :       the first input line names the columns: {name}\n"
    "  -E EOF-STR           stop reading an input group at a line EOF-STR\n"
    "  -r, --no-run-if-empty  skip inputs that are empty or only white space\n"
    "      --trim lr|l|r|n  trim white space around each input (or column)\n"
    "      --arg-sep S, --arg-file-sep S  use S instead of ::: or ::::\n"
    "  -J, --profile NAME   options from ~/.parallel/NAME (without it, from\n"
    "                       ~/.parallel/config), then $PARALLEL's; --plain: neither\n"
    "      --shebang OPTS, --shebang-wrap OPTS  on a script's #! line (forkpool(1))\n"
    "      --record-env     write the environment's names in ~/.parallel/ignored_vars\n"
    "  -S :                 run on this machine (no other; see forkpool-mpi)\n"
    "      --pipe           split stdin into blocks, one per job, on its stdin\n"
    "      --pipepart       the same for the files given with -a FILE, each\n"
    "                       job reading its part from the file\n"
    "      --block SIZE     block size for --pipe (default 1M; k K m M g G)\n"
    "      --block-timeout S  with --pipe: a block not full after S seconds goes\n"
    "                       with the whole records read so far (also --bt)\n"
    "      --recstart STR   with --pipe: records start with STR\n"
    "      --recend STR     with --pipe: records end with STR (default \\n)\n"
    "      --regexp         --recstart and --recend are regular expressions\n";

/* --help's text, continued (one string would pass the 4095 bytes C11
   compilers must support). */
const char opt_usage_more[] =
    "  -N N, -L N           with --pipe: N records per job; records of N lines\n"
    "      --rrs            with --pipe: remove record separators\n"
    "      --roundrobin     with --pipe: -j jobs at most, each fed blocks until\n"
    "                       the input ends (also --round-robin)\n"
    "      --cat            with --pipe/--pipepart: the job's input in a file, {}\n"
    "      --fifo           with --pipe: the job reads its block from a FIFO, {}\n"
    "      --tee            with --pipe: all of stdin to every job, one job per\n"
    "                       input of ::: (or -a), all at once\n"
    "      --header N       with --pipe: the first N lines go to every job\n"
    "      --plus           more replacement strings: {..} {...} {+/} {+.} {##}\n"
    "                       {:-x} {:N:M} {#pre} {%suf} {/a/b} {^a} ... (man page)\n"
    "  -I STR               STR instead of {} (also --er, --bnr, --dnr, --bner,\n"
    "                       --seqreplace, --slotreplace for {.} {/} {//} {/.} {#} {%})\n"
    "      --rpl 'TAG PERL' TAG is replaced by $_ after the Perl expression PERL\n"
    "      --parens LR      {= =} written L R instead (e.g. ,,,,)\n"
    "\n"
    "Output, control and the shell:\n"
    "      --resume         with --joblog: run only the jobs it does not list\n"
    "      --resume-failed  ... and again those it lists as failed\n"
    "      --retry-failed   run the failed commands of --joblog again (no COMMAND)\n"
    "      --delay SECS     start jobs at least SECS apart\n"
    "      --memfree SIZE   start jobs only while SIZE bytes (K, M, G) are free\n"
    "      --load MAX       start jobs only while the load average is below MAX\n"
    "                       (N, N% of CPUs, +N, -N)\n"
    "      --noswap         start jobs only while the machine is not swapping\n"
    "      --nice N         run the jobs (and forkpool) at niceness N\n"
    "      --shuf           run the jobs in a random order (all inputs read first)\n"
    "      --compress       accepted (job output is kept in memory, not in files)\n"
    "      --use-cores-instead-of-threads, --use-sockets-instead-of-threads\n"
    "                       what -j N%, +N, -N and --load count (default: threads)\n"
    "      --number-of-threads, --number-of-cores, --number-of-sockets,\n"
    "      --max-line-length-allowed  print that number and exit\n"
    "      --minversion V   print 20221122 (the GNU parallel release forkpool\n"
    "                       follows); exit 255 if V is later\n"
    "      --tag            prefix output lines with the input and a tab\n"
    "      --tagstring STR  prefix output lines with STR (replacement strings done)\n"
    "                       and a tab\n"
    "  -t, --verbose        print each command on stderr as it starts\n"
    "  -v                   print each command on stdout, before its output\n"
    "      --results DIR    store outputs in DIR/1/INPUT/{stdout,stderr,seq}, or in\n"
    "                       one FILE.csv / FILE.tsv; print nothing\n"
    "      --files          store each job's stdout in a file; print its name\n"
    "      --tmpdir DIR     where --files, --cat, --fifo, --roundrobin, --tee make\n"
    "                       files (default $TMPDIR, /tmp)\n"
    "  -u, --ungroup        jobs write to stdout/stderr themselves, as they run\n"
    "      --line-buffer, --lb, --linebuffer  print each job's lines as they\n"
    "                       come (whole lines: two jobs' lines never mix)\n"
    "      --eta, --progress    GNU parallel's status on stderr (--eta: with ETA)\n"
    "      --total-jobs N   the number of jobs, for --eta, --bar, {##}: the inputs\n"
    "                       are not read in advance to count them (also --total)\n"
    "      --shell[=PATH]   run the command through $SHELL -c (or PATH -c), inputs\n"
    "                       quoted; without it, a command needing a shell is refused\n"
    "  -q, --quote          pass the command's words as they are (even | and >)\n"
    "      --shellquote     print the inputs quoted for a shell; run nothing\n"
    "      --version        print the version\n"
    "  -h, --help           this help\n"
    "\n"
    "Without COMMAND, each input is a command line, run by /bin/sh -c.\n"
    "Replacement strings: {} {.} {/} {//} {/.} {#} {%} {N} {N.} {N/} {N//} {N/.}\n"
    "{-N}...; {= perl expression =} and {=N perl =} (needs perl)\n"
    "Exit status: 0 all succeeded, 1-100 failed jobs, 101 more, 255 error.\n"
    "See forkpool(1).\n";

/* Parses "N%" (N > 0, fractional) into N/100. 0, or -1. */
static int parse_pct(const char *s, double *frac)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v <= 0 || strcmp(end, "%") != 0 ||
        (*s < '0' || *s > '9'))
        return -1;
    *frac = v / 100.0;
    return 0;
}

/* Parses SECS with an optional s/m/h/d suffix into whole milliseconds
   (rounded up, 0 = no limit). 0, or -1 if malformed or negative. */
static int parse_duration(const char *s, long *ms, double *secs)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0)
        return -1;
    double mult = 1;
    if (*end != '\0') {
        switch (*end) {
        case 's': mult = 1; break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        default: return -1;
        }
        if (end[1] != '\0')
            return -1;
    }
    v *= mult;
    *secs = v;
    double m = v * 1000.0;
    if (m >= (double)(LONG_MAX / 2)) {
        *ms = LONG_MAX / 2;
        return 0;
    }
    long l = (long)m;
    if ((double)l < m)
        l++;
    *ms = l;
    return 0;
}

/* A signal as kill(1) names it: TERM, SIGTERM (any case), or its number. */
static int parse_signal(const char *s)
{
    unsigned long n;
    if (fpc_parse_ulong(s, &n) == 0)
        return n >= 1 && n <= (unsigned long)SIGRTMAX ? (int)n : -1;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (int sig = 1; sig < SIGRTMIN; sig++) {
        const char *name = sigabbrev_np(sig);
        if (name && strcasecmp(s, name) == 0)
            return sig;
    }
    return -1;
}

/* --termseq SIG,MS[,SIG,MS]...: GNU parallel's; a last MS left out is 0.
   Every field must be there: "TERM,,KILL" is an error, not TERM,0,KILL. */
static int parse_termseq(const char *s, struct opts *o)
{
    char *copy = strdup(s);
    if (!copy)
        return -1;
    unsigned n = 0;
    int bad = 0;
    char *rest = copy;
    while (rest && !bad) {
        char *sig = strsep(&rest, ",");
        char *ms = rest ? strsep(&rest, ",") : NULL;
        unsigned long v = 0;
        if (n == FORKPOOL_KILL_STEPS_MAX || (o->termseq[n].signal = parse_signal(sig)) < 0 ||
            (ms && (fpc_parse_ulong(ms, &v) != 0 || v > 86400000UL)))
            bad = 1;
        else
            o->termseq[n++].wait_ms = (long)v;
    }
    free(copy);
    if (bad)
        return -1;
    o->ntermseq = n;
    return 0;
}

/* Parses --halt: never, 0, 1, 2, -1, -2, or WHEN,WHY=N. 0 or -1. */
static int parse_halt(const char *s, struct opts *o)
{
    static const struct {
        const char *name;
        enum halt_when when;
        enum halt_why why;
    } legacy[] = {
        {"never", HALT_NEVER, HALT_FAIL}, {"0", HALT_NEVER, HALT_FAIL},
        {"1", HALT_SOON, HALT_FAIL},      {"2", HALT_NOW, HALT_FAIL},
        {"-1", HALT_SOON, HALT_SUCCESS},  {"-2", HALT_NOW, HALT_SUCCESS},
    };
    for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++)
        if (strcmp(s, legacy[i].name) == 0) {
            o->halt_when = legacy[i].when;
            o->halt_why = legacy[i].why;
            o->halt_n = 1;
            return 0;
        }
    const char *rest;
    if (strncmp(s, "now,", 4) == 0) {
        o->halt_when = HALT_NOW;
        rest = s + 4;
    } else if (strncmp(s, "soon,", 5) == 0) {
        o->halt_when = HALT_SOON;
        rest = s + 5;
    } else {
        return -1;
    }
    if (strncmp(rest, "fail=", 5) == 0) {
        o->halt_why = HALT_FAIL;
        rest += 5;
    } else if (strncmp(rest, "success=", 8) == 0) {
        o->halt_why = HALT_SUCCESS;
        rest += 8;
    } else if (strncmp(rest, "done=", 5) == 0) {
        o->halt_why = HALT_DONE;
        rest += 5;
    } else {
        return -1;
    }
    o->halt_pct = 0;
    if (parse_pct(rest, &o->halt_pct) == 0) /* N% of all jobs (items 5-7) */
        return o->halt_pct <= 1 ? 0 : -1;
    if (fpc_parse_ulong(rest, &o->halt_n) != 0 || o->halt_n == 0)
        return -1;
    return 0;
}

int opt_delim(const char *s, char **out, size_t *outlen)
{
    char *d = malloc(strlen(s) + 1);
    if (d == NULL)
        return -1;
    size_t n = 0;
    while (*s) {
        if (*s != '\\' || s[1] == '\0') {
            d[n++] = *s++;
            continue;
        }
        s++;
        char c = *s++;
        switch (c) {
        case 'n': d[n++] = '\n'; break;
        case 't': d[n++] = '\t'; break;
        case 'r': d[n++] = '\r'; break;
        case 'a': d[n++] = '\a'; break;
        case 'b': d[n++] = '\b'; break;
        case 'f': d[n++] = '\f'; break;
        case 'v': d[n++] = '\v'; break;
        case '\\': d[n++] = '\\'; break;
        case 'x': {
            unsigned v = 0;
            int k = 0;
            for (; k < 2 && strchr("0123456789abcdefABCDEF", *s) != NULL && *s; k++, s++)
                v = v * 16 + (unsigned)(*s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10);
            if (k == 0) {
                d[n++] = '\\';
                d[n++] = 'x';
            } else {
                d[n++] = (char)v;
            }
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                unsigned v = (unsigned)(c - '0');
                for (int k = 0; k < 2 && *s >= '0' && *s <= '7'; k++, s++)
                    v = v * 8 + (unsigned)(*s - '0');
                d[n++] = (char)v;
            } else {
                d[n++] = '\\';
                d[n++] = c;
            }
        }
    }
    if (n == 0) {
        free(d);
        errno = EINVAL;
        return -1;
    }
    d[n] = '\0';
    *out = d;
    *outlen = n;
    return 0;
}

/* -S / --sshlogin: only ':' (this machine), comma-separated or repeated,
   is accepted; forkpool runs no job elsewhere. 0, or -1 after a message. */
static int sshlogin_check(const char *val, const char *shown)
{
    const char *p = val;
    do {
        p += strspn(p, " ");
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t > 0 && p[t - 1] == ' ')
            t--;
        if (t != 1 || *p != ':') {
            fpc_say("%s '%s': forkpool runs jobs on this machine only (':'); for remote "
                    "hosts run GNU parallel, or forkpool under ssh",
                    shown, val);
            return -1;
        }
        p += n;
    } while (*p++ == ',');
    return 0;
}

/* Applies one option with its value (NULL if it takes none). 0, or -1 after
   printing a usage message. */
static int apply_opt(struct opts *o, const struct optdef *def, const char *val,
                     const char *shown)
{
    switch (def->id) {
    case O_JOBS: o->jobs_arg = val; break;
    case O_KEEP: o->keep_order = true; break;
    case O_BAR: o->bar = true; break;
    case O_DRYRUN: o->dry_run = true; break;
    case O_TAG: o->tag = true; break;
    case O_SHELL: o->shell = true; break;
    case O_VERSION: o->version = true; break;
    case O_HELP: o->help = true; break;
    case O_JOBLOG: o->joblog = val; break;
    case O_ARGFILE: o->argfiles[o->nargfiles++] = val; break;
    case O_CONTAIN: o->contain = true; break;
    case O_BATCH: return batchopt_apply(o, def->lng, val, shown);
    case O_PLUS: o->rpl.plus = true; break;
    case O_RPL: o->rpl.rpls[o->rpl.nrpls++] = val; break;
    case O_PARENS: o->rpl.parens = val; break;
    case O_REN_ARG:
    case O_REN_NOEXT:
    case O_REN_BASE:
    case O_REN_DIR:
    case O_REN_BASE_NOEXT:
    case O_REN_SEQ:
    case O_REN_SLOT:
        if (*val == '\0') {
            fpc_say("bad value '' for %s: a replacement string cannot be empty", shown);
            return -1;
        }
        o->rpl.rename[REN_ARG + (def->id - O_REN_ARG)] = val;
        break;
    /* issue #12 items 5-7: values are checked at setup (shellcmd.c, outx.c,
       control.c) */
    case O_QUOTE: o->quote = true; break;
    case O_SHELLQUOTE: o->shellquote = true; break;
    case O_VERBOSE: o->verbose = true; break;
    case O_UNGROUP: o->ungroup = true; break;
    case O_LINEBUF: o->line_buffer = true; break;
    case O_FILES: o->files = true; break;
    case O_ETA: o->eta = true; break;
    case O_TOTAL: o->total_jobs = val; break;
    case O_PROGRESS: o->progress = true; break;
    case O_TAGSTRING: o->tagstring = val; break;
    case O_RESULTS: o->results = val; break;
    case O_TMPDIR: o->tmpdir = val; break;
    case O_RESUME: o->resume = true; break;
    case O_RESUMEFAILED: o->resume_failed = true; break;
    case O_RETRYFAILED: o->retry_failed = true; break;
    case O_DELAY: o->delay = val; break;
    case O_MEMFREE: o->memfree = val; break;
    case O_LOAD: o->load = val; break;
    case O_PIPE: o->pipe = true; break;
    case O_PIPEPART: o->pipepart = true; break;
    case O_BLOCK: o->block_arg = val; break;
    case O_RECSTART: o->recstart = val; break;
    case O_RECEND: o->recend = val; break;
    case O_REGEXP: o->regexp = true; break;
    case O_PIPE_L: o->pipe_l = val; break;
    case O_RRS: o->rrs = true; break;
    case O_ROBIN: o->roundrobin = o->pipe = true; break; /* implies --pipe, as in GNU */
    case O_CAT: o->cat = true; break;
    case O_TEE: o->tee = true; break;
    case O_FIFO: o->fifo = o->pipe = true; break; /* implies --pipe, as in GNU */
    case O_INFO: o->info = def->lng; break;
    case O_MINVERSION: o->minversion = val; break;
    case O_CPU_CORES: o->cpu_unit = 'c'; break;
    case O_CPU_SOCKETS: o->cpu_unit = 's'; break;
    case O_NICE: o->nice = val; break;
    case O_NOSWAP: o->noswap = true; break;
    case O_SHUF: o->shuf = true; break;
    case O_COMPRESS: break; /* job output is kept in memory: no files to compress */
    case O_PRINT_CMD: /* -vv: GNU parallel's wrappers too; forkpool has none */
        o->print_cmd = 1;
        break;
    case O_PROFILE: o->profiles[o->nprofiles++] = val; break;
    case O_PLAIN: o->plain = true; break;
    case O_RECORD_ENV: o->record_env = true; break;
    case O_SHEBANG:
        fpc_say("%s must be the first argument, on a script's #! line (#!/usr/bin/forkpool "
                "%s ...)",
                shown, shown);
        return -1;
    case O_SSHLOGIN: return sshlogin_check(val, shown);
    case O_NULL:
    case O_DELIM: {
        char *d;
        size_t n;
        if (opt_delim(def->id == O_NULL ? "\\0" : val, &d, &n) != 0) {
            if (errno == ENOMEM)
                fpc_say("out of memory");
            else
                fpc_say("bad delimiter '%s' for %s", val, shown);
            return -1;
        }
        free(o->delim);
        o->delim = d;
        o->dlen = n;
        break;
    }
    case O_TIMEOUT:
        if (parse_pct(val, &o->timeout_pct) == 0) /* N% of the median runtime */
            break;
        o->timeout_pct = 0;
        if (parse_duration(val, &o->timeout_ms, &o->timeout_s) != 0) {
            fpc_say("bad value '%s' for %s: expected seconds (e.g. 2.5, 10s, 1m)", val, shown);
            return -1;
        }
        break;
    case O_BT: {
        double secs;
        if (parse_duration(val, &o->block_timeout_ms, &secs) != 0 || o->block_timeout_ms == 0) {
            fpc_say("bad value '%s' for %s: expected seconds above 0 (e.g. 0.5, 2s, 1m)", val,
                    shown);
            return -1;
        }
        break;
    }
    case O_TERMSEQ:
        if (parse_termseq(val, o) != 0) {
            fpc_say("bad value '%s' for %s: expected SIGNAL,MS,SIGNAL,MS... (at most %d "
                    "signals), e.g. TERM,200,KILL,25", val, shown, FORKPOOL_KILL_STEPS_MAX);
            return -1;
        }
        break;
    case O_RETRIES:
        if (fpc_parse_ulong(val, &o->max_tries) != 0) {
            fpc_say("bad value '%s' for %s: expected a number", val, shown);
            return -1;
        }
        break;
    case O_HALT:
        if (parse_halt(val, o) != 0) {
            fpc_say("bad value '%s' for %s: expected never, or now|soon,fail|success|done=N or N%%",
                    val, shown);
            return -1;
        }
        break;
    }
    return 0;
}

/* Parses a cluster of short options ("-kj4", "-j", "4"). *i is the index of
   the cluster; it is advanced past a value taken from the next argument. */
static int parse_short(struct opts *o, int argc, char **argv, int *i)
{
    const char *p = argv[*i] + 1;
    while (*p) {
        const struct optdef *def = NULL;
        for (size_t k = 0; k < NOPTDEFS; k++)
            if (optdefs[k].shrt == *p)
                def = &optdefs[k];
        char shown[3] = {'-', *p, '\0'};
        if (def == NULL) {
            fpc_say("unknown option '%s' (try --help)", shown);
            return -1;
        }
        p++;
        if (!def->arg) {
            if (apply_opt(o, def, NULL, shown) != 0)
                return -1;
            continue;
        }
        const char *val = p;
        if (*val == '\0') {
            if (*i + 1 >= argc) {
                fpc_say("option '%s' needs a value", shown);
                return -1;
            }
            val = argv[++*i];
        }
        return apply_opt(o, def, val, shown);
    }
    return 0;
}

/* Parses "--name" or "--name=value" (value possibly the next argument). */
static int parse_long(struct opts *o, int argc, char **argv, int *i)
{
    const char *name = argv[*i] + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const struct optdef *def = NULL;
    for (size_t k = 0; k < NOPTDEFS; k++)
        if (nlen > 0 && strlen(optdefs[k].lng) == nlen && strncmp(optdefs[k].lng, name, nlen) == 0)
            def = &optdefs[k];
    if (def == NULL) {
        fpc_say("unknown option '--%.*s' (try --help)", (int)nlen, name);
        return -1;
    }
    char shown[32];
    snprintf(shown, sizeof shown, "--%s", def->lng);
    if (!def->arg) {
        if (def->id == O_SHELL && eq != NULL && eq[1] != '\0') { /* --shell=PATH */
            o->shell_path = eq + 1;
            return apply_opt(o, def, NULL, shown);
        }
        if (eq != NULL) {
            fpc_say("option '%s' takes no value", shown);
            return -1;
        }
        return apply_opt(o, def, NULL, shown);
    }
    const char *val = eq ? eq + 1 : NULL;
    if (val == NULL) {
        if (*i + 1 >= argc) {
            fpc_say("option '%s' needs a value", shown);
            return -1;
        }
        val = argv[++*i];
    }
    return apply_opt(o, def, val, shown);
}

/* Whether s is the `:::` separator (--arg-sep), or the same with a `+`
   (linked: *plus set). */
static bool is_sep_as(const char *s, const char *sep, bool *plus)
{
    size_t n = strlen(sep);
    if (strncmp(s, sep, n) != 0 || (s[n] != '\0' && strcmp(s + n, "+") != 0))
        return false;
    if (plus != NULL)
        *plus = s[n] == '+';
    return true;
}

static bool is_sep3(const struct opts *o, const char *s, bool *plus)
{
    return is_sep_as(s, o->arg_sep, plus);
}

static bool is_sep4(const struct opts *o, const char *s, bool *plus)
{
    return is_sep_as(s, o->arg_file_sep, plus);
}

static bool is_sep(const struct opts *o, const char *s)
{
    return is_sep3(o, s, NULL) || is_sep4(o, s, NULL);
}

/* Splits what follows the options: COMMAND [ARGS...] then groups. No
   COMMAND: each input is a command line (o->no_command). */
static int parse_operands(struct opts *o, int argc, char **argv, int i)
{
    o->cmd = argv + i;
    while (i < argc && !is_sep(o, argv[i]))
        i++;
    o->ncmd = (size_t)(argv + i - o->cmd);
    o->no_command = o->ncmd == 0;
    /* Each -a file is one group, first; then each `:::` starts one group
       and each file after `::::` is one group. */
    o->srcs = calloc((size_t)argc + o->nargfiles, sizeof *o->srcs);
    if (o->srcs == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    for (size_t k = 0; k < o->nargfiles; k++)
        o->srcs[o->nsrcs++].path = o->argfiles[k];
    while (i < argc) {
        bool plus = false;
        bool files = is_sep4(o, argv[i], &plus);
        if (!files)
            is_sep3(o, argv[i], &plus);
        const char *sep = argv[i];
        i++;
        if (!files) {
            struct source *s = &o->srcs[o->nsrcs++];
            s->args = argv + i;
            s->link = plus && o->nsrcs > 1;
            while (i < argc && !is_sep(o, argv[i]))
                i++;
            s->nargs = (size_t)(argv + i - s->args);
            continue;
        }
        int first = i;
        for (; i < argc && !is_sep(o, argv[i]); i++) {
            o->srcs[o->nsrcs].link = plus && o->nsrcs > 0; /* ::::+ F G: all linked */
            o->srcs[o->nsrcs++].path = argv[i];
        }
        if (i == first) {
            fpc_say("'%s' needs at least one file", sep);
            return -1;
        }
    }
    return 0;
}

int opt_parse(struct opts *o, int argc, char **argv)
{
    *o = (struct opts){.max_tries = 1, .max_args = -1, .arg_sep = ":::", .arg_file_sep = "::::",
                       .termseq = {{SIGTERM, 200}, {SIGTERM, 100}, {SIGTERM, 50}, {SIGKILL, 25}},
                       .ntermseq = 4};
    /* Every -a FILE takes two words at least. */
    o->argfiles = calloc((size_t)argc / 2 + 1, sizeof *o->argfiles);
    o->rpl.rpls = calloc((size_t)argc / 2 + 1, sizeof *o->rpl.rpls); /* --rpl too */
    o->profiles = calloc((size_t)argc / 2 + 1, sizeof *o->profiles);  /* and -J */
    if (o->argfiles == NULL || o->rpl.rpls == NULL || o->profiles == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            o->dashdash = true;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        int r = a[1] == '-' ? parse_long(o, argc, argv, &i) : parse_short(o, argc, argv, &i);
        if (r != 0)
            return -1;
        if (o->help || o->version || o->info != NULL || o->minversion != NULL ||
            o->record_env)
            return 0;
    }
    o->nopt_words = i;
    if (o->delim == NULL && opt_delim("\\n", &o->delim, &o->dlen) != 0) {
        fpc_say("out of memory");
        return -1;
    }
    return parse_operands(o, argc, argv, i);
}

void opt_free(struct opts *o)
{
    free(o->delim);
    free(o->srcs);
    free(o->argfiles);
    free(o->rpl.rpls);
    free(o->profiles);
}

/* -j FILE: the value written in FILE (its first line, white space
   around it dropped), into buf. 0, or -1 (no such file, or too long). */
static int jobs_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char *line = fgets(buf, (int)size, f);
    fclose(f);
    if (line == NULL)
        return -1;
    size_t n = strlen(buf);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]) != NULL)
        buf[--n] = '\0';
    size_t lead = strspn(buf, " \t");
    memmove(buf, buf + lead, n - lead + 1);
    return buf[0] != '\0' ? 0 : -1;
}

static int jobs_value(const char *s, long cpus, const unsigned long *total, unsigned *jobs,
                      const char *file);

/* A job needs about four fds (its stdout and stderr pipes, the pool's own),
   so -j 0 stays well inside RLIMIT_NOFILE. */
int opt_jobs(const char *s, long cpus, const unsigned long *total, unsigned *jobs)
{
    return jobs_value(s, cpus, total, jobs, NULL);
}

/* file: the -j FILE s was read from; NULL: s is -j's value. */
static int jobs_value(const char *s, long cpus, const unsigned long *total, unsigned *jobs,
                      const char *file)
{
    if (cpus < 1)
        cpus = 1;
    if (s == NULL) {
        *jobs = (unsigned)cpus;
        return 0;
    }
    unsigned long v;
    size_t len = strlen(s);
    double j;
    if (len > 1 && s[len - 1] == '%') {
        char num[32];
        if (len - 1 >= sizeof num)
            goto bad;
        memcpy(num, s, len - 1);
        num[len - 1] = '\0';
        if (fpc_parse_ulong(num, &v) != 0)
            goto bad;
        j = (double)cpus * (double)v / 100.0;
    } else if (s[0] == '+' || s[0] == '-') {
        if (fpc_parse_ulong(s + 1, &v) != 0)
            goto bad;
        j = s[0] == '+' ? (double)cpus + (double)v : (double)cpus - (double)v;
    } else {
        if (fpc_parse_ulong(s, &v) != 0)
            goto bad;
        if (v == 0) {
            struct rlimit rl;
            unsigned long cap = 250;
            if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                rl.rlim_cur > 64)
                cap = (unsigned long)(rl.rlim_cur - 32) / 4;
            if (cap > 4096)
                cap = 4096;
            if (total != NULL && *total < cap)
                cap = *total;
            *jobs = cap ? (unsigned)cap : 1;
            return 0;
        }
        j = (double)v;
    }
    if (j > 1e6) {
        fpc_say("too many jobs for -j: '%s'", s);
        return -1;
    }
    *jobs = j < 1 ? 1 : (unsigned)j;
    return 0;
bad:
    if (file == NULL) {
        char val[64];
        if (jobs_file(s, val, sizeof val) == 0)
            return jobs_value(val, cpus, total, jobs, s);
        fpc_say("bad value '%s' for -j: expected N, N%%, +N, -N or 0, or a file holding one", s);
    } else {
        fpc_say("bad value '%s' in -j's file '%s': expected N, N%%, +N, -N or 0", s, file);
    }
    return -1;
}
