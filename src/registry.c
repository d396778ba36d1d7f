/* The registry of the library's fds (registry.h). */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "registry.h"

static pthread_mutex_t fp_registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static fp_list fp_registry = {&fp_registry, &fp_registry};
static fp_list *fp_inherited; /* in a child: the parent's entries, inert */

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
    fp_list_push_head(&fp_registry, &reg->node);
}

void fp_registry_remove(fp_reg *reg)
{
    fp_list_remove(&reg->node);
}

void fp_registry_forget_all(void)
{
    FP_LIST_FOR(n, &fp_registry) {
        fp_reg *reg = FP_LIST_ITEM(n, fp_reg, node);
        reg->forget(reg);
    }
    /* The parent's pools are not the child's: a task may make its own. */
    fp_inherited = fp_list_first(&fp_registry);
    fp_list_init(&fp_registry);
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
