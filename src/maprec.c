/* The decoder of forkpool_map's record stream (maprec.h). */
#include "maprec.h"

#include <string.h>

#include "forkpool.h"

ptrdiff_t fp_rec_size(const unsigned char *p, size_t avail, size_t max_output)
{
    uint32_t head, tl, ml;
    uint64_t len;
    if (avail < 4)
        return 0;
    memcpy(&head, p, 4);
    switch (head & 3) {
    case FP_REC_OK:
        len = head >> 2;
        if (max_output && len > max_output)
            return -1;
        return avail < 4 + len ? 0 : (ptrdiff_t)(4 + len);
    case FP_REC_BIG:
        if (avail < 12)
            return 0;
        memcpy(&len, p + 4, 8);
        if (head != FP_REC_BIG || len <= FP_REC_SMALL_MAX || len > PTRDIFF_MAX - 12 ||
            (max_output && len > max_output))
            return -1;
        return avail < 12 + len ? 0 : (ptrdiff_t)(12 + len);
    case FP_REC_ERR:
        if (head >> 2 != FORKPOOL_ERR_THROWN && head >> 2 != FORKPOOL_ERR_OUTPUT)
            return -1;
        if (avail < FP_REC_ERR_FIXED)
            return 0;
        memcpy(&tl, p + 8, 4);
        memcpy(&ml, p + 12, 4);
        if (tl == 0 || ml == 0 || tl > FP_MAP_MAX_TEXT || ml > FP_MAP_MAX_TEXT)
            return -1;
        len = FP_REC_ERR_FIXED + (uint64_t)tl + 1 + ml + 1;
        if (avail < len)
            return 0;
        p += FP_REC_ERR_FIXED;
        if (p[tl] != '\0' || p[tl + 1 + ml] != '\0' || memchr(p, '\0', tl) ||
            memchr(p + tl + 1, '\0', ml))
            return -1;
        return (ptrdiff_t)len;
    default:
        return -1;
    }
}
