/**
 * @file transport.h
 * @brief Transport interface (plugin API): partitioned logs and consumer groups.
 *
 * Built-ins: "memory" (memory://[name]: in-process), "kafka" (librdkafka),
 * "redis" (Redis Streams).  A transport instance belongs to one app and runs on
 * that app's libevent loop: it never blocks the loop except where a method says
 * so, never starts threads that call back into rill, and calls every handler
 * from the loop thread.  Message views handed to handlers are borrowed and valid
 * for the duration of the call only.
 *
 * Offsets are int64 positions within a partition, increasing; a committed offset
 * is the *next* offset to consume (Kafka's convention).  The core decides which
 * partition a message goes to (murmur2 of the key, like Kafka's default
 * partitioner), so every transport places keys identically.
 *
 * Contract for consumer groups (subscribe):
 *  - handlers->assigned() is called with newly assigned partitions. Delivery for
 *    each starts at the group's committed offset (earliest when none), unless the
 *    core calls seek() or pause() for it before returning from assigned().
 *  - handlers->revoke_request() is called before partitions move away, with an
 *    identifier of that revoke (a rill_revoke_t, never 0, a new one each call).
 *    The transport keeps the partitions (and accepts commit() for them) until the
 *    core calls revoke_answer() with that identifier, which it may do inside
 *    revoke_request() or later from the loop.  An answer naming an earlier revoke
 *    is stale: it releases nothing.
 *  - handlers->messages() receives batches; messages of one partition arrive in
 *    offset order, never for a paused partition after pause() returns.
 *
 * Readers read one partition outside any group: table changelog recovery, standby
 * replicas, GlobalTable copies, the workers topic, reply topics.  Each is a handle
 * (rill_reader_t) the core allocates and fills (topic, partition, handlers,
 * opaque) before reader_start(); the transport calls r->h->messages() with
 * messages of r's partition only, and r->h->eof() each time r has delivered
 * everything up to the current end of the partition.  Several readers may read
 * the same partition, each from its own offset; each gets every message from its
 * offset on.  reader_stop() may be called from inside one of r's handlers; once it
 * returns the transport must not touch r again.
 *
 * ABI 1-2 transports route readers by topic name (reader_open, reader_close,
 * handlers->reader_messages and reader_eof) and answer revokes with revoke_done():
 * the core adapts them to handles and identifiers (core/backend.c), so they keep
 * working unchanged; see docs/plugins.md.
 */
#ifndef RILL_TRANSPORT_H
#define RILL_TRANSPORT_H

#include "plugin.h"

struct event_base;

RILL_BEGIN_DECLS

/** Version of struct rill_transport_ops.  Slots are only ever appended: a plugin
 * built against an older version registers fine, and the core reads no slot past
 * its version.  1: up to close; 2: session_ms, poll_ms, confirm; 3: reader_start,
 * reader_stop, revoke_answer (reader handles, identified revokes). */
#define RILL_TRANSPORT_ABI 3

typedef struct rill_transport rill_transport_t;
typedef struct rill_reader rill_reader_t;

/** @brief Identifies one revoke_request() (ABI 3); never 0. */
typedef uint64_t rill_revoke_t;

/* Feature bits (ops.features): RILL_<KIND>_F_<FEATURE>, as for stores and
 * serializers. */

/** groups span processes (not just one process) */
#define RILL_TRANSPORT_F_GROUPS 0x1u
/** transactions (txn_* methods) */
#define RILL_TRANSPORT_F_TXN 0x2u
/** takes any "<scheme>.*" key; open validates */
#define RILL_TRANSPORT_F_PASSTHROUGH 0x4u
/** watermarks() implemented */
#define RILL_TRANSPORT_F_WATERMARKS 0x8u
/** data survives the process */
#define RILL_TRANSPORT_F_PERSISTENT 0x10u
/** produce() honours fence_topic on the server */
#define RILL_TRANSPORT_F_FENCING 0x20u

