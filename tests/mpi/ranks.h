/* What the tests of lost ranks share (r_*.c, x_rank0.c: one program a
   rank under mpirun): a task that says where it ran, the count of where
   tasks ran, the count of tasks that failed, and a process's parent. */
#ifndef FP_TEST_RANKS_H
#define FP_TEST_RANKS_H

#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "forkpool.h"
#include "forkpool_mpi.h"

/* The task: returns the rank it runs on (an int). */
static inline int rank_of(forkpool_ctx *ctx, const void *arg, size_t len)
{
    int r = forkpool_mpi_rank();
    (void)arg;
    (void)len;
    return forkpool_return(ctx, &r, sizeof r);
}

/* then: ran_on[r] counts the tasks rank_of saw run on rank r. */
static int ran_on[3];
static inline void count(forkpool_task *t, const void *result, size_t len, void *ud)
{
    (void)t;
    (void)ud;
    int r;
    if (len == sizeof r) {
        memcpy(&r, result, sizeof r);
        if (r >= 0 && r < 3)
            ran_on[r]++;
    }
}

/* catch: lost counts the failures. */
static int lost;
static inline void on_lost(forkpool_task *t, const forkpool_error *e, void *ud)
{
    (void)t;
    (void)e;
    (void)ud;
    lost++;
}

/* The parent of pid, from /proc; 0 if unknown. */
static inline pid_t ppid_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    int ppid = 0;
    if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
        return 0;
    return ppid;
}

#endif
