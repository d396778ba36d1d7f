/*
 * forkpool: run C functions in child processes, asynchronously.
 *
 * A program hands functions to a pool; each runs in a child process (a fork
 * of the program), and the parent receives the child's result bytes through
 * `then` handlers, failures through `catch`, runaway tasks through `timeout`,
 * and waits with forkpool_await / forkpool_wait / forkpool_poll.
 *
 * Threads: a pool and its tasks belong to one thread at a time; the library
 * takes no locks on a pool. Different pools may be used from different
 * threads. Handlers run in the thread that calls await/wait/poll, never in a
 * signal handler.
 *
 * fork: a pool copied into a child process (a task's, or the host's own
 * fork) is inert there: calls on it fail with EINVAL or do nothing, and
 * forkpool_destroy only frees the copy's memory; it never signals, reaps or
 * closes anything of the parent's.
 *
 * Errors: functions that can fail for system reasons return NULL or -1 and set
 * errno. A task's own failure is an forkpool_error delivered to its catch
 * handlers and kept on the task.
 *
 * Every function that takes a task accepts NULL and then fails with EINVAL
 * (returns NULL or -1), so a chain after a failed forkpool_run cannot crash.
 *
 * Exit detection: pidfd + epoll where the kernel has pidfd_open (Linux 5.3),
 * else a fallback that reaps only the pool's own pids with
 * waitid(P_PID, WNOHANG), polled after a child's channel closes and every
 * 50 ms otherwise. Chosen at run time; the environment variable
 * FORKPOOL_NO_PIDFD=1, read by forkpool_create, forces the fallback (tests,
 * debugging). The library never calls waitpid(-1) and never changes the
 * host's SIGCHLD disposition.
 */
#ifndef FORKPOOL_H
#define FORKPOOL_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FORKPOOL_VERSION "0.1.0"

typedef struct forkpool forkpool;           /* a pool of child processes            */
typedef struct forkpool_task forkpool_task; /* the parent's handle on one call      */
typedef struct forkpool_ctx forkpool_ctx;   /* the child's side of one running task */

/*
 * Runs in the child. arg/len: the bytes copied at forkpool_run() (arg is never
 * NULL, even when len is 0). Return 0 for success; the task's result is what
 * the function passed to forkpool_return (no call: an empty result). Any other
 * return value fails the task with FORKPOOL_ERR_THROWN, type "forkpool.return"
 * and code set to that value, unless forkpool_throw was called first.
 */
typedef int (*forkpool_fn)(forkpool_ctx *ctx, const void *arg, size_t len);

typedef enum {
    FORKPOOL_FRESH,   /* a new child per task (the default)                     */
    FORKPOOL_WORKERS, /* `concurrency` long-lived workers, forked lazily, each
                         running many tasks in turn (see "WORKERS mode")        */
    FORKPOOL_INLINE,  /* in the calling process, for debugging: no isolation, no
                         timeouts, a crash or exit() in a task ends the program */
    FORKPOOL_MPI      /* on the serving ranks of an MPI job (forkpool_mpi.h),
                         each task in a child of its own there; without MPI
                         (the plain library, no forkpool_mpi_init, or one
                         rank), in children of this process as FRESH. Either
                         way a function must be registered (forkpool_register)
                         and child_init is EINVAL. See "MPI mode".            */
} forkpool_mode;

/* One step of a kill sequence (forkpool_options.kill_sequence). */
typedef struct forkpool_kill_step {
    int signal;   /* sent to the task's process group (then SIGCONT, so a
                     stopped task acts on it); 1..SIGRTMAX                    */
    long wait_ms; /* then at most this long for it to end before the next
                     step; >= 0                                             */
} forkpool_kill_step;

#define FORKPOOL_KILL_STEPS_MAX 16

