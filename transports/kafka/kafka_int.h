/* Internal: the Kafka transport's state, shared by kafka.c (producer, topics,
 * transactions, loop wiring) and kafka_consumer.c (group, readers, commits). */
#ifndef RILL_KAFKA_INT_H
#define RILL_KAFKA_INT_H

#include <event2/event.h>
#include <stdatomic.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

#include "rill/transport.h"

struct kctx;

/* A librdkafka queue whose "became non-empty" signal wakes the libevent loop
 * through a non-blocking pipe (rd_kafka_queue_io_event_enable). */
typedef struct kq {
    rd_kafka_queue_t *q;
    int fds[2];
    struct event *ev;
    struct event *more; /* zero timer: drain again after the loop polled I/O */
    void (*drain)(struct kq *kq);
    struct kctx *k;
    void *owner; /* readers: the krclient_t it belongs to */
} kq_t;

/* A client readers run on, outside the group.  librdkafka reads a partition once
 * per client, so a second reader of a partition gets a client of its own (rare:
 * every reader of the core reads another partition). */
typedef struct krclient {
    rd_kafka_t *rk;
    kq_t rq, rmq; /* its messages; its main queue (errors, logs) */
    struct krclient *next;
} krclient_t;

/* One reader: the core's handle, on one client. */
typedef struct kreader {
    rill_reader_t *r;
    krclient_t *client;
    rd_kafka_topic_t *rkt;
    struct kreader *next;
} kreader_t;

/* A partition the core paused: what librdkafka still hands out for it is dropped
 * here and re-read from the first dropped offset at resume. */
typedef struct kpaused {
    char *topic;
    int32_t partition;
    int64_t dropped_from; /* -1: nothing dropped */
} kpaused_t;

/* A consumed message's headers, read when the core asks (RILL_MSG_HEADERS_LAZY):
 * one per message of the batch being delivered. */
typedef struct klazy {
    rill_lazy_headers_t lh; /* first: the view's headers point here */
    struct kctx *k;
    rd_kafka_message_t *m;
    rill_header_t *hs; /* read: NULL when there are none */
    size_t n;
    bool read;
    struct klazy *next_read; /* read in this batch: freed after it */
} klazy_t;

/* A topic handle of the producer, cached per topic-name pointer of the core
 * (rill_produce_t.topic: one pointer names one topic until close). */
typedef struct ktopic {
    const char *name; /* NULL: a free slot */
    rd_kafka_topic_t *rkt;
} ktopic_t;

typedef struct kctx {
    /* props */
    int64_t timeout_ms;
    char *create_file;
    int64_t mock_brokers;
    /* state */
    rill_transport_t *t;
    char *bootstrap;
    rd_kafka_t *producer, *consumer;
    kq_t pq, cq;
    krclient_t *rclients;
    char *group;
    bool subscribed;
    bool coop; /* its assignors' rebalance protocol is COOPERATIVE (set at subscribe) */
    bool revoking; /* revoke_request() called, revoke_answer() not yet */
    rill_revoke_t revoke_id, revoke_seq; /* the revoke being answered; the last */
    rd_kafka_topic_partition_list_t *pending_revoke;
    kreader_t *readers;
    bool want_writable;
    rill_delivery_cb dr_cb; /* the callback of most sends (see kafka_produce) */
    ktopic_t *topics;       /* open addressing by name pointer; half full at most */
    size_t ntopics, captopics;
    bool txn;
    int64_t broker_timeout_ms;
    struct event *down_ev;  /* all brokers down: die when it fires */
    bool down_armed;        /* down_ev is pending (down_arm, until fired or up) */
    uint64_t down_ns;       /* when the last outage began (all brokers down) */
    _Atomic uint64_t up_ns; /* a broker of any client last came UP (its threads) */
    kpaused_t *paused;
    size_t npaused, cappaused;
    rill_msg_t *batch;
    klazy_t *lazy;              /* BATCH, beside batch */
    klazy_t *lazy_read;         /* those read in the batch being delivered */
    rd_kafka_conf_t *base_conf; /* passthrough properties, copied per client */
    bool user_reset, user_qmin, user_strategy; /* kafka.* the user set: rill keeps off */
    bool user_linger, user_msg_timeout;
} kctx_t;

/* kafka.c */
rill_err_t rill__kafka_client(kctx_t *k, rd_kafka_type_t type, rd_kafka_conf_t *conf,
                              rd_kafka_t **out, char *errstr, size_t errlen);
rill_err_t rill__kafka_queue_wire(kctx_t *k, kq_t *kq, rd_kafka_queue_t *q,
                                  void (*drain)(kq_t *kq));
void rill__kafka_queue_unwire(kq_t *kq);
void rill__kafka_queue_more(kq_t *kq);
void rill__kafka_error(kctx_t *k, rd_kafka_resp_err_t err, const char *reason);
rill_err_t rill__kafka_err(rd_kafka_resp_err_t err);

/* kafka_consumer.c */
rill_err_t rill__kafka_subscribe(rill_transport_t *t, const char *group,
                                 const char *const *topics, size_t n, char *errstr,
                                 size_t errlen);
rill_err_t rill__kafka_unsubscribe(rill_transport_t *t);
void rill__kafka_revoke_answer(rill_transport_t *t, rill_revoke_t rv);
rill_err_t rill__kafka_pause(rill_transport_t *t, const rill_tp_t *tps, size_t n);
rill_err_t rill__kafka_resume(rill_transport_t *t, const rill_tp_t *tps, size_t n);
rill_err_t rill__kafka_seek(rill_transport_t *t, const char *topic, int32_t partition,
                            int64_t offset);
rill_err_t rill__kafka_commit(rill_transport_t *t, const rill_tp_offset_t *offs,
                              size_t n);
rill_err_t rill__kafka_committed(rill_transport_t *t, const char *group,
                                 const char *topic, int32_t partition, int64_t *out);
rill_err_t rill__kafka_reader_start(rill_transport_t *t, rill_reader_t *r,
                                    int64_t offset);
void rill__kafka_reader_stop(rill_transport_t *t, rill_reader_t *r);
void rill__kafka_consumer_close(kctx_t *k);
int64_t rill__kafka_session_ms(rill_transport_t *t);
int64_t rill__kafka_poll_ms(rill_transport_t *t);
rill_err_t rill__kafka_confirm(rill_transport_t *t, char *errstr, size_t errlen);

#endif
