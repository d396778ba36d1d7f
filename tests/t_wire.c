/* The framing decoder on its own: a stream decodes to the same frames
   however it is cut into reads; limits and malformed input fail with the
   right kind and a message; and the fuzz corpus (tests/fuzz/corpus_wire,
   including every crash the fuzzer ever found) replays cleanly. */
#include <stdint.h>

#include "forkpool.h"
#include "tap.h"
#include "wire.h"

#include "fuzz/fuzz_wire.c"

struct seen {
    int frames, results, ends, end_rc, fds, fd;
    size_t fd_len;
    char result[64];
};

static int collect(void *ud, unsigned type, unsigned char *p, size_t len)
{
    struct seen *s = ud;
    s->frames++;
    if (type == FP_FRAME_RESULT && len < sizeof s->result) {
        s->results++;
        memcpy(s->result, p, len);
        s->result[len] = '\0';
    }
    if (type == FP_FRAME_RESULT_FD) {
        s->fds++;
        fp_wire_parse_result_fd(p, &s->fd, &s->fd_len);
    }
    if (type == FP_FRAME_END) {
        int32_t rc;
        memcpy(&rc, p, sizeof rc);
        s->ends++;
        s->end_rc = rc;
    }
    free(p);
    return 0;
}

static size_t frame(unsigned char *out, unsigned type, const void *p, size_t len)
{
    fp_wire_header(out, type, len);
    memcpy(out + FP_WIRE_HDR, p, len);
    return FP_WIRE_HDR + len;
}

static void every_cut(void)
{
    unsigned char buf[256], fdp[FP_WIRE_RESULT_FD_LEN];
    int32_t rc = 7;
    fp_wire_result_fd(fdp, 5, (size_t)3 << 30);
    size_t n = frame(buf, FP_FRAME_MESSAGE, "m", 1);
    n += frame(buf + n, FP_FRAME_RESULT, "result!", 7);
    n += frame(buf + n, FP_FRAME_RESULT_FD, fdp, sizeof fdp);
    n += frame(buf + n, FP_FRAME_END, &rc, sizeof rc);
    int all_ok = 1;
    for (size_t cut = 1; cut <= n; cut++) {
        fp_decoder d;
        struct seen s = {0};
        fp_decoder_init(&d, 0);
        for (size_t off = 0; off < n; off += cut) {
            size_t k = n - off < cut ? n - off : cut;
            if (fp_decoder_feed(&d, buf + off, k, collect, &s) != 0)
                all_ok = 0;
        }
        all_ok &= s.frames == 4 && s.results == 1 && strcmp(s.result, "result!") == 0 &&
                  s.fds == 1 && s.fd == 5 && s.fd_len == (size_t)3 << 30 && s.ends == 1 &&
                  s.end_rc == 7 && fp_decoder_idle(&d);
        fp_decoder_free(&d);
    }
    ok(all_ok, "four frames decode the same in reads of every size from 1 to %zu", n);
}

static void expect_error(const void *bytes, size_t n, size_t max, forkpool_error_kind kind,
                         const char *words, const char *what)
{
    fp_decoder d;
    struct seen s = {0};
    fp_decoder_init(&d, max);
    int r = fp_decoder_feed(&d, bytes, n, collect, &s);
    ok(r == -1 && d.error == (int)kind && strstr(d.message, words), "%s: %s (%s)", what,
       forkpool_error_kind_name(kind), d.message);
    fp_decoder_free(&d);
}

static void errors(void)
{
    unsigned char buf[64];
    size_t n = frame(buf, FP_FRAME_RESULT, "0123456789", 10);
    expect_error(buf, n, 9, FORKPOOL_ERR_OUTPUT, "over max_output", "result over the limit");
    expect_error("garbage garbage!", 16, 0, FORKPOOL_ERR_PROTOCOL, "bad magic", "bad magic");
    n = frame(buf, 99, "", 0);
    expect_error(buf, n, 0, FORKPOOL_ERR_PROTOCOL, "unknown type", "unknown frame type");
    n = frame(buf, FP_FRAME_END, "abc", 3);
    expect_error(buf, n, 0, FORKPOOL_ERR_PROTOCOL, "end frame", "short end frame");
    n = frame(buf, FP_FRAME_THROW, "abc", 3);
    expect_error(buf, n, 0, FORKPOOL_ERR_PROTOCOL, "error frame", "short error frame");

    unsigned char fdp[FP_WIRE_RESULT_FD_LEN + 1] = {0};
    n = frame(buf, FP_FRAME_RESULT_FD, fdp, sizeof fdp);
    expect_error(buf, n, 0, FORKPOOL_ERR_PROTOCOL, "result fd frame of 13 bytes",
                 "result fd frame too long");
    fp_wire_result_fd(fdp, 3, 0);
    n = frame(buf, FP_FRAME_RESULT_FD, fdp, FP_WIRE_RESULT_FD_LEN);
    expect_error(buf, n, 0, FORKPOOL_ERR_PROTOCOL, "result fd 3 of 0 bytes",
                 "result fd of 0 bytes");
    uint32_t neg = 0x80000000u;
    fp_wire_result_fd(fdp, 3, 10);
    memcpy(fdp, &neg, 4);
    n = frame(buf, FP_FRAME_RESULT_FD, fdp, FP_WIRE_RESULT_FD_LEN);
    expect_error(buf, n, 0, FORKPOOL_ERR_PROTOCOL, "result fd 2147483648",
                 "result fd number past INT_MAX");
    fp_wire_result_fd(fdp, 3, 10);
    n = frame(buf, FP_FRAME_RESULT_FD, fdp, FP_WIRE_RESULT_FD_LEN);
    expect_error(buf, n, 9, FORKPOOL_ERR_OUTPUT, "over max_output",
                 "result fd over the limit");

    int code;
    const char *t, *m;
    size_t tl, ml;
    unsigned char th[8] = {0};
    uint32_t huge = 0xffffffffu;
    memcpy(th + 4, &huge, 4);
    is(fp_wire_parse_throw(th, sizeof th, &code, &t, &tl, &m, &ml), -1,
       "an error frame whose type runs past its end is refused");
}

static void corpus(void)
{
    int files = tap_replay_corpus("tests/fuzz/corpus_wire", LLVMFuzzerTestOneInput);
    ok(files >= 10, "replayed %d corpus inputs without a crash", files);
}

int main(void)
{
    tap_watchdog(30);
    every_cut();
    errors();
    corpus();
    return done_testing();
}
