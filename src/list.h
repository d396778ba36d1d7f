/*
 * The library's one list: intrusive, doubly linked, circular through a
 * head (libuv's uv__queue is the model). A node is embedded in what it
 * links; FP_LIST_ITEM gets back to that. An empty head points to itself;
 * a node on no list has next == NULL.
 */
#ifndef FP_LIST_H
#define FP_LIST_H

#include <stddef.h>

typedef struct fp_list {
    struct fp_list *next, *prev;
} fp_list;

#define FP_LIST_ITEM(node, type, field) ((type *)(void *)((char *)(node) - offsetof(type, field)))

static inline void fp_list_init(fp_list *head)
{
    head->next = head->prev = head;
}

static inline int fp_list_empty(const fp_list *head)
{
    return head->next == head;
}

/* Is node on a list? */
static inline int fp_list_linked(const fp_list *node)
{
    return node->next != NULL;
}

/* The first and last nodes, or NULL when the list is empty. */
static inline fp_list *fp_list_first(fp_list *head)
{
    return head->next == head ? NULL : head->next;
}

static inline fp_list *fp_list_last(fp_list *head)
{
    return head->prev == head ? NULL : head->prev;
}

/* The node after (before) node on the list whose head is head, or NULL. */
static inline fp_list *fp_list_next(fp_list *head, fp_list *node)
{
    return node->next == head ? NULL : node->next;
}

static inline fp_list *fp_list_prev(fp_list *head, fp_list *node)
{
    return node->prev == head ? NULL : node->prev;
}

/* Each node of the list at head, in order; the loop's body must not
   remove the current node. */
/* NOLINTNEXTLINE(bugprone-macro-parentheses): node is a declarator */
#define FP_LIST_FOR(node, head) for (fp_list *node = fp_list_first(head); node; node = fp_list_next(head, node))

static inline void fp_list_insert_after(fp_list *at, fp_list *node)
{
    node->prev = at;
    node->next = at->next;
    at->next->prev = node;
    at->next = node;
}

static inline void fp_list_push_tail(fp_list *head, fp_list *node)
{
    fp_list_insert_after(head->prev, node);
}

static inline void fp_list_push_head(fp_list *head, fp_list *node)
{
    fp_list_insert_after(head, node);
}

/* Takes the first node off the list and returns it; NULL when empty. */
static inline fp_list *fp_list_pop(fp_list *head)
{
    fp_list *node = head->next;
    if (node == head)
        return NULL;
    head->next = node->next;
    node->next->prev = head;
    node->next = node->prev = NULL;
    return node;
}

static inline void fp_list_remove(fp_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->next = node->prev = NULL;
}

#endif
