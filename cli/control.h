/*
 * control.h: issue #12 items 5 and 6 not done yet are refused here, at
 * setup, so that an option the parser knows is never silently ignored.
 */
#ifndef FPC_CONTROL_H
#define FPC_CONTROL_H

#include "options.h"

/* -1 after a message if o asks for something not supported; else 0. */
int ctl_check(const struct opts *o);

#endif
