/*
 * forkpool over MPI (forkpool_mpi.h): the transport between rank 0's hub
 * (src/remote.c) and the serving ranks, and a serving rank's relay
 * between MPI and its agent (src/agent.c), a helper process that runs the
 * tasks.
 *
 * Every message goes on a communicator of our own, in pieces of at most
 * FP_MPI_PIECE bytes (MPI counts in int): tag PART for all but the last,
 * LAST for the last. Sends are nonblocking and kept until complete, so two
 * ranks sending large messages to each other cannot deadlock. MPI gives no
 * fd to wait on: the relay polls its agent's socket and MPI in turn,
 * backing off while idle, as the hub does.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "clock.h"
#include "forkpool_mpi.h"
#include "remote.h"
#include "rmsg.h"

#define FP_MPI_PIECE ((size_t)256 << 20)
#define FP_BEAT_NS (1000 * 1000000LL)  /* a heartbeat every second...       */
#define FP_LOST_NS (5000 * 1000000LL)  /* ...and none for 5 s: lost          */
enum { FP_TAG_LAST = 1, FP_TAG_PART = 2, FP_TAG_BEAT = 3 };

/* A message on its way out: its pieces' requests, then freed. */
typedef struct fp_out {
    struct fp_out *next;
    int rank;
    unsigned char *buf;
    int nreq;
    MPI_Request req[];
} fp_out;

static struct {
    int init;          /* forkpool_mpi_init succeeded                   */
    int rank, size;
    int started_mpi;   /* we called MPI_Init: we finalise it            */
    MPI_Comm comm;
    fp_out *out;       /* sends not complete yet                        */
    fp_buf *partial;   /* [rank]: pieces of a message so far            */
    int64_t *heard;    /* [rank]: when a message last came from it      */
    unsigned char *dead; /* [rank]: found lost (rank 0: every rank lost) */
    int told;          /* rank 0: dead ranks the hub was told of       */
    pid_t agent;       /* a serving rank's helper                       */
    int agent_fd;
    /* Rank 0's heartbeats come from a thread of their own (so a busy
       program still beats), on a communicator of their own, when MPI
       gives MPI_THREAD_MULTIPLE; a serving rank watches for them once
       the first came. */
    MPI_Comm beat_comm;
    pthread_t beat_thread;
    int beating;
    pthread_mutex_t beat_lock;
    pthread_cond_t beat_stop;
    int can_beat;      /* MPI_THREAD_MULTIPLE                             */
    int64_t beat0;     /* serving rank: rank 0's last heartbeat; 0: none */
} g = {.rank = -1, .agent_fd = -1, .beat_lock = PTHREAD_MUTEX_INITIALIZER,
       .beat_stop = PTHREAD_COND_INITIALIZER};

/* ---- messages over MPI ---- */

/* Forgets sends that completed. */
static void sends_test(void)
{
    for (fp_out **p = &g.out; *p;) {
        fp_out *o = *p;
        int done = 0;
        MPI_Testall(o->nreq, o->req, &done, MPI_STATUSES_IGNORE);
        if (!done) {
            p = &o->next;
            continue;
        }
        *p = o->next;
        free(o->buf);
        free(o);
    }
}

/* Waits for every send to a rank that is not lost; a send to a lost one
   may never complete: its request is let go, its buffer kept. */
static void sends_wait(void)
{
    for (fp_out *o; (o = g.out);) {
        g.out = o->next;
        if (g.dead[o->rank]) {
            for (int i = 0; i < o->nreq; i++)
                MPI_Request_free(&o->req[i]);
            free(o);
            continue;
        }
        MPI_Waitall(o->nreq, o->req, MPI_STATUSES_IGNORE);
        free(o->buf);
        free(o);
    }
}

/* A heartbeat: an empty message, sent and forgotten. */
static void beat(MPI_Comm comm, int rank)
{
    MPI_Request q;
    if (MPI_Isend(NULL, 0, MPI_BYTE, rank, FP_TAG_BEAT, comm, &q) == MPI_SUCCESS)
        MPI_Request_free(&q);
}

/* Sends buf[0..len) (malloc'd: taken, whatever happens). */
static int send_bytes(int rank, unsigned char *buf, size_t len)
{
    int n = len ? (int)((len + FP_MPI_PIECE - 1) / FP_MPI_PIECE) : 1;
    fp_out *o = malloc(sizeof *o + (size_t)n * sizeof(MPI_Request));
    if (!o) {
        free(buf);
        errno = ENOMEM;
        return -1;
    }
    o->buf = buf;
    o->rank = rank;
    o->nreq = 0;
    for (int i = 0; i < n; i++) {
        size_t off = (size_t)i * FP_MPI_PIECE;
        size_t piece = len - off < FP_MPI_PIECE ? len - off : FP_MPI_PIECE;
        if (MPI_Isend(buf ? buf + off : NULL, (int)piece, MPI_BYTE, rank,
                      i == n - 1 ? FP_TAG_LAST : FP_TAG_PART, g.comm,
                      &o->req[o->nreq]) != MPI_SUCCESS)
            break;
        o->nreq++;
    }
    o->next = g.out;
    g.out = o;
    if (o->nreq < n) {
        errno = EPROTO;
        return -1;
    }
    return 0;
}

