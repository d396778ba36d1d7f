/* shellcmd.c: --shell's shell, -q, and refusing commands that need a shell
   (issue #12 item 7; contracts in shellcmd.h). */
#include "shellcmd.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fpc.h"
#include "inputs.h"
#include "quote.h"
#include "sbuf.h"

/* Words a shell reads as an operator or a redirection: passed to a program
   they would be plain arguments (GNU parallel, which always uses a shell,
   pipes or redirects). */
static bool is_operator(const char *w)
{
    static const char *const ops[] = {"|",  "||", "&&", "&",  ";",   ";;",   "|&", "<",
                                      "<<", ">",  ">>", "&>", "2>", "2>>", "2>&1", ">&2",
                                      "1>&2", "<<<"};
    /* not "(", ")", "!": find and test take them as arguments */
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(w, ops[i]) == 0)
            return true;
    /* '>file' or '2>file' given as one quoted word; `{}\;` or `{}\;date`
       (GNU parallel's shell ends the command there) */
    size_t n = strlen(w);
    return w[0] == '>' || (w[0] == '2' && w[1] == '>') || (n > 1 && w[n - 1] == ';') ||
           strstr(w, "};") != NULL;
}

/* Whether w is wrapped in quotes that only a shell would remove ('...' or
   "..." around blanks or $: GNU parallel's shell strips them, a program
   would get them). A quoted word without blanks or $ ('"key"' for grep)
   is left alone. */
static bool is_shell_quoted(const char *w)
{
    size_t n = strlen(w);
    if (n < 3 || (w[0] != '\'' && w[0] != '"') || w[n - 1] != w[0])
        return false;
    return strpbrk(w + 1, " \t$`") != NULL;
}

/* Whether a {= perl expression =} is still open after word w (open:
   whether one was open before it). */
static bool perl_open(const char *w, bool open)
{
    for (;;) {
        const char *p = strstr(w, open ? "=}" : "{=");
        if (p == NULL)
            return open;
        w = p + 2;
        open = !open;
    }
}

/* find's -exec ... ; and -exec ... + : a bare ';' there is find's. */
static bool is_find_exec(const char *w)
{
    return strcmp(w, "-exec") == 0 || strcmp(w, "-execdir") == 0 || strcmp(w, "-ok") == 0 ||
           strcmp(w, "-okdir") == 0;
}

/* Whether a first word holds what only a shell understands: blanks,
   operators, quotes, expansions, globs, or a leading VAR=value. Braces
   are not counted: they are replacement strings. */
static bool has_shell_syntax(const char *w)
{
    if (strpbrk(w, " \t\n|&;<>()$`\\\"'*?") != NULL)
        return true;
    const char *eq = strchr(w, '=');
    if (eq == NULL || eq == w)
        return false;
    for (const char *p = w; p < eq; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p > w && *p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* Whether name (no '/') is an executable file in a directory of $PATH. */
static bool on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    size_t nlen = strlen(name);
    for (const char *p = path;;) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
        char *full = malloc(dlen + nlen + 3);
        if (full == NULL)
            return true; /* out of memory: do not refuse on a guess */
        if (dlen == 0)
            memcpy(full, ".", (dlen = 1));
        else
            memcpy(full, p, dlen);
        full[dlen] = '/';
        memcpy(full + dlen + 1, name, nlen + 1);
        bool found = access(full, X_OK) == 0;
        free(full);
        if (found)
            return true;
        if (colon == NULL)
            return false;
        p = colon + 1;
    }
}

/* Builtins of sh and bash that are no program of their own. */
static bool is_builtin(const char *w)
{
    static const char *const b[] = {
        ".",      ":",       "alias",  "bg",      "bind",     "break",   "builtin", "caller",
        "cd",     "command", "compgen", "complete", "continue", "declare", "dirs",   "disown",
        "enable", "eval",    "exec",   "exit",    "export",   "fc",      "fg",      "getopts",
        "hash",   "history", "jobs",   "let",     "local",    "mapfile", "popd",    "pushd",
        "read",   "readarray", "readonly", "return", "set",   "shift",   "shopt",   "source",
        "suspend", "times",  "trap",   "type",    "typeset",  "ulimit",  "umask",   "unalias",
        "unset",  "wait",
    };
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
        if (strcmp(w, b[i]) == 0)
            return true;
    return false;
}

/* Whether bash exported a function called name (export -f). */
static bool is_exported_function(const char *name)
{
    extern char **environ;
    size_t n = strlen(name);
    for (char **e = environ; e != NULL && *e != NULL; e++)
        if (strncmp(*e, "BASH_FUNC_", 10) == 0 && strncmp(*e + 10, name, n) == 0 &&
            (strncmp(*e + 10 + n, "%%=", 3) == 0 || strncmp(*e + 10 + n, "()=", 3) == 0))
            return true;
    return false;
}

