/*
 * A serving rank's agent (agent.h): a plain process, forked before MPI
 * started, that runs rank 0's tasks in local FRESH pools with the public
 * API, one pool per pool of rank 0, and answers each with its messages and
 * its outcome. It reads requests from, and writes answers to, one stream
 * (the relay's socket), framed as rmsg.h says.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "launch.h"
#include "list.h"
#include "mapitem.h"
#include "names.h"
#include "rmsg.h"

typedef struct ag_pool {
    fp_list node;
    uint32_t id;
    forkpool *p;  /* NULL: it could not be made (err) */
    int err;
} ag_pool;

typedef struct agent agent;

/* A task of rank 0 that runs here. */
typedef struct ag_task {
    fp_list node;
    agent *ag;
    uint32_t pool, id;
    forkpool_task *t;
} ag_task;

struct agent {
    int fd;
    int failed;       /* errno of a failed write: rank 0 is gone      */
    int ended;        /* END read                                      */
    fp_list pools;    /* ag_pool                                      */
    fp_list tasks;    /* ag_task                                      */
    fp_buf in, out;   /* requests read, an answer being built         */
};

static void send_out(agent *ag)
{
    if (!ag->failed && fp_rmsg_send(ag->fd, ag->out.p, ag->out.len) == -1)
        ag->failed = errno;
}

static ag_pool *find_pool(agent *ag, uint32_t id)
{
    FP_LIST_FOR (n, &ag->pools) {
        ag_pool *ap = FP_LIST_ITEM(n, ag_pool, node);
        if (ap->id == id)
            return ap;
    }
    return NULL;
}

static ag_task *find_task(agent *ag, uint32_t pool, uint32_t id)
{
    FP_LIST_FOR (n, &ag->tasks) {
        ag_task *at = FP_LIST_ITEM(n, ag_task, node);
        if (at->pool == pool && at->id == id)
            return at;
    }
    return NULL;
}

/* Answers a task that ended here, or never started (t NULL: kind, code and
   msg say why). */
static void send_done(agent *ag, uint32_t pool, uint32_t id, const forkpool_task *t,
                      forkpool_error_kind kind, int code, const char *msg)
{
    const forkpool_error *e = t ? forkpool_task_error(t) : NULL;
    size_t out_len = 0, err_len = 0;
    const void *out = t ? forkpool_task_stdout(t, &out_len) : NULL;
    const void *err = t ? forkpool_task_stderr(t, &err_len) : NULL;
    int ok = t && !e;
    forkpool_usage u = {0, 0, 0, 0};
    if (t)
        (void)forkpool_task_usage(t, &u); /* zeros when it has none */
    if (e) {
        kind = e->kind;
        code = e->code;
        msg = e->message;
    }
    fp_buf *b = &ag->out;
    if (fp_rmsg_begin(b, FP_R_DONE, pool, id) | fp_rmsg_u32(b, t ? (uint32_t)forkpool_task_pid(t) : 0) |
        fp_rmsg_u32(b, ok ? FORKPOOL_SUCCEEDED : FORKPOOL_FAILED) |
        fp_rmsg_u32(b, ok ? 0 : (uint32_t)kind) | fp_rmsg_u32(b, (uint32_t)code) |
        fp_rmsg_str(b, e ? e->type : NULL) | fp_rmsg_str(b, ok ? NULL : msg) |
        fp_rmsg_bytes(b, out, out_len) | fp_rmsg_bytes(b, err, err_len) |
        fp_rmsg_u64(b, (uint64_t)(u.wall_s * 1e9)) | fp_rmsg_u64(b, (uint64_t)(u.user_s * 1e6)) |
        fp_rmsg_u64(b, (uint64_t)(u.sys_s * 1e6)) | fp_rmsg_u64(b, (uint64_t)u.max_rss_kib)) {
        /* No memory for the answer: the outcome, without its bytes. */
        fp_rmsg_begin(b, FP_R_DONE, pool, id);
        fp_rmsg_u32(b, 0);
        fp_rmsg_u32(b, FORKPOOL_FAILED);
        fp_rmsg_u32(b, FORKPOOL_ERR_OUTPUT);
        fp_rmsg_u32(b, 0);
        fp_rmsg_str(b, NULL);
        fp_rmsg_str(b, "the serving rank had no memory to send the task's outcome");
        fp_rmsg_bytes(b, NULL, 0);
        fp_rmsg_bytes(b, NULL, 0);
        for (int i = 0; i < 4; i++)
            fp_rmsg_u64(b, 0);
    }
    send_out(ag);
}

