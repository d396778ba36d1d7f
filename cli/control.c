/* control.c: refusing what is not built yet (contracts in control.h). */
#include "control.h"

#include "fpc.h"

int ctl_check(const struct opts *o)
{
    const char *no = o->resume      ? "--resume"
                     : o->resume_failed ? "--resume-failed"
                     : o->retry_failed  ? "--retry-failed"
                     : o->delay         ? "--delay"
                     : o->memfree       ? "--memfree"
                     : o->load          ? "--load"
                     : o->timeout_pct > 0 ? "--timeout N%"
                     : o->halt_pct > 0    ? "--halt ...=N%"
                                          : NULL;
    if (no == NULL)
        return 0;
    fpc_say("%s is not supported yet", no);
    return -1;
}
