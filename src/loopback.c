/*
 * A transport for FORKPOOL_MPI without MPI (loopback.h): the serving
 * "ranks" are agents (agent.c) forked by this process, each on a socket.
 * The library never uses it on its own: tests do, so that remote.c and
 * agent.c run in every test variant, under ASan and valgrind. Sends are
 * queued and written as the socket takes them (an agent may be writing a
 * large answer while we write it a large request: neither may block).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "loopback.h"
#include "remote.h"
#include "rmsg.h"

typedef struct fp_peer {
    pid_t pid;
    int fd;            /* -1: lost                                      */
    int reported;      /* its loss was told to the hub                 */
    fp_buf in, out;    /* read, not parsed yet; framed, not written yet */
    size_t out_off;
} fp_peer;

static struct {
    int n; /* ranks, 0 included */
    fp_peer *peers;
} lb;

/* Writes what the socket takes of rank's queue. */
static void flush(fp_peer *p)
{
    while (p->fd >= 0 && p->out_off < p->out.len) {
        ssize_t w = send(p->fd, p->out.p + p->out_off, p->out.len - p->out_off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        p->out_off += (size_t)w;
    }
    if (p->out_off == p->out.len)
        p->out.len = p->out_off = 0;
}

static void lose(fp_peer *p)
{
    if (p->fd < 0)
        return;
    close(p->fd);
    p->fd = -1;
    p->out.len = p->out_off = 0;
}

static int lb_send(int rank, fp_buf *b)
{
    fp_peer *p = &lb.peers[rank];
    uint64_t n = b->len;
    int rc = 0;
    if (p->fd < 0) {
        errno = ECONNRESET;
        rc = -1;
    } else if (fp_buf_append(&p->out, &n, sizeof n) == -1 ||
               fp_buf_append(&p->out, b->p, b->len) == -1) {
        errno = ENOMEM;
        rc = -1;
    }
    fp_buf_free(b);
    flush(p);
    return rc;
}

/* The next whole frame in p->in, taken out as a malloc'd message. */
static int take(fp_peer *p, unsigned char **msg, size_t *len)
{
    size_t mlen, used;
    const unsigned char *m = fp_rmsg_next(p->in.p, p->in.len, &mlen, &used);
    if (!m)
        return 0;
    if (!(*msg = malloc(mlen ? mlen : 1))) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(*msg, m, mlen);
    *len = mlen;
    memmove(p->in.p, p->in.p + used, p->in.len - used);
    p->in.len -= used;
    return 1;
}

static int lb_recv(int *rank, unsigned char **msg, size_t *len)
{
    for (int r = 1; r < lb.n; r++) {
        fp_peer *p = &lb.peers[r];
        flush(p);
        int got = take(p, msg, len);
        while (!got && p->fd >= 0) {
            ssize_t n = fp_buf_read(&p->in, p->fd);
            if (n < 0 && errno == ENOMEM)
                return -1;
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                lose(p);
            if (n <= 0)
                break;
            got = take(p, msg, len);
        }
        if (got) {
            *rank = r;
            return got;
        }
    }
    return 0;
}

static int lb_lost(void)
{
    for (int r = 1; r < lb.n; r++)
        if (lb.peers[r].fd < 0 && !lb.peers[r].reported) {
            lb.peers[r].reported = 1;
            return r;
        }
    return 0;
}

static const fp_transport loopback = {lb_send, lb_recv, lb_lost};

/* Waits for a whole message from rank r (its HELLO or BYE). */
static int wait_msg(int r, uint32_t type, uint32_t *first)
{
    fp_peer *p = &lb.peers[r];
    int fl = fcntl(p->fd, F_GETFL);
    fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK);
    for (;;) {
        unsigned char *msg;
        size_t len;
        int got = take(p, &msg, &len);
        if (got == 1) {
            fp_rd rd;
            fp_rmsg h;
            int match = fp_rmsg_open(&rd, &h, msg, len) == 0 && h.type == type;
            if (match && first)
                *first = fp_rd_u32(&rd);
            free(msg);
            if (match)
                break;
            continue;
        }
        ssize_t n = got == 0 ? fp_buf_read(&p->in, p->fd) : -1;
        if (n == 0 || (n < 0 && errno != EINTR))
            return -1;
    }
    fcntl(p->fd, F_SETFL, fl | O_NONBLOCK);
    return 0;
}

int fp_loopback_start(int serving)
{
    if (serving < 1 || lb.n) {
        errno = EINVAL;
        return -1;
    }
    lb.peers = calloc((size_t)serving + 1, sizeof *lb.peers);
    unsigned *cpus = calloc((size_t)serving + 1, sizeof *cpus);
    if (!lb.peers || !cpus) {
        free(lb.peers);
        free(cpus);
        errno = ENOMEM;
        return -1;
    }
    lb.n = serving + 1;
    for (int r = 1; r < lb.n; r++)
        lb.peers[r].fd = -1;
    int err = 0;
    int *older = calloc((size_t)serving + 1, sizeof *older);
    if (!older)
        err = ENOMEM;
    for (int r = 1; r < lb.n && !err; r++) {
        /* An agent holds no other agent's socket: each sees its end. */
        for (int k = 1; k < r; k++)
            older[k - 1] = lb.peers[k].fd;
        pid_t pid = fp_agent_start(&lb.peers[r].fd, older, r - 1);
        if (pid == -1) {
            err = errno;
            break;
        }
        lb.peers[r].pid = pid;
        if (wait_msg(r, FP_R_HELLO, &cpus[r]) == -1)
            err = EPROTO;
    }
    if (!err && fp_remote_use(&loopback, lb.n, cpus) == -1)
        err = errno;
    free(cpus);
    free(older);
    if (err) {
        fp_loopback_stop();
        errno = err;
        return -1;
    }
    return 0;
}

pid_t fp_loopback_pid(int rank)
{
    return rank > 0 && rank < lb.n ? lb.peers[rank].pid : 0;
}

int fp_loopback_stop(void)
{
    int rc = fp_remote_use(NULL, 1, NULL);
    for (int r = 1; r < lb.n; r++) {
        fp_peer *p = &lb.peers[r];
        fp_buf b = {NULL, 0, 0};
        if (p->fd >= 0) {
            /* What is queued, then END, then wait for its last word. */
            int fl = fcntl(p->fd, F_GETFL);
            fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK);
            flush(p);
            if (p->out.len || fp_rmsg_begin(&b, FP_R_END, 0, 0) == -1 ||
                fp_rmsg_send(p->fd, b.p, b.len) == -1 || wait_msg(r, FP_R_BYE, NULL) == -1)
                rc = -1;
        }
        fp_buf_free(&b);
        lose(p);
        int status;
        if (p->pid > 0)
            while (waitpid(p->pid, &status, 0) == -1 && errno == EINTR)
                ;
        fp_buf_free(&p->in);
        fp_buf_free(&p->out);
    }
    free(lb.peers);
    lb.peers = NULL;
    lb.n = 0;
    return rc;
}