static void task_end(ag_task *at)
{
    send_done(at->ag, at->pool, at->id, at->t, 0, 0, NULL);
    fp_list_remove(&at->node);
    forkpool_task_release(at->t);
    free(at);
}

static void on_then(forkpool_task *t, const void *result, size_t len, void *ud)
{
    (void)t;
    (void)result;
    (void)len;
    task_end(ud);
}

static void on_catch(forkpool_task *t, const forkpool_error *err, void *ud)
{
    (void)t;
    (void)err;
    task_end(ud);
}

static void on_message(forkpool_task *t, const void *msg, size_t len, void *ud)
{
    ag_task *at = ud;
    (void)t;
    if (fp_rmsg_begin(&at->ag->out, FP_R_MSG, at->pool, at->id) |
        fp_rmsg_bytes(&at->ag->out, msg, len)) {
        /* Dropping it would be a silent loss: the task fails instead. */
        forkpool_cancel(t);
        return;
    }
    send_out(at->ag);
}

/* Watches t for rank 0 (t NULL: errno says why it could not be queued). */
static void adopt(agent *ag, uint32_t pool, uint32_t id, forkpool_task *t, long timeout_ms,
                  const char *what)
{
    ag_task *at = t ? calloc(1, sizeof *at) : NULL;
    if (!at) {
        int err = errno;
        if (t)
            forkpool_cancel(t), forkpool_task_release(t);
        send_done(ag, pool, id, NULL, FORKPOOL_ERR_SPAWN, err,
                  t ? "the serving rank had no memory for the task" : what);
        return;
    }
    at->ag = ag;
    at->pool = pool;
    at->id = id;
    at->t = t;
    fp_list_push_tail(&ag->tasks, &at->node);
    /* Rank 0 re-runs elsewhere what a lost rank never started. */
    pid_t pid = forkpool_task_pid(t);
    if (pid > 0 && fp_rmsg_begin(&ag->out, FP_R_START, pool, id) == 0 &&
        fp_rmsg_u32(&ag->out, (uint32_t)pid) == 0)
        send_out(ag);
    if (!forkpool_set_timeout(t, timeout_ms) || !forkpool_on_message(t, on_message, at) ||
        !forkpool_then(t, on_then, at) || !forkpool_catch(t, on_catch, at))
        forkpool_cancel(t); /* its handlers added so far report it */
}

static void serve_run(agent *ag, ag_pool *ap, const fp_rmsg *h, fp_rd *r)
{
    long timeout_ms = (long)fp_rd_u64(r);
    const char *name = fp_rd_str(r), *item = fp_rd_str(r);
    size_t len;
    const void *arg = fp_rd_bytes(r, &len);
    forkpool_fn fn = name ? fp_fn_named(name) : NULL;
    forkpool_fn item_fn = item ? fp_fn_named(item) : NULL;
    char why[160];
    if (r->bad) {
        /* Cut short or garbled: running it with what is left would run
           the function on the wrong argument. */
        send_done(ag, h->pool, h->task, NULL, FORKPOOL_ERR_PROTOCOL, EPROTO,
                  "the serving rank got a malformed request for the task");
        return;
    }
    if (!fn || (item && !item_fn)) {
        snprintf(why, sizeof why, "no function is registered as \"%s\" on the serving rank",
                 fn ? item : name ? name : "");
        send_done(ag, h->pool, h->task, NULL, FORKPOOL_ERR_SPAWN, ENOENT, why);
        return;
    }
    if (item) {
        /* A map batch: its header names the user's function by its
           address in rank 0, which means nothing here. */
        unsigned char *copy = len >= sizeof(fp_map_hdr) ? malloc(len) : NULL;
        if (!copy) {
            send_done(ag, h->pool, h->task, NULL, FORKPOOL_ERR_SPAWN,
                      len >= sizeof(fp_map_hdr) ? ENOMEM : EPROTO, "bad map batch");
            return;
        }
        memcpy(copy, arg, len);
        fp_map_hdr hdr;
        memcpy(&hdr, copy, sizeof hdr);
        hdr.fn = item_fn;
        hdr.items = NULL;
        memcpy(copy, &hdr, sizeof hdr);
        errno = 0;
        forkpool_task *t = forkpool_run(ap->p, fn, copy, len);
        free(copy);
        adopt(ag, h->pool, h->task, t, timeout_ms, strerror(errno));
        return;
    }
    forkpool_task *t = forkpool_run(ap->p, fn, arg ? arg : "", len);
    adopt(ag, h->pool, h->task, t, timeout_ms, strerror(errno));
}

