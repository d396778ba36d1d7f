/*
 * raw_copy.h: a large result from a child to its parent, done by hand: the
 * floors for forkpool_return and forkpool_result_buffer.
 *
 * Every variant times the same whole job: fork a child; the child produces
 * `len` bytes (memset of fresh memory: it builds its result); the bytes
 * reach the parent; the parent reads one byte of every page (it has the
 * result, page faults included) and reaps the child.
 *
 *   pipe:     the child write()s its buffer into a pipe (the kernel's default
 *             size, 64 KiB, or pipe_size set with F_SETPIPE_SZ); the parent
 *             read()s into freshly allocated memory. Two copies.
 *   memfd:    the child write()s its buffer into a memfd the parent created
 *             before the fork; the parent mmaps the memfd. One copy.
 *   inplace:  the child sizes that memfd, maps it and builds the result in
 *             it; the parent mmaps it. No copy: the floor for a result built
 *             in place (forkpool_result_buffer).
 */
#ifndef FORKPOOL_BENCH_RAW_COPY_H
#define FORKPOOL_BENCH_RAW_COPY_H

#include "bench.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RAW_COPY_BYTE = 0xA5 };

typedef enum { RAW_COPY_PIPE, RAW_COPY_MEMFD, RAW_COPY_INPLACE } raw_copy_kind;

static inline int raw_copy_write_all(int fd, const void *p, size_t len)
{
    const unsigned char *b = p;
    while (len > 0) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The child's side; never returns. */
static inline void raw_copy_child(raw_copy_kind kind, int fd, size_t len)
{
    unsigned char *b;
    if (kind == RAW_COPY_INPLACE) {
        if (ftruncate(fd, (off_t)len) != 0)
            _exit(1);
        b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    } else {
        b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (b == MAP_FAILED)
        _exit(1);
    memset(b, RAW_COPY_BYTE, len);
    if (kind != RAW_COPY_INPLACE && raw_copy_write_all(fd, b, len) != 0)
        _exit(1);
    _exit(0);
}

/* Reads one byte of every page of p[0..len): 0 if each is RAW_COPY_BYTE. */
static inline int raw_copy_check(const unsigned char *p, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < len; off += page)
        if (p[off] != RAW_COPY_BYTE)
            return -1;
    return len > 0 && p[len - 1] == RAW_COPY_BYTE ? 0 : -1;
}

/* The parent's side of a pipe: reads len bytes into new memory, checks. */
static inline int raw_copy_read_pipe(int fd, size_t len)
{
    unsigned char *dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                              -1, 0);
    if (dst == MAP_FAILED)
        return -1;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, dst + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    int rc = got == len ? raw_copy_check(dst, len) : -1;
    munmap(dst, len);
    return rc;
}

/* The parent's side of a memfd: maps what the child left there, checks. */
static inline int raw_copy_map_memfd(int fd, size_t len)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size != len)
        return -1;
    unsigned char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -1;
    int rc = raw_copy_check(p, len);
    munmap(p, len);
    return rc;
}

/*
 * ms for one child to hand len bytes to the parent by `kind` (pipe_size:
 * RAW_COPY_PIPE only; 0 keeps the kernel's default). Returns -1 on failure,
 * -2 when F_SETPIPE_SZ refused pipe_size (report that variant as NA).
 */
static inline double raw_copy(raw_copy_kind kind, size_t len, int pipe_size)
{
    int fds[2] = {-1, -1}; /* pipe: read end, write end; memfd: fds[0] */
    if (kind == RAW_COPY_PIPE) {
        if (pipe2(fds, O_CLOEXEC) != 0)
            return -1;
        if (pipe_size > 0 && fcntl(fds[1], F_SETPIPE_SZ, pipe_size) < pipe_size) {
            close(fds[0]);
            close(fds[1]);
            return -2;
        }
    } else if ((fds[0] = memfd_create("raw_copy", MFD_CLOEXEC)) < 0) {
        return -1;
    }
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid == 0) {
        if (kind == RAW_COPY_PIPE)
            close(fds[0]);
        raw_copy_child(kind, kind == RAW_COPY_PIPE ? fds[1] : fds[0], len);
    }
    int rc = pid < 0 ? -1 : 0;
    if (kind == RAW_COPY_PIPE) {
        close(fds[1]);
        if (rc == 0)
            rc = raw_copy_read_pipe(fds[0], len);
    }
    int st = 0;
    pid_t r = 0;
    if (pid > 0)
        while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
            ;
    if (r < 0 || (pid > 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)))
        rc = -1;
    if (rc == 0 && kind != RAW_COPY_PIPE)
        rc = raw_copy_map_memfd(fds[0], len);
    double ms = (bench_now() - t0) * 1000.0;
    close(fds[0]);
    if (rc != 0) {
        fprintf(stderr, "raw copy (kind %d) failed\n", (int)kind);
        return -1;
    }
    return ms;
}

#endif
