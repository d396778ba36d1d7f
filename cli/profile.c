/* profile.c: the #! line, profiles and $PARALLEL (contracts in profile.h). */
#include "profile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fpc.h"
#include "options.h"
#include "sbuf.h"

extern char **environ;

static const char blanks[] = " \t\n\r\f\v";

/* A list of words, each owned. Allocation failure is sticky (oom). */
struct words {
    char **w;
    size_t n, cap;
    bool oom;
};

/* Appends s (taken over; NULL means it could not be made). */
static void words_take(struct words *l, char *s)
{
    if (s == NULL || l->oom) {
        free(s);
        l->oom = true;
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **w = realloc(l->w, cap * sizeof *w);
        if (w == NULL) {
            free(s);
            l->oom = true;
            return;
        }
        l->w = w;
        l->cap = cap;
    }
    l->w[l->n++] = s;
}

static void words_copy(struct words *l, const char *s)
{
    words_take(l, strdup(s));
}

static void words_free(struct words *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->w[i]);
    free(l->w);
    *l = (struct words){0};
}

/* Splits s into words as GNU parallel does (Perl's Text::ParseWords
   shellwords): blanks separate words; '...' is literal; outside quotes and
   in "..." a backslash takes the next character as it is. No expansions.
   0, or -1 with errno EINVAL (an unterminated quote) or ENOMEM. */
static int split_words(const char *s, struct words *out)
{
    for (;;) {
        s += strspn(s, blanks);
        if (*s == '\0')
            return out->oom ? (errno = ENOMEM, -1) : 0;
        struct sbuf b = {0};
        while (*s != '\0' && strchr(blanks, *s) == NULL) {
            char q = *s;
            if (q == '\\' && s[1] != '\0') {
                sb_add(&b, s + 1, 1);
                s += 2;
                continue;
            }
            if (q != '\'' && q != '"') {
                sb_add(&b, s++, 1);
                continue;
            }
            for (s++; *s != q; s++) {
                if (*s == '\0') {
                    sb_free(&b);
                    errno = EINVAL;
                    return -1;
                }
                if (q == '"' && *s == '\\' && s[1] != '\0')
                    s++;
                sb_add(&b, s, 1);
            }
            s++;
        }
        words_take(out, sb_take(&b));
    }
}

/* ------------------------------------------------------------ the #! line */

/* Whether a starts with flag followed by a blank or its end; *rest: after
   the blanks. */
static bool flag_at(const char *a, const char *flag, const char **rest)
{
    size_t n = strlen(flag);
    if (strncmp(a, flag, n) != 0 || (a[n] != '\0' && strchr(blanks, a[n]) == NULL))
        return false;
    *rest = a + n + strspn(a + n, blanks);
    return true;
}

/* The command line's words after argv[0], with a #! line's options (Linux
   passes them as one word, argv[1]) split: --shebang-wrap OPTS: OPTS
   SCRIPT ::: ARGS; --shebang OPTS: -a SCRIPT OPTS, the script's first line
   skipped. 0, or -1 after a message. */
static int line_words(int argc, char **argv, struct words *out, bool *skip_first)
{
    const char *a1 = argc > 1 ? argv[1] : "", *rest;
    int first = 1, last = argc; /* argv[first..last) follow as they are */
    if (flag_at(a1, "--shebang-wrap", &rest) || flag_at(a1, "--shebangwrap", &rest)) {
        if (argc < 3) {
            fpc_say("--shebang-wrap: no script; it belongs on a script's #! line "
                    "(#!/usr/bin/forkpool --shebang-wrap /usr/bin/perl)");
            return -1;
        }
        if (split_words(rest, out) != 0)
            goto bad;
        words_copy(out, argv[2]);
        words_copy(out, ":::");
        first = 3;
    } else if (flag_at(a1, "--shebang", &rest) || flag_at(a1, "--hashbang", &rest)) {
        if (argc < 3) {
            fpc_say("--shebang: no script; it belongs on a script's #! line, the script's "
                    "other lines are the inputs (#!/usr/bin/forkpool --shebang -r echo)");
            return -1;
        }
        words_copy(out, "-a");
        words_copy(out, argv[argc - 1]);
        if (split_words(rest, out) != 0)
            goto bad;
        *skip_first = true;
        first = 2;
        last = argc - 1;
    }
    for (int i = first; i < last; i++)
        words_copy(out, argv[i]);
    if (!out->oom)
        return 0;
    errno = ENOMEM;
bad:
    fpc_say("%s: %s", a1, errno == EINVAL ? "unterminated quote" : strerror(errno));
    return -1;
}

/* ------------------------------------------------------ parsing a segment */

/* What parsing one segment (profiles, $PARALLEL, the command line) alone
   told: its leading nopt words are options; dashdash: the last of them is
   the "--" that ended them. */
struct seg {
    struct words w;
    size_t nopt;
    bool dashdash, stop; /* stop: --help and the like: nothing else counts */
    const char **profiles; /* the command line's --profile values (in w) */
    size_t nprofiles;
    bool plain;
};

