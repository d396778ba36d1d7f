/* template.c: replacement strings and command building (contracts in
   template.h). */
#include "template.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "quote.h"
#include "sbuf.h"

enum xform { XF_NONE, XF_NOEXT, XF_BASE, XF_DIR, XF_BASE_NOEXT };
enum seg_kind { SEG_LIT, SEG_VAL, SEG_SEQ, SEG_SLOT };

#define FP_GROUP_PAST 1000001L /* past any job's groups: an empty value */

/* One piece of a command word: literal text or a replacement string. */
struct seg {
    enum seg_kind kind;
    const char *lit; /* SEG_LIT: text (into argv) */
    size_t len;
    long group;      /* SEG_VAL: 0 = every group ({}), else 1-based ({N}),
                        or from the end ({-N}: -1 the last)            */
    enum xform xf;
};

struct tmpl_word {
    struct seg *segs;
    size_t n;
};

/* Recognises a replacement string at s (which starts with '{'): fills *seg
   and returns its length, or 0 if s does not start one. */
static size_t parse_repl(const char *s, struct seg *seg)
{
    const char *p = s + 1;
    *seg = (struct seg){.kind = SEG_VAL};
    if ((p[0] == '#' || p[0] == '%') && p[1] == '}') {
        seg->kind = p[0] == '#' ? SEG_SEQ : SEG_SLOT;
        return 3;
    }
    /* As GNU parallel reads them: {0} is {}, leading zeros count for
       nothing, and a group past the last ({-0} too) is empty. */
    int from_end = p[0] == '-' && p[1] >= '0' && p[1] <= '9';
    p += from_end;
    if (*p >= '0' && *p <= '9') {
        long g = 0;
        while (*p >= '0' && *p <= '9')
            g = g < FP_GROUP_PAST ? g * 10 + (*p++ - '0') : (p++, FP_GROUP_PAST);
        if (from_end && g == 0)
            g = FP_GROUP_PAST;
        seg->group = from_end ? -g : g;
    }
    static const struct {
        const char *suffix;
        enum xform xf;
    } sfx[] = {{"}", XF_NONE}, {".}", XF_NOEXT}, {"/}", XF_BASE},
               {"//}", XF_DIR}, {"/.}", XF_BASE_NOEXT}};
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        size_t n = strlen(sfx[i].suffix);
        if (strncmp(p, sfx[i].suffix, n) == 0) {
            seg->xf = sfx[i].xf;
            return (size_t)(p - s) + n;
        }
    }
    return 0;
}

/* A Perl expression, {= ... =}: GNU parallel evaluates it; we do not yet,
   and leaving it as text would run the command with the wrong words. */
static bool has_perl_expr(const char *s)
{
    const char *open = strstr(s, "{=");
    return open != NULL && strstr(open + 2, "=}") != NULL;
}

/* Splits one command word into segments. 0, or -1 (ENOMEM; EINVAL: a
   Perl expression). */
static int word_parse(struct tmpl_word *w, const char *s, bool *has_repl)
{
    if (has_perl_expr(s)) {
        errno = EINVAL;
        return -1;
    }
    size_t len = strlen(s);
    w->segs = calloc(len + 1, sizeof *w->segs); /* at most one per byte */
    if (w->segs == NULL)
        return -1;
    const char *lit = s;
    while (*s) {
        struct seg seg;
        size_t n = *s == '{' ? parse_repl(s, &seg) : 0;
        if (n == 0) {
            s++;
            continue;
        }
        if (s > lit)
            w->segs[w->n++] = (struct seg){.kind = SEG_LIT, .lit = lit, .len = (size_t)(s - lit)};
        w->segs[w->n++] = seg;
        *has_repl = true;
        s += n;
        lit = s;
    }
    if (s > lit || w->n == 0)
        w->segs[w->n++] = (struct seg){.kind = SEG_LIT, .lit = lit, .len = (size_t)(s - lit)};
    return 0;
}

void tmpl_free(struct tmpl *t)
{
    for (size_t i = 0; i < t->nwords; i++)
        free(t->words[i].segs);
    free(t->words);
    *t = (struct tmpl){0};
}

