/* Killing a child's whole subtree (tree.c). */
#ifndef FP_TREE_H
#define FP_TREE_H

#include <sys/types.h>

void fp_tree_kill(pid_t root, int all);
void fp_tree_end_own(void);

#endif
