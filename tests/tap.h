/*
 * tap.h: a tiny TAP producer and helpers for the forkpool tests.
 *
 * Every test file is one program: it includes this header (everything here
 * is static inline, so unused helpers cost nothing and cause no warnings),
 * prints TAP to stdout and ends with `return done_testing();`, whose value is
 * non-zero when any test failed or the plan was not met.
 *
 * No atexit() is used on purpose: task children may call exit(), and they
 * must not print a plan of their own. Every TAP line is flushed at once, so
 * a fork never duplicates buffered TAP output.
 */
#ifndef FORKPOOL_TESTS_TAP_H
#define FORKPOOL_TESTS_TAP_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif

/* FP_ASAN: built with AddressSanitizer (gcc or clang). */
#if defined(__SANITIZE_ADDRESS__)
#define FP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FP_ASAN 1
#endif
#endif

/* ------------------------------------------------------------------ state */

struct tap_state {
    int planned; /* -1: no plan printed yet */
    int run;
    int failed;
    pid_t owner; /* the process that prints TAP; children stay silent */
};

static inline struct tap_state *tap_st(void)
{
    static struct tap_state s = {-1, 0, 0, 0};
    if (s.owner == 0)
        s.owner = getpid();
    return &s;
}

static inline int tap_is_owner(void) { return getpid() == tap_st()->owner; }

/* -------------------------------------------------------------- printing */

/* Writes fmt's text to fd, prefix before each of its lines (stdout
   flushed first: TAP lines and comments stay in order). */
static inline void tap_vprint(int fd, const char *prefix, const char *fmt, va_list ap)
{
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fflush(stdout);
    for (char *line = buf, *nl;; line = nl + 1) {
        if ((nl = strchr(line, '\n')))
            *nl = '\0';
        dprintf(fd, "%s%s\n", prefix, line);
        if (!nl || nl[1] == '\0')
            break;
    }
}

static inline void diag(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static inline void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vprint(STDOUT_FILENO, "# ", fmt, ap);
    va_end(ap);
}

/* The fd failures are told on: stderr (shown by prove, as Test::More
   does, where stdout's comments are not: a CI log shows why a test
   failed), the saved one while tap_stderr_begin captures it. */
static inline int *tap_stderr_fds_(void)
{
    static int fds[2] = {-1, -1};
    return fds;
}