typedef struct forkpool_options {
    unsigned concurrency;  /* most tasks running at once; 0: online CPUs        */
    forkpool_mode mode;    /* see forkpool_mode                                 */
    long timeout_ms;       /* default limit per task, counted from its start;
                              0: none; negative: EINVAL                         */
    long kill_grace_ms;    /* on timeout or cancel, SIGTERM to the task's
                              process group (descendants that left it are
                              killed at once), then SIGKILL after this many
                              ms; 0: 200; negative: EINVAL. The same as a
                              kill_sequence of {SIGTERM, kill_grace_ms}.       */
    size_t max_output;     /* most bytes in one result or one message; a task
                              that sends more fails with FORKPOOL_ERR_OUTPUT
                              and is killed; 0: unlimited                       */
    void (*child_init)(void *arg); /* runs in each new child before its task;
                              INLINE: once, in the calling process, at create   */
    void *child_init_arg;  /* passed to child_init                              */
    size_t max_memory;     /* address-space limit per child (RLIMIT_AS), bytes;
                              allocations past it fail with ENOMEM inside the
                              task; 0: none. Not in INLINE mode.                */
    long max_cpu_ms;       /* CPU time per task (not wall time); past it the
                              child gets SIGXCPU, then SIGKILL a second later,
                              and fails SIGNALED with a message naming the
                              limit; exec tasks: rounded up to whole seconds;
                              0: none; negative: EINVAL. Not in INLINE mode.   */
    unsigned max_tasks_per_worker; /* WORKERS: a worker exits after this many
                              tasks and a fresh one takes its place (bounds
                              what a leaking task can pile up); 0: never       */
    int fork_server;       /* non-zero: forkpool_create starts a helper process
                              and every child (FRESH) or worker (WORKERS) is
                              forked from it, so starting one costs the same
                              however large the program has grown since, and
                              threads started after create cannot leave locks
                              held in children. A child then sees the program
                              as it was at forkpool_create, plus its argument
                              bytes. Exit detection, timeouts and kills work
                              as without it (children are the pool process's
                              own, by CLONE_PARENT). A helper that dies is
                              replaced at the next start (a snapshot of the
                              program then); if that fails, the task fails
                              FORKPOOL_ERR_SPAWN. Not in INLINE mode.          */
    int keep_seed;         /* 0: each child (FRESH) or worker reseeds libc's
                              rand()/random() and drand48() from
                              getrandom(), so children do not draw the same
                              numbers; non-zero: children keep the program's
                              state (reproducible runs). Other generators
                              are the program's to seed (see README).      */
    int capture_stderr;    /* non-zero: each function task's stderr (fd 2 of
                              its child, or of its worker during the task)
                              is captured, the last 64 KiB of it kept:
                              forkpool_task_stderr returns it, and the
                              message of a task that crashed, exited or
                              threw ends with its last non-empty line
                              ("...; stderr: LINE"). 0: stderr is the
                              program's. INLINE: not captured (the task
                              runs in the caller). FORKPOOL_MPI: EINVAL
                              (not yet). Programs (forkpool_exec) have
                              their own: FORKPOOL_CAPTURE_STDERR.          */
    int contain;           /* non-zero: each task's process (FRESH child,
                              worker, program) puts what it starts into a
                              PID namespace of its own, emptied by the
                              kernel when that process ends however it ends
                              (setsid or not), and when the program is
                              killed, even by SIGKILL. The task's own pid,
                              signals, timeouts and exit status are as
                              without it; in its descendants getppid() is
                              0 (the task's process is outside their
                              namespace), or 1 once orphaned.
                              A worker gets a new namespace after each task.
                              A task's process may not start threads
                              (pthread_create: EINVAL; the kernel refuses
                              them to a process whose children go into
                              another PID namespace).
                              Needs CAP_SYS_ADMIN (root): where the kernel
                              refuses, forkpool_create fails with EPERM.
                              INLINE and FORKPOOL_MPI: EINVAL.             */
    const forkpool_kill_step *kill_sequence; /* how a task is ended on
                              timeout or cancel (GNU parallel's --termseq):
                              each step's signal, then its wait; a task
                              still there after the last step gets SIGKILL
                              (the sequence may end with it). Descendants
                              that left the group die before the first
                              signal, as with kill_grace_ms. Copied at
                              create. NULL: {SIGTERM, kill_grace_ms}. EINVAL:
                              kill_steps 0 or above FORKPOOL_KILL_STEPS_MAX,
                              a bad signal or a negative wait, kill_grace_ms
                              set too, kill_steps without a sequence.      */
    unsigned kill_steps;   /* the number of steps in kill_sequence          */
    long spin_us;          /* WORKERS: how long the program, waiting for a
                              task's end while a CPU is free, and an idle
                              worker, waiting for its next task, poll
                              (yielding the CPU) before they sleep: a
                              wake-up from another CPU costs more than a
                              small task. Adaptive: after a wait that
                              outlasts it, up to the next 64 waits sleep at
                              once. 0: 20 us; negative: never poll. EINVAL
                              above 100,000 (100 ms). Other modes: unused. */
} forkpool_options;

