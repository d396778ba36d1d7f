/*
 * profile.h: what GNU parallel reads before its command line, read the same
 * way: a #! line's options (--shebang, --shebang-wrap, --hashbang as the
 * first argument), profiles (--profile NAME / -J NAME; without one, the
 * config files /etc/parallel/config, CONFIG_DIR/config for each config
 * directory, ~/.parallelrc, when they exist), and $PARALLEL; --plain skips
 * profiles and $PARALLEL. The config directories: $PARALLEL_HOME,
 * $XDG_CONFIG_HOME/parallel, each of $XDG_CONFIG_DIRS/parallel,
 * ~/.parallel, those that exist (the first is where --record-env writes).
 * Profile lines are split into words as a shell would (quotes and
 * backslashes; no expansions); lines starting with # are comments.
 */
#ifndef FPC_PROFILE_H
#define FPC_PROFILE_H

#include <stdbool.h>
#include <stddef.h>

/* The command line to parse: argv (argc words, argv[0] the program),
   borrowing the original's strings and owning the rest. */
struct prof_argv {
    int argc;
    char **argv;
    char **owned; /* words read from files and $PARALLEL */
    size_t nowned;
    bool skip_first_line; /* --shebang: the script's #! line is no input */
};

/* Builds the command line GNU parallel would parse from argv: the #! line's
   options split into words (--shebang: `-a SCRIPT` and the script's first
   line skipped; --shebang-wrap: `OPTIONS SCRIPT ::: ARGS`), then the
   options of the profiles, of $PARALLEL and of the command line, in that
   order, before the profiles', $PARALLEL's and the command line's other
   words. 0, or -1 after a message (a bad option in a profile names the
   profile; an unreadable --profile is an error, where GNU parallel ignores
   it); call prof_argv_free either way. */
int prof_argv(int argc, char **argv, struct prof_argv *out);
void prof_argv_free(struct prof_argv *p);

/* --record-env: writes the names of the environment's variables, one a
   line, to CONFIG_DIR/ignored_vars (making ~/.parallel when no config
   directory exists). The exit status: 0, or 255 after a message. */
int prof_record_env(void);

#endif
