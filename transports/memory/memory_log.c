/* memory:// partition logs: entries in chunks (huge pages past HUGE_AFTER held
 * bytes), binary search by offset, trimming of what every group committed past,
 * log compaction, and the room check behind produce's backpressure. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "memory_int.h"

static void chunk_free(mem_part_t *p, mem_chunk_t *c) {
    p->held -= sizeof *c + c->cap;
    free(c);
}

static void entry_free(mem_part_t *p, mem_entry_t *e) {
    mem_chunk_t *c = e->chunk;
    if (--c->live == 0 && c != p->chunk) chunk_free(p, c);
}

void rill__mem_free_part(mem_part_t *p) {
    for (size_t i = p->head; i < p->n; i++)
        entry_free(p, p->entries[i]);
    if (p->chunk) chunk_free(p, p->chunk);
    free(p->entries);
}

static size_t part_count(const mem_part_t *p) {
    return p->n - p->head;
}

/* Index of the first live entry with offset >= off (p->n if none). */
size_t rill__mem_part_seek(const mem_part_t *p, int64_t off) {
    size_t lo = p->head, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->entries[mid]->offset < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int64_t rill__mem_part_low(const mem_part_t *p) {
    return part_count(p) ? p->entries[p->head]->offset : p->next_offset;
}

void rill__mem_part_pack(mem_part_t *p) {
    if (p->head == 0) return;
    memmove(p->entries, p->entries + p->head, part_count(p) * sizeof *p->entries);
    p->n -= p->head;
    p->head = 0;
}

/* Drop entries below @p upto. */
static void part_trim(mem_part_t *p, int64_t upto) {
    while (p->head < p->n && p->entries[p->head]->offset < upto) {
        p->bytes -= E_BYTES(p->entries[p->head]);
        entry_free(p, p->entries[p->head++]);
    }
    if (p->head > p->cap / 2) rill__mem_part_pack(p);
}

static bool same_key(const mem_entry_t *a, const mem_entry_t *b) {
    return a->has_key && b->has_key && a->klen == b->klen &&
           memcmp(E_KEY(a), E_KEY(b), a->klen) == 0;
}

/* Keep only the newest entry per key below @p upto (Kafka log compaction). */
static void part_compact(mem_part_t *p, int64_t upto) {
    size_t w = p->head;
    for (size_t i = p->head; i < p->n; i++) {
        mem_entry_t *e = p->entries[i];
        bool superseded = false;
        if (e->offset < upto && e->has_key) {
            for (size_t j = i + 1; j < p->n; j++)
                if (same_key(e, p->entries[j])) {
                    superseded = true;
                    break;
                }
        }
        if (superseded) {
            p->bytes -= E_BYTES(e);
            entry_free(p, e);
        } else {
            p->entries[w++] = e;
        }
    }
    p->n = w;
}

static bool part_full(const mem_ctx_t *c, const mem_part_t *p, size_t add) {
    return (int64_t)part_count(p) + 1 > c->max_messages ||
           (int64_t)(p->bytes + add) > c->max_bytes;
}

/* Make room for one entry of @p add bytes; false when nothing can be freed. */
bool rill__mem_part_make_room(mem_ctx_t *c, mem_topic_t *t, mem_part_t *p,
                              int32_t partition, size_t add) {
    if (!part_full(c, p, add)) return true;
    if (rill__mem_dispatching) return false; /* views of these entries may be live */
    int64_t safe = p->next_offset;
    bool any_group = false;
    for (mem_group_t *g = c->broker->groups; g; g = g->next) {
        if (!rill__mem_group_reads(g, t->name)) continue;
        any_group = true;
        mem_commit_t *cm = rill__mem_commit_find(g, t->name, partition);
        int64_t off = cm ? cm->offset : rill__mem_part_low(p);
        if (off < safe) safe = off;
    }
    for (size_t i = 0; i < c->broker->ninstances; i++) {
        mem_ctx_t *o = c->broker->instances[i];
        for (size_t j = 0; j < o->nreaders; j++)
            if (o->readers[j].topic == t && o->readers[j].partition == partition &&
                o->readers[j].position < safe)
                safe = o->readers[j].position;
    }
    if (t->compacted) part_compact(p, p->next_offset);
    if (any_group) part_trim(p, safe);
    return !part_full(c, p, add);
}

static mem_chunk_t *chunk_new(mem_part_t *p, size_t bytes) {
    size_t total = sizeof(mem_chunk_t) + (bytes > CHUNK_BYTES ? bytes : CHUNK_BYTES);
    void *m = NULL;
    if (p->held >= HUGE_AFTER && total <= HUGE_CHUNK) {
        if (posix_memalign(&m, HUGE_CHUNK, HUGE_CHUNK) == 0) {
#ifdef MADV_HUGEPAGE
            madvise(m, HUGE_CHUNK, MADV_HUGEPAGE); /* a hint: may be refused */
#endif
            total = HUGE_CHUNK;
        } else {
            m = NULL;
        }
    }
    if (!m && !(m = malloc(total))) return NULL;
    p->held += total;
    mem_chunk_t *c = m;
    c->live = 0;
    c->used = 0;
    c->cap = total - sizeof *c;
    return c;
}

mem_entry_t *rill__mem_entry_new(mem_part_t *p, const rill_produce_t *m, int64_t offset,
                                 int64_t now_ms) {
    size_t hsize = 0;
    for (size_t i = 0; i < m->nheaders; i++)
        hsize += strlen(m->headers[i].name) + 1 + m->headers[i].value_len;
    size_t klen = m->key ? m->key_len : 0, vlen = m->value ? m->value_len : 0;
    if (m->nheaders > UINT16_MAX || klen > UINT32_MAX || vlen > UINT32_MAX) return NULL;
    size_t bytes =
        sizeof(mem_entry_t) + m->nheaders * sizeof(rill_header_t) + hsize + klen + vlen;
    bytes = (bytes + 7) & ~(size_t)7;
    mem_chunk_t *c = p->chunk;
    if (!c || c->cap - c->used < bytes) {
        mem_chunk_t *nc = chunk_new(p, bytes);
        if (!nc) return NULL;
        if (c && c->live == 0) chunk_free(p, c);
        p->chunk = c = nc;
    }
    mem_entry_t *e = (mem_entry_t *)(c->data + c->used);
    c->used += bytes;
    c->live++;
    e->chunk = c;
    e->offset = offset;
    e->timestamp_ms = m->timestamp_ms ? m->timestamp_ms : now_ms;
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    e->hbytes = (uint32_t)hsize;
    e->has_key = m->key != NULL;
    e->tombstone = m->value == NULL;
    e->nheaders = (uint16_t)m->nheaders;
    rill_header_t *hs = E_HEADERS(e);
    uint8_t *w = (uint8_t *)(hs + m->nheaders);
    for (size_t i = 0; i < m->nheaders; i++) {
        size_t nl = strlen(m->headers[i].name) + 1;
        memcpy(w, m->headers[i].name, nl);
        hs[i].name = (const char *)w;
        w += nl;
        if (m->headers[i].value_len)
            memcpy(w, m->headers[i].value, m->headers[i].value_len);
        hs[i].value = w;
        hs[i].value_len = m->headers[i].value_len;
        w += m->headers[i].value_len;
    }
    if (klen) memcpy(w, m->key, klen);
    w += klen;
    if (vlen) memcpy(w, m->value, vlen);
    return e;
}
