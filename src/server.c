/*
 * The fork server (forkpool_options.fork_server): a helper process, forked
 * from the program at forkpool_create, from which every child is forked.
 *
 * Why: fork() copies the forking process's page tables, so its cost grows
 * with the program's size, and a fork of a multi-threaded program can copy a
 * lock that another thread held. The helper is the program as it was at
 * create: single-threaded, every signal handler already reset, every signal
 * blocked. Forking from it costs the same however large the program grows
 * afterwards, and its children cannot inherit a held lock.
 *
 * The helper is forked like a task child: its own process group, death with
 * the pool's thread (PR_SET_PDEATHSIG), none of the library's fds (the
 * registry, registry.c). It keeps one end of a SOCK_SEQPACKET socketpair and
 * serves requests, one at a time. A request is one message: a header
 * (entry, blob length, fd count) and the blob, or past FP_SRV_INLINE bytes a
 * memfd holding it, with the fds as SCM_RIGHTS. The helper clones a child
 * with CLONE_PARENT, so the child is the pool process's own: pidfd_open,
 * waitid, setpgid and kill work on it exactly as on a forked child, and the
 * helper never has children to reap. The helper then closes the fds it got
 * and waits for the next request.
 *
 * The reply is the child's pid, sent by the child itself as its first act
 * (or an errno, sent by the helper when clone failed): a helper that dies
 * right after cloning cannot leave a child the pool does not know of.
 *
 * The helper is the pool process's child. server_fork notices its death
 * (EOF, EPIPE, ECONNRESET, or no answer within FP_SRV_TIMEOUT_MS: killed),
 * reaps it and starts a new one, once per request; the new one is the
 * program as it is at that moment.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "channel.h"
#include "launch.h"
#include "pool.h"
#include "registry.h"
#include "server.h"

#define FP_SRV_INLINE ((size_t)64 * 1024) /* larger blobs travel in a memfd */
#define FP_SRV_MAXFDS 4                    /* fds per request, besides that memfd */
#define FP_SRV_TIMEOUT_MS 10000L           /* a helper silent this long is killed */

typedef struct fp_srv_req {
    fp_entry entry;
    uint64_t len;   /* blob bytes                                        */
    int32_t nfds;   /* the request's fds; a memfd, if any, comes after   */
    int32_t memfd;  /* the blob is in a memfd, not in this message       */
} fp_srv_req;

typedef struct fp_srv_reply {
    int32_t pid;    /* the child, or 0                                   */
    int32_t err;    /* when pid is 0: why there is no child              */
} fp_srv_reply;

/* The helper's state, in the helper only. */
typedef struct fp_srv {
    forkpool *pool;        /* its copy of the pool (inert, fds closed)     */
    int fd;                /* its end of the socket                        */
    unsigned char *buf;    /* a request: header + inline blob              */
    int *tid;              /* libc's cached thread id, or NULL             */
    void *robust;          /* libc's robust-mutex list head, or NULL       */
    size_t robust_len;
} fp_srv;

/* ---- in the helper and its children ---- */

static int srv_reply_send(int fd, pid_t pid, int err)
{
    fp_srv_reply r = {(int32_t)pid, err};
    ssize_t n;
    do
        n = send(fd, &r, sizeof r, MSG_NOSIGNAL);
    while (n == -1 && errno == EINTR);
    return n == (ssize_t)sizeof r ? 0 : -1;
}

/*
 * A new child of the pool process, cloned by the helper. A raw clone is not
 * glibc's fork: no atfork handler runs, and libc's per-thread state is not
 * renewed. That is safe here because the helper is single-threaded and
 * between requests, so no lock of any kind can be held; the two pieces of
 * thread state the kernel sets up for glibc's fork are redone by hand: the
 * thread id libc caches (pthread_self()'s kernel id, used by
 * pthread_setaffinity_np, pthread_getcpuclockid, mutex ownership), and the
 * robust-mutex list, which the kernel forgets in a new process.
 */
/* A request being served: what the cloned child needs. */
struct fp_srv_job {
    const fp_srv *s;
    const fp_srv_req *rq;
    int *fds;
    int nfds;
};

