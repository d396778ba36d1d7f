/* template.c: replacement strings and command building (contracts in
   template.h). */
#include "template.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "perl.h"
#include "quote.h"
#include "sbuf.h"

#define FP_GROUP_PAST 1000001L /* past any job's groups: an empty value */

enum seg_kind { SEG_LIT, SEG_REPL, SEG_PERL };

/* One piece of a command word: literal text or a replacement string. */
struct seg {
    enum seg_kind kind;
    const char *lit;     /* SEG_LIT: text (into argv) */
    size_t len;
    long group;          /* SEG_REPL with a value, SEG_PERL: 0 = every group
                            ({}), else 1-based ({N}), or from the end ({-N}) */
    const struct rpl *r; /* SEG_REPL: what to put */
    size_t expr;         /* SEG_PERL: index into t->exprs */
};

struct tmpl_word {
    struct seg *segs;
    size_t n;
};

/* Parses the position of a positional string at p ("2", "-1", "01"), as
   GNU parallel reads it: {0} is {}, leading zeros count for nothing, a
   group past the last ({-0} too) is empty. Returns the digits' length
   (0: none) and sets *group. */
static size_t parse_group(const char *p, long *group)
{
    const char *s = p;
    int from_end = p[0] == '-' && p[1] >= '0' && p[1] <= '9';
    p += from_end;
    if (*p < '0' || *p > '9')
        return 0;
    long g = 0;
    while (*p >= '0' && *p <= '9')
        g = g < FP_GROUP_PAST ? g * 10 + (*p++ - '0') : (p++, FP_GROUP_PAST);
    if (from_end && g == 0)
        g = FP_GROUP_PAST;
    *group = from_end ? -g : g;
    return (size_t)(p - s);
}

/* The index of expression e in t->exprs, added if new (each expression is
   compiled once). SIZE_MAX: ENOMEM. */
static size_t expr_add(struct tmpl *t, char *e)
{
    if (e == NULL)
        return SIZE_MAX;
    for (size_t i = 0; i < t->nexprs; i++)
        if (strcmp(t->exprs[i], e) == 0) {
            free(e);
            return i;
        }
    char **v = realloc(t->exprs, (t->nexprs + 1) * sizeof *v);
    if (v == NULL) {
        free(e);
        return SIZE_MAX;
    }
    t->exprs = v;
    t->exprs[t->nexprs] = e;
    return t->nexprs++;
}

/* A --rpl (or --plus) expression with the tag's groups, as GNU parallel
   writes it: $_pAr_gRpN = "group N, Perl-quoted"; then the expression with
   $$N read as $_pAr_gRpN. */
static char *perl_rpl_expr(const struct rpl *r, const char *p, const regmatch_t *m)
{
    struct sbuf b = {0};
    for (size_t g = 1; r->has_re && g <= r->ngroups; g++) {
        if (m[g].rm_so < 0)
            break;
        sb_printf(&b, "$_pAr_gRp%zu = \"", g);
        for (regoff_t i = m[g].rm_so; i < m[g].rm_eo; i++) {
            if (strchr("\\\"$@", p[i]) != NULL)
                sb_adds(&b, "\\");
            sb_add(&b, &p[i], 1);
        }
        sb_adds(&b, "\";");
    }
    for (const char *e = r->text; *e; e++) {
        if (e[0] == '$' && e[1] == '$' && e[2] >= '0' && e[2] <= '9') {
            sb_adds(&b, "$_pAr_gRp");
            e += 2;
            while (e[1] >= '0' && e[1] <= '9')
                sb_add(&b, e++, 1);
            sb_add(&b, e, 1);
            continue;
        }
        sb_add(&b, e, 1);
    }
    return sb_take(&b);
}

/* A {= expression =} at s, whose left parenthesis is already matched:
   fills *seg and returns its length; 0 when another {= comes before the
   =} (GNU parallel pairs =} with the nearest {=, so this one is text);
   SIZE_MAX with errno (EINVAL: no =} at all; ENOMEM). */
