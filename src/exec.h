/* Programs as tasks (exec.c): the kind of a task's own process that runs
   a program, serving its stdin, stdout and stderr from the pool's loop. */
#ifndef FP_EXEC_H
#define FP_EXEC_H

#include "proc.h"

extern const fp_proc_ops fp_exec_ops;

#endif
