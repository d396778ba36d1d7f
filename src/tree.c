/*
 * Ending a task's whole subtree, also the descendants that left its process
 * group (setsid, setpgid), which a group kill does not reach.
 *
 * Every task child is a child subreaper (PR_SET_CHILD_SUBREAPER, set by
 * fp_child_reset): while it lives, a descendant whose parent dies is
 * reparented to it, not to init, so every descendant is found by walking
 * /proc/<pid>/task/<tid>/children down from it. Two callers:
 *
 * - the parent, before it signals a live task child (fp_kill_group):
 *   fp_tree_kill stops the child, then SIGKILLs every descendant (SIGKILL
 *   kind) or only those outside the child's group (SIGTERM kind: the group
 *   itself gets the staged SIGTERM ... SIGKILL, but the child may die of
 *   that SIGTERM, and its escaped orphans would go to init with it);
 * - the child, when its task function returned (fp_tree_end_own): kills and
 *   reaps whatever it leaves behind before it exits.
 *
 * Why the walk is complete. A process that has a SIGKILL pending can no
 * longer finish a fork (copy_process checks for it under the same lock
 * that links the new child), so a child list read after the SIGKILL is
 * final. What is to live on (the task child, and in the SIGTERM kind its
 * group) is first stopped with one SIGSTOP to the group: a signal sent to
 * a group while a member is inside fork() is also made pending in the new
 * child (older kernels restart that fork instead), so a child whose fork
 * was in flight starts stopped, in the group, and the group signal that
 * follows reaches it. Only a task
 * child that left its group, and group members found by the walk (one may
 * be inside setsid()), are waited for until each thread is seen stopped
 * before their lists are read. A process that dies while we read its list
 * hands its children to the subreaper, whose list is read again: rounds
 * repeat until one finds no new pid (bounded).
 *
 * Without /proc/<pid>/task/<tid>/children (a kernel built without
 * CONFIG_PROC_CHILDREN, or no /proc) nothing is done: the group kill is all
 * there is.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "tree.h"

#define FP_TREE_ROUNDS 256              /* walks of one tree, at most         */
#define FP_TREE_STOP_WAIT_NS 200000000LL /* most time one walk waits for
                                            SIGSTOPs to act (D state)      */
#define FP_TREE_REAP_ROUNDS 1000        /* fp_tree_end_own: kill-and-reap
                                           rounds, 10 ms each at most         */

/* What the walk did to a process it found. */
enum { FP_TREE_STOPPED = 1, FP_TREE_READ = 2 };

typedef struct {
    pid_t pid; /* 0: empty slot */
    uint8_t flags;
    unsigned round; /* the last round that queued it */
} fp_tree_node;

/* One walk: the processes found (open addressing) and the round's queue. */
typedef struct {
    fp_tree_node *node;
    size_t cap, n;
    pid_t *queue;
    size_t qcap, qlen;
    pid_t root;  /* its pid is also the id of its original group */
    int all;     /* kill every descendant, not only those outside the group */
    int64_t stop_until; /* no more waiting for SIGSTOPs after this */
    int failed;        /* out of memory: what was found is signalled anyway */
} fp_tree;

static fp_tree_node *tree_slot(fp_tree_node *node, size_t cap, pid_t pid)
{
    size_t i = ((size_t)pid * 2654435761u) & (cap - 1);
    while (node[i].pid && node[i].pid != pid)
        i = (i + 1) & (cap - 1);
    return &node[i];
}

/* The node of pid, added if new (*fresh set); NULL if out of memory. */
static fp_tree_node *tree_find(fp_tree *w, pid_t pid, int *fresh)
{
    if (w->n * 2 >= w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        fp_tree_node *node = calloc(cap, sizeof *node);
        if (!node)
            return NULL;
        for (size_t i = 0; i < w->cap; i++)
            if (w->node[i].pid)
                *tree_slot(node, cap, w->node[i].pid) = w->node[i];
        free(w->node);
        w->node = node;
        w->cap = cap;
    }
    fp_tree_node *e = tree_slot(w->node, w->cap, pid);
    *fresh = !e->pid;
    if (*fresh) {
        e->pid = pid;
        w->n++;
    }
    return e;
}

