/*
 * Containment (forkpool_options.contain): everything a task starts lives in
 * a PID namespace of its own, which the kernel empties, setsid or not, when
 * the task's process ends however it ends, or when the program is killed.
 *
 * The task's own process (a FRESH child, a worker, a program) stays in the
 * program's namespace, so its pid, signals, exit status and timeouts are
 * exactly as without containment: a namespace's first process (its "init")
 * ignores every signal it has no handler for, and would change all three.
 * Instead the task's process unshares CLONE_NEWPID (its later children go
 * into the new namespace) and forks a small init there that only reaps
 * orphans and dies with it (PR_SET_PDEATHSIG). When that init dies, the
 * kernel kills every process of the namespace. The chain holds when the
 * program is SIGKILLed: the task's process gets its PDEATHSIG, its init gets
 * its own.
 *
 * What a task's descendants see: getppid() 0 (the task's process is outside
 * their namespace), 1 once orphaned (the init), and pids from 2.
 */
#ifndef FP_CONTAIN_H
#define FP_CONTAIN_H

#include <sys/types.h>

/* In forkpool_create: 0 if this process may make PID namespaces, else -1
   with errno (EPERM: the kernel refuses, e.g. no CAP_SYS_ADMIN and no
   user namespace). Forks a short-lived probe. */
int fp_contain_probe(void);

/* In a new task process, during its set-up (system calls only, so also in
   a vfork child): the namespace and its init; *init gets the init's pid.
   0, or -1 + errno. */
int fp_contain_enter(pid_t *init);

/* Ends the namespace: its init SIGKILLed and reaped, so every process of
   it is gone on return; this process's children (all in it) are reaped on
   the way. *init 0: none (nothing done); set to 0. */
void fp_contain_end(pid_t *init);

/* A new namespace after fp_contain_end, for a worker's next task (the kernel
   allows one unshare per namespace: this process's future children are
   first pointed back at its own). 0, or -1 + errno. */
int fp_contain_again(pid_t *init);

/* The init of this process's namespace (a FRESH child or worker), 0 if
   not contained: set by the set-up, ended before the process exits. */
extern pid_t fp_contain_init;

#endif