/* diag() on the failure fd. */
static inline void tap_fail_diag(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static inline void tap_fail_diag(const char *fmt, ...)
{
    va_list ap;
    int fd = tap_stderr_fds_()[1];
    va_start(ap, fmt);
    tap_vprint(fd >= 0 ? fd : STDERR_FILENO, "# ", fmt, ap);
    va_end(ap);
}

static inline void plan(int n)
{
    tap_st()->planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline int tap_ok_(int cond, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static inline int tap_ok_(int cond, const char *file, int line, const char *fmt, ...)
{
    struct tap_state *s = tap_st();
    char name[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    s->run++;
    if (!cond)
        s->failed++;
    printf("%sok %d - %s\n", cond ? "" : "not ", s->run, name);
    fflush(stdout);
    if (!cond)
        tap_fail_diag("  Failed test '%s'\n  at %s line %d.", name, file, line);
    return cond;
}

/* ok(cond, "name %d", ...): one test point. Returns cond. */
#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* is(got, expected, "name"): integer comparison, prints both on failure. */
#define is(got, exp, ...) tap_is_(((long long)(got)), ((long long)(exp)), __FILE__, __LINE__, __VA_ARGS__)

static inline int tap_is_(long long got, long long exp, const char *file, int line,
                          const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static inline int tap_is_(long long got, long long exp, const char *file, int line,
                          const char *fmt, ...)
{
    char name[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int r = tap_ok_(got == exp, file, line, "%s", name);
    if (!r)
        tap_fail_diag("         got: %lld\n    expected: %lld", got, exp);
    return r;
}

/* is_str(got, expected, "name"): string comparison; NULL only equals NULL. */
#define is_str(got, exp, ...) tap_is_str_((got), (exp), __FILE__, __LINE__, __VA_ARGS__)

static inline int tap_is_str_(const char *got, const char *exp, const char *file, int line,
                              const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static inline int tap_is_str_(const char *got, const char *exp, const char *file, int line,
                              const char *fmt, ...)
{
    char name[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int eq = (got == NULL || exp == NULL) ? got == exp : strcmp(got, exp) == 0;
    int r = tap_ok_(eq, file, line, "%s", name);
    if (!r)
        tap_fail_diag("         got: %s%s%s\n    expected: %s%s%s", got ? "'" : "",
                      got ? got : "NULL", got ? "'" : "", exp ? "'" : "", exp ? exp : "NULL",
                      exp ? "'" : "");
    return r;
}

/* is_mem(got, got_len, exp, exp_len, "name"): byte-exact comparison. */
#define is_mem(got, glen, exp, elen, ...) \
    tap_is_mem_((got), (glen), (exp), (elen), __FILE__, __LINE__, __VA_ARGS__)

static inline int tap_is_mem_(const void *got, size_t glen, const void *exp, size_t elen,
                              const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 7, 8)))
#endif
    ;
static inline int tap_is_mem_(const void *got, size_t glen, const void *exp, size_t elen,
                              const char *file, int line, const char *fmt, ...)
{
    char name[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int eq = glen == elen && (glen == 0 || (got && exp && memcmp(got, exp, glen) == 0));
    int r = tap_ok_(eq, file, line, "%s", name);
    if (!r)
        tap_fail_diag("    got %zu bytes at %p, expected %zu bytes", glen, got, elen);
    return r;
}

/* Ends the program's TAP; returns the exit status for main. */
static inline int done_testing(void)
{
    struct tap_state *s = tap_st();
    if (s->planned < 0) {
        printf("1..%d\n", s->run);
        s->planned = s->run;
    }
    if (s->planned != s->run)
        tap_fail_diag("Looks like you planned %d tests but ran %d.", s->planned, s->run);
    if (s->failed)
        tap_fail_diag("Looks like you failed %d test%s of %d.", s->failed,
                      s->failed == 1 ? "" : "s", s->run);
    fflush(stdout);
    return (s->failed || s->planned != s->run) ? 1 : 0;
}

/* Stops the whole test program at once (reported as a failure by prove). */
static inline void bail_out(const char *why)
{
    printf("Bail out! %s\n", why);
    fflush(stdout);
    _exit(255);
}

/* ---------------------------------------------------------------- timing */

/* TEST_TIME_SCALE (integer >= 1, default 1): multiplies every deadline. */
static inline int tap_scale(void)
{
    const char *s = getenv("TEST_TIME_SCALE");
    if (!s || !*s)
        return 1;
    long v = strtol(s, NULL, 10);
    return v >= 1 && v <= 1000 ? (int)v : 1;
}

static inline long long tap_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void tap_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* The watchdog's message, built when it is armed: the handler may only
   write(). It names the program and its variant, because prove, running
   several tests at once, prints a bail-out without saying whose it is. */
static char tap_watchdog_msg_[256];

/* After the bail-out, what tells a hang in this program from one in a
   process it waits for (another MPI rank, a child) goes to stderr, which
   prove shows: every process with where it waits (wchan), then one line
   for each process that runs this program (this one included, zombies
   too): its parent, state, wait channel and, when gdb is installed, its
   main thread's innermost frames. Those lines come last and one a process,
   because CI logs keep only their tail. 60 s at most; fork and exec are
   async-signal-safe. The processes are the program's in other variants too
   (prove runs them side by side): a gdb cut off by its timeout leaves the
   process it attached to stopped, so one that was not stopped before gdb
   and is after gets a SIGCONT. */
static const char tap_watchdog_sh_[] =
    "ps --cols 200 -N --ppid 2 -p 2 -o pid,ppid,pgid,stat,wchan:24,etime,args\n"
    "echo \"== processes of $1: pid ppid stat wchan: frames, innermost first\"\n"
    "for p in $(pgrep -x \"$(printf %.15s \"$1\")\" | head -n 12); do\n"
    "  f= s0=$(ps -o stat= -p $p | tr -d ' ')\n"
    "  command -v gdb >/dev/null && f=$(timeout 10 gdb -p $p -batch -nx -ex 'bt 14' 2>/dev/null |\n"
    "    sed -n 's/^#[0-9]* *\\(0x[0-9a-f]* in \\)\\{0,1\\}\\([^ ]*\\) .*/\\2/p' | paste -sd' ' -)\n"
    "  case $s0 in [Tt]*) ;; *) ps -o stat= -p $p | grep -q '^ *[Tt]' && kill -CONT $p ;; esac\n"
    "  echo \"$p $(ps -o ppid=,stat=,wchan:22= -p $p): $f\"\n"
    "done\n";

static inline void tap_watchdog_handler_(int sig)
{
    (void)sig;
    ssize_t r = write(STDOUT_FILENO, tap_watchdog_msg_, strlen(tap_watchdog_msg_));
    (void)r;
    pid_t sh = fork();
    if (sh == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO);
        alarm(60);
        execl("/bin/sh", "sh", "-c", tap_watchdog_sh_, "sh", program_invocation_short_name,
              (char *)NULL);
        _exit(127);
    }
    while (sh > 0 && waitpid(sh, NULL, 0) == -1 && errno == EINTR) {
    }
    _exit(254);
}

/* Ends the program with a failure after seconds * TEST_TIME_SCALE. */
static inline void tap_watchdog(unsigned seconds)
{
    const char *variant = getenv("FORKPOOL_TEST_VARIANT");
    snprintf(tap_watchdog_msg_, sizeof tap_watchdog_msg_,
             "Bail out! watchdog: %s (variant %s) hung for %u s and was stopped\n",
             program_invocation_short_name, variant && *variant ? variant : "fresh",
             seconds * (unsigned)tap_scale());
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tap_watchdog_handler_;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarm(seconds * (unsigned)tap_scale());
}

/*
 * Loops until `cond` holds or ms * TEST_TIME_SCALE passed, checking every
 * millisecond; evaluates to whether cond held. Only for external conditions
 * (another process's progress), never to wait for "enough time".
 */
#define TAP_WAIT_UNTIL(cond, ms)                                              \
    __extension__({                                                          \
        long long tap_deadline_ = tap_now_ms() + (long long)(ms) * tap_scale(); \
        int tap_ok_now_;                                                     \
        while (!(tap_ok_now_ = !!(cond)) && tap_now_ms() < tap_deadline_)   \
            tap_sleep_ms(1);                                                 \
        tap_ok_now_;                                                         \
    })

/* ----------------------------------------------------- processes and fds */

/* Entries in /proc/self/fd, not counting the directory's own fd. */
/* The address space this process maps now (bytes; 0 if unknown). */
static inline size_t tap_vm_size(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

static inline int tap_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* True when this process has no child at all, running or zombie. */
static inline int tap_no_children(void)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 && errno == ECHILD;
}

/* What follows "PID (comm)" in /proc/PID/stat, in buf; NULL if gone. */
static inline const char *tap_proc_stat(pid_t pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p + 1 : NULL;
}

/* The state letter of /proc/PID/stat ('R', 'S', 'Z', ...), or 0 if gone. */
static inline char tap_proc_state(pid_t pid)
{
    char buf[512];
    const char *p = tap_proc_stat(pid, buf, sizeof buf);
    return p ? p[1] : 0;
}

/* The parent of pid, from /proc/PID/stat, or 0 if it is gone. */
static inline pid_t tap_proc_ppid(pid_t pid)
{
    char buf[512];
    const char *p = tap_proc_stat(pid, buf, sizeof buf);
    int ppid = 0;
    if (!p || sscanf(p, " %*c %d", &ppid) != 1)
        return 0;
    return (pid_t)ppid;
}

/* This process's children, running or zombie (a scan of /proc). When pids
   is not NULL, the first max of them are stored there. */
static inline int tap_children(pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    pid_t me = getpid();
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0 || tap_proc_ppid(pid) != me)
            continue;
        if (pids && n < max)
            pids[n] = pid;
        n++;
    }
    closedir(d);
    return n;
}

/*
 * True when pid no longer runs: it does not exist, or it is a zombie that
 * nobody reaped yet (a task's orphaned grandchild is reaped by init or a
 * subreaper, which in a container may never happen).
 */
static inline int tap_pid_dead(pid_t pid)
{
    if (kill(pid, 0) == -1 && errno == ESRCH)
        return 1;
    char st = tap_proc_state(pid);
    return st == 0 || st == 'Z' || st == 'X' || st == 'x';
}

/* Waits (bounded: ms * scale) until pid is dead; returns whether it is. */
static inline int tap_wait_pid_dead(pid_t pid, long ms)
{
    return TAP_WAIT_UNTIL(tap_pid_dead(pid), ms);
}

/* How many children this process has, none of them a zombie; -1 if one
   is a zombie (not reaped) or /proc cannot tell. */
static inline int tap_live_children(void)
{
    pid_t kids[64];
    int n = tap_children(kids, 64);
    for (int i = 0; i < n && i < 64; i++) {
        char st = tap_proc_state(kids[i]);
        if (st == 0 || st == 'Z' || st == 'X' || st == 'x')
            return -1;
    }
    return n;
}

/* In a task child: its channel, the one pipe among its fds. */
static inline int tap_channel_fd(void)
{
    for (int fd = 3; fd < 256; fd++) {
        char path[64], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(path, target, sizeof target - 1);
        if (k > 0) {
            target[k] = '\0';
            if (strncmp(target, "pipe:", 5) == 0)
                return fd;
        }
    }
    return -1;
}

/* In a task child: writes all n bytes, or exits 90. */
static inline void tap_put(int fd, const void *p, size_t n)
{
    if (write(fd, p, n) != (ssize_t)n)
        _exit(90);
}

/* Mappings of result memfds in this process. */
static inline int tap_result_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "forkpool-result"))
            n++;
    fclose(f);
    return n;
}

/* This process's pid as the test (outside any PID namespace) sees it: a
   task's descendant under contain is in a namespace of its own, where
   getpid() is small; /proc (the test's) names it by its outer pid. */
static inline pid_t tap_pid(void)
{
    char buf[32];
    ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
    if (n <= 0)
        return getpid();
    buf[n] = '\0';
    return (pid_t)atoi(buf);
}

/* Whether the kernel (and valgrind, if we run under it) has pidfd_open. */
static inline int tap_have_pidfd(void)
{
    long fd = syscall(__NR_pidfd_open, (long)getpid(), 0L);
    if (fd < 0)
        return 0;
    close((int)fd);
    return 1;
}

/* Counts fds of this process whose /proc/self/fd link equals target. */
static inline int tap_count_fds_like(const char *target)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], link[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t k = readlink(path, link, sizeof link - 1);
        if (k < 0)
            continue;
        link[k] = '\0';
        if (strcmp(link, target) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* For tasks that sleep until they are killed. */
static inline _Noreturn void tap_pause_forever(void)
{
    for (;;)
        pause();
}

/* Crashing tasks should not write core files. */
static inline void tap_no_core_dumps(void)
{
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
}

/* ------------------------------------------------------- shared memory */

/* Zeroed memory shared with every later fork (task children included). */
static inline void *tap_shared(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        bail_out("mmap(MAP_SHARED|MAP_ANONYMOUS) failed");
    return p;
}

static inline void tap_shared_free(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

/* ----------------------------------------------------------------- stderr */

/* Sends stderr to a pipe until tap_stderr_end (at most 64 KiB in between:
   nobody reads the pipe meanwhile). */
static inline void tap_stderr_begin(void)
{
    int p[2], *fds = tap_stderr_fds_();
    fflush(stderr);
    if (pipe(p) != 0 || (fds[1] = dup(STDERR_FILENO)) < 0 || dup2(p[1], STDERR_FILENO) < 0)
        bail_out("cannot capture stderr");
    close(p[1]);
    fds[0] = p[0];
}

/* Restores stderr; returns what was written to it since tap_stderr_begin
   (a static buffer, valid until the next call; cut at 4 KiB). */
static inline const char *tap_stderr_end(void)
{
    static char text[4096];
    int *fds = tap_stderr_fds_();
    fflush(stderr);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    fds[1] = -1;
    size_t n = 0;
    ssize_t k;
    while (n < sizeof text - 1 &&
           (k = read(fds[0], text + n, sizeof text - 1 - n)) > 0)
        n += (size_t)k;
    close(fds[0]);
    text[n] = '\0';
    return text;
}

/* ---------------------------------------------------------- fuzz corpora */

/*
 * Feeds every file of a fuzz corpus (dir is relative to the repository
 * root, where prove runs) to a libFuzzer entry point, each file up to 1 MiB;
 * returns how many files. A broken promise aborts inside `one`, which fails
 * the test; a missing directory bails out.
 */
static inline int tap_replay_corpus(const char *dir, int (*one)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d) {
        char why[600];
        snprintf(why, sizeof why, "cannot open %s (run from the repository root)", dir);
        bail_out(why);
    }
    enum { MAX = 1 << 20 };
    unsigned char *buf = malloc(MAX);
    if (!buf)
        bail_out("out of memory");
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        size_t n = fread(buf, 1, MAX, f);
        fclose(f);
        one(buf, n);
        files++;
    }
    closedir(d);
    free(buf);
    return files;
}

/* -------------------------------------------------------------- variants */

/*
 * The suite runs once per pool variant: FORKPOOL_TEST_VARIANT is "fresh"
 * (or unset), "workers" (every FRESH pool a test makes becomes a WORKERS
 * pool), "server" (fork_server on) or "workers-server" (both); "contain"
 * and "workers-contain" (contain on) run the hostile-task tests. Tests call
 * forkpool_create as users do; this macro routes them through the variant.
 * A test whose promise differs between modes asks tap_workers() /
 * tap_server() and asserts the promise of the mode it runs in.
 */
#ifdef FORKPOOL_H
static inline const char *tap_variant(void)
{
    const char *v = getenv("FORKPOOL_TEST_VARIANT");
    return v && *v ? v : "fresh";
}

static inline int tap_workers(void) { return strncmp(tap_variant(), "workers", 7) == 0; }
static inline int tap_server(void) { return strstr(tap_variant(), "server") != NULL; }
/* Variants contain and workers-contain: every pool a test makes contains. */
static inline int tap_contain(void) { return strstr(tap_variant(), "contain") != NULL; }

#ifdef FP_ASAN
/* LeakSanitizer's check at exit clones a tracer thread; in a contained
   task that clone lands in the task's PID namespace, where the task's
   threads are not visible, and the check waits forever (a task that calls
   exit()). In the contain variants the check runs in the test's own
   process only, where the library's leaks would be; the other variants
   check every process. (A hook LeakSanitizer calls at exit.) */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return tap_contain() && !tap_is_owner(); }
