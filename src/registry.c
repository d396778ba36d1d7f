/* The registry of the library's fds (registry.h). */
#include <fcntl.h>
#include <pthread.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
#include <sys/single_threaded.h>
#endif
#include <unistd.h>

#include "registry.h"

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static fp_list registry = {&registry, &registry};
static fp_list *inherited; /* in a child: the parent's entries, inert */

/*
 * Whether the lock is needed: not while the process has one thread, as no
 * other thread can then change the registry or fork. No thread starts inside
 * a section (the library's one thread, the MPI build's heartbeat, starts in
 * forkpool_mpi_init), so a lock and its unlock agree.
 * Skipping it matters after a fork: a lock is a write to its page, which
 * the child shares until then, and costs the parent a page copy (issue #13).
 */
static int registry_shared(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
    return !__libc_single_threaded;
#else
    return 1;
#endif
}

void fp_registry_lock(void)
{
    if (registry_shared())
        pthread_mutex_lock(&registry_mutex);
}

void fp_registry_unlock(void)
{
    if (registry_shared())
        pthread_mutex_unlock(&registry_mutex);
}

void fp_registry_add(fp_reg *reg)
{
    fp_list_push_head(&registry, &reg->node);
}

void fp_registry_remove(fp_reg *reg)
{
    fp_list_remove(&reg->node);
}

void fp_registry_forget_all(void)
{
    FP_LIST_FOR(n, &registry) {
        fp_reg *reg = FP_LIST_ITEM(n, fp_reg, node);
        reg->forget(reg);
    }
    /* The parent's pools are not the child's: a task may make its own. */
    inherited = fp_list_first(&registry);
    fp_list_init(&registry);
    /* Free, whoever held the parent's: the child has one thread, which
       fp_registry_unlock would take as no lock to release. */
    pthread_mutex_init(&registry_mutex, NULL);
}

int fp_fd_high(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (moved == -1)
        return fd;
    close(fd);
    return moved;
}

void fp_close_if(int fd)
{
    if (fd >= 0)
        close(fd);
}