static size_t parse_perl(struct tmpl *t, const char *s, struct seg *seg)
{
    const struct rpl_set *rs = &t->rpls;
    size_t ll = strlen(rs->parl);
    const char *close = strstr(s + ll, rs->parr);
    if (close == NULL) {
        t->err = "'{=' without its '=}' (a Perl expression is {= ... =})";
        errno = EINVAL;
        return SIZE_MAX;
    }
    const char *inner = s + ll;
    const char *other = strstr(inner, rs->parl);
    if (other != NULL && other < close)
        return 0;
    *seg = (struct seg){.kind = SEG_PERL};
    inner += parse_group(inner, &seg->group);
    while (*inner == ' ')
        inner++;
    seg->expr = expr_add(t, strndup(inner, (size_t)(close - inner)));
    if (seg->expr == SIZE_MAX) {
        errno = ENOMEM;
        return SIZE_MAX;
    }
    return (size_t)(close - s) + strlen(rs->parr);
}

/* Recognises a replacement string at s: fills *seg and returns its length;
   0 if s does not start one; SIZE_MAX with errno ENOMEM. Longer tags are
   tried first, each as written and then positionally ({N<tag>}, for a tag
   that starts with '{' and gives a value). */
static size_t parse_repl(struct tmpl *t, const char *s, struct seg *seg)
{
    regmatch_t m[10];
    for (size_t i = 0; i < t->rpls.n; i++) {
        const struct rpl *r = &t->rpls.v[i];
        long group = 0;
        const char *p = s;
        size_t n = rpl_match(r, s, 0, m);
        if (n == 0 && r->tag[0] == '{' && s[0] == '{' &&
            (r->op == RPL_VAL || r->op == RPL_PERL)) {
            size_t d = parse_group(s + 1, &group);
            if (d > 0) {
                p = s + 1 + d;
                while (*p == ' ' || *p == '\t')
                    p++;
                n = rpl_match(r, p, 1, m);
                if (n > 0)
                    n += (size_t)(p - s);
            }
        }
        if (n == 0)
            continue;
        *seg = (struct seg){.kind = SEG_REPL, .group = group, .r = r};
        if (r->op == RPL_PERL) {
            seg->kind = SEG_PERL;
            seg->expr = expr_add(t, perl_rpl_expr(r, p, m));
            if (seg->expr == SIZE_MAX) {
                errno = ENOMEM;
                return SIZE_MAX;
            }
        }
        if (r->op == RPL_TOTAL || r->op == RPL_SEQ0)
            t->needs_total = true;
        return n;
    }
    return 0;
}

/* Records the first {word} left as text that looks like a replacement
   string (no space, no nested brace, not ${VAR}). */
static void note_unknown(struct tmpl *t, const char *lit, size_t len)
{
    for (size_t i = 0; t->unknown == NULL && i < len; i++) {
        if (lit[i] != '{' || (i > 0 && lit[i - 1] == '$'))
            continue;
        size_t j = i + 1;
        while (j < len && strchr("{} \t\n", lit[j]) == NULL)
            j++;
        if (j < len && j > i + 1 && lit[j] == '}') {
            t->unknown = lit + i;
            t->unknown_len = j + 1 - i;
        }
    }
}

/* Splits one command word into segments. 0, or -1 (errno ENOMEM; EINVAL
   with t->err). */
