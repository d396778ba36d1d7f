/* The tool's input side (cli/reader.c, cli/inputs.c): records split at a
   delimiter of any length, across reads of every size and across the
   buffer's refills; -0; a final record without a delimiter; the
   combinations of input groups, from words, files and stdin; and the fuzz
   corpus (tests/fuzz/corpus_delim) replays cleanly. */
#include <stdbool.h>

#include "inputs.h"
#include "tap.h"

#include "fuzz/fuzz_delim.c"

static char tmp_path[256];

/* A new temporary file holding data[0..len); its path is tmp_path. */
static const char *file_with(const void *data, size_t len)
{
    const char *dir = getenv("TMPDIR");
    snprintf(tmp_path, sizeof tmp_path, "%s/u_inputs.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmp_path);
    if (fd < 0)
        bail_out("mkstemp failed");
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0)
            bail_out("cannot write a temporary file");
        p += w;
        len -= (size_t)w;
    }
    close(fd);
    return tmp_path;
}

/* The records a reader gives for a file of data[0..len), as "[r1][r2]..."
   (malloc'd); NULL if reading failed. */
static char *records(const char *delim, size_t dlen, const void *data, size_t len)
{
    struct reader r;
    const char *path = file_with(data, len);
    if (reader_open(&r, path, delim, dlen) != 0)
        bail_out("reader_open failed");
    size_t cap = len * 2 + 64, n = 0;
    char *out = malloc(cap);
    if (!out)
        bail_out("out of memory");
    out[0] = '\0';
    for (;;) {
        char *rec;
        int k = reader_next(&r, &rec);
        if (k < 0)
            break;
        if (k == 0) {
            if (reader_fill(&r) != 0) {
                free(out);
                out = NULL;
                break;
            }
            continue;
        }
        n += (size_t)snprintf(out + n, cap - n, "[%s]", rec);
    }
    reader_close(&r);
    unlink(path);
    return out;
}

static void records_are(const char *delim, size_t dlen, const char *data, size_t len,
                        const char *want, const char *name)
{
    char *got = records(delim, dlen, data, len);
    is_str(got, want, "%s", name);
    free(got);
}

#define RECS(delim, data, want, name) \
    records_are(delim, sizeof delim - 1, data, sizeof data - 1, want, name)

static void splitting(void)
{
    RECS("\n", "a\nbb\n\nccc", "[a][bb][][ccc]", "a final record without a delimiter counts");
    RECS("\n", "a\nb\n", "[a][b]", "a trailing delimiter starts no empty record");
    RECS("\n", "", "", "no bytes: no records");
    RECS("\n", "\n", "[]", "a lone delimiter: one empty record");
    RECS("\n", "\n\n", "[][]", "two delimiters: two empty records");
    RECS("\0", "a\0b\0c", "[a][b][c]", "-0: records end at NUL");
    RECS("\0", "a b\nc\0", "[a b\nc]", "-0: newlines and spaces are data");
    RECS("XYZ", "1XYZ22XYZXYZ333XY", "[1][22][][333XY]", "a three-byte delimiter");
    RECS("aa", "aaaaa", "[][][a]", "an overlapping delimiter is taken leftmost");
    RECS("\r\n", "l1\r\nl2\r\n", "[l1][l2]", "CR LF");

    /* The first read takes 128 KiB - 1 bytes: put a delimiter across it. */
    enum { FIRST = 128 * 1024 - 1 };
    size_t len = FIRST + 200000;
    char *big = malloc(len);
    if (!big)
        bail_out("out of memory");
    memset(big, 'x', len);
    memcpy(big + FIRST - 1, "<->", 3);
    memcpy(big + FIRST + 100000, "<->", 3);
    char *got = records("<->", 3, big, len);
    size_t r1 = FIRST - 1, r2 = 100000 - 2, r3 = len - (FIRST + 100003);
    ok(got && strlen(got) == r1 + r2 + r3 + 6 && got[r1 + 1] == ']' &&
           got[r1 + 3 + r2] == ']',
       "records of %zu, %zu and %zu bytes across refills, a delimiter cut by the first read",
       r1, r2, r3);
    free(got);
    free(big);

    /* Many short records across several refills, each in order. */
    size_t nrec = 60000, n = 0;
    char *lines = malloc(nrec * 12);
    if (!lines)
        bail_out("out of memory");
    for (size_t i = 0; i < nrec; i++)
        n += (size_t)sprintf(lines + n, "r%zu\n", i);
    struct reader r;
    if (reader_open(&r, file_with(lines, n), "\n", 1) != 0)
        bail_out("reader_open failed");
    size_t seen = 0;
    bool in_order = true;
    for (;;) {
        char *rec, want[32];
        int k = reader_next(&r, &rec);
        if (k < 0 || (k == 0 && reader_fill(&r) != 0))
            break;
        if (k == 0)
            continue;
        snprintf(want, sizeof want, "r%zu", seen++);
        in_order &= strcmp(rec, want) == 0;
    }
    reader_close(&r);
    unlink(tmp_path);
    free(lines);
    ok(in_order && seen == nrec, "%zu records of %zu bytes in all, each whole and in order",
       seen, n);

    errno = 0;
    ok(reader_open(&r, "/nonexistent/x", "\n", 1) == -1 && errno == ENOENT,
       "a missing file: ENOENT");
}

/* Every read size from 1 to 32 bytes gives the plain split (the fuzz
   target checks it and aborts otherwise). */
