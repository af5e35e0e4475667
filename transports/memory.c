/* memory:// — an in-process broker: partitioned append-only logs, consumer groups
 * shared by every app instance of the process that names the same broker, offsets,
 * readers.  It is what users swap in for Kafka in tests, and what the examples run
 * on by default.
 *
 * Brokers are named by the URL's host part (memory:// is "default") and live until
 * the process exits, so an app restarted in the same process finds its topics,
 * committed offsets and changelogs.  A broker is not thread-safe: use it from the
 * apps of one thread (several apps may share one event_base, or run in turn).
 *
 * Memory is bounded: a partition holds at most max.messages / max.bytes.  When it
 * is full, entries every consumer group has committed past are trimmed (a
 * compacted topic is compacted first); if that frees nothing, produce() returns
 * RILL_EFULL and handlers->writable fires once space is freed (backpressure, never
 * silent loss of unconsumed data).
 *
 * Rebalancing is cooperative: when members join or leave, each member first gets
 * revoke_request() for the partitions that move away from it; once every such
 * member has answered it (revoke_answer), the new owners get assigned().  Partitions are
 * spread with Kafka's range assignor per topic, so co-partitioned topics land on one
 * member. */
#include <event2/event.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include "memory_int.h"
#include "rill/transport.h"

#define DISPATCH_BUDGET 8192 /* messages per loop turn per instance, for fairness */
#define BATCH_MAX 1024

/* Entries live in chunks: one malloc per ~256 KiB, not per message; a chunk is
 * freed when its last entry is trimmed or compacted away. */
typedef struct mem_chunk {
    size_t live, used, cap;
    uint8_t data[];
} mem_chunk_t;

#define CHUNK_BYTES (256 * 1024)
/* A partition that holds more than HUGE_AFTER chunk bytes gets its chunks as
 * transparent huge pages: one page fault per 2 MiB instead of 512 (filling fresh memory
 * was a third of what a produce cost in rill-bench's profiles). */
#define HUGE_CHUNK (2 * 1024 * 1024)
#define HUGE_AFTER (4 * 1024 * 1024)

typedef struct mem_entry {
    mem_chunk_t *chunk;
    int64_t offset;
    int64_t timestamp_ms;
    uint32_t klen, vlen;
    uint32_t hbytes; /* header names and values */
    uint16_t nheaders;
    uint8_t has_key, tombstone;
    /* then: rill_header_t[nheaders], header bytes, key, value */
} mem_entry_t;

#define E_HEADERS(e) ((rill_header_t *)((e) + 1))
#define E_KEY(e) ((uint8_t *)(E_HEADERS(e) + (e)->nheaders) + (e)->hbytes)
#define E_VALUE(e) (E_KEY(e) + (e)->klen)
#define E_BYTES(e)                                                                       \
    (sizeof(mem_entry_t) + (e)->nheaders * sizeof(rill_header_t) + (e)->hbytes +         \
     (e)->klen + (e)->vlen)

typedef struct mem_part {
    mem_entry_t **entries; /* ascending offsets; gaps after compaction */
    size_t n, cap, head;   /* live entries are [head, n) */
    int64_t next_offset;
    size_t bytes;
    mem_chunk_t *chunk; /* allocating from */
    size_t held;        /* chunk bytes allocated and not yet freed */
} mem_part_t;

static void chunk_free(mem_part_t *p, mem_chunk_t *c) {
    p->held -= sizeof *c + c->cap;
    free(c);
}

static void entry_free(mem_part_t *p, mem_entry_t *e) {
    mem_chunk_t *c = e->chunk;
    if (--c->live == 0 && c != p->chunk) chunk_free(p, c);
}

typedef struct mem_topic {
    char *name;
    int32_t nparts;
    bool compacted;
    mem_part_t *parts;
    struct mem_topic *next;
} mem_topic_t;

struct mem_member;

typedef struct mem_commit {
    char *topic;
    int32_t partition;
    int64_t offset;
    struct mem_commit *next;
} mem_commit_t;

typedef struct mem_group {
    char *id;
    struct mem_member **members;
    size_t nmembers;
    mem_commit_t *commits;
    uint64_t generation;
    size_t revokes_pending;
    struct mem_group *next;
} mem_group_t;

typedef struct mem_broker {
    char *name;
    mem_topic_t *topics;
    mem_group_t *groups;
    struct mem_ctx **instances;
    size_t ninstances;
    struct mem_broker *next;
} mem_broker_t;

/* A partition this instance reads: group-assigned or a reader. */
typedef struct mem_cursor {
    mem_topic_t *topic;
    int32_t partition;
    int64_t position;
    bool paused;
    bool eof_sent;    /* readers: eof already reported at this position */
    bool announced;   /* group partitions: assigned() was called for it */
    rill_reader_t *r; /* readers: the core's handle (one cursor each) */
} mem_cursor_t;

typedef struct mem_member {
    struct mem_ctx *ctx;
    mem_group_t *group;
    char **topics;
    size_t ntopics;
    rill_tp_t *pending_revoke; /* revoked, waiting for revoke_answer */
    size_t npending_revoke;
    bool revoke_outstanding;
    rill_revoke_t revoke_id; /* the revoke_request() pending_revoke belongs to */
    bool leaving;            /* unsubscribed: leave once the revoke is done */
} mem_member_t;