/** @deprecated Old spellings of the feature bits; use RILL_TRANSPORT_F_*. */
#define RILL_TF_GROUPS RILL_TRANSPORT_F_GROUPS
#define RILL_TF_TXN RILL_TRANSPORT_F_TXN
#define RILL_TF_PASSTHROUGH RILL_TRANSPORT_F_PASSTHROUGH
#define RILL_TF_WATERMARKS RILL_TRANSPORT_F_WATERMARKS
#define RILL_TF_PERSISTENT RILL_TRANSPORT_F_PERSISTENT
#define RILL_TF_FENCING RILL_TRANSPORT_F_FENCING

/** @brief A consumed message: a borrowed view. */
typedef struct rill_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /**< producer or log-append time */
    const void *key;      /**< NULL: no key */
    size_t key_len;
    const void *value; /**< NULL: tombstone (compacted delete) */
    size_t value_len;
    const rill_header_t *headers; /**< read with rill_msg_headers() */
    size_t nheaders;              /**< RILL_MSG_HEADERS_LAZY: not read yet */
} rill_msg_t;

/** @brief rill_msg_t.nheaders of a message whose headers the transport reads only
 * when asked: its headers then point to a rill_lazy_headers_t (cast), which
 * rill_msg_headers() asks.  Kafka's headers cost a parse per record (librdkafka
 * 2.0.2 allocates and frees a buffer for every record, with headers or without), and
 * most events are never asked for theirs. */
#define RILL_MSG_HEADERS_LAZY SIZE_MAX

/** @brief A transport's headers of one message, read when asked (see
 * RILL_MSG_HEADERS_LAZY).  @p load returns their count and sets @p out to them (NULL
 * when there are none), valid as long as the message; it may be called more than
 * once for a message, on the loop thread, while the message is valid. */
typedef struct rill_lazy_headers {
    size_t (*load)(const struct rill_lazy_headers *lh, const rill_header_t **out);
} rill_lazy_headers_t;

/** @brief The headers of consumed message @p m (NULL if none) and their count in
 * @p n: its headers and nheaders, or what its transport reads when they are
 * RILL_MSG_HEADERS_LAZY.  Valid as long as the message. */
RILL_API const rill_header_t *rill_msg_headers(const rill_msg_t *m, size_t *n);

/** @brief A message to produce.  Buffers are copied before produce() returns. */
typedef struct rill_produce {
    /** The topic's name: the core passes its own copy, which lives until close(), so
     * one pointer always names one topic and a transport may cache by pointer what
     * it looked up for it. */
    const char *topic;
    int32_t partition; /**< resolved by the core; always >= 0 */
    const void *key;
    size_t key_len;
    const void *value; /**< NULL: tombstone */
    size_t value_len;
    const rill_header_t *headers;
    size_t nheaders;
    int64_t timestamp_ms; /**< 0: now */
    /** Fencing: the consumed partition (of this member's group) this write belongs
     * to, or NULL.  A transport that can fence on the server (RILL_TRANSPORT_F_FENCING)
     * applies the write only while this member owns that partition, atomically
     * with the ownership check; otherwise the delivery report says RILL_ENOTOWNER.
     * Table changelogs, and sends made while handling an event, are fenced. */
    const char *fence_topic;
    int32_t fence_partition;
} rill_produce_t;

/** @brief Topic declaration. */
typedef struct rill_topic_spec {
    const char *name;
    int32_t partitions;   /**< 0: use existing, else the transport's default */
    int16_t replication;  /**< 0: transport default */
    bool compacted;       /**< cleanup.policy=compact (changelogs) */
    int64_t retention_ms; /**< 0: transport default */
} rill_topic_spec_t;

/** @brief Delivery report: once per produce() that returned RILL_OK, on the loop. */
typedef void (*rill_delivery_cb)(rill_err_t err, const char *errmsg, int32_t partition,
                                 int64_t offset, void *opaque);

/** @brief One successful delivery report, for handlers->delivered. */
typedef struct rill_delivery {
    void *opaque; /**< the produce()'s opaque */
    int32_t partition;
    int64_t offset;
} rill_delivery_t;

/** @brief What the transport calls; all on the loop thread.  Slots are only
 * appended.  A handler table given to rill_transport_new() sets messages,
 * assigned, revoke_request, writable and error; revoked, reader_messages and
 * reader_eof are what ABI 1-2 transports call, and the core fills them (with its
 * adapter) for those: leave them NULL. */
