/*
 * robin.h: --roundrobin (with --pipe), as GNU parallel's round_robin_write:
 * a block starts a new job while fewer than -j run; after that it goes to
 * a running job that has written out its last block (the search starts one
 * job further each time), and waits while none has. Each job keeps reading
 * until standard input ends, so at most -j jobs run in all; as in GNU
 * parallel, all -j run: those no block reached start at the end of input
 * and read nothing (jobs.c keeps their output and joblog line back).
 *
 * --fifo uses them too, one per job, opened by the job by its name ({}):
 * the tool opens it write-only once the job has (not read-write: closing
 * its end is the job's EOF), writes the job's block and closes it.
 *
 * --tee uses the same FIFOs: every job starts at once and each block goes
 * to all of them; the next is read once all took it (a job that ended
 * takes nothing more).
 *
 * A job's stdin is a FIFO of its own in a private directory: the tool holds
 * it open read-write (writes never block, and what it wrote stays in the
 * FIFO until the job reads it), and the runner (pipe.c) opens it as the
 * command's stdin, then removes its name, which tells the tool the job has
 * it: only then may the tool close its end at the end of input (closing it
 * earlier would discard the FIFO's contents). Then the tool also trades its
 * read-write fd for a write-only one (through /proc/self/fd), so that a
 * job that closes its stdin and runs on is given nothing more (EPIPE), as
 * a pipe's writer would, and no further block: with --tee it held the
 * other jobs back until it ended. The tool holds at most one block per job besides what the FIFO
 * holds.
 */
#ifndef FPC_ROBIN_H
#define FPC_ROBIN_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

struct robin;

/* Sets up n job slots with their FIFOs' directory under tmpdir (NULL:
   $TMPDIR, else /tmp). 0, or -1 after a message. */
int robin_init(struct robin **out, unsigned n, const char *tmpdir);

/* A slot (0..n-1) whose job runs and has nothing left to write, searching
   from one past the last slot returned; -1 when there is none. */
int robin_idle(struct robin *r);

/* A job starts on slot s with data[0..len) as the start of its stdin:
   makes and opens its FIFO, and *path names it (for the runner; valid until
   robin_stop). 0, or -1 and errno. */
int robin_start(struct robin *r, unsigned s, const char *data, size_t len, const char **path);

/* --fifo: a job starts on slot s, which reads data[0..len) (copied) from
   the FIFO *path names (valid until robin_stop), opening it by that name:
   makes the FIFO, which robin_flush opens write-only once the job has it
   open (checked every 10 ms: robin_pollfds), fills and closes. 0, or -1
   and errno. */
int robin_start_named(struct robin *r, unsigned s, const char *data, size_t len,
                      const char **path);

/* How many jobs robin_start has started. */
unsigned long robin_started(const struct robin *r);

/* Appends data[0..len) to what slot s's job reads (copied). 0, or -1
   (ENOMEM). */
int robin_give(struct robin *r, unsigned s, const char *data, size_t len);

/* --tee: appends data[0..len) to what every running job reads (copied).
   0, or -1 (ENOMEM). */
int robin_give_all(struct robin *r, const char *data, size_t len);

/* Whether every running job has taken all it was given (the next block may
   be read). */
bool robin_all_taken(const struct robin *r);

/* The job on slot s ended: its FIFO is closed and removed, what it had not
   read is dropped. */
void robin_stop(struct robin *r, unsigned s);

/* Standard input ended: each FIFO is closed once written out and taken by
   its job, which then reads EOF. */
void robin_eof(struct robin *r);

/* Writes what the FIFOs take without blocking, and closes those robin_eof
   allows; a FIFO whose job closed its end (EPIPE) is closed and its slot
   takes nothing more until robin_stop. Returns how many jobs took the last
   of what they were given in this call (each may take the next block now:
   robin_idle), a job that closed its end counting too, or -1 and errno. */
int robin_flush(struct robin *r);

/* Puts into fds (room for n) the FIFOs that wait to be written (POLLOUT);
   returns how many. *wait_ms: -1, or 10 while a job still has to take
   its FIFO (its name is checked again then), or one is to be closed or
   (--fifo) opened. */
size_t robin_pollfds(const struct robin *r, struct pollfd *fds, int *wait_ms);

/* Closes and removes every FIFO and the directory. NULL is allowed. */
void robin_free(struct robin *r);

#endif