static int word_parse(struct tmpl *t, struct tmpl_word *w, const char *s)
{
    size_t len = strlen(s);
    w->segs = calloc(len + 1, sizeof *w->segs); /* at most one per byte */
    if (w->segs == NULL)
        return -1;
    const char *lit = s;
    const char *parl = t->rpls.parl;
    size_t parl_len = strlen(parl);
    while (*s) {
        struct seg seg;
        size_t n = strncmp(s, parl, parl_len) == 0 ? parse_perl(t, s, &seg) : 0;
        if (n == 0)
            n = parse_repl(t, s, &seg);
        if (n == SIZE_MAX)
            return -1;
        if (n == 0) {
            s++;
            continue;
        }
        if (s > lit) {
            w->segs[w->n++] = (struct seg){.kind = SEG_LIT, .lit = lit, .len = (size_t)(s - lit)};
            note_unknown(t, lit, (size_t)(s - lit));
        }
        w->segs[w->n++] = seg;
        t->has_repl = true;
        s += n;
        lit = s;
    }
    if (s > lit || w->n == 0) {
        w->segs[w->n++] = (struct seg){.kind = SEG_LIT, .lit = lit, .len = (size_t)(s - lit)};
        note_unknown(t, lit, (size_t)(s - lit));
    }
    return 0;
}

/* Whether s has a {= without its =} (GNU parallel's merge_rpl_parts). */
static bool perl_open(const struct rpl_set *rs, const char *s)
{
    for (;;) {
        const char *l = strstr(s, rs->parl);
        if (l == NULL)
            return false;
        const char *r = strstr(l + strlen(rs->parl), rs->parr);
        if (r == NULL)
            return true;
        s = r + strlen(rs->parr);
    }
}

void tmpl_free(struct tmpl *t)
{
    for (size_t i = 0; i < t->nwords; i++)
        free(t->words[i].segs);
    free(t->words);
    for (size_t i = 0; i < t->nexprs; i++)
        free(t->exprs[i]);
    free(t->exprs);
    for (size_t i = 0; i < t->njoined; i++)
        free(t->joined[i]);
    free(t->joined);
    rpl_free(&t->rpls);
    *t = (struct tmpl){0};
}

int tmpl_parse(struct tmpl *t, char **words, size_t n)
{
    return tmpl_parse_conf(t, words, n, NULL);
}

int tmpl_parse_conf(struct tmpl *t, char **words, size_t n, const struct rpl_conf *conf)
{
    *t = (struct tmpl){0};
    if (rpl_init(&t->rpls, conf, &t->err) != 0)
        return -1;
    t->words = calloc(n, sizeof *t->words);
    t->joined = calloc(n, sizeof *t->joined);
    if (t->words == NULL || t->joined == NULL)
        return -1;
    /* As GNU parallel: a {= whose =} is in a later word takes the words up
       to it, joined by spaces (the shell split '{= s/a/b/ =}' unquoted). */
    for (size_t i = 0; i < n; i++) {
        const char *word = words[i];
        if (perl_open(&t->rpls, word) && i + 1 < n) {
            struct sbuf b = {0};
            sb_adds(&b, words[i]);
            while (i + 1 < n) {
                sb_adds(&b, " ");
                sb_adds(&b, words[++i]);
                if (b.p != NULL && !perl_open(&t->rpls, b.p))
                    break;
            }
            char *j = sb_take(&b);
            if (j == NULL)
                return -1;
            t->joined[t->njoined++] = j;
            word = j;
        }
        if (word_parse(t, &t->words[t->nwords++], word) != 0)
            return -1;
    }
    return 0;
}

/* Cuts the last k extensions (GNU parallel's s:\.[^/.]*$:: for k = 1,
   twice that for k = 2 ...): the index of the kth dot from the end with no
   slash after it, or n if there is none. */
static size_t ext_dot(const char *s, size_t n, int k)
{
    for (size_t i = n; i-- > 0;) {
        if (s[i] == '/')
            break;
        if (s[i] == '.' && --k == 0)
            return i;
    }
    return n;
}

/* Applies a path transformation as GNU parallel does ({.}: s:\.[^/.]*$::,
   {/}: s:.* /::, {//}: Perl's dirname, {/.}: both; --plus's {..} {+.} ...
   as in rpl.c). The result is a slice of s or a static string. */
