/* rpl.c: the table of replacement strings (contracts in rpl.h). */
#include "rpl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

struct rpl_def {
    const char *tag;
    enum rpl_op op;
    enum xform xf;
    const char *text;
};

/* GNU parallel's %Global::replace, in the order of enum rpl_rename. */
static const struct rpl_def defaults[] = {
    {"{}", RPL_VAL, XF_NONE, NULL},     {"{.}", RPL_VAL, XF_NOEXT, NULL},
    {"{/}", RPL_VAL, XF_BASE, NULL},    {"{//}", RPL_VAL, XF_DIR, NULL},
    {"{/.}", RPL_VAL, XF_BASE_NOEXT, NULL}, {"{#}", RPL_SEQ, XF_NONE, NULL},
    {"{%}", RPL_SLOT, XF_NONE, NULL},
};

/* GNU parallel's %Global::plus (version 20221122). */
static const struct rpl_def plus[] = {
    {"{+/}", RPL_VAL, XF_PDIR, NULL},
    {"{+.}", RPL_VAL, XF_EXT, NULL},
    {"{+..}", RPL_VAL, XF_EXT2, NULL},
    {"{+...}", RPL_VAL, XF_EXT3, NULL},
    {"{..}", RPL_VAL, XF_NOEXT2, NULL},
    {"{...}", RPL_VAL, XF_NOEXT3, NULL},
    {"{/..}", RPL_VAL, XF_BASE_NOEXT2, NULL},
    {"{/...}", RPL_VAL, XF_BASE_NOEXT3, NULL},
    {"{##}", RPL_TOTAL, XF_NONE, NULL},
    {"{0%}", RPL_SLOT0, XF_NONE, NULL},
    {"{0#}", RPL_SEQ0, XF_NONE, NULL},
    {"{slot}", RPL_SLOT, XF_NONE, NULL},
    {"{host}", RPL_TEXT, XF_NONE, ":"},
    {"{sshlogin}", RPL_TEXT, XF_NONE, ":"},
    {"{hgrp}", RPL_TEXT, XF_NONE, ""},
    {"{agrp}", RPL_TEXT, XF_NONE, ""},
    {"{choose_k}", RPL_PERL, XF_NONE,
     "for $t (2..$#arg){ if($arg[$t-1] ge $arg[$t]) { skip() } }"},
    {"{uniq}", RPL_PERL, XF_NONE, "if(::uniq(@arg) != @arg) { skip(); }"},
    {"{:-([^}]+?)}", RPL_PERL, XF_NONE, "$_ ||= $$1"},
    {"{:(\\d+?)}", RPL_PERL, XF_NONE, "substr($_,0,$$1) = \"\""},
    {"{:(\\d+?):(\\d+?)}", RPL_PERL, XF_NONE, "$_ = substr($_,$$1,$$2);"},
    {"{#([^#}][^}]*?)}", RPL_PERL, XF_NONE,
     "$nongreedy=::make_regexp_ungreedy($$1);s/^$nongreedy(.*)/$1/;"},
    {"{##([^#}][^}]*?)}", RPL_PERL, XF_NONE, "s/^$$1//;"},
    {"{%([^}]+?)}", RPL_PERL, XF_NONE,
     "$nongreedy=::make_regexp_ungreedy($$1);s/(.*)$nongreedy$/$1/;"},
    {"{%%([^}]+?)}", RPL_PERL, XF_NONE, "s/$$1$//;"},
    {"{/([^#%}/]+?)/([^}]*?)}", RPL_PERL, XF_NONE, "s/$$1/$$2/;"},
    {"{/#([^}]+?)/([^}]*?)}", RPL_PERL, XF_NONE, "s/^$$1/$$2/g;"},
    {"{/%([^}]+?)/([^}]*?)}", RPL_PERL, XF_NONE, "s/$$1$/$$2/g;"},
    {"{//([^}]+?)/([^}]*?)}", RPL_PERL, XF_NONE, "s/$$1/$$2/g;"},
    {"{^([^}]+?)}", RPL_PERL, XF_NONE, "s/^($$1)/uc($1)/e;"},
    {"{^^([^}]+?)}", RPL_PERL, XF_NONE, "s/($$1)/uc($1)/eg;"},
    {"{,([^}]+?)}", RPL_PERL, XF_NONE, "s/^($$1)/lc($1)/e;"},
    {"{,,([^}]+?)}", RPL_PERL, XF_NONE, "s/($$1)/lc($1)/eg;"},
};

