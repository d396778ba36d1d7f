/*
 * raw_prefork.h: the floor for WORKERS mode, a pre-forked pool over pipes
 * written by hand.
 *
 * `workers` children are forked at the start of the round (timed, as a
 * pool's lazy workers are), each with a request pipe and a response pipe.
 * A request is 16 bytes {sequence, argument}; a worker reads as many
 * requests as are waiting in one read(), runs each (the empty task: result
 * = argument + 1) and writes its 16-byte response {sequence, result} as
 * soon as it is done, one write per task (a task's result must not wait for
 * the next task to finish). The parent keeps up to `depth` requests
 * outstanding per worker: it writes all the requests a worker has room for
 * in one write(), poll()s the response pipes, reads every response waiting
 * in one read(), checks each, and refills. Closing the request pipes ends
 * the workers, which are reaped with waitpid. Records are 16 bytes, under
 * PIPE_BUF, so a write is never split; a read may still end mid-record and
 * that is handled. No timeouts, no crash recovery: the floor.
 */
#ifndef FORKPOOL_BENCH_RAW_PREFORK_H
#define FORKPOOL_BENCH_RAW_PREFORK_H

#include "bench.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RAW_PREFORK_MAX_WORKERS = 16, RAW_PREFORK_MAX_DEPTH = 256, RAW_PREFORK_REC = 16 };

struct raw_prefork_worker {
    pid_t pid;            /* 0: not started */
    int req, resp;        /* parent's ends: write requests, read responses */
    unsigned outstanding; /* requests sent, response not yet read */
    size_t have;          /* bytes of a partial response in buf */
    unsigned char buf[RAW_PREFORK_MAX_DEPTH * RAW_PREFORK_REC];
};

static inline int raw_prefork_write_all(int fd, const void *p, size_t len)
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

/* The worker's loop; never returns. */
static inline void raw_prefork_serve(int req, int resp)
{
    unsigned char buf[RAW_PREFORK_MAX_DEPTH * RAW_PREFORK_REC];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(req, buf + have, sizeof buf - have);
        if (n == 0)
            _exit(0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        have += (size_t)n;
        size_t off = 0;
        for (; have - off >= RAW_PREFORK_REC; off += RAW_PREFORK_REC) {
            uint64_t rec[2];
            memcpy(rec, buf + off, sizeof rec);
            rec[1] += 1; /* the empty task */
            if (raw_prefork_write_all(resp, rec, sizeof rec) != 0)
                _exit(1);
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
}

/* Forks worker i; its child closes every other worker's pipes first, so
   each worker sees EOF when the parent closes its request pipe. */
static inline int raw_prefork_start(struct raw_prefork_worker *w, int i)
{
    int req[2], resp[2];
    if (pipe2(req, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(resp, O_CLOEXEC) != 0) {
        close(req[0]);
        close(req[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(req[0]);
        close(req[1]);
        close(resp[0]);
        close(resp[1]);
        return -1;
    }
    if (pid == 0) {
        for (int k = 0; k < i; k++) {
            close(w[k].req);
            close(w[k].resp);
        }
        close(req[1]);
        close(resp[0]);
        raw_prefork_serve(req[0], resp[1]);
    }
    close(req[0]);
    close(resp[1]);
    w[i].pid = pid;
    w[i].req = req[1];
    w[i].resp = resp[0];
    return 0;
}

/* Sends worker w as many requests as it has room for; 0 or -1. */
static inline int raw_prefork_fill(struct raw_prefork_worker *w, unsigned depth, uint64_t *sent,
                                   uint64_t tasks)
{
    uint64_t recs[RAW_PREFORK_MAX_DEPTH][2];
    unsigned k = 0;
    while (w->outstanding + k < depth && *sent < tasks) {
        recs[k][0] = *sent;
        recs[k][1] = *sent * 3; /* the argument */
        k++;
        (*sent)++;
    }
    if (k == 0)
        return 0;
    w->outstanding += k;
    return raw_prefork_write_all(w->req, recs, k * sizeof recs[0]);
}

/* Reads what worker w has answered; counts and checks each response.
   0, or -1 on a read error, EOF or a wrong result. */
static inline int raw_prefork_drain(struct raw_prefork_worker *w, uint64_t *done)
{
    ssize_t n;
    while ((n = read(w->resp, w->buf + w->have, sizeof w->buf - w->have)) < 0 && errno == EINTR)
        ;
    if (n <= 0)
        return -1;
    w->have += (size_t)n;
    size_t off = 0;
    for (; w->have - off >= RAW_PREFORK_REC; off += RAW_PREFORK_REC) {
        uint64_t rec[2];
        memcpy(rec, w->buf + off, sizeof rec);
        if (rec[1] != rec[0] * 3 + 1 || w->outstanding == 0)
            return -1;
        w->outstanding--;
        (*done)++;
    }
    memmove(w->buf, w->buf + off, w->have - off);
    w->have -= off;
    return 0;
}

/* Closes the request pipes (the workers exit), reaps every worker, closes
   the rest; -1 if a worker did not exit 0. */
static inline int raw_prefork_stop(struct raw_prefork_worker *w, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++)
        close(w[i].req);
    for (int i = 0; i < n; i++) {
        int st;
        pid_t r;
        while ((r = waitpid(w[i].pid, &st, 0)) < 0 && errno == EINTR)
            ;
        if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            rc = -1;
        close(w[i].resp);
    }
    return rc;
}

/* µs per task for `tasks` empty tasks over `workers` workers with `depth`
   requests in flight per worker, start and stop of the workers included;
   -1 on any failure (no child is left behind). */
static inline double raw_prefork_pool(uint64_t tasks, int workers, unsigned depth)
{
    if (workers < 1 || workers > RAW_PREFORK_MAX_WORKERS || depth < 1 ||
        depth > RAW_PREFORK_MAX_DEPTH || tasks == 0)
        return -1;
    struct raw_prefork_worker *w = calloc((size_t)workers, sizeof *w);
    if (w == NULL)
        return -1;
    double t0 = bench_now();
    int started = 0, rc = 0;
    for (; started < workers; started++)
        if (raw_prefork_start(w, started) != 0) {
            perror("raw pre-forked pool: fork");
            rc = -1;
            break;
        }
    uint64_t sent = 0, done = 0;
    while (rc == 0 && done < tasks) {
        struct pollfd fds[RAW_PREFORK_MAX_WORKERS];
        int map[RAW_PREFORK_MAX_WORKERS], n = 0;
        for (int i = 0; i < workers && rc == 0; i++) {
            rc = raw_prefork_fill(&w[i], depth, &sent, tasks);
            if (w[i].outstanding > 0) {
                fds[n] = (struct pollfd){.fd = w[i].resp, .events = POLLIN};
                map[n++] = i;
            }
        }
        if (rc != 0)
            break;
        if (poll(fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = -1;
            break;
        }
        for (int k = 0; k < n && rc == 0; k++)
            if (fds[k].revents != 0)
                rc = raw_prefork_drain(&w[map[k]], &done);
    }
    if (raw_prefork_stop(w, started) != 0)
        rc = -1;
    double elapsed = bench_now() - t0;
    free(w);
    if (rc != 0) {
        fprintf(stderr, "raw pre-forked pool failed after %llu tasks\n",
                (unsigned long long)done);
        return -1;
    }
    return elapsed / (double)tasks * 1e6;
}

#endif
