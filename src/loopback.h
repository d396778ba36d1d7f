/*
 * FORKPOOL_MPI without MPI, for tests (loopback.c): `serving` agents
 * (agent.c) forked by this process stand in for the serving ranks, each on
 * a socket; FORKPOOL_MPI pools created afterwards send their tasks there,
 * exactly as to ranks of an MPI job. Not part of the public API.
 */
#ifndef FP_LOOPBACK_H
#define FP_LOOPBACK_H

#include <sys/types.h>

/* Forks the agents and waits for their HELLO. Call before creating pools
   (the agents are forks of this process). 0, or -1 + errno. */
int fp_loopback_start(int serving);
/* The pid of rank's agent (a test kills it to lose the rank), or 0. */
pid_t fp_loopback_pid(int rank);
/* Ends the agents (END, then their BYE) and reaps them; FORKPOOL_MPI pools
   still alive run locally from now on. 0, or -1 (an agent was lost). */
int fp_loopback_stop(void);

#endif