typedef struct mem_ctx {
    /* props */
    int64_t max_messages;
    int64_t max_bytes;
    int64_t default_partitions;
    bool keep;
    bool revoke_lost;
    /* state */
    rill_transport_t *t;
    mem_broker_t *broker;
    mem_member_t *member; /* when subscribed */
    mem_cursor_t *assigned;
    size_t nassigned, capassigned;
    mem_cursor_t *readers;
    size_t nreaders, capreaders;
    struct event *dispatch_ev;
    struct event *control_ev;   /* rebalance steps and delivery reports */
    struct pending_cb *reports; /* delivery reports, in produce order */
    size_t nreports, capreports;
    bool wake_pending;     /* dispatch event already activated */
    const char *last_name; /* produce: last topic name pointer and its topic */
    mem_topic_t *last_topic;
    uint64_t produced;
    int64_t now_ms;
    struct pending_assign *assigns;
    bool want_writable;
    bool closing;
    int dispatching;
    rill_revoke_t revoke_seq; /* identifiers handed to revoke_request() */
    rill_msg_t batch[BATCH_MAX];
} mem_ctx_t;

typedef struct pending_cb {
    rill_delivery_cb cb;
    void *opaque;
    int32_t partition;
    int64_t offset;
} pending_cb_t;

typedef struct pending_assign {
    bool revoke; /* else assign */
    rill_tp_t *tps;
    size_t n;
    struct pending_assign *next;
} pending_assign_t;

static mem_broker_t *brokers;
static int global_dispatching;

static const rill_prop_t mem_props[] = {
    {"max.messages", RILL_PROP_INT, "1000000", offsetof(mem_ctx_t, max_messages),
     "Messages a partition holds before trimming or backpressure"},
    {"max.bytes", RILL_PROP_INT, "134217728", offsetof(mem_ctx_t, max_bytes),
     "Bytes a partition holds before trimming or backpressure"},
    {"partitions", RILL_PROP_INT, "8", offsetof(mem_ctx_t, default_partitions),
     "Partitions of a topic declared without a count"},
    {"keep", RILL_PROP_BOOL, "true", offsetof(mem_ctx_t, keep),
     "Keep the broker's data after its last client closes (until the process exits)"},
    {"revoke.lost", RILL_PROP_BOOL, "false", offsetof(mem_ctx_t, revoke_lost),
     "Report every revoke as lost, as a group does for a member whose session expired "
     "(tests of the core's fencing)"},
    {NULL},
};

/* ---- broker registry ------------------------------------------------------------- */

static void free_part(mem_part_t *p) {
    for (size_t i = p->head; i < p->n; i++)
        entry_free(p, p->entries[i]);
    if (p->chunk) chunk_free(p, p->chunk);
    free(p->entries);
}

static void broker_free(mem_broker_t *b) {
    {
        while (b->topics) {
            mem_topic_t *t = b->topics;
            b->topics = t->next;
            for (int32_t i = 0; i < t->nparts; i++)
                free_part(&t->parts[i]);
            free(t->parts);
            free(t->name);
            free(t);
        }
        while (b->groups) {
            mem_group_t *g = b->groups;
            b->groups = g->next;
            while (g->commits) {
                mem_commit_t *c = g->commits;
                g->commits = c->next;
                free(c->topic);
                free(c);
            }
            free(g->members);
            free(g->id);
            free(g);
        }
        free(b->instances);
        free(b->name);
        free(b);
    }
}

static void free_brokers(void) {
    while (brokers) {
        mem_broker_t *b = brokers;
        brokers = b->next;
        broker_free(b);
    }
}

static mem_broker_t *broker_get(const char *name) {
    static bool atexit_set;
    for (mem_broker_t *b = brokers; b; b = b->next)
        if (strcmp(b->name, name) == 0) return b;
    mem_broker_t *b = calloc(1, sizeof *b);
    if (!b || !(b->name = strdup(name))) {
        free(b);
        return NULL;
    }
    b->next = brokers;
    brokers = b;
    if (!atexit_set) {
        atexit(free_brokers);
        atexit_set = true;
    }
    return b;
}

static mem_topic_t *topic_find(mem_broker_t *b, const char *name) {
    for (mem_topic_t *t = b->topics; t; t = t->next)
        if (strcmp(t->name, name) == 0) return t;
    return NULL;
}

size_t rill__memory_held_bytes(const char *broker, const char *topic, int32_t partition) {
    for (mem_broker_t *b = brokers; b; b = b->next) {
        if (strcmp(b->name, broker) != 0) continue;
        mem_topic_t *t = topic_find(b, topic);
        if (!t || partition < 0 || partition >= t->nparts) return 0;
        return t->parts[partition].held;
    }
    return 0;
}

static mem_group_t *group_get(mem_broker_t *b, const char *id) {
    for (mem_group_t *g = b->groups; g; g = g->next)
        if (strcmp(g->id, id) == 0) return g;
    mem_group_t *g = calloc(1, sizeof *g);
    if (!g || !(g->id = strdup(id))) {
        free(g);
        return NULL;
    }
    g->next = b->groups;
    b->groups = g;
    return g;
}