int tmpl_parse(struct tmpl *t, char **words, size_t n)
{
    *t = (struct tmpl){0};
    t->words = calloc(n, sizeof *t->words);
    if (t->words == NULL)
        return -1;
    t->nwords = n;
    for (size_t i = 0; i < n; i++)
        if (word_parse(&t->words[i], words[i], &t->has_repl) != 0)
            return -1;
    return 0;
}

/* Applies a path transformation as GNU parallel does ({.}: s:\.[^/.]*$::,
   {/}: s:.* /::, {//}: Perl's dirname, {/.}: both). The result is a slice
   of s or a static string. */
static void xform_apply(enum xform xf, const char *s, const char **out, size_t *outlen)
{
    size_t n = strlen(s);
    if (xf == XF_DIR) {
        size_t m = n;
        while (m > 1 && s[m - 1] == '/')
            m--;
        const char *slash = NULL;
        for (size_t i = 0; i < m; i++)
            if (s[i] == '/')
                slash = &s[i];
        if (slash == NULL) {
            *out = ".";
            *outlen = 1;
            return;
        }
        size_t k = (size_t)(slash - s);
        while (k > 1 && s[k - 1] == '/')
            k--;
        if (k == 0) {
            *out = "/";
            *outlen = 1;
            return;
        }
        *out = s;
        *outlen = k;
        return;
    }
    if (xf == XF_BASE || xf == XF_BASE_NOEXT) {
        const char *slash = strrchr(s, '/');
        if (slash != NULL) {
            n -= (size_t)(slash + 1 - s);
            s = slash + 1;
        }
    }
    if (xf == XF_NOEXT || xf == XF_BASE_NOEXT) {
        for (size_t i = n; i-- > 0;) {
            if (s[i] == '/')
                break;
            if (s[i] == '.') {
                n = i;
                break;
            }
        }
    }
    *out = s;
    *outlen = n;
}

/* Appends one value, transformed and (in shell mode) quoted. */
static void add_value(struct sbuf *b, const struct tmpl_ctx *c, const char *v, enum xform xf)
{
    const char *p;
    size_t n;
    xform_apply(xf, v, &p, &n);
    if (c->shell && !c->raw)
        quote_add(b, p, n);
    else
        sb_add(b, p, n);
}

/* Appends a word with its replacement strings expanded. {} with several
   groups is every value, space-separated; {N} past the last group is empty,
   as in GNU parallel. */
static void expand_word(struct sbuf *b, const struct tmpl_word *w, const struct tmpl_ctx *c)
{
    for (size_t i = 0; i < w->n; i++) {
        const struct seg *s = &w->segs[i];
        switch (s->kind) {
        case SEG_LIT: sb_add(b, s->lit, s->len); break;
        case SEG_SEQ: sb_printf(b, "%lu", c->seq); break;
        case SEG_SLOT: sb_printf(b, "%u", c->slot); break;
        case SEG_VAL:
            if (s->group == 0) {
                for (size_t g = 0; g < c->nvals; g++) {
                    if (g > 0)
                        sb_adds(b, " ");
                    add_value(b, c, c->vals[g], s->xf);
                }
            } else if (s->group > 0 && (size_t)s->group <= c->nvals) {
                add_value(b, c, c->vals[s->group - 1], s->xf);
            } else if (s->group < 0 && (size_t)-s->group <= c->nvals) {
                add_value(b, c, c->vals[c->nvals - (size_t)-s->group], s->xf);
            }
            break;
        }
    }
}

/* Whether w holds {} (every value): -X repeats such a word per input. */
static bool word_has_all(const struct tmpl_word *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->segs[i].kind == SEG_VAL && w->segs[i].group == 0)
            return true;
    return false;
}

void tmpl_cost(const struct tmpl *t, bool context, struct tmpl_cost *cost)
{
    struct tmpl_cost k = {.fixed = t->nwords ? t->nwords - 1 : 0};
    size_t nrepl = 0;
    for (size_t i = 0; i < t->nwords; i++) {
        const struct tmpl_word *w = &t->words[i];
        size_t lit = 0, r = 0;
        for (size_t j = 0; j < w->n; j++) {
            if (w->segs[j].kind == SEG_LIT)
                lit += w->segs[j].len;
            else if (w->segs[j].kind == SEG_VAL)
                r++;
            else
                lit += 8; /* {#} {%}: a few digits */
        }
        nrepl += r;
        if (context && word_has_all(w)) {
            k.per_arg += lit + 1; /* the word and a space, per input */
            k.per_char += r;
            k.less += 1;
        } else {
            k.fixed += lit;
            k.per_arg += r; /* a space between inputs */
            k.per_char += r;
            k.less += r;
        }
    }
    if (nrepl == 0) /* inputs appended, each after a space */
        k = (struct tmpl_cost){.fixed = k.fixed, .per_arg = 1, .per_char = 1};
    *cost = k;
}

