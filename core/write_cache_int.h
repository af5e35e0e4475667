/* Internal, layer 0 (docs/architecture.md): the table write cache (write_cache.c) */
#ifndef RILL_WRITE_CACHE_INT_H
#define RILL_WRITE_CACHE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rill/err.h"

/* Writes since the last flush, by store key: flushed to the store as one atomic
 * batch together with the changelog offset they reach. */
typedef struct rill_wcache_entry {
    uint8_t *key; /* key then value in one allocation */
    uint8_t *val;
    uint32_t klen, vlen;
    uint64_t hash;
    bool used, tomb;
    /* whether the store under the cache has the key: -1 not looked up yet (a new
     * entry), else 0 or 1, kept across puts; set by whoever looks (table.c's
     * counts of live keys without a flush, for /metrics) */
    int8_t in_store;
} rill_wcache_entry_t;

typedef struct rill_wcache {
    rill_wcache_entry_t *slots;
    size_t cap, n;
} rill_wcache_t;

rill_wcache_entry_t *rill__wcache_find(rill_wcache_t *o, const void *key, size_t klen);
/* rill__wcache_find of a key whose rill_murmur2() is @p hash. */
rill_wcache_entry_t *rill__wcache_find_h(rill_wcache_t *o, const void *key, size_t klen,
                                         uint32_t hash);
rill_err_t rill__wcache_put(rill_wcache_t *o, const void *key, size_t klen,
                            const void *val, size_t vlen, bool tomb);
/* rill__wcache_put of @p key, whose entry rill__wcache_find returned as @p e (NULL:
 * not there) with no put since: the same outcome, without finding it again. */
rill_err_t rill__wcache_put_at(rill_wcache_t *o, rill_wcache_entry_t *e, const void *key,
                               size_t klen, const void *val, size_t vlen, bool tomb);
void rill__wcache_clear(rill_wcache_t *o);
void rill__wcache_free(rill_wcache_t *o);

#endif
