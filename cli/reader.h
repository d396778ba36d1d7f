/*
 * reader.h: splits a file descriptor's bytes into records at a delimiter of
 * any length (-d, -0, default "\n"). Reads are driven by the caller
 * (reader_fill when poll() says the fd is readable), so a slow pipe never
 * blocks the main loop.
 */
#ifndef FPC_READER_H
#define FPC_READER_H

#include <stdbool.h>
#include <stddef.h>

struct reader {
    int fd;
    bool close_fd;
    char *buf;
    size_t start, len, cap; /* unconsumed bytes: buf[start..len) */
    size_t scanned;         /* bytes after start known to hold no delimiter */
    const char *delim;      /* borrowed; dlen >= 1 bytes, may hold NUL */
    size_t dlen;
    bool eof;
};

/* Opens path ("-": stdin, not closed by reader_close) for reading records
   separated by delim[0..dlen). 0, or -1 and errno. */
int reader_open(struct reader *r, const char *path, const char *delim, size_t dlen);

/* Next record: 1 with *rec NUL-terminated inside the buffer (valid until the
   next call of reader_next or reader_fill), 0 when more bytes must be read
   first, -1 at the end. A last record without a trailing delimiter counts;
   a trailing delimiter does not start an empty one. A record holding a NUL
   byte reads as a C string only up to it. */
int reader_next(struct reader *r, char **rec);

/* One read() into the buffer (compacting or growing it first). 0 (data, EOF
   or a harmless EINTR/EAGAIN), or -1 and errno. Blocks only if the fd has
   nothing to read. */
int reader_fill(struct reader *r);

void reader_close(struct reader *r);

#endif
