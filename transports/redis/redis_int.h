/* Internal: the Redis Streams transport's state, shared by redis.c (connections,
 * topics, produce), redis_group.c (membership, partition ownership, commits) and
 * redis_fetch.c (reading streams into the core).  Key names are in docs/redis.md. */
#ifndef RILL_REDIS_INT_H
#define RILL_REDIS_INT_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "rill/transport.h"

struct rctx;

/* One async connection on the app's loop.  cmd carries every non-blocking command;
 * grp (XREADGROUP ... BLOCK) and tail (XREAD [BLOCK]) each carry one blocking read
 * at a time, woken early with CLIENT UNBLOCK sent over cmd. */
typedef struct rconn {
    struct rctx *r;
    const char *role;
    redisAsyncContext *ac; /* NULL while down */
    long long id;          /* CLIENT ID, for CLIENT UNBLOCK */
    bool ready;            /* connected and set up */
    bool busy;             /* a read is outstanding (grp, tail) */
    bool blocking;         /* ... and it blocks on the server */
    struct event *retry_ev;
    void (*on_ready)(struct rconn *c);
} rconn_t;

/* Where a stream is read from: a partition this member owns, or a reader. */
typedef enum {
    RS_RANGE = 1, /* catching up with XREAD from `next` (tail connection) */
    RS_SETID,     /* caught up: XGROUP SETID in flight, then RS_GROUP */
    RS_GROUP,     /* XREADGROUP > (grp connection) */
} rmode_t;

typedef struct rstream {
    char *topic;
    int32_t partition;
    char *key;                /* the stream: "<topic>:<p>" unless the topic is bound */
    const struct rbind *bind; /* the topic's binding (lives with the transport) */
    char *owner_key;          /* partitions: "rill:<group>:owner:<topic>:<p>" */
    bool reader;
    rill_reader_t *handle; /* readers: the core's (one stream each) */
    rmode_t mode;
    bool paused;
    bool at_eof;       /* readers: eof() sent for the current end */
    bool poisoned;     /* holds an entry ID beyond the offsets: never read past it */
    bool unconfirmed;  /* confirm() found the assignment lost: revoked(lost) next */
    uint64_t lease_ns; /* partitions: the owner key lives at least until then (mono) */
    int64_t next;      /* offset of the next entry to deliver */
    int64_t first;     /* where it started without a committed ID (start option) */
    unsigned gen;      /* bumped by pause/seek/mode changes: stale replies are dropped */
    int64_t *pel;      /* ids delivered through the group, to XACK at commit */
    size_t npel, pelcap;
    struct rstream *next_s;
} rstream_t;

/* A produce waiting for its XADD reply; resent after a reconnect.  A fenced one
 * (fence != NULL) is the fenced-XADD script instead of a plain XADD. */
typedef struct preq {
    size_t len;
    rill_delivery_cb cb;
    void *opaque;
    int32_t partition, fence_partition;
    bool reloaded;     /* sent again after NOSCRIPT (once) */
    const char *key;   /* the stream, for messages (in this allocation) */
    const char *fence; /* the fence topic, or NULL (in this allocation) */
    struct preq *next;
    char cmd[]; /* the command in RESP, len bytes; then key and fence, NUL-ended */
} preq_t;

typedef struct rtopic {
    char *name;
    int32_t partitions;
    bool compacted;
    struct rtopic *next;
} rtopic_t;

/* How a topic maps onto streams and their entries: "redis.topic.<topic>.*" conf
 * keys (redis_bind.c).  A topic without any is "<topic>:{p}" in rill's fields. */
typedef enum { RV_RILL = 0, RV_ENTRY, RV_FIELD } rvalue_t;

typedef struct rbind {
    char *topic;
    char *stream;   /* as configured, or NULL: "<topic>:{p}" */
    bool pattern;   /* stream has {p} */
    char **streams; /* else: one per partition */
    size_t nstreams;
    char *start; /* NULL: "group" with redis.group, else "0" */
    rvalue_t value;
    bool value_set, key_set;
    char *value_field;
    char *key_field; /* NULL: keyless */
    char **strings;  /* value=entry: fields kept as strings */
    size_t nstrings;
    struct rbind *next;
} rbind_t;

/* A message's value as XADD arguments (field, value, ...), for a plain stream. */
typedef struct rfields {
    const char **argv;
    size_t *lens;
    size_t n;
    char **texts; /* JSON texts of non-string values */
    size_t ntexts;
    void *json; /* json_t of the parsed value */
} rfields_t;

