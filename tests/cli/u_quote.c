/* Shell quoting (cli/quote.c) on its own: GNU parallel's exact forms, and
   every tricky string (quotes, $, backquotes, globs, whitespace, every byte
   from 1 to 255) read back unchanged by /bin/sh -c 'printf %s QUOTED'. */
#include <stdbool.h>
#include <sys/wait.h>

#include "quote.h"
#include "tap.h"

/* s[0..n) quoted (malloc'd). */
static char *quoted(const char *s, size_t n)
{
    struct sbuf b = {0};
    quote_add(&b, s, n);
    char *q = sb_take(&b);
    if (!q)
        bail_out("out of memory");
    return q;
}

/* What /bin/sh -c "printf %s Q" prints (malloc'd; *len its length). */
static char *shell_prints(const char *q, size_t *len)
{
    size_t cmdlen = strlen(q) + 16;
    char *cmd = malloc(cmdlen);
    if (!cmd)
        bail_out("out of memory");
    snprintf(cmd, cmdlen, "printf %%s %s", q);
    int p[2];
    if (pipe(p) != 0)
        bail_out("pipe failed");
    pid_t pid = fork();
    if (pid < 0)
        bail_out("fork failed");
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    close(p[1]);
    size_t cap = 1024, n = 0;
    char *out = malloc(cap);
    ssize_t k;
    while (out && (k = read(p[0], out + n, cap - n)) > 0) {
        n += (size_t)k;
        if (n == cap)
            out = realloc(out, cap *= 2);
    }
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!out || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bail_out("/bin/sh -c printf failed");
    *len = n;
    return out;
}

/* s with control and non-ASCII bytes as \xHH, for test names (static). */
static const char *visible(const char *s)
{
    static char out[128];
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && k < sizeof out - 5; p++)
        k += (size_t)snprintf(out + k, sizeof out - k, *p < 0x20 || *p >= 0x7f ? "\\x%02x" : "%c",
                              *p);
    out[k] = '\0';
    return out;
}

static void forms(void)
{
    static const struct {
        const char *s, *q;
    } cases[] = {
        {"abc", "abc"},
        {"-_.+/aZ09", "-_.+/aZ09"},
        {"", "''"},
        {"a b", "'a b'"},
        {"it's", "'it'\"'\"'s'"},
        {"'", "\"'\""},
        {"''", "\"'\"''\"'\""},
        {"'a", "\"'\"'a'"},
        {"a'", "'a'\"'\""},
        {"~", "'~'"},
        {"$HOME", "'$HOME'"},
        {"a\nb", "'a\nb'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *q = quoted(cases[i].s, strlen(cases[i].s));
        is_str(q, cases[i].q, "quoted as GNU parallel does: [%s]", visible(cases[i].q));
        free(q);
    }
    struct sbuf b = {0};
    sb_adds(&b, "x ");
    quote_add(&b, "a b", 3);
    char *s = sb_take(&b);
    is_str(s, "x 'a b'", "appends to what the buffer holds");
    free(s);
}

static bool round_trips(const char *s, size_t n)
{
    char *q = quoted(s, n);
    size_t len;
    char *out = shell_prints(q, &len);
    bool same = len == n && memcmp(out, s, n) == 0;
    if (!same)
        diag("quoted: %s", q);
    free(q);
    free(out);
    return same;
}

static void shell(void)
{
    static const char *const tricky[] = {
        "", "a", "a b", "it's", "'", "''", "'a'", "\"", "\"'\"", "$HOME", "${HOME}", "`id`",
        "$(id)", "\\", "\\\\'", "\n", "a\n", "\t", " ", "  lead", "trail  ", "*", "?", "[a]",
        "~", "~root", "a;b", "a|b", "a&&b", ">x", "<x", "!", "#", "%s", "%%", "-n", "--", "{}",
        "a=b", "é", "\x7f", "\xff\xfe",
    };
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
        ok(round_trips(tricky[i], strlen(tricky[i])), "/bin/sh reads back [%s]", visible(tricky[i]));
    }
    char all[256];
    for (int c = 1; c < 256; c++)
        all[c - 1] = (char)c;
    ok(round_trips(all, 255), "/bin/sh reads back every byte from 1 to 255 in one word");
    char quotes[64];
    memset(quotes, '\'', sizeof quotes);
    ok(round_trips(quotes, sizeof quotes), "/bin/sh reads back 64 single quotes");
}

int main(void)
{
    tap_watchdog(60);
    forms();
    shell();
    return done_testing();
}
