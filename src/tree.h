/* Killing a child's whole subtree (tree.c). */
#ifndef FP_TREE_H
#define FP_TREE_H

#include <sys/types.h>

void fp_tree_kill(pid_t root, int all);
void fp_tree_end_own(void);
/*
 * A task that ran for less than this (wall clock) cannot have started a
 * process: creating one takes the kernel longer (6 us for the fastest,
 * clone(CLONE_VM), on the 2-CPU VM of docs/BENCHMARKS.md; microseconds on
 * any machine). A worker skips fp_tree_end_own's check after such a task:
 * a system call, a third of an empty task's cost there (issue #13).
 */
#define FP_TREE_MIN_NS 1000

#endif