int shell_check(struct opts *o)
{
    if (o->quote) {
        o->shell = false; /* -q: the words go to the program as they are */
        return 0;
    }
    if (o->shell) {
        const char *sh = getenv("SHELL");
        if (o->shell_path == NULL)
            o->shell_path = sh != NULL && sh[0] == '/' ? sh : "/bin/sh";
        if (access(o->shell_path, X_OK) != 0) {
            fpc_say("--shell: '%s' is not an executable shell", o->shell_path);
            return -1;
        }
        return 0;
    }
    if (o->ncmd == 0)
        return 0;
    const char *w0 = o->cmd[0];
    if (has_shell_syntax(w0) && access(w0, X_OK) != 0) {
        fpc_say("the command '%s' is one argument with spaces or shell syntax, and forkpool "
                "runs programs without a shell; to run it through a shell, add --shell "
                "(forkpool --shell '%s' ...), or give the program and its arguments as "
                "separate words", w0, w0);
        return -1;
    }
    bool exec = false, perl = perl_open(w0, false);
    for (size_t i = 1; i < o->ncmd; i++) {
        /* words in or holding a {= perl expression =} are Perl's, not the
           shell's */
        bool in = perl || strstr(o->cmd[i], "{=") != NULL;
        perl = perl_open(o->cmd[i], perl);
        if (in)
            continue;
        if (is_find_exec(o->cmd[i]))
            exec = true;
        if (exec && (strcmp(o->cmd[i], ";") == 0 || strcmp(o->cmd[i], "+") == 0)) {
            exec = false;
            continue;
        }
        if (is_shell_quoted(o->cmd[i])) {
            fpc_say("the argument %s is wrapped in quotes that only a shell removes (forkpool "
                    "runs programs without a shell, so '%s' would get them); drop the "
                    "quotes, or add --shell to run the command through a shell, or -q to "
                    "pass the argument as it is", o->cmd[i], w0);
            return -1;
        }
        if (is_operator(o->cmd[i])) {
            fpc_say("'%s' in the command would be passed to '%s' as an argument (forkpool "
                    "runs programs without a shell); to run the command through a shell, "
                    "add --shell and quote it as one argument (forkpool --shell '... %s "
                    "...'), or add -q to pass '%s' as it is", o->cmd[i], w0, o->cmd[i],
                    o->cmd[i]);
            return -1;
        }
    }
    /* --pipe commands are mostly written for GNU parallel, which hands
       every command to a shell: a word holding shell code there (`echo
       JOB{#}\;cat`) would run as text. */
    for (size_t i = 0; (o->pipe || o->pipepart) && i < o->ncmd; i++)
        if (strpbrk(o->cmd[i], ";|&<>`") != NULL || strstr(o->cmd[i], "$(") != NULL) {
            fpc_say("'%s' is shell code, which forkpool runs only with --shell: add --shell "
                    "(then the command's words are joined and run by /bin/sh -c), or -q to "
                    "pass it as it is",
                    o->cmd[i]);
            return -1;
        }
    if (strchr(w0, '/') == NULL && strchr(w0, '{') == NULL && !on_path(w0)) {
        if (is_exported_function(w0)) {
            fpc_say("'%s' is a shell function, not a program; to run it, add --shell "
                    "(with bash as $SHELL, or --shell=/bin/bash, and `export -f %s`)",
                    w0, w0);
            return -1;
        }
        if (is_builtin(w0)) {
            fpc_say("'%s' is a shell builtin, not a program; to run it, add --shell", w0);
            return -1;
        }
    }
    return 0;
}

int shell_quote_inputs(const struct opts *o)
{
    struct inputs in;
    if (inputs_init(&in, o) != 0) {
        inputs_free(&in);
        return 255;
    }
    int status = 0;
    for (;;) {
        char **vals;
        int r = inputs_next(&in, &vals);
        if (r == 0) {
            if (reader_fill(&in.rd) == 0) /* blocks: we run nothing meanwhile */
                continue;
            r = -2;
        }
        if (r < 0) {
            if (r == -2) {
                fpc_say("cannot read inputs");
                status = 255;
            }
            break;
        }
        struct sbuf b = {0};
        for (size_t g = 0; g < in.ngroups; g++) {
            if (g > 0)
                sb_adds(&b, " ");
            quote_add(&b, vals[g], strlen(vals[g]));
        }
        sb_adds(&b, "\n");
        inputs_vals_free(vals, in.ngroups);
        if (sb_write(&b, STDOUT_FILENO) != 0) {
            status = 255;
            break;
        }
    }
    inputs_free(&in);
    return status;
}
