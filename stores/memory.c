/* memory:// store: table partitions in process memory.
 *
 * Point reads and writes (the table hot path: a get and a put per event) go
 * through an open-addressing hash index over a dense entry array.  A slot holds
 * the entry's index and the high half of its key's hash, so a probe reads an
 * entry only when that half matches; an entry holds its key and value inline when
 * they fit in INLINE_BYTES (no allocation per put, and the compare reads the line
 * it is already on), else in one allocation of its own.  Ordered range scans
 * (window expiry, iteration) are rare, so a scan collects the matching entries
 * and sorts them by key (memcmp, then shorter first, like RocksDB's default
 * comparator) instead of paying for an ordered structure on every write.
 * Deleting frees the entry's memory at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rill/store.h"

#define INLINE_BYTES 32

typedef struct ment {
    uint64_t hash;
    uint32_t klen, vlen;
    union {
        uint8_t *ext;             /* key then value, one allocation */
        uint8_t in[INLINE_BYTES]; /* key then value, when they fit */
    } d;
} ment_t;

typedef struct mslot {
    uint32_t idx; /* index + 1 into ents; 0 = empty */
    uint32_t tag; /* the high half of the key's hash */
} mslot_t;

struct rill_store_part {
    char *table;
    int32_t partition;
    bool open;
    ment_t *ents;
    size_t n, cap;
    mslot_t *slots;
    size_t nslots;
    int64_t offset;
    uint64_t bytes;
    struct rill_store_part *next;
};

typedef struct mstore {
    struct rill_store_part *parts;
} mstore_t;

/* The entry array and the index of a large partition are mapped with transparent
 * huge pages: a million-key partition otherwise takes a page fault per 4 KiB
 * while it grows and a TLB miss per random probe (in rill-bench recovery's
 * profile page faults were a third of a put).  Below BIG_BYTES, malloc. */
#define BIG_BYTES (2 * 1024 * 1024)

static void *arr_map(size_t bytes) {
#if defined(MADV_HUGEPAGE) && defined(MAP_ANONYMOUS)
    if (bytes >= BIG_BYTES) {
        void *m =
            mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return NULL;
        madvise(m, bytes, MADV_HUGEPAGE); /* a hint: may be refused */
        return m;                         /* zero-filled */
    }
#endif
    return calloc(1, bytes);
}

static void arr_unmap(void *m, size_t bytes) {
#if defined(MADV_HUGEPAGE) && defined(MAP_ANONYMOUS)
    if (m && bytes >= BIG_BYTES) {
        munmap(m, bytes);
        return;
    }
#endif
    free(m);
}

/* Grow @p m from @p old to @p bytes (> old), keeping its contents. */
static void *arr_grow(void *m, size_t old, size_t bytes) {
#if defined(MADV_HUGEPAGE) && defined(MAP_ANONYMOUS)
    if (bytes >= BIG_BYTES) {
        void *n = arr_map(bytes);
        if (!n) return NULL;
        if (old) memcpy(n, m, old);
        arr_unmap(m, old);
        return n;
    }
#endif
    (void)old;
    return realloc(m, bytes);
}

static bool fits_inline(size_t klen, size_t vlen) {
    return klen + vlen <= INLINE_BYTES;
}

/* The entry's key, its value after it. */
static const uint8_t *ment_key(const ment_t *e) {
    return fits_inline(e->klen, e->vlen) ? e->d.in : e->d.ext;
}

static void ment_release(ment_t *e) {
    if (!fits_inline(e->klen, e->vlen)) free(e->d.ext);
}

static uint64_t hash_key(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static int key_cmp(const void *a, size_t al, const void *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al < bl ? -1 : al > bl);
}

/* Slot holding @p key, or the empty slot where it would go. */
static size_t find_slot(const struct rill_store_part *p, const void *key, size_t klen,
                        uint64_t h) {
    size_t mask = p->nslots - 1, i = (size_t)h & mask;
    uint32_t tag = (uint32_t)(h >> 32);
    for (;;) {
        mslot_t s = p->slots[i];
        if (!s.idx) return i;
        if (s.tag == tag) {
            const ment_t *e = &p->ents[s.idx - 1];
            if (e->hash == h && e->klen == klen && memcmp(ment_key(e), key, klen) == 0)
                return i;
        }
        i = (i + 1) & mask;
    }
}

static void slot_set(struct rill_store_part *p, size_t slot, size_t idx) {
    p->slots[slot] = (mslot_t){(uint32_t)idx + 1, (uint32_t)(p->ents[idx].hash >> 32)};
}

