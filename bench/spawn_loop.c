/*
 * spawn_loop: the floor for bench/cli.sh. Runs PROGRAM N times, keeping J
 * children in flight, with posix_spawn + waitpid and nothing else: no pipes,
 * no output capture, no event loop. Each child gets its job number as its
 * only argument (as `forkpool PROGRAM ::: 1 2 ...` would pass it).
 *
 *     build/bench/spawn_loop N J PROGRAM
 *
 * Exit status: 0 when every child exited 0, 1 otherwise, 2 on usage or
 * spawn errors.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: spawn_loop N J PROGRAM\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    long j = strtol(argv[2], NULL, 10);
    if (n < 0 || j < 1) {
        fprintf(stderr, "spawn_loop: bad N or J\n");
        return 2;
    }
    long started = 0, running = 0;
    int failed = 0;
    char num[32];
    while (started < n || running > 0) {
        while (running < j && started < n) {
            snprintf(num, sizeof num, "%ld", started + 1);
            char *cargv[] = {argv[3], num, NULL};
            pid_t pid;
            int e = posix_spawn(&pid, argv[3], NULL, NULL, cargv, environ);
            if (e != 0) {
                fprintf(stderr, "spawn_loop: posix_spawn %s: %s\n", argv[3], strerror(e));
                return 2;
            }
            started++;
            running++;
        }
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            perror("spawn_loop: waitpid");
            return 2;
        }
        running--;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed = 1;
    }
    return failed;
}
