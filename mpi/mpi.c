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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
#define FP_NAP_NS 200000               /* between looks while waiting       */
/* Open MPI's MCA parameter that drops MPI_Finalize's closing fence: set
   while forkpool_mpi_init starts MPI, unless the environment sets it. */
#define FP_ASYNC_FINALIZE "OMPI_MCA_async_mpi_finalize"
enum { FP_TAG_LAST = 1, FP_TAG_PART = 2, FP_TAG_BEAT = 3 };

/* A peer as this rank sees it. */
enum { FP_PEER_LIVE, FP_PEER_BYE /* said its last word */, FP_PEER_LOST /* silent, or MPI failed */ };

/* A message on its way out: its pieces' requests, then freed. */
typedef struct fp_out {
    struct fp_out *next;
    int rank;
    unsigned char *buf;
    int nreq;
    MPI_Request req[];
} fp_out;

static struct {
    int init;          /* MPI is up through forkpool_mpi_init: finalize cleans */
    int err;           /* a serving rank: why it stopped serving (or 0)  */
    int rank, size;
    int started_mpi;   /* we called MPI_Init: we finalise it            */
    MPI_Comm comm;     /* the messages (MPI_COMM_NULL: none yet)        */
    fp_out *out;       /* sends not complete yet                        */
    fp_buf *partial;   /* [rank]: pieces of a message so far            */
    unsigned char *dropped; /* [rank]: the message's body is being dropped */
    unsigned char *peer;    /* [rank]: FP_PEER_*; written under beat_lock */
    unsigned char *told;    /* rank 0: [rank] the hub knows it is gone   */
    int64_t *heard;    /* [rank]: its last message or heartbeat (beat_lock) */
    pid_t agent;       /* a serving rank's helper                       */
    int agent_fd;
    /* A serving rank: the pools it runs tasks of for rank 0, each with how
       many (by pool: a FREE kills its pool's tasks without a DONE for
       each); none: it runs none. */
    struct fp_held {
        uint32_t pool;
        unsigned n; /* > 0 */
    } *held_by;
    unsigned nheld_by, held_cap;
    /* Heartbeats go both ways between rank 0 and each serving rank, on a
       communicator of their own, from a thread of their own when MPI gives
       MPI_THREAD_MULTIPLE (so a rank busy in a long transfer, or a
       program busy elsewhere, still beats); else from the main thread's
       loops (beat_poll). */
    MPI_Comm beat_comm;
    pthread_t beat_thread;
    int beating;       /* the thread runs                                */
    pthread_mutex_t beat_lock;
    pthread_cond_t beat_stop; /* set up by beat_clock */
    int can_beat;      /* MPI_THREAD_MULTIPLE                            */
    /* A serving rank: rank 0 beats from a thread. Its beats say so (one
       byte); until one came, as this rank could. The ranks' thread levels
       may differ (a program that starts MPI itself on rank 0 alone). */
    int rank0_threaded;
    int64_t beat_at;   /* the next heartbeats are due                    */
} g = {.rank = -1, .agent_fd = -1, .comm = MPI_COMM_NULL, .beat_comm = MPI_COMM_NULL,
       .beat_lock = PTHREAD_MUTEX_INITIALIZER};

static void nap(void)
{
    struct timespec ts = {0, FP_NAP_NS};
    nanosleep(&ts, NULL);
}

/* ---- heartbeats and peers ---- */

static void set_peer(int rank, int state)
{
    pthread_mutex_lock(&g.beat_lock);
    g.peer[rank] = (unsigned char)state;
    pthread_mutex_unlock(&g.beat_lock);
}

static void hear(int rank)
{
    pthread_mutex_lock(&g.beat_lock);
    g.heard[rank] = fp_now();
    pthread_mutex_unlock(&g.beat_lock);
}

/* Takes the heartbeats that came, so none piles up in MPI's queues.
   Called with beat_lock held. */