static void xform_apply(enum xform xf, const char *s, const char **out, size_t *outlen)
{
    size_t n = strlen(s);
    *out = "";
    *outlen = 0;
    switch (xf) {
    case XF_PDIR: { /* s:/[^/]*$:: || s:.*$:: */
        const char *slash = strrchr(s, '/');
        if (slash != NULL) {
            *out = s;
            *outlen = (size_t)(slash - s);
        }
        return;
    }
    case XF_EXT: { /* s:.*\.:: || s:.*$:: */
        const char *dot = strrchr(s, '.');
        if (dot != NULL) {
            *out = dot + 1;
            *outlen = n - (size_t)(dot + 1 - s);
        }
        return;
    }
    case XF_EXT2:
    case XF_EXT3: { /* s:.*\.([^/.]*\.[^/.]*)$:$1: || s:.*$:: */
        size_t d = ext_dot(s, n, xf == XF_EXT2 ? 2 : 3);
        if (d < n) {
            *out = s + d + 1;
            *outlen = n - d - 1;
        }
        return;
    }
    case XF_DIR: {
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
    default: break;
    }
    if (xf == XF_BASE || xf == XF_BASE_NOEXT || xf == XF_BASE_NOEXT2 || xf == XF_BASE_NOEXT3) {
        const char *slash = strrchr(s, '/');
        if (slash != NULL) {
            n -= (size_t)(slash + 1 - s);
            s = slash + 1;
        }
    }
    if (xf == XF_NOEXT || xf == XF_BASE_NOEXT)
        n = ext_dot(s, n, 1);
    else if (xf == XF_NOEXT2 || xf == XF_BASE_NOEXT2)
        n = ext_dot(s, n, 2);
    else if (xf == XF_NOEXT3 || xf == XF_BASE_NOEXT3)
        n = ext_dot(s, n, 3);
    *out = s;
    *outlen = n;
}

/* Appends v, in shell mode quoted. */
static void add_text(struct sbuf *b, const struct tmpl_ctx *c, const char *v, size_t n)
{
    if (c->shell && !c->raw)
        quote_add(b, v, n);
    else
        sb_add(b, v, n);
}

/* One evaluation of a Perl expression for one value of the job being
   built: GNU parallel evaluates an expression once per value and job, so
   {= $_=++$n =} twice in a command gives the same number twice. */
struct eval {
    size_t expr, g;
    struct sbuf v;
    int status; /* 0, or 1: skip() */
    bool unquoted;
};

struct evcache {
    struct eval *v;
    size_t n;
    size_t base; /* the template's expr_base */
};

static void evcache_free(struct evcache *ec)
{
    for (size_t i = 0; i < ec->n; i++)
        sb_free(&ec->v[i].v);
    free(ec->v);
}

/* Expression expr on value g, evaluated now or before in this build. NULL:
   -1 and errno (perl failed, after a message; ENOMEM). */
static struct eval *eval_get(struct evcache *ec, const struct tmpl_ctx *c, size_t expr, size_t g)
{
    for (size_t i = 0; i < ec->n; i++)
        if (ec->v[i].expr == expr && ec->v[i].g == g)
            return &ec->v[i];
    struct eval *v = realloc(ec->v, (ec->n + 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    ec->v = v;
    struct eval *e = &ec->v[ec->n];
    *e = (struct eval){.expr = expr, .g = g};
    struct perl_job pj = {c->vals, c->nvals, c->seq, c->slot,
                          c->total_known ? (long long)c->total : -1, c->jobs};
    e->status = perl_eval(c->perl, ec->base + expr, &pj, g, &e->v, &e->unquoted);
    if (e->status >= 0 && e->v.oom) {
        e->status = -1;
        errno = ENOMEM;
    }
    if (e->status < 0) {
        int err = errno;
        sb_free(&e->v);
        errno = err;
        return NULL;
    }
    ec->n++;
    return e;
}

/* Appends value number g (0-based; past the last: "") through seg. 0, 1
   (skip the job), -1 (errno). */
static int add_value(struct sbuf *b, struct evcache *ec, const struct tmpl_ctx *c,
                     const struct seg *s, size_t g)
{
    if (s->kind == SEG_PERL) {
        if (c->perl == NULL) {
            errno = ENOSYS;
            return -1;
        }
        struct eval *e = eval_get(ec, c, s->expr, g);
        if (e == NULL)
            return -1;
        if (e->unquoted || !c->shell || c->raw)
            sb_add(b, e->v.p ? e->v.p : "", e->v.len);
        else
            quote_add(b, e->v.p ? e->v.p : "", e->v.len);
        return e->status;
    }
    const char *p;
    size_t n;
    xform_apply(s->r->xf, g < c->nvals ? c->vals[g] : "", &p, &n);
    add_text(b, c, p, n);
    return 0;
}

/* The number of decimal digits of v (at least 1). */
static int digits(unsigned long v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* Appends a replacement string that needs no value. */
static void add_fixed(struct sbuf *b, const struct tmpl_ctx *c, const struct rpl *r)
{
    switch (r->op) {
    case RPL_SEQ: sb_printf(b, "%lu", c->seq); break;
    case RPL_SLOT: sb_printf(b, "%u", c->slot); break;
    case RPL_TOTAL: sb_printf(b, "%lu", c->total); break;
    case RPL_SEQ0: sb_printf(b, "%0*lu", digits(c->total), c->seq); break;
    case RPL_SLOT0: sb_printf(b, "%0*u", digits(c->jobs ? c->jobs : 1), c->slot); break;
    case RPL_TEXT: sb_adds(b, r->text); break;
    case RPL_VAL:
    case RPL_PERL: break;
    }
}

/* Appends a word with its replacement strings expanded. {} with several
   groups is every value, space-separated; {N} past the last group is empty,
   as in GNU parallel. 0, 1 (skip the job), -1 (errno). */
static int expand_word(struct sbuf *b, struct evcache *ec, const struct tmpl_word *w,
                       const struct tmpl_ctx *c)
{
    bool skip = false;
    for (size_t i = 0; i < w->n; i++) {
        const struct seg *s = &w->segs[i];
        int r = 0;
        if (s->kind == SEG_LIT) {
            sb_add(b, s->lit, s->len);
        } else if (s->kind == SEG_REPL && s->r->op != RPL_VAL) {
            add_fixed(b, c, s->r);
        } else if (s->group == 0) {
            size_t first = c->one_rec ? c->rec * c->per_rec : 0;
            size_t end = c->one_rec ? first + c->per_rec : c->nvals;
            if (end == first && s->kind == SEG_PERL) /* no value (-N0, --pipe): */
                r = add_value(b, ec, c, s, first);    /* $_ is "", as in GNU parallel */
            for (size_t g = first; r >= 0 && g < end; g++) {
                if (g > first)
                    sb_adds(b, " ");
                int rg = add_value(b, ec, c, s, g);
                r = rg != 0 ? rg : r;
            }
        } else if (s->group > 0 && (size_t)s->group <= c->nvals) {
            r = add_value(b, ec, c, s, (size_t)s->group - 1);
        } else if (s->group < 0 && (size_t)-s->group <= c->nvals) {
            r = add_value(b, ec, c, s, c->nvals - (size_t)-s->group);
        }
        if (r < 0)
            return r;
        skip = skip || r == 1;
    }
    return skip ? 1 : 0;
}

/* Whether s puts a value (of an input), not a fixed text. */
static bool seg_has_value(const struct seg *s)
{
    return s->kind == SEG_PERL || (s->kind == SEG_REPL && s->r->op == RPL_VAL);
}

/* Whether w holds {} (every value): -X repeats such a word per input. */
static bool word_has_all(const struct tmpl_word *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (seg_has_value(&w->segs[i]) && w->segs[i].group == 0)
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
            else if (seg_has_value(&w->segs[j]))
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

/* -X, -N: the context of input r ({} is its per_rec values). */
static struct tmpl_ctx ctx_of_input(const struct tmpl_ctx *c, size_t r)
{
    struct tmpl_ctx sub = *c;
    sub.rec = r;
    sub.one_rec = true;
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

/* A word that called skip() (r == 1): noted, and the building goes on
   (the command is still shown, in the joblog). */
static void skip_note(int *r, bool *skip)
{
    if (*r == 1) {
        *skip = true;
        *r = 0;
    }
}

int tmpl_build(const struct tmpl *t, const struct tmpl_ctx *c, char ***argv_out,
               char **display_out)
{
    struct argvec av = {0};
    struct sbuf b = {0};
    struct evcache ec = {.base = t->expr_base};
    int r = 0;
    bool skip = false;
    *display_out = NULL;
    if (c->shell) {
        for (size_t i = 0; r == 0 && i < t->nwords; i++) {
            if (i > 0)
                sb_adds(&b, " ");
            if (c->per_rec == 0 || !word_has_all(&t->words[i])) {
                r = expand_word(&b, &ec, &t->words[i], c);
                skip_note(&r, &skip);
                continue;
            }
            for (size_t k = 0; r == 0 && k < c->nvals / c->per_rec; k++) {
                struct tmpl_ctx sub = ctx_of_input(c, k);
                if (k > 0)
                    sb_adds(&b, " ");
                r = expand_word(&b, &ec, &t->words[i], &sub);
                skip_note(&r, &skip);
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
        for (size_t i = 0; r == 0 && i < t->nwords; i++) {
            const struct tmpl_word *w = &t->words[i];
            if (c->per_rec != 0 && c->nvals > 0 && word_has_all(w)) {
                for (size_t k = 0; r == 0 && k < c->nvals / c->per_rec; k++) {
                    struct tmpl_ctx sub = ctx_of_input(c, k);
                    r = expand_word(&b, &ec, w, &sub);
                    skip_note(&r, &skip);
                    av_push(&av, sb_take(&b));
                }
                continue;
            }
            const struct seg *s0 = &w->segs[0];
            /* A word that is only {} (or {.}...): an argument per value, so
               none without values (-N0); a {= =} alone runs once then. */
            bool val = s0->kind == SEG_REPL && s0->r->op == RPL_VAL;
            if (w->n == 1 && s0->group == 0 &&
                (c->nvals > 1 || (c->nvals == 0 && val)) && (val || s0->kind == SEG_PERL)) {
                for (size_t g = 0; r == 0 && g < c->nvals; g++) {
                    r = add_value(&b, &ec, c, s0, g);
                    skip_note(&r, &skip);
                    av_push(&av, sb_take(&b));
                }
                continue;
            }
            r = expand_word(&b, &ec, w, c);
            skip_note(&r, &skip);
            av_push(&av, sb_take(&b));
        }
        for (size_t g = 0; !t->has_repl && g < c->nvals; g++)
            av_push(&av, strdup(c->vals[g]));
        if (av.n == 0) /* the command was only {} and there is no value: "" */
            av_push(&av, strdup(""));
        for (size_t i = 0; !av.oom && i < av.n; i++) {
            if (i > 0)
                sb_adds(&b, " ");
            quote_add(&b, av.v[i], strlen(av.v[i]));
        }
        *display_out = sb_take(&b);
    }
    if (r == 0 && (av.oom || *display_out == NULL)) {
        r = -1;
        errno = ENOMEM;
    }
    int e = errno;
    evcache_free(&ec);
    if (r != 0) {
        sb_free(&b);
        if (av.v != NULL)
            tmpl_argv_free(av.v);
        free(*display_out);
        *display_out = NULL;
        errno = e;
        return r;
    }
    *argv_out = av.v;
    return skip ? 1 : 0;
}