/* -X: the context of input r (its per_rec values). */
static struct tmpl_ctx ctx_of_input(const struct tmpl_ctx *c, size_t r)
{
    struct tmpl_ctx sub = *c;
    sub.vals = c->vals + r * c->per_rec;
    sub.nvals = c->per_rec;
    sub.per_rec = 0;
    return sub;
}

/* A NULL-terminated argv being built; allocation failure is sticky. */
struct argvec {
    char **v;
    size_t n, cap;
    bool oom;
};

void tmpl_argv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* Takes ownership of s (NULL: records the failure). */
static void av_push(struct argvec *a, char *s)
{
    if (s == NULL || a->oom) {
        a->oom = true;
        free(s);
        return;
    }
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        char **v = realloc(a->v, cap * sizeof *v);
        if (v == NULL) {
            a->oom = true;
            free(s);
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

int tmpl_build(const struct tmpl *t, const struct tmpl_ctx *c, char ***argv_out,
               char **display_out)
{
    struct argvec av = {0};
    struct sbuf b = {0};
    if (c->shell) {
        for (size_t i = 0; i < t->nwords; i++) {
            if (i > 0)
                sb_adds(&b, " ");
            if (c->per_rec == 0 || !word_has_all(&t->words[i])) {
                expand_word(&b, &t->words[i], c);
                continue;
            }
            for (size_t r = 0; r < c->nvals / c->per_rec; r++) {
                struct tmpl_ctx sub = ctx_of_input(c, r);
                if (r > 0)
                    sb_adds(&b, " ");
                expand_word(&b, &t->words[i], &sub);
            }
        }
        for (size_t g = 0; !t->has_repl && g < c->nvals; g++) {
            sb_adds(&b, " ");
            if (c->raw)
                sb_adds(&b, c->vals[g]);
            else
                quote_add(&b, c->vals[g], strlen(c->vals[g]));
        }
        char *cmd = sb_take(&b);
        *display_out = cmd ? strdup(cmd) : NULL;
        av_push(&av, strdup(t->sh != NULL ? t->sh : "/bin/sh"));
        av_push(&av, strdup("-c"));
        av_push(&av, cmd);
    } else {
        for (size_t i = 0; i < t->nwords; i++) {
            const struct tmpl_word *w = &t->words[i];
            if (c->per_rec != 0 && word_has_all(w)) {
                for (size_t r = 0; r < c->nvals / c->per_rec; r++) {
                    struct tmpl_ctx sub = ctx_of_input(c, r);
                    expand_word(&b, w, &sub);
                    av_push(&av, sb_take(&b));
                }
                continue;
            }
            if (w->n == 1 && w->segs[0].kind == SEG_VAL && w->segs[0].group == 0 && c->nvals > 1) {
                for (size_t g = 0; g < c->nvals; g++) {
                    add_value(&b, c, c->vals[g], w->segs[0].xf);
                    av_push(&av, sb_take(&b));
                }
                continue;
            }
            expand_word(&b, w, c);
            av_push(&av, sb_take(&b));
        }
        for (size_t g = 0; !t->has_repl && g < c->nvals; g++)
            av_push(&av, strdup(c->vals[g]));
        for (size_t i = 0; !av.oom && i < av.n; i++) {
            if (i > 0)
                sb_adds(&b, " ");
            quote_add(&b, av.v[i], strlen(av.v[i]));
        }
        *display_out = sb_take(&b);
    }
    if (av.oom || *display_out == NULL) {
        if (av.v != NULL)
            tmpl_argv_free(av.v);
        free(*display_out);
        *display_out = NULL;
        errno = ENOMEM;
        return -1;
    }
    *argv_out = av.v;
    return 0;
}
