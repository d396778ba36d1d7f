/* forkpool_map's record decoder (src/maprec.c) on hand-made streams: whole
   records are measured exactly, partial ones wait for more bytes, and
   malformed ones (unknown tag or error kind, a small length sent as BIG,
   empty or NUL-holding error texts, over max_output) are refused; and the
   fuzz corpus (tests/fuzz/corpus_map) replays cleanly. */
#include <stdint.h>

#include "forkpool.h"
#include "tap.h"
#include "fuzz/fuzz_map.c"

static size_t rec_ok(unsigned char *b, const char *data, uint32_t len)
{
    uint32_t head = len << 2 | FP_REC_OK;
    memcpy(b, &head, 4);
    memcpy(b + 4, data, len);
    return 4 + len;
}

static size_t rec_err(unsigned char *b, uint32_t kind, const char *t, const char *m)
{
    uint32_t head = kind << 2 | FP_REC_ERR, tl = (uint32_t)strlen(t), ml = (uint32_t)strlen(m);
    int32_t code = -1;
    memcpy(b, &head, 4);
    memcpy(b + 4, &code, 4);
    memcpy(b + 8, &tl, 4);
    memcpy(b + 12, &ml, 4);
    memcpy(b + 16, t, tl + 1);
    memcpy(b + 17 + tl, m, ml + 1);
    return 18 + tl + ml;
}

static void by_hand(void)
{
    unsigned char b[256];
    size_t n = rec_ok(b, "hello", 5);
    is(fp_rec_size(b, n, 0), (long long)n, "OK record: its size");
    is(fp_rec_size(b, n - 1, 0), 0, "OK record cut short: not whole yet");
    is(fp_rec_size(b, 3, 0), 0, "three bytes: not whole yet");
    is(fp_rec_size(b, n, 4), -1, "OK record over max_output: refused");
    n = rec_err(b, FORKPOOL_ERR_THROWN, "io", "cannot open");
    is(fp_rec_size(b, n, 0), (long long)n, "ERR record: its size");
    is(fp_rec_size(b, n - 1, 0), 0, "ERR record cut short: not whole yet");
    n = rec_err(b, FORKPOOL_ERR_SIGNALED, "x", "y");
    is(fp_rec_size(b, n, 0), -1, "ERR record of a kind a child cannot report: refused");
    n = rec_err(b, FORKPOOL_ERR_THROWN, "", "y");
    is(fp_rec_size(b, n, 0), -1, "ERR record with an empty type: refused");
    n = rec_err(b, FORKPOOL_ERR_THROWN, "ab", "y");
    b[17] = '\0';
    is(fp_rec_size(b, n, 0), -1, "ERR record with a NUL inside its type: refused");
    uint32_t head = FP_REC_BIG;
    uint64_t len = 3;
    memcpy(b, &head, 4);
    memcpy(b + 4, &len, 8);
    is(fp_rec_size(b, 15, 0), -1, "BIG record of a small length: refused");
    head = 3;
    memcpy(b, &head, 4);
    is(fp_rec_size(b, 4, 0), -1, "unknown tag: refused");
}

static void corpus(void)
{
    int files = tap_replay_corpus("tests/fuzz/corpus_map", LLVMFuzzerTestOneInput);
    ok(files > 0, "the corpus replayed: %d inputs", files);
}

int main(void)
{
    by_hand();
    corpus();
    return done_testing();
}
