/*
 * regexp.h: --regexp, where --recend and --recstart are regular
 * expressions. GNU parallel takes them as Perl's; forkpool compiles them as
 * POSIX extended ones (regcomp, as --colsep), after turning the Perl forms
 * a record separator needs into POSIX ones: \n \t \r \f \e and octal \0NN,
 * \d \s \w (and \D \S \W), (?: groups, and escapes inside [...]. '.' and
 * [^...] do not match a newline, and ^ and $ match at line ends, as in the
 * Perl /m pattern GNU parallel builds for --pipe; for --pipepart it builds
 * a /s one (without /m): '.' matches a newline too, and ^ and $ only where
 * the text searched begins and ends. Other (?...) forms, lazy quantifiers,
 * back-references and a NUL are refused with a message.
 */
#ifndef FPC_REGEXP_H
#define FPC_REGEXP_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

struct rx {
    regex_t re;       /* (recend)(recstart) */
    regmatch_t *m;    /* room for all its groups */
    size_t split;     /* the group of recstart */
    bool ok;
};

/* Compiles recend followed by recstart; lines: --pipe's /m meaning (else
   --pipepart's /s). 0, or -1 after a message naming the option at fault;
   rx_free either way. */
int rx_compile(struct rx *r, const char *recend, const char *recstart, bool lines);
void rx_free(struct rx *r);

/* The first place at or after pos where a record ends and the next starts
   in b[0..n): *start where the recend match begins, *split where the
   recstart match begins (the cut). false: none. */
bool rx_find(struct rx *r, const char *b, size_t n, size_t pos, size_t *start, size_t *split);

/* The first match at or after pos in b[0..n): b[*so..*eo). false: none. */
bool rx_span(struct rx *r, const char *b, size_t n, size_t pos, size_t *so, size_t *eo);

#endif
