/*
 * fpc.h: what every module of the command-line tool may use: its messages,
 * whole writes and the clock. Depends on nothing else in cli/.
 */
#ifndef FPC_FPC_H
#define FPC_FPC_H

#include <stddef.h>
#include <time.h>

#if defined(__GNUC__)
#define FPC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FPC_PRINTF(f, a)
#endif

/* Prints "forkpool: <message>\n" on stderr, as one write (cut at 1 KiB). */
void fpc_say(const char *fmt, ...) FPC_PRINTF(1, 2);

/* Writes buf[0..n) to fd whole, retrying on EINTR. 0, or -1 and errno. */
int fpc_write_all(int fd, const void *buf, size_t n);

/* Parses an unsigned decimal that must fill s (no sign, no space). 0, or
   -1 (not one, or out of range). */
int fpc_parse_ulong(const char *s, unsigned long *out);

/* Where temporary files go: dir (--tmpdir) if not NULL, else $TMPDIR if
   set and not empty, else /tmp. */
const char *fpc_tmpdir(const char *dir);

/* ts in seconds. */
double fpc_timespec_s(const struct timespec *ts);

/* CLOCK_MONOTONIC now, in seconds (cannot fail with a valid clock id). */
double fpc_mono_now(void);

#endif
