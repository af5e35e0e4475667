/* Internal: 64-bit big-endian integers, the byte order of every number rill
 * writes to a log or a store (counters in changelogs, window starts in keys). */
#ifndef RILL_BE64_INT_H
#define RILL_BE64_INT_H

#include <stdint.h>

#include <string.h>

/* One load or store and a byte swap where the compiler has the builtin: gcc
 * compiles the portable loops byte by byte (~25 instructions per table counter). */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                                      \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline void rill__be64_put(uint8_t *p, uint64_t u) {
    u = __builtin_bswap64(u);
    memcpy(p, &u, 8);
}

static inline uint64_t rill__be64_get(const uint8_t *p) {
    uint64_t u;
    memcpy(&u, p, 8);
    return __builtin_bswap64(u);
}
#else
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

#endif
