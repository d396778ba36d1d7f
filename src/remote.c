/*
 * FORKPOOL_MPI pools on rank 0 (remote.h). A task is sent to the serving
 * rank with the fewest tasks, while it has fewer than its share
 * (concurrency), so every task sent starts there at once: it is RUNNING
 * from the moment it is sent. Its outcome comes back as one DONE message
 * and is settled here as a local child's would be; timeouts, limits and
 * kills happen on the serving rank, in its agent's local pool (agent.c).
 *
 * The hub is process-wide: the transport, the ranks' CPUs, every such
 * pool (FORKPOOL_MPI pools belong to the thread that started MPI), and
 * when to look for messages next: soon after traffic, backing off to
 * FP_REMOTE_POLL_MAX_NS while nothing comes (fp_remote_backoff).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fresh.h"
#include "mapitem.h"
#include "names.h"
#include "pool.h"
#include "program.h"
#include "remote.h"
#include "rmsg.h"
#include "task.h"

typedef struct fp_remote {
    fp_list node;     /* on the hub's list of pools                     */
    uint32_t id;
    uint32_t next_task;
    fp_proc **ranks;  /* [r - 1] for serving rank r                     */
} fp_remote;

/* A serving rank, as one pool sees it: the rank kind's state. */
typedef struct fp_rank {
    int rank;
    unsigned cap, inflight;
    fp_list tasks;    /* sent, not answered yet (task.run)              */
} fp_rank;

static struct {
    const fp_transport *tr;
    int nranks;
    unsigned *cpus;
    unsigned char *lost;  /* [rank]: no task goes there any more         */
    fp_list pools;
    uint32_t next_pool;
    int64_t poll_at, poll_step;
    int64_t heard_at;     /* the last traffic                             */
    fp_buf out;
} hub;

static void lose_rank(int rank, const char *why);
static void lose_all(const char *why);

int fp_remote_use(const fp_transport *tr, int nranks, const unsigned *cpus)
{
    unsigned *c = NULL;
    unsigned char *lost = NULL;
    if (nranks > 1) {
        c = malloc((size_t)nranks * sizeof *c);
        lost = calloc((size_t)nranks, 1);
        if (!c || !lost) {
            free(c);
            free(lost);
            errno = ENOMEM;
            return -1;
        }
        memcpy(c, cpus, (size_t)nranks * sizeof *c);
        for (int r = 1; r < nranks; r++)
            lost[r] = !c[r];
    }
    if (!tr)
        lose_all("MPI was finalized while it ran");
    free(hub.cpus);
    free(hub.lost);
    hub.cpus = c;
    hub.lost = lost;
    hub.tr = nranks > 1 ? tr : NULL;
    hub.nranks = nranks > 1 ? nranks : 1;
    if (!hub.pools.next)
        fp_list_init(&hub.pools);
    if (!tr)
        fp_buf_free(&hub.out);
    return 0;
}

/* Sends the message built in hub.out to rank. */
static int hub_send(int rank)
{
    if (!hub.tr) {
        hub.out.len = 0;
        errno = ENOTCONN;
        return -1;
    }
    hub.poll_step = fp_remote_backoff(hub.poll_step, 1, 0); /* an answer may come soon */
    hub.poll_at = hub.heard_at = fp_now();
    return hub.tr->send(rank, &hub.out);
}

/* ---- the rank kind ---- */

/* Tells pr's rank about t: type (RETIME: with ms). 0, or -1 + errno. */
static int rank_tell(fp_proc *pr, forkpool_task *t, uint32_t type, long ms)
{
    fp_rank *rk = pr->kind;
    fp_remote *rm = pr->pool->remote;
    if (fp_rmsg_begin(&hub.out, type, rm->id, t->seq) == -1 ||
        (type == FP_R_RETIME && fp_rmsg_u64(&hub.out, (uint64_t)ms) == -1)) {
        errno = ENOMEM;
        return -1;
    }
    return hub_send(rk->rank);
}

static int rank_cancel(fp_proc *pr, forkpool_task *t)
{
    if (rank_tell(pr, t, FP_R_CANCEL, 0) == -1)
        return -1;
    t->flags |= FP_T_KILLING;
    return 0;
}

static forkpool_task *rank_last(fp_proc *pr)
{
    fp_rank *rk = pr->kind;
    for (fp_list *n = fp_list_last(&rk->tasks); n; n = fp_list_prev(&rk->tasks, n)) {
        forkpool_task *t = FP_LIST_ITEM(n, forkpool_task, run);
        if (!(t->flags & (FP_T_CANCELLED | FP_T_KILLING)))
            return t;
    }
    return NULL;
}