static void beats_take(void)
{
    for (;;) {
        int flag = 0, n = 0;
        unsigned char threaded = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, FP_TAG_BEAT, g.beat_comm, &flag, &st) != MPI_SUCCESS ||
            !flag ||
            MPI_Recv(&threaded, 1, MPI_BYTE, st.MPI_SOURCE, FP_TAG_BEAT, g.beat_comm,
                     MPI_STATUS_IGNORE) != MPI_SUCCESS)
            break;
        g.heard[st.MPI_SOURCE] = fp_now();
        if (st.MPI_SOURCE == 0 && MPI_Get_count(&st, MPI_BYTE, &n) == MPI_SUCCESS && n == 1)
            g.rank0_threaded = threaded;
    }
}

/* Has rank said nothing, not even a heartbeat, for FP_LOST_NS? Beats
   that came meanwhile count (this process may have been the one stalled). */
static int silent(int rank)
{
    pthread_mutex_lock(&g.beat_lock);
    if (fp_now() - g.heard[rank] > FP_LOST_NS)
        beats_take();
    int64_t heard = g.heard[rank];
    pthread_mutex_unlock(&g.beat_lock);
    return fp_now() - heard > FP_LOST_NS;
}

/* Sends the heartbeats due to every live peer this rank watches over
   (rank 0: the serving ranks, each beat one byte: whether a thread sends
   them; a serving rank: rank 0, empty) and takes those that came. Called
   with beat_lock held. */
static void beat_tick(void)
{
    static const unsigned char threaded[2] = {0, 1}; /* sent from: live until sent */
    int64_t now = fp_now();
    if (now >= g.beat_at) {
        for (int r = 0; r < g.size; r++) {
            MPI_Request q;
            if (r != g.rank && (g.rank == 0) != (r == 0) && g.peer[r] == FP_PEER_LIVE &&
                MPI_Isend(&threaded[g.beating != 0], g.rank == 0, MPI_BYTE, r, FP_TAG_BEAT,
                          g.beat_comm, &q) == MPI_SUCCESS)
                MPI_Request_free(&q);
        }
        g.beat_at = now + FP_BEAT_NS;
    }
    beats_take();
}

static void *beat_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.beat_lock);
    while (g.beating) {
        beat_tick();
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_nsec += 250000000L; /* takes beats 4 times a second */
        if (at.tv_nsec >= 1000000000L) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g.beat_stop, &g.beat_lock, &at);
    }
    pthread_mutex_unlock(&g.beat_lock);
    return NULL;
}

/* The main thread's turn at the heartbeats, when no thread beats. */
static void beat_poll(void)
{
    if (g.beating)
        return;
    pthread_mutex_lock(&g.beat_lock);
    beat_tick();
    pthread_mutex_unlock(&g.beat_lock);
}

/* The beat thread's naps run on the monotonic clock: on the wall clock
   (the default), a step back (NTP) stopped its beats for as long. 0, or
   an error number. */