static int tree_push(fp_tree *w, pid_t pid)
{
    if (w->qlen == w->qcap) {
        size_t cap = w->qcap ? w->qcap * 2 : 64;
        pid_t *q = realloc(w->queue, cap * sizeof *q);
        if (!q)
            return -1;
        w->queue = q;
        w->qcap = cap;
    }
    w->queue[w->qlen++] = pid;
    return 0;
}

/* Reads a small /proc file into buf (NUL-terminated); its length or -1. */
static ssize_t tree_read(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t r;
    while (len + 1 < size && ((r = read(fd, buf + len, size - 1 - len)) > 0 ||
                              (r == -1 && errno == EINTR)))
        if (r > 0)
            len += (size_t)r;
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* Whether thread tid of pid is stopped, traced, dead or gone. */
static int tree_is_stopped(pid_t pid, pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    if (tree_read(path, buf, sizeof buf) <= 0)
        return 1;
    const char *p = strrchr(buf, ')');
    return !p || p[1] != ' ' || !p[2] || strchr("TtZXx", p[2]) != NULL;
}

/* Waits until thread tid of pid has acted on its SIGSTOP, or until the
   walk's waiting time is used up (a thread in uninterruptible sleep). */
static void tree_wait_stopped(const fp_tree *w, pid_t pid, pid_t tid)
{
    struct timespec nap = {0, 20000};
    while (!tree_is_stopped(pid, tid) && fp_now() < w->stop_until)
        nanosleep(&nap, NULL);
}

/*
 * First sight of a descendant: SIGKILL it if it is to die now, else
 * SIGSTOP it (it is decided again once stopped, in tree_settle).
 */
static void tree_first_signal(fp_tree *w, fp_tree_node *e)
{
    if (w->all || getpgid(e->pid) != w->root) {
        kill(e->pid, SIGKILL);
    } else {
        kill(e->pid, SIGSTOP);
        e->flags |= FP_TREE_STOPPED;
    }
}

/* A child pid read from a list: signal it if new, queue it once a round. */
static void tree_found(fp_tree *w, pid_t pid, unsigned round, size_t *fresh)
{
    int is_new;
    fp_tree_node *e = tree_find(w, pid, &is_new);
    if (!e) {
        kill(pid, w->all ? SIGKILL : SIGSTOP);
        w->failed = 1;
        return;
    }
    if (is_new) {
        tree_first_signal(w, e);
        (*fresh)++;
    }
    if (e->round == round)
        return;
    e->round = round;
    if (tree_push(w, pid) == -1)
        w->failed = 1;
}

/* Reads the children of thread tid of pid into the walk. */
static void tree_read_children(fp_tree *w, pid_t pid, pid_t tid, unsigned round,
                                  size_t *fresh)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = '\0';
        /* Each pid is followed by a space; a pid cut by the buffer's end
           waits for the next read. */
        char *p = buf, *end;
        for (long v; (v = strtol(p, &end, 10)) > 0 && *end == ' '; p = end + 1)
            tree_found(w, (pid_t)v, round, fresh);
        have = (size_t)(buf + have - p);
        memmove(buf, p, have);
    }
    close(fd);
}

/* The thread ids of pid (0-terminated, malloc'd), or NULL if it is gone
   (or out of memory). */
static pid_t *tree_threads(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    size_t n = 0, cap = 4;
    pid_t *tids = malloc(cap * sizeof *tids);
    DIR *d = tids ? opendir(path) : NULL;
    if (!d) {
        free(tids);
        return NULL;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        long v = strtol(de->d_name, NULL, 10);
        if (v <= 0)
            continue;
        if (n + 1 == cap) {
            pid_t *more = realloc(tids, (cap *= 2) * sizeof *tids);
            if (!more)
                break; /* the threads read so far */
            tids = more;
        }
        tids[n++] = (pid_t)v;
    }
    closedir(d);
    tids[n] = 0;
    return tids;
}

/*
 * The first time a process is read: a stopped one that must be waited for
 * (a group member; the root if it left its group) is waited for until every
 * thread has stopped, and a member that left the group meanwhile is killed
 * after all.
 */