static rill_err_t grow_index(struct rill_store_part *p, size_t want) {
    if (want * 4 <= p->nslots * 3) return RILL_OK;
    size_t ns = p->nslots ? p->nslots : 64;
    while (want * 4 > ns * 3)
        ns *= 2;
    mslot_t *slots = arr_map(ns * sizeof *slots);
    if (!slots) return RILL_ENOMEM;
    arr_unmap(p->slots, p->nslots * sizeof *slots);
    p->slots = slots;
    p->nslots = ns;
    size_t mask = ns - 1;
    for (size_t i = 0; i < p->n; i++) { /* keys are distinct: the first empty slot */
        size_t s = (size_t)p->ents[i].hash & mask;
        while (slots[s].idx)
            s = (s + 1) & mask;
        slot_set(p, s, i);
    }
    return RILL_OK;
}

static rill_err_t reserve(struct rill_store_part *p, size_t more) {
    if (p->n + more > UINT32_MAX - 1) return RILL_ENOMEM;
    if (p->n + more > p->cap) {
        size_t cap = p->cap ? p->cap : 64;
        while (cap < p->n + more)
            cap *= 2;
        ment_t *e = arr_grow(p->ents, p->cap * sizeof *e, cap * sizeof *e);
        if (!e) return RILL_ENOMEM;
        p->ents = e;
        p->cap = cap;
    }
    return grow_index(p, p->n + more);
}

/* Remove slot @p i with backward-shift deletion (no tombstones). */
static void slot_remove(struct rill_store_part *p, size_t i) {
    size_t mask = p->nslots - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        mslot_t s = p->slots[j];
        if (!s.idx) break;
        size_t home = (size_t)p->ents[s.idx - 1].hash & mask;
        /* move s back to i if i lies cyclically in [home, j) */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            p->slots[i] = s;
            i = j;
        }
    }
    p->slots[i] = (mslot_t){0, 0};
}

static void ent_remove(struct rill_store_part *p, size_t slot) {
    size_t idx = p->slots[slot].idx - 1;
    ment_t *e = &p->ents[idx];
    p->bytes -= e->klen + e->vlen;
    ment_release(e);
    slot_remove(p, slot);
    size_t last = p->n - 1;
    if (idx != last) { /* keep ents dense: move the last entry into the hole */
        const ment_t *l = &p->ents[last];
        size_t s = find_slot(p, ment_key(l), l->klen, l->hash);
        p->ents[idx] = *l;
        slot_set(p, s, idx);
    }
    p->n--;
}

/* Put @p key = @p val; @p ext is the allocation to hold them when they do not fit
 * inline (NULL when they do). */
static void put_entry(struct rill_store_part *p, const void *key, size_t klen,
                      const void *val, size_t vlen, uint64_t h, uint8_t *ext) {
    size_t s = find_slot(p, key, klen, h);
    ment_t *e;
    if (p->slots[s].idx) {
        e = &p->ents[p->slots[s].idx - 1];
        p->bytes -= e->klen + e->vlen;
        ment_release(e);
    } else {
        e = &p->ents[p->n];
        p->slots[s] = (mslot_t){(uint32_t)++p->n, (uint32_t)(h >> 32)};
    }
    e->hash = h;
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    uint8_t *d = ext ? ext : e->d.in;
    if (ext) e->d.ext = ext;
    if (klen) memcpy(d, key, klen);
    if (vlen) memcpy(d + klen, val, vlen);
    p->bytes += klen + vlen;
}

/* The allocation for a put that does not fit inline (*out NULL when it does). */
static rill_err_t ext_block(size_t klen, size_t vlen, uint8_t **out) {
    *out = NULL;
    if (fits_inline(klen, vlen)) return RILL_OK;
    return (*out = malloc(klen + vlen)) ? RILL_OK : RILL_ENOMEM;
}

/* ---- ops
 * ------------------------------------------------------------------------------- */

static rill_err_t ms_open(rill_store_t *s, const rill_url_t *url, const rill_conf_t *conf,
                          char *errstr, size_t errlen) {
    (void)s;
    (void)conf;
    if (*url->path && strcmp(url->path, "/") != 0) {
        snprintf(errstr, errlen, "memory store URL '%s' takes no path", url->raw);
        return RILL_EURL;
    }
    return RILL_OK;
}