static int beat_clock(void)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc)
        return rc;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (!rc)
        rc = pthread_cond_init(&g.beat_stop, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

/* Every peer was heard just now; heartbeats start (from a thread if MPI
   allows). */
static void beat_start(void)
{
    for (int r = 0; r < g.size; r++)
        hear(r);
    g.rank0_threaded = g.can_beat;
    /* Set before the thread starts: one that ran first saw 0 and ended at
       once, and then no one beat (beat_poll leaves it to the thread). */
    g.beating = g.can_beat && beat_clock() == 0;
    if (g.beating && pthread_create(&g.beat_thread, NULL, beat_main, NULL) != 0)
        g.beating = 0;
    beat_poll();
}

static void beat_end(void)
{
    if (!g.beating)
        return;
    pthread_mutex_lock(&g.beat_lock);
    g.beating = 0;
    pthread_cond_signal(&g.beat_stop);
    pthread_mutex_unlock(&g.beat_lock);
    pthread_join(g.beat_thread, NULL);
    pthread_cond_destroy(&g.beat_stop);
}

/* ---- messages over MPI ---- */

/* Forgets sends that completed; a send that failed loses its rank. */
static void sends_test(void)
{
    for (fp_out **p = &g.out; *p;) {
        fp_out *o = *p;
        int done = 0;
        if (MPI_Testall(o->nreq, o->req, &done, MPI_STATUSES_IGNORE) != MPI_SUCCESS) {
            set_peer(o->rank, FP_PEER_LOST);
            done = 1;
        }
        if (!done) {
            p = &o->next;
            continue;
        }
        *p = o->next;
        free(o->buf);
        free(o);
    }
}

/* Tests req[0..n) until all completed (1), MPI failed (-1) or fp_now()
   passed end (0). */
static int test_until(int n, MPI_Request *req, int64_t end)
{
    for (int done = 0;; nap()) {
        if (MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
            return -1;
        if (done)
            return 1;
        if (fp_now() >= end)
            return 0;
    }
}

/* Waits for every send to a live rank. A send to a rank that is not may
   never complete: to a lost one it is let go at once, to one that said
   BYE after FP_LOST_NS (a rank whose helper died says BYE and stops
   listening: a send too large to go eagerly waited for it for ever). A
   send let go loses its rank and has its requests freed and its buffer
   kept (MPI may still read it). (Finalize calls it, the heartbeats
   stopped: no peer changes state meanwhile but here.) */
static void sends_wait(void)
{
    for (fp_out *o; (o = g.out);) {
        g.out = o->next;
        int64_t end = g.peer[o->rank] == FP_PEER_LIVE ? INT64_MAX : fp_now() + FP_LOST_NS;
        if (g.peer[o->rank] == FP_PEER_LOST || test_until(o->nreq, o->req, end) != 1) {
            set_peer(o->rank, FP_PEER_LOST);
            for (int i = 0; i < o->nreq; i++)
                MPI_Request_free(&o->req[i]);
            free(o);
            continue;
        }
        free(o->buf);
        free(o);
    }
}

/* Sends buf[0..len) (malloc'd: taken, whatever happens). A send MPI
   refuses loses the rank: its pieces so far would never make a whole
   message. 0, or -1 + errno. */
static int send_bytes(int rank, unsigned char *buf, size_t len)
{
    int n = len ? (int)((len + FP_MPI_PIECE - 1) / FP_MPI_PIECE) : 1;
    fp_out *o = g.peer[rank] == FP_PEER_LOST
                    ? NULL
                    : malloc(sizeof *o + (size_t)n * sizeof(MPI_Request));
    if (!o) {
        free(buf);
        errno = g.peer[rank] == FP_PEER_LOST ? ECONNRESET : ENOMEM;
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
        set_peer(rank, FP_PEER_LOST);
        errno = ECONNRESET;
        return -1;
    }
    return 0;
}

/* Receives the piece st announced into at[0..count) (at NULL: drops it;
   MPI says it was truncated), waiting while its sender lives. 0, or -1:
   the sender was lost meanwhile (it is marked so). */
static int recv_piece(void *at, int count, const MPI_Status *st)
{
    MPI_Request q;
    int done = 0, src = st->MPI_SOURCE;
    if (MPI_Irecv(at, at ? count : 0, MPI_BYTE, src, st->MPI_TAG, g.comm, &q) != MPI_SUCCESS) {
        set_peer(src, FP_PEER_LOST);
        return -1;
    }
    for (;;) {
        int rc = MPI_Test(&q, &done, MPI_STATUS_IGNORE);
        if (done)
            return rc == MPI_SUCCESS || !at ? 0 : (set_peer(src, FP_PEER_LOST), -1);
        if (rc != MPI_SUCCESS || silent(src)) {
            /* Its buffer stays with partial[src]: MPI may still write. */
            set_peer(src, FP_PEER_LOST);
            return -1;
        }
        beat_poll();
        nap();
    }
}

/* The next whole message from `from` (MPI_ANY_SOURCE: any rank): 1 (*msg
   malloc'd), 2 (only its header: its body did not fit in memory and was
   dropped), 0 if none has come whole, -1 + errno (ENOMEM: try again
   later; EPROTO: MPI failed). A rank MPI fails with is marked lost. */
static int recv_bytes(int from, int *rank, unsigned char **msg, size_t *len)
{
    for (;;) {
        int flag = 0, count = 0;
        MPI_Status st;
        beat_poll();
        if (MPI_Iprobe(from, MPI_ANY_TAG, g.comm, &flag, &st) != MPI_SUCCESS) {
            errno = EPROTO;
            return -1;
        }
        if (!flag)
            return 0;
        int src = st.MPI_SOURCE;
        MPI_Get_count(&st, MPI_BYTE, &count);
        hear(src);
        fp_buf *b = &g.partial[src];
        unsigned char *at = NULL;
        if (g.peer[src] == FP_PEER_LOST) {
            /* Dropped; partial[src] may be MPI's to write still. */
            recv_piece(NULL, count, &st);
            continue;
        }
        if (!g.dropped[src] && !(at = fp_buf_grow(b, (size_t)count))) {
            if (b->len < FP_RMSG_HDR) {
                errno = ENOMEM; /* the piece waits in MPI's queue */
                return -1;
            }
            g.dropped[src] = 1; /* its header says whose it was */
        }
        if (recv_piece(at, count, &st) == -1) {
            if (from != MPI_ANY_SOURCE)
                return 0;
            continue;
        }
        if (st.MPI_TAG != FP_TAG_LAST)
            continue;
        int whole = !g.dropped[src];
        *rank = src;
        *len = whole ? b->len : FP_RMSG_HDR;
        *msg = b->p ? b->p : malloc(1);
        b->p = NULL;
        b->len = b->cap = 0;
        g.dropped[src] = 0;
        if (!*msg) {
            errno = ENOMEM;
            return -1;
        }
        return whole ? 1 : 2;
    }
}

/* Builds a bodiless message of type in b. 0, or -1 + ENOMEM. */
static int bodiless(fp_buf *b, uint32_t type)
{
    if (fp_rmsg_begin(b, type, 0, 0) == -1) {
        fp_buf_free(b);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

static int send_type(int rank, uint32_t type)
{
    fp_buf b = {NULL, 0, 0};
    if (bodiless(&b, type) == -1)
        return -1;
    return send_bytes(rank, b.p, b.len);
}

/* ---- rank 0: the hub's transport ---- */

/* Rank 0 gives up on a live serving rank: a last END, in case it lives on,
   so that it ends its tasks' children, then no more heartbeats to it. */
static void lose(int rank)
{
    (void)send_type(rank, FP_R_END);
    set_peer(rank, FP_PEER_LOST);
}

static int hub_send(int rank, fp_buf *b)
{
    unsigned char *buf = b->p;
    size_t len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    sends_test();
    return send_bytes(rank, buf, len);
}

/* A BYE outside rank0_end: its helper died. */
static int is_bye(const unsigned char *msg, size_t len)
{
    fp_rd r;
    fp_rmsg h;
    return fp_rmsg_open(&r, &h, msg, len) == 0 && h.type == FP_R_BYE;
}

static int hub_recv(int *rank, unsigned char **msg, size_t *len)
{
    sends_test();
    for (;;) {
        int rc = recv_bytes(MPI_ANY_SOURCE, rank, msg, len);
        if (rc < 1 || !is_bye(*msg, *len))
            return rc;
        if (g.peer[*rank] == FP_PEER_LIVE)
            set_peer(*rank, FP_PEER_BYE);
        free(*msg);
    }
}

/* A serving rank gone since the last call: silent for FP_LOST_NS, MPI
   failed with it, or it said BYE (judged after hub_recv drained what
   came). */
static int hub_lost(void)
{
    for (int r = 1; r < g.size; r++) {
        if (g.peer[r] == FP_PEER_LIVE && silent(r))
            lose(r);
        if (g.peer[r] != FP_PEER_LIVE && !g.told[r]) {
            g.told[r] = 1;
            return r;
        }
    }
    return 0;
}

static const fp_transport mpi_transport = {hub_send, hub_recv, hub_lost};

/* Waits for every serving rank's HELLO (its CPUs), a rank silent for
   FP_LOST_NS meanwhile being lost, and hands the ranks to the hub. */
static int rank0_start(void)
{
    unsigned *cpus = calloc((size_t)g.size, sizeof *cpus);
    if (!cpus) {
        errno = ENOMEM;
        return -1;
    }
    beat_start();
    for (;;) {
        int waiting = 0;
        for (int r = 1; r < g.size; r++) {
            if (g.peer[r] == FP_PEER_LIVE && !cpus[r] && silent(r))
                lose(r);
            waiting += g.peer[r] == FP_PEER_LIVE && !cpus[r];
        }
        if (!waiting)
            break;
        int rank, rc;
        unsigned char *msg;
        size_t len;
        fp_rd r;
        fp_rmsg h;
        rc = recv_bytes(MPI_ANY_SOURCE, &rank, &msg, &len);
        if (rc == -1 && errno != ENOMEM) {
            free(cpus);
            return -1;
        }
        if (rc < 1) {
            nap();
            continue;
        }
        if (fp_rmsg_open(&r, &h, msg, len) == 0 && h.type == FP_R_HELLO && !cpus[rank]) {
            cpus[rank] = fp_rd_u32(&r);
            if (!cpus[rank] || r.bad)
                cpus[rank] = 1;
        } else if (h.type == FP_R_BYE) {
            set_peer(rank, FP_PEER_BYE); /* its helper died */
        }
        free(msg);
    }
    for (int r = 1; r < g.size; r++)
        if (g.peer[r] != FP_PEER_LIVE) {
            cpus[r] = 0; /* lost already */
            g.told[r] = 1;
        }
    int rc = fp_remote_use(&mpi_transport, g.size, cpus);
    free(cpus);
    return rc;
}

/* Ends the serving ranks: END to each live one, then everything they
   still send is drained until each said BYE (its last word, so no send of
   its is left unmatched) or was lost. Heartbeats go on until then, so
   that a slow ending is not taken for rank 0's death. */
static int rank0_end(void)
{
    int rc = fp_remote_use(NULL, 1, NULL);
    for (int r = 1; r < g.size; r++)
        if (g.peer[r] == FP_PEER_LIVE && send_type(r, FP_R_END) == -1)
            rc = -1;
    for (;;) {
        int rank, got;
        unsigned char *msg;
        size_t len;
        while ((got = recv_bytes(MPI_ANY_SOURCE, &rank, &msg, &len)) >= 1) {
            if (is_bye(msg, len) && g.peer[rank] == FP_PEER_LIVE)
                set_peer(rank, FP_PEER_BYE);
            free(msg);
        }
        if (got == -1 && errno != ENOMEM) {
            rc = -1;
            break;
        }
        int live = 0;
        for (int r = 1; r < g.size; r++) {
            if (g.peer[r] == FP_PEER_LIVE && silent(r))
                set_peer(r, FP_PEER_LOST); /* no BYE will come */
            live += g.peer[r] == FP_PEER_LIVE;
        }
        if (!live)
            break;
        nap();
    }
    beat_end();
    return rc;
}

/* ---- a serving rank ---- */

/* A number from the launcher's environment: the first of vars set to one
   in [0, INT_MAX], or -1. */
static int env_int(const char *const *vars)
{
    for (; *vars; vars++) {
        const char *v = getenv(*vars);
        char *end;
        long r = v ? strtol(v, &end, 10) : -1;
        if (v && *v && !*end && r >= 0 && r <= INT_MAX)
            return (int)r;
    }
    return -1;
}

/* The rank this process will have, before MPI starts; -1 if none says. */
static int env_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                       "SLURM_PROCID", NULL};
    return env_int(vars);
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

/* Ends the helper (the end of its stream: it kills its tasks' children
   and exits) and reaps it. */
static void agent_end(void)
{
    if (g.agent_fd >= 0)
        close(g.agent_fd);
    g.agent_fd = -1;
    int status;
    while (g.agent > 0 && waitpid(g.agent, &status, 0) == -1 && errno == EINTR)
        ;
    g.agent = 0;
}

/* Is rank 0 gone? Lost, or silent for FP_LOST_NS: watched from the
   relay's start when rank 0 beats from a thread; else only while this
   rank runs tasks for it (rank 0 beats from its pools' loops, which it
   runs while it has tasks out). silent() takes the beats that came first,
   and with them what rank 0 said of its thread. */
static int rank0_gone(void)
{
    if (g.peer[0] == FP_PEER_LOST)
        return 1;
    if (!silent(0))
        return 0;
    pthread_mutex_lock(&g.beat_lock);
    int threaded = g.rank0_threaded;
    pthread_mutex_unlock(&g.beat_lock);
    return threaded || g.nheld_by > 0;
}

/* pool's entry in g.held_by, or NULL. */
static struct fp_held *held_find(uint32_t pool)
{
    for (unsigned i = 0; i < g.nheld_by; i++)
        if (g.held_by[i].pool == pool)
            return &g.held_by[i];
    return NULL;
}

/* Takes n of e's tasks off its count; an entry at 0 goes. */
static void held_drop(struct fp_held *e, unsigned n)
{
    if ((e->n -= n) == 0)
        *e = g.held_by[--g.nheld_by];
}

/* Counts what rank 0 sends: one task more for each RUN or EXEC, and a
   FREE's pool's all fewer. 0, or -1 + ENOMEM. */
static int held_count_in(const unsigned char *msg, size_t len)
{
    fp_rd r;
    fp_rmsg h;
    if (fp_rmsg_open(&r, &h, msg, len) == -1)
        return 0;
    struct fp_held *e = held_find(h.pool);
    if (e && h.type == FP_R_FREE)
        held_drop(e, e->n);
    if (h.type != FP_R_RUN && h.type != FP_R_EXEC)
        return 0;
    if (!e) {
        if (g.nheld_by == g.held_cap) {
            unsigned cap = g.held_cap ? 2 * g.held_cap : 8;
            struct fp_held *v = realloc(g.held_by, cap * sizeof *v);
            if (!v) {
                errno = ENOMEM;
                return -1;
            }
            g.held_by = v;
            g.held_cap = cap;
        }
        e = &g.held_by[g.nheld_by++];
        *e = (struct fp_held){h.pool, 0};
    }
    e->n++;
    return 0;
}

/* Counts what the helper sends: one task fewer for each DONE. A DONE of a
   pool already freed (sent before the helper read the FREE) counts for
   nothing: the FREE took its pool's tasks off. */
static void held_count_out(const unsigned char *msg, size_t len)
{
    fp_rd r;
    fp_rmsg h;
    struct fp_held *e;
    if (fp_rmsg_open(&r, &h, msg, len) == 0 && h.type == FP_R_DONE && (e = held_find(h.pool)))
        held_drop(e, 1);
}

/* Rank 0's messages -> the queue to the helper (u64-framed). 1 if any
   came, 0 if none, -1 + errno. */
static int relay_in(fp_buf *out)
{
    int rank, r, got = 0;
    unsigned char *msg;
    size_t len;
    /* A message whose body did not fit (r 2) goes as its header alone:
       the helper refuses it, failing its task. */
    while ((r = recv_bytes(0, &rank, &msg, &len)) >= 1) {
        uint64_t n = len;
        int bad = held_count_in(msg, len) || fp_buf_append(out, &n, sizeof n) ||
                  fp_buf_append(out, msg, len);
        free(msg);
        if (bad) {
            errno = ENOMEM;
            return -1;
        }
        got = 1;
    }
    return r == -1 && errno != ENOMEM ? -1 : got;
}

/* The helper's whole messages in in -> rank 0 (*bye: one was BYE). 0, or
   -1 + errno. */
static int relay_out(fp_buf *in, int *bye)
{
    size_t off = 0, used, mlen;
    const unsigned char *m;
    int rc = 0;
    while ((m = fp_rmsg_next(in->p + off, in->len - off, &mlen, &used))) {
        unsigned char *copy = malloc(mlen ? mlen : 1);
        if (is_bye(m, mlen))
            *bye = 1;
        held_count_out(m, mlen);
        if (copy)
            memcpy(copy, m, mlen);
        if (!copy || send_bytes(0, copy, mlen) == -1)
            rc = -1;
        off += used;
    }
    if (off) {
        memmove(in->p, in->p + off, in->len - off);
        in->len -= off;
    }
    return rc;
}

/* Relays between rank 0 and the helper until the helper said BYE and
   ended. 0, or -1 + errno (ECONNRESET: rank 0 is gone; EPROTO: the helper
   died, and rank 0 was told with a BYE of ours). */
static int relay(void)
{
    fp_buf in = {0}, out = {0}; /* from the helper; to it (out.p + sent) */
    size_t sent = 0;
    int bye = 0, eof = 0, rc = 0, err = 0;
    int64_t step = 0, heard = fp_now(); /* heard: the last traffic */
    int fl = fcntl(g.agent_fd, F_GETFL);
    if (fl == -1 || fcntl(g.agent_fd, F_SETFL, fl | O_NONBLOCK) == -1)
        rc = -1, eof = 1, err = errno;
    beat_start();
    while (!eof) {
        sends_test();
        if (rank0_gone()) {
            /* The helper kills its children and ends. */
            rc = -1, err = ECONNRESET;
            set_peer(0, FP_PEER_LOST);
            break;
        }
        int got = relay_in(&out);
        if (got == -1) {
            rc = -1, err = errno;
            break;
        }
        /* The queue -> the helper; a helper gone is a failed send, not
           SIGPIPE. */
        while (sent < out.len) {
            ssize_t w = send(g.agent_fd, out.p + sent, out.len - sent, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            sent += (size_t)w;
            got = 1;
        }
        if (sent == out.len)
            sent = out.len = 0;
        /* The helper -> rank 0, message by message. */
        for (;;) {
            ssize_t n = fp_buf_read(&in, g.agent_fd);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                eof = 1;
            if (n <= 0)
                break;
            got = 1;
        }
        if (relay_out(&in, &bye) == -1) {
            rc = -1, err = errno;
            break;
        }
        int64_t now = fp_now();
        if (got)
            heard = now;
        step = fp_remote_backoff(step, got, now - heard);
        struct pollfd p = {.fd = g.agent_fd, .events = POLLIN | (out.len ? POLLOUT : 0)};
        struct timespec ts = {0, step};
        ppoll(&p, 1, &ts, NULL);
    }
    fp_buf_free(&in);
    fp_buf_free(&out);
    agent_end();
    if (!bye && rc == 0) {
        /* The helper died: rank 0 is told, and cannot be served. */
        (void)send_type(0, FP_R_BYE);
        rc = -1, err = EPROTO;
    }
    sends_test();
    beat_end();
    errno = err;
    return rc;
}

/* ---- the API ---- */

/* MPI's side of forkpool_mpi_init, MPI up already (g.init set): our
   communicators, on which an error is returned, not fatal (a dead peer is
   a lost rank, not the job's end), and the per-rank tables. 0, or -1 +
   errno (finalize frees what was made). */
static int mpi_open(void)
{
    int level = MPI_THREAD_SINGLE;
    if (MPI_Query_thread(&level) != MPI_SUCCESS ||
        MPI_Comm_rank(MPI_COMM_WORLD, &g.rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &g.size) != MPI_SUCCESS ||
        MPI_Comm_dup(MPI_COMM_WORLD, &g.comm) != MPI_SUCCESS ||
        MPI_Comm_set_errhandler(g.comm, MPI_ERRORS_RETURN) != MPI_SUCCESS ||
        MPI_Comm_dup(MPI_COMM_WORLD, &g.beat_comm) != MPI_SUCCESS ||
        MPI_Comm_set_errhandler(g.beat_comm, MPI_ERRORS_RETURN) != MPI_SUCCESS) {
        errno = EPROTO;
        return -1;
    }
    g.can_beat = level >= MPI_THREAD_MULTIPLE;
    size_t n = (size_t)g.size;
    if (!(g.partial = calloc(n, sizeof *g.partial)) || !(g.heard = calloc(n, sizeof *g.heard)) ||
        !(g.peer = calloc(n, 1)) || !(g.told = calloc(n, 1)) || !(g.dropped = calloc(n, 1))) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

int forkpool_mpi_init(int *argc, char ***argv)
{
    if (g.init) {
        errno = EALREADY;
        return -1;
    }
    int inited = 0;
    MPI_Initialized(&inited);
    g.rank = env_rank();
    if (!inited && g.rank > 0 && agent_start() == -1) {
        g.rank = -1;
        return -1;
    }
    int level = 0;
    int async_set = !inited && !getenv(FP_ASYNC_FINALIZE) && setenv(FP_ASYNC_FINALIZE, "1", 0) == 0;
    int up = inited || MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &level) == MPI_SUCCESS;
    if (async_set)
        unsetenv(FP_ASYNC_FINALIZE); /* read by MPI_Init: the program's children never see it */
    if (!up) {
        agent_end();
        g.rank = -1;
        errno = EPROTO;
        return -1;
    }
    /* From here on finalize cleans up, and a serving rank returns its
       rank whatever happens, finalize saying how serving went: it must
       never run rank 0's part of the program. */
    g.init = 1;
    g.started_mpi = !inited;
    int rc = mpi_open();
    if (g.rank == 0)
        return rc == 0 && rank0_start() == 0 ? 0 : -1;
    if (g.rank < 0)
        return -1; /* MPI failed before it said which rank this is */
    if (rc == 0 && !g.agent)
        rc = agent_start();
    if (rc == 0)
        rc = relay();
    if (rc == -1)
        g.err = errno ? errno : EPROTO;
    agent_end();
    return g.rank;
}

/* In place of Open MPI's closing fence, which waits until the runtime has
   seen every rank end: a lost rank whose connection a surviving process
   still shares (a descendant, a stalled exit) held every other rank in
   MPI_Finalize for ever. The live ranks still meet before MPI goes down,
   as the fence had them do, but for FP_LOST_NS at most: a rank that does
   not come is lost, and BYE already told each side that the other has
   sent its last. */
static void closing_barrier(void)
{
    MPI_Request q;
    if (MPI_Ibarrier(g.comm, &q) == MPI_SUCCESS)
        (void)test_until(1, &q, fp_now() + FP_LOST_NS);
}

int forkpool_mpi_finalize(void)
{
    if (!g.init) {
        errno = EINVAL;
        return -1;
    }
    int rc = 0, err = g.err;
    if (g.rank == 0 && g.peer && g.comm != MPI_COMM_NULL && rank0_end() == -1)
        rc = -1, err = errno;
    beat_end();
    int orphan = g.peer && g.rank > 0 && g.peer[0] == FP_PEER_LOST;
    if (g.peer) {
        sends_test();
        sends_wait();
    }
    if (!orphan) {
        /* (Rank 0 gone: MPI_Finalize would wait for it for ever.) */
        if (g.started_mpi && g.comm != MPI_COMM_NULL)
            closing_barrier();
        if (g.comm != MPI_COMM_NULL)
            MPI_Comm_free(&g.comm);
        if (g.beat_comm != MPI_COMM_NULL)
            MPI_Comm_free(&g.beat_comm);
        if (g.started_mpi && MPI_Finalize() != MPI_SUCCESS && !err)
            err = EPROTO;
    }
    for (int r = 0; g.partial && r < g.size; r++)
        fp_buf_free(&g.partial[r]);
    free(g.partial);
    free(g.heard);
    free(g.peer);
    free(g.told);
    free(g.dropped);
    g.partial = NULL;
    g.heard = NULL;
    g.peer = g.told = g.dropped = NULL;
    g.comm = g.beat_comm = MPI_COMM_NULL;
    g.init = g.started_mpi = g.err = 0;
    free(g.held_by);
    g.held_by = NULL;
    g.nheld_by = g.held_cap = 0;
    g.rank = -1;
    g.size = 0;
    if (err) {
        errno = err;
        return -1;
    }
    return rc;
}

int forkpool_mpi_rank(void)
{
    return g.rank;
}

/* The number of ranks; in a task's child (its helper forked before MPI
   started), the launcher's figure. */
int forkpool_mpi_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS", NULL};
    if (g.size > 0)
        return g.size;
    int n = g.rank >= 0 ? env_int(vars) : -1;
    return n > 0 ? n : 0;
}
