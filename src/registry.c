/* The registry of the library's fds (registry.h). */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "registry.h"

static pthread_mutex_t fp_registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static fp_reg *fp_registry;
static fp_reg *fp_inherited; /* in a child: the parent's entries, inert */

void fp_registry_lock(void)
{
    pthread_mutex_lock(&fp_registry_mutex);
}

void fp_registry_unlock(void)
{
    pthread_mutex_unlock(&fp_registry_mutex);
}

void fp_registry_add(fp_reg *reg)
{
    reg->prev = NULL;
    reg->next = fp_registry;
    if (fp_registry)
        fp_registry->prev = reg;
    fp_registry = reg;
}

void fp_registry_remove(fp_reg *reg)
{
    if (reg->prev)
        reg->prev->next = reg->next;
    else
        fp_registry = reg->next;
    if (reg->next)
        reg->next->prev = reg->prev;
}

void fp_registry_forget_all(void)
{
    for (fp_reg *r = fp_registry; r; r = r->next)
        r->forget(r);
    /* The parent's pools are not the child's: a task may make its own. */
    fp_inherited = fp_registry;
    fp_registry = NULL;
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