static struct rill_store_part *part_find(mstore_t *m, const char *table,
                                         int32_t partition) {
    for (struct rill_store_part *p = m->parts; p; p = p->next)
        if (p->partition == partition && strcmp(p->table, table) == 0) return p;
    return NULL;
}

static rill_err_t ms_part_open(rill_store_t *s, const char *table, int32_t partition,
                               rill_store_part_t **out, char *errstr, size_t errlen) {
    mstore_t *m = s->impl;
    struct rill_store_part *p = part_find(m, table, partition);
    if (p) {
        if (p->open) {
            snprintf(errstr, errlen, "table '%s' partition %d is already open", table,
                     partition);
            return RILL_EEXIST;
        }
    } else {
        if (!(p = calloc(1, sizeof *p)) || !(p->table = strdup(table))) {
            free(p);
            return RILL_ENOMEM;
        }
        p->partition = partition;
        p->offset = RILL_OFFSET_INVALID;
        p->next = m->parts;
        m->parts = p;
    }
    p->open = true;
    *out = p;
    return RILL_OK;
}

static rill_err_t ms_get(rill_store_part_t *p, const void *key, size_t klen,
                         rill_buf_t *out) {
    if (!p->n) return RILL_ENOENT;
    size_t s = find_slot(p, key, klen, hash_key(key, klen));
    if (!p->slots[s].idx) return RILL_ENOENT;
    const ment_t *e = &p->ents[p->slots[s].idx - 1];
    rill_buf_reset(out);
    rill_err_t rc = rill_buf_reserve(out, e->vlen ? e->vlen : 1);
    if (rc == RILL_OK) rc = rill_buf_append(out, ment_key(e) + e->klen, e->vlen);
    return rc;
}

static rill_err_t ms_put(rill_store_part_t *p, const void *key, size_t klen,
                         const void *val, size_t vlen) {
    if (klen > UINT32_MAX || vlen > UINT32_MAX) return RILL_ETOOBIG;
    uint8_t *ext;
    if (reserve(p, 1) != RILL_OK || ext_block(klen, vlen, &ext) != RILL_OK)
        return RILL_ENOMEM;
    put_entry(p, key, klen, val, vlen, hash_key(key, klen), ext);
    return RILL_OK;
}

static rill_err_t ms_del(rill_store_part_t *p, const void *key, size_t klen) {
    if (!p->n) return RILL_OK;
    size_t s = find_slot(p, key, klen, hash_key(key, klen));
    if (p->slots[s].idx) ent_remove(p, s);
    return RILL_OK;
}

static rill_err_t ms_write(rill_store_part_t *p, const rill_store_op_t *ops, size_t n,
                           int64_t changelog_offset) {
    /* Allocate everything first so a failure leaves the partition unchanged (only
     * puts that do not fit inline allocate). */
    size_t puts = 0, big = 0;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].klen > UINT32_MAX || ops[i].vlen > UINT32_MAX) return RILL_ETOOBIG;
        if (ops[i].kind != RILL_STORE_PUT) continue;
        puts++;
        if (!fits_inline(ops[i].klen, ops[i].vlen)) big++;
    }
    if (reserve(p, puts) != RILL_OK) return RILL_ENOMEM;
    uint8_t **blocks = big ? malloc(big * sizeof *blocks) : NULL;
    if (big && !blocks) return RILL_ENOMEM;
    size_t b = 0;
    for (size_t i = 0; i < n && b < big; i++) {
        if (ops[i].kind != RILL_STORE_PUT || fits_inline(ops[i].klen, ops[i].vlen))
            continue;
        if (!(blocks[b] = malloc(ops[i].klen + ops[i].vlen))) {
            while (b)
                free(blocks[--b]);
            free(blocks);
            return RILL_ENOMEM;
        }
        b++;
    }
    b = 0;
    for (size_t i = 0; i < n; i++) {
        const rill_store_op_t *o = &ops[i];
        if (o->kind == RILL_STORE_PUT)
            put_entry(p, o->key, o->klen, o->val, o->vlen, hash_key(o->key, o->klen),
                      fits_inline(o->klen, o->vlen) ? NULL : blocks[b++]);
        else
            ms_del(p, o->key, o->klen);
    }
    free(blocks);
    if (changelog_offset >= 0) p->offset = changelog_offset;
    return RILL_OK;
}

static const struct rill_store_part *sort_part; /* qsort has no context argument */