typedef struct rill_transport_handlers {
    void (*messages)(rill_transport_t *t, const rill_msg_t *msgs, size_t n, void *opaque);
    void (*assigned)(rill_transport_t *t, const rill_tp_t *tps, size_t n, void *opaque);
    /** ABI 1-2 transports: revoke_request() without an identifier. */
    void (*revoked)(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                    void *opaque);
    /** ABI 1-2 transports: messages of any of their readers. */
    void (*reader_messages)(rill_transport_t *t, const rill_msg_t *msgs, size_t n,
                            void *opaque);
    /** ABI 1-2 transports: @p end is the offset after the last message now. */
    void (*reader_eof)(rill_transport_t *t, const char *topic, int32_t partition,
                       int64_t end, void *opaque);
    /** A produce() that returned RILL_EFULL may now be retried. */
    void (*writable)(rill_transport_t *t, void *opaque);
    /** @p fatal: the transport cannot go on (broker gone beyond its timeout, fenced). */
    void (*error)(rill_transport_t *t, rill_err_t err, bool fatal, const char *msg,
                  void *opaque);
    void *opaque;
    /** Partitions move away (see the contract above); answer with revoke_answer(t,
     * @p rv).  @p lost: they were already taken away (session expired). */
    void (*revoke_request)(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                           rill_revoke_t rv, void *opaque);
    /** Optional, for a transport that has many reports at hand at once: @p n
     * successful delivery reports of produces that were given the same @p cb, in
     * produce order, in one call: what cb(RILL_OK, NULL, d[i].partition, d[i].offset,
     * d[i].opaque) for each i in turn does.  @p d is the transport's and must stay
     * valid during the call (cb may produce).  NULL (an older core, a wrapping
     * transport): call each report's cb. */
    void (*delivered)(rill_transport_t *t, rill_delivery_cb cb, const rill_delivery_t *d,
                      size_t n, void *opaque);
} rill_transport_handlers_t;

/** @brief What a reader's transport calls for it, on the loop thread (ABI 3). */
typedef struct rill_reader_handlers {
    /** Messages of r's partition, in offset order. */
    void (*messages)(rill_reader_t *r, const rill_msg_t *msgs, size_t n, void *opaque);
    /** r delivered everything before @p end, the offset after the last message of
     * its partition now.  Called again after more messages and a new end. */
    void (*eof)(rill_reader_t *r, int64_t end, void *opaque);
} rill_reader_handlers_t;

/** @brief A reader: allocated and filled by the core, valid from reader_start()
 * until reader_stop() returns. */
struct rill_reader {
    rill_transport_t *t;
    const char *topic;
    int32_t partition;
    const rill_reader_handlers_t *h;
    void *opaque; /**< handed to r->h's functions */
    void *impl;   /**< the transport's: its state for this reader (NULL at start) */
    /* Core-private from here (the ABI 1-2 adapter, core/backend.c). */
    int64_t core_next;
    bool core_closed;
    struct rill_reader *core_link;
};

struct rill_transport_ops {
    unsigned abi;       /**< RILL_TRANSPORT_ABI (1 to it) */
    const char *scheme; /**< "memory", "kafka", "redis" */
    const char *description;
    uint32_t features; /**< RILL_TRANSPORT_F_* */
    const rill_prop_t *props;
    size_t impl_size;

    /** Connect as needed.  t->base, t->h, t->client_id are set.  May block briefly
     * (bounded by a timeout) to fail fast on a bad address. */
    rill_err_t (*open)(rill_transport_t *t, const rill_url_t *url,
                       const rill_conf_t *conf, char *errstr, size_t errlen);
    /** Create the topic, or check an existing one.  *@p partitions_out gets the real
     * count.  An existing topic with another count than spec->partitions (when > 0) is
     * RILL_EPARTITIONS with a message giving both.  Blocking, with a timeout. */
    rill_err_t (*declare)(rill_transport_t *t, const rill_topic_spec_t *spec,
                          int32_t *partitions_out, char *errstr, size_t errlen);
    /** Queue a message.  RILL_EFULL: queue full, retry after handlers->writable. */
    rill_err_t (*produce)(rill_transport_t *t, const rill_produce_t *m,
                          rill_delivery_cb cb, void *opaque);
    /** Deliver outstanding delivery reports, waiting up to @p timeout_ms (blocking). */
    rill_err_t (*flush)(rill_transport_t *t, int timeout_ms);