static mem_commit_t *commit_find(mem_group_t *g, const char *topic, int32_t partition) {
    for (mem_commit_t *c = g->commits; c; c = c->next)
        if (c->partition == partition && strcmp(c->topic, topic) == 0) return c;
    return NULL;
}

static bool group_reads(mem_group_t *g, const char *topic) {
    for (size_t i = 0; i < g->nmembers; i++)
        for (size_t j = 0; j < g->members[i]->ntopics; j++)
            if (strcmp(g->members[i]->topics[j], topic) == 0) return true;
    for (mem_commit_t *c = g->commits; c; c = c->next)
        if (strcmp(c->topic, topic) == 0) return true;
    return false;
}

/* ---- log ------------------------------------------------------------------------------
 */

static size_t part_count(const mem_part_t *p) {
    return p->n - p->head;
}

/* Index of the first live entry with offset >= off (p->n if none). */
static size_t part_seek(const mem_part_t *p, int64_t off) {
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

static int64_t part_low(const mem_part_t *p) {
    return part_count(p) ? p->entries[p->head]->offset : p->next_offset;
}

static void part_pack(mem_part_t *p) {
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
    if (p->head > p->cap / 2) part_pack(p);
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
static bool part_make_room(mem_ctx_t *c, mem_topic_t *t, mem_part_t *p, int32_t partition,
                           size_t add) {
    if (!part_full(c, p, add)) return true;
    if (global_dispatching) return false; /* views of these entries may be live */
    int64_t safe = p->next_offset;
    bool any_group = false;
    for (mem_group_t *g = c->broker->groups; g; g = g->next) {
        if (!group_reads(g, t->name)) continue;
        any_group = true;
        mem_commit_t *cm = commit_find(g, t->name, partition);
        int64_t off = cm ? cm->offset : part_low(p);
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

static mem_entry_t *entry_new(mem_part_t *p, const rill_produce_t *m, int64_t offset,
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

/* ---- dispatch -------------------------------------------------------------------------
 */

static void wake(mem_ctx_t *c) {
    if (c->dispatch_ev && !c->closing && !c->wake_pending) {
        c->wake_pending = true;
        event_active(c->dispatch_ev, EV_TIMEOUT, 0);
    }
}

static void wake_control(mem_ctx_t *c) {
    if (c->control_ev && !c->closing) event_active(c->control_ev, EV_TIMEOUT, 0);
}

static void wake_readers_of(mem_broker_t *b, mem_topic_t *t, int32_t partition) {
    for (size_t i = 0; i < b->ninstances; i++) {
        mem_ctx_t *o = b->instances[i];
        if (o->wake_pending) continue;
        for (size_t j = 0; j < o->nassigned; j++)
            if (o->assigned[j].topic == t && o->assigned[j].partition == partition)
                wake(o);
        for (size_t j = 0; j < o->nreaders; j++)
            if (o->readers[j].topic == t && o->readers[j].partition == partition) wake(o);
    }
}

static void fill_msg(rill_msg_t *m, const mem_topic_t *t, int32_t partition,
                     const mem_entry_t *e) {
    m->topic = t->name;
    m->partition = partition;
    m->offset = e->offset;
    m->timestamp_ms = e->timestamp_ms;
    m->key = e->has_key ? E_KEY(e) : NULL;
    m->key_len = e->klen;
    m->value = e->tombstone ? NULL : E_VALUE(e);
    m->value_len = e->vlen;
    m->headers = e->nheaders ? E_HEADERS(e) : NULL;
    m->nheaders = e->nheaders;
}

/* Deliver up to @p budget messages from cursor @p cur; returns how many. */
static size_t deliver_cursor(mem_ctx_t *c, size_t idx, bool reader, size_t budget) {
    mem_cursor_t *cur = reader ? &c->readers[idx] : &c->assigned[idx];
    mem_part_t *p = &cur->topic->parts[cur->partition];
    size_t i = part_seek(p, cur->position), n = 0;
    while (i < p->n && n < budget && n < BATCH_MAX)
        fill_msg(&c->batch[n++], cur->topic, cur->partition, p->entries[i++]);
    if (n) {
        cur->position = c->batch[n - 1].offset + 1;
        cur->eof_sent = false;
        c->dispatching++;
        global_dispatching++;
        if (reader)
            cur->r->h->messages(cur->r, c->batch, n, cur->r->opaque);
        else
            c->t->h->messages(c->t, c->batch, n, c->t->h->opaque);
        global_dispatching--;
        c->dispatching--;
    } else if (reader && !cur->eof_sent) {
        cur->eof_sent = true;
        if (cur->position < p->next_offset) cur->position = p->next_offset;
        cur->r->h->eof(cur->r, p->next_offset, cur->r->opaque);
    }
    return n;
}

static bool cursor_has_more(const mem_cursor_t *cur, bool reader) {
    const mem_part_t *p = &cur->topic->parts[cur->partition];
    if (cur->paused || (!reader && !cur->announced)) return false;
    return cur->position < p->next_offset || (reader && !cur->eof_sent);
}

static void on_dispatch(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    mem_ctx_t *c = arg;
    c->wake_pending = false;
    size_t budget = DISPATCH_BUDGET;
    bool more = true;
    while (budget > 0 && more && !c->closing) {
        more = false;
        /* Round-robin over partitions so one busy partition cannot starve others.
         * Indices, not pointers: handlers may pause, seek or close cursors. */
        for (size_t i = 0; i < c->nassigned && budget > 0 && !c->closing; i++) {
            if (!cursor_has_more(&c->assigned[i], false)) continue;
            size_t n = deliver_cursor(c, i, false, budget > 256 ? 256 : budget);
            budget -= n;
            more = true;
        }
        for (size_t i = 0; i < c->nreaders && budget > 0 && !c->closing; i++) {
            if (!cursor_has_more(&c->readers[i], true)) continue;
            size_t n = deliver_cursor(c, i, true, budget > 256 ? 256 : budget);
            budget -= n;
            more = true;
        }
    }
    if (more && !c->closing) wake(c);
}

/* ---- assignment -----------------------------------------------------------------------
 */

static int cmp_member(const void *a, const void *b) {
    const mem_member_t *x = *(mem_member_t *const *)a, *y = *(mem_member_t *const *)b;
    return strcmp(x->ctx->t->client_id, y->ctx->t->client_id);
}

static bool member_reads(const mem_member_t *m, const char *topic) {
    for (size_t i = 0; i < m->ntopics; i++)
        if (strcmp(m->topics[i], topic) == 0) return true;
    return false;
}

/* Kafka's range assignor: per topic, the sorted members that read it get
 * contiguous ranges, the first ones one extra when it does not divide. */
static bool target_owner(mem_group_t *g, const mem_topic_t *t, int32_t partition,
                         const mem_member_t *m) {
    size_t readers = 0, rank = 0;
    for (size_t i = 0; i < g->nmembers; i++) {
        if (!member_reads(g->members[i], t->name)) continue;
        if (g->members[i] == m) rank = readers;
        readers++;
    }
    if (!member_reads(m, t->name) || readers == 0) return false;
    int32_t per = t->nparts / (int32_t)readers, extra = t->nparts % (int32_t)readers;
    int32_t start = (int32_t)rank * per + ((int32_t)rank < extra ? (int32_t)rank : extra);
    int32_t count = per + ((int32_t)rank < extra ? 1 : 0);
    return partition >= start && partition < start + count;
}

static int cursor_index(mem_cursor_t *arr, size_t n, const mem_topic_t *t, int32_t part) {
    for (size_t i = 0; i < n; i++)
        if (arr[i].topic == t && arr[i].partition == part) return (int)i;
    return -1;
}

static void queue_assign(mem_ctx_t *c, bool revoke, rill_tp_t *tps, size_t n) {
    pending_assign_t *pa = calloc(1, sizeof *pa);
    if (!pa) {
        free(tps);
        return;
    }
    pa->revoke = revoke;
    pa->tps = tps;
    pa->n = n;
    pending_assign_t **pp = &c->assigns;
    while (*pp)
        pp = &(*pp)->next;
    *pp = pa;
    wake_control(c);
}

/* One step of a rebalance.  Ownership is decided here, synchronously, so no
 * partition ever has two owners; handlers hear about it later from the loop.
 * Revoke pass: every member gives up what no longer targets it.  Once every
 * revoke is done, assign pass: unowned partitions go to their target owner. */
static void group_step(mem_broker_t *b, mem_group_t *g) {
    if (g->revokes_pending > 0) return;
    for (size_t i = 0; i < g->nmembers; i++) {
        mem_member_t *m = g->members[i];
        mem_ctx_t *c = m->ctx;
        rill_tp_t *tps = NULL;
        size_t n = 0;
        for (size_t j = 0; j < c->nassigned;) {
            mem_cursor_t *cur = &c->assigned[j];
            if (target_owner(g, cur->topic, cur->partition, m)) {
                j++;
                continue;
            }
            if (!cur->announced) { /* never handed out: take it back silently */
                c->assigned[j] = c->assigned[--c->nassigned];
                continue;
            }
            rill_tp_t *nt = realloc(tps, (n + 1) * sizeof *nt);
            if (!nt) break;
            tps = nt;
            tps[n].topic = cur->topic->name;
            tps[n++].partition = cur->partition;
            j++;
        }
        if (n) {
            g->revokes_pending++;
            m->revoke_outstanding = true;
            queue_assign(c, true, tps, n);
        } else {
            free(tps);
        }
    }
    if (g->revokes_pending > 0) return;
    for (size_t i = 0; i < g->nmembers; i++) {
        mem_member_t *m = g->members[i];
        mem_ctx_t *c = m->ctx;
        rill_tp_t *tps = NULL;
        size_t n = 0;
        for (mem_topic_t *t = b->topics; t; t = t->next) {
            for (int32_t p = 0; p < t->nparts; p++) {
                if (!target_owner(g, t, p, m) ||
                    cursor_index(c->assigned, c->nassigned, t, p) >= 0)
                    continue;
                if (c->nassigned == c->capassigned) {
                    size_t cap = c->capassigned ? c->capassigned * 2 : 16;
                    mem_cursor_t *na = realloc(c->assigned, cap * sizeof *na);
                    if (!na) continue;
                    c->assigned = na;
                    c->capassigned = cap;
                }
                rill_tp_t *nt = realloc(tps, (n + 1) * sizeof *nt);
                if (!nt) continue;
                tps = nt;
                mem_commit_t *cm = commit_find(g, t->name, p);
                mem_part_t *pp = &t->parts[p];
                int64_t pos = cm ? cm->offset : part_low(pp);
                if (pos < part_low(pp)) pos = part_low(pp);
                c->assigned[c->nassigned++] =
                    (mem_cursor_t){t, p, pos, false, false, false};
                tps[n].topic = t->name;
                tps[n++].partition = p;
            }
        }
        if (n)
            queue_assign(c, false, tps, n);
        else
            free(tps);
    }
}

static void group_rebalance(mem_broker_t *b, mem_group_t *g) {
    g->generation++;
    qsort(g->members, g->nmembers, sizeof *g->members, cmp_member);
    group_step(b, g);
}

static void remove_assigned(mem_ctx_t *c, const rill_tp_t *tps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        mem_topic_t *t = topic_find(c->broker, tps[i].topic);
        int idx = t ? cursor_index(c->assigned, c->nassigned, t, tps[i].partition) : -1;
        if (idx < 0) continue;
        c->assigned[idx] = c->assigned[--c->nassigned];
    }
}

static void on_control(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    mem_ctx_t *c = arg;
    /* Delivery reports first: they complete sends issued before any rebalance. */
    /* Callbacks may produce (appending reports): index, and re-read the count. */
    for (size_t i = 0; i < c->nreports && !c->closing; i++) {
        pending_cb_t r = c->reports[i];
        r.cb(RILL_OK, NULL, r.partition, r.offset, r.opaque);
    }
    c->nreports = 0;
    while (c->assigns && !c->closing) {
        pending_assign_t *pa = c->assigns;
        c->assigns = pa->next;
        if (pa->revoke) {
            if (c->member) {
                free(c->member->pending_revoke);
                c->member->pending_revoke = pa->tps;
                c->member->npending_revoke = pa->n;
                pa->tps = NULL;
                /* The handler may answer (freeing the list) at once. */
                rill_tp_t *copy = malloc(pa->n * sizeof *copy);
                if (copy) {
                    memcpy(copy, c->member->pending_revoke, pa->n * sizeof *copy);
                    rill_revoke_t rv = c->member->revoke_id = ++c->revoke_seq;
                    c->t->h->revoke_request(c->t, copy, pa->n, c->revoke_lost, rv,
                                            c->t->h->opaque);
                    free(copy);
                }
            }
        } else if (c->member) {
            /* Announce what is still ours (a later step may have taken some back). */
            size_t added = 0;
            for (size_t i = 0; i < pa->n; i++) {
                mem_topic_t *t = topic_find(c->broker, pa->tps[i].topic);
                int idx =
                    t ? cursor_index(c->assigned, c->nassigned, t, pa->tps[i].partition)
                      : -1;
                if (idx < 0 || c->assigned[idx].announced) continue;
                c->assigned[idx].announced = true;
                pa->tps[added++] = pa->tps[i];
            }
            if (added) c->t->h->assigned(c->t, pa->tps, added, c->t->h->opaque);
            wake(c);
        }
        free(pa->tps);
        free(pa);
    }
    if (c->want_writable && !c->closing) {
        c->want_writable = false;
        if (c->t->h->writable) c->t->h->writable(c->t, c->t->h->opaque);
    }
}

/* ---- ops ------------------------------------------------------------------------------
 */

static rill_err_t mem_open(rill_transport_t *t, const rill_url_t *url,
                           const rill_conf_t *conf, char *errstr, size_t errlen) {
    (void)conf;
    mem_ctx_t *c = t->impl;
    c->t = t;
    if (*url->path && strcmp(url->path, "/") != 0) {
        snprintf(errstr, errlen,
                 "memory transport URL '%s': a path is not allowed (use memory://NAME)",
                 url->raw);
        return RILL_EURL;
    }
    if (c->max_messages < 1 || c->max_bytes < 1 || c->default_partitions < 1) {
        snprintf(
            errstr, errlen,
            "memory transport: max.messages, max.bytes and partitions must be positive");
        return RILL_ECONF;
    }
    if (!t->base) {
        snprintf(errstr, errlen, "memory transport needs an event_base");
        return RILL_EINVAL;
    }
    c->broker = broker_get(*url->host ? url->host : "default");
    if (!c->broker) return RILL_ENOMEM;
    c->dispatch_ev = event_new(t->base, -1, 0, on_dispatch, c);
    c->control_ev = event_new(t->base, -1, 0, on_control, c);
    mem_ctx_t **ni =
        realloc(c->broker->instances, (c->broker->ninstances + 1) * sizeof *ni);
    if (!c->dispatch_ev || !c->control_ev || !ni) {
        free(ni == c->broker->instances ? NULL : ni);
        return RILL_ENOMEM;
    }
    c->broker->instances = ni;
    ni[c->broker->ninstances++] = c;
    return RILL_OK;
}

static rill_err_t mem_declare(rill_transport_t *t, const rill_topic_spec_t *spec,
                              int32_t *partitions_out, char *errstr, size_t errlen) {
    mem_ctx_t *c = t->impl;
    if (!spec->name || !*spec->name) {
        snprintf(errstr, errlen, "topic name must not be empty");
        return RILL_EINVAL;
    }
    mem_topic_t *tp = topic_find(c->broker, spec->name);
    if (tp) {
        if (spec->partitions > 0 && spec->partitions != tp->nparts) {
            snprintf(errstr, errlen,
                     "topic '%s' exists with %d partitions, but %d were declared",
                     spec->name, tp->nparts, spec->partitions);
            return RILL_EPARTITIONS;
        }
        if (partitions_out) *partitions_out = tp->nparts;
        return RILL_OK;
    }
    int32_t n = spec->partitions > 0 ? spec->partitions : (int32_t)c->default_partitions;
    tp = calloc(1, sizeof *tp);
    if (!tp || !(tp->name = strdup(spec->name)) ||
        !(tp->parts = calloc((size_t)n, sizeof *tp->parts))) {
        if (tp) free(tp->name);
        free(tp);
        return RILL_ENOMEM;
    }
    tp->nparts = n;
    tp->compacted = spec->compacted;
    tp->next = c->broker->topics;
    c->broker->topics = tp;
    if (partitions_out) *partitions_out = n;
    /* Members subscribed before the topic existed now get its partitions. */
    for (mem_group_t *g = c->broker->groups; g; g = g->next) {
        bool reads = false;
        for (size_t i = 0; i < g->nmembers && !reads; i++)
            reads = member_reads(g->members[i], tp->name);
        if (reads) group_rebalance(c->broker, g);
    }
    return RILL_OK;
}

static rill_err_t mem_produce(rill_transport_t *t, const rill_produce_t *m,
                              rill_delivery_cb cb, void *opaque) {
    mem_ctx_t *c = t->impl;
    mem_topic_t *tp;
    if (m->topic == c->last_name && c->last_topic &&
        !strcmp(c->last_topic->name, m->topic)) {
        tp = c->last_topic;
    } else {
        if (!(tp = topic_find(c->broker, m->topic))) return RILL_ENOENT;
        c->last_name = m->topic;
        c->last_topic = tp;
    }
    if (m->partition < 0 || m->partition >= tp->nparts) return RILL_EINVAL;
    mem_part_t *p = &tp->parts[m->partition];
    size_t approx = m->key_len + m->value_len + sizeof(mem_entry_t);
    if (!part_make_room(c, tp, p, m->partition, approx)) {
        c->want_writable = true;
        return RILL_EFULL;
    }
    if (cb && c->nreports == c->capreports) {
        size_t cap = c->capreports ? c->capreports * 2 : 1024;
        pending_cb_t *nr = realloc(c->reports, cap * sizeof *nr);
        if (!nr) return RILL_ENOMEM;
        c->reports = nr;
        c->capreports = cap;
    }
    if (p->n == p->cap) {
        part_pack(p);
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 64;
            mem_entry_t **ne = realloc(p->entries, cap * sizeof *ne);
            if (!ne) return RILL_ENOMEM;
            p->entries = ne;
            p->cap = cap;
        }
    }
    if ((c->produced++ & 63) == 0)
        c->now_ms = rill_now_ms(); /* ms stamps: no clock per message */
    mem_entry_t *e = entry_new(p, m, p->next_offset, c->now_ms);
    if (!e) return RILL_ENOMEM;
    p->entries[p->n++] = e;
    p->bytes += E_BYTES(e);
    p->next_offset++;
    if (cb) {
        c->reports[c->nreports++] = (pending_cb_t){cb, opaque, m->partition, e->offset};
        if (c->nreports == 1) wake_control(c);
    }
    wake_readers_of(c->broker, tp, m->partition);
    return RILL_OK;
}

static rill_err_t mem_flush(rill_transport_t *t, int timeout_ms) {
    (void)timeout_ms;
    mem_ctx_t *c = t->impl;
    on_control(-1, 0, c); /* reports are ready at once: run them now */
    return RILL_OK;
}

static rill_err_t mem_subscribe(rill_transport_t *t, const char *group,
                                const char *const *topics, size_t n, char *errstr,
                                size_t errlen) {
    mem_ctx_t *c = t->impl;
    if (c->member) {
        snprintf(errstr, errlen, "already subscribed");
        return RILL_ESTATE;
    }
    if (!t->client_id || !*t->client_id) {
        snprintf(errstr, errlen,
                 "memory transport: a client id is required to join a group");
        return RILL_EINVAL;
    }
    mem_group_t *g = group_get(c->broker, group);
    mem_member_t *m = calloc(1, sizeof *m);
    mem_member_t **nm = g ? realloc(g->members, (g->nmembers + 1) * sizeof *nm) : NULL;
    if (!m || !nm || !(m->topics = calloc(n ? n : 1, sizeof *m->topics))) {
        free(m);
        if (nm) g->members = nm;
        return RILL_ENOMEM;
    }
    g->members = nm;
    for (size_t i = 0; i < n; i++) {
        if (!(m->topics[i] = strdup(topics[i]))) {
            for (size_t j = 0; j < i; j++)
                free(m->topics[j]);
            free(m->topics);
            free(m);
            return RILL_ENOMEM;
        }
    }
    m->ntopics = n;
    m->ctx = c;
    m->group = g;
    c->member = m;
    g->members[g->nmembers++] = m;
    group_rebalance(c->broker, g);
    return RILL_OK;
}

static void member_free(mem_member_t *m) {
    for (size_t i = 0; i < m->ntopics; i++)
        free(m->topics[i]);
    free(m->topics);
    free(m->pending_revoke);
    free(m);
}

/* Leave the group at once (close or unsubscribe): the partitions go to others. */
static void member_leave(mem_ctx_t *c) {
    mem_member_t *m = c->member;
    if (!m) return;
    mem_group_t *g = m->group;
    for (size_t i = 0; i < g->nmembers; i++) {
        if (g->members[i] == m) {
            g->members[i] = g->members[--g->nmembers];
            break;
        }
    }
    bool was_pending = m->revoke_outstanding;
    c->member = NULL;
    c->nassigned = 0;
    member_free(m);
    /* Drop queued rebalance steps for this member. */
    while (c->assigns) {
        pending_assign_t *pa = c->assigns;
        c->assigns = pa->next;
        free(pa->tps);
        free(pa);
    }
    if (was_pending && g->revokes_pending > 0) g->revokes_pending--;
    if (g->nmembers) group_rebalance(c->broker, g);
}

static rill_err_t mem_unsubscribe(rill_transport_t *t) {
    mem_ctx_t *c = t->impl;
    mem_member_t *m = c->member;
    if (!m) return RILL_OK;
    /* Stop targeting anything; the group revokes through the normal path and
     * the member leaves once its revoke is done. */
    for (size_t i = 0; i < m->ntopics; i++)
        free(m->topics[i]);
    m->ntopics = 0;
    m->leaving = true;
    if (m->revoke_outstanding) return RILL_OK;
    group_step(c->broker, m->group);
    if (!m->revoke_outstanding) member_leave(c);
    return RILL_OK;
}

/* Only the answer to the revoke the member waits on releases it: a late answer to
 * an earlier one (answered already, or replaced) does nothing. */
static void mem_revoke_answer(rill_transport_t *t, rill_revoke_t rv) {
    mem_ctx_t *c = t->impl;
    mem_member_t *m = c->member;
    if (!m || !m->revoke_outstanding || !m->pending_revoke || rv != m->revoke_id) return;
    remove_assigned(c, m->pending_revoke, m->npending_revoke);
    free(m->pending_revoke);
    m->pending_revoke = NULL;
    m->npending_revoke = 0;
    m->revoke_outstanding = false;
    mem_group_t *g = m->group;
    if (g->revokes_pending > 0) g->revokes_pending--;
    if (m->leaving) {
        member_leave(c);
        return;
    }
    group_step(c->broker, g);
}

static rill_err_t set_paused(rill_transport_t *t, const rill_tp_t *tps, size_t n,
                             bool paused) {
    mem_ctx_t *c = t->impl;
    for (size_t i = 0; i < n; i++) {
        mem_topic_t *tp = topic_find(c->broker, tps[i].topic);
        int idx = tp ? cursor_index(c->assigned, c->nassigned, tp, tps[i].partition) : -1;
        if (idx >= 0) c->assigned[idx].paused = paused;
    }
    if (!paused) wake(c);
    return RILL_OK;
}

static rill_err_t mem_pause(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    return set_paused(t, tps, n, true);
}

static rill_err_t mem_resume(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    return set_paused(t, tps, n, false);
}

static rill_err_t mem_seek(rill_transport_t *t, const char *topic, int32_t partition,
                           int64_t offset) {
    mem_ctx_t *c = t->impl;
    mem_topic_t *tp = topic_find(c->broker, topic);
    int idx = tp ? cursor_index(c->assigned, c->nassigned, tp, partition) : -1;
    if (idx < 0) return RILL_ENOENT;
    mem_part_t *p = &tp->parts[partition];
    if (offset == RILL_OFFSET_BEGINNING || offset < part_low(p)) offset = part_low(p);
    if (offset == RILL_OFFSET_END || offset > p->next_offset) offset = p->next_offset;
    c->assigned[idx].position = offset;
    wake(c);
    return RILL_OK;
}

static rill_err_t mem_commit(rill_transport_t *t, const rill_tp_offset_t *offs,
                             size_t n) {
    mem_ctx_t *c = t->impl;
    if (!c->member) return RILL_ESTATE;
    mem_group_t *g = c->member->group;
    for (size_t i = 0; i < n; i++) {
        mem_commit_t *cm = commit_find(g, offs[i].topic, offs[i].partition);
        if (!cm) {
            if (!(cm = calloc(1, sizeof *cm)) || !(cm->topic = strdup(offs[i].topic))) {
                free(cm);
                return RILL_ENOMEM;
            }
            cm->partition = offs[i].partition;
            cm->next = g->commits;
            g->commits = cm;
        }
        cm->offset = offs[i].offset;
    }
    /* Committing may free room in a full partition. */
    for (size_t i = 0; i < c->broker->ninstances; i++)
        if (c->broker->instances[i]->want_writable) wake_control(c->broker->instances[i]);
    return RILL_OK;
}

static rill_err_t mem_committed(rill_transport_t *t, const char *group, const char *topic,
                                int32_t partition, int64_t *out) {
    mem_ctx_t *c = t->impl;
    *out = RILL_OFFSET_INVALID;
    for (mem_group_t *g = c->broker->groups; g; g = g->next) {
        if (strcmp(g->id, group) != 0) continue;
        mem_commit_t *cm = commit_find(g, topic, partition);
        if (cm) *out = cm->offset;
    }
    return RILL_OK;
}

/* In-process membership cannot expire: still the owner of everything announced.
 * Hand it out again at the group's committed offsets, as a new assignment. */
static rill_err_t mem_confirm(rill_transport_t *t, char *errstr, size_t errlen) {
    mem_ctx_t *c = t->impl;
    (void)errstr;
    (void)errlen;
    if (!c->member) return RILL_OK;
    rill_tp_t *tps = c->nassigned ? malloc(c->nassigned * sizeof *tps) : NULL;
    if (c->nassigned && !tps) return RILL_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < c->nassigned; i++) {
        mem_cursor_t *cur = &c->assigned[i];
        if (!cur->announced) continue;
        mem_commit_t *cm =
            commit_find(c->member->group, cur->topic->name, cur->partition);
        mem_part_t *p = &cur->topic->parts[cur->partition];
        cur->position = cm && cm->offset > part_low(p) ? cm->offset : part_low(p);
        cur->paused = false;
        tps[n].topic = cur->topic->name;
        tps[n++].partition = cur->partition;
    }
    if (n) t->h->assigned(t, tps, n, t->h->opaque);
    free(tps);
    wake(c);
    return RILL_OK;
}

static rill_err_t mem_reader_start(rill_transport_t *t, rill_reader_t *r,
                                   int64_t offset) {
    mem_ctx_t *c = t->impl;
    mem_topic_t *tp = topic_find(c->broker, r->topic);
    int32_t partition = r->partition;
    if (!tp) return RILL_ENOENT;
    if (partition < 0 || partition >= tp->nparts) return RILL_EINVAL;
    if (c->nreaders == c->capreaders) {
        size_t cap = c->capreaders ? c->capreaders * 2 : 8;
        mem_cursor_t *nr = realloc(c->readers, cap * sizeof *nr);
        if (!nr) return RILL_ENOMEM;
        c->readers = nr;
        c->capreaders = cap;
    }
    mem_part_t *p = &tp->parts[partition];
    if (offset == RILL_OFFSET_BEGINNING || offset < part_low(p)) offset = part_low(p);
    if (offset == RILL_OFFSET_END || offset > p->next_offset) offset = p->next_offset;
    c->readers[c->nreaders++] =
        (mem_cursor_t){tp, partition, offset, false, false, true, r};
    wake(c);
    return RILL_OK;
}

static void mem_reader_stop(rill_transport_t *t, rill_reader_t *r) {
    mem_ctx_t *c = t->impl;
    for (size_t i = 0; i < c->nreaders; i++)
        if (c->readers[i].r == r) {
            c->readers[i] = c->readers[--c->nreaders];
            return;
        }
}

static rill_err_t mem_watermarks(rill_transport_t *t, const char *topic,
                                 int32_t partition, int64_t *low, int64_t *high,
                                 int timeout_ms) {
    (void)timeout_ms;
    mem_ctx_t *c = t->impl;
    mem_topic_t *tp = topic_find(c->broker, topic);
    if (!tp) return RILL_ENOENT;
    if (partition < 0 || partition >= tp->nparts) return RILL_EINVAL;
    *low = part_low(&tp->parts[partition]);
    *high = tp->parts[partition].next_offset;
    return RILL_OK;
}

static void mem_close(rill_transport_t *t) {
    mem_ctx_t *c = t->impl;
    if (!c->t) return; /* half-open */
    c->closing = true;
    if (c->broker) {
        member_leave(c);
        for (size_t i = 0; i < c->broker->ninstances; i++) {
            if (c->broker->instances[i] == c) {
                c->broker->instances[i] = c->broker->instances[--c->broker->ninstances];
                break;
            }
        }
        if (c->broker->ninstances == 0 && !c->keep) {
            for (mem_broker_t **pp = &brokers; *pp; pp = &(*pp)->next) {
                if (*pp == c->broker) {
                    *pp = c->broker->next;
                    break;
                }
            }
            broker_free(c->broker);
        }
    }
    free(c->reports);
    while (c->assigns) {
        pending_assign_t *pa = c->assigns;
        c->assigns = pa->next;
        free(pa->tps);
        free(pa);
    }
    if (c->dispatch_ev) event_free(c->dispatch_ev);
    if (c->control_ev) event_free(c->control_ev);
    free(c->assigned);
    free(c->readers);
}

const struct rill_transport_ops rill_transport_memory = {
    .abi = RILL_TRANSPORT_ABI,
    .scheme = "memory",
    .description = "in-process broker (tests, examples, embedded use)",
    .features = RILL_TF_WATERMARKS,
    .props = mem_props,
    .impl_size = sizeof(mem_ctx_t),
    .open = mem_open,
    .declare = mem_declare,
    .produce = mem_produce,
    .flush = mem_flush,
    .subscribe = mem_subscribe,
    .unsubscribe = mem_unsubscribe,
    .pause = mem_pause,
    .resume = mem_resume,
    .seek = mem_seek,
    .commit = mem_commit,
    .committed = mem_committed,
    .watermarks = mem_watermarks,
    .close = mem_close,
    .confirm = mem_confirm,
    .reader_start = mem_reader_start,
    .reader_stop = mem_reader_stop,
    .revoke_answer = mem_revoke_answer,
};
