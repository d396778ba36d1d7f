/*
 * libFuzzer target for the child -> parent framing decoder (src/wire.c), the
 * input a crashed or hostile task controls. The first two bytes choose
 * max_output and how the stream is cut into reads; the rest is the stream.
 * Each chunk goes through fp_decoder_feed, or, while a payload is pending,
 * straight into the payload through fp_decoder_direct as the parent does for
 * large payloads. Frames are checked the way the parent uses them.
 *
 * Built by `make fuzz` (clang -fsanitize=fuzzer,address,undefined); the
 * same entry point replays tests/fuzz/corpus_wire/ in tests/t_wire.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

struct fuzz_state {
    size_t frames;
    size_t max; /* 0: unlimited */
};

static int on_frame(void *ud, unsigned type, unsigned char *payload, size_t len)
{
    struct fuzz_state *st = ud;
    st->frames++;
    if (type == FP_FRAME_THROW) {
        int code;
        const char *t, *m;
        size_t tl, ml;
        if (fp_wire_parse_throw(payload, len, &code, &t, &tl, &m, &ml) == 0) {
            /* Everything it points at must lie inside the payload. */
            if (t < (const char *)payload || t + tl > (const char *)payload + len ||
                m + ml != (const char *)payload + len)
                abort();
        }
    } else if (type == FP_FRAME_END && len != FP_WIRE_END_LEN && len != FP_WIRE_END_USAGE_LEN) {
        abort();
    } else if (type == FP_FRAME_RESULT_FD) {
        int fd;
        size_t rlen;
        if (len != FP_WIRE_RESULT_FD_LEN)
            abort();
        fp_wire_parse_result_fd(payload, &fd, &rlen);
        if (fd < 0 || rlen == 0 || (st->max && rlen > st->max))
            abort(); /* the decoder lets only a usable fd and length through */
    }
    free(payload);
    return st->frames > 64 ? -1 : 0; /* exercise the callback stopping it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = data[0] & 0x80 ? 0 : (size_t)data[0] * 4; /* 0: unlimited */
    size_t cut = (size_t)(data[1] % 31) + 1;
    data += 2;
    size -= 2;
    fp_decoder d;
    struct fuzz_state st = {0, max};
    fp_decoder_init(&d, max);
    while (size > 0) {
        void *dst;
        size_t want = fp_decoder_direct(&d, &dst), n = size < cut ? size : cut;
        int r;
        if (want > 0) {
            if (n > want)
                n = want;
            memcpy(dst, data, n);
            r = fp_decoder_direct_done(&d, n, on_frame, &st);
        } else {
            r = fp_decoder_feed(&d, data, n, on_frame, &st);
        }
        if (r == -1) {
            if (d.error && d.message[0] == '\0')
                abort(); /* an error always says why */
            break;
        }
        data += n;
        size -= n;
    }
    fp_decoder_idle(&d);
    fp_decoder_free(&d);
    return 0;
}