static void every_cut(const char *spec, const char *stream, size_t len, const char *name)
{
    size_t slen = strlen(spec);
    uint8_t *in = malloc(1 + slen + 1 + len);
    if (!in)
        bail_out("out of memory");
    memcpy(in + 1, spec, slen + 1);
    memcpy(in + 2 + slen, stream, len);
    for (int cut = 0; cut < 32; cut++) {
        in[0] = (uint8_t)cut;
        LLVMFuzzerTestOneInput(in, 2 + slen + len);
    }
    free(in);
    ok(1, "every read size from 1 to 32: %s", name);
}

#define EVERY_CUT(spec, stream, name) every_cut(spec, stream, sizeof stream - 1, name)

static void cuts(void)
{
    EVERY_CUT("\\n", "a\nbb\n\nccc\n", "newlines");
    EVERY_CUT("\\0", "a\0bb\0\0ccc", "-0");
    EVERY_CUT("<->", "1<->22<-<->>333<-", "a three-byte delimiter");
    EVERY_CUT("\\r\\n", "\r\n\r\r\n\n\r\nx", "CR LF");
}

/* The combinations inputs_next gives, as "[a b][a c]..." (values of one
   combination space-separated), reading any stream as it goes. */
static char *combinations(struct inputs *in)
{
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    if (!out)
        bail_out("out of memory");
    out[0] = '\0';
    for (;;) {
        char **vals;
        int k = inputs_next(in, &vals);
        if (k == 0 && reader_fill(&in->rd) == 0)
            continue;
        if (k != 1)
            break;
        n += (size_t)snprintf(out + n, cap - n, "[");
        for (size_t g = 0; g < in->ngroups; g++)
            n += (size_t)snprintf(out + n, cap - n, "%s%s", g ? " " : "", vals[g]);
        n += (size_t)snprintf(out + n, cap - n, "]");
        inputs_vals_free(vals, in->ngroups);
    }
    return out;
}

/* Sets up inputs from sources (NULL-terminated word lists; a list
   starting with "::::" is that file) and checks the combinations and the
   total. */
static void combos_are(struct source *srcs, size_t nsrcs, const char *want, long total,
                       const char *name)
{
    char delim[] = "\n";
    struct opts o = {.delim = delim, .dlen = 1, .srcs = srcs, .nsrcs = nsrcs};
    struct inputs in;
    tap_stderr_begin();
    int r = inputs_init(&in, &o);
    const char *err = tap_stderr_end();
    unsigned long t = 0;
    bool known = r == 0 && inputs_total(&in, &t);
    char *got = r == 0 ? combinations(&in) : NULL;
    ok(r == 0 && *err == '\0' && got && strcmp(got, want) == 0 &&
           (total < 0 ? !known : known && t == (unsigned long)total),
       "%s", name);
    if (got && strcmp(got, want) != 0)
        diag("got %s, expected %s", got, want);
    free(got);
    inputs_free(&in);
}

static void groups(void)
{
    char *ab[] = {"a", "b"}, *one2[] = {"1", "2"}, *x[] = {"x"};
    struct source two[] = {{.args = ab, .nargs = 2}, {.args = one2, .nargs = 2}};
    combos_are(two, 2, "[a 1][a 2][b 1][b 2]", 4, "::: a b ::: 1 2: the first group varies slowest");
    struct source three[] = {{.args = x, .nargs = 1}, {.args = ab, .nargs = 2},
                             {.args = one2, .nargs = 2}};
    combos_are(three, 3, "[x a 1][x a 2][x b 1][x b 2]", 4, "three groups");
    struct source empty[] = {{.args = ab, .nargs = 2}, {.args = NULL, .nargs = 0}};
    combos_are(empty, 2, "", 0, "an empty group: no combinations");
    struct source none[] = {{.args = NULL, .nargs = 0}};
    combos_are(none, 1, "", 0, "an empty first group: no combinations");

    char path[256];
    snprintf(path, sizeof path, "%s", file_with("f1\nf2\n", 6));
    struct source streamed[] = {{.path = path}, {.args = ab, .nargs = 2}};
    combos_are(streamed, 2, "[f1 a][f1 b][f2 a][f2 b]", -1,
               ":::: FILE first: streamed, the total unknown");
    struct source loaded[] = {{.args = ab, .nargs = 2}, {.path = path}};
    combos_are(loaded, 2, "[a f1][a f2][b f1][b f2]", 4, "a later :::: FILE: loaded whole");

    int saved = dup(STDIN_FILENO), fd = open(path, O_RDONLY);
    if (saved < 0 || fd < 0 || dup2(fd, STDIN_FILENO) < 0)
        bail_out("cannot redirect stdin");
    close(fd);
    combos_are(NULL, 0, "[f1][f2]", -1, "no groups: stdin, streamed");
    dup2(saved, STDIN_FILENO);
    close(saved);
    unlink(path);

    struct source missing[] = {{.args = ab, .nargs = 2}, {.path = "/nonexistent/f"}};
    char delim[] = "\n";
    struct opts o = {.delim = delim, .dlen = 1, .srcs = missing, .nsrcs = 2};
    struct inputs in;
    tap_stderr_begin();
    int r = inputs_init(&in, &o);
    const char *err = tap_stderr_end();
    ok(r == -1 &&
           strcmp(err, "forkpool: cannot open '/nonexistent/f': No such file or directory\n") == 0,
       "a missing file: refused with the tool's message");
    inputs_free(&in);
}

int main(void)
{
    tap_watchdog(60);
    splitting();
    cuts();
    groups();
    int files = tap_replay_corpus("tests/fuzz/corpus_delim", LLVMFuzzerTestOneInput);
    ok(files >= 10, "replayed %d corpus inputs without a crash", files);
    return done_testing();
}
