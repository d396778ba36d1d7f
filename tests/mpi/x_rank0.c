/* For rank0_dies.t: rank 0 dies, and every serving rank must end without
   running rank 0's part of the program. Each process appends "pid" to
   $FP_PIDS.ranks at its start; past the documented idiom
   (`if (forkpool_mpi_init(...) > 0) return forkpool_mpi_finalize();`)
   the body appends its launcher rank to $FP_PIDS.body. argv[1]:
     (none)  rank 0 starts a long task on each serving rank, writes to
             $FP_PIDS the pids of each task's child, its helper and its
             rank process (the task sends them), then kills itself;
     single  the same, the program starting MPI itself without threads
             (MPI_THREAD_SINGLE: no heartbeat thread);
     idle    rank 0 dies as soon as forkpool_mpi_init returned, before
             any task or pool. */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool.h"
#include "forkpool_mpi.h"
#include "ranks.h"

static int linger(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    pid_t pids[3] = {getpid(), getppid(), ppid_of(getppid())};
    forkpool_send(ctx, pids, sizeof pids);
    sleep(120);
    return 0;
}

static int got;
static FILE *out;
static void on_pids(forkpool_task *t, const void *m, size_t len, void *ud)
{
    (void)t;
    (void)ud;
    const pid_t *p = m;
    if (len == 3 * sizeof(pid_t)) {
        fprintf(out, "%d %d %d\n", (int)p[0], (int)p[1], (int)p[2]);
        got++;
    }
}

/* Appends line to $FP_PIDS<suffix>. */
static void note(const char *suffix, const char *line)
{
    char path[4096];
    const char *base = getenv("FP_PIDS");
    snprintf(path, sizeof path, "%s%s", base ? base : "/dev/null", suffix);
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", line);
        fclose(f);
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    char line[64];
    snprintf(line, sizeof line, "%d", (int)getpid());
    note(".ranks", line);
    if (forkpool_register("linger", linger))
        return 1;
    int level;
    if (strcmp(mode, "single") == 0)
        MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &level);
    if (forkpool_mpi_init(&argc, &argv) > 0)
        return forkpool_mpi_finalize();
    const char *who = getenv("OMPI_COMM_WORLD_RANK");
    note(".body", who ? who : "?");
    if (strcmp(mode, "idle") == 0)
        raise(SIGKILL);
    const char *path = getenv("FP_PIDS");
    forkpool_options o = {.mode = FORKPOOL_MPI, .concurrency = 1};
    forkpool *p = forkpool_create(&o);
    if (!path || !p || !(out = fopen(path, "w")))
        return 1;
    for (int i = 1; i < forkpool_mpi_size(); i++)
        forkpool_on_message(forkpool_run(p, linger, "", 0), on_pids, NULL);
    while (got < forkpool_mpi_size() - 1)
        forkpool_poll(p, 1000);
    fclose(out);
    raise(SIGKILL);
    return 1;
}