#endif

/* The fds a worker holds in the parent besides its pidfd: its channel and
   both ends of its request pipe. */
enum { TAP_WORKER_FDS = 3 };

static inline int tap_workers_fds(void)
{
    const char *no = getenv("FORKPOOL_NO_PIDFD");
    return TAP_WORKER_FDS + (tap_have_pidfd() && !(no && *no && strcmp(no, "0") != 0));
}

/* The pipes a task shares with the parent: its channel, and in a worker
   its worker's request pipe too. */
static inline int tap_task_parent_pipes(void)
{
    return tap_workers() ? 2 : 1;
}

/*
 * After a test's tasks ended, with one pool still alive (its fds counted in
 * fds_before): FRESH leaves no child and no fd; a WORKERS pool keeps its
 * idle workers, at most `max`, each holding its fds in the parent
 * (TAP_WORKER_FDS, plus a pidfd unless FORKPOOL_NO_PIDFD or no
 * pidfd_open); a fork server is one
 * more child, whose fds were there before.
 */
static inline int tap_pool_idle_ok(int fds_before, int max, int *fds_now, int *want)
{
    *fds_now = tap_fd_count();
    int w = tap_live_children() - tap_server();
    if (!tap_workers()) {
        *want = fds_before;
        return w == 0 && *fds_now == fds_before;
    }
    /* A worker whose pidfd could not be opened (EMFILE) is polled: it
       holds one fd fewer. */
    *want = fds_before + (w > 0 ? w : 0) * tap_workers_fds();
    return w >= 0 && w <= max && *fds_now <= *want && *fds_now >= fds_before + TAP_WORKER_FDS * w;
}

static inline forkpool *tap_forkpool_create(const forkpool_options *opts)
{
    forkpool_options o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    if (o.mode == FORKPOOL_FRESH) {
        if (tap_workers())
            o.mode = FORKPOOL_WORKERS;
        if (tap_server())
            o.fork_server = 1;
    }
    if (tap_contain() && o.mode != FORKPOOL_INLINE && o.mode != FORKPOOL_MPI)
        o.contain = 1;
    return (forkpool_create)(&o);
}
#define forkpool_create(opts) tap_forkpool_create(opts)

/*
 * For checks made while pools are alive: true when this process has no
 * child but, in the fork-server variants, the `pools` live pools' helpers
 * (each a running process, never a zombie).
 */
static inline int tap_no_task_children(int pools)
{
    if (!tap_server())
        return tap_no_children();
    return tap_live_children() == pools;
}
#endif

#endif /* FORKPOOL_TESTS_TAP_H */