/* A RETIME that cannot be sent leaves the old deadline; the op has no
   error to give (forkpool_set_timeout's contract has none). */
static void rank_retime(fp_proc *pr, forkpool_task *t)
{
    (void)rank_tell(pr, t, FP_R_RETIME, t->timeout_ms);
}

static void rank_destroy(fp_proc *pr)
{
    fp_rank *rk = pr->kind;
    for (fp_list *n; (n = fp_list_pop(&rk->tasks));)
        FP_LIST_ITEM(n, forkpool_task, run)->proc = NULL;
    free(rk);
}

static const fp_proc_ops rank_ops = {
    .name = "rank",
    .cancel = rank_cancel,
    .last = rank_last,
    .retime = rank_retime,
    .destroy = rank_destroy,
};

/* ---- a pool ---- */

/* The options that apply on a serving rank (forkpool.h, "MPI mode"):
   timeout_ms goes with each task; child_init and fork_server are EINVAL;
   max_tasks_per_worker is for WORKERS, and tasks run FRESH there. */
static int send_pool(const fp_remote *rm, int rank, unsigned concurrency,
                     const forkpool_options *o)
{
    fp_buf *b = &hub.out;
    int bad = fp_rmsg_begin(b, FP_R_POOL, rm->id, 0) | fp_rmsg_u32(b, concurrency) |
              fp_rmsg_u64(b, o->max_output) | fp_rmsg_u64(b, o->max_memory) |
              fp_rmsg_u64(b, (uint64_t)o->max_cpu_ms) | fp_rmsg_u32(b, o->keep_seed != 0) |
              fp_rmsg_u32(b, o->kill_steps);
    for (unsigned i = 0; i < o->kill_steps; i++)
        bad |= fp_rmsg_u32(b, (uint32_t)o->kill_sequence[i].signal) |
               fp_rmsg_u64(b, (uint64_t)o->kill_sequence[i].wait_ms);
    if (bad) {
        errno = ENOMEM;
        return -1;
    }
    return hub_send(rank);
}

static fp_proc *rank_new(forkpool *pool, int rank, unsigned cap)
{
    fp_proc *pr = fp_proc_new(&pool->procs, pool, &rank_ops, 0);
    fp_rank *rk = calloc(1, sizeof *rk);
    if (!pr || !rk) {
        free(rk);
        if (pr)
            fp_proc_free(pr);
        return NULL;
    }
    rk->rank = rank;
    rk->cap = cap;
    fp_list_init(&rk->tasks);
    pr->kind = rk;
    fp_registry_lock();
    int rc = fp_procs_reserve(&pool->procs);
    if (rc == 0)
        fp_proc_park(pr); /* gone: nothing here to signal or reap */
    fp_registry_unlock();
    if (rc == -1) {
        free(rk);
        fp_proc_free(pr);
        return NULL;
    }
    return pr;
}

int fp_remote_open(forkpool *pool)
{
    if (!hub.tr)
        return 0;
    fp_remote *rm = calloc(1, sizeof *rm);
    if (!rm || !(rm->ranks = calloc((size_t)hub.nranks - 1, sizeof(fp_proc *)))) {
        free(rm);
        errno = ENOMEM;
        return -1;
    }
    rm->id = ++hub.next_pool;
    pool->remote = rm;
    fp_list_push_tail(&hub.pools, &rm->node);
    unsigned per = pool->opts.concurrency, total = 0;
    for (int r = 1; r < hub.nranks; r++) {
        unsigned cap = per ? per : hub.cpus[r];
        if (!(rm->ranks[r - 1] = rank_new(pool, r, cap))) {
            errno = ENOMEM;
            return -1;
        }
        if (send_pool(rm, r, per, &pool->opts) == -1)
            return -1;
        total += cap;
    }
    pool->opts.concurrency = total;
    return 0;
}

void fp_remote_close(forkpool *pool)
{
    fp_remote *rm = pool->remote;
    if (!rm)
        return;
    /* A FREE that cannot be sent leaves the pool's tasks there running
       until the rank's END (forkpool_mpi_finalize). */
    for (int r = 1; r < hub.nranks; r++)
        if (rm->ranks[r - 1] && !hub.lost[r] && fp_rmsg_begin(&hub.out, FP_R_FREE, rm->id, 0) == 0)
            (void)hub_send(r);
    fp_list_remove(&rm->node);
    free(rm->ranks);
    free(rm);
    pool->remote = NULL;
}

