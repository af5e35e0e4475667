/* Internal: the memory:// transport's state, shared by memory.c (brokers, topics,
 * produce, the vtable), memory_log.c (partition logs in chunks: trim, compaction,
 * backpressure), memory_group.c (consumer groups: assignment, revokes, commits) and
 * memory_dispatch.c (delivery to group members and readers, pause, seek, the control
 * event).  Never installed; tests reach rill__memory_held_bytes through it. */
#ifndef RILL_TRANSPORT_MEMORY_INT_H
#define RILL_TRANSPORT_MEMORY_INT_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

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
    uint32_t koff; /* the key's offset from the entry: what comes before it */
    uint16_t nheaders;
    uint8_t has_key, tombstone;
    /* then: rill_header_t[nheaders], header names and values, key, value */
} mem_entry_t;

#define E_HEADERS(e) ((rill_header_t *)((e) + 1))
#define E_KEY(e) ((uint8_t *)(e) + (e)->koff)
#define E_VALUE(e) (E_KEY(e) + (e)->klen)
#define E_BYTES(e) ((size_t)(e)->koff + (e)->klen + (e)->vlen)

typedef struct mem_part {
    mem_entry_t **entries; /* ascending offsets; gaps after compaction */
    size_t n, cap, head;   /* live entries are [head, n) */
    int64_t next_offset;
    size_t bytes;
    mem_chunk_t *chunk; /* allocating from */
    size_t held;        /* chunk bytes allocated and not yet freed */
    bool over;          /* grown past a producer's limit (rill__mem_must_grow) */
    bool over_logged;   /* that was logged (once per partition) */
    bool idle_logged;   /* "full and nobody consumes it" logged, until a trim */
    size_t compact_at;  /* over: compact again once it holds this many entries */
} mem_part_t;

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

/* Delivery reports: what each is, and its cb beside (runs of one cb go to
 * handlers->delivered as they are). */
typedef struct mem_reports {
    rill_delivery_t *d;
    rill_delivery_cb *cb;
    size_t n, cap;
} mem_reports_t;

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
    struct event *control_ev; /* rebalance steps and delivery reports */
    mem_reports_t reports;    /* delivery reports, in produce order */
    mem_reports_t spare;      /* the other buffer (rill__mem_on_control) */
    bool reporting;           /* running them */
    bool wake_pending;        /* dispatch event already activated */
    const char *last_name;    /* produce: last topic name pointer and its topic */
    mem_topic_t *last_topic;
    uint64_t produced;
    struct timespec coarse; /* the coarse clock when now_ms was read (stamp_now) */
    int64_t now_ms;         /* the stamp of unstamped produces */
    struct pending_assign *assigns;
    bool want_writable;
    mem_topic_t *blocked_topic; /* with want_writable: the partition that refused */
    int32_t blocked_partition;
    bool shrink_pending; /* a partition grew during a delivery: trim it after */
    bool closing;
    int dispatching;
    rill_revoke_t revoke_seq; /* identifiers handed to revoke_request() */
    rill_msg_t batch[BATCH_MAX];
} mem_ctx_t;

typedef struct pending_assign {
    bool revoke; /* else assign */
    rill_tp_t *tps;
    size_t n;
    struct pending_assign *next;
} pending_assign_t;

/* A delivery is running (any instance): views of entries may be live, nothing is
 * trimmed (memory_dispatch.c). */
extern int rill__mem_dispatching;

/* ---- memory.c */
mem_topic_t *rill__mem_topic_find(mem_broker_t *b, const char *name);

/* Chunk bytes partition @p partition of @p topic on broker @p broker ("default" for
 * memory://) holds now: what its chunk allocator counts towards huge pages.  0 when
 * there is no such broker, topic or partition.  For tests. */
size_t rill__memory_held_bytes(const char *broker, const char *topic, int32_t partition);

/* ---- memory_log.c */
void rill__mem_free_part(mem_part_t *p);
size_t rill__mem_part_seek(const mem_part_t *p, int64_t off);
int64_t rill__mem_part_low(const mem_part_t *p);
void rill__mem_part_pack(mem_part_t *p);
/* The slow paths of rill__mem_part_make_room and rill__mem_entry_new below. */
bool rill__mem_part_free_room(mem_ctx_t *c, mem_topic_t *t, mem_part_t *p,
                              int32_t partition, size_t add);