typedef struct rctx {
    /* props */
    int64_t timeout_ms, session_ms, heartbeat_ms, batch, block_ms, maxlen, queue_max;
    int64_t partitions_default;
    /* connection */
    rill_transport_t *t;
    char *host, *password, *where;
    int port, db;
    int64_t broker_timeout_ms;
    redisContext *sync; /* blocking calls: declare, committed, watermarks */
    bool sync_loading;  /* sync_connect is waiting for a loading server */
    rconn_t cmd, grp, tail;
    uint64_t down_since_ns; /* 0: every connection up */
    struct event *down_ev;
    bool closing;
    unsigned gen_seq; /* source of rstream_t.gen values, unique per instance */
    /* produce */
    preq_t *pq_head, *pq_tail;
    size_t inflight;
    bool want_writable;
    char fence_sha[48]; /* SHA1 of the fenced-XADD script once loaded, else "" */
    rtopic_t *topics;
    rbind_t *binds;
    /* decoding of entries that fit no mapping */
    int on_decode_error; /* 0 skip, 1 dead_letter, 2 crash */
    char *dead_letter;   /* conf dead_letter.topic, or NULL: "<group>-dead-letter" */
    uint64_t unmapped, bad_headers, bad_ts; /* counted, logged at 1, 10, 100, ... */
    bool wrongtype;                         /* reported (once) */
    char *xgroup_conf;                      /* prop "group" */
    /* group */
    char *group;
    const char *xgroup; /* the Redis consumer group: redis.group, else group */
    char **subs;
    size_t nsubs;
    bool subscribed;
    struct event *hb_ev;
    bool hb_busy;
    struct event *confirm_ev; /* confirm() said not owner: revoked(lost) from here */
    bool lease_wait;      /* a read was held back for a short lease: kick when renewed */
    rstream_t *parts;     /* owned partitions (including ones being revoked) */
    rstream_t *readers;   /* reader_start()ed (several may read one stream) */
    rstream_t *releasing; /* revoked: released once no XREADGROUP can still cover it */
    struct event *rel_ev; /* ... re-sending CLIENT UNBLOCK until then */
    rill_tp_t *revoking;
    size_t nrevoking;
    bool revoke_lost;
    rill_revoke_t revoke_id, revoke_seq; /* the revoke being answered; the last */
    int acquiring;                       /* acquire scripts in flight */
    rill_tp_t *acquired;
    size_t nacquired;
    struct rbatch *scratch; /* message views of the reply being delivered */
} rctx_t;

/* Offsets: a stream ID "ms-seq" is (ms << 20) | seq, so offsets ascend with IDs.
 * Redis IDs are two 64-bit numbers, so not every ID has an offset: ms must be below
 * 2^43 and seq below 2^20, and the very last of those (offset INT64_MAX) is left out
 * so that offset + 1, the next offset, always exists. */
#define RILL_REDIS_SEQ_BITS 20
#define RILL_REDIS_MS_BITS 43
/* the limit, for messages that name an ID beyond it */
#define RILL_REDIS_ID_LIMIT                                                              \
    "rill's offsets hold stream IDs up to 8796093022207-1048574 (ms < 2^43, seq < 2^20)"
/* -1: not an ID, or one beyond RILL_REDIS_ID_LIMIT */
int64_t rill__redis_id_parse(const char *s, size_t len);
void rill__redis_id_format(int64_t off, char *buf, size_t n);

/* redis.c */
bool rill__redis_send(rconn_t *c, redisCallbackFn *fn, void *priv, int argc,
                      const char **argv, const size_t *lens);
void rill__redis_fail(rctx_t *r, rill_err_t err, bool fatal, const char *fmt, ...)
    RILL_PRINTF(4, 5);
redisReply *rill__redis_sync(rctx_t *r, char *errstr, size_t errlen, int argc,
                             const char **argv);
rtopic_t *rill__redis_topic(rctx_t *r, const char *name, char *errstr, size_t errlen);
void rill__redis_unblock(rctx_t *r, rconn_t *c);

/* redis_bind.c */
rill_err_t rill__redis_bind_parse(rctx_t *r, const rill_conf_t *conf,
                                  const rill_url_t *url, char *errstr, size_t errlen);
