/*
 * machine.h: what the tool asks of the machine, as GNU parallel does: CPU
 * counts (threads, cores, sockets; what -j N% and --load N% count), the
 * options that print one of them and exit (--number-of-threads,
 * --number-of-cores, --number-of-cpus, --number-of-sockets,
 * --max-line-length-allowed, --minversion), and --nice.
 */
#ifndef FPC_MACHINE_H
#define FPC_MACHINE_H

#include "options.h"

/* The GNU parallel release whose interface forkpool follows (the manuals
   tests/cli/22-gnu-manuals.t runs): what --minversion prints. */
#define MACH_GNU_VERSION 20221122UL

/* The CPUs -j N%, +N, -N count: online CPU threads by default; physical
   cores (--use-cores-instead-of-threads) or filled sockets
   (--use-sockets-instead-of-threads, --use-cpus-instead-of-cores) from
   /proc/cpuinfo. At least 1. */
long mach_cpus(const struct opts *o);

/* Whether o asks for one of the print-and-exit options. */
bool mach_info_wanted(const struct opts *o);

/* Prints what o->info asks for on stdout. The exit status: 0; 255 after a
   message (a bad --minversion, a write error), or when --minversion's
   version is later than MACH_GNU_VERSION. */
int mach_info(const struct opts *o);

/* --nice N: runs this process, and so every job it starts, at niceness N
   (-20..19). Raising niceness always works; lowering it below the current
   value needs privilege, and without it the current value stays (as GNU
   parallel keeps its own for local jobs). 0, or -1 after a message. */
int mach_nice(const struct opts *o);

#endif