/* The next whole message from `from` (MPI_ANY_SOURCE: any rank): 1, 0
   if none has come whole, -1 (EPROTO, ENOMEM). */
static int recv_bytes(int from, int *rank, unsigned char **msg, size_t *len)
{
    for (;;) {
        int flag = 0, count = 0;
        MPI_Status st;
        if (MPI_Iprobe(from, MPI_ANY_TAG, g.comm, &flag, &st) != MPI_SUCCESS) {
            errno = EPROTO;
            return -1;
        }
        if (!flag)
            return 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        g.heard[st.MPI_SOURCE] = fp_now();
        if (st.MPI_TAG == FP_TAG_BEAT) {
            MPI_Recv(NULL, 0, MPI_BYTE, st.MPI_SOURCE, FP_TAG_BEAT, g.comm, MPI_STATUS_IGNORE);
            continue;
        }
        fp_buf *b = &g.partial[st.MPI_SOURCE];
        unsigned char *at = fp_buf_grow(b, (size_t)count);
        if (!at) {
            errno = ENOMEM;
            return -1;
        }
        if (MPI_Recv(at, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, g.comm,
                     MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            errno = EPROTO;
            return -1;
        }
        if (st.MPI_TAG != FP_TAG_LAST)
            continue;
        *rank = st.MPI_SOURCE;
        *len = b->len;
        *msg = b->p ? b->p : malloc(1);
        b->p = NULL;
        b->len = b->cap = 0;
        if (!*msg) {
            errno = ENOMEM;
            return -1;
        }
        return 1;
    }
}

/* ---- rank 0: the hub's transport ---- */

static int hub_send(int rank, fp_buf *b)
{
    unsigned char *buf = b->p;
    size_t len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    sends_test();
    return send_bytes(rank, buf, len);
}

static int hub_recv(int *rank, unsigned char **msg, size_t *len)
{
    sends_test();
    return recv_bytes(MPI_ANY_SOURCE, rank, msg, len);
}

/* A rank silent for FP_LOST_NS (judged after hub_recv drained what came). */
static int hub_lost(void)
{
    int64_t now = fp_now();
    for (int r = 1; r < g.size; r++)
        if (!g.dead[r] && now - g.heard[r] > FP_LOST_NS) {
            g.dead[r] = 1;
            return r;
        }
    return 0;
}

static const fp_transport mpi_transport = {hub_send, hub_recv, hub_lost};

static void *beat_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.beat_lock);
    while (g.beating) {
        for (int r = 1; r < g.size; r++)
            beat(g.beat_comm, r);
        struct timespec at;
        clock_gettime(CLOCK_REALTIME, &at);
        at.tv_sec += 1;
        pthread_cond_timedwait(&g.beat_stop, &g.beat_lock, &at);
    }
    pthread_mutex_unlock(&g.beat_lock);
    return NULL;
}

/* Waits for every serving rank's HELLO (its CPUs) and hands the ranks to
   the hub. */
static int rank0_start(void)
{
    unsigned *cpus = calloc((size_t)g.size, sizeof *cpus);
    if (!cpus) {
        errno = ENOMEM;
        return -1;
    }
    for (int left = g.size - 1; left > 0;) {
        int rank, rc;
        unsigned char *msg;
        size_t len;
        fp_rd r;
        fp_rmsg h;
        rc = recv_bytes(MPI_ANY_SOURCE, &rank, &msg, &len);
        if (rc == -1) {
            free(cpus);
            return -1;
        }
        if (rc == 0) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (fp_rmsg_open(&r, &h, msg, len) == 0 && h.type == FP_R_HELLO && !cpus[rank]) {
            cpus[rank] = fp_rd_u32(&r);
            if (!cpus[rank] || r.bad)
                cpus[rank] = 1;
            left--;
        }
        free(msg);
    }
    int rc = fp_remote_use(&mpi_transport, g.size, cpus);
    free(cpus);
    for (int r = 1; r < g.size; r++)
        g.heard[r] = fp_now();
    if (rc == 0 && g.can_beat) {
        g.beating = 1;
        if (pthread_create(&g.beat_thread, NULL, beat_main, NULL) != 0)
            g.beating = 0;
    }
    return rc;
}