/* Translates a Perl regex (the groups of a tag) into a POSIX ERE: \d \s \w
   and their negations become classes, other escapes stay, and a lazy
   quantifier's ? goes (rpl_match prefers the shortest match instead). */
static void perl_to_ere(struct sbuf *b, const char *s, size_t n)
{
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            char e = s[++i];
            const char *cls = e == 'd' ? "0-9" : e == 's' ? "[:space:]" : e == 'w' ? "[:alnum:]_"
                                                                                    : NULL;
            const char *neg = e == 'D' ? "0-9" : e == 'S' ? "[:space:]" : e == 'W' ? "[:alnum:]_"
                                                                                   : NULL;
            if (in_class) {
                if (cls != NULL)
                    sb_adds(b, cls);
                else
                    sb_add(b, &e, 1);
            } else if (cls != NULL) {
                sb_adds(b, "[");
                sb_adds(b, cls);
                sb_adds(b, "]");
            } else if (neg != NULL) {
                sb_adds(b, "[^");
                sb_adds(b, neg);
                sb_adds(b, "]");
            } else {
                sb_add(b, s + i - 1, 2);
            }
            continue;
        }
        if (in_class) {
            if (c == ']' && s[i - 1] != '[' && !(s[i - 1] == '^' && s[i - 2] == '['))
                in_class = false;
            sb_add(b, &c, 1);
            continue;
        }
        if (c == '[') {
            in_class = true;
        } else if (c == '?' && i > 0 && strchr("+*?}", s[i - 1]) != NULL) {
            continue; /* lazy */
        }
        sb_add(b, &c, 1);
    }
}

/* Appends s with every ERE special character escaped. */
static void ere_quote(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (strchr("\\^$.[]|()*+?{}", *s) != NULL)
            sb_adds(b, "\\");
        sb_add(b, s, 1);
    }
}

/* Splits a tag as GNU parallel does, /^([^(]*)(\(.*\))?([^)]*)$/, and
   compiles its groups. 0 (no groups, or compiled), -1 ENOMEM / EINVAL. */
static int compile_tag(struct rpl *r)
{
    const char *open = strchr(r->tag, '(');
    const char *close = strrchr(r->tag, ')');
    if (open == NULL || close == NULL || close < open)
        return 0;
    struct sbuf b = {0};
    sb_adds(&b, "^");
    perl_to_ere(&b, open, (size_t)(close + 1 - open));
    ere_quote(&b, close + 1);
    sb_adds(&b, "$");
    char *ere = sb_take(&b);
    if (ere == NULL)
        return -1;
    int rc = regcomp(&r->re, ere, REG_EXTENDED);
    free(ere);
    if (rc != 0) {
        errno = rc == REG_ESPACE ? ENOMEM : EINVAL;
        return -1;
    }
    r->has_re = true;
    r->prefix_len = (size_t)(open - r->tag);
    r->ngroups = r->re.re_nsub < 9 ? r->re.re_nsub : 9;
    return 0;
}

/* Adds (or, for a tag already there, replaces) an entry. */
static int add(struct rpl_set *s, const char *tag, size_t taglen, enum rpl_op op, enum xform xf,
               const char *text, bool copy_text)
{
    struct rpl *r = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i].tag) == taglen && memcmp(s->v[i].tag, tag, taglen) == 0)
            r = &s->v[i];
    if (r == NULL) {
        struct rpl *v = realloc(s->v, (s->n + 1) * sizeof *v);
        if (v == NULL)
            return -1;
        s->v = v;
        r = &s->v[s->n];
        *r = (struct rpl){0};
        r->tag = strndup(tag, taglen);
        if (r->tag == NULL)
            return -1;
        s->n++;
        if (compile_tag(r) != 0)
            return -1;
    } else if (r->owned_text) {
        free((char *)r->text);
    }
    r->op = op;
    r->xf = xf;
    r->owned_text = copy_text;
    r->text = copy_text ? strdup(text) : text;
    return copy_text && r->text == NULL ? -1 : 0;
}