/* ---- sending tasks ---- */

/* The rank with room and the fewest tasks, or NULL. */
static fp_proc *pick(const fp_remote *rm)
{
    fp_proc *best = NULL;
    unsigned least = 0;
    for (int r = 1; r < hub.nranks; r++) {
        fp_proc *pr = rm->ranks[r - 1];
        fp_rank *rk = pr->kind;
        if (!hub.lost[r] && rk->inflight < rk->cap && (!best || rk->inflight < least)) {
            best = pr;
            least = rk->inflight;
        }
    }
    return best;
}

/* Is a serving rank not lost? */
static int any_rank(void)
{
    for (int r = 1; r < hub.nranks; r++)
        if (!hub.lost[r])
            return 1;
    return 0;
}

/* t, off its rank and its error set, is settled as failed. */
static void settle_failed(forkpool_task *t)
{
    t->state = FORKPOOL_FAILED;
    t->pool->stats.failed++;
    fp_settle_end(t);
    fp_dispatch_push(t);
}

/* Encodes t for a serving rank into hub.out. 0, or -1 + errno. */
static int encode_task(const fp_remote *rm, const forkpool_task *t)
{
    fp_buf *b = &hub.out;
    int rc;
    if (t->exec) {
        const fp_exec *x = t->exec;
        rc = fp_rmsg_begin(b, FP_R_EXEC, rm->id, t->seq) |
             fp_rmsg_u64(b, (uint64_t)t->timeout_ms) | fp_rmsg_u32(b, (uint32_t)x->capture) |
             fp_rmsg_strv(b, (const char *const *)x->argv) |
             fp_rmsg_strv(b, (const char *const *)x->envp) | fp_rmsg_str(b, x->cwd) |
             fp_rmsg_bytes(b, x->input, x->input_len);
    } else {
        char name[FP_NAME_MAX + 1], item[FP_NAME_MAX + 1];
        int is_map = t->fn == fp_map_batch && t->arg_len >= sizeof(fp_map_hdr);
        fp_map_hdr h;
        if (is_map)
            memcpy(&h, t->arg, sizeof h);
        if (fp_fn_name(t->fn, name) == -1 || (is_map && fp_fn_name(h.fn, item) == -1)) {
            errno = ENOENT; /* forkpool_run and forkpool_map checked */
            return -1;
        }
        rc = fp_rmsg_begin(b, FP_R_RUN, rm->id, t->seq) |
             fp_rmsg_u64(b, (uint64_t)t->timeout_ms) | fp_rmsg_str(b, name) |
             fp_rmsg_str(b, is_map ? item : NULL) | fp_rmsg_bytes(b, t->arg, t->arg_len);
    }
    if (rc) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void fp_remote_fill(forkpool *pool)
{
    fp_remote *rm = pool->remote;
    if (!rm || !hub.tr) {
        fp_fresh_fill(pool);
        return;
    }
    forkpool_task *t;
    fp_proc *pr;
    while ((t = fp_queue_head(pool)) && !any_rank()) {
        fp_queue_remove(pool, t);
        fp_task_fail(t, FORKPOOL_ERR_LOST, 0, NULL, "every serving rank was lost");
        settle_failed(t);
    }
    while ((t = fp_queue_head(pool)) && (pr = pick(rm))) {
        fp_rank *rk = pr->kind;
        fp_queue_remove(pool, t);
        t->seq = ++rm->next_task;
        if (encode_task(rm, t) == -1 || hub_send(rk->rank) == -1) {
            int err = errno;
            if (err == ECONNRESET) {
                /* The rank is gone: t waits for another. */
                fp_queue_push_front(pool, t);
                lose_rank(rk->rank, "a send to it failed");
                continue;
            }
            fp_spawn_failed(t, err, "cannot send the task to rank %d: %s", rk->rank,
                            strerror(err));
            continue;
        }
        t->state = FORKPOOL_RUNNING;
        t->proc = pr;
        fp_list_push_tail(&rk->tasks, &t->run);
        rk->inflight++;
        pool->nrunning++;
        pool->nbusy++;
    }
}

/* ---- what comes back ---- */

static fp_remote *find_pool(uint32_t id)
{
    FP_LIST_FOR (n, &hub.pools) {
        fp_remote *rm = FP_LIST_ITEM(n, fp_remote, node);
        if (rm->id == id)
            return rm;
    }
    return NULL;
}

static forkpool_task *find_task(fp_proc *pr, uint32_t seq)
{
    fp_rank *rk = pr->kind;
    FP_LIST_FOR (n, &rk->tasks) {
        forkpool_task *t = FP_LIST_ITEM(n, forkpool_task, run);
        if (t->seq == seq)
            return t;
    }
    return NULL;
}

/* t, still running on pr's rank, failed here (its error set): it is
   killed there, and fails with that error whatever it sends. */
static void abort_remote(fp_proc *pr, forkpool_task *t)
{
    if (!(t->flags & FP_T_KILLING))
        (void)rank_cancel(pr, t); /* else: a kill is on its way */
    t->flags |= FP_T_ABORTED;
}

/* A message of t's. */
static void take_message(fp_proc *pr, forkpool_task *t, fp_rd *r)
{
    size_t n;
    const void *p = fp_rd_bytes(r, &n);
    unsigned char *copy = n ? malloc(n) : NULL;
    if (r->bad || !p || (n && !copy)) {
        free(copy);
        fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL, "malformed message from rank %d",
                     ((fp_rank *)pr->kind)->rank);
    } else {
        if (n)
            memcpy(copy, p, n);
        if (fp_msg_push(t, copy, n) == 0)
            return;
    }
    abort_remote(pr, t);
}