static int send_end(int rank)
{
    fp_buf b = {NULL, 0, 0};
    if (fp_rmsg_begin(&b, FP_R_END, 0, 0) == -1) {
        fp_buf_free(&b);
        errno = ENOMEM;
        return -1;
    }
    return send_bytes(rank, b.p, b.len);
}

/* Ends the serving ranks: END to each, then everything they still send is
   drained up to their BYE (their last word, so no send of theirs is left
   unmatched). */
static int rank0_end(void)
{
    int rc = fp_remote_use(NULL, 1, NULL);
    if (g.beating) {
        pthread_mutex_lock(&g.beat_lock);
        g.beating = 0;
        pthread_cond_signal(&g.beat_stop);
        pthread_mutex_unlock(&g.beat_lock);
        pthread_join(g.beat_thread, NULL);
    }
    int left = 0;
    for (int r = 1; r < g.size; r++) {
        if (g.dead[r])
            continue;
        left++;
        if (send_end(r) == -1)
            rc = -1;
    }
    while (left > 0 && rc == 0) {
        int rank;
        unsigned char *msg;
        size_t len;
        fp_rd r;
        fp_rmsg h;
        int got = recv_bytes(MPI_ANY_SOURCE, &rank, &msg, &len);
        if (got == -1)
            rc = -1;
        for (int d; (d = hub_lost()) > 0;)
            left--; /* lost meanwhile: no BYE will come */
        if (got != 1) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (fp_rmsg_open(&r, &h, msg, len) == 0 && h.type == FP_R_BYE)
            left--;
        free(msg);
    }
    return rc;
}

/* ---- a serving rank ---- */

/* The rank this process will have, from the launcher's environment before
   MPI starts; -1 if none says. */
static int env_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                       "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        char *end;
        long r = v ? strtol(v, &end, 10) : -1;
        if (v && *v && !*end && r >= 0 && r <= INT_MAX)
            return (int)r;
    }
    return -1;
}

/* Launches the helper that runs the tasks; it dies with this process. */
static int agent_start(void)
{
    pid_t pid = fp_agent_start(&g.agent_fd, NULL, 0);
    if (pid == -1)
        return -1;
    g.agent = pid;
    return 0;
}

/* Beats to rank 0 when due (*at), takes rank 0's beats: 1 if rank 0, once
   heard beating, fell silent. */
static int rank0_silent(int64_t *at)
{
    int64_t now = fp_now();
    if (now >= *at) {
        beat(g.comm, 0);
        *at = now + FP_BEAT_NS;
    }
    for (int flag = 1; flag;) {
        MPI_Status st;
        if (MPI_Iprobe(0, FP_TAG_BEAT, g.beat_comm, &flag, &st) != MPI_SUCCESS)
            break;
        if (flag) {
            MPI_Recv(NULL, 0, MPI_BYTE, 0, FP_TAG_BEAT, g.beat_comm, MPI_STATUS_IGNORE);
            g.beat0 = now;
        }
    }
    if (g.beat0 && now - g.beat0 > FP_LOST_NS) {
        g.dead[0] = 1;
        return 1;
    }
    return 0;
}

/* Relays between rank 0 and the helper until the helper said BYE and
   ended. 0, or -1 + errno. */
