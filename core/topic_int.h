/* Internal, layer 3 (docs/architecture.md): topics, the consumer-side state of
 * their partitions, sends (topic.c) and in-process channels (channel.c) */
#ifndef RILL_TOPIC_INT_H
#define RILL_TOPIC_INT_H

#include "ctx_int.h"
#include "offsets_int.h"

/* Consumer-side state of one partition of a topic this worker reads. */
typedef struct rill_tpstate {
    struct rill_topic *topic;
    int32_t partition;
    bool assigned;
    bool revoking;
    bool lost;         /* revoked as lost (or fenced after a stall): write nothing */
    bool paused;       /* by backpressure */
    bool held;         /* paused until the tables it needs are recovered */
    bool held_rewound; /* a message arrived while held: paused again */
    int64_t held_from; /* first offset delivered while held (-1: none): seek here */
    uint32_t queued;   /* events buffered in agent queues, not started */
    uint32_t inflight; /* events started and not yet acked */
    int64_t committed; /* last offset committed (-1: none by us) */
    int64_t resume_at; /* revoked with its commit refused: our position, if it comes
                          straight back (-1: none) */
    uint32_t gen;      /* bumped at every assignment and loss: stale acks are ignored */
    rill_acks_t acks;
} rill_tpstate_t;

struct rill_topic {
    rill_app_t *app;
    char *name;
    bool channel;                      /* in-process: no transport */
    struct rill_topic *repartition_of; /* group_by: same partition count */
    struct rill_channel *chan;
    rill_topic_opts_t opts;
    int32_t partitions;
    const rill_type_t *ktype, *vtype; /* point at kcopy/vcopy (or NULL) */
    rill_type_t kcopy, vcopy;         /* the caller's may be a compound literal */
    char *kser_name, *vser_name;
    rill_serializer_t *kser, *vser; /* resolved at start */
    uint32_t rr;                    /* round-robin for keyless sends */
    struct rill_agent **agents;     /* agents consuming this topic */
    size_t nagents;
    rill_tpstate_t *parts; /* [partitions] once started */
    uint64_t sent;         /* sends the transport accepted (web.c's /metrics) */
    uint64_t send_errors;  /* sends refused (by rill or the transport) or not delivered */
    rill_hist_t send_latency; /* 1 send in 64: send to its delivery report */
    /* The context the plain sends of this epoch share ([1]: fenced ones), or NULL
     * (topic.c's plain_ctx) */
    struct rill_send_ctx *plain[2];
    struct rill_topic *next;
};

/* Sends of a topic timed for rill_send_latency_seconds: 1 in this many. */
#define RILL__SEND_SAMPLE 64

typedef struct rill_send_ctx {
    rill_app_t *app;
    struct rill_topic *topic;
    uint64_t t0_ns; /* sampled for send_latency: when it was sent (0: not sampled) */
    rill_send_cb cb;
    void *opaque;
    uint64_t epoch;
    bool fenced; /* made for a consumed partition (see produce) */
    /* Shared by the plain sends (no callback, not timed) of one topic, epoch and
     * fencing, in flight: refs counts them.  One context per send otherwise. */
    bool shared;
    uint64_t refs;
    struct rill_send_ctx *next;     /* free list */
    struct rill_send_ctx *all_next; /* every context allocated, for destroy */
} rill_send_ctx_t;

/* @p t is consumed by agents and partitioned like something of @p partitions
 * partitions (a table, a changelog): user topics and group_by repartition topics,
 * not internal ones like "<app>-delayed" or in-process channels. */
static inline bool rill__copartitioned(const rill_topic_t *t, int32_t partitions) {
    return t->parts && !t->channel && t->nagents && t->partitions == partitions &&
           (!t->opts.internal || t->repartition_of);
}

/* topic.c */
rill_err_t rill__topic_resolve(rill_topic_t *t, char *errstr, size_t errlen);
rill_err_t rill__topic_declare(rill_topic_t *t, char *errstr, size_t errlen);
void rill__topic_free(rill_topic_t *t);
rill_topic_t *rill__topic_by_name(rill_app_t *app, const char *name);
/* A value given as rill_send takes it (@p p, @p len bytes) for @p type: NULL with a
 * length, or a type held in its C representation (records, numbers, ...) whose size
 * is not @p len, is refused with RILL_EINVAL and @p app's error string "<verb>
 * '<name>': the <what> is N bytes, but the <owner>'s <what>s are T (M bytes)".
 * Bytes and strings take any length. */
rill_err_t rill__value_len_check(rill_app_t *app, const char *verb, const char *name,
                                 const char *owner, const char *what,
                                 const rill_type_t *type, const void *p, size_t len);
/* Options of an internal send: RILL_SEND_OPTS_INIT plus @p __VA_ARGS__ (other
 * fields than version and partition). */
#define RILL__SEND_OPTS(...)                                                             \
    { .version = RILL_SEND_OPTS_VERSION, .partition = RILL_PARTITION_ANY, __VA_ARGS__ }

/* Send a value in its C representation (no key; channel.c's stream values). */
rill_err_t rill__send_value(rill_topic_t *t, const void *value,
                            const rill_send_opts_t *o);
/* The first topic partition a write to partition @p p of a table or changelog with
 * @p partitions partitions belongs to (co-partitioned, assigned), or NULL. */
const rill_tpstate_t *rill__fence_for(rill_app_t *app, int32_t partitions, int32_t p);

/* Delivery report of a send (a rill_delivery_cb; @p opaque is its context). */
void rill__send_delivered(rill_err_t err, const char *errmsg, int32_t partition,
                          int64_t offset, void *opaque);
/* The transport's handlers->delivered: @p n successful reports of produces given
 * @p cb, in order; rill__send_delivered's inline. */
void rill__sends_delivered(rill_transport_t *tr, rill_delivery_cb cb,
                           const rill_delivery_t *d, size_t n, void *opaque);

/* backlog.c: sends refused with RILL_EFULL, held in order until writable */
/* Hold a copy of @p m (context @p s, fenced by @p fence or NULL): RILL_OK, or
 * RILL_EFULL past the bound (error string set), RILL_ENOMEM. */
rill_err_t rill__backlog_hold(rill_app_t *app, const rill_produce_t *m, rill_topic_t *t,
                              const rill_tpstate_t *fence, rill_send_ctx_t *s);
/* Hand held sends to the transport until it refuses one (handlers.writable). */
void rill__backlog_drain(rill_app_t *app);
/* How many sends were ever held (the one held next is number this + 1). */
uint64_t rill__backlog_held_total(const rill_app_t *app);
/* True once held send number @p n (1, 2, ...; 0: none) has left the backlog (handed
 * over, or refused): held sends leave in order. */
bool rill__backlog_left(const rill_app_t *app, uint64_t n);
void rill__on_writable(rill_transport_t *t, void *opaque);
/* Every held send handed over and every delivery report served, waiting up to
 * @p timeout_ms (blocking: shutdown, revoke, the CLI). */
rill_err_t rill__sends_flush(rill_app_t *app, int timeout_ms);
void rill__backlog_free(rill_app_t *app);

/* channel.c */
rill_err_t rill__channel_push(rill_topic_t *t, const void *k, size_t klen, const void *v,
                              size_t vlen, const rill_send_opts_t *o);
void rill__channel_free(rill_topic_t *t);

#endif