/* t leaves its rank's list and its slot. */
static void unlink_task(fp_proc *pr, forkpool_task *t)
{
    fp_list_remove(&t->run);
    ((fp_rank *)pr->kind)->inflight--;
    t->pool->nrunning--;
    t->pool->nbusy--;
    t->proc = NULL;
}

/* How t ended on its rank: settled here as a local child's outcome. */
static void take_done(fp_proc *pr, forkpool_task *t, fp_rd *r)
{
    forkpool *pool = t->pool;
    fp_rank *rk = pr->kind;
    forkpool_stats *st = &pool->stats;
    t->pid = (pid_t)fp_rd_u32(r);
    uint32_t state = fp_rd_u32(r), kind = fp_rd_u32(r);
    int code = (int)fp_rd_u32(r);
    const char *type = fp_rd_str(r), *msg = fp_rd_str(r);
    size_t out_len, err_len;
    const void *out = fp_rd_bytes(r, &out_len), *err = fp_rd_bytes(r, &err_len);
    fp_rusage ru;
    int64_t wall_ns = (int64_t)fp_rd_u64(r);
    ru.user_us = (int64_t)fp_rd_u64(r);
    ru.sys_us = (int64_t)fp_rd_u64(r);
    ru.maxrss_kib = (long)fp_rd_u64(r);
    unlink_task(pr, t);
    /* Its run time is the rank's measure, not the round trip's. */
    if (!r->bad && wall_ns >= 0)
        fp_task_set_usage(t, fp_now() - wall_ns, &ru);
    t->state = FORKPOOL_FAILED;
    if (t->exec && ((out_len && fp_buf_append(&t->exec->out, out, out_len)) ||
                    (err_len && fp_buf_append(&t->exec->err, err, err_len))))
        r->bad = 1;
    int succeeded = state == FORKPOOL_SUCCEEDED && out;
    if (r->bad || (!succeeded && (kind < FORKPOOL_ERR_THROWN || kind > FORKPOOL_ERR_LOST))) {
        fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                     "malformed answer from rank %d (or no memory for it)", rk->rank);
        st->failed++;
    } else if (t->flags & FP_T_ABORTED) {
        st->failed++;
    } else if (t->flags & FP_T_CANCELLED) {
        fp_task_fail(t, FORKPOOL_ERR_CANCELLED, 0, NULL, "task cancelled while running");
        st->cancelled++;
    } else if (succeeded) {
        t->state = FORKPOOL_SUCCEEDED;
        st->succeeded++;
        if (!t->exec && out_len) {
            if ((t->result = malloc(out_len))) {
                memcpy(t->result, out, out_len);
                t->result_len = out_len;
            } else {
                t->state = FORKPOOL_FAILED;
                st->succeeded--;
                st->failed++;
                fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL,
                             "no memory for the task's result (%zu bytes)", out_len);
            }
        }
    } else {
        fp_task_fail(t, (forkpool_error_kind)kind, code, type, "%s", msg ? msg : "");
        if (kind == FORKPOOL_ERR_TIMEOUT) {
            t->flags |= FP_T_TIMED_OUT;
            st->timed_out++;
        } else if (kind == FORKPOOL_ERR_CANCELLED) {
            st->cancelled++;
        } else {
            st->failed++;
        }
    }
    fp_settle_end(t);
    fp_dispatch_push(t);
}

