/* Internal: 64-bit big-endian integers, the byte order of every number rill
 * writes to a log or a store (counters in changelogs, window starts in keys). */
#ifndef RILL_BE64_INT_H
#define RILL_BE64_INT_H

#include <stdint.h>

static inline void rill__be64_put(uint8_t *p, uint64_t u) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)u;
        u >>= 8;
    }
}

static inline uint64_t rill__be64_get(const uint8_t *p) {
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | p[i];
    return u;
}

#endif
