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
 * silent loss of unconsumed data).  Unless that would never end: when a consumer
 * that must commit before the partition is trimmed is the producer itself, or waits
 * on it through refused produces of its own (an agent forwarding into its own topic,
 * a -> b inside one app, two apps forwarding to each other), the partition grows
 * past its limit instead, with a warning, and shrinks as that consumer commits: the
 * producer's held sends would stop its own consumer, whose commit waits for them
 * (issue 13).  Kafka never holds a producer for its consumers at all.
 *
 * Rebalancing is cooperative: when members join or leave, each member first gets
 * revoke_request() for the partitions that move away from it; once every such
 * member has answered it (revoke_answer), the new owners get assigned().  Partitions are
 * spread with Kafka's range assignor per topic, so co-partitioned topics land on one
 * member.
 *
 * This file: the broker registry, topics, produce and the vtable; the rest is in
 * memory_log.c, memory_group.c and memory_dispatch.c (memory_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memory_int.h"

static mem_broker_t *brokers;

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

static void broker_free(mem_broker_t *b) {
    {
        while (b->topics) {
            mem_topic_t *t = b->topics;
            b->topics = t->next;
            for (int32_t i = 0; i < t->nparts; i++)
                rill__mem_free_part(&t->parts[i]);
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

mem_topic_t *rill__mem_topic_find(mem_broker_t *b, const char *name) {
    for (mem_topic_t *t = b->topics; t; t = t->next)
        if (strcmp(t->name, name) == 0) return t;
    return NULL;
}

size_t rill__memory_held_bytes(const char *broker, const char *topic, int32_t partition) {
    for (mem_broker_t *b = brokers; b; b = b->next) {
        if (strcmp(b->name, broker) != 0) continue;
        mem_topic_t *t = rill__mem_topic_find(b, topic);
        if (!t || partition < 0 || partition >= t->nparts) return 0;
        return t->parts[partition].held;
    }
    return 0;
}

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
    c->dispatch_ev = event_new(t->base, -1, 0, rill__mem_on_dispatch, c);
    c->control_ev = event_new(t->base, -1, 0, rill__mem_on_control, c);
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
    mem_topic_t *tp = rill__mem_topic_find(c->broker, spec->name);
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
            reads = rill__mem_member_reads(g->members[i], tp->name);
        if (reads) rill__mem_group_rebalance(c->broker, g);
    }
    return RILL_OK;
}

/* An unstamped message's time, in ms.  The coarse clock (a few ns, one tick of
 * resolution) says when the time moved on; only then is the exact clock read, so
 * a burst shares one stamp and a slow producer's messages carry their own. */
static int64_t stamp_now(mem_ctx_t *c) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_nsec != c->coarse.tv_nsec || ts.tv_sec != c->coarse.tv_sec) {
        c->coarse = ts;
        c->now_ms = rill_now_ms();
    }
    return c->now_ms;
}

static rill_err_t mem_produce(rill_transport_t *t, const rill_produce_t *m,
                              rill_delivery_cb cb, void *opaque) {
    mem_ctx_t *c = t->impl;
    mem_topic_t *tp;
    if (m->topic == c->last_name && c->last_topic) { /* one pointer, one topic */
        tp = c->last_topic;
    } else {
        if (!(tp = rill__mem_topic_find(c->broker, m->topic))) return RILL_ENOENT;
        c->last_name = m->topic;
        c->last_topic = tp;
    }
    if (m->partition < 0 || m->partition >= tp->nparts) return RILL_EINVAL;
    mem_part_t *p = &tp->parts[m->partition];
    size_t approx = m->key_len + m->value_len + sizeof(mem_entry_t);
    if (!rill__mem_part_make_room(c, tp, p, m->partition, approx) &&
        !rill__mem_must_grow(c, tp, p, m->partition)) {
        c->want_writable = true;
        c->blocked_topic = tp;
        c->blocked_partition = m->partition;
        return RILL_EFULL;
    }
    mem_reports_t *rs = &c->reports;
    if (cb && rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 1024;
        rill_delivery_t *nd = realloc(rs->d, cap * sizeof *nd);
        if (nd) rs->d = nd;
        rill_delivery_cb *ncb = nd ? realloc(rs->cb, cap * sizeof *ncb) : NULL;
        if (!ncb) return RILL_ENOMEM; /* rs->d grew: harmless */
        rs->cb = ncb;
        rs->cap = cap;
    }
    if (p->n == p->cap) {
        rill__mem_part_pack(p);
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 64;
            mem_entry_t **ne = realloc(p->entries, cap * sizeof *ne);
            if (!ne) return RILL_ENOMEM;
            p->entries = ne;
            p->cap = cap;
        }
    }
    c->produced++;
    mem_entry_t *e = rill__mem_entry_new(
        p, m, p->next_offset, m->timestamp_ms ? m->timestamp_ms : stamp_now(c));
    if (!e) return RILL_ENOMEM;
    p->entries[p->n++] = e;
    p->next_offset++;
    if (cb) {
        rs->cb[rs->n] = cb;
        rs->d[rs->n++] = (rill_delivery_t){opaque, m->partition, e->offset};
        if (rs->n == 1) rill__mem_wake_control(c);
    }
    rill__mem_wake_readers_of(c->broker, tp, m->partition);
    return RILL_OK;
}

static rill_err_t mem_flush(rill_transport_t *t, int timeout_ms) {
    (void)timeout_ms;
    mem_ctx_t *c = t->impl;
    rill__mem_on_control(-1, 0, c); /* reports are ready at once: run them now */
    return RILL_OK;
}

static rill_err_t mem_watermarks(rill_transport_t *t, const char *topic,
                                 int32_t partition, int64_t *low, int64_t *high,
                                 int timeout_ms) {
    (void)timeout_ms;
    mem_ctx_t *c = t->impl;
    mem_topic_t *tp = rill__mem_topic_find(c->broker, topic);
    if (!tp) return RILL_ENOENT;
    if (partition < 0 || partition >= tp->nparts) return RILL_EINVAL;
    *low = rill__mem_part_low(&tp->parts[partition]);
    *high = tp->parts[partition].next_offset;
    return RILL_OK;
}

static void mem_close(rill_transport_t *t) {
    mem_ctx_t *c = t->impl;
    if (!c->t) return; /* half-open */
    c->closing = true;
    if (c->broker) {
        rill__mem_member_leave(c);
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
    free(c->reports.d);
    free(c->reports.cb);
    free(c->spare.d);
    free(c->spare.cb);
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
    .features = RILL_TRANSPORT_F_WATERMARKS,
    .props = mem_props,
    .impl_size = sizeof(mem_ctx_t),
    .open = mem_open,
    .declare = mem_declare,
    .produce = mem_produce,
    .flush = mem_flush,
    .subscribe = rill__mem_subscribe,
    .unsubscribe = rill__mem_unsubscribe,
    .pause = rill__mem_pause,
    .resume = rill__mem_resume,
    .seek = rill__mem_seek,
    .commit = rill__mem_commit,
    .committed = rill__mem_committed,
    .watermarks = mem_watermarks,
    .close = mem_close,
    .confirm = rill__mem_confirm,
    .reader_start = rill__mem_reader_start,
    .reader_stop = rill__mem_reader_stop,
    .revoke_answer = rill__mem_revoke_answer,
};
