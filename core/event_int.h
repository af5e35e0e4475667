/* Internal, layer 4 (docs/architecture.md): the processing kernel - events and
 * their pool (event.c), agents, dispatch and acks (agent.c), the operator runtime
 * (ops.c) and take (take.c) */
#ifndef RILL_EVENT_INT_H
#define RILL_EVENT_INT_H

#include "record_int.h"
#include "topic_int.h"
#include "web_hist_int.h"

/* An event: pooled, owned by the core until acked. */
struct rill_event {
    rill_app_t *app;
    struct rill_agent *agent;
    rill_tpstate_t *tp;
    rill_msg_t msg;              /* views: into the transport batch, or into own */
    void *own;                   /* owned copy of the message (rill__msg_copy), or NULL */
    void *key;                   /* decoded key (csize of key type), or NULL */
    void *value;                 /* decoded value, or NULL */
    rill_bytes_t kbytes, vbytes; /* raw topics: key/value as rill_bytes_t, made by
                                    rill_event_key/value when asked (event.c) */
    const rill_type_t *vtype;    /* type of value (changes after map) */
    void *spare[2];              /* memory of a cleared value [0] and key [1], */
    size_t spare_size[2];        /* kept for this event's next decode */
    struct rill_strings strings; /* the decoded key's and value's strings */
    uint64_t index;              /* enumerate() */
    uint32_t gen;                /* tp->gen when received */
    uint64_t start_ns; /* its processing (decode, handler) began (rill_mono_ns) */
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
    rill_buf_t keybuf;           /* a key function's output (ops.c) */
    rill_event_t *qhead, *qtail; /* buffered events (owned copies) */
    size_t qlen;
    uint64_t processed, errors, decode_errors;
    rill_hist_t latency; /* handler call to result (/metrics) */
    struct rill_agent *next;
};

/* @p ev (or NULL) is being handled now: tables and sends made meanwhile belong to
 * its partition. */
static inline void rill__handling(rill_app_t *app, rill_event_t *ev) {
    app->current_event = ev;
    app->current_tp = ev && !ev->tp->topic->channel ? ev->tp : NULL;
}

/* event.c: the consumed partition of @p ev (NULL for a channel's), *stale when @p ev
 * is from an earlier assignment of it (hooks.event_tp) */
const rill_tpstate_t *rill__event_tp(const rill_event_t *ev, bool *stale);

/* event.c: the event pool.  Getting and putting back are inline (once per consumed
 * event): the out-of-line parts are a new event and releasing what an event holds. */
rill_event_t *rill__event_new(rill_app_t *app);
/* Its decoded value and key (their memory kept as spares) and its owned copy go. */
void rill__event_release(rill_event_t *ev);

static inline rill_event_t *rill__event_get(rill_app_t *app) {
    rill_event_t *ev = app->free_events;
    if (!ev && !(ev = rill__event_new(app))) return NULL;
    app->free_events = ev->next;
    ev->live = true;
    ev->next = NULL;
    ev->start_ns = 0;
    return ev;
}

static inline void rill__event_put(rill_app_t *app, rill_event_t *ev) {
    if (ev->value || ev->key || ev->own) rill__event_release(ev);
    rill__strings_reset(&ev->strings);
    ev->live = false;
    ev->in_handler = ev->early_ack = false;
    ev->next = app->free_events;
    app->free_events = ev;
}
rill_err_t rill__event_own(rill_event_t *ev);
/* Memory of @p size for a decoded value (@p which 0) or key (1): the spare a
 * cleared one left on @p ev when it fits (zeroed when @p zero; a record's is zeroed
 * by rill_record_init), else calloc.  NULL: no memory. */
void *rill__event_mem(rill_event_t *ev, int which, size_t size, bool zero);
/* Give back memory from rill__event_mem (its value cleared): kept as the spare. */
void rill__event_mem_put(rill_event_t *ev, int which, void *mem, size_t size);
void rill__events_free(rill_app_t *app);

/* agent.c */
rill_agent_t *rill__agent_new(rill_app_t *app, const char *name, rill_topic_t *topic,
                              rill_agent_fn fn, void *opaque,
                              const rill_agent_opts_t *opts);
void rill__agent_free(rill_agent_t *a);
/* Hand one consumed message to every agent of its topic. */
bool rill__agents_dispatch(rill_app_t *app, rill_tpstate_t *tp, const rill_msg_t *m);
/* The messages of @p tp that start @p msgs[0..n) (up to one of another partition),
 * as rill__agents_dispatch would each, while they can take the short way
 * (agent.c); returns how many it handled. */
size_t rill__agents_dispatch_run(rill_app_t *app, rill_tpstate_t *tp,
                                 const rill_msg_t *msgs, size_t n);
void rill__agents_drop_queued(rill_app_t *app, rill_tpstate_t *tp);
/* The last held send left: start buffered events, resume paused partitions. */
void rill__agents_unblocked(rill_app_t *app);
void rill__event_complete(rill_event_t *ev, rill_err_t err);
void rill__event_hold(rill_event_t *ev);
/* Drop a held event without acking it: its offset stays uncommitted. */
void rill__event_abandon(rill_event_t *ev);
void rill__handler_result(rill_event_t *ev, rill_err_t err);

/* ops.c: run an event through its agent's operators: RILL__OPS_CALL (call the
 * handler), RILL__OPS_DONE (filtered, forwarded, or failed: finished),
 * RILL__OPS_HELD (taken into a batch: pending). */
enum { RILL__OPS_CALL = 0, RILL__OPS_DONE = 1, RILL__OPS_HELD = 2 };
int rill__ops_run(rill_event_t *ev);
rill_err_t rill__forward_to(rill_event_t *ev, rill_topic_t *dest, const void *key,
                            size_t klen, const rill_header_t *extra, size_t nextra);

/* take.c */
void rill__take_add(rill_event_t *ev); /* hold @p ev in its agent's batch */
void rill__take_flush_all(rill_app_t *app);
/* Abandon the batched events of @p tp (lost: never delivered, never acked). */
void rill__take_drop(rill_app_t *app, const rill_tpstate_t *tp);

#endif
