/* header.c: --header's {name} into {N} (contract in header.h). */
#include "header.h"

#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

/* The length of a {name...} at s (which starts with '{'), or 0. */
static size_t name_at(const char *s, const char *name, size_t nlen)
{
    static const char *const sfx[] = {"/.}", "//}", "/}", ".}", "}"};
    if (strncmp(s + 1, name, nlen) != 0)
        return 0;
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++)
        if (strncmp(s + 1 + nlen, sfx[i], strlen(sfx[i])) == 0)
            return 1 + nlen + strlen(sfx[i]);
    return 0;
}

int header_rewrite(char **cmd, size_t ncmd, const char *name, size_t id)
{
    size_t nlen = strlen(name);
    for (size_t w = 0; w < ncmd; w++) {
        const char *s = cmd[w];
        if (strchr(s, '{') == NULL)
            continue;
        struct sbuf b = {0};
        bool changed = false;
        while (*s) {
            size_t n = *s == '{' ? name_at(s, name, nlen) : 0;
            if (n == 0) {
                sb_add(&b, s++, 1);
                continue;
            }
            sb_printf(&b, "{%zu", id);
            sb_add(&b, s + 1 + nlen, n - 1 - nlen); /* the suffix and '}' */
            s += n;
            changed = true;
        }
        if (!changed) {
            sb_free(&b);
            continue;
        }
        char *r = sb_take(&b);
        if (r == NULL)
            return -1;
        free(cmd[w]);
        cmd[w] = r;
    }
    return 0;
}
