/* fpc.c: the tool's messages, whole writes, clock and decimal parsing (contracts in fpc.h). */
#include "fpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void fpc_say(const char *fmt, ...)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "forkpool: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    /* Nothing useful can be done if stderr is gone. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

int fpc_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

double fpc_timespec_s(const struct timespec *ts)
{
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

double fpc_mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return fpc_timespec_s(&ts);
}

int fpc_parse_ulong(const char *s, unsigned long *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

const char *fpc_tmpdir(const char *dir)
{
    if (dir == NULL)
        dir = getenv("TMPDIR");
    return dir == NULL || *dir == '\0' ? "/tmp" : dir;
}
