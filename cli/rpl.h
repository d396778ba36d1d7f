/*
 * rpl.h: the table of replacement strings a template is parsed with, as
 * GNU parallel builds it (parse_replacement_string_options): the default
 * strings, --plus's, the renames (-I, --er, --bnr, --dnr, --bner,
 * --seqreplace, --slotreplace), --rpl 'TAG perl-expression' and --parens.
 *
 * Each entry is done in C where GNU parallel's Perl has a C equivalent
 * ({} {.} {/} {//} {/.} {#} {%}, --plus's path strings, {##} {0#} {0%}
 * {slot} {host} ...); the rest ({:-x} {#pre} {%suf} {/a/b} {^a} ..., every
 * --rpl) is a Perl expression, run by cli/perl.c.
 *
 * A tag may hold one parenthesised Perl regex (--rpl '{%(.+?)} s/$$1$//'):
 * it is split as GNU parallel splits it (prefix, groups, postfix) and the
 * groups are matched with POSIX regex (Perl's \d \s \w and lazy
 * quantifiers translated; the shortest match wins, as a lazy Perl
 * quantifier would); $$N in the expression is the Nth group's text.
 */
#ifndef FPC_RPL_H
#define FPC_RPL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

enum rpl_op {
    RPL_VAL,   /* the value, through xf */
    RPL_SEQ,   /* {#} */
    RPL_SLOT,  /* {%} */
    RPL_TOTAL, /* {##}: number of jobs */
    RPL_SEQ0,  /* {0#}: seq zero-padded to the width of the total */
    RPL_SLOT0, /* {0%}: slot zero-padded to the width of -j */
    RPL_TEXT,  /* fixed text ({host}: ":") */
    RPL_PERL,  /* a Perl expression */
};

/* Path transformations, as GNU parallel's Perl substitutions. */
enum xform {
    XF_NONE, XF_NOEXT, XF_BASE, XF_DIR, XF_BASE_NOEXT,
    XF_NOEXT2, XF_NOEXT3, XF_BASE_NOEXT2, XF_BASE_NOEXT3, /* {..} {...} {/..} {/...} */
    XF_PDIR, XF_EXT, XF_EXT2, XF_EXT3                     /* {+/} {+.} {+..} {+...} */
};

struct rpl {
    char *tag;          /* as written (owned) */
    enum rpl_op op;
    enum xform xf;
    const char *text;   /* RPL_TEXT: the text; RPL_PERL: the expression */
    bool owned_text;    /* text is malloc'd */
    /* A tag with groups: tag[0..prefix_len) literal, then re (the groups
       and the postfix, anchored at both ends). */
    bool has_re;
    size_t prefix_len;
    size_t ngroups;
    regex_t re;
};

/* What the command line asked for. */
enum rpl_rename { REN_ARG, REN_NOEXT, REN_BASE, REN_DIR, REN_BASE_NOEXT, REN_SEQ, REN_SLOT,
                  REN_N };

struct rpl_conf {
    bool plus;                   /* --plus */
    const char *parens;          /* --parens; NULL: "{==}" */
    const char *rename[REN_N];   /* -I --er --bnr --dnr --bner --seqreplace --slotreplace */
    const char **rpls;           /* --rpl values, in order */
    size_t nrpls;
};

struct rpl_set {
    struct rpl *v;  /* longest tag first (GNU parallel's order) */
    size_t n;
    char *parl, *parr; /* the two halves of --parens ("{=", "=}") */
};

/* Builds the table for c (NULL: the defaults). 0, or -1 with errno ENOMEM,
   or EINVAL and *why set to a static message (a bad --rpl or --parens).
   Call rpl_free either way. */
int rpl_init(struct rpl_set *s, const struct rpl_conf *c, const char **why);
void rpl_free(struct rpl_set *s);

/* Whether r's tag, without its first skip bytes, matches at p: the length
   matched, and (has_re) the groups' offsets into p in m[1..ngroups] (m has
   10 entries). 0: no match. */
size_t rpl_match(const struct rpl *r, const char *p, size_t skip, regmatch_t *m);

#endif
