/*
 * A serving rank's agent (agent.c): runs the tasks rank 0 sends it, in
 * local pools, in a process that never started MPI (so it may fork at
 * will), and answers through a stream to its relay (mpi/mpi.c).
 */
#ifndef FP_AGENT_H
#define FP_AGENT_H

#include <sys/types.h>

/* Says HELLO on fd, then serves the requests read from fd until END
   (then 0) or the stream's end (then -1, EPIPE; or a failed write's
   errno). Either way every pool it made is destroyed (its tasks killed)
   and BYE is its last word. */
int fp_agent_serve(int fd);

/* Launches an agent (launch.c: its own process group, dead with this
   process, none of the library's fds, nor close_fds[0..nclose)): its pid,
   *fd our end of its socket; or -1 + errno. */
pid_t fp_agent_start(int *fd, const int *close_fds, int nclose);

#endif
