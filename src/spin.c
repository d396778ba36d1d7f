/* Polling before sleeping (spin.h). */
#include <sched.h>

#include "clock.h"
#include "spin.h"

void fp_spin_init(fp_spin *s, long spin_us)
{
    long us = spin_us == 0 ? FP_SPIN_DEFAULT_US : spin_us < 0 ? 0 : spin_us;
    *s = (fp_spin){(int64_t)us * 1000, 0, 0};
}

int fp_spin_wait(fp_spin *s, int (*probe)(void *arg), void *arg)
{
    if (!s->window_ns)
        return 0;
    if (s->skip) {
        s->skip--;
        return 0;
    }
    int64_t until = fp_now() + s->window_ns;
    for (;;) {
        int r = probe(arg);
        if (r) {
            s->backoff = 0;
            return r;
        }
        if (fp_now() >= until)
            break;
        sched_yield();
    }
    s->backoff = s->backoff ? s->backoff * 2 : 1;
    if (s->backoff > FP_SPIN_BACKOFF_MAX)
        s->backoff = FP_SPIN_BACKOFF_MAX;
    s->skip = s->backoff;
    return 0;
}
