/* What the tests of lost ranks share (r_*.c, x_rank0.c: one program a
   rank under mpirun): a task that says where it ran, the count of where
   tasks ran, the count of tasks that failed, a process's parent, and a
   number handed to rank 0 by a process that cannot send it a result. */
#ifndef FP_TEST_RANKS_H
#define FP_TEST_RANKS_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

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

/* Runs n rank_of tasks (counted in ran_on, failures in lost) in a new
   FORKPOOL_MPI pool, 1 task at once per rank: forkpool_await's result, or
   -1 if the pool could not be made. */
static inline int run_rank_of(int n)
{
    forkpool_options o = {.mode = FORKPOOL_MPI, .concurrency = 1};
    forkpool *p = forkpool_create(&o);
    if (!p)
        return -1;
    for (int i = 0; i < n; i++)
        forkpool_task_release(
            forkpool_catch(forkpool_then(forkpool_run(p, rank_of, "", 0), count, NULL), on_lost, NULL));
    int rc = forkpool_await(p);
    forkpool_destroy(p);
    return rc;
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

/* The note's file: this program's name and rank 0's pid. */
static inline void note_path(char *path, size_t size, pid_t rank0)
{
    snprintf(path, size, "/tmp/forkpool-%s.%d", program_invocation_short_name, (int)rank0);
}

/* Writes v as the note for rank0 (a new file: O_EXCL, no symlink
   followed). 0, or -1. */
static inline int note_put(pid_t rank0, int v)
{
    char path[96];
    note_path(path, sizeof path, rank0);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f)
        return -1;
    fprintf(f, "%d\n", v);
    return fclose(f) == 0 ? 0 : -1;
}

/* The note for rank0, 0 while there is none; with drop, its file goes. */
static inline int note_get(pid_t rank0, int drop)
{
    char path[96];
    int v = 0;
    note_path(path, sizeof path, rank0);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 0;
        fclose(f);
    }
    if (drop)
        unlink(path);
    return v;
}

#endif