mem_chunk_t *rill__mem_chunk_next(mem_part_t *p, size_t bytes);
/* Partition @p partition of @p t is full and @p c's produce into it would be refused:
 * true when holding it could never end: a consumer that must commit before the
 * partition is trimmed is @p c itself, or waits (through refused produces of its
 * own) on @p c; or @p t is compacted and read by no group (a changelog: never
 * trimmed, and compaction left only each key's last value).  The produce then grows
 * the partition past its limit (logged once per partition).  False: refuse
 * (backpressure); logged once, until a trim, when no consumer owns the partition. */
bool rill__mem_must_grow(mem_ctx_t *c, mem_topic_t *t, mem_part_t *p, int32_t partition);
/* Trim (and compact) @p p if it grew past the limits of @p c. */
void rill__mem_part_shrink(mem_ctx_t *c, mem_topic_t *t, mem_part_t *p,
                           int32_t partition);
/* Shrink every partition of @p c's broker that grew (outside deliveries only). */
void rill__mem_shrink_all(mem_ctx_t *c);

/* Produce's per-message steps are inline: as calls across files they cost a third
 * more instructions per produce than as the statics they were (rill-bench). */

static inline bool rill__mem_part_full(const mem_ctx_t *c, const mem_part_t *p,
                                       size_t add) {
    return (int64_t)(p->n - p->head) + 1 > c->max_messages ||
           (int64_t)(p->bytes + add) > c->max_bytes;
}

/* Make room for one entry of @p add bytes; false when nothing can be freed. */
static inline bool rill__mem_part_make_room(mem_ctx_t *c, mem_topic_t *t, mem_part_t *p,
                                            int32_t partition, size_t add) {
    return !rill__mem_part_full(c, p, add) ||
           rill__mem_part_free_room(c, t, p, partition, add);
}

/* memcpy, with 8 to 16 bytes (small keys, ids, the values of counters and clicks)
 * as two 8-byte moves instead of a call. */
static inline void rill__mem_copy(uint8_t *w, const void *src, size_t n) {
    const uint8_t *s = src;
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(w, &a, 8);
        memcpy(w + n - 8, &b, 8);
    } else if (n) {
        memcpy(w, s, n);
    }
}

/* The bytes of @p m's headers (names with their terminators, values) and their
 * table, written at @p w (the entry's rill_header_t[] first); returns the end. */
static inline uint8_t *rill__mem_headers_put(uint8_t *w, const rill_produce_t *m) {
    rill_header_t *hs = (rill_header_t *)w;
    w = (uint8_t *)(hs + m->nheaders);
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
    return w;
}

/* The bytes before an entry's key: the entry, its headers' table and bytes; 0 when
 * they are too many or too large. */
static inline size_t rill__mem_key_offset(const rill_produce_t *m) {
    if (!m->nheaders) return sizeof(mem_entry_t); /* the common case: no loop */
    size_t hsize = 0;
    for (size_t i = 0; i < m->nheaders; i++)
        hsize += strlen(m->headers[i].name) + 1 + m->headers[i].value_len;
    if (m->nheaders > UINT16_MAX || hsize > UINT32_MAX / 2) return 0;
    return sizeof(mem_entry_t) + m->nheaders * sizeof(rill_header_t) + hsize;
}

/* A copy of @p m at offset @p offset in @p p's current chunk (a new one when it is
 * full), counted in p->bytes; NULL when out of memory or too large.  The core's
 * rill__msg_copy is not for plugins, mallocs each copy and is a call: this one carves
 * from a chunk, inline. */
