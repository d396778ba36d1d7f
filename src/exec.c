/*
 * Programs as tasks: forkpool_exec. The child is made with
 * clone(CLONE_VM | CLONE_VFORK), as posix_spawn does, so its cost does not
 * grow with the parent's size; unlike posix_spawn it also gets
 * PR_SET_PDEATHSIG. The parent serves the program's stdout, stderr and stdin
 * from the pool's event loop, so neither stream can fill up and deadlock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fresh.h"
#include "launch.h"
#include "pool.h"
#include "program.h"
#include "task.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

/* ---- the child ---- */

/* What the vfork child needs, prepared by the parent: the child may not
   allocate (it shares the parent's memory and malloc's locks). */
struct fp_spawn_args {
    forkpool *pool;
    forkpool_task *t;
    char **paths;     /* candidate files for argv[0], in PATH order */
    char **argv, **envp;
    char **sh_argv;   /* "sh", <slot for the file>, argv[1..]: a file with
                         no #! line runs under /bin/sh, as with execvp    */
    const char *cwd;
    int out[2], err[2], in[2]; /* pipes for 1, 2, 0; -1: inherit (0:
                                  /dev/null)                           */
};

/* Moves fd onto target (0, 1 or 2), keeping it open across exec. */
static int child_fd(int fd, int target)
{
    if (fd == target)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, target) == -1 ? -1 : 0;
}

/* Marks every fd from 3 up close-on-exec (the report pipe is already). */
static void child_cloexec_all(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 ? max : 1024); fd++)
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
}

/* The vfork child (launch.c has reset it): system calls only. */
static void exec_child(void *arg, int report)
{
    const struct fp_spawn_args *a = arg;
    sigset_t none;

    int step = fp_child_limits(&a->pool->opts, FP_LIMITS_PROGRAM);
    if (step)
        fp_setup_fail(report, errno, step);
    int in = a->in[0] >= 0 ? a->in[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0 || child_fd(in, 0) == -1 || (a->out[1] >= 0 && child_fd(a->out[1], 1) == -1) ||
        (a->err[1] >= 0 && child_fd(a->err[1], 2) == -1))
        fp_setup_fail(report, errno, FP_STEP_FDS);
    if (a->cwd && chdir(a->cwd) == -1)
        fp_setup_fail(report, errno, FP_STEP_CWD);
    child_cloexec_all();
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int err = ENOENT, denied = 0;
    for (size_t i = 0; a->paths[i]; i++) {
        execve(a->paths[i], a->argv, a->envp);
        err = errno;
        if (err == ENOEXEC) {
            a->sh_argv[1] = a->paths[i]; /* a store, not an allocation */
            execve("/bin/sh", a->sh_argv, a->envp);
            err = errno;
            break;
        }
        if (err == EACCES)
            denied = 1;
        else if (err != ENOENT && err != ENOTDIR)
            break;
    }
    fp_setup_fail(report, denied && (err == ENOENT || err == ENOTDIR) ? EACCES : err,
                  FP_STEP_EXEC);
}

/* ---- spawning ---- */

/* The files execvp would try for name: name itself if it has a '/', else
   each PATH entry joined with it (PATH unset: the system's default). */
static char **exec_paths(const char *name)
{
    const char *path = strchr(name, '/') ? "" : getenv("PATH");
    char deflt[256];
    if (!path) {
        size_t n = confstr(_CS_PATH, deflt, sizeof deflt);
        path = n > 0 && n <= sizeof deflt ? deflt : "/bin:/usr/bin";
    }
    size_t n = 1;
    for (const char *p = path; *p; p++)
        n += *p == ':';
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return NULL;
    if (strchr(name, '/')) {
        if (!(v[0] = strdup(name)))
            goto fail;
        return v;
    }
    size_t i = 0;
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        int len = (int)(end - p);
        /* An empty entry means the current directory. */
        if (asprintf(&v[i], "%.*s%s%s", len, p, len ? "/" : "", name) < 0) {
            v[i] = NULL;
            goto fail;
        }
        i++;
        if (!*end)
            break;
        p = end;
    }
    return v;
