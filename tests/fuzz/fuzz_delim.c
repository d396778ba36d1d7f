/*
 * libFuzzer target for the command-line tool's record input: the -d
 * delimiter decoder (opt_delim, cli/options.c) and the record reader
 * (cli/reader.c), which splits whatever a user pipes in.
 *
 * Input: a byte choosing how the stream is cut into reads (1 to 32 bytes),
 * then the -d argument up to the first NUL, then the stream. The stream goes
 * through a pipe, one write and one reader_fill per piece, with every
 * record taken out between reads as the tool does; the records must be
 * those of a plain split at each delimiter (a final record without one
 * counts, a trailing delimiter starts no empty record).
 *
 * Built by `make fuzz`; the same entry point replays tests/fuzz/corpus_delim/
 * in tests/cli/u_inputs.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "reader.h"

/* Takes every record the reader has; each must be the next one of the
   plain split of want[0..wlen) at delim, *pos being how far it got. */
static void fuzz_take(struct reader *r, const uint8_t *want, size_t wlen, size_t *pos,
                      int *ended)
{
    char *rec;
    int k;
    while ((k = reader_next(r, &rec)) == 1) {
        if (*pos >= wlen)
            abort(); /* a record the split does not have */
        const uint8_t *hit = memmem(want + *pos, wlen - *pos, r->delim, r->dlen);
        size_t n = hit ? (size_t)(hit - want) - *pos : wlen - *pos;
        const uint8_t *nul = memchr(want + *pos, '\0', n);
        size_t cn = nul ? (size_t)(nul - (want + *pos)) : n; /* as a C string */
        if (strlen(rec) != cn || memcmp(rec, want + *pos, cn) != 0)
            abort();
        *pos += n + (hit ? r->dlen : 0);
    }
    if (k < 0)
        *ended = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cut = (size_t)(data[0] % 32) + 1;
    const uint8_t *spec = data + 1, *nul = memchr(spec, '\0', size - 1);
    size_t slen = nul ? (size_t)(nul - spec) : size - 1;
    const uint8_t *stream = nul ? nul + 1 : data + size;
    size_t len = (size_t)(data + size - stream);

    char *arg = malloc(slen + 1);
    if (arg == NULL)
        return 0;
    memcpy(arg, spec, slen);
    arg[slen] = '\0';
    char *delim;
    size_t dlen;
    int r = opt_delim(arg, &delim, &dlen);
    if (r != 0) {
        free(arg);
        return 0; /* empty: refused */
    }
    if (dlen == 0 || dlen > slen || (memchr(arg, '\\', slen) == NULL &&
                                     (dlen != slen || memcmp(delim, arg, slen) != 0)))
        abort(); /* decoding only shortens, and leaves text without escapes */
    free(arg);

    int p[2];
    if (pipe(p) != 0) {
        free(delim);
        return 0;
    }
    char path[32];
    snprintf(path, sizeof path, "/dev/fd/%d", p[0]);
    struct reader rd;
    if (reader_open(&rd, path, delim, dlen) != 0)
        abort();
    close(p[0]);
    size_t pos = 0, off = 0;
    int ended = 0;
    fuzz_take(&rd, stream, len, &pos, &ended); /* before any read, as the tool */
    while (off < len) {
        size_t n = len - off < cut ? len - off : cut;
        if (write(p[1], stream + off, n) != (ssize_t)n || reader_fill(&rd) != 0)
            abort();
        off += n;
        fuzz_take(&rd, stream, len, &pos, &ended);
    }
    close(p[1]);
    while (!ended) {
        if (reader_fill(&rd) != 0)
            abort();
        fuzz_take(&rd, stream, len, &pos, &ended);
    }
    if (pos != len)
        abort(); /* records the split has and the reader did not give */
    reader_close(&rd);
    free(delim);
    return 0;
}
