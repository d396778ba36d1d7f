/* forkpool_exec: programs as tasks. Captured stdout is the result; failures
   name the program; stdin, stdout and stderr are served at once (no
   deadlock on large data); timeouts and cancel kill the program's whole
   group; it receives only fds 0-2; bad arguments are refused. Run with and
   without pidfd. */
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>

#include "forkpool.h"
#include "tap.h"

static forkpool_exec_options capture_both(void)
{
    forkpool_exec_options o = {0};
    o.capture = FORKPOOL_CAPTURE_STDOUT | FORKPOOL_CAPTURE_STDERR;
    return o;
}

static forkpool_task *run(forkpool *p, const char *const argv[], const forkpool_exec_options *o)
{
    forkpool_task *t = forkpool_exec(p, argv, o);
    forkpool_wait(t);
    return t;
}

static void basics(forkpool *p, const char *m)
{
    forkpool_exec_options o = capture_both();
    const char *echo[] = {"echo", "hello", "a b", "$(x)", NULL};
    forkpool_task *t = run(p, echo, &o);
    size_t n;
    const char *r = forkpool_task_result(t, &n);
    is(forkpool_task_state(t), FORKPOOL_SUCCEEDED, "%s: echo succeeds", m);
    is_mem(r, n, "hello a b $(x)\n", 15, "%s: its stdout is the result, arguments unsplit", m);
    ok(forkpool_task_pid(t) > 0, "%s: it had a pid", m);
    forkpool_task_release(t);

    const char *fail[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    t = run(p, fail, &o);
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_EXITED && e->code == 3, "%s: exit 3 is EXITED, code 3", m);
    ok(e && strstr(e->message, "'sh'") && strstr(e->message, "3"), "%s: message names it: %s",
       m, e ? e->message : "");
    ok(forkpool_task_result(t, NULL) == NULL, "%s: a failed program has no result", m);
    r = forkpool_task_stdout(t, &n);
    is_mem(r, n, "out\n", 4, "%s: but its stdout is kept", m);
    r = forkpool_task_stderr(t, &n);
    is_mem(r, n, "err\n", 4, "%s: and its stderr", m);
    forkpool_task_release(t);

    const char *nosuch[] = {"forkpool-no-such-program", NULL};
    t = run(p, nosuch, &o);
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SPAWN && e->code == ENOENT, "%s: not found: SPAWN ENOENT", m);
    ok(e && strstr(e->message, "forkpool-no-such-program"), "%s: message names it: %s", m,
       e ? e->message : "");
    forkpool_task_release(t);

    char plain[] = "/tmp/forkpool-t_exec-XXXXXX"; /* mode 0600: not executable */
    close(mkstemp(plain));
    const char *noexec[] = {plain, NULL};
    t = run(p, noexec, &o);
    unlink(plain);
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SPAWN && e->code == EACCES, "%s: not executable: EACCES",
       m);
    forkpool_task_release(t);

    const char *crash[] = {"sh", "-c", "kill -SEGV $$", NULL};
    t = run(p, crash, &o);
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SIGNALED && e->code == SIGSEGV, "%s: killed: SIGNALED 11",
       m);
    forkpool_task_release(t);
}

/* 8 MiB in through stdin while 8 MiB come out of stdout and 4 MiB of
   stderr: a parent that served one stream at a time would deadlock. */
static void big_streams(forkpool *p, const char *m)
{
    size_t in_len = (size_t)8 << 20;
    char *in = malloc(in_len);
    for (size_t i = 0; i < in_len; i++)
        in[i] = (char)('a' + i % 26);
    forkpool_exec_options o = capture_both();
    o.input = in;
    o.input_len = in_len;
    const char *cat[] = {"sh", "-c", "head -c 2000000 /dev/zero >&2; cat; "
                                     "head -c 2000000 /dev/zero >&2", NULL};
    forkpool_task *t = run(p, cat, &o);
    size_t n, en;
    const char *r = forkpool_task_result(t, &n);
    forkpool_task_stderr(t, &en);
    ok(r && n == in_len && memcmp(r, in, in_len) == 0, "%s: 8 MiB through cat intact", m);
    is(en, 4000000, "%s: 4 MB of stderr at the same time", m);
    forkpool_task_release(t);

    /* A program that never reads its stdin: the parent must not die of
       SIGPIPE (it is at its default here) and the task succeeds. */
    signal(SIGPIPE, SIG_DFL);
    const char *tru[] = {"true", NULL};
    t = run(p, tru, &o);
    is(forkpool_task_state(t), FORKPOOL_SUCCEEDED, "%s: unread input is no failure", m);
    forkpool_task_release(t);
    free(in);
}

