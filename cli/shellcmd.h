/*
 * shellcmd.h: issue #12 item 7, the shell. forkpool runs programs directly
 * (no shell) unless --shell is given; this module picks the shell for
 * --shell, and refuses, before anything runs, a command that only a shell
 * would understand (it would fail with "No such file or directory" or pass
 * `|` to the program as an argument), with a hint to use --shell.
 */
#ifndef FPC_SHELLCMD_H
#define FPC_SHELLCMD_H

#include "options.h"

/* Checks o's command and resolves the shell: with --shell, o->shell_path
   becomes --shell=PATH, else $SHELL when set and absolute, else /bin/sh;
   -q (--quote) runs the command without a shell (its words are passed as
   they are, which is what GNU parallel's -q achieves). Without --shell,
   refuses (message with a hint, -1): a first word holding spaces or shell
   syntax that is not an existing file; a word that is a shell operator
   (`|`, `&&`, `;`, `>`...); a first word that is no program on PATH but a
   shell builtin or an exported shell function; with --pipe or --pipepart,
   a word holding shell code (; | & < > ` $(). 0 when the command can run. */
int shell_check(struct opts *o);

/* --shellquote: prints each input combination shell-quoted (values joined
   by spaces), one a line, as GNU parallel does, and runs nothing. The exit
   status: 0, or 255 after a message. */
int shell_quote_inputs(const struct opts *o);

#endif
