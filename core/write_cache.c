/* The table write cache (the overlay): an open-addressing hash map of store keys to their
 * latest value (or a delete), flushed to the store in one batch per commit. */
#include <stdlib.h>
#include <string.h>

#include "rill/transport.h"
#include "write_cache_int.h"

/* Kafka's murmur2, the partitioner's hash: a table computes it once per write for
 * the key's partition and hands it to rill__wcache_find_h. */
static uint64_t hash_bytes(const void *p, size_t n) {
    return rill_murmur2(p, n);
}

static rill_wcache_entry_t *probe(rill_wcache_t *o, const void *key, size_t klen,
                                  uint64_t h) {
    size_t mask = o->cap - 1, i = (size_t)h & mask;
    for (;;) {
        rill_wcache_entry_t *e = &o->slots[i];
        if (!e->used ||
            (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0))
            return e;
        i = (i + 1) & mask;
    }
}

rill_wcache_entry_t *rill__wcache_find_h(rill_wcache_t *o, const void *key, size_t klen,
                                         uint32_t hash) {
    if (!o->n) return NULL;
    rill_wcache_entry_t *e = probe(o, key, klen, hash);
    return e->used ? e : NULL;
}

rill_wcache_entry_t *rill__wcache_find(rill_wcache_t *o, const void *key, size_t klen) {
    return o->n ? rill__wcache_find_h(o, key, klen, rill_murmur2(key, klen)) : NULL;
}

static rill_err_t grow(rill_wcache_t *o) {
    size_t cap = o->cap ? o->cap * 2 : 256;
    rill_wcache_entry_t *old = o->slots, *slots = calloc(cap, sizeof *slots);
    if (!slots) return RILL_ENOMEM;
    size_t oldcap = o->cap;
    o->slots = slots;
    o->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].used) *probe(o, old[i].key, old[i].klen, old[i].hash) = old[i];
    free(old);
    return RILL_OK;
}

rill_err_t rill__wcache_put(rill_wcache_t *o, const void *key, size_t klen,
                            const void *val, size_t vlen, bool tomb) {
    if ((o->n + 1) * 4 > o->cap * 3 && grow(o) != RILL_OK) return RILL_ENOMEM;
    uint64_t h = hash_bytes(key, klen);
    rill_wcache_entry_t *e = probe(o, key, klen, h);
    if (e->used && e->vlen >= vlen) { /* overwrite in place */
        if (vlen) memcpy(e->val, val, vlen);
        e->vlen = (uint32_t)vlen;
        e->tomb = tomb;
        return RILL_OK;
    }
    uint8_t *mem = malloc(klen + vlen + 1);
    if (!mem) return RILL_ENOMEM;
    memcpy(mem, key, klen);
    if (vlen) memcpy(mem + klen, val, vlen);
    int8_t in_store = -1;
    if (e->used) {
        free(e->key);
        in_store = e->in_store;
    } else {
        o->n++;
    }
    *e = (rill_wcache_entry_t){mem, mem + klen, (uint32_t)klen, (uint32_t)vlen,
                               h,   true,       tomb,           in_store};
    return RILL_OK;
}

rill_err_t rill__wcache_put_at(rill_wcache_t *o, rill_wcache_entry_t *e, const void *key,
                               size_t klen, const void *val, size_t vlen, bool tomb) {
    /* as rill__wcache_put would: it would grow first, or reallocate a short value */
    if (!e || (o->n + 1) * 4 > o->cap * 3 || e->vlen < vlen)
        return rill__wcache_put(o, key, klen, val, vlen, tomb);
    if (vlen) memcpy(e->val, val, vlen);
    e->vlen = (uint32_t)vlen;
    e->tomb = tomb;
    return RILL_OK;
}

void rill__wcache_clear(rill_wcache_t *o) {
    if (!o->n) return;
    for (size_t i = 0; i < o->cap; i++)
        if (o->slots[i].used) free(o->slots[i].key);
    memset(o->slots, 0, o->cap * sizeof *o->slots);
    o->n = 0;
}

void rill__wcache_free(rill_wcache_t *o) {
    rill__wcache_clear(o);
    free(o->slots);
    o->slots = NULL;
    o->cap = 0;
}