fail:
    fp_strv_free(v);
    return NULL;
}

/* Under the registry lock (launch.c): the program's pipes. */
static int exec_prepare(void *arg)
{
    struct fp_spawn_args *a = arg;
    fp_exec *x = a->t->exec;
    if (fp_procs_reserve(&a->pool->procs) == -1 ||
        ((x->capture & FORKPOOL_CAPTURE_STDOUT) && fp_launch_pipe(a->out, 0) == -1) ||
        ((x->capture & FORKPOOL_CAPTURE_STDERR) && fp_launch_pipe(a->err, 0) == -1) ||
        (x->input && fp_launch_pipe(a->in, 1) == -1))
        return -1;
    return 0;
}

/* Under the registry lock: the program's process joins the pool's list
   with the parent's ends of its pipes, or the pipes go. */
static void exec_done(void *arg, pid_t pid)
{
    struct fp_spawn_args *a = arg;
    fp_proc *pr = a->t->proc;
    fp_close_if(a->out[1]);
    fp_close_if(a->err[1]);
    fp_close_if(a->in[0]);
    if (pid > 0) {
        a->t->pid = pid;
        pr->fd[FP_FD_OUT] = a->out[0];
        pr->fd[FP_FD_ERR] = a->err[0];
        pr->fd[FP_FD_IN] = a->in[1];
        fp_proc_attach(pr, pid);
    } else {
        fp_close_if(a->out[0]);
        fp_close_if(a->err[0]);
        fp_close_if(a->in[1]);
    }
}

/*
 * Starts t's program in pr and puts pr on the pool's list. 0, or -1 with
 * errno (the program could not be started: t->pid stays 0 and nothing is
 * left) and *step the set-up step that failed (0: the launch itself).
 */
static int exec_launch(fp_proc *pr, forkpool_task *t, int *step)
{
    forkpool *pool = pr->pool;
    fp_exec *x = t->exec;
    struct fp_spawn_args a = {.pool = pool, .t = t, .out = {-1, -1}, .err = {-1, -1},
                              .in = {-1, -1}};
    a.paths = exec_paths(x->argv[0]);
    size_t argc = 0;
    while (x->argv[argc])
        argc++;
    a.sh_argv = calloc(argc + 2, sizeof(char *));
    if (!a.paths || !a.sh_argv) {
        fp_strv_free(a.paths);
        free(a.sh_argv);
        errno = ENOMEM;
        return -1;
    }
    a.sh_argv[0] = "sh";
    for (size_t i = 1; i < argc; i++)
        a.sh_argv[i + 1] = x->argv[i];
    a.argv = x->argv;
    a.envp = x->envp ? x->envp : environ;
    a.cwd = x->cwd;
    fp_launch l = {FP_LAUNCH_VFORK, getpid(), 1, exec_prepare, exec_child, exec_done,
                   &a, 0};
    pid_t pid = fp_launch_run(&l);
    int err = errno;
    *step = l.step;
    fp_strv_free(a.paths);
    free(a.sh_argv);
    errno = err;
    return pid > 0 ? 0 : -1;
}

/* ---- serving the program's streams ---- */

/*
 * Reads up to budget bytes of the program's stdout (k = FP_FD_OUT) or
 * stderr (FP_FD_ERR) into its buffer, through the pool's staging buffer
 * (so a stream that stays empty costs nothing). Over max_output, or out of
 * memory: the task fails with FORKPOOL_ERR_OUTPUT and is killed.
 */