static void serve_exec(agent *ag, ag_pool *ap, const fp_rmsg *h, fp_rd *r)
{
    long timeout_ms = (long)fp_rd_u64(r);
    forkpool_exec_options xo;
    memset(&xo, 0, sizeof xo);
    xo.capture = (int)fp_rd_u32(r);
    int err1, err2;
    const char **argv = fp_rd_strv(r, &err1);
    const char **envp = fp_rd_strv(r, &err2);
    xo.envp = envp;
    xo.cwd = fp_rd_str(r);
    xo.input = fp_rd_bytes(r, &xo.input_len); /* NULL: /dev/null */
    forkpool_task *t = NULL;
    if (r->bad || err1 == EPROTO || err2 == EPROTO || (!argv && !err1)) {
        send_done(ag, h->pool, h->task, NULL, FORKPOOL_ERR_PROTOCOL, EPROTO,
                  "the serving rank got a malformed request for the program");
        free(argv);
        free(envp);
        return;
    }
    if (err1 || err2)
        errno = err1 ? err1 : err2;
    else
        t = forkpool_exec(ap->p, argv, &xo);
    adopt(ag, h->pool, h->task, t, timeout_ms, strerror(errno));
    free(argv);
    free(envp);
}

static void serve_pool(agent *ag, const fp_rmsg *h, fp_rd *r)
{
    forkpool_options o;
    forkpool_kill_step kill[FORKPOOL_KILL_STEPS_MAX];
    memset(&o, 0, sizeof o);
    o.mode = FORKPOOL_FRESH;
    o.concurrency = fp_rd_u32(r);
    o.max_output = (size_t)fp_rd_u64(r);
    o.max_memory = (size_t)fp_rd_u64(r);
    o.max_cpu_ms = (long)fp_rd_u64(r);
    o.keep_seed = (int)fp_rd_u32(r);
    o.kill_steps = fp_rd_u32(r);
    if (o.kill_steps > FORKPOOL_KILL_STEPS_MAX)
        r->bad = 1;
    for (unsigned i = 0; i < o.kill_steps && !r->bad; i++) {
        kill[i].signal = (int)fp_rd_u32(r);
        kill[i].wait_ms = (long)fp_rd_u64(r);
    }
    o.kill_sequence = o.kill_steps ? kill : NULL;
    ag_pool *ap = calloc(1, sizeof *ap);
    if (!ap)
        return; /* its tasks fail: no such pool */
    ap->id = h->pool;
    if (r->bad)
        ap->err = EPROTO;
    else if (!(ap->p = forkpool_create(&o)))
        ap->err = errno;
    fp_list_push_tail(&ag->pools, &ap->node);
}

/* Drops a pool, off the list already, and its tasks (freed with it). */
static void pool_free(agent *ag, ag_pool *ap)
{
    fp_list keep;
    fp_list_init(&keep);
    for (fp_list *n; (n = fp_list_pop(&ag->tasks));) {
        if (FP_LIST_ITEM(n, ag_task, node)->pool == ap->id)
            free(FP_LIST_ITEM(n, ag_task, node));
        else
            fp_list_push_tail(&keep, n);
    }
    for (fp_list *n; (n = fp_list_pop(&keep));)
        fp_list_push_tail(&ag->tasks, n);
    forkpool_destroy(ap->p);
    free(ap);
}

/* Acts on one request. */
static void serve(agent *ag, const unsigned char *msg, size_t len)
{
    fp_rd r;
    fp_rmsg h;
    if (fp_rmsg_open(&r, &h, msg, len) == -1)
        return;
    if (h.type == FP_R_END) {
        ag->ended = 1;
        return;
    }
    ag_pool *ap = find_pool(ag, h.pool);
    ag_task *at = find_task(ag, h.pool, h.task);
    switch (h.type) {
    case FP_R_POOL:
        if (!ap)
            serve_pool(ag, &h, &r);
        break;
    case FP_R_FREE:
        if (ap) {
            fp_list_remove(&ap->node);
            pool_free(ag, ap);
        }
        break;
    case FP_R_RUN:
    case FP_R_EXEC:
        if (!ap || !ap->p)
            send_done(ag, h.pool, h.task, NULL, FORKPOOL_ERR_SPAWN, ap ? ap->err : ESRCH,
                      "the serving rank could not create the pool");
        else if (h.type == FP_R_RUN)
            serve_run(ag, ap, &h, &r);
        else
            serve_exec(ag, ap, &h, &r);
        break;
    case FP_R_CANCEL:
        if (at)
            forkpool_cancel(at->t);
        break;
    case FP_R_RETIME: {
        long ms = (long)fp_rd_u64(&r);
        if (at && !r.bad) /* a garbled RETIME is dropped: the old deadline holds */
            forkpool_set_timeout(at->t, ms);
        break;
    }
    default:
        break;
    }
}

