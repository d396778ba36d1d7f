/* For rank0_dies.t: rank 0 starts a long task on each serving rank, writes
   to $FP_PIDS the pids of each task's child, its helper and its rank
   process (the task sends them), then kills itself. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkpool.h"
#include "forkpool_mpi.h"

static pid_t ppid_of(pid_t pid)
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

int main(int argc, char **argv)
{
    if (forkpool_register("linger", linger))
        return 1;
    int rc = forkpool_mpi_init(&argc, &argv);
    if (rc != 0)
        return rc > 0 ? forkpool_mpi_finalize() : 1;
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