    /** Join consumer group @p group reading @p topics (see the contract above). */
    rill_err_t (*subscribe)(rill_transport_t *t, const char *group,
                            const char *const *topics, size_t n, char *errstr,
                            size_t errlen);
    /** Leave the group: revoked() for everything assigned, then nothing more. */
    rill_err_t (*unsubscribe)(rill_transport_t *t);
    /** ABI 1-2: the core finished handling the last revoked() call (ABI 3:
     * revoke_answer, this may be NULL). */
    void (*revoke_done)(rill_transport_t *t);
    rill_err_t (*pause)(rill_transport_t *t, const rill_tp_t *tps, size_t n);
    rill_err_t (*resume)(rill_transport_t *t, const rill_tp_t *tps, size_t n);
    /** Next delivery of an assigned partition starts at @p offset. */
    rill_err_t (*seek)(rill_transport_t *t, const char *topic, int32_t partition,
                       int64_t offset);
    /** Commit next-offsets for assigned partitions (asynchronous; failures go to
     * handlers->error as non-fatal). */
    rill_err_t (*commit)(rill_transport_t *t, const rill_tp_offset_t *offs, size_t n);
    /** The group's committed offset, RILL_OFFSET_INVALID when none.  Blocking. */
    rill_err_t (*committed)(rill_transport_t *t, const char *group, const char *topic,
                            int32_t partition, int64_t *out);

    /** ABI 1-2: read @p topic/@p partition from @p offset outside the group, one
     * reader per partition (ABI 3: reader_start, these may be NULL). */
    rill_err_t (*reader_open)(rill_transport_t *t, const char *topic, int32_t partition,
                              int64_t offset);
    rill_err_t (*reader_close)(rill_transport_t *t, const char *topic, int32_t partition);

    /** Low and high (next) offsets.  Optional: RILL_TRANSPORT_F_WATERMARKS. Blocking. */
    rill_err_t (*watermarks)(rill_transport_t *t, const char *topic, int32_t partition,
                             int64_t *low, int64_t *high, int timeout_ms);

    /* Transactions (RILL_TRANSPORT_F_TXN): produce() and txn_offsets() between begin and
     * commit/abort are atomic. */
    rill_err_t (*txn_begin)(rill_transport_t *t, char *errstr, size_t errlen);
    rill_err_t (*txn_offsets)(rill_transport_t *t, const char *group,
                              const rill_tp_offset_t *offs, size_t n, char *errstr,
                              size_t errlen);
    rill_err_t (*txn_commit)(rill_transport_t *t, char *errstr, size_t errlen);
    rill_err_t (*txn_abort)(rill_transport_t *t, char *errstr, size_t errlen);

    /** Stop and free.  No handler is called during or after close.  Accepts a
     * half-open instance (open failed). */
    void (*close)(rill_transport_t *t);

    /* ABI 2: optional slots appended after close (NULL: not implemented). */

    /** How long the group keeps a member it does not hear from (the session
     * timeout), 0 when membership cannot expire (in-process groups).  The core
     * fences itself after a loop stall of about half of this. */
    int64_t (*session_ms)(rill_transport_t *t);
    /** How long the core's loop may stall before the group drops this member, when
     * the transport keeps in touch with the group off the loop (Kafka: librdkafka's
     * heartbeat thread and max.poll.interval.ms); NULL or 0: heartbeats run on the
     * loop, so session_ms applies to loop stalls too. */
    int64_t (*poll_ms)(rill_transport_t *t);
    /** After a loop stall past the session the core dropped all its partitions
     * (as if revoked as lost) and asks whether this member still owns its
     * assignment.  RILL_OK: it does, and assigned() has been called again for
     * every partition it owns, each positioned at the group's committed offset;
     * RILL_ENOTOWNER: it does not (revoked(lost) and a new assignment follow);
     * RILL_ERETRY: the group cannot tell now (unreachable): ask again later.  A
     * member in the middle of a rebalance answers RILL_ENOTOWNER and gives up
     * what it holds: the rebalance announces what it gets, and a later confirm
     * would announce those partitions a second time.  Blocking, bounded by the
     * transport's timeout. */
    rill_err_t (*confirm)(rill_transport_t *t, char *errstr, size_t errlen);