/* Reads what the stream has; serves every whole request up to END. 1 at
   the end of the stream (or no memory to read it), else 0. */
static int read_requests(agent *ag)
{
    ssize_t n = fp_buf_read(&ag->in, ag->fd);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        return 1;
    size_t off = 0, len, used;
    const unsigned char *msg;
    while (!ag->ended && (msg = fp_rmsg_next(ag->in.p + off, ag->in.len - off, &len, &used))) {
        serve(ag, msg, len);
        off += used;
    }
    memmove(ag->in.p, ag->in.p + off, ag->in.len - off);
    ag->in.len -= off;
    return 0;
}

int fp_agent_serve(int fd)
{
    agent ag;
    memset(&ag, 0, sizeof ag);
    signal(SIGPIPE, SIG_IGN); /* a relay gone is a failed write, not a death */
    ag.fd = fd;
    fp_list_init(&ag.pools);
    fp_list_init(&ag.tasks);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (fp_rmsg_begin(&ag.out, FP_R_HELLO, 0, 0) == 0 &&
        fp_rmsg_u32(&ag.out, cpus > 0 ? (uint32_t)cpus : 1) == 0)
        send_out(&ag);
    int eof = 0;
    while (!eof && !ag.ended && !ag.failed) {
        unsigned npools = 0;
        FP_LIST_FOR (n, &ag.pools)
            npools++;
        struct pollfd *fds = calloc(npools + 1, sizeof *fds);
        if (!fds)
            break;
        fds[0].fd = fd;
        fds[0].events = POLLIN;
        unsigned i = 1;
        FP_LIST_FOR (n, &ag.pools) {
            fds[i].fd = FP_LIST_ITEM(n, ag_pool, node)->p
                            ? forkpool_fd(FP_LIST_ITEM(n, ag_pool, node)->p)
                            : -1;
            fds[i++].events = POLLIN;
        }
        if (poll(fds, npools + 1, -1) > 0) {
            if (fds[0].revents)
                eof = read_requests(&ag);
            FP_LIST_FOR (n, &ag.pools) {
                ag_pool *ap = FP_LIST_ITEM(n, ag_pool, node);
                if (ap->p)
                    forkpool_poll(ap->p, 0);
            }
        }
        free(fds);
    }
    for (fp_list *n; (n = fp_list_pop(&ag.pools));)
        pool_free(&ag, FP_LIST_ITEM(n, ag_pool, node));
    if (fp_rmsg_begin(&ag.out, FP_R_BYE, 0, 0) == 0)
        send_out(&ag);
    fp_buf_free(&ag.in);
    fp_buf_free(&ag.out);
    if (ag.ended)
        return 0;
    errno = ag.failed ? ag.failed : EPIPE;
    return -1;
}

typedef struct agent_launch {
    int sv[2];
    const int *close_fds;
    int nclose;
} agent_launch;

static void agent_child(void *arg, int report)
{
    agent_launch *a = arg;
    (void)report;
    close(a->sv[0]);
    for (int i = 0; i < a->nclose; i++)
        close(a->close_fds[i]);
    _exit(fp_agent_serve(a->sv[1]) == 0 ? 0 : 1);
}

pid_t fp_agent_start(int *fd, const int *close_fds, int nclose)
{
    agent_launch a = {.close_fds = close_fds, .nclose = nclose};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a.sv) == -1)
        return -1;
    fp_launch l = {
        .how = FP_LAUNCH_FORK, .parent = getpid(), .locked = 1, .child = agent_child, .arg = &a};
    pid_t pid = fp_launch_run(&l);
    int err = errno;
    close(a.sv[1]);
    if (pid == -1) {
        close(a.sv[0]);
        errno = err;
        return -1;
    }
    *fd = a.sv[0];
    return pid;
}
