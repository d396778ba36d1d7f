/*
 * libFuzzer target for forkpool_map's record decoder (src/maprec.c), the
 * input a crashed or hostile batch child controls. The first byte chooses
 * max_output (0: unlimited); the rest is the record stream, decoded the way
 * the parent takes it: record after record while each is whole and well
 * formed, stopping at a partial or malformed one.
 *
 * Built by `make fuzz`; the same entry point replays tests/fuzz/corpus_map/
 * in tests/t_maprec.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maprec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = data[0] & 0x80 ? 0 : (size_t)data[0] * 4;
    data++;
    size--;
    size_t off = 0;
    while (off < size) {
        ptrdiff_t n = fp_rec_size(data + off, size - off, max);
        if (n < -1 || (n > 0 && (size_t)n > size - off))
            abort(); /* a whole record lies inside what was given */
        if (n <= 0)
            break;
        uint32_t head;
        memcpy(&head, data + off, 4);
        if ((head & 3) == FP_REC_OK && max && (head >> 2) > max)
            abort(); /* max_output holds */
        off += (size_t)n;
    }
    return 0;
}