/* Parses s->w alone, after prog. 0, or -1 after the parser's message and,
   when from is not NULL, one naming where the words came from. */
static int seg_parse(struct seg *s, const char *prog, const char *from)
{
    char **v = malloc((s->w.n + 2) * sizeof *v);
    if (v == NULL) {
        fpc_say("out of memory");
        return -1;
    }
    v[0] = (char *)prog;
    if (s->w.n > 0)
        memcpy(v + 1, s->w.w, s->w.n * sizeof *v);
    v[s->w.n + 1] = NULL;
    struct opts o;
    int r = opt_parse(&o, (int)s->w.n + 1, v);
    if (r != 0 && from != NULL)
        fpc_say("(in the options read from %s)", from);
    s->stop = o.help || o.version || o.info != NULL || o.minversion != NULL || o.record_env;
    s->nopt = s->stop ? s->w.n : (size_t)o.nopt_words - 1;
    s->dashdash = o.dashdash;
    s->plain = o.plain;
    if (r == 0 && o.nprofiles > 0) {
        s->profiles = malloc(o.nprofiles * sizeof *s->profiles);
        if (s->profiles == NULL) {
            fpc_say("out of memory");
            r = -1;
        } else {
            memcpy(s->profiles, o.profiles, o.nprofiles * sizeof *s->profiles);
            s->nprofiles = o.nprofiles;
        }
    }
    opt_free(&o);
    free(v);
    return r;
}

static void seg_free(struct seg *s)
{
    words_free(&s->w);
    free(s->profiles);
}

/* ------------------------------------------------------------- profiles */

/* Adds a + b to dirs when it names a directory. */
static void dir_add(struct words *dirs, const char *a, const char *b)
{
    struct sbuf p = {0};
    sb_adds(&p, a);
    sb_adds(&p, b);
    char *path = sb_take(&p);
    struct stat st;
    if (path != NULL && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))) {
        free(path);
        return;
    }
    words_take(dirs, path);
}

static const char *home(void)
{
    const char *h = getenv("HOME");
    return h != NULL ? h : "";
}

/* GNU parallel's config directories that exist, in its order. */
static void config_dirs(struct words *dirs)
{
    const char *ph = getenv("PARALLEL_HOME");
    if (ph != NULL && *ph != '\0') {
        (void)mkdir(ph, 0777); /* as GNU parallel: made when missing */
        dir_add(dirs, ph, "");
    }
    const char *xh = getenv("XDG_CONFIG_HOME");
    if (xh != NULL && *xh != '\0')
        dir_add(dirs, xh, "/parallel");
    const char *xd = getenv("XDG_CONFIG_DIRS");
    for (const char *p = xd; p != NULL && *p != '\0';) {
        size_t n = strcspn(p, ":");
        char *d = strndup(p, n);
        if (d != NULL && *d != '\0')
            dir_add(dirs, d, "/parallel");
        free(d);
        p += n + (p[n] == ':');
    }
    dir_add(dirs, home(), "/.parallel");
}

/* Appends path's words to out (lines starting with # skipped) and its name
   to names. 0, or -1 after a message. */