static void tree_settle(fp_tree *w, pid_t pid, fp_tree_node *e, const pid_t *tids)
{
    e->flags |= FP_TREE_READ;
    if (!(e->flags & FP_TREE_STOPPED))
        return;
    for (const pid_t *t = tids; *t; t++)
        tree_wait_stopped(w, pid, *t);
    if (pid != w->root && getpgid(pid) != w->root)
        kill(pid, SIGKILL);
}

/* One round: reads every list from the root down; returns the new pids. */
static size_t tree_round(fp_tree *w, unsigned round)
{
    size_t fresh = 0;
    w->qlen = 0;
    if (tree_push(w, w->root) == -1)
        return 0;
    for (size_t i = 0; i < w->qlen; i++) {
        pid_t pid = w->queue[i];
        int is_new;
        fp_tree_node *e = tree_find(w, pid, &is_new);
        pid_t *tids = tree_threads(pid);
        if (!e || !tids) {
            free(tids);
            continue;
        }
        if (!(e->flags & FP_TREE_READ))
            tree_settle(w, pid, e, tids);
        for (const pid_t *t = tids; *t; t++)
            tree_read_children(w, pid, *t, round, &fresh);
        free(tids);
    }
    return fresh;
}

/* Walks root's subtree; stop_root: SIGSTOP root and its group first (root
   is not us). */
static int tree_walk(pid_t root, int all, int stop_root)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)root, (int)root);
    if (access(path, R_OK) == -1)
        return -1; /* no CONFIG_PROC_CHILDREN, no /proc, or root is gone */
    fp_tree w = {0};
    w.root = root;
    w.all = all;
    w.stop_until = fp_now() + FP_TREE_STOP_WAIT_NS;
    int is_new;
    fp_tree_node *e = tree_find(&w, root, &is_new);
    if (!e)
        return -1;
    if (stop_root) {
        kill(-root, SIGSTOP);
        kill(root, SIGSTOP);
        if (getpgid(root) != root)
            e->flags |= FP_TREE_STOPPED; /* a lone SIGSTOP: wait for it */
    }
    for (unsigned round = 1; round <= FP_TREE_ROUNDS && !w.failed; round++)
        if (tree_round(&w, round) == 0)
            break;
    free(w.node);
    free(w.queue);
    if (w.failed) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/*
 * Parent side: before root (a live, unreaped task child, so its pid is
 * ours and the id of the group it made) is signalled. all: every
 * descendant is killed; else only those outside root's group. root and its
 * group are left stopped either way: the caller follows with SIGKILL, or
 * with SIGTERM and SIGCONT, to root and its group. Best effort (out of
 * memory: what was found is signalled); errno is kept.
 */
void fp_tree_kill(pid_t root, int all)
{
    int saved = errno;
    tree_walk(root, all, 1);
    errno = saved;
}

/*
 * Child side, once the task function returned (a FRESH child, or a worker
 * between tasks, which keeps SIGCHLD's disposition and mask as the task
 * left them): if the child has any child
 * at all (one cheap waitid when it has none), kill its whole subtree and
 * reap until none is left, so nothing the task started outlives it, even
 * what left its process group. Bounded: a task's own threads that still
 * fork are given up on after FP_TREE_REAP_ROUNDS.
 */
void fp_tree_end_own(void)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 && errno == ECHILD)
        return;
    /* A task may have set SIGCHLD to SIG_IGN: the kernel would reap behind
       our back. Blocked, it wakes sigtimedwait instead of a handler. */
    struct sigaction dfl, old_act;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, &old_act);
    sigset_t chld, old_mask;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old_mask);
    const struct timespec nap = {0, 10000000};
    for (int i = 0; i < FP_TREE_REAP_ROUNDS; i++) {
        /* Without the walk, the parent's group kill is all there is. */
        if (tree_walk(getpid(), 1, 0) == -1)
            break;
        pid_t r;
        while ((r = waitpid(-1, NULL, WNOHANG)) > 0 || (r == -1 && errno == EINTR)) {
        }
        if (r == -1 && errno == ECHILD)
            break;
        sigtimedwait(&chld, NULL, &nap);
    }
    /* A worker runs more tasks: they find SIGCHLD as the last one left it
       (a pending SIGCHLD of the reaped children is consumed first). */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&chld, NULL, &zero) > 0) {
    }
    sigaction(SIGCHLD, &old_act, NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
}
