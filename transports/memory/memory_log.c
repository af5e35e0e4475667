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

/* rill__mem_part_make_room's slow path: the partition is full. */
bool rill__mem_part_free_room(mem_ctx_t *c, mem_topic_t *t, mem_part_t *p,
                              int32_t partition, size_t add) {
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
    return !rill__mem_part_full(c, p, add);
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

mem_chunk_t *rill__mem_chunk_next(mem_part_t *p, size_t bytes) {
    mem_chunk_t *c = p->chunk, *nc = chunk_new(p, bytes);
    if (!nc) return NULL;
    if (c && c->live == 0) chunk_free(p, c);
    return p->chunk = nc;
}