typedef enum {
    FORKPOOL_ERR_THROWN = 1, /* forkpool_throw(), or the function returned non-zero */
    FORKPOOL_ERR_EXITED,     /* the child called exit()/_exit() before the task finished */
    FORKPOOL_ERR_SIGNALED,   /* the child died of a signal we did not send (a crash) */
    FORKPOOL_ERR_TIMEOUT,    /* ran past its limit and was killed                    */
    FORKPOOL_ERR_CANCELLED,  /* forkpool_cancel() or forkpool_stop()                 */
    FORKPOOL_ERR_SPAWN,      /* the child could not be created, or its set-up failed
                                before the function or program ran (the message
                                names the step: max_memory, max_cpu_ms, ...)     */
    FORKPOOL_ERR_OUTPUT,     /* result or message larger than max_output             */
    FORKPOOL_ERR_PROTOCOL,   /* the child's messages to the parent were malformed    */
    FORKPOOL_ERR_LOST        /* FORKPOOL_MPI: the rank running the task was lost     */
} forkpool_error_kind;

typedef struct forkpool_error {
    forkpool_error_kind kind;
    const char *type;    /* THROWN: the type given to forkpool_throw
                            ("forkpool.return" for a bare non-zero return);
                            other kinds: "forkpool.exited", "forkpool.signaled",
                            "forkpool.timeout", "forkpool.cancelled",
                            "forkpool.spawn", "forkpool.output",
                            "forkpool.protocol", "forkpool.lost"               */
    const char *message; /* never NULL, never empty                             */
    int code;            /* THROWN: the return value (or -1 for forkpool_throw);
                            EXITED: exit status; SIGNALED: signal number;
                            SPAWN: errno; else 0                                */
} forkpool_error;

/*
 * Creates a pool. opts may be NULL (all defaults); it is copied. Returns NULL
 * and sets errno: EINVAL (negative timeout_ms, kill_grace_ms or max_cpu_ms,
 * unknown mode, fork_server with INLINE; child_init, fork_server or
 * capture_stderr with FORKPOOL_MPI; a bad kill_sequence), ENOMEM, or the
 * errno of a failed epoll_create1, timerfd_create, eventfd, or of starting the fork server.
 */
forkpool *forkpool_create(const forkpool_options *opts);

/* The most tasks pool runs at once: `concurrency` once defaulted (0: the
   online CPUs); for FORKPOOL_MPI in an MPI job, the sum over the serving
   ranks. 0 for NULL. */
unsigned forkpool_concurrency(const forkpool *pool);

/*
 * Kills every running task's process group with SIGKILL, reaps every child,
 * and frees the pool and all its tasks (released or not); no handler runs.
 * NULL is a no-op. Called from inside a handler, the pool is stopped at once
 * and freed when the outermost await/wait/poll returns, which then returns
 * -1 with errno ECANCELED.
 */
void forkpool_destroy(forkpool *pool);

