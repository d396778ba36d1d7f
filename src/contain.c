/*
 * Containment in PID namespaces (contain.h): the probe, the namespace's
 * init, and its end.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contain.h"
#include "launch.h"

pid_t fp_contain_init;

static void close_all(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 0U, ~0U, 0U) == 0)
        return;
#endif
    struct rlimit rl;
    rlim_t max = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    for (rlim_t fd = 0; fd < max && fd < 65536; fd++)
        close((int)fd);
}

/*
 * The namespace's init: dies with its creator (PR_SET_PDEATHSIG), holds no
 * fd (a pipe end it kept would hide the task's EOF), and reaps the orphans
 * the namespace hands it. ready: a pipe whose only read end the creator
 * holds until a byte arrives; the write fails if the creator died before
 * the prctl (no one would signal us). Every signal stays blocked: as an
 * init it ignores all but SIGKILL anyway (which the kernel forces from
 * outside), and SIGCHLD is taken by sigwaitinfo. Never returns. Nothing
 * here is declared no-return (it exits by system call): AddressSanitizer
 * would call its no-return hook and warn about a stack it does not know.
 */
static void init_main(const int ready[2])
{
    sigset_t all, chld;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    close(ready[0]);
    /* A group of its own: the task's group holds only what the task
       started, as without contain (the init ends with the task anyway). */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (write(ready[1], "", 1) != 1)
        syscall(SYS_exit_group, 0);
    close_all();
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;)
        if (waitpid(-1, NULL, 0) == -1 && errno == ECHILD)
            sigwaitinfo(&chld, NULL);
}

int fp_contain_enter(pid_t *init)
{
    int ready[2];
    *init = 0;
    if (pipe2(ready, O_CLOEXEC) == -1)
        return -1;
    pid_t pid = -1;
    if (unshare(CLONE_NEWPID) == 0) {
        pid = fp_clone_raw(SIGCHLD);
        if (pid == 0)
            init_main(ready);
    }
    int err = errno;
    close(ready[1]);
    char c;
    ssize_t r = -1;
    if (pid > 0)
        do
            r = read(ready[0], &c, 1);
        while (r == -1 && errno == EINTR);
    close(ready[0]);
    if (pid > 0 && r != 1) { /* it died at once */
        while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
            ;
        pid = -1;
        err = ECHILD;
    }
    if (pid < 0) {
        errno = err;
        return -1;
    }
    *init = pid;
    return 0;
}

int fp_contain_again(pid_t *init)
{
    int fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = setns(fd, CLONE_NEWPID);
    int err = errno;
    close(fd);
    errno = err;
    return rc == 0 ? fp_contain_enter(init) : -1;
}

void fp_contain_end(pid_t *init)
{
    if (*init <= 0)
        return;
    /* Reaped means gone with its whole namespace: the kernel kills the
       namespace's processes and waits until each is reaped before the init
       exits, our own children (all in it) too: so we reap every child that
       ends meanwhile, or the init would wait on us as we wait on it. */
    kill(*init, SIGKILL);
    for (;;) {
        pid_t r = waitpid(-1, NULL, __WALL);
        if (r == *init || (r == -1 && errno != EINTR))
            break;
    }
    *init = 0;
}

int fp_contain_probe(void)
{
    pid_t pid = fp_clone_raw(SIGCHLD);
    if (pid < 0)
        return -1;
    if (pid == 0) {
        pid_t init;
        if (fp_contain_enter(&init) == -1)
            _exit(errno & 0xff);
        fp_contain_end(&init);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) == -1)
        if (errno != EINTR)
            return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errno = WIFEXITED(status) ? WEXITSTATUS(status) : ECHILD;
        return -1;
    }
    return 0;
}
