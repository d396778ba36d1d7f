/* A program task's arguments and captured output (program.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "program.h"

static char **strv_dup(const char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    char **c = calloc(n + 1, sizeof *c);
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(c[i] = strdup(v[i]))) {
            while (i-- > 0)
                free(c[i]);
            free(c);
            return NULL;
        }
    return c;
}

void fp_strv_free(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

void fp_exec_free(fp_exec *x)
{
    if (!x)
        return;
    fp_strv_free(x->argv);
    fp_strv_free(x->envp);
    free(x->cwd);
    free(x->input);
    fp_buf_free(&x->out);
    fp_buf_free(&x->err);
    free(x);
}

fp_exec *fp_exec_new(const char *const argv[], const forkpool_exec_options *o)
{
    fp_exec *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->capture = o ? o->capture : 0;
    x->argv = strv_dup(argv);
    int ok = x->argv != NULL;
    if (ok && o && o->envp)
        ok = (x->envp = strv_dup(o->envp)) != NULL;
    if (ok && o && o->cwd)
        ok = (x->cwd = strdup(o->cwd)) != NULL;
    if (ok && o && o->input) {
        x->input = malloc(o->input_len ? o->input_len : 1);
        ok = x->input != NULL;
        if (ok) {
            memcpy(x->input, o->input, o->input_len);
            x->input_len = o->input_len;
        }
    }
    if (!ok) {
        fp_exec_free(x);
        errno = ENOMEM;
        return NULL;
    }
    return x;
}

