/*
 * The child -> parent framing. Every frame is a 16-byte header (magic, type,
 * payload length; native byte order, since both ends are the same program)
 * followed by the payload. The decoder is incremental and validates
 * everything: the child may be crashed, confused or hostile.
 */
#ifndef FP_WIRE_H
#define FP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define FP_WIRE_HDR 16
#define FP_WIRE_MAGIC 0x314b5046u        /* "FPK1" */
#define FP_WIRE_MAX_THROW ((size_t)1 << 20) /* a thrown error's type+message */
#define FP_WIRE_FIRST_ALLOC ((size_t)1 << 20) /* payload buffers start at most
                                                 this big and double as data
                                                 arrives, so a length a task
                                                 claims costs nothing until
                                                 the bytes really come */

enum fp_frame_type {
    FP_FRAME_MESSAGE = 1, /* forkpool_send: payload = the message             */
    FP_FRAME_RESULT = 2,  /* forkpool_return: payload = the result            */
    FP_FRAME_THROW = 3,   /* forkpool_throw: i32 code, u32 type length, type,
                             message                                          */
    FP_FRAME_END = 4,     /* the function returned: i32 return value; from a
                             worker, then u32 zero and what the task used
                             (child.h: fp_worker_end): u64 user us, u64 sys
                             us, u64 the worker's peak RSS KiB                */
    FP_FRAME_TASK = 5,    /* parent -> worker only (workers.c); a child that
                             sends it breaks the protocol                     */
    FP_FRAME_RESULT_FD = 6, /* the result is in a memfd the child holds open:
                               u32 fd number in the child, u64 result length
                               (1 .. max_output); see src/result.c          */
    FP_FRAME_SPAWN = 7,   /* the child's set-up failed before the task ran:
                             i32 errno, i32 step (launch.h); it exits 127   */
    FP_FRAME_WAKE = 8     /* a worker put an END in its ring (worker.h) while
                             the parent may sleep: empty                    */
};

#define FP_WIRE_END_LEN 4
#define FP_WIRE_END_USAGE_LEN 32
#define FP_WIRE_RESULT_FD_LEN 12
#define FP_WIRE_SPAWN_LEN 8

/*
 * Receives one whole frame. payload is malloc'd (NULL when len is 0) and
 * becomes the callee's, whatever it returns. Return 0 to go on, -1 to stop
 * the decoder (the caller then knows why).
 */
typedef int (*fp_frame_fn)(void *ud, unsigned type, unsigned char *payload, size_t len);

typedef struct fp_decoder {
    size_t max_data;               /* limit for MESSAGE and RESULT payloads
                                      and RESULT_FD's result length         */
    unsigned char hdr[FP_WIRE_HDR];
    size_t hdr_got;
    unsigned type;                 /* of the frame whose payload is being read */
    unsigned char *buf;
    size_t len, got, cap;          /* payload: claimed, received, allocated */
    int in_payload;
    int error;                     /* a forkpool_error_kind once feed failed */
    char message[160];
} fp_decoder;

void fp_decoder_init(fp_decoder *d, size_t max_data);
void fp_decoder_free(fp_decoder *d);

/* Feeds n bytes. Returns 0, or -1: d->error and d->message say why (error 0:
   the callback stopped it). After -1 the decoder must not be fed again. */
int fp_decoder_feed(fp_decoder *d, const void *bytes, size_t n, fp_frame_fn fn, void *ud);

/* While a payload is being read, the place and size where more of it can be
   read straight into (no copy; the buffer grows as it fills); 0 otherwise. */
size_t fp_decoder_direct(fp_decoder *d, void **dst);
/* n bytes were read into the place fp_decoder_direct gave. As feed. */
int fp_decoder_direct_done(fp_decoder *d, size_t n, fp_frame_fn fn, void *ud);

/* 1 if the decoder is between frames (nothing partial buffered). */
int fp_decoder_idle(const fp_decoder *d);

/* Writes a header for a frame of this type and payload length. */
void fp_wire_header(unsigned char hdr[FP_WIRE_HDR], unsigned type, size_t len);

/* Encodes a RESULT_FD payload. */
void fp_wire_result_fd(unsigned char p[FP_WIRE_RESULT_FD_LEN], int fd, size_t len);
/* Reads a RESULT_FD payload the decoder delivered (it has checked it). */
void fp_wire_parse_result_fd(const unsigned char *p, int *fd, size_t *len);

/* Encodes an END payload with usage (a worker's). */
void fp_wire_end_usage(unsigned char p[FP_WIRE_END_USAGE_LEN], int32_t rc, uint64_t user_us,
                       uint64_t sys_us, uint64_t maxrss_kib);
/* Reads an END payload the decoder delivered (it has checked its length):
   its return value, and the usage if it has one (1; else 0). */
int fp_wire_parse_end(const unsigned char *p, size_t len, int32_t *rc, uint64_t usage[3]);

/* Encodes a whole SPAWN frame (header and payload). */
void fp_wire_spawn(unsigned char f[FP_WIRE_HDR + FP_WIRE_SPAWN_LEN], int err, int step);
/* Reads a SPAWN payload the decoder delivered (it has checked its length). */
void fp_wire_parse_spawn(const unsigned char *p, int *err, int *step);
/* 1 if hdr is a valid header of a frame of this type and payload length. */
int fp_wire_is(const unsigned char hdr[FP_WIRE_HDR], unsigned type, size_t len);

/*
 * A call: a task's function and its argument, as it crosses to a process
 * that runs it (a worker's TASK frame payload, a fork server request's
 * blob): u32 sequence number (a worker's ring slot; 0 elsewhere), u32 zero,
 * the function pointer (valid in the receiver: a fork of this program), then
 * the argument bytes.
 */
#define FP_CALL_HDR 16
void fp_call_header(unsigned char h[FP_CALL_HDR], uint32_t seq, void (*fn)(void));
/* Splits a call of len bytes. 0, or -1 if it is too short. */
int fp_call_parse(const unsigned char *p, size_t len, uint32_t *seq, void (**fn)(void),
                  const unsigned char **arg, size_t *arg_len);

/* Splits a THROW payload. 0, or -1 if it is malformed. */
int fp_wire_parse_throw(const unsigned char *p, size_t len, int *code, const char **type,
                        size_t *type_len, const char **msg, size_t *msg_len);

#endif