static int read_profile(const char *path, struct words *out, struct sbuf *names)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fpc_say("profile %s: %s", path, strerror(errno));
        return -1;
    }
    sb_adds(names, names->len > 0 ? ", " : "");
    sb_adds(names, path);
    char *line = NULL;
    size_t cap = 0;
    unsigned long lineno = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) != -1) {
        lineno++;
        if (line[strspn(line, blanks)] == '#')
            continue;
        if (split_words(line, out) != 0) {
            fpc_say("profile %s, line %lu: %s", path, lineno,
                    errno == EINVAL ? "unterminated quote" : strerror(errno));
            rc = -1;
        }
    }
    if (rc == 0 && ferror(f)) {
        fpc_say("profile %s: %s", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* The profiles' words: each --profile NAME (a path when it starts with ./
   or /, else NAME in every config directory holding it), or without one
   the config files that exist. 0, or -1 after a message. */
static int read_profiles(const struct seg *line, struct words *out, struct sbuf *names)
{
    struct words dirs = {0};
    config_dirs(&dirs);
    int rc = dirs.oom ? -1 : 0;
    if (rc == 0 && line->nprofiles == 0) {
        struct words files = {0};
        words_copy(&files, "/etc/parallel/config");
        for (size_t i = 0; i < dirs.n; i++) {
            struct sbuf p = {0};
            sb_adds(&p, dirs.w[i]);
            sb_adds(&p, "/config");
            words_take(&files, sb_take(&p));
        }
        struct sbuf rc_path = {0};
        sb_adds(&rc_path, home());
        sb_adds(&rc_path, "/.parallelrc");
        words_take(&files, sb_take(&rc_path));
        rc = files.oom ? -1 : 0;
        for (size_t i = 0; rc == 0 && i < files.n; i++)
            if (access(files.w[i], R_OK) == 0)
                rc = read_profile(files.w[i], out, names);
        words_free(&files);
    }
    for (size_t k = 0; rc == 0 && k < line->nprofiles; k++) {
        const char *name = line->profiles[k];
        if (strncmp(name, "./", 2) == 0 || name[0] == '/') {
            rc = read_profile(name, out, names);
            continue;
        }
        bool found = false;
        for (size_t i = 0; rc == 0 && i < dirs.n; i++) {
            struct sbuf p = {0};
            sb_adds(&p, dirs.w[i]);
            sb_adds(&p, "/");
            sb_adds(&p, name);
            char *path = sb_take(&p);
            if (path == NULL) {
                rc = -1;
                break;
            }
            if (access(path, R_OK) == 0) {
                found = true;
                rc = read_profile(path, out, names);
            }
            free(path);
        }
        if (rc == 0 && !found) {
            fpc_say("--profile %s: no readable file %s in %s", name, name,
                    dirs.n > 0 ? dirs.w[0] : "~/.parallel (which does not exist)");
            rc = -1;
        }
    }
    if (rc != 0 && (dirs.oom || out->oom))
        fpc_say("out of memory");
    words_free(&dirs);
    return rc;
}

/* ------------------------------------------------------------ assembling */

/* Moves s's words [from, to) into out, "--" left out when it is the one
   that ended s's options. */
static void seg_move(struct seg *s, size_t from, size_t to, struct words *out)
{
    for (size_t i = from; i < to && i < s->w.n; i++) {
        if (s->dashdash && i + 1 == s->nopt) {
            free(s->w.w[i]);
        } else {
            words_take(out, s->w.w[i]);
        }
        s->w.w[i] = NULL;
    }
}

int prof_argv(int argc, char **argv, struct prof_argv *out)
{
    *out = (struct prof_argv){0};
    const char *prog = argc > 0 ? argv[0] : "forkpool";
    struct seg segs[3] = {{.w = {0}}}; /* the profiles, $PARALLEL, the command line */
    struct seg *line = &segs[2];
    struct sbuf names = {0};
    struct words all = {0};
    int rc = -1;
    if (line_words(argc, argv, &line->w, &out->skip_first_line) != 0 ||
        seg_parse(line, prog, NULL) != 0)
        goto done;
    if (!line->stop && !line->plain) {
        if (read_profiles(line, &segs[0].w, &names) != 0)
            goto done;
        const char *env = getenv("PARALLEL");
        if (env != NULL && split_words(env, &segs[1].w) != 0) {
            fpc_say("$PARALLEL: %s", errno == EINVAL ? "unterminated quote" : strerror(errno));
            goto done;
        }
        char *from = sb_take(&names);
        if (from == NULL || (segs[0].w.n > 0 && seg_parse(&segs[0], prog, from) != 0) ||
            (segs[1].w.n > 0 && seg_parse(&segs[1], prog, "$PARALLEL") != 0)) {
            if (from == NULL)
                fpc_say("out of memory");
            free(from);
            goto done;
        }
        free(from);
    }
    /* GNU parallel's order: every segment's options, then the words after
       them (a profile may hold a command prefix such as `nice`). */
    words_copy(&all, prog);
    bool dashdash = false;
    for (int k = 0; k < 3; k++) {
        seg_move(&segs[k], 0, segs[k].nopt, &all);
        dashdash |= segs[k].dashdash;
    }
    if (dashdash)
        words_copy(&all, "--");
    for (int k = 0; k < 3; k++)
        seg_move(&segs[k], segs[k].nopt, segs[k].w.n, &all);
    words_copy(&all, ""); /* room for argv's NULL */
    if (all.oom) {
        fpc_say("out of memory");
        goto done;
    }
    free(all.w[--all.n]);
    all.w[all.n] = NULL;
    rc = 0;
done:
    for (int k = 0; k < 3; k++)
        seg_free(&segs[k]);
    sb_free(&names);
    out->argv = all.w;
    out->argc = (int)all.n;
    return rc;
}

void prof_argv_free(struct prof_argv *p)
{
    for (int i = 0; i < p->argc; i++)
        free(p->argv[i]);
    free(p->argv);
    *p = (struct prof_argv){0};
}

int prof_record_env(void)
{
    struct words dirs = {0};
    config_dirs(&dirs);
    struct sbuf path = {0};
    if (dirs.n > 0) {
        sb_adds(&path, dirs.w[0]);
    } else {
        sb_adds(&path, home());
        sb_adds(&path, "/.parallel");
        if (path.p != NULL)
            (void)mkdir(path.p, 0777);
    }
    words_free(&dirs);
    sb_adds(&path, "/ignored_vars");
    char *file = sb_take(&path);
    struct sbuf b = {0};
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        sb_add(&b, *e, strcspn(*e, "="));
        sb_add(&b, "\n", 1);
    }
    int fd = file != NULL ? open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666) : -1;
    int rc = fd >= 0 && sb_write(&b, fd) == 0 ? 0 : -1;
    int err = errno;
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        rc = -1;
        err = errno;
    }
    if (rc != 0)
        fpc_say("--record-env: cannot write %s: %s", file != NULL ? file : "ignored_vars",
                strerror(err));
    sb_free(&b);
    free(file);
    return rc == 0 ? 0 : 255;
}