/* The pid in path, 0 if none yet. */
static int read_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

static void limits(const char *m)
{
    forkpool_options po = {0};
    po.max_output = 1000;
    po.kill_grace_ms = 100;
    forkpool *p = forkpool_create(&po);
    forkpool_exec_options o = capture_both();
    const char *yes[] = {"yes", NULL};
    forkpool_task *t = run(p, yes, &o);
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_OUTPUT, "%s: endless stdout over max_output: OUTPUT", m);
    forkpool_task_release(t);

    /* The program's group dies on timeout, grandchildren too. */
    char pidfile[] = "/tmp/forkpool-t_exec-XXXXXX";
    int fd = mkstemp(pidfile);
    close(fd);
    char script[256];
    snprintf(script, sizeof script, "sleep 1000 & echo $! > %s; wait", pidfile);
    const char *tree[] = {"sh", "-c", script, NULL};
    t = forkpool_exec(p, tree, &o);
    /* its limit once the grandchild surely exists (its pid is written) */
    int gpid = 0;
    TAP_WAIT_UNTIL((forkpool_poll(p, 5), (gpid = read_pid(pidfile)) > 0), 10000);
    forkpool_set_timeout(t, 300);
    forkpool_wait(t);
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_TIMEOUT, "%s: timeout: TIMEOUT", m);
    unlink(pidfile);
    ok(gpid > 0 && tap_wait_pid_dead(gpid, 5000),
       "%s: the program's grandchild died with it", m);
    forkpool_task_release(t);

    const char *sleeper[] = {"sleep", "1000", NULL};
    t = forkpool_exec(p, sleeper, &o);
    is(forkpool_cancel(t), 0, "%s: cancel a running program", m);
    forkpool_wait(t);
    e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_CANCELLED, "%s: CANCELLED", m);
    forkpool_task_release(t);
    forkpool_destroy(p);
}

static void environment(forkpool *p, const char *m)
{
    forkpool_exec_options o = capture_both();
    const char *env[] = {"FORKPOOL_T=yes", "PATH=/usr/bin:/bin", NULL};
    o.envp = env;
    o.cwd = "/tmp";
    const char *sh[] = {"sh", "-c", "printf '%s %s' \"$FORKPOOL_T\" \"$(pwd)\"", NULL};
    forkpool_task *t = run(p, sh, &o);
    size_t n;
    const char *r = forkpool_task_result(t, &n);
    is_mem(r, n, "yes /tmp", 8, "%s: envp and cwd are the program's", m);
    forkpool_task_release(t);

    o.cwd = "/nonexistent-dir";
    t = run(p, sh, &o);
    const forkpool_error *e = forkpool_task_error(t);
    ok(e && e->kind == FORKPOOL_ERR_SPAWN && e->code == ENOENT, "%s: a bad cwd: SPAWN", m);
    forkpool_task_release(t);

    /* Only fds 0-2 reach the program, whatever the host has open (ls
       itself opens the directory it lists as fd 3). */
    int host_fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
    o = capture_both();
    const char *ls[] = {"ls", "/proc/self/fd", NULL};
    t = run(p, ls, &o);
    r = forkpool_task_result(t, &n);
    is_mem(r, n, "0\n1\n2\n3\n", 8, "%s: the program holds only fds 0, 1, 2", m);
    forkpool_task_release(t);
    close(host_fd);
}