static int relay(void)
{
    fp_buf in = {0}, out = {0}; /* from the helper; to it (out.p + sent) */
    size_t sent = 0;
    int bye = 0, eof = 0, rc = 0;
    int64_t step = 0, beat_at = 0;
    int fl = fcntl(g.agent_fd, F_GETFL);
    if (fl == -1 || fcntl(g.agent_fd, F_SETFL, fl | O_NONBLOCK) == -1)
        rc = -1, eof = 1;
    while (!eof) {
        int got = 0, rank;
        unsigned char *msg;
        size_t len;
        sends_test();
        if (rank0_silent(&beat_at)) {
            /* Rank 0 is gone: the helper kills its children and ends. */
            rc = -1;
            errno = ECONNRESET;
            break;
        }
        /* Rank 0 -> the helper's queue. */
        int r;
        while ((r = recv_bytes(0, &rank, &msg, &len)) == 1) {
            uint64_t n = len;
            if (fp_buf_append(&out, &n, sizeof n) || fp_buf_append(&out, msg, len))
                rc = -1;
            free(msg);
            got = 1;
        }
        if (r == -1 || rc == -1)
            break;
        /* The queue -> the helper. */
        while (sent < out.len) {
            ssize_t w = write(g.agent_fd, out.p + sent, out.len - sent);
            if (w <= 0)
                break;
            sent += (size_t)w;
            got = 1;
        }
        if (sent == out.len)
            sent = out.len = 0;
        /* The helper -> rank 0, message by message. */
        for (;;) {
            unsigned char *at = fp_buf_grow(&in, 65536);
            if (!at) {
                rc = -1;
                break;
            }
            ssize_t n = read(g.agent_fd, at, 65536);
            in.len -= 65536 - (n > 0 ? (size_t)n : 0);
            if (n == 0)
                eof = 1;
            if (n <= 0)
                break;
            got = 1;
        }
        size_t off = 0, used, mlen;
        const unsigned char *m;
        while ((m = fp_rmsg_next(in.p + off, in.len - off, &mlen, &used))) {
            unsigned char *copy = malloc(mlen ? mlen : 1);
            fp_rd rd;
            fp_rmsg h;
            if (copy)
                memcpy(copy, m, mlen);
            if (fp_rmsg_open(&rd, &h, m, mlen) == 0 && h.type == FP_R_BYE)
                bye = 1;
            if (!copy || send_bytes(0, copy, mlen) == -1)
                rc = -1;
            off += used;
        }
        memmove(in.p, in.p + off, in.len - off);
        in.len -= off;
        if (rc == -1 || eof)
            break;
        step = got ? 0 : step ? step * 2 : FP_REMOTE_POLL_MIN_NS;
        if (step > FP_REMOTE_POLL_MAX_NS)
            step = FP_REMOTE_POLL_MAX_NS;
        struct pollfd p = {.fd = g.agent_fd, .events = POLLIN | (out.len ? POLLOUT : 0)};
        struct timespec ts = {0, step ? step : FP_REMOTE_POLL_MIN_NS};
        ppoll(&p, 1, &ts, NULL);
    }
    fp_buf_free(&in);
    fp_buf_free(&out);
    close(g.agent_fd);
    g.agent_fd = -1;
    int status;
    while (waitpid(g.agent, &status, 0) == -1 && errno == EINTR)
        ;
    g.agent = 0;
    if (!bye && rc == 0) {
        /* The helper died: rank 0 cannot be served. */
        errno = EPROTO;
        return -1;
    }
    return rc;
}

/* ---- the API ---- */

int forkpool_mpi_init(int *argc, char ***argv)
{
    if (g.init) {
        errno = EALREADY;
        return -1;
    }
    int inited = 0;
    MPI_Initialized(&inited);
    g.rank = env_rank();
    if (!inited && g.rank > 0 && agent_start() == -1)
        return -1;
    int level = MPI_THREAD_SINGLE;
    if (!inited) {
        if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &level) != MPI_SUCCESS) {
            errno = EPROTO;
            return -1;
        }
        g.started_mpi = 1;
    } else {
        MPI_Query_thread(&level);
    }
    if (MPI_Comm_rank(MPI_COMM_WORLD, &g.rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &g.size) != MPI_SUCCESS ||
        MPI_Comm_dup(MPI_COMM_WORLD, &g.comm) != MPI_SUCCESS ||
        MPI_Comm_dup(MPI_COMM_WORLD, &g.beat_comm) != MPI_SUCCESS ||
        !(g.partial = calloc((size_t)g.size, sizeof *g.partial)) ||
        !(g.heard = calloc((size_t)g.size, sizeof *g.heard)) ||
        !(g.dead = calloc((size_t)g.size, 1))) {
        errno = EPROTO;
        return -1;
    }
    g.can_beat = level >= MPI_THREAD_MULTIPLE; /* else rank 0 does not beat */
    g.init = 1;
    if (g.rank == 0)
        return rank0_start();
    if (!g.agent && agent_start() == -1)
        return -1;
    if (relay() == -1)
        return -1;
    return g.rank;
}

int forkpool_mpi_finalize(void)
{
    if (!g.init) {
        errno = EINVAL;
        return -1;
    }
    int rc = g.rank == 0 ? rank0_end() : 0;
    int orphan = g.dead[0];
    sends_test();
    sends_wait();
    for (int r = 0; r < g.size; r++)
        fp_buf_free(&g.partial[r]);
    free(g.partial);
    free(g.heard);
    free(g.dead);
    g.partial = NULL;
    g.heard = NULL;
    g.dead = NULL;
    if (orphan) {
        /* Rank 0 is gone: MPI_Finalize would wait for it for ever. */
        errno = ECONNRESET;
        rc = -1;
    } else {
        MPI_Comm_free(&g.comm);
        MPI_Comm_free(&g.beat_comm);
        if (g.started_mpi && MPI_Finalize() != MPI_SUCCESS)
            rc = -1;
    }
    g.init = g.started_mpi = 0;
    g.rank = -1;
    g.size = 0;
    if (rc == -1 && !errno)
        errno = EPROTO;
    return rc;
}

int forkpool_mpi_rank(void)
{
    return g.rank;
}

int forkpool_mpi_size(void)
{
    return g.size;
}