/*
 * Queues fn(arg) to run in a child; arg[0..len) is copied now. The task
 * starts at once if fewer than `concurrency` tasks run, else when a slot
 * frees up, in the order queued. Returns the task, or NULL and errno: EINVAL
 * (NULL pool or fn, NULL arg with len > 0), ENOMEM. A child that cannot be
 * forked does not make this fail: the task fails with FORKPOOL_ERR_SPAWN.
 *
 * The child leads its own process group and is a child subreaper (a
 * descendant whose parent exits becomes its child). When the task ends,
 * however it ends, what is left of that group (descendants it did not wait
 * for) is killed. Descendants that left the group (setsid, setpgid) are
 * killed too: when the function returns, and before the child is signalled
 * for a timeout, cancel, bad output or destroy. One that left the group and
 * outlives a child that crashed or called exit() is orphaned to init.
 */
forkpool_task *forkpool_run(forkpool *pool, forkpool_fn fn, const void *arg, size_t len);

typedef void (*forkpool_then_fn)(forkpool_task *t, const void *result, size_t len, void *ud);
typedef void (*forkpool_catch_fn)(forkpool_task *t, const forkpool_error *err, void *ud);
typedef void (*forkpool_timeout_fn)(forkpool_task *t, void *ud);
typedef void (*forkpool_message_fn)(forkpool_task *t, const void *msg, size_t len, void *ud);

/*
 * Handlers. Each call returns t, so calls chain; NULL t or fn: NULL, EINVAL;
 * ENOMEM: NULL. Any number of each; they run in the order added, in the
 * thread that calls await/wait/poll. A handler added after its task finished
 * runs during the next await/wait/poll.
 *
 * then:        runs with the result (valid until the task is released) when
 *              the task succeeded.
 * catch:       takes any failure. catch_type: only failures whose error type
 *              equals `type` (copied). Of all catch handlers, the first that
 *              matches runs, and only that one.
 * timeout:     runs when the task timed out; a timed-out task that has at least
 *              one timeout handler does not reach its catch handlers, else they
 *              get FORKPOOL_ERR_TIMEOUT.
 * on_message:  runs for each forkpool_send() from the child (msg never NULL,
 *              even for 0 bytes), in order, before
 *              then/catch. Messages that arrive while the task has no
 *              on_message handler are kept until one is added, up to 64 MiB
 *              a task: past that the task fails with FORKPOOL_ERR_OUTPUT.
 * set_timeout: this task's limit in ms from its start (0: none), replacing the
 *              pool's default; negative: NULL, EINVAL; a running task's
 *              deadline moves at once.
 */
forkpool_task *forkpool_then(forkpool_task *t, forkpool_then_fn fn, void *ud);
forkpool_task *forkpool_catch(forkpool_task *t, forkpool_catch_fn fn, void *ud);
forkpool_task *forkpool_catch_type(forkpool_task *t, const char *type,
                                   forkpool_catch_fn fn, void *ud);
forkpool_task *forkpool_timeout(forkpool_task *t, forkpool_timeout_fn fn, void *ud);
forkpool_task *forkpool_on_message(forkpool_task *t, forkpool_message_fn fn, void *ud);
forkpool_task *forkpool_set_timeout(forkpool_task *t, long ms);

/*
 * Handlers for every task of the pool (its forkpool_run and forkpool_exec
 * tasks; not forkpool_map's runs, whose items go to on_result). Each runs
 * once per task, in the thread that runs handlers, after that task's own
 * handlers (those added before it finished):
 * pool_then:  for each task that succeeded, with its result.
 * pool_catch: for each failure that none of the task's own catch or
 *             timeout handlers took, cancellations included; a failure it
 *             takes is not counted by forkpool_await.
 * One of each: a second call replaces the first; fn NULL removes it. NULL
 * pool: errno EINVAL, nothing else. The typical use collects outcomes of
 * tasks released at once (forkpool_task_release), by type and message.
 */
void forkpool_pool_then(forkpool *pool, forkpool_then_fn fn, void *ud);
void forkpool_pool_catch(forkpool *pool, forkpool_catch_fn fn, void *ud);

/*
 * Waits until nothing is queued or running and every due handler ran.
 * Returns the number of failures no handler took since the previous await
 * returned (each failure counted once, when its handlers were first run;
 * a task cancelled by forkpool_cancel or forkpool_stop is not a failure
 * here, though catch handlers get it and stats count it), or
 * -1 and errno: EINVAL (NULL pool), EDEADLK (called from a handler), or the
 * errno of a failed epoll_wait/read.
 */