/* Routes one message from rank (whole 0: only its header came, its body
   not fitting in memory: its task fails). 1 if a task ended, else 0. */
static int deliver(int rank, const unsigned char *msg, size_t len, int whole)
{
    fp_rd r;
    fp_rmsg h;
    fp_remote *rm;
    forkpool_task *t;
    if (rank < 1 || rank >= hub.nranks || fp_rmsg_open(&r, &h, msg, len) == -1 ||
        !(rm = find_pool(h.pool)) || !(t = find_task(rm->ranks[rank - 1], h.task)))
        return 0; /* for a pool or task destroyed meanwhile */
    fp_proc *pr = rm->ranks[rank - 1];
    if (!whole && (h.type == FP_R_MSG || h.type == FP_R_DONE)) {
        fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL, "no memory here for the task's %s from rank %d",
                     h.type == FP_R_MSG ? "message" : "outcome", rank);
        if (h.type == FP_R_MSG) {
            abort_remote(pr, t);
            return 0;
        }
        unlink_task(pr, t);
        settle_failed(t);
        return 1;
    }
    if (h.type == FP_R_START) {
        t->pid = (pid_t)fp_rd_u32(&r);
        t->flags |= FP_T_STARTED;
    } else if (h.type == FP_R_MSG)
        take_message(rm->ranks[rank - 1], t, &r);
    else if (h.type == FP_R_DONE)
        take_done(rm->ranks[rank - 1], t, &r);
    return h.type == FP_R_DONE;
}

/* pr's rank is gone: what started there fails LOST (CANCELLED if it was
   cancelled), what did not goes back to the head of the queue. */
static void lose_tasks(fp_proc *pr, const char *why)
{
    fp_rank *rk = pr->kind;
    forkpool *pool = pr->pool;
    for (fp_list *n; (n = fp_list_last(&rk->tasks));) {
        forkpool_task *t = FP_LIST_ITEM(n, forkpool_task, run);
        unlink_task(pr, t);
        if (t->flags & FP_T_CANCELLED) {
            fp_cancel_unstarted(t);
        } else if (t->flags & FP_T_STARTED) {
            fp_task_fail(t, FORKPOOL_ERR_LOST, 0, NULL, "rank %d was lost while the task ran: %s",
                         rk->rank, why);
            settle_failed(t);
        } else {
            t->flags &= ~(uint32_t)FP_T_KILLING;
            fp_queue_push_front(pool, t);
        }
    }
}

static void lose_rank(int rank, const char *why)
{
    hub.lost[rank] = 1;
    FP_LIST_FOR (n, &hub.pools)
        lose_tasks(FP_LIST_ITEM(n, fp_remote, node)->ranks[rank - 1], why);
}

static void lose_all(const char *why)
{
    for (int r = 1; r < hub.nranks; r++)
        if (hub.lost && !hub.lost[r])
            lose_rank(r, why);
}

void fp_remote_progress(forkpool *pool)
{
    if (!pool->remote || !hub.tr)
        return;
    int64_t now = fp_now();
    if (now < hub.poll_at)
        return;
    int rank, got = 0, ended = 0;
    unsigned char *msg;
    size_t len;
    int rc;
    while ((rc = hub.tr->recv(&rank, &msg, &len)) >= 1) {
        got = 1;
        ended |= deliver(rank, msg, len, rc == 1);
        free(msg);
    }
    if (rc == -1 && errno != ENOMEM) {
        /* MPI itself failed: nothing more will come from any rank. */
        lose_all(strerror(errno));
        ended = 1;
    }
    while ((rank = hub.tr->lost()) > 0)
        if (rank < hub.nranks && !hub.lost[rank]) {
            lose_rank(rank, "no heartbeat from it");
            ended = 1;
        }
    if (ended) /* slots are free: on with the queues */
        FP_LIST_FOR (n, &hub.pools) {
            forkpool *p = FP_LIST_ITEM(n, fp_remote, node)->ranks[0]->pool;
            fp_remote_fill(p);
        }
    if (got)
        hub.heard_at = now;
    hub.poll_step = fp_remote_backoff(hub.poll_step, got, now - hub.heard_at);
    hub.poll_at = now + hub.poll_step;
}

int64_t fp_remote_due(const forkpool *pool)
{
    if (!pool->remote || !hub.tr || !pool->nrunning)
        return 0;
    return hub.poll_at ? hub.poll_at : fp_now();
}
