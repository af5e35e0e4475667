/* Internal: the app's runtime structures shared by app.c, topic.c, agent.c,
 * timer.c and cli.c. */
#ifndef RILL_APP_INT_H
#define RILL_APP_INT_H

#include <event2/event.h>

#include "conf_int.h"
#include "offsets_int.h"
#include "registry_int.h"
#include "rill/app.h"
#include "rill/stream.h"

typedef enum {
    RILL_APP_CREATED = 0,
    RILL_APP_RUNNING,
    RILL_APP_STOPPING,
    RILL_APP_STOPPED,
} rill_app_state_t;

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
    struct rill_topic *next;
};

/* An event: pooled, owned by the core until acked. */
struct rill_event {
    rill_app_t *app;
    struct rill_agent *agent;
    rill_tpstate_t *tp;
    rill_msg_t msg; /* views: into the transport batch, or into own */
    void *own;      /* owned copy of the message bytes, or NULL */
    rill_header_t *own_headers;
    void *key;                   /* decoded key (csize of key type), or NULL */
    void *value;                 /* decoded value, or NULL */
    rill_bytes_t kbytes, vbytes; /* raw topics: key/value as rill_bytes_t */
    const rill_type_t *vtype;    /* type of value (changes after map) */
    uint64_t index;              /* enumerate() */
    uint32_t gen;                /* tp->gen when received */
    bool in_handler;
    bool early_ack;
    rill_err_t early_err;
    bool live;                   /* handed out (not on the free list) */
    struct rill_event *next;     /* agent queue / free list */
    struct rill_event *all_next; /* every event allocated, for destroy */
};

typedef enum {
    RILL_OP_FILTER = 1,
    RILL_OP_MAP,
    RILL_OP_ENUMERATE,
    RILL_OP_ECHO,
    RILL_OP_FORWARD
} rill_op_kind_t;

typedef struct rill_op {
    rill_op_kind_t kind;
    rill_filter_fn filter;
    rill_map_fn map;
    rill_key_fn key;
    void *opaque;
    const rill_type_t *out_type; /* map */
    rill_topic_t **topics;       /* echo */
    size_t ntopics;
    rill_topic_t *dest; /* forward (through, group_by) */
} rill_op_t;

struct rill_stream {
    rill_app_t *app;
    rill_topic_t *source;
    rill_op_t *ops;
    size_t nops;
    size_t take_n;
    double take_within;
    bool used;                /* ended in an agent */
    struct rill_stream *next; /* app's list, for freeing */
};

struct rill_agent {
    rill_app_t *app;
    char *name;
    rill_topic_t *topic;
    rill_op_t *ops; /* the stream's operators, run before fn */
    size_t nops;
    uint64_t enum_next;
    bool internal;
    rill_batch_fn batch_fn; /* take() */
    size_t take_n;
    double take_within;
    rill_event_t **batch;
    size_t nbatch;
    struct event *take_ev;
    rill_agent_fn fn;
    void *opaque;
    rill_agent_opts_t opts;
    rill_type_t reply_copy;
    int concurrency;
    int inflight;
    rill_event_t *qhead, *qtail; /* buffered events (owned copies) */
    size_t qlen;
    uint64_t processed, errors, decode_errors;
    struct rill_agent *next;
};

struct rill_timer {
    rill_app_t *app;
    char *name;
    double interval;
    bool once; /* a task */
    bool on_stop;
    rill_timer_fn fn;
    void *opaque;
    struct event *ev;
    struct rill_timer *next;
};

typedef struct rill_send_ctx {
    rill_app_t *app;
    rill_send_cb cb;
    void *opaque;
    uint64_t epoch;
    bool fenced;                    /* made for a consumed partition (see produce) */
    struct rill_send_ctx *next;     /* free list */
    struct rill_send_ctx *all_next; /* every context allocated, for destroy */
} rill_send_ctx_t;

struct rill_app {
    char *id;
    char *client_id;
    rill_conf_t *conf;
    struct rill_logger *log;
    char errmsg[512];
    char def_err[512]; /* the first definition that failed: start refuses */
    struct event_base *base;
    bool own_base;
    bool in_run; /* rill_app_run() drives the loop: exit it when the app stops */
    rill_app_state_t state;
    rill_err_t exit_err;

    rill_transport_t *transport;
    rill_transport_handlers_t handlers;
    rill_store_t *store;
    rill_serializer_t **sers; /* opened serializers, by name */
    size_t nsers;

    rill_topic_t *topics;
    rill_agent_t *agents;
    rill_timer_t *timers;
    rill_stream_t *streams;
    struct rill_table *tables;
    rill_event_t *current_event;      /* being handled (tables check partitions) */
    const rill_tpstate_t *send_fence; /* sends now belong to this partition */
    struct event *recovery_ev;
    struct evhttp *web;
    struct rill_web *web_state; /* web.c: listener, connections, counters */
    uint64_t rebalances;        /* assignments handled (web.c's /metrics) */
    rill_topic_t *delayed;      /* "<app>-delayed": durable delayed forwards */
    struct rill_delayed *delayed_list;
    struct rill_asks *asks;

