/* inputs.c: input groups and their combinations (contracts in inputs.h). */
#include "inputs.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fpc.h"

/* One input group held in memory: `:::` words (borrowed) or a file's
   records (owned). */
struct group {
    char **vals;
    size_t n, cap;
    bool owned;
};

/* Appends a copy of s to g. 0, or -1 (ENOMEM). */
static int group_push(struct group *g, const char *s)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        char **v = realloc(g->vals, cap * sizeof *v);
        if (v == NULL)
            return -1;
        g->vals = v;
        g->cap = cap;
    }
    char *c = strdup(s);
    if (c == NULL)
        return -1;
    g->vals[g->n++] = c;
    return 0;
}

/* Reads a whole file into g (blocking: done before any job starts, with
   signals still at their defaults). 0, or -1 after a message. */
static int group_load(struct group *g, const char *path, const struct opts *o)
{
    struct reader r;
    g->owned = true;
    if (reader_open(&r, path, o->delim, o->dlen) != 0) {
        fpc_say("cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        char *rec;
        int k = reader_next(&r, &rec);
        if (k < 0)
            break;
        if (k == 1 ? group_push(g, rec) != 0 : reader_fill(&r) != 0) {
            fpc_say("cannot read '%s': %s", path, strerror(errno));
            reader_close(&r);
            return -1;
        }
    }
    reader_close(&r);
    return 0;
}

int inputs_init(struct inputs *in, const struct opts *o)
{
    *in = (struct inputs){0};
    in->ngroups = o->nsrcs ? o->nsrcs : 1;
    in->groups = calloc(in->ngroups, sizeof *in->groups);
    in->odo = calloc(in->ngroups, sizeof *in->odo);
    if (in->groups == NULL || in->odo == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    for (size_t g = 0; g < in->ngroups; g++) {
        const struct source *s = o->nsrcs ? &o->srcs[g] : NULL;
        if (g == 0 && (s == NULL || s->path != NULL)) {
            const char *path = s ? s->path : "-";
            if (reader_open(&in->rd, path, o->delim, o->dlen) != 0) {
                fpc_say("cannot open '%s': %s", path, strerror(errno));
                return -1;
            }
            in->streaming = true;
        } else if (s == NULL) {
            return -1; /* without sources there is only group 0 */
        } else if (s->path != NULL) {
            if (group_load(&in->groups[g], s->path, o) != 0)
                return -1;
        } else {
            in->groups[g].vals = s->args;
            in->groups[g].n = s->nargs;
        }
        if (g > 0 && in->groups[g].n == 0)
            in->exhausted = true; /* an empty group: no combinations */
    }
    if (!in->streaming && in->groups[0].n == 0)
        in->exhausted = true;
    return 0;
}

bool inputs_total(const struct inputs *in, unsigned long *total)
{
    if (in->streaming)
        return false;
    unsigned long t = 1;
    for (size_t g = 0; g < in->ngroups; g++) {
        if (in->groups[g].n != 0 && t > ULONG_MAX / in->groups[g].n)
            return false;
        t *= in->groups[g].n;
    }
    *total = t;
    return true;
}

void inputs_vals_free(char **vals, size_t n)
{
    if (vals == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(vals[i]);
    free(vals);
}

int inputs_next(struct inputs *in, char ***vals)
{
    if (in->exhausted)
        return -1;
    if (in->cur0 == NULL) {
        const char *v;
        if (in->streaming) {
            char *rec;
            int k = reader_next(&in->rd, &rec);
            if (k == 0)
                return 0;
            if (k < 0) {
                in->exhausted = true;
                return -1;
            }
            v = rec;
        } else {
            if (in->next0 == in->groups[0].n) {
                in->exhausted = true;
                return -1;
            }
            v = in->groups[0].vals[in->next0++];
        }
        in->cur0 = strdup(v);
        if (in->cur0 == NULL)
            return -2;
        memset(in->odo, 0, in->ngroups * sizeof *in->odo);
    }
    char **out = calloc(in->ngroups, sizeof *out);
    if (out == NULL)
        return -2;
    out[0] = strdup(in->cur0);
    bool ok = out[0] != NULL;
    for (size_t g = 1; g < in->ngroups && ok; g++)
        ok = (out[g] = strdup(in->groups[g].vals[in->odo[g]])) != NULL;
    if (!ok) {
        inputs_vals_free(out, in->ngroups);
        errno = ENOMEM;
        return -2;
    }
    /* Advance: the last group varies fastest; a full wrap moves group 0. */
    size_t g = in->ngroups;
    while (--g > 0) {
        if (++in->odo[g] < in->groups[g].n)
            break;
        in->odo[g] = 0;
    }
    if (g == 0) {
        free(in->cur0);
        in->cur0 = NULL;
    }
    *vals = out;
    return 1;
}

void inputs_free(struct inputs *in)
{
    if (in->groups != NULL)
        for (size_t g = 0; g < in->ngroups; g++)
            if (in->groups[g].owned)
                inputs_vals_free(in->groups[g].vals, in->groups[g].n);
    free(in->groups);
    free(in->odo);
    free(in->cur0);
    if (in->streaming)
        reader_close(&in->rd);
}