static int by_length_desc(const void *a, const void *b)
{
    size_t la = strlen(((const struct rpl *)a)->tag), lb = strlen(((const struct rpl *)b)->tag);
    return la < lb ? 1 : la > lb ? -1 : strcmp(((const struct rpl *)a)->tag,
                                               ((const struct rpl *)b)->tag);
}

int rpl_init(struct rpl_set *s, const struct rpl_conf *c, const char **why)
{
    static const struct rpl_conf none = {0};
    *s = (struct rpl_set){0};
    *why = "out of memory";
    if (c == NULL)
        c = &none;
    const char *parens = c->parens ? c->parens : "{==}";
    size_t plen = strlen(parens);
    if (plen < 2) {
        *why = "--parens needs a left and a right parenthesis (e.g. {==})";
        errno = EINVAL;
        return -1;
    }
    s->parl = strndup(parens, plen / 2);
    s->parr = strdup(parens + plen / 2);
    if (s->parl == NULL || s->parr == NULL)
        return -1;
    if (c->plus)
        for (size_t i = 0; i < sizeof plus / sizeof plus[0]; i++)
            if (add(s, plus[i].tag, strlen(plus[i].tag), plus[i].op, plus[i].xf, plus[i].text,
                    false) != 0)
                goto fail;
    for (size_t i = 0; i < REN_N; i++) {
        const char *tag = c->rename[i] ? c->rename[i] : defaults[i].tag;
        if (*tag == '\0') {
            *why = "a replacement string cannot be empty";
            errno = EINVAL;
            return -1;
        }
        if (add(s, tag, strlen(tag), defaults[i].op, defaults[i].xf, NULL, false) != 0)
            goto fail;
    }
    for (size_t i = 0; i < c->nrpls; i++) {
        const char *v = c->rpls[i];
        size_t taglen = strcspn(v, " \t\n");
        if (taglen == 0 || v[taglen] == '\0') {
            *why = "--rpl needs 'TAG perl-expression' (e.g. --rpl '{..} s:\\.[^.]+$::')";
            errno = EINVAL;
            return -1;
        }
        if (add(s, v, taglen, RPL_PERL, XF_NONE, v + taglen + 1, true) != 0)
            goto fail;
    }
    qsort(s->v, s->n, sizeof *s->v, by_length_desc);
    return 0;
fail:
    if (errno == EINVAL)
        *why = "a replacement string's (regex) is not one POSIX regex can match "
               "(forkpool translates \\d \\s \\w and lazy quantifiers only)";
    return -1;
}

void rpl_free(struct rpl_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].has_re)
            regfree(&s->v[i].re);
        if (s->v[i].owned_text)
            free((char *)s->v[i].text);
        free(s->v[i].tag);
    }
    free(s->v);
    free(s->parl);
    free(s->parr);
    *s = (struct rpl_set){0};
}

size_t rpl_match(const struct rpl *r, const char *p, size_t skip, regmatch_t *m)
{
    if (!r->has_re) {
        size_t n = strlen(r->tag + skip);
        return strncmp(p, r->tag + skip, n) == 0 ? n : 0;
    }
    size_t prefix = r->prefix_len - skip;
    if (strncmp(p, r->tag + skip, prefix) != 0)
        return 0;
    const char *rest = p + prefix;
    size_t len = strlen(rest);
    /* The shortest match, as Perl's lazy quantifiers would find; it ends
       with the tag's last byte unless that closes the groups. */
    char last = r->tag[strlen(r->tag) - 1];
    for (size_t end = 1; end <= len; end++) {
        if (last != ')' && rest[end - 1] != last)
            continue;
        m[0].rm_so = 0;
        m[0].rm_eo = (regoff_t)end;
        if (regexec(&r->re, rest, r->ngroups + 1, m, REG_STARTEND) != 0)
            continue;
        for (size_t g = 1; g <= r->ngroups; g++) {
            if (m[g].rm_so >= 0) {
                m[g].rm_so += (regoff_t)prefix;
                m[g].rm_eo += (regoff_t)prefix;
            }
        }
        return prefix + end;
    }
    return 0;
}