static void bad_args(void)
{
    forkpool *p = forkpool_create(NULL);
    const char *empty[] = {"", NULL};
    const char *none[] = {NULL};
    const char *ok_argv[] = {"true", NULL};
    forkpool_exec_options bad = {0};
    bad.capture = 4;
    errno = 0;
    ok(!forkpool_exec(NULL, ok_argv, NULL) && errno == EINVAL, "NULL pool: EINVAL");
    errno = 0;
    ok(!forkpool_exec(p, NULL, NULL) && errno == EINVAL, "NULL argv: EINVAL");
    errno = 0;
    ok(!forkpool_exec(p, none, NULL) && errno == EINVAL, "no argv[0]: EINVAL");
    errno = 0;
    ok(!forkpool_exec(p, empty, NULL) && errno == EINVAL, "empty argv[0]: EINVAL");
    errno = 0;
    ok(!forkpool_exec(p, ok_argv, &bad) && errno == EINVAL, "unknown capture bits: EINVAL");
    forkpool_destroy(p);
    forkpool_options io = {0};
    io.mode = FORKPOOL_INLINE;
    p = forkpool_create(&io);
    errno = 0;
    ok(!forkpool_exec(p, ok_argv, NULL) && errno == EINVAL, "INLINE pool: EINVAL");
    forkpool_destroy(p);
    errno = 0;
    ok(!forkpool_task_stderr(NULL, NULL) && errno == EINVAL, "stderr of NULL: EINVAL");
}

/* A file with no #! line runs under /bin/sh, as execvp would. */
static void no_shebang(void)
{
    char path[] = "/tmp/forkpool-t_exec-XXXXXX";
    int fd = mkstemp(path);
    const char body[] = "echo \"plain script $1\"\n";
    ok(fd >= 0 && write(fd, body, sizeof body - 1) == (ssize_t)sizeof body - 1 &&
           fchmod(fd, 0700) == 0 && close(fd) == 0,
       "made a script without #!");
    forkpool *p = forkpool_create(NULL);
    forkpool_exec_options o = capture_both();
    const char *argv[] = {path, "arg", NULL};
    forkpool_task *t = run(p, argv, &o);
    size_t n;
    const char *r = forkpool_task_result(t, &n);
    is_mem(r, n, "plain script arg\n", 17, "it ran under /bin/sh with its arguments");
    forkpool_destroy(p);
    unlink(path);
}

/* A host that closed stdout: the pool's fds must not land on fd 1, where a
   program inheriting stdout would receive one. */
static void closed_stdout(void)
{
    int *seen = tap_shared(sizeof(int));
    pid_t sub = fork();
    if (sub == 0) {
        close(1);
        forkpool *p = forkpool_create(NULL);
        forkpool_exec_options o = {0};
        o.capture = FORKPOOL_CAPTURE_STDERR;
        const char *argv[] = {"sh", "-c", "readlink /proc/self/fd/1 >&2", NULL};
        forkpool_task *t = forkpool_exec(p, argv, &o);
        forkpool_wait(t);
        size_t n;
        const char *e = forkpool_task_stderr(t, &n);
        *seen = e && memmem(e, n, "anon_inode", 10) ? 1 : 2;
        forkpool_destroy(p);
        _exit(0);
    }
    waitpid(sub, NULL, 0);
    is(*seen, 2, "with stdout closed, no library fd reaches the program as its stdout");
    tap_shared_free(seen, sizeof(int));
}

/* The program dies with the pool's process. */
static void death(void)
{
    pid_t *shared = tap_shared(sizeof(pid_t));
    pid_t owner = fork();
    if (owner == 0) {
        forkpool *p = forkpool_create(NULL);
        const char *sleeper[] = {"sleep", "1000", NULL};
        forkpool_task *t = forkpool_exec(p, sleeper, NULL);
        *shared = forkpool_task_pid(t);
        tap_pause_forever();
    }
    ok(TAP_WAIT_UNTIL(*shared > 0, 5000), "the owner started a program");
    kill(owner, SIGKILL);
    waitpid(owner, NULL, 0);
    ok(tap_wait_pid_dead(*shared, 5000), "it dies with its pool's process");
    tap_shared_free(shared, sizeof(pid_t));
}

int main(void)
{
    tap_watchdog(60);
    int fds = tap_fd_count();
    for (int fallback = 0; fallback < 2; fallback++) {
        const char *m = fallback ? "fallback" : "default";
        if (fallback)
            setenv("FORKPOOL_NO_PIDFD", "1", 1);
        forkpool *p = forkpool_create(NULL);
        basics(p, m);
        big_streams(p, m);
        environment(p, m);
        forkpool_destroy(p);
        limits(m);
    }
    unsetenv("FORKPOOL_NO_PIDFD");
    bad_args();
    no_shebang();
    closed_stdout();
    death();
    is(tap_fd_count(), fds, "no fd left");
    ok(tap_no_children(), "no child left");
    return done_testing();
}
