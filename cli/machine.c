/* machine.c: CPU counts, the print-and-exit options, --nice (contracts in
   machine.h). */
#include "machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "batch.h"
#include "fpc.h"

struct cpu_counts {
    long threads, cores, sockets;
};

/* Adds v to set[0..*n) unless there (the sets are small: one entry per
   core). */
static void set_add(unsigned long long *set, long *n, long cap, unsigned long long v)
{
    for (long i = 0; i < *n; i++)
        if (set[i] == v)
            return;
    if (*n < cap)
        set[(*n)++] = v;
}

/* Reads "key : N" from a /proc/cpuinfo line into *v. Whether it matched. */
static bool cpuinfo_field(const char *line, const char *key, unsigned long *v)
{
    size_t k = strlen(key);
    if (strncmp(line, key, k) != 0)
        return false;
    const char *p = line + k;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != ':')
        return false;
    char *end;
    errno = 0;
    *v = strtoul(p, &end, 10);
    return errno == 0 && end != p;
}

/* Threads are the online CPUs; cores the distinct (physical id, core id)
   pairs and sockets the distinct physical ids in /proc/cpuinfo, as GNU
   parallel counts them on Linux. Without those fields (some ARM kernels),
   or without /proc, a core per thread on one socket. */
static void cpu_counts(struct cpu_counts *c)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = online > 0 ? online : 1;
    c->cores = c->threads;
    c->sockets = 1;
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (f == NULL)
        return;
    long cap = c->threads * 2 + 16;
    unsigned long long *cores = calloc((size_t)cap, sizeof *cores);
    unsigned long long *socks = calloc((size_t)cap, sizeof *socks);
    long ncores = 0, nsocks = 0;
    unsigned long phys = 0, core = 0;
    bool have_phys = false, have_core = false;
    char line[512];
    while (cores != NULL && socks != NULL && fgets(line, sizeof line, f) != NULL) {
        unsigned long v;
        if (cpuinfo_field(line, "physical id", &v)) {
            phys = v;
            have_phys = true;
        } else if (cpuinfo_field(line, "core id", &v)) {
            core = v;
            have_core = true;
        } else if (line[0] == '\n' && have_phys && have_core) { /* end of a processor */
            set_add(cores, &ncores, cap, (unsigned long long)phys << 32 | core);
            set_add(socks, &nsocks, cap, phys);
            have_phys = have_core = false;
        }
    }
    if (have_phys && have_core) { /* no blank line after the last one */
        set_add(cores, &ncores, cap, (unsigned long long)phys << 32 | core);
        set_add(socks, &nsocks, cap, phys);
    }
    fclose(f);
    if (ncores > 0 && nsocks > 0) {
        c->cores = ncores;
        c->sockets = nsocks;
    }
    free(cores);
    free(socks);
}

long mach_cpus(const struct opts *o)
{
    struct cpu_counts c;
    cpu_counts(&c);
    return o->cpu_unit == 'c' ? c.cores : o->cpu_unit == 's' ? c.sockets : c.threads;
}

bool mach_info_wanted(const struct opts *o)
{
    return o->info != NULL || o->minversion != NULL;
}

int mach_info(const struct opts *o)
{
    int status = 0, r;
    if (o->minversion != NULL) {
        unsigned long want;
        if (fpc_parse_ulong(o->minversion, &want) != 0) {
            fpc_say("bad value '%s' for --minversion: expected a version such as 20130722",
                    o->minversion);
            return 255;
        }
        r = printf("%lu\n", MACH_GNU_VERSION);
        status = want > MACH_GNU_VERSION ? 255 : 0;
    } else if (strcmp(o->info, "max-line-length-allowed") == 0) {
        r = printf("%zu\n", batch_max_line());
    } else {
        struct cpu_counts c;
        cpu_counts(&c);
        long n = strcmp(o->info, "number-of-threads") == 0   ? c.threads
                 : strcmp(o->info, "number-of-sockets") == 0 ? c.sockets
                                                             : c.cores; /* cores, cpus */
        r = printf("%ld\n", n);
    }
    if (r < 0 || fflush(stdout) != 0) {
        fpc_say("cannot write to standard output: %s", strerror(errno));
        return 255;
    }
    return status;
}

int mach_nice(const struct opts *o)
{
    if (o->nice == NULL)
        return 0;
    const char *s = o->nice;
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || n < -20 || n > 19) {
        fpc_say("bad value '%s' for --nice: expected a niceness from -20 to 19", s);
        return -1;
    }
    errno = 0;
    int now = getpriority(PRIO_PROCESS, 0);
    if (now == -1 && errno != 0) {
        fpc_say("--nice: getpriority: %s", strerror(errno));
        return -1;
    }
    if (n == now || setpriority(PRIO_PROCESS, 0, (int)n) == 0)
        return 0;
    if (n < now && (errno == EACCES || errno == EPERM))
        return 0; /* lowering needs privilege: keep ours, as documented */
    fpc_say("--nice %ld: setpriority: %s", n, strerror(errno));
    return -1;
}
