/* A WORKERS worker's own side (worker.h): its loop. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "contain.h"
#include "launch.h"
#include "pool.h"
#include "spin.h"
#include "tree.h"
#include "wire.h"
#include "worker.h"

/* The worker's reader of its request pipe: one read() takes as many of
   the requests in flight as have arrived. */
typedef struct fp_reader {
    int fd;
    size_t pos, end;
    unsigned char buf[64 * 1024];
} fp_reader;

/* Reads exactly n bytes into p (large ones straight from the pipe). 1, 0
   at EOF before any byte, -1 on error or EOF in the middle. */
static int read_full(fp_reader *r, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        if (r->pos < r->end) {
            size_t k = r->end - r->pos < n - got ? r->end - r->pos : n - got;
            memcpy((char *)p + got, r->buf + r->pos, k);
            r->pos += k;
            got += k;
            continue;
        }
        int direct = n - got >= sizeof r->buf;
        ssize_t k = read(r->fd, direct ? (char *)p + got : (char *)r->buf,
                         direct ? n - got : sizeof r->buf);
        if (k > 0 && direct) {
            got += (size_t)k;
        } else if (k > 0) {
            r->pos = 0;
            r->end = (size_t)k;
        } else if (k == 0) {
            return got ? -1 : 0;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    return 1;
}

/* fp_spin_wait's probe in the worker: a request (or EOF) is there to read. */
static int request_ready(void *arg)
{
    struct pollfd p = {*(const int *)arg, POLLIN, 0};
    return poll(&p, 1, 0) != 0; /* -1 too: the read says what went wrong */
}

_Noreturn void fp_worker_main(forkpool *pool, fp_ring *ring, int in, int out)
{
    unsigned char hdr[FP_WIRE_HDR];
    unsigned char *buf = NULL;
    size_t cap = 0;
    fp_cpu_timers cpu;
    static fp_reader rd;
    rd.fd = in;
    /* The worker's copy of the pool is the program's to destroy (a task
       may): what the loop needs is read from it once, here. */
    const size_t max_output = pool->opts.max_output;
    const int contain = pool->opts.contain;
    fp_worker_end we = {.err_mark = pool->opts.capture_stderr ? ring->err_mark : NULL,
                        .ring = ring};
    int tree_checked = 0;
    fp_spin spin;
    fp_spin_init(&spin, pool->opts.spin_us);
    /* Each task gets its own max_cpu_ms (RLIMIT_CPU would count the
       worker's whole life). */
    if (fp_cpu_timers_new(&cpu, pool->opts.max_cpu_ms) == -1)
        fp_setup_fail(out, errno, FP_STEP_CPU);
    fp_child_reseed(&pool->opts);
    if (pool->opts.child_init)
        pool->opts.child_init(pool->opts.child_init_arg);
    for (;;) {
        uint32_t magic, type, seq;
        uint64_t len;
        void (*fn)(void);
        const unsigned char *arg;
        size_t arg_len;
        if (rd.pos == rd.end)
            fp_spin_wait(&spin, request_ready, &rd.fd);
        int r = read_full(&rd, hdr, sizeof hdr);
        if (r == 0)
            fp_child_exit(0);
        memcpy(&magic, hdr, 4);
        memcpy(&type, hdr + 4, 4);
        memcpy(&len, hdr + 8, 8);
        if (r < 0 || magic != FP_WIRE_MAGIC || type != FP_FRAME_TASK || len < FP_CALL_HDR)
            fp_child_exit(126);
        if (len > cap) {
            free(buf);
            cap = len;
            buf = malloc(cap);
            if (!buf)
                fp_child_exit(126);
        }
        if (read_full(&rd, buf, len) != 1)
            fp_child_exit(126);
        fp_call_parse(buf, len, &seq, &fn, &arg, &arg_len);
        uint32_t expect = fp_slot(seq, FP_SLOT_PENDING);
        if (!atomic_compare_exchange_strong(&ring->slot[seq % FP_RING], &expect,
                                            fp_slot(seq, FP_SLOT_STARTED)))
            continue; /* revoked: it runs elsewhere, or not at all */
        we.seq = seq;
        fp_cpu_timers_arm(&cpu, 1);
        int sent = fp_child_call(out, (forkpool_fn)fn, arg, arg_len, max_output, NULL, &we);
        fp_cpu_timers_arm(&cpu, 0);
        /* What the task left: its namespace (contain), then what is still
           the worker's (a subreaper). The next task gets a namespace of
           its own, or none runs: a worker never runs one uncontained. */
        fp_contain_end(&fp_contain_init);
        if (!tree_checked || we.ran_ns >= FP_TREE_MIN_NS)
            fp_tree_end_own(); /* the first check also covers child_init */
        tree_checked = 1;
        if (sent != 0 || (contain && fp_contain_again(&fp_contain_init) == -1))
            fp_child_exit(125);
#ifdef FP_COVERAGE
        /* make coverage: a worker is often killed, not exited; its counts
           are written after each task (and zeroed, so none count twice). */
        extern void __gcov_dump(void);
        extern void __gcov_reset(void);
        __gcov_dump();
        __gcov_reset();
#endif
    }
}
