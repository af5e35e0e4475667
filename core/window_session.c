/* Session windows: merging arithmetic and the per-partition index of live
 * sessions by key (an open-addressing hash of keys, each with its sessions sorted
 * by start).
 * Layer 0. */
#include "window_session_int.h"

#include <stdlib.h>
#include <string.h>

struct rill__sess_key {
    uint64_t hash;
    size_t klen, n, cap;
    rill__sess_t *s;
    uint8_t key[];
};

bool rill__session_overlaps(rill__sess_t a, rill__sess_t b) {
    return a.start < b.end && b.start < a.end;
}

rill__sess_t rill__session_merge(const rill__sess_t *s, size_t n, int64_t ts,
                                 int64_t gap) {
    rill__sess_t m = {ts, ts > INT64_MAX - gap ? INT64_MAX : ts + gap};
    for (size_t i = 0; i < n; i++) {
        if (s[i].start < m.start) m.start = s[i].start;
        if (s[i].end > m.end) m.end = s[i].end;
    }
    return m;
}

static uint64_t hash_key(const void *key, size_t klen) {
    const uint8_t *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < klen; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h ? h : 1;
}

static rill__sess_key_t **slot_of(const rill__sess_index_t *x, const void *key,
                                  size_t klen, uint64_t h) {
    if (!x->cap) return NULL;
    for (size_t i = h & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
        rill__sess_key_t *k = x->slots[i];
        if (!k || (k->hash == h && k->klen == klen && !memcmp(k->key, key, klen)))
            return &x->slots[i];
    }
}

static rill__sess_key_t *find_key(const rill__sess_index_t *x, const void *key,
                                  size_t klen) {
    rill__sess_key_t **sl = slot_of(x, key, klen, hash_key(key, klen));
    return sl ? *sl : NULL;
}

size_t rill__sess_find(const rill__sess_index_t *x, const void *key, size_t klen,
                       rill__sess_t probe, rill__sess_t *out, size_t max) {
    const rill__sess_key_t *k = find_key(x, key, klen);
    size_t n = 0;
    for (size_t i = 0; k && i < k->n; i++)
        if (rill__session_overlaps(k->s[i], probe)) {
            if (n < max) out[n] = k->s[i];
            n++;
        }
    return n;
}

size_t rill__sess_all(const rill__sess_index_t *x, const void *key, size_t klen,
                      rill__sess_t *out, size_t max) {
    const rill__sess_key_t *k = find_key(x, key, klen);
    size_t n = k ? k->n : 0;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = k->s[i];
    return n;
}

/* The first session of @p k starting at or after @p start (k->s is sorted by start). */
static size_t lower_start(const rill__sess_key_t *k, int64_t start) {
    size_t lo = 0, hi = k->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->s[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const rill__sess_t *rill__sess_span(const rill__sess_index_t *x, const void *key,
                                    size_t klen, int64_t lo, int64_t hi, size_t *n) {
    const rill__sess_key_t *k = find_key(x, key, klen);
    *n = 0;
    if (!k || lo > hi) return NULL;
    size_t a = lower_start(k, lo), b = a;
    while (b < k->n && k->s[b].start <= hi)
        b++;
    *n = b - a;
    return k->s + a;
}

const rill__sess_t *rill__sess_get(const rill__sess_index_t *x, const void *key,
                                   size_t klen, int64_t start) {
    const rill__sess_key_t *k = find_key(x, key, klen);
    if (!k) return NULL;
    size_t i = lower_start(k, start);
    return i < k->n && k->s[i].start == start ? &k->s[i] : NULL;
}

static int grow(rill__sess_index_t *x) {
    size_t cap = x->cap ? x->cap * 2 : 64;
    rill__sess_key_t **ns = calloc(cap, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i < x->cap; i++) {
        rill__sess_key_t *k = x->slots[i];
        if (!k) continue;
        size_t j = k->hash & (cap - 1);
        while (ns[j])
            j = (j + 1) & (cap - 1);
        ns[j] = k;
    }
    free(x->slots);
    x->slots = ns;
    x->cap = cap;
    return 0;
}

int rill__sess_put(rill__sess_index_t *x, const void *key, size_t klen, rill__sess_t s) {
    if ((x->nkeys + 1) * 2 > x->cap && grow(x)) return -1;
    uint64_t h = hash_key(key, klen);
    rill__sess_key_t **sl = slot_of(x, key, klen, h), *k = *sl;
    if (!k) {
        if (!(k = calloc(1, sizeof *k + klen + 1))) return -1;
        k->hash = h;
        k->klen = klen;
        memcpy(k->key, key, klen);
        *sl = k;
        x->nkeys++;
    }
    size_t at = lower_start(k, s.start);
    if (at < k->n && k->s[at].start == s.start) {
        k->s[at] = s;
        return 0;
    }
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 2;
        rill__sess_t *ns = realloc(k->s, cap * sizeof *ns);
        if (!ns) return -1;
        k->s = ns;
        k->cap = cap;
    }
    memmove(k->s + at + 1, k->s + at, (k->n - at) * sizeof *k->s);
    k->s[at] = s;
    k->n++;
    x->nsess++;
    return 0;
}

/* Backward-shift delete of slot @p i (linear probing keeps no tombstones). */
static void remove_slot(rill__sess_index_t *x, size_t i) {
    size_t m = x->cap - 1;
    x->slots[i] = NULL;
    for (size_t j = (i + 1) & m; x->slots[j]; j = (j + 1) & m) {
        rill__sess_key_t *k = x->slots[j];
        size_t home = k->hash & m;
        /* k may move back to i when i is no nearer its home than j is */
        if (((j - i) & m) <= ((j - home) & m)) {
            x->slots[i] = k;
            x->slots[j] = NULL;
            i = j;
        }
    }
}

void rill__sess_del(rill__sess_index_t *x, const void *key, size_t klen, int64_t start) {
    rill__sess_key_t **sl = slot_of(x, key, klen, hash_key(key, klen)), *k;
    if (!sl || !(k = *sl)) return;
    size_t i = lower_start(k, start);
    if (i < k->n && k->s[i].start == start) {
        memmove(k->s + i, k->s + i + 1, (k->n - i - 1) * sizeof *k->s);
        k->n--;
        x->nsess--;
    }
    if (k->n) return;
    free(k->s);
    free(k);
    x->nkeys--;
    remove_slot(x, (size_t)(sl - x->slots));
}

void rill__sess_each(const rill__sess_index_t *x, rill__sess_visit_fn fn, void *opaque) {
    for (size_t i = 0; i < x->cap; i++) {
        const rill__sess_key_t *k = x->slots[i];
        for (size_t j = 0; k && j < k->n; j++)
            if (fn(k->key, k->klen, k->s[j], opaque)) return;
    }
}

int rill__sess_touch(rill__sess_index_t *x, const void *key, size_t klen, int64_t ts) {
    rill__sess_key_t *k = find_key(x, key, klen);
    if (k && k->n) {
        k->s[0] = (rill__sess_t){ts, ts};
        return 0;
    }
    return rill__sess_put(x, key, klen, (rill__sess_t){ts, ts});
}

void rill__sess_clear(rill__sess_index_t *x) {
    for (size_t i = 0; i < x->cap; i++)
        if (x->slots[i]) {
            free(x->slots[i]->s);
            free(x->slots[i]);
        }
    free(x->slots);
    *x = (rill__sess_index_t){0};
}
