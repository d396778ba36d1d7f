/* inputs.c: input groups and their combinations (contracts in inputs.h). */
#include "inputs.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "fpc.h"

/* One input group held in memory: `:::` words (borrowed) or a file's
   records (owned). */
struct group {
    char **vals;
    size_t n, cap;
    bool owned;
    enum { LINK_NONE, LINK_WRAP, LINK_SHORT } link; /* to the group before */
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
        if (k < 0 || (k == 1 && o->eof_str != NULL && strcmp(rec, o->eof_str) == 0))
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
    in->eof_str = o->eof_str;
    for (size_t g = 0; g < in->ngroups; g++)
        if (o->nsrcs > 1 && (o->link || o->srcs[g].link))
            in->linked = true; /* every group is held in memory */
    for (size_t g = 0; g < in->ngroups; g++) {
        const struct source *s = o->nsrcs ? &o->srcs[g] : NULL;
        if (g == 0 && (s == NULL || s->path != NULL) && !in->linked) {
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
            for (size_t k = 0; o->eof_str != NULL && k < s->nargs; k++)
                if (strcmp(s->args[k], o->eof_str) == 0)
                    in->groups[g].n = k; /* -E: the end of this group */
        }
        /* --link: one value of each group per combination, shorter groups
           wrap; :::+ links to the group before, and the shorter ends. */
        in->groups[g].link = g > 0 && s != NULL && s->link ? LINK_SHORT
                             : g > 0 && o->link            ? LINK_WRAP
                                                           : LINK_NONE;
        if (g > 0 && in->groups[g].n == 0)
            in->exhausted = true; /* an empty group: no combinations */
    }
    if (!in->streaming && in->groups[0].n == 0)
        in->exhausted = true;
    return 0;
}

/* Linked groups: the groups [*start, end) that advance together (a group
   not linked to the one before starts them), and how many values they
   give: the longest group's count (--link wraps the others), or the
   shortest's for a :::+ group. */
static size_t digit_span(const struct inputs *in, size_t end, size_t *start)
{
    size_t s = end - 1;
    while (s > 0 && in->groups[s].link != LINK_NONE)
        s--;
    size_t len = in->groups[s].n;
    for (size_t g = s + 1; g < end; g++) {
        size_t n = in->groups[g].n;
        if (in->groups[g].link == LINK_SHORT ? n < len : n > len)
            len = n;
    }
    *start = s;
    return len;
}

bool inputs_total(const struct inputs *in, unsigned long *total)
{
    if (in->streaming)
        return false;
    unsigned long t = 1;
    for (size_t end = in->ngroups, start; end > 0; end = start) {
        size_t n = in->linked ? digit_span(in, end, &start) : in->groups[(start = end - 1)].n;
        if (n != 0 && t > ULONG_MAX / n)
            return false;
        t *= n;
    }
    *total = in->exhausted ? 0 : t;
    return true;
}

/* inputs_next for linked groups (all in memory): in->odo[d] is digit d's
   index; a group shorter than its digit wraps. */
static int next_linked(struct inputs *in, char ***vals)
{
    size_t ng = in->ngroups, d = 0;
    char **out = calloc(ng, sizeof *out);
    if (out == NULL)
        return -2;
    for (size_t g = 0; g < ng; g++) {
        const struct group *gr = &in->groups[g];
        if (g > 0 && gr->link == LINK_NONE)
            d++;
        if ((out[g] = strdup(gr->vals[in->odo[d] % gr->n])) == NULL) {
            inputs_vals_free(out, ng);
            errno = ENOMEM;
            return -2;
        }
    }
    for (size_t end = ng, start;; end = start, d--) {
        size_t len = digit_span(in, end, &start);
        if (++in->odo[d] < len)
            break;
        in->odo[d] = 0;
        if (start == 0) {
            in->exhausted = true;
            break;
        }
    }
    *vals = out;
    return 1;
}

int inputs_take_first(struct inputs *in, size_t g, char **out)
{
    if (g == 0 && in->streaming) {
        for (;;) {
            char *rec;
            int k = reader_next(&in->rd, &rec);
            if (k < 0)
                return 0;
            if (k == 1) {
                if ((*out = strdup(rec)) != NULL)
                    return 1;
                fpc_say("out of memory");
                return -1;
            }
            struct pollfd p = {.fd = in->rd.fd, .events = POLLIN};
            if ((poll(&p, 1, -1) < 0 && errno != EINTR) || reader_fill(&in->rd) != 0) {
                fpc_say("cannot read inputs: %s", strerror(errno));
                return -1;
            }
        }
    }
    struct group *gr = &in->groups[g];
    if (gr->n == 0)
        return 0;
    if ((*out = strdup(gr->vals[0])) == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    if (gr->owned) {
        free(gr->vals[0]);
        memmove(gr->vals, gr->vals + 1, (gr->n - 1) * sizeof *gr->vals);
    } else {
        gr->vals++;
    }
    if (--gr->n == 0)
        in->exhausted = true;
    return 1;
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
    if (in->linked)
        return next_linked(in, vals);
    if (in->cur0 == NULL) {
        const char *v;
        if (in->streaming) {
            char *rec;
            int k = reader_next(&in->rd, &rec);
            if (k == 0)
                return 0;
            if (k < 0 || (in->eof_str != NULL && strcmp(rec, in->eof_str) == 0)) {
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
