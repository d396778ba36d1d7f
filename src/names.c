/*
 * Functions known by name (names.h). The table only grows; lookups take
 * the same lock as forkpool_register, so threads may register while others
 * run tasks.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mapitem.h"
#include "names.h"

typedef struct fp_name {
    char name[FP_NAME_MAX + 1];
    forkpool_fn fn;
} fp_name;

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static fp_name *names;
static size_t nnames, cap_names;

/* The library's own, known to every process without a call. */
static const fp_name builtin[] = {
    {"forkpool.map", fp_map_batch},
};
#define FP_NBUILTIN (sizeof builtin / sizeof builtin[0])

static const fp_name *find(const char *name, forkpool_fn fn)
{
    for (size_t i = 0; i < FP_NBUILTIN + nnames; i++) {
        const fp_name *n = i < FP_NBUILTIN ? &builtin[i] : &names[i - FP_NBUILTIN];
        if ((name && strcmp(n->name, name) == 0) || (fn && n->fn == fn))
            return n;
    }
    return NULL;
}

int forkpool_register(const char *name, forkpool_fn fn)
{
    if (!name || !*name || !fn || strlen(name) > FP_NAME_MAX) {
        errno = EINVAL;
        return -1;
    }
    int err = 0;
    pthread_mutex_lock(&names_lock);
    if (find(name, fn)) {
        err = EEXIST;
    } else if (nnames == cap_names) {
        size_t cap = cap_names ? cap_names * 2 : 16;
        fp_name *v = realloc(names, cap * sizeof *v);
        if (v) {
            names = v;
            cap_names = cap;
        } else {
            err = ENOMEM;
        }
    }
    if (!err) {
        fp_name *n = &names[nnames++];
        memset(n, 0, sizeof *n);
        memcpy(n->name, name, strlen(name));
        n->fn = fn;
    }
    pthread_mutex_unlock(&names_lock);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

int fp_fn_name(forkpool_fn fn, char name[FP_NAME_MAX + 1])
{
    pthread_mutex_lock(&names_lock);
    const fp_name *n = find(NULL, fn);
    if (n)
        memcpy(name, n->name, sizeof n->name);
    pthread_mutex_unlock(&names_lock);
    return n ? 0 : -1;
}

forkpool_fn fp_fn_named(const char *name)
{
    /* Read under the lock: a forkpool_register may move the table. */
    pthread_mutex_lock(&names_lock);
    const fp_name *n = find(name, NULL);
    forkpool_fn fn = n ? n->fn : NULL;
    pthread_mutex_unlock(&names_lock);
    return fn;
}
