/*
 * Results that cross as a memfd the parent maps (see result.h): the child's
 * buffer, the parent's taking and checking of it, and releasing a result
 * however it was made.
 *
 * Why a memfd and not the pipe: a 256 MiB result through a pipe is copied
 * twice (child -> pipe -> parent) and the parent's copy faults in fresh
 * zeroed pages; through a memfd, forkpool_return copies once (write() into
 * the memfd) and forkpool_result_buffer not at all, and the parent's cost is
 * an mmap. Why the child waits after END: a pipe cannot carry an fd, so the
 * parent takes it out of the living child (pidfd_getfd, Linux 5.6; else
 * /proc/<pid>/fd/<n>); an exited child's fds are gone. The parent then ends
 * the child with SIGKILL rather than by closing the channel, which a fork of
 * the host could be holding open too.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool.h"
#include "registry.h"
#include "result.h"
#include "task.h"

#define FP_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* ---- in the child ---- */

/*
 * Can the parent take an fd from this process? Both ways need ptrace access
 * to it, which the kernel refuses for a process that is not dumpable
 * (prctl(PR_SET_DUMPABLE, 0) in the host) unless the parent has
 * CAP_SYS_PTRACE: such results cross by copy.
 */
static int can_hand_over(void)
{
    return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1;
}

/* A sealed memfd of exactly len bytes (zeros), or -1 + errno. */
static int memfd_new(size_t len)
{
    int fd = memfd_create("forkpool-result", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)len) == 0 && fcntl(fd, F_ADD_SEALS, FP_SEALS) == 0)
        return fd;
    int err = errno;
    close(fd);
    errno = err;
    return -1;
}

void fp_rbuf_free(fp_rbuf *b)
{
    if (b->fd >= 0) {
        if (b->p)
            munmap(b->p, b->len);
        close(b->fd);
    } else {
        free(b->p);
    }
    *b = (fp_rbuf)FP_RBUF_NONE;
}

int fp_rbuf_pending(const fp_rbuf *b)
{
    return b->p != NULL || b->fd >= 0;
}

/* A memfd of len bytes mapped writable into n, or -1 + errno. */
static int rbuf_map(fp_rbuf *n, size_t len)
{
    int fd = memfd_new(len);
    if (fd < 0)
        return -1;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    *n = (fp_rbuf){p, len, fd};
    return 0;
}

void *fp_rbuf_new(fp_rbuf *b, size_t len, int map_ok)
{
    fp_rbuf n = FP_RBUF_NONE;
    /* A memfd that cannot be made (EMFILE, say) costs only the zero copy. */
    if (!(map_ok && len >= FP_MAP_MIN && can_hand_over() && rbuf_map(&n, len) == 0)) {
        /* Zeroed: bytes the task does not write must not carry whatever
           the heap held (they cross to the parent as they are). */
        n.p = calloc(1, len ? len : 1);
        n.len = len;
        if (!n.p) {
            errno = ENOMEM;
            return NULL;
        }
    }
    fp_rbuf_free(b);
    *b = n;
    return n.p;
}

/* realloc for a heap result of *have bytes at *p: a grown tail is zero.
   The new place, or NULL + ENOMEM (*p and *have unchanged). */
static unsigned char *heap_resize(unsigned char **p, size_t *have, size_t len)
{
    unsigned char *n = realloc(*p, len ? len : 1);
    if (!n) {
        errno = ENOMEM;
        return NULL;
    }
    if (len > *have)
        memset(n + *have, 0, len - *have);
    *p = n;
    *have = len;
    return n;
}

void *fp_rbuf_resize(fp_rbuf *b, size_t len, int map_ok)
{
    /* A heap buffer that stays on the heap grows or shrinks in place where
       realloc can; any other change is a new buffer and a copy. */
    if (b->fd < 0 && !(map_ok && len >= FP_MAP_MIN))
        return heap_resize(&b->p, &b->len, len);
    fp_rbuf old = *b;
    *b = (fp_rbuf)FP_RBUF_NONE;
    unsigned char *p = fp_rbuf_new(b, len, map_ok);
    if (!p) {
        *b = old;
        return NULL;
    }
    memcpy(p, old.p, old.len < len ? old.len : len);
    fp_rbuf_free(&old);
    return p;
}

int fp_rbuf_copy(fp_rbuf *b, const void *data, size_t len)
{
    if (!can_hand_over()) {
        errno = EPERM;
        return -1;
    }
    int fd = memfd_new(len);
    if (fd < 0)
        return -1;
    /* write() copies straight into the memfd's pages: cheaper than mapping
       it and faulting each page in. */
    for (size_t off = 0; off < len;) {
        ssize_t w = pwrite(fd, (const char *)data + off, len - off, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int err = w < 0 ? errno : EIO;
            close(fd);
            errno = err;
            return -1;
        }
        off += (size_t)w;
    }
    fp_rbuf_free(b);
    *b = (fp_rbuf){NULL, len, fd};
    return 0;
}