static void srv_child(void *arg, int report)
{
    const struct fp_srv_job *j = arg;
    const fp_srv *s = j->s;
    const fp_srv_req *rq = j->rq;
    forkpool *pool = s->pool;
    const void *blob = s->buf + sizeof *rq;
    sigset_t none;
    (void)report;
    if (s->tid)
        *s->tid = (int)syscall(SYS_gettid);
    if (s->robust)
        syscall(SYS_set_robust_list, s->robust, s->robust_len);
    /* Refused: the pool gave up on this request (the helper was silent
       too long) and may ask again with the same fds. */
    if (srv_reply_send(s->fd, getpid(), 0) == -1 || j->nfds < 1)
        _exit(127);
    close(s->fd);
    /* From here on the pool knows the child: a failure is reported on its
       channel, the first fd. */
    if (rq->memfd) {
        /* Mapped before fp_child_limits, so max_memory cannot refuse it. */
        blob = mmap(NULL, (size_t)rq->len, PROT_READ, MAP_PRIVATE, j->fds[j->nfds], 0);
        close(j->fds[j->nfds]);
        if (blob == MAP_FAILED)
            fp_setup_fail(j->fds[0], errno, FP_STEP_ALLOC);
    }
    int nfds = j->nfds;
    if (pool->opts.capture_stderr && nfds > 1) {
        /* The stderr pipe's end, last (fp_server_proc). */
        if (dup2(j->fds[nfds - 1], STDERR_FILENO) == -1)
            fp_setup_fail(j->fds[0], errno, FP_STEP_ALLOC);
        close(j->fds[--nfds]);
    }
    int step = fp_child_limits(&pool->opts, pool->opts.mode == FORKPOOL_WORKERS
                                                ? FP_LIMITS_WORKER
                                                : FP_LIMITS_TASK);
    if (step)
        fp_setup_fail(j->fds[0], errno, step);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    rq->entry(pool, blob, (size_t)rq->len, j->fds, nfds);
    _exit(127);
}

/* Receives one request; returns the number of fds in fds[], or -1 with an
   errno to reply (the request is refused), or exits when the pool is gone. */
static int srv_recv(const fp_srv *s, int *fds)
{
    union {
        struct cmsghdr h;
        unsigned char b[CMSG_SPACE(sizeof(int) * (FP_SRV_MAXFDS + 1))];
    } ctl;
    struct iovec iov = {s->buf, sizeof(fp_srv_req) + FP_SRV_INLINE};
    struct msghdr m;
    ssize_t r;
    int n = 0;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl.b;
    m.msg_controllen = sizeof ctl.b;
    do
        r = recvmsg(s->fd, &m, MSG_CMSG_CLOEXEC);
    while (r == -1 && errno == EINTR);
    if (r <= 0)
        _exit(0); /* EOF: the pool stopped us, or its process is gone */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds + n, CMSG_DATA(c), (size_t)k * sizeof(int));
            n += k;
        }
    const fp_srv_req *rq = (const fp_srv_req *)s->buf;
    if ((m.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) == 0 && (size_t)r >= sizeof *rq && rq->nfds >= 0 &&
        rq->nfds <= FP_SRV_MAXFDS && n == rq->nfds + (rq->memfd != 0) &&
        (size_t)r == sizeof *rq + (rq->memfd ? 0 : rq->len))
        return n;
    for (int i = 0; i < n; i++)
        close(fds[i]);
    errno = (m.msg_flags & MSG_CTRUNC) ? EMFILE : EPROTO;
    return -1;
}

static _Noreturn void srv_loop(const fp_srv *s)
{
    for (;;) {
        int fds[FP_SRV_MAXFDS + 1];
        int n = srv_recv(s, fds);
        if (n < 0) {
            srv_reply_send(s->fd, 0, errno);
            continue;
        }
        const fp_srv_req *rq = (const fp_srv_req *)s->buf;
        struct fp_srv_job j = {s, rq, fds, rq->nfds};
        fp_launch l = {FP_LAUNCH_SIBLING, s->pool->self, 0, NULL, srv_child, NULL, &j, 0};
        pid_t pid = fp_launch_run(&l);
        if (pid < 0)
            srv_reply_send(s->fd, 0, errno);
        for (int i = 0; i < n; i++)
            close(fds[i]);
    }
}