int forkpool_await(forkpool *pool);

/* Waits until t finished and its handlers ran: 0 succeeded, 1 failed, or -1
   and errno (EINVAL, EDEADLK, as await). */
int forkpool_wait(forkpool_task *t);

/*
 * One step: runs due handlers, then waits at most timeout_ms (-1: until
 * something happens; 0: not at all) for a child's output, exit or deadline,
 * handles what happened and runs the handlers that became due. Returns at
 * once if nothing is queued or running. Returns how many tasks are still
 * queued or running, or -1 and errno (EINVAL, EDEADLK, as await).
 */
int forkpool_poll(forkpool *pool, int timeout_ms);

/* An fd (epoll) that is readable whenever forkpool_poll has work, including a
   timeout falling due; for the caller's own poll()/epoll loop. -1, EINVAL for
   NULL. Owned by the pool: do not close it. */
int forkpool_fd(const forkpool *pool);

/* Queued: fails with FORKPOOL_ERR_CANCELLED and never starts. Running: its
   process group gets the kill sequence (by default SIGTERM, then SIGKILL
   after kill_grace_ms), and it fails with FORKPOOL_ERR_CANCELLED once
   reaped. Returns 0, or -1 and errno: EALREADY (it had finished, was
   already cancelled, or is already being killed for its timeout or bad
   output: it will fail with that), EBUSY (INLINE: it is running, on the
   caller's stack), EINVAL (NULL). */
int forkpool_cancel(forkpool_task *t);

/* Cancels everything queued or running (see forkpool_cancel). NULL: no-op. */
void forkpool_stop(forkpool *pool);

/*
 * From now on new children see the program as it is now. A WORKERS worker
 * and the fork server are snapshots of the program when they were forked:
 * data built or changed after that is stale or missing in them. Refresh
 * replaces them: idle workers and the fork server at once, busy workers
 * after their current task (the tasks sent to them that had not started
 * go to new workers). Tasks running meanwhile run on undisturbed. FRESH
 * without a fork server and INLINE: nothing to do (0). Returns 0, or -1
 * and errno: EINVAL (NULL pool, or a copy inherited by a child), ENOTSUP
 * (FORKPOOL_MPI with serving ranks: they run copies of their own), or the
 * errno of starting the new fork server (the next task then tries again).
 */
int forkpool_refresh(forkpool *pool);

/*
 * In the child (the ctx given to the task function).
 *
 * forkpool_return: sets the task's result to data[0..len) (binary-safe, any
 * size); call it at most once. Returns 0, or -1 and errno: EINVAL (NULL ctx,
 * NULL data with len > 0), EALREADY (called before, or after forkpool_throw),
 * EMSGSIZE (INLINE, over max_output; a child is killed instead), or the
 * errno of a failed write to the parent.
 *
 * forkpool_throw: fails the task with FORKPOOL_ERR_THROWN, the given type
 * (NULL or "": "forkpool.thrown") and a printf-style message; whatever the
 * function returns afterwards, the task has failed. Returns -1, so
 * `return forkpool_throw(ctx, "io", "cannot open %s", path);` reads well.
 *
 * forkpool_send: sends msg[0..len) to the task's on_message handlers while
 * the task runs. 0, or -1 and errno (EINVAL, EMSGSIZE as above, or a failed
 * write's).
 */
