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

#include "internal.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define FP_EXEC_STACK ((size_t)64 * 1024)

extern char **environ;

struct fp_exec {
    char **argv;            /* NULL-terminated copies                     */
    char **envp;            /* NULL: the parent's environ at spawn time    */
    char *cwd;
    unsigned char *input;   /* stdin bytes, or NULL: /dev/null             */
    size_t input_len, input_off;
    int capture;
    fp_buf out, err;        /* what was captured                          */
};

/* ---- copies of the caller's arguments ---- */

static char **fp_strv_dup(const char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    char **c = calloc(n + 1, sizeof *c);
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(c[i] = strdup(v[i]))) {
            while (i-- > 0)
                free(c[i]);
            free(c);
            return NULL;
        }
    return c;
}

static void fp_strv_free(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

void fp_exec_free(fp_exec *x)
{
    if (!x)
        return;
    fp_strv_free(x->argv);
    fp_strv_free(x->envp);
    free(x->cwd);
    free(x->input);
    free(x->out.p);
    free(x->err.p);
    free(x);
}

static fp_exec *fp_exec_new(const char *const argv[], const forkpool_exec_options *o)
{
    fp_exec *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->capture = o ? o->capture : 0;
    x->argv = fp_strv_dup(argv);
    int ok = x->argv != NULL;
    if (ok && o && o->envp)
        ok = (x->envp = fp_strv_dup(o->envp)) != NULL;
    if (ok && o && o->cwd)
        ok = (x->cwd = strdup(o->cwd)) != NULL;
    if (ok && o && o->input) {
        x->input = malloc(o->input_len ? o->input_len : 1);
        ok = x->input != NULL;
        if (ok) {
            memcpy(x->input, o->input, o->input_len);
            x->input_len = o->input_len;
        }
    }
    if (!ok) {
        fp_exec_free(x);
        errno = ENOMEM;
        return NULL;
    }
    return x;
}

forkpool_task *forkpool_exec(forkpool *pool, const char *const argv[],
                             const forkpool_exec_options *opts)
{
    if (!pool || !argv || !argv[0] || !argv[0][0] || pool->opts.mode == FORKPOOL_INLINE ||
        (opts && (opts->capture & ~(FORKPOOL_CAPTURE_STDOUT | FORKPOOL_CAPTURE_STDERR))) ||
        (opts && !opts->input && opts->input_len)) {
        errno = EINVAL;
        return NULL;
    }
    fp_exec *x = fp_exec_new(argv, opts);
    if (!x)
        return NULL;
    forkpool_task *t = fp_task_new(pool, NULL, NULL, 0, x);
    if (!t)
        fp_exec_free(x);
    return t;
}

const char *fp_exec_name(const forkpool_task *t)
{
    return t->exec->argv[0];
}

/* ---- the child ---- */

/* What the vfork child needs, prepared by the parent: the child may not
   allocate (it shares the parent's memory and malloc's locks). */
struct fp_spawn_args {
    char **paths;     /* candidate files for argv[0], in PATH order */
    char **argv, **envp;
    char **sh_argv;   /* "sh", <slot for the file>, argv[1..]: a file with
                         no #! line runs under /bin/sh, as with execvp    */
    const char *cwd;
    int in, out, err; /* fds for 0, 1, 2; -1: /dev/null (in) or inherit */
    int report;       /* write end of the error pipe                  */
    pid_t parent;
    const forkpool_options *opts;
};

/* Moves fd onto target (0, 1 or 2), keeping it open across exec. */
static int fp_child_fd(int fd, int target)
{
    if (fd == target)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, target) == -1 ? -1 : 0;
}

static _Noreturn void fp_child_fail(const struct fp_spawn_args *a, int err)
{
    ssize_t w;
    do
        w = write(a->report, &err, sizeof err);
    while (w == -1 && errno == EINTR);
    _exit(127);
}

/* Marks every fd from 3 up close-on-exec (the error pipe is already). */
static void fp_child_cloexec_all(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 ? max : 1024); fd++)
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
}

static int fp_exec_child(void *arg)
{
    const struct fp_spawn_args *a = arg;
    sigset_t none;

    fp_child_reset(a->parent);
    fp_child_limits(a->opts, 1);
    int in = a->in >= 0 ? a->in : open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0 || fp_child_fd(in, 0) == -1 || (a->out >= 0 && fp_child_fd(a->out, 1) == -1) ||
        (a->err >= 0 && fp_child_fd(a->err, 2) == -1))
        fp_child_fail(a, errno);
    if (a->cwd && chdir(a->cwd) == -1)
        fp_child_fail(a, errno);
    fp_child_cloexec_all();
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
    fp_child_fail(a, denied && (err == ENOENT || err == ENOTDIR) ? EACCES : err);
}