/*
 * The helper, just forked and set up as a task child is (launch.c), except
 * that signals stay blocked for good.
 */
static _Noreturn void srv_main(forkpool *pool, int fd)
{
    fp_srv s;
    memset(&s, 0, sizeof s);
    s.pool = pool;
    s.fd = fd;
    s.buf = mmap(NULL, sizeof(fp_srv_req) + FP_SRV_INLINE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s.buf == MAP_FAILED)
        _exit(1);
    /* glibc points the kernel's clear_child_tid at its cached thread id;
       used only if it holds our id (another libc may point it elsewhere). */
    if (prctl(PR_GET_TID_ADDRESS, &s.tid, 0, 0, 0) != 0 || !s.tid ||
        *s.tid != (int)syscall(SYS_gettid))
        s.tid = NULL;
    if (syscall(SYS_get_robust_list, 0, &s.robust, &s.robust_len) != 0)
        s.robust = NULL;
    srv_loop(&s);
}

/* ---- in the pool's process ---- */

/* The pool's own helper, in the process that started it (not a copy of the
   pool in a task's child or in a fork the host made). */
static int srv_ours(const forkpool *pool)
{
    return !pool->foreign && pool->self == getpid();
}

/* Starting the helper (fp_server_start): its socket, made under the
   registry lock as a task's pipe is. */
struct fp_srv_start {
    forkpool *pool;
    int sv[2];
};

static int srv_prepare(void *arg)
{
    struct fp_srv_start *st = arg;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, st->sv) == -1)
        return -1;
    /* On the registry before the fork, so the helper closes it too. */
    st->pool->srv_fd = fp_fd_high(st->sv[0]);
    return 0;
}

static void srv_start_child(void *arg, int report)
{
    struct fp_srv_start *st = arg;
    (void)report;
    srv_main(st->pool, st->sv[1]);
}

static void srv_started(void *arg, pid_t pid)
{
    struct fp_srv_start *st = arg;
    close(st->sv[1]);
    if (pid > 0) {
        st->pool->srv_pid = pid;
    } else {
        close(st->pool->srv_fd);
        st->pool->srv_fd = -1;
    }
}