    /* conf, parsed once */
    int64_t commit_interval_ms;
    int64_t revoke_timeout_ms;
    int64_t shutdown_timeout_ms;
    uint32_t buffer_maxsize;
    int on_decode_error; /* 0 skip, 1 dead_letter, 2 crash */
    bool cl_per_write;   /* table.changelog=per_write */
    rill_topic_t *dead_letter;

    struct event *commit_ev;
    struct event *revoke_ev;
    struct event *shutdown_ev;
    struct event *sigint_ev, *sigterm_ev;
    bool revoke_active; /* a revoke is being handled: revoke_done not called yet */
    bool subscribed;

    /* self-fencing (lease.c): a loop stall past the session drops every partition */
    int64_t stall_ms;      /* 0: off */
    int64_t loop_stall_ms; /* a loop stall (not the process) fences past this */
    struct rill_watchdog *watchdog;
    uint64_t lease_seen_ns; /* the loop was last seen running */
    bool fenced;            /* dropped all after a stall; the group has not confirmed */
    struct event *lease_ev, *confirm_ev, *stop_ev;

    /* sends: epochs so a commit waits for sends issued before it */
    uint64_t send_epoch;
    uint64_t sends_old, sends_new;
    bool commit_pending;
    bool eos;          /* processing_guarantee=exactly_once (txn.c) */
    bool txn_open;     /* a transaction is open */
    bool txn_flush_ok; /* eos: table overlays may reach the store (just committed) */
    rill_tp_offset_t *commit_snap;
    size_t ncommit_snap, capcommit_snap;

    rill_buf_t kbuf, vbuf; /* encode scratch */
    rill_event_t *free_events, *all_events;
    rill_send_ctx_t *free_sends, *all_sends;
    uint64_t inflight_total;

    /* last-hit cache for message -> partition state */
    const char *last_topic_ptr;
    rill_topic_t *last_topic;

    /* How a lower layer reaches up (docs/architecture.md): set by app.c when the
     * app is created, never called directly from below. */
    struct {
        void (*finish)(rill_app_t *app); /* ctx: rill_app_fail stops the loop */
        void (*idle)(rill_app_t *app);   /* agent: the last in-flight event is done */
        void (*sends_done)(
            rill_app_t *app); /* topic: a waiting snapshot's sends landed */
        void (*revoke_idle)(rill_app_t *app); /* agent: a revoking partition went idle */
        /* lease, table: give partitions up as lost (NULL: all) */
        void (*lose)(rill_app_t *app, const rill_tp_t *tps, size_t n);
    } hooks;
};

/* @p t is consumed by agents and partitioned like something of @p partitions
 * partitions (a table, a changelog): user topics and group_by repartition topics,
 * not internal ones like "<app>-delayed" or in-process channels. */
static inline bool rill__copartitioned(const rill_topic_t *t, int32_t partitions) {
    return t->parts && !t->channel && t->nagents && t->partitions == partitions &&
           (!t->opts.internal || t->repartition_of);
}

/* ctx.c (layer 2): error latch, failing, serializer cache */
void rill__app_seterr(rill_app_t *app, const char *fmt, ...) RILL_PRINTF(2, 3);
/* the same for a definition (topic, agent, table, stream, timer): latched */
void rill__app_deferr(rill_app_t *app, const char *fmt, ...) RILL_PRINTF(2, 3);
rill_serializer_t *rill__app_serializer(rill_app_t *app, const char *name, char *errstr,
                                        size_t errlen);

/* app.c (layer 7) */
rill_err_t rill__app_set(rill_app_t *app, const char *key, const char *value,
                         char *errstr, size_t errlen);
rill_err_t rill__app_open(rill_app_t *app, char *errstr, size_t errlen);

/* commit.c (layer 6): the commit cycle */
rill_err_t rill__commit(rill_app_t *app, bool force);
/* app->commit_snap = the acked offset of every assigned partition acked past its
 * committed one; rill__commit_snap_done() records them as committed. */
void rill__commit_snap_acked(rill_app_t *app);
void rill__commit_snap_done(rill_app_t *app);
/* Commit the waiting snapshot (its sends are delivered). */
rill_err_t rill__commit_snapshot(rill_app_t *app);
void rill__commit_sends_done(rill_app_t *app); /* the hook topic.c fires */
void rill__commit_tick(evutil_socket_t fd, short what, void *arg); /* commit timer */

/* lease.c: self-fencing after a loop stall */
rill_err_t rill__lease_start(rill_app_t *app);
void rill__lease_stop(rill_app_t *app);
void rill__lease_free(rill_app_t *app);
/* An assignment while fenced: the membership is confirmed (again) before the
 * fence lifts, so partitions dropped earlier are handed out again too. */
void rill__lease_on_assigned(rill_app_t *app);
/* false (and every partition dropped as lost) when the loop stalled past the
 * lease or the worker is fenced: nothing may be written for consumed partitions. */