    /* ABI 3: required slots appended after confirm. */

    /** Start reader @p r (r->topic, r->partition, r->h, r->opaque are set; r->impl
     * is NULL and the transport's) at @p offset, RILL_OFFSET_BEGINNING or
     * RILL_OFFSET_END.  Other readers of the same partition are unaffected.
     * RILL_ENOENT: no such topic; RILL_EINVAL: no such partition. */
    rill_err_t (*reader_start)(rill_transport_t *t, rill_reader_t *r, int64_t offset);
    /** Stop @p r: none of its handlers is called afterwards (see the contract). */
    void (*reader_stop)(rill_transport_t *t, rill_reader_t *r);
    /** The core finished handling revoke_request() @p rv.  A stale @p rv (an earlier
     * revoke's) releases nothing. */
    void (*revoke_answer)(rill_transport_t *t, rill_revoke_t rv);
};

struct rill_transport {
    const struct rill_transport_ops *ops;
    void *impl;
    const rill_logger_t *log;
    char name[32];
    struct event_base *base;
    const rill_transport_handlers_t *h;
    const char *client_id; /**< unique per app instance: "<app>-<host>-<pid>-<n>" */
    void *core;            /**< core-private (backend.c: readers, the ABI 1-2 adapter) */
};

/** @brief Register a transport.  RILL_EINVAL: an ABI outside 1-RILL_TRANSPORT_ABI,
 * no scheme, or a required slot missing (every slot up to close but the optional
 * watermarks and txn_*; watermarks with RILL_TRANSPORT_F_WATERMARKS, txn_* with
 * RILL_TRANSPORT_F_TXN; ABI 3: reader_start, reader_stop and revoke_answer instead of
 * reader_open, reader_close and revoke_done); RILL_EEXIST: the scheme is taken. */
RILL_API rill_err_t rill_register_transport(const struct rill_transport_ops *ops);
RILL_API const struct rill_transport_ops *rill_transport_find(const char *scheme);

/** @brief Open a standalone transport (conformance tests, tools, benches).
 * @p h must outlive the instance. @p conf may be NULL. */
RILL_API rill_transport_t *rill_transport_new(const char *url, const rill_conf_t *conf,
                                              struct event_base *base,
                                              const rill_transport_handlers_t *h,
                                              const char *client_id, char *errstr,
                                              size_t errlen);
RILL_API void rill_transport_destroy(rill_transport_t *t);

/** @brief Open a reader of @p topic/@p partition from @p offset on a standalone
 * transport (conformance tests, tools): @p h gets its messages and EOFs with
 * @p opaque.  @p h must outlive the reader.  Destroying the transport closes its
 * readers. */
RILL_API rill_err_t rill_reader_open(rill_transport_t *t, const char *topic,
                                     int32_t partition, int64_t offset,
                                     const rill_reader_handlers_t *h, void *opaque,
                                     rill_reader_t **out);
/** @brief Close @p r (may be called from its handlers); NULL is a no-op. */
RILL_API void rill_reader_close(rill_reader_t *r);
/** @brief Answer revoke_request() @p rv (a standalone transport's owner). */
RILL_API void rill_transport_revoke_answer(rill_transport_t *t, rill_revoke_t rv);

/** @brief Kafka's default partitioner: murmur2(key) & 0x7fffffff % partitions. */
RILL_API int32_t rill_partition_for_key(const void *key, size_t len, int32_t partitions);
/** @brief Kafka's murmur2 hash (seed 0x9747b28c). */
RILL_API uint32_t rill_murmur2(const void *key, size_t len);

RILL_END_DECLS

#endif
