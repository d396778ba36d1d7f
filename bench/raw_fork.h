/*
 * raw_fork.h: the floor for FRESH mode, a bare fork + pipe + waitpid loop
 * written by hand.
 *
 * TASKS empty tasks, CONC in flight: pipe2 + fork (the child writes 8 bytes
 * and _exits), poll over the in-flight pipes, read to EOF, waitpid on that
 * pid. No timeouts, no process groups, no error reporting: it is the floor,
 * not a competitor.
 */
#ifndef FORKPOOL_BENCH_RAW_FORK_H
#define FORKPOOL_BENCH_RAW_FORK_H

#include "bench.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RAW_FORK_MAX_CONC = 64 };

struct raw_fork_slot {
    pid_t pid; /* 0: free */
    int fd;    /* read end of the child's pipe */
};

static inline int raw_fork_spawn(struct raw_fork_slot *s)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        uint64_t v = 42;
        _exit(write(p[1], &v, sizeof v) == (ssize_t)sizeof v ? 0 : 1);
    }
    close(p[1]);
    *s = (struct raw_fork_slot){pid, p[0]};
    return 0;
}

/* Reads the child's result to EOF and reaps it; 0 if it sent 8 bytes and
   exited 0. */
static inline int raw_fork_finish(struct raw_fork_slot *s)
{
    char buf[64];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0 || errno != EINTR)
            break;
    }
    close(s->fd);
    int status;
    pid_t r;
    while ((r = waitpid(s->pid, &status, 0)) < 0 && errno == EINTR)
        ;
    s->pid = 0;
    return r > 0 && got == sizeof(uint64_t) && WIFEXITED(status) && WEXITSTATUS(status) == 0
               ? 0
               : -1;
}

/* µs per task for `tasks` empty tasks, `conc` (1..RAW_FORK_MAX_CONC) at a
   time, or -1 on any failure (no child is left behind). */
static inline double raw_fork_loop(unsigned tasks, int conc)
{
    struct raw_fork_slot slots[RAW_FORK_MAX_CONC];
    if (conc < 1 || conc > RAW_FORK_MAX_CONC || tasks == 0)
        return -1;
    for (int i = 0; i < conc; i++)
        slots[i] = (struct raw_fork_slot){0, -1};
    unsigned started = 0, done = 0;
    int rc = 0;
    double t0 = bench_now();
    while (done < tasks && rc == 0) {
        struct pollfd fds[RAW_FORK_MAX_CONC];
        int map[RAW_FORK_MAX_CONC], n = 0;
        for (int i = 0; i < conc; i++) {
            if (slots[i].pid == 0 && started < tasks) {
                if (raw_fork_spawn(&slots[i]) != 0) {
                    perror("raw fork loop: fork");
                    rc = -1;
                    break;
                }
                started++;
            }
            if (slots[i].pid != 0) {
                fds[n] = (struct pollfd){.fd = slots[i].fd, .events = POLLIN};
                map[n++] = i;
            }
        }
        if (rc != 0)
            break;
        if (poll(fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("raw fork loop: poll");
            rc = -1;
            break;
        }
        for (int k = 0; k < n; k++) {
            if (fds[k].revents == 0)
                continue;
            if (raw_fork_finish(&slots[map[k]]) != 0)
                rc = -1;
            done++;
        }
    }
    double elapsed = bench_now() - t0;
    for (int i = 0; i < conc; i++) /* after an error: no zombies left behind */
        if (slots[i].pid != 0)
            raw_fork_finish(&slots[i]);
    if (rc != 0) {
        fprintf(stderr, "raw fork loop failed after %u tasks\n", done);
        return -1;
    }
    return elapsed / tasks * 1e6;
}

#endif