bool rill__lease_ok(rill_app_t *app);
/* A write for a consumed partition was not delivered in time: it may have waited
 * out a freeze, so this worker may have been replaced; drop everything until the
 * group confirms it (a worker without a lease fails instead). */
void rill__lease_fence(rill_app_t *app, const char *why);

/* txn.c */
void rill__txn_begin(rill_app_t *app);
void rill__txn_commit(rill_app_t *app);
#define rill__log(app, lvl, ...) rill_log((app)->log, lvl, (app)->id, __VA_ARGS__)

/* topic.c */
rill_err_t rill__topic_resolve(rill_topic_t *t, char *errstr, size_t errlen);
rill_err_t rill__topic_declare(rill_topic_t *t, char *errstr, size_t errlen);
void rill__topic_free(rill_topic_t *t);
rill_topic_t *rill__topic_by_name(rill_app_t *app, const char *name);

/* agent.c */
void rill__on_messages(rill_transport_t *t, const rill_msg_t *msgs, size_t n,
                       void *opaque);
void rill__on_assigned(rill_transport_t *t, const rill_tp_t *tps, size_t n, void *opaque);
void rill__on_revoked(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                      void *opaque);
void rill__agent_free(rill_agent_t *a);
void rill__agents_drop_queued(rill_app_t *app, rill_tpstate_t *tp);
/* Drop @p n partitions (all assigned ones when @p tps is NULL) as lost, locally:
 * nothing queued runs, nothing is flushed, produced or committed for them. */
void rill__partitions_lose(rill_app_t *app, const rill_tp_t *tps, size_t n);
/* The first topic partition a write to partition @p p of a table or changelog with
 * @p partitions partitions belongs to (co-partitioned, assigned), or NULL. */
const rill_tpstate_t *rill__fence_for(rill_app_t *app, int32_t partitions, int32_t p);
void rill__events_free(rill_app_t *app);
/* event.c: the event pool */
rill_event_t *rill__event_get(rill_app_t *app);
void rill__event_put(rill_app_t *app, rill_event_t *ev);
/* agent.c: hand one consumed message to every agent of its topic */
bool rill__agents_dispatch(rill_app_t *app, rill_tpstate_t *tp, const rill_msg_t *m);
/* consumer.c: the revoke waited for its partitions' in-flight events */
void rill__consumer_revoke_idle(rill_app_t *app);

/* stream.c */
/* Run an event through its agent's operators: RILL__OPS_CALL (call the handler),
 * RILL__OPS_DONE (filtered, forwarded, or failed: finished), RILL__OPS_HELD (taken
 * into a batch: pending). */
enum { RILL__OPS_CALL = 0, RILL__OPS_DONE = 1, RILL__OPS_HELD = 2 };
int rill__ops_run(rill_event_t *ev);
void rill__take_flush_all(rill_app_t *app);
void rill__take_add(rill_event_t *ev); /* ops.c: hold @p ev in its agent's batch */
/* Abandon the batched events of @p tp (lost: never delivered, never acked). */
void rill__take_drop(rill_app_t *app, const rill_tpstate_t *tp);
void rill__streams_free(rill_app_t *app);
rill_err_t rill__streams_prepare(rill_app_t *app);
void rill__delayed_free(rill_app_t *app);
rill_err_t rill__delayed_prepare(rill_app_t *app);
void rill__delayed_release(rill_app_t *app, const rill_tpstate_t *tp);
rill_err_t rill__forward_to(rill_event_t *ev, rill_topic_t *dest, const void *key,
                            size_t klen, const rill_header_t *extra, size_t nextra);
rill_err_t rill__channel_push(rill_topic_t *t, const void *k, size_t klen, const void *v,
                              size_t vlen, const rill_send_opts_t *o);
void rill__channel_free(rill_topic_t *t);
void rill__asks_free(rill_app_t *app);
bool rill__asks_on_message(rill_app_t *app, const rill_msg_t *m);
void rill__on_reader_messages(rill_transport_t *t, const rill_msg_t *msgs, size_t n,
                              void *opaque);
void rill__on_reader_eof(rill_transport_t *t, const char *topic, int32_t partition,
                         int64_t end, void *opaque);

/* agent.c (for stream.c) */
rill_agent_t *rill__agent_new(rill_app_t *app, const char *name, rill_topic_t *topic,
                              rill_agent_fn fn, void *opaque,
                              const rill_agent_opts_t *opts);
rill_err_t rill__event_own(rill_event_t *ev);
void rill__event_complete(rill_event_t *ev, rill_err_t err);
void rill__event_hold(rill_event_t *ev);
/* Drop a held event without acking it: its offset stays uncommitted. */
void rill__event_abandon(rill_event_t *ev);
void rill__handler_result(rill_event_t *ev, rill_err_t err);

/* web.c */
rill_err_t rill__web_start(rill_app_t *app, char *errstr, size_t errlen);
void rill__web_stop(rill_app_t *app);

/* timer.c */
rill_err_t rill__timers_start(rill_app_t *app);
void rill__timers_stop(rill_app_t *app);
void rill__timers_run_on_stop(rill_app_t *app);
void rill__timer_free(rill_timer_t *t);

#endif