/* Starts the helper. 0, or -1 and errno (socketpair, fork). */
int fp_server_start(forkpool *pool)
{
    struct fp_srv_start st = {pool, {-1, -1}};
    fp_launch l = {FP_LAUNCH_FORK, pool->self, 1, srv_prepare, srv_start_child,
                   srv_started, &st, 0};
    if (fp_launch_run(&l) == -1)
        return -1;
    /* Bounds each send and receive: a helper stopped by someone (SIGSTOP)
       cannot hang the pool. */
    struct timeval tv = {FP_SRV_TIMEOUT_MS / 1000, (FP_SRV_TIMEOUT_MS % 1000) * 1000};
    setsockopt(pool->srv_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(pool->srv_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return 0;
}

/* Closes one of the pool's helper fds, under the registry lock. */
static void srv_close(int *fd)
{
    fp_registry_lock();
    fp_close_if(*fd);
    *fd = -1;
    fp_registry_unlock();
}

/*
 * Kills and reaps the helper and closes its socket. Nothing in a copy of the
 * pool (a task's child, a fork the host made) but closing the copy's fd. A
 * helper reaped by someone else (SIGCHLD ignored, waitpid(-1) in the host)
 * is not signalled: its pid may be reused.
 */
void fp_server_stop(forkpool *pool)
{
    siginfo_t si;
    int status;
    srv_close(&pool->srv_fd);
    if (pool->srv_pid > 0 && srv_ours(pool) &&
        waitid(P_PID, (id_t)pool->srv_pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
        kill(pool->srv_pid, SIGKILL);
        while (waitpid(pool->srv_pid, &status, 0) == -1 && errno == EINTR)
            ;
    }
    pool->srv_pid = 0;
}

/* In a new child (the pool's registry entry): the copy's helper fds are closed
   and the helper is never touched from here. */
void fp_server_forget(forkpool *pool)
{
    fp_close_if(pool->srv_fd);
    fp_close_if(pool->srv_blob_fd);
    pool->srv_fd = pool->srv_blob_fd = -1;
    pool->srv_pid = 0;
}

/* A blob too large for one message, in a memfd (on the registry while it
   exists). Its fd, or -1 and errno. */
static int srv_blob_fd(forkpool *pool, const void *blob, size_t len)
{
    fp_registry_lock();
    pool->srv_blob_fd = (int)syscall(SYS_memfd_create, "forkpool-arg", MFD_CLOEXEC);
    fp_registry_unlock();
    if (pool->srv_blob_fd < 0)
        return -1;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(pool->srv_blob_fd, (const char *)blob + off, len - off);
        if (w > 0) {
            off += (size_t)w;
        } else if (w == 0 || errno != EINTR) {
            int err = w == 0 ? ENOSPC : errno;
            srv_close(&pool->srv_blob_fd);
            errno = err;
            return -1;
        }
    }
    return pool->srv_blob_fd;
}

/* Is this errno of a send or receive on the socket the helper's death (or,
   EAGAIN, its silence past the timeout)? */
static int srv_dead(int err)
{
    return err == EPIPE || err == ECONNRESET || err == ECONNREFUSED || err == ENOTCONN ||
           err == EAGAIN;
}

/*
 * One request and its reply. The child's pid, or -1 and errno; *dead is set
 * when the helper is gone or unresponsive (errno EPIPE or ETIMEDOUT).
 */
static pid_t srv_ask(forkpool *pool, const fp_srv_req *rq, const void *blob,
                        const int *fds, int *dead)
{
    union {
        struct cmsghdr h;
        unsigned char b[CMSG_SPACE(sizeof(int) * (FP_SRV_MAXFDS + 1))];
    } ctl;
    struct iovec iov[2] = {{(void *)rq, sizeof *rq}, {(void *)blob, rq->memfd ? 0 : rq->len}};
    struct msghdr m;
    int n = rq->nfds + (rq->memfd != 0);
    fp_srv_reply rep = {0, 0};
    ssize_t r;
    int64_t deadline = fp_now() + (int64_t)FP_SRV_TIMEOUT_MS * 1000000;

    memset(&m, 0, sizeof m);
    memset(&ctl, 0, sizeof ctl);
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    if (n > 0) {
        m.msg_control = ctl.b;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
        ctl.h.cmsg_level = SOL_SOCKET;
        ctl.h.cmsg_type = SCM_RIGHTS;
        ctl.h.cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        memcpy(CMSG_DATA(&ctl.h), fds, sizeof(int) * (size_t)rq->nfds);
        if (rq->memfd)
            memcpy(CMSG_DATA(&ctl.h) + sizeof(int) * (size_t)rq->nfds, &pool->srv_blob_fd,
                   sizeof(int));
    }
    /* EINTR (a host handler) is retried until the deadline; SO_SNDTIMEO and
       SO_RCVTIMEO bound each wait. */
    do
        r = sendmsg(pool->srv_fd, &m, MSG_NOSIGNAL);
    while (r == -1 && errno == EINTR && fp_now() < deadline);
    if (r >= 0) {
        do
            r = recv(pool->srv_fd, &rep, sizeof rep, 0);
        while (r == -1 && errno == EINTR && fp_now() < deadline);
    }
    if (r == (ssize_t)sizeof rep && (rep.pid > 0 || rep.err > 0)) {
        if (rep.pid > 0)
            return rep.pid;
        errno = rep.err;
        return -1;
    }
    /* EOF, a dead or silent peer, or a reply that makes no sense. */
    *dead = r >= 0 || srv_dead(errno) || errno == EINTR;
    if (*dead)
        errno = (r == -1 && (errno == EAGAIN || errno == EINTR)) ? ETIMEDOUT : EPIPE;
    return -1;
}

/*
 * Forks a child from the helper that runs entry(pool copy, blob, fds) and
 * returns its pid (a child of this process, in its own process group, with
 * PR_SET_PDEATHSIG), or -1 and errno. The blob and fds are copied into the
 * child; the caller keeps its fds open (and on the registry) until this
 * returns, then closes them. A dead helper is reaped and replaced, once.
 * Not in a copy of the pool (EINVAL); at most FP_SRV_MAXFDS fds (EINVAL).
 * Not with the registry lock held.
 */
static pid_t server_fork(forkpool *pool, fp_entry entry, const void *blob, size_t len,
                     const int *fds, int nfds)
{
    fp_srv_req rq = {entry, len, nfds, len > FP_SRV_INLINE};
    pid_t pid = -1;
    int cancel, dead = 0;
    if (!srv_ours(pool) || nfds < 0 || nfds > FP_SRV_MAXFDS || (len && !blob)) {
        errno = EINVAL;
        return -1;
    }
    /* sendmsg and recv are cancellation points: a cancelled thread must not
       unwind with the request half made. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    for (int tries = 0; tries < 2; tries++) {
        if (dead) {
            fp_server_stop(pool);
            dead = 0;
        }
        if (pool->srv_fd < 0 && fp_server_start(pool) == -1)
            break;
        if (rq.memfd && srv_blob_fd(pool, blob, len) == -1)
            break;
        pid = srv_ask(pool, &rq, blob, fds, &dead);
        if (rq.memfd) {
            int err = errno;
            srv_close(&pool->srv_blob_fd);
            errno = err;
        }
        if (pid > 0 || !dead)
            break;
    }
    if (dead) {
        /* Not answered twice: leave no stuck helper behind; the next
           request starts a new one. */
        int err = errno;
        fp_server_stop(pool);
        errno = err;
    }
    pthread_setcancelstate(cancel, NULL);
    return pid;
}

/* ---- FRESH tasks through the server ---- */

/* fp_chan_fork through the fork server (server.h). */
int fp_server_proc(forkpool *pool, fp_proc *pr, int keep, fp_entry entry, const void *blob,
                   size_t len, int extra_fd)
{
    int p[2] = {-1, -1}, q[2] = {-1, -1}, e[2] = {-1, -1};
    fp_registry_lock();
    if (fp_procs_reserve(&pool->procs) == -1 || pipe2(p, O_CLOEXEC) == -1 ||
        fcntl(p[0], F_SETFL, O_NONBLOCK) == -1 ||
        (pool->opts.capture_stderr && fp_chan_err_pipe(e) == -1) ||
        (keep && fp_launch_pipe(q, 1) == -1)) {
        int err = errno;
        const int made[4] = {p[0], p[1], e[0], e[1]};
        for (int i = 0; i < 4; i++)
            fp_close_if(made[i]);
        fp_registry_unlock();
        errno = err;
        return -1;
    }
    pr->fd[FP_FD_OUT] = fp_fd_high(p[0]);
    pr->fd[FP_FD_IN] = keep ? fp_fd_high(q[1]) : -1;
    pr->fd[FP_FD_ERR] = e[0] >= 0 ? fp_fd_high(e[0]) : -1;
    pr->fd[FP_FD_EXIT] = p[1]; /* parked until the child has them */
    pr->fd[FP_FD_PARK] = q[0];
    pr->fd[FP_FD_PARK2] = e[1];
    fp_proc_park(pr);
    fp_registry_unlock();

    /* The stderr pipe's end comes last: srv_child takes it off. */
    int fds[4], nfds = 0;
    const int all[4] = {p[1], q[0], extra_fd, e[1]};
    for (int i = 0; i < 4; i++)
        if (all[i] >= 0)
            fds[nfds++] = all[i];
    pid_t pid = server_fork(pool, entry, blob, len, fds, nfds);
    if (pid < 0) {
        int err = errno;
        fp_proc_release(pr);
        errno = err;
        return -1;
    }
    fp_registry_lock();
    close(p[1]);
    fp_close_if(e[1]);
    /* A worker's request pipe's read end stays (workers.c: worker_flush). */
    pr->fd[FP_FD_PARK2] = -1;
    pr->gone = 0; /* it made its own process group before it sent its pid */
    pr->pid = pid;
    pr->fd[FP_FD_EXIT] = fp_proc_pidfd(&pool->procs, pid);
    fp_registry_unlock();
    return 0;
}
