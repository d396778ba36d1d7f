/*
 * pipe.h: --pipe and --pipepart (issue #12, item 4). --pipe splits standard
 * input into blocks, as GNU parallel's spreadstdin does (same block
 * boundaries for the same input and options), each block the stdin of one
 * job; the tool holds at most about two blocks (plus, in the library, one
 * per running job). --pipepart splits a seekable file (-a FILE) by offsets:
 * each job's command is run by a small runner (this binary, re-executed)
 * that hands the command its part straight from the file (the file itself
 * for the last part, else a pipe filled with splice()), so no data passes
 * through the tool.
 *
 * Options (struct opts, parsed here): --block SIZE, --recstart S, --recend
 * S (printf escapes \n \t \r \0 \\), -N records per job, -L lines per
 * record, --rrs, --header N|: (lines sent first to every job),
 * --block-timeout S (a block not full after S seconds goes with the whole
 * records read so far, as in GNU parallel).
 */
#ifndef FPC_PIPE_H
#define FPC_PIPE_H

#include <stdbool.h>
#include <stddef.h>

#include "options.h"

struct pipe_src;

/* One job's input. --pipe: data[0..len), a view valid until the next
   pipe_next or pipe_fill (or `owned`, a copy the job keeps for --retries).
   --pipepart: the file's bytes [poff[k], poff[k] + plen[k]) for k = 0 (the
   header) then 1 (the part). */
struct pipe_blk {
    const char *data;
    size_t len;
    char *owned;
    const char *path;
    unsigned long long poff[2], plen[2];
};

/* Checks the --pipe options in o and sets up *out (NULL when neither
   --pipe nor --pipepart was given). jobs: -j resolved (--pipepart's
   default block size depends on it). 0, or -1 after a message. */
int pipe_init(struct pipe_src **out, const struct opts *o, unsigned jobs);

/* The fd to poll for input when pipe_next returned 0. */
int pipe_fd(const struct pipe_src *p);

/* --block-timeout: milliseconds until the block being read is due
   anyway (poll() no longer; 0: call pipe_next now), or -1. */
int pipe_wait_ms(const struct pipe_src *p);

/* One read() of standard input into the buffer. 0, or -1 and errno. */
int pipe_fill(struct pipe_src *p);

/* The next job's input into *b: 1; 0 when input must be read first (poll
   pipe_fd, then pipe_fill); -1 when there is no more; -2 on error (errno,
   after a message for a bad file). */
int pipe_next(struct pipe_src *p, struct pipe_blk *b);

/* --cat: writes what the job would read (b, with its header) to a new file
   in dir; *path names it (free it; the caller removes the file). 0, or -1
   and errno. */
int pipe_blk_save(const struct pipe_src *p, const struct pipe_blk *b, const char *dir,
                  char **path);

/* Before a job starts: with retries, keeps a copy of b's data (b->owned);
   sets opts' stdin (--pipe) or replaces *argv by the runner's argv around
   it (--pipepart). 0, or -1 (ENOMEM). */
int pipe_job_prepare(const struct pipe_src *p, struct pipe_blk *b, bool retries,
                     char ***argv, const void **input, size_t *input_len);

/* --roundrobin: replaces *argv by the runner's argv around it, which runs
   the command with the FIFO fifo as its stdin (robin.h). 0, or -1
   (ENOMEM). */
int pipe_fifo_argv(const struct pipe_src *p, const char *fifo, char ***argv);

/* Frees what a job's pipe_blk owns. */
void pipe_blk_free(struct pipe_blk *b);

void pipe_free(struct pipe_src *p);

/* The runners of --pipepart and --roundrobin: when argv is a runner's (its
   argv[1] is the marker), runs it and does not return (execs the job's
   command); else returns. Call first thing in main. */
void pipe_runner(int argc, char **argv);

#endif
