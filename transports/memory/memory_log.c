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
    /* Without gaps below @p off (nothing compacted there), entry off - low is it:
     * a reader's or consumer's next batch starts there without a binary search,
     * whose ~20 probes each missed the cache on a large log (a 1M-message
     * changelog's recovery: ~3 % of it). */
    if (lo < hi && off >= p->entries[lo]->offset) {
        uint64_t d = (uint64_t)(off - p->entries[lo]->offset);
        if (d < hi - lo && p->entries[lo + d]->offset == off) return lo + (size_t)d;
    }
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
    size_t head = p->head;
    while (p->head < p->n && p->entries[p->head]->offset < upto) {
        p->bytes -= E_BYTES(p->entries[p->head]);
        entry_free(p, p->entries[p->head++]);
    }
    if (p->head != head) p->idle_logged = false; /* someone consumes it again */
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
    /* A partition that grew is compacted again only once it doubled: compaction
     * costs its length squared. */
    if (t->compacted && (!p->over || part_count(p) >= p->compact_at)) {
        part_compact(p, p->next_offset);
        p->compact_at = 2 * part_count(p);
    }
    if (any_group) part_trim(p, safe);
    return !rill__mem_part_full(c, p, add);
}

/* Some group member that owns @p t[@p partition] is @p c, or is refused room in a
 * partition whose owner is, and so on: the wait for room would never end.  @p depth
 * bounds the walk (a chain longer than the instances has a cycle not through c). */
static bool owns(const mem_ctx_t *o, const mem_topic_t *t, int32_t partition) {
    return o->member &&
           rill__mem_cursor_index(o->assigned, o->nassigned, t, partition) >= 0;
}

static bool owner_waits_on(const mem_broker_t *b, const mem_ctx_t *c,
                           const mem_topic_t *t, int32_t partition, size_t depth) {
    if (depth > b->ninstances) return false;
    for (size_t i = 0; i < b->ninstances; i++) {
        mem_ctx_t *o = b->instances[i];
        if (!owns(o, t, partition)) continue;
        if (o == c) return true;
        if (o->want_writable && o->blocked_topic &&
            owner_waits_on(b, c, o->blocked_topic, o->blocked_partition, depth + 1))
            return true;
    }
    return false;
}

static bool owned(const mem_broker_t *b, const mem_topic_t *t, int32_t partition) {
    for (size_t i = 0; i < b->ninstances; i++)
        if (owns(b->instances[i], t, partition)) return true;
    return false;
}

bool rill__mem_must_grow(mem_ctx_t *c, mem_topic_t *t, mem_part_t *p, int32_t partition) {
    bool any_group = false;
    for (mem_group_t *g = c->broker->groups; g && !any_group; g = g->next)
        any_group = rill__mem_group_reads(g, t->name);
    bool changelog = t->compacted && !any_group;
    if (!changelog && !owner_waits_on(c->broker, c, t, partition, 0)) {
        if (!p->idle_logged && !owned(c->broker, t, partition)) {
            p->idle_logged = true;
            rill_log(c->t->log, RILL_LOG_WARN, c->t->name,
                     "topic '%s' partition %d is full (%zu messages, %zu bytes; "
                     "max.messages=%lld, max.bytes=%lld) and no consumer owns it: "
                     "sends to it wait until a consumer commits past offset %lld",
                     t->name, partition, p->n - p->head, p->bytes,
                     (long long)c->max_messages, (long long)c->max_bytes,
                     (long long)rill__mem_part_low(p));
        }
        return false;
    }
    if (!p->over) p->compact_at = 2 * part_count(p);
    p->over = true;
    if (rill__mem_dispatching && !c->shrink_pending) {
        c->shrink_pending = true; /* nothing is trimmed during a delivery */
        rill__mem_wake_control(c);
    }
    if (!p->over_logged) {
        p->over_logged = true;
        rill_log(c->t->log, RILL_LOG_WARN, c->t->name,
                 "%stopic '%s' partition %d grows past max.messages=%lld / "
                 "max.bytes=%lld: %s",
                 changelog ? "compacted " : "", t->name, partition,
                 (long long)c->max_messages, (long long)c->max_bytes,
                 changelog ? "no group reads it, so only compaction frees room, and it "
                             "holds more keys than that (a changelog keeps each key's "
                             "last value)"
                           : "its consumer is this app, or waits for this app's sends, "
                             "so holding them would stop both (memory:// trims only "
                             "what every group committed); it shrinks as the consumer "
                             "commits");
    }
    return true;
}

void rill__mem_part_shrink(mem_ctx_t *c, mem_topic_t *t, mem_part_t *p,
                           int32_t partition) {
    if (p->over && rill__mem_part_free_room(c, t, p, partition, 0)) p->over = false;
}

void rill__mem_shrink_all(mem_ctx_t *c) {
    if (rill__mem_dispatching) return;
    c->shrink_pending = false;
    for (mem_topic_t *t = c->broker->topics; t; t = t->next)
        for (int32_t i = 0; i < t->nparts; i++)
            rill__mem_part_shrink(c, t, &t->parts[i], i);
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