/* ---- spawning ---- */

/* The files execvp would try for name: name itself if it has a '/', else
   each PATH entry joined with it (PATH unset: the system's default). */
static char **fp_exec_paths(const char *name)
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

/* A pipe whose ends are both >= 3 (so dup2 onto 0..2 cannot clobber them)
   and close-on-exec; the parent's end (0: read, 1: write) non-blocking. */
static int fp_exec_pipe(int p[2], int parent_end)
{
    if (pipe2(p, O_CLOEXEC) == -1)
        return -1;
    for (int i = 0; i < 2; i++)
        if (p[i] < 3) {
            int moved = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
            if (moved == -1)
                goto fail;
            close(p[i]);
            p[i] = moved;
        }
    if (fcntl(p[parent_end], F_SETFL, O_NONBLOCK) == -1)
        goto fail;
    return 0;
fail:
    fp_close_if(p[0]);
    fp_close_if(p[1]);
    p[0] = p[1] = -1;
    return -1;
}

/* Reads the child's report: 0 if it exec'd (EOF), else its errno. */
static int fp_exec_report(int fd)
{
    int err = 0;
    ssize_t r;
    do
        r = read(fd, &err, sizeof err);
    while (r == -1 && errno == EINTR);
    return r == (ssize_t)sizeof err ? err : 0;
}

/*
 * Starts t's program and puts its process on the pool's list. 0, or -1 with errno
 * (the program could not be started: t->pid stays 0 and nothing is left).
 * Pipes are made and the child cloned under the registry lock (see
 * spawn.c): no other thread's fork may copy them.
 */
int fp_exec_spawn(forkpool *pool, forkpool_task *t)
{
    fp_exec *x = t->exec;
    fp_proc *pr = t->proc;
    struct fp_spawn_args a;
    int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, rep[2] = {-1, -1};
    int saved = 0;
    pid_t pid = -1;
    sigset_t all, old;
    char *stack = malloc(FP_EXEC_STACK);

    memset(&a, 0, sizeof a);
    a.paths = fp_exec_paths(x->argv[0]);
    size_t argc = 0;
    while (x->argv[argc])
        argc++;
    a.sh_argv = calloc(argc + 2, sizeof(char *));
    if (!stack || !a.paths || !a.sh_argv) {
        free(stack);
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
    a.parent = getpid();
    a.opts = &pool->opts;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    fp_registry_lock();
    if (fp_procs_reserve(pool) == -1 || fp_exec_pipe(rep, 0) == -1 ||
        ((x->capture & FORKPOOL_CAPTURE_STDOUT) && fp_exec_pipe(out, 0) == -1) ||
        ((x->capture & FORKPOOL_CAPTURE_STDERR) && fp_exec_pipe(err, 0) == -1) ||
        (x->input && fp_exec_pipe(in, 1) == -1)) {
        saved = errno;
    } else {
        a.in = in[0];
        a.out = out[1];
        a.err = err[1];
        a.report = rep[1];
        /* Blocking reads of the report: the parent end was made
           non-blocking like the others. */
        fcntl(rep[0], F_SETFL, 0);
        /* The child runs on this thread's state: a pending cancellation
           must not act in it (open and write are cancellation points). */
        int cancel;
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
        pid = clone(fp_exec_child, stack + FP_EXEC_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
        saved = errno;
        pthread_setcancelstate(cancel, NULL);
    }
    fp_close_if(rep[1]);
    fp_close_if(out[1]);
    fp_close_if(err[1]);
    fp_close_if(in[0]);
    if (pid > 0) {
        /* With CLONE_VFORK the child has exec'd or failed by now; under
           tools that turn it into a plain fork (valgrind) this waits. */
        int failed = fp_exec_report(rep[0]);
        if (failed) {
            int status;
            while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
                ;
            saved = failed;
            pid = -1;
        }
    }
    fp_close_if(rep[0]);
    if (pid > 0) {
        t->pid = pid;
        pr->fd[FP_FD_OUT] = out[0];
        pr->fd[FP_FD_ERR] = err[0];
        pr->fd[FP_FD_IN] = in[1];
        fp_proc_attach(pool, pr, pid);
    } else {
        fp_close_if(out[0]);
        fp_close_if(err[0]);
        fp_close_if(in[1]);
    }
    fp_registry_unlock();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(stack);
    fp_strv_free(a.paths);
    free(a.sh_argv);
    if (pid <= 0) {
        errno = saved;
        return -1;
    }
    return 0;
}

/* ---- serving the program's streams ---- */

/* Appends p[0..n) to b, growing it geometrically. 0, or -1 (no memory). */
int fp_buf_append(fp_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        unsigned char *q = realloc(b->p, cap);
        if (!q)
            return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

/*
 * Reads up to budget bytes of the program's stdout (k = FP_FD_OUT) or
 * stderr (FP_FD_ERR) into its buffer, through the pool's staging buffer
 * (so a stream that stays empty costs nothing). Over max_output, or out of
 * memory: the task fails with FORKPOOL_ERR_OUTPUT and is killed.
 */
void fp_exec_read(forkpool_task *t, int k, size_t budget)
{
    fp_proc *pr = t->proc;
    fp_buf *b = k == FP_FD_OUT ? &t->exec->out : &t->exec->err;
    unsigned char *stage = t->pool->stage;
    size_t max = t->pool->opts.max_output;
    while (pr->fd[k] >= 0 && budget > 0) {
        ssize_t n = read(pr->fd[k], stage, FP_READ_CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL, "cannot read the output of '%s': %s",
                             fp_exec_name(t), strerror(errno));
                fp_task_abort(t);
            }
            return;
        }
        if (n == 0) {
            fp_proc_close(t->pool, pr, k);
            if (pr->fd[FP_FD_OUT] < 0 && pr->fd[FP_FD_ERR] < 0)
                fp_check_soon(pr);
            return;
        }
        budget -= (size_t)n < budget ? (size_t)n : budget;
        if (max && b->len + (size_t)n > max) {
            fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL,
                         "'%s' wrote more than max_output (%zu bytes) to std%s",
                         fp_exec_name(t), max, k == FP_FD_OUT ? "out" : "err");
            fp_task_abort(t);
            return;
        }
        if (fp_buf_append(b, stage, (size_t)n) == -1) {
            fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL,
                         "cannot allocate memory for the output of '%s'", fp_exec_name(t));
            fp_task_abort(t);
            return;
        }
    }
}