_Noreturn void fp_rbuf_hold(void)
{
    struct sigaction dfl;
    sigset_t mask;
    /* Only SIGTERM (a timeout or cancel that came first) and SIGKILL may
       end it; the task's own handlers and timers have nothing left to do. */
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &dfl, NULL);
    sigfillset(&mask);
    sigdelset(&mask, SIGTERM);
    sigprocmask(SIG_SETMASK, &mask, NULL);
    for (;;)
        pause();
}

void *fp_result_inline(forkpool_task *t, size_t len)
{
    unsigned char *p = calloc(1, len ? len : 1);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    fp_result_free(t);
    t->result = p;
    t->result_len = len;
    t->flags |= FP_T_HAS_RESULT;
    return p;
}

void *fp_result_inline_resize(forkpool_task *t, size_t len)
{
    return heap_resize(&t->result, &t->result_len, len);
}

/* ---- in the parent ---- */

/*
 * A new fd (close-on-exec) for the file behind fd child_fd of t's child, or
 * -1 + errno. The /proc way opens the link as O_PATH first and reopens only
 * a regular file (anything else stays an O_PATH fd, which the checks
 * refuse): opening whatever a hostile child names (a FIFO without a writer,
 * a terminal, a device) could block or have effects.
 */
static int take_fd(const forkpool_task *t, int child_fd)
{
#ifdef SYS_pidfd_getfd
    int pidfd = t->proc->fd[FP_FD_EXIT];
    if (pidfd >= 0) {
        int fd = (int)syscall(SYS_pidfd_getfd, pidfd, child_fd, 0);
        /* ENOSYS: before Linux 5.6 (or valgrind). EPERM: Yama's ptrace
           scope refuses the attach-mode check that /proc's read mode
           passes. */
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
            return fd;
    }
#endif
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%ld/fd/%d", (long)t->proc->pid, child_fd);
    int opath = open(path, O_PATH | O_CLOEXEC);
    if (opath < 0)
        return -1;
    if (fstat(opath, &st) != 0 || !S_ISREG(st.st_mode))
        return opath;
    snprintf(path, sizeof path, "/proc/self/fd/%d", opath);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    int err = errno;
    close(opath);
    errno = err;
    return fd;
}

/* What fp_result_take found, to report outside the registry lock. */
typedef struct {
    int fd, err, seals;
    long long size;
    void *map;
} fp_take;

/* Under the registry lock: no other thread's fork may copy the fd. */
static void take_and_map(const forkpool_task *t, int child_fd, size_t len, fp_take *k)
{
    struct stat st;
    k->map = MAP_FAILED;
    k->seals = -1;
    k->size = -1;
    fp_registry_lock();
    k->fd = take_fd(t, child_fd);
    k->err = errno;
    if (k->fd >= 0) {
        if (fstat(k->fd, &st) == 0 && S_ISREG(st.st_mode)) {
            k->size = (long long)st.st_size;
            k->seals = fcntl(k->fd, F_GET_SEALS);
        }
        if (k->seals >= 0 && (k->seals & F_SEAL_SHRINK) && k->size == (long long)len) {
            /* Sealed against shrinking: no access through the mapping can
               fault, whatever the child does to the file afterwards. */
            k->map = mmap(NULL, len, PROT_READ, MAP_SHARED, k->fd, 0);
            k->err = errno;
        }
        close(k->fd);
    }
    fp_registry_unlock();
}

int fp_result_take(forkpool_task *t, const unsigned char *payload)
{
    int child_fd;
    size_t len;
    fp_take k;
    fp_wire_parse_result_fd(payload, &child_fd, &len);
    take_and_map(t, child_fd, len, &k);
    if (k.fd < 0 && fp_proc_probe(t->proc) != 0) {
        /* Settling says more if it can (killed by us, or by a signal). */
        fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                     "task's child ended before the parent took its %zu-byte result "
                     "(it must wait to be ended after its end frame)",
                     len);
        t->flags |= FP_T_LOST;
        return 0;
    }
    if (k.fd < 0) {
        fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                     "malformed frame from task: cannot take its result's fd %d: %s", child_fd,
                     strerror(k.err));
        return -1;
    }
    if (k.seals < 0 || !(k.seals & F_SEAL_SHRINK)) {
        fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                     "malformed frame from task: its result's fd %d is not a memfd sealed "
                     "against shrinking",
                     child_fd);
        return -1;
    }
    if (k.size != (long long)len) {
        fp_task_fail(t, FORKPOOL_ERR_PROTOCOL, 0, NULL,
                     "malformed frame from task: its result's memfd holds %lld bytes, not %zu",
                     k.size, len);
        return -1;
    }
    if (k.map == MAP_FAILED) {
        fp_task_fail(t, FORKPOOL_ERR_OUTPUT, 0, NULL, "cannot map the task's %zu-byte result: %s",
                     len, strerror(k.err));
        return -1;
    }
    t->result = k.map;
    t->result_len = len;
    t->flags |= FP_T_HAS_RESULT | FP_T_MAPPED;
    return 0;
}
