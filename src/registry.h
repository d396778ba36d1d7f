/*
 * The registry of the library's fds: the library's one piece of global
 * mutable state.
 *
 * A child must hold none of the library's fds but its own channel, and
 * fork() copies every pool's epoll, timer, event, pipe and pidfd
 * descriptors, not only its own pool's. So every live pool is on a
 * process-wide list, and a new child closes the fds of every pool on it
 * (each entry's forget callback). The list is read in the child while the
 * parent holds the lock across fork() (launch.c), so the child sees a
 * consistent copy even when other threads use other pools; every change to
 * a pool's set of fds takes the same lock.
 */
#ifndef FP_REGISTRY_H
#define FP_REGISTRY_H

#include "list.h"

typedef struct fp_reg {
    fp_list node;
    /* In a new child: closes the entry's fds in the copy and makes the
       copy inert (nothing may signal, reap or close through it). */
    void (*forget)(struct fp_reg *reg);
} fp_reg;

/* Both do nothing while the process has one thread. */
void fp_registry_lock(void);
void fp_registry_unlock(void);
/* With the lock held. */
void fp_registry_add(fp_reg *reg);
void fp_registry_remove(fp_reg *reg);
/* In a new child, the lock held (copied from the parent): forgets every
   entry and leaves the lock free. The old list stays reachable, so leak
   checkers in the child (valgrind) do not call another thread's pool lost. */
void fp_registry_forget_all(void);

/* Moves a library fd that landed on 0, 1 or 2 (the host had closed a
   standard stream) to 3 or above, close-on-exec: else a program run with
   inherited standard streams would receive it as one. Returns the fd to
   use; on failure the original, which still works for the library. */
int fp_fd_high(int fd);
/* close(fd) if fd >= 0. */
void fp_close_if(int fd);

#endif