static inline mem_entry_t *rill__mem_entry_new(mem_part_t *p, const rill_produce_t *m,
                                               int64_t offset, int64_t now_ms) {
    size_t koff = rill__mem_key_offset(m);
    size_t klen = m->key ? m->key_len : 0, vlen = m->value ? m->value_len : 0;
    if (!koff || klen > UINT32_MAX || vlen > UINT32_MAX) return NULL;
    size_t bytes = koff + klen + vlen;
    size_t carved = (bytes + 7) & ~(size_t)7;
    mem_chunk_t *c = p->chunk;
    if ((!c || c->cap - c->used < carved) && !(c = rill__mem_chunk_next(p, carved)))
        return NULL;
    mem_entry_t *e = (mem_entry_t *)(c->data + c->used);
    c->used += carved;
    p->bytes += bytes; /* E_BYTES(e) */
    c->live++;
    *e = (mem_entry_t){.chunk = c,
                       .offset = offset,
                       .timestamp_ms = m->timestamp_ms ? m->timestamp_ms : now_ms,
                       .klen = (uint32_t)klen,
                       .vlen = (uint32_t)vlen,
                       .koff = (uint32_t)koff,
                       .nheaders = (uint16_t)m->nheaders,
                       .has_key = m->key != NULL,
                       .tombstone = m->value == NULL};
    uint8_t *w = m->nheaders ? rill__mem_headers_put((uint8_t *)(e + 1), m) : E_KEY(e);
    if (klen) rill__mem_copy(w, m->key, klen);
    rill__mem_copy(w + klen, m->value, vlen);
    return e;
}

/* ---- memory_group.c */
mem_commit_t *rill__mem_commit_find(mem_group_t *g, const char *topic, int32_t partition);
bool rill__mem_group_reads(mem_group_t *g, const char *topic);
bool rill__mem_member_reads(const mem_member_t *m, const char *topic);
void rill__mem_group_rebalance(mem_broker_t *b, mem_group_t *g);
rill_err_t rill__mem_subscribe(rill_transport_t *t, const char *group,
                               const char *const *topics, size_t n, char *errstr,
                               size_t errlen);
void rill__mem_member_leave(mem_ctx_t *c);
rill_err_t rill__mem_unsubscribe(rill_transport_t *t);
void rill__mem_revoke_answer(rill_transport_t *t, rill_revoke_t rv);
rill_err_t rill__mem_commit(rill_transport_t *t, const rill_tp_offset_t *offs, size_t n);
rill_err_t rill__mem_committed(rill_transport_t *t, const char *group, const char *topic,
                               int32_t partition, int64_t *out);
rill_err_t rill__mem_confirm(rill_transport_t *t, char *errstr, size_t errlen);

/* ---- memory_dispatch.c */
void rill__mem_wake(mem_ctx_t *c);
void rill__mem_wake_control(mem_ctx_t *c);

/* Wake every instance that reads partition @p partition of @p t (inline: produce). */
static inline void rill__mem_wake_readers_of(mem_broker_t *b, mem_topic_t *t,
                                             int32_t partition) {
    for (size_t i = 0; i < b->ninstances; i++) {
        mem_ctx_t *o = b->instances[i];
        if (o->wake_pending) continue;
        for (size_t j = 0; j < o->nassigned; j++)
            if (o->assigned[j].topic == t && o->assigned[j].partition == partition)
                rill__mem_wake(o);
        for (size_t j = 0; j < o->nreaders; j++)
            if (o->readers[j].topic == t && o->readers[j].partition == partition)
                rill__mem_wake(o);
    }
}
void rill__mem_on_dispatch(evutil_socket_t fd, short what, void *arg);
int rill__mem_cursor_index(mem_cursor_t *arr, size_t n, const mem_topic_t *t,
                           int32_t part);
void rill__mem_on_control(evutil_socket_t fd, short what, void *arg);
rill_err_t rill__mem_pause(rill_transport_t *t, const rill_tp_t *tps, size_t n);
rill_err_t rill__mem_resume(rill_transport_t *t, const rill_tp_t *tps, size_t n);
rill_err_t rill__mem_seek(rill_transport_t *t, const char *topic, int32_t partition,
                          int64_t offset);
rill_err_t rill__mem_reader_start(rill_transport_t *t, rill_reader_t *r, int64_t offset);
void rill__mem_reader_stop(rill_transport_t *t, rill_reader_t *r);

#endif