static void exec_read(forkpool_task *t, int k, size_t budget)
{
    fp_proc *pr = t->proc;
    fp_buf *b = k == FP_FD_OUT ? &t->exec->out : &t->exec->err;
    unsigned char *stage = pr->set->stage;
    size_t max = t->pool->opts.max_output;
    while (pr->fd[k] >= 0 && budget > 0) {
        ssize_t n = read(pr->fd[k], stage, FP_READ_CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL, "cannot read the output of '%s': %s",
                             t->exec->argv[0], strerror(errno));
                fp_task_abort(t);
            }
            return;
        }
        if (n == 0) {
            fp_proc_close(pr, k);
            if (pr->fd[FP_FD_OUT] < 0 && pr->fd[FP_FD_ERR] < 0)
                fp_check_soon(pr);
            return;
        }
        budget -= (size_t)n < budget ? (size_t)n : budget;
        if (max && b->len + (size_t)n > max) {
            fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL,
                         "'%s' wrote more than max_output (%zu bytes) to std%s",
                         t->exec->argv[0], max, k == FP_FD_OUT ? "out" : "err");
            fp_task_abort(t);
            return;
        }
        if (fp_buf_append(b, stage, (size_t)n) == -1) {
            fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL,
                         "cannot allocate memory for the output of '%s'", t->exec->argv[0]);
            fp_task_abort(t);
            return;
        }
    }
}

/* write() that cannot raise SIGPIPE in the caller: the program may stop
   reading its stdin at any time, and the host must not die of it. */
static ssize_t write_nosigpipe(int fd, const void *p, size_t n)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t w = write(fd, p, n);
    int e = errno;
    if (w == -1 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) == -1 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return w;
}

/* Feeds the program's stdin as far as the pipe takes it; closes it (EOF)
   once all is written, or when the program stopped reading. */
static void exec_write_input(forkpool_task *t)
{
    fp_exec *x = t->exec;
    int fd = t->proc->fd[FP_FD_IN];
    while (fd >= 0 && x->input_off < x->input_len) {
        ssize_t w = write_nosigpipe(fd, x->input + x->input_off, x->input_len - x->input_off);
        if (w > 0) {
            x->input_off += (size_t)w;
            continue;
        }
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1 && errno == EAGAIN)
            return;
        break; /* EPIPE: it does not want the rest, which is its right */
    }
    fp_proc_close(t->proc, FP_FD_IN);
}

/* Settles a program's task from how it ended. */
static void exec_settle(forkpool_task *t, const fp_proc *pr, int known, int status)
{
    forkpool_stats *st = &t->pool->stats;
    const char *name = t->exec->argv[0];
    char who[96];
    snprintf(who, sizeof who, "'%s'", name);
    if (fp_settle_common(t, known, status, who, &pr->ru)) {
        fp_settle_end(t);
        return;
    }
    t->state = FORKPOOL_FAILED;
    if (!known) {
        fp_task_fail(t, FORKPOOL_ERR_EXITED, -1, NULL,
                     "'%s' exited, and its exit status was taken by someone else "
                     "(SIGCHLD ignored, or waitpid(-1) in the program)",
                     name);
        st->failed++;
    } else if (WEXITSTATUS(status) != 0) {
        fp_task_fail(t, FORKPOOL_ERR_EXITED, WEXITSTATUS(status), NULL,
                     "'%s' exited with status %d", name, WEXITSTATUS(status));
        st->failed++;
    } else {
        t->state = FORKPOOL_SUCCEEDED;
        st->succeeded++;
    }
    fp_settle_end(t);
}

static void exec_launch_failed(forkpool_task *t, int err, int step)
{
    if (step && step != FP_STEP_EXEC)
        fp_spawn_failed(t, err, "cannot run '%s': %s failed: %s", t->exec->argv[0],
                        fp_launch_step_name(step), strerror(err));
    else
        fp_spawn_failed(t, err, "cannot run '%s': %s", t->exec->argv[0], strerror(err));
}

static void exec_io(fp_proc *pr, int k, size_t budget)
{
    if (k == FP_FD_IN)
        exec_write_input(pr->task);
    else
        exec_read(pr->task, k, budget);
}

static void exec_exited(fp_proc *pr, int known, int status)
{
    exec_settle(pr->task, pr, known, status);
    fp_own_finished(pr->task);
}

const fp_proc_ops fp_exec_ops = {
    .name = "program",
    .launch = exec_launch,
    .launch_failed = exec_launch_failed,
    .io = exec_io,
    .exited = exec_exited,
    .expired = fp_own_expired,
    .cancel = fp_own_cancel,
    .last = fp_own_last,
    .destroy = fp_own_destroy,
};
