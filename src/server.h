/* The fork server (server.c): a helper process every child of a pool with
   fork_server set is cloned from. */
#ifndef FP_SERVER_H
#define FP_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "forkpool.h"
#include "proc.h"

/* What a child cloned from the helper runs, with the helper's copy of the
   pool, the request's blob and fds (the first is the child's channel,
   where a failed set-up step is reported); it must not return (it ends
   with _exit). */
typedef void (*fp_entry)(forkpool *pool, const void *blob, size_t len, const int *fds,
                         int nfds);

int fp_server_start(forkpool *pool);
void fp_server_stop(forkpool *pool);
/* In a new child: the copy's helper fds closed, the helper never touched. */
void fp_server_forget(forkpool *pool);
/*
 * A child for pr cloned from the helper, with a channel (pr's FP_FD_OUT)
 * and, when keep is set, a request socket (pr's FP_FD_IN), plus extra_fd
 * (or -1) for the child: entry gets them in this order. The child's ends
 * are made under the registry lock and parked in pr while pr sits on the
 * pool's list (so a fork by another thread meanwhile closes them in its
 * child); the lock is not held across the round trip. 0, or -1 + errno
 * with nothing left behind.
 */
int fp_server_proc(forkpool *pool, fp_proc *pr, int keep, fp_entry entry, const void *blob,
                   size_t len, int extra_fd);

#endif
