/* A program task's arguments (copies of the caller's) and what it wrote,
   for forkpool_exec (program.c); exec.c runs it. */
#ifndef FP_PROGRAM_H
#define FP_PROGRAM_H

#include <stddef.h>

#include "buf.h"
#include "forkpool.h"

typedef struct fp_exec {
    char **argv;            /* NULL-terminated copies                     */
    char **envp;            /* NULL: the parent's environ at spawn time    */
    char *cwd;
    unsigned char *input;   /* stdin bytes, or NULL: /dev/null             */
    size_t input_len, input_off;
    int capture;
    fp_buf out, err;        /* what was captured                          */
} fp_exec;

/* Copies argv and o (may be NULL). NULL + ENOMEM. */
fp_exec *fp_exec_new(const char *const argv[], const forkpool_exec_options *o);
void fp_exec_free(fp_exec *x);
void fp_strv_free(char **v);

#endif