void rill__redis_bind_free_all(rctx_t *r);
const rbind_t *rill__redis_bind(const rctx_t *r, const char *topic);
/* The stream of partition @p p of @p topic; false when it does not fit or the topic
 * has no such partition. */
bool rill__redis_stream_key(const rctx_t *r, const char *topic, int32_t p, char *buf,
                            size_t n);
/* Key and value of entry fields @p f of a topic bound with value=entry or field;
 * *@p owned is what m->value points into (free it).  -1: it does not fit, @p why
 * says which field is missing. */
int rill__redis_map_entry(const rbind_t *b, const redisReply *f, rill_msg_t *m,
                          char **owned, char *why, size_t whylen);
/* The fields of a whole entry as a JSON object text (malloc'ed), or NULL. */
char *rill__redis_entry_json(const rbind_t *b, const redisReply *f);
rill_err_t rill__redis_fields_of(const rbind_t *b, const rill_produce_t *m,
                                 rfields_t *out, char *errstr, size_t errlen);
void rill__redis_fields_free(rfields_t *f);
/* true when @p n is 1, 10, 100, ...: when a running count is logged again */
static inline bool rill__redis_log_count(uint64_t n) {
    while (n >= 10 && n % 10 == 0)
        n /= 10;
    return n == 1;
}

/* redis_group.c */
rill_err_t rill__redis_subscribe(rill_transport_t *t, const char *group,
                                 const char *const *topics, size_t n, char *errstr,
                                 size_t errlen);
rill_err_t rill__redis_unsubscribe(rill_transport_t *t);
void rill__redis_revoke_answer(rill_transport_t *t, rill_revoke_t rv);
rill_err_t rill__redis_commit(rill_transport_t *t, const rill_tp_offset_t *offs,
                              size_t n);
rill_err_t rill__redis_committed(rill_transport_t *t, const char *group,
                                 const char *topic, int32_t partition, int64_t *out);
void rill__redis_group_close(rctx_t *r);
void rill__redis_heartbeat_now(rctx_t *r);
void rill__redis_release_pending(rctx_t *r);
rill_err_t rill__redis_confirm(rill_transport_t *t, char *errstr, size_t errlen);
/* Partition @p p of @p topic, if this member holds it, is not (or may not be) its
 * own any more: stop reading it and revoke it as lost from the loop, once no other
 * revoke is open; the rebalance after that acquires it afresh if it is free. */
void rill__redis_lose_soon(rctx_t *r, const char *topic, int32_t p);
/* "rill:<group>:owner:<topic>:<p>" into @p buf; false when it does not fit */
bool rill__redis_owner_key(const rctx_t *r, const char *topic, int32_t p, char *buf,
                           size_t n);

/* redis_fetch.c */
rstream_t *rill__redis_stream_new(rctx_t *r, const char *topic, int32_t partition,
                                  int64_t next, bool reader);
void rill__redis_stream_free(rstream_t *s);
rstream_t *rill__redis_find(rstream_t *list, const char *topic, int32_t partition);
void rill__redis_kick(rctx_t *r);
void rill__redis_conn_ready(rconn_t *c);
rill_err_t rill__redis_pause(rill_transport_t *t, const rill_tp_t *tps, size_t n);
rill_err_t rill__redis_resume(rill_transport_t *t, const rill_tp_t *tps, size_t n);
rill_err_t rill__redis_seek(rill_transport_t *t, const char *topic, int32_t partition,
                            int64_t offset);
rill_err_t rill__redis_reader_start(rill_transport_t *t, rill_reader_t *rr,
                                    int64_t offset);
void rill__redis_reader_stop(rill_transport_t *t, rill_reader_t *rr);
void rill__redis_pel_add(rstream_t *s, int64_t id);
/* The owner key of a partition, set or refreshed by a script sent at @p sent_ns,
 * lives at least until then plus the session: reads that move the group (XREADGROUP,
 * XGROUP SETID) are issued only within that, so a member whose loop stalled past
 * its session cannot take entries meant for the next owner. */
void rill__redis_lease(rctx_t *r, rstream_t *s, uint64_t sent_ns);
void rill__redis_lease_renewed(rctx_t *r);
/* Read @p s again from @p next, unpaused, dropping replies in flight for it. */
void rill__redis_restart_at(rctx_t *r, rstream_t *s, int64_t next);
/* Stop reading @p s (its replies in flight are dropped), kept owned. */
void rill__redis_park(rctx_t *r, rstream_t *s);
void rill__redis_fetch_close(rctx_t *r);

#endif