/* write() that cannot raise SIGPIPE in the caller: the program may stop
   reading its stdin at any time, and the host must not die of it. */
static ssize_t fp_write_nosigpipe(int fd, const void *p, size_t n)
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
void fp_exec_write_input(forkpool_task *t)
{
    fp_exec *x = t->exec;
    int fd = t->proc->fd[FP_FD_IN];
    while (fd >= 0 && x->input_off < x->input_len) {
        ssize_t w = fp_write_nosigpipe(fd, x->input + x->input_off, x->input_len - x->input_off);
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
    fp_proc_close(t->pool, t->proc, FP_FD_IN);
}

/* Settles an exec task from how its program ended (after cancel, timeout,
   abort and death by a signal were ruled out). */
void fp_exec_settle(forkpool_task *t, int known, int status)
{
    forkpool_stats *st = &t->pool->stats;
    const char *name = fp_exec_name(t);
    t->state = FORKPOOL_FAILED;
    if (!known) {
        fp_task_fail(t, FORKPOOL_ERR_EXITED, -1, NULL,
                     "'%s' exited, and its exit status was taken by someone else "
                     "(SIGCHLD ignored, or waitpid(-1) in the program)",
                     name);
    } else if (WEXITSTATUS(status) != 0) {
        fp_task_fail(t, FORKPOOL_ERR_EXITED, WEXITSTATUS(status), NULL,
                     "'%s' exited with status %d", name, WEXITSTATUS(status));
    } else {
        t->state = FORKPOOL_SUCCEEDED;
        st->succeeded++;
        return;
    }
    st->failed++;
}

static const void *fp_buf_get(const fp_buf *b, size_t *len)
{
    if (len)
        *len = b->len;
    return b->p ? (const void *)b->p : (const void *)"";
}

/* An exec task's result: its captured stdout. */
const void *fp_exec_stdout(const forkpool_task *t, size_t *len)
{
    return fp_buf_get(&t->exec->out, len);
}

const void *forkpool_task_stdout(const forkpool_task *t, size_t *len)
{
    if (len)
        *len = 0;
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    if (t->exec)
        return fp_buf_get(&t->exec->out, len);
    return forkpool_task_result(t, len);
}

const void *forkpool_task_stderr(const forkpool_task *t, size_t *len)
{
    if (len)
        *len = 0;
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    if (t->exec)
        return fp_buf_get(&t->exec->err, len);
    return "";
}