int forkpool_return(forkpool_ctx *ctx, const void *data, size_t len);
int forkpool_throw(forkpool_ctx *ctx, const char *type, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int forkpool_send(forkpool_ctx *ctx, const void *msg, size_t len);

/*
 * Programs as tasks.
 *
 * forkpool_exec runs argv[0] (searched in PATH when it has no '/') with
 * argv, and no shell. The child is made with vfork-style clone + execve, so
 * its cost does not grow with the parent's size; it leads its own process
 * group, is a child subreaper (the flag survives execve: descendants that
 * left its group are killed on timeout and cancel, not once it exited),
 * dies with the parent (PR_SET_PDEATHSIG), starts with default signal
 * handlers and an empty mask, and receives only fds 0, 1 and 2. Its result
 * is its captured stdout (empty unless FORKPOOL_CAPTURE_STDOUT). Outcomes:
 * exit status 0: success; non-zero: FORKPOOL_ERR_EXITED, code = status;
 * killed by a signal: FORKPOOL_ERR_SIGNALED; not found or not executable:
 * FORKPOOL_ERR_SPAWN, code = errno, with a message naming the program.
 * Timeouts, cancel, stop, then/catch and max_output (per captured stream)
 * work as for function tasks; both streams and stdin are served by the
 * event loop at once, so large outputs cannot deadlock. Not in INLINE mode.
 */
enum { FORKPOOL_CAPTURE_STDOUT = 1, FORKPOOL_CAPTURE_STDERR = 2 };

typedef struct forkpool_exec_options {
    const char *const *envp; /* NULL: inherit the environment               */
    const char *cwd;         /* NULL: inherit                                */
    const void *input;       /* bytes for the program's stdin (copied);
                                NULL: /dev/null                             */
    size_t input_len;
    int capture;             /* FORKPOOL_CAPTURE_*; 0: inherit stdout/stderr */
} forkpool_exec_options;

/* Queues argv to run (copied now; opts may be NULL). NULL and errno: EINVAL
   (NULL pool, argv or argv[0], empty argv[0], INLINE pool, unknown capture
   bits), ENOMEM. A program that cannot be started fails the task with
   FORKPOOL_ERR_SPAWN, not this call. */
forkpool_task *forkpool_exec(forkpool *pool, const char *const argv[],
                             const forkpool_exec_options *opts);

/* An exec task's captured stderr so far (whatever its outcome; never NULL
   for a task, even when empty); a function task's once it ended, with
   capture_stderr (the last 64 KiB; else ""); NULL + EINVAL for NULL. */
const void *forkpool_task_stderr(const forkpool_task *t, size_t *len);
/* An exec task's captured stdout so far, whatever its outcome (a function
   task: its result once it succeeded); NULL + EINVAL for NULL. */
const void *forkpool_task_stdout(const forkpool_task *t, size_t *len);

/*
 * WORKERS mode. Each worker is a fork of the program (or of the fork
 * server) made when a task first needs it; child_init runs once per worker.
 * A worker sees the program as it was when the worker was forked, not as it
 * is when a task is queued: pass what a task needs in its argument bytes.
 * Results, messages, throw, timeouts, cancel and max_output behave as in
 * FRESH. A task that crashes, exits, times out, is cancelled while running
 * or breaks the protocol kills only its own worker: it fails with the same
 * kind as in FRESH, a fresh worker replaces the dead one, and the tasks that
 * had been sent to that worker but not started run on another worker
 * untouched. Several tasks are kept in flight per worker (a worker never
 * waits for the parent between tasks); one sent ahead counts as QUEUED (state,
 * stats, pid 0, cancel: it never runs) until it is its worker's current
 * task, and its timeout counts from then; an idle worker takes over tasks
 * waiting behind a long one. forkpool_task_pid gives the worker's pid.
 * Processes a task leaves behind are killed and reaped when it returns, and
 * stdio is flushed, as in FRESH. Unlike FRESH, what a task changes in its
 * process (globals, signal handlers, memory it leaks, files it leaves open)
 * is seen by the next task on that worker: max_tasks_per_worker bounds
 * that. A WORKERS task's result crosses as bytes, also one made with
 * forkpool_result_buffer. Program tasks (forkpool_exec) run as in FRESH,
 * each taking one of the concurrency slots.
 */

/*
 * Batched map (any mode but INLINE runs it in children; INLINE runs it in
 * place). Runs fn on each of count items (item_size bytes each, contiguous
 * at items), many items per round trip; each call sees one item as its
 * argument and may forkpool_return / forkpool_result_buffer (plain memory,
 * copied) / forkpool_throw / return non-zero as a task would
 * (forkpool_send is EINVAL in a map item). on_result runs once
 * per item, in input order, in the calling thread: result/len the item's
 * result, err NULL; or, for a failed item, result NULL and err its error
 * (valid during the call). An item that crashes or times out (timeout_ms
 * applies to each item) fails only itself: the items after it in its batch
 * run again elsewhere (so do the items before it whose results its batch
 * had not sent yet: an item may run more than once; on_result runs once).
 * Returns the number of failed items, or -1 and errno:
 * EINVAL (NULL pool/fn/on_result, NULL items with count > 0, item_size 0
 * with count > 0, count * item_size overflowing), EDEADLK (from a handler),
 * ENOMEM, ECANCELED (the pool was stopped or destroyed meanwhile; on_result
 * has run for a prefix). count 0: returns 0, calls nothing.
 * Other tasks of the pool keep running and their handlers run meanwhile.
 * The items are read until it returns: do not change them meanwhile. Runs
 * go to the pool as tasks (a batch of items each): they take its slots,
 * count in forkpool_get_stats, and each child runs child_init once; a run's
 * CPU time counts against max_cpu_ms as a whole.
 */
typedef void (*forkpool_map_fn)(size_t index, const void *result, size_t len,
                                const forkpool_error *err, void *ud);
int forkpool_map(forkpool *pool, forkpool_fn fn, const void *items, size_t count,
                 size_t item_size, forkpool_map_fn on_result, void *ud);

/*
 * forkpool_map for items of varying sizes (paths, strings, records): fn
 * sees items[i].data[0..len) as its argument (never NULL, even for 0
 * bytes), and on_result gets i. Batches, failures, timeouts, modes and
 * return values as forkpool_map; EINVAL also for an item with NULL data and
 * len > 0, or items whose total size overflows size_t. Neither the array
 * nor the bytes it points to may change until it returns (FRESH without
 * fork_server and INLINE read them in place; other modes copy them into the
 * batches).
 */
typedef struct forkpool_item {
    const void *data; /* the item's bytes; may be NULL when len is 0 */
    size_t len;
} forkpool_item;
int forkpool_map_items(forkpool *pool, forkpool_fn fn, const forkpool_item *items, size_t count,
                       forkpool_map_fn on_result, void *ud);

/*
 * In the child: memory for a result of len bytes, built in place. Once the
 * task function returns 0, the parent sees these bytes as the task's result
 * with no copy (the parent maps the same pages, read-only; below 128 KiB,
 * where copying costs less, in WORKERS mode for now, or if the parent may
 * not take the child's memfd because the program is not dumpable, they are
 * copied). Calling it again replaces the previous buffer. It counts as
 * forkpool_return: after it, forkpool_return fails with EALREADY, and
 * max_output applies to len. If the task fails afterwards (throw, non-zero
 * return, crash), the buffer is dropped. NULL and errno: EINVAL (NULL
 * ctx), EALREADY (forkpool_return or forkpool_throw came first), EMSGSIZE
 * (over max_output), ENOMEM; a failed call changes nothing (an earlier
 * buffer stays the result). In INLINE mode it is plain memory. It starts
 * zeroed: bytes the task does not write arrive as zeros.
 */
void *forkpool_result_buffer(forkpool_ctx *ctx, size_t len);

/*
 * In the child: like realloc for the result buffer. Resizes the buffer
 * forkpool_result_buffer (or this) gave to len bytes and returns where it
 * now is (it may move: pointers into the old one are stale): the first
 * min(old, len) bytes are kept, a grown tail is zero. Without a buffer yet
 * it is forkpool_result_buffer(ctx, len). NULL and errno as
 * forkpool_result_buffer's; a failed call changes nothing (the old buffer
 * stays the result, where it was).
 */
void *forkpool_result_resize(forkpool_ctx *ctx, size_t len);

typedef enum {
    FORKPOOL_QUEUED,
    FORKPOOL_RUNNING,
    FORKPOOL_SUCCEEDED,
    FORKPOOL_FAILED /* thrown, crashed, timed out, cancelled, ... */
} forkpool_state;

/*
 * MPI mode (FORKPOOL_MPI). A process that is not a fork of this one knows a
 * function only by a name: forkpool_register gives fn one, in every process
 * of the job, before forkpool_mpi_init (forkpool_mpi.h). forkpool_run and
 * forkpool_map of an unregistered function fail with ENOENT. The task's
 * argument, result and messages cross as bytes (no pointers into this
 * process). In an MPI job (rank 0 of the MPI build, after forkpool_mpi_init)
 * each task runs on a serving rank, in a child of its own there:
 * `concurrency` is tasks at once per serving rank (0: that rank's online
 * CPUs); timeout_ms, kill_grace_ms, max_output, max_memory, max_cpu_ms
 * and keep_seed apply there (max_tasks_per_worker does not: the children
 * there are FRESH ones); forkpool_task_pid is the child's pid on its rank,
 * known once it ended. Otherwise the pool runs its tasks here as FRESH
 * does, with the same rules for names. child_init and fork_server are
 * EINVAL.
 *
 * forkpool_register: 0, or -1 and errno: EINVAL (NULL fn, NULL or empty
 * name, or a name over 63 bytes), EEXIST (the name or fn is registered
 * already), ENOMEM. The library's own names start with "forkpool.".
 */
int forkpool_register(const char *name, forkpool_fn fn);

/* State of t; FORKPOOL_FAILED for NULL (with errno EINVAL). */
forkpool_state forkpool_task_state(const forkpool_task *t);
/* The result if t succeeded (never NULL then, even for 0 bytes), else NULL;
   *len (if len is not NULL) gets its size, or 0. Valid until release. */
const void *forkpool_task_result(const forkpool_task *t, size_t *len);
/* The error if t failed, else NULL. Valid until release. */
const forkpool_error *forkpool_task_error(const forkpool_task *t);
/* The child's pid once started (INLINE: getpid()), else 0. */
pid_t forkpool_task_pid(const forkpool_task *t);
/*
 * What a task used, once it ended (also in its handlers): its run time
 * (wall_s, from its start to its end as the pool saw them), its CPU time
 * (user_s, sys_s) and the peak resident set of its process (max_rss_kib).
 * FRESH and programs: the child's own figures (with the descendants it
 * waited for). WORKERS: the worker's CPU time during the task (a task
 * under 20 us is not measured: its run time counts as user time);
 * max_rss_kib is the worker's peak so far (it ran earlier tasks too). INLINE: the
 * calling thread's CPU time during the task, and the program's peak.
 * A task that never ran (cancelled while queued, or its start failed):
 * zeros. 0, or -1 and errno: EINVAL (NULL t or u), EBUSY (not ended yet),
 * ENOMEM (there was no memory to record it).
 */
typedef struct forkpool_usage {
    double wall_s, user_s, sys_s; /* the task's run time and CPU time        */
    long max_rss_kib;             /* peak RSS of its process (FRESH); of its
                                     worker (WORKERS)                         */
} forkpool_usage;
int forkpool_task_usage(const forkpool_task *t, forkpool_usage *u);

/* Gives the handle back: the task is freed once it finished and its handlers
   ran (at once if that is so). It keeps running meanwhile. t must not be used
   afterwards. NULL: no-op. */
void forkpool_task_release(forkpool_task *t);

typedef struct {
    size_t queued, running, succeeded, failed, timed_out, cancelled;
} forkpool_stats;

/* Counts since create. succeeded + failed + timed_out + cancelled = tasks
   finished; `failed` counts failures that are neither timeouts nor cancels.
   NULL pool: all zero. */
forkpool_stats forkpool_get_stats(const forkpool *pool);

/* "thrown", "exited", "signaled", "timeout", "cancelled", "spawn", "output",
   "protocol", "lost"; "unknown" for anything else. */
const char *forkpool_error_kind_name(forkpool_error_kind kind);

#ifdef __cplusplus
}
#endif

#endif /* FORKPOOL_H */