static int cmp_idx(const void *a, const void *b) {
    const ment_t *x = &sort_part->ents[*(const uint32_t *)a];
    const ment_t *y = &sort_part->ents[*(const uint32_t *)b];
    return key_cmp(ment_key(x), x->klen, ment_key(y), y->klen);
}

static rill_err_t ms_scan(rill_store_part_t *p, const void *start, size_t slen,
                          const void *end, size_t elen, rill_store_scan_cb cb,
                          void *opaque) {
    if (!p->n) return RILL_OK;
    uint32_t *idx = malloc(p->n * sizeof *idx);
    if (!idx) return RILL_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++) {
        const ment_t *e = &p->ents[i];
        if (start && key_cmp(ment_key(e), e->klen, start, slen) < 0) continue;
        if (end && key_cmp(ment_key(e), e->klen, end, elen) >= 0) continue;
        idx[k++] = (uint32_t)i;
    }
    sort_part = p;
    qsort(idx, k, sizeof *idx, cmp_idx);
    /* Copy each entry before the callback: it may write to the partition. */
    rill_buf_t kb = RILL_BUF_INIT, vb = RILL_BUF_INIT;
    uint8_t **keys = malloc((k ? k : 1) * sizeof *keys);
    size_t *klens = malloc((k ? k : 1) * sizeof *klens);
    rill_err_t rc = keys && klens ? RILL_OK : RILL_ENOMEM;
    for (size_t i = 0; rc == RILL_OK && i < k; i++) {
        const ment_t *e = &p->ents[idx[i]];
        if (!(keys[i] = malloc(e->klen + 1)))
            rc = RILL_ENOMEM;
        else
            memcpy(keys[i], ment_key(e), e->klen);
        klens[i] = e->klen;
    }
    free(idx);
    for (size_t i = 0; rc == RILL_OK && i < k; i++) {
        if (ms_get(p, keys[i], klens[i], &vb) != RILL_OK)
            continue; /* deleted meanwhile */
        if (cb(keys[i], klens[i], vb.data ? vb.data : (uint8_t *)"", vb.len, opaque))
            break;
    }
    for (size_t i = 0; keys && i < k; i++)
        free(keys[i]);
    free(keys);
    free(klens);
    rill_buf_free(&kb);
    rill_buf_free(&vb);
    return rc;
}

static rill_err_t ms_offset(rill_store_part_t *p, int64_t *out) {
    *out = p->offset;
    return RILL_OK;
}

static rill_err_t ms_stats(rill_store_part_t *p, rill_store_stats_t *out) {
    out->keys = p->n;
    out->bytes = p->bytes;
    return RILL_OK;
}

static void ms_part_close(rill_store_part_t *p) {
    p->open = false;
}

static void part_free(struct rill_store_part *p) {
    for (size_t i = 0; i < p->n; i++)
        ment_release(&p->ents[i]);
    arr_unmap(p->ents, p->cap * sizeof *p->ents);
    arr_unmap(p->slots, p->nslots * sizeof *p->slots);
    free(p->table);
    free(p);
}

static rill_err_t ms_drop(rill_store_t *s, const char *table, int32_t partition,
                          char *errstr, size_t errlen) {
    mstore_t *m = s->impl;
    for (struct rill_store_part **pp = &m->parts; *pp; pp = &(*pp)->next) {
        struct rill_store_part *p = *pp;
        if (p->partition != partition || strcmp(p->table, table) != 0) continue;
        if (p->open) {
            snprintf(errstr, errlen, "table '%s' partition %d is open: close it first",
                     table, partition);
            return RILL_ESTATE;
        }
        *pp = p->next;
        part_free(p);
        return RILL_OK;
    }
    return RILL_OK;
}

static void ms_close(rill_store_t *s) {
    mstore_t *m = s->impl;
    while (m->parts) {
        struct rill_store_part *p = m->parts;
        m->parts = p->next;
        part_free(p);
    }
}

const struct rill_store_ops rill_store_memory = {
    .abi = RILL_STORE_ABI,
    .scheme = "memory",
    .description = "in-process hash tables (state is rebuilt from changelogs on restart)",
    .impl_size = sizeof(mstore_t),
    .open = ms_open,
    .part_open = ms_part_open,
    .get = ms_get,
    .put = ms_put,
    .del = ms_del,
    .write = ms_write,
    .scan = ms_scan,
    .offset = ms_offset,
    .stats = ms_stats,
    .part_close = ms_part_close,
    .drop = ms_drop,
    .close = ms_close,
};
