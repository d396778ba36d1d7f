/* A task's child holds none of the library's fds except its own channel:
   with several tasks running in one pool and more in a second pool, each
   task lists /proc/self/fd; none of the parent's epoll / pidfd / eventfd /
   timerfd fds or other tasks' channels may appear, while an fd the program
   opened itself before the pools is inherited. */
#include "forkpool.h"
#include "tap.h"

#define NA 3
#define NB 2
#define MAXFD 256

struct shared {
    _Atomic int started;
    _Atomic int go;
};
static struct shared *sh;

struct fdent {
    int fd;
    char target[128];
};

static int list_fds(struct fdent *out, int max)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int dfd = dirfd(d), n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd == dfd)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(path, out[n].target, sizeof out[n].target - 1);
        if (k < 0)
            continue;
        out[n].target[k] = '\0';
        out[n].fd = fd;
        n++;
    }
    closedir(d);
    return n;
}

static int task_list_fds(forkpool_ctx *ctx, const void *arg, size_t len)
{
    (void)arg; (void)len;
    atomic_fetch_add(&sh->started, 1);
    if (!TAP_WAIT_UNTIL(atomic_load(&sh->go), 10000))
        return forkpool_throw(ctx, "test", "no go");
    static struct fdent ents[MAXFD];
    int n = list_fds(ents, MAXFD);
    if (n < 0)
        return forkpool_throw(ctx, "test", "cannot list fds");
    return forkpool_return(ctx, ents, (size_t)n * sizeof ents[0]) == 0 ? 0 : 1;
}

static int has_target(const struct fdent *set, int n, const char *target)
{
    for (int i = 0; i < n; i++)
        if (strcmp(set[i].target, target) == 0)
            return 1;
    return 0;
}

int main(void)
{
    tap_watchdog(30);
    sh = tap_shared(sizeof *sh);
    int devnull = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: inherited */
    ok(devnull >= 0, "opened /dev/null before the pools");

    static struct fdent pre[MAXFD], parent[MAXFD];
    int npre = list_fds(pre, MAXFD);

    forkpool_options o = {0};
    o.concurrency = NA;
    forkpool *a = forkpool_create(&o);
    o.concurrency = NB;
    forkpool *b = forkpool_create(&o);
    ok(a && b, "two pools");
    if (!a || !b)
        bail_out("no pools");
    forkpool_task *ta[NA], *tb[NB];
    for (int i = 0; i < NA; i++)
        ta[i] = forkpool_run(a, task_list_fds, NULL, 0);
    for (int i = 0; i < NB; i++)
        tb[i] = forkpool_run(b, task_list_fds, NULL, 0);
    int all = TAP_WAIT_UNTIL(
        (forkpool_poll(a, 2), forkpool_poll(b, 2), atomic_load(&sh->started) >= NA + NB), 10000);
    ok(all, "all %d tasks are running", NA + NB);

    /* the parent's fds now: the library's are the ones not there before */
    int npar = list_fds(parent, MAXFD);
    static struct fdent lib[MAXFD];
    int nlib = 0;
    for (int i = 0; i < npar; i++)
        if (!has_target(pre, npre, parent[i].target))
            lib[nlib++] = parent[i];
    int kinds = 0;
    for (int i = 0; i < nlib; i++) {
        if (strstr(lib[i].target, "eventpoll"))
            kinds |= 1;
        if (strstr(lib[i].target, "timerfd"))
            kinds |= 2;
        if (strstr(lib[i].target, "eventfd"))
            kinds |= 4;
        if (strncmp(lib[i].target, "pipe:", 5) == 0 || strncmp(lib[i].target, "socket:", 7) == 0)
            kinds |= 8;
    }
    diag("the parent holds %d library fds", nlib);
    ok(nlib >= NA + NB, "the parent holds fds of the pools and tasks (%d)", nlib);

    atomic_store(&sh->go, 1);
    is(forkpool_await(a), 0, "pool A: all tasks succeeded");
    is(forkpool_await(b), 0, "pool B: all tasks succeeded");

    static char own[MAXFD][128];
    int nown = 0, clean = 1, leaked_anon = 0, inherited_devnull = 1, ntasks = 0;
    for (int k = 0; k < NA + NB; k++) {
        forkpool_task *t = k < NA ? ta[k] : tb[k - NA];
        size_t len = 0;
        const struct fdent *ents = forkpool_task_result(t, &len);
        if (!ents || len % sizeof *ents != 0)
            continue;
        ntasks++;
        int n = (int)(len / sizeof *ents);
        int found_devnull = 0, matches = 0;
        for (int i = 0; i < n; i++) {
            const char *tg = ents[i].target;
            if (ents[i].fd == devnull && strcmp(tg, "/dev/null") == 0)
                found_devnull = 1;
            if (has_target(pre, npre, tg))
                continue; /* the program's own fds */
            if (strncmp(tg, "anon_inode:", 11) == 0) {
                leaked_anon++;
                diag("task %d holds fd %d -> %s", k, ents[i].fd, tg);
            }
            if (has_target(lib, nlib, tg)) {
                /* shared with the parent: allowed only for its own channel
                   (and a worker's task, its worker's request pipe, whose
                   ends the parent holds both of), each not seen in any
                   other task */
                int dup = 0;
                for (int j = 0; j < nown; j++)
                    if (strcmp(own[j], tg) == 0)
                        dup = 1;
                if (dup) {
                    clean = 0;
                    diag("task %d holds fd %d -> %s, already held by another task", k, ents[i].fd, tg);
                } else {
                    matches++;
                    if (matches > tap_task_parent_pipes()) {
                        clean = 0;
                        diag("task %d holds a second parent fd %d -> %s", k, ents[i].fd, tg);
                    }
                    if (nown < MAXFD)
                        snprintf(own[nown++], 128, "%s", tg);
                }
            }
        }
        if (!found_devnull)
            inherited_devnull = 0;
    }
    is(ntasks, NA + NB, "every task returned its fd list");
    is(leaked_anon, 0, "no task holds an epoll / pidfd / eventfd / timerfd (anon_inode) fd");
    ok(clean, "no task holds another task's channel or any other parent fd besides its own channel");
    ok(inherited_devnull, "every task inherited the program's own /dev/null fd %d", devnull);
    ok(kinds & 1, "(the parent does hold an epoll fd, so the check means something)");

    for (int i = 0; i < NA; i++)
        forkpool_task_release(ta[i]);
    for (int i = 0; i < NB; i++)
        forkpool_task_release(tb[i]);
    forkpool_destroy(a);
    forkpool_destroy(b);
    close(devnull);
    ok(tap_no_children(), "no children");
    tap_shared_free(sh, sizeof *sh);
    return done_testing();
}
