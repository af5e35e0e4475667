/* Internal, layer 2 (docs/architecture.md): the app handle every layer above
 * holds, its error latch and failing (ctx.c), self-fencing (lease.c), the hooks by
 * which a lower layer reaches up, and the log macro.  Structures of higher layers
 * are opaque here */
#ifndef RILL_CTX_INT_H
#define RILL_CTX_INT_H

#include <event2/event.h>

#include "conf_int.h"
#include "registry_int.h"
#include "rill/app.h"
#include "rill/stream.h"
#include "web_hist_int.h"

typedef enum {
    RILL_APP_CREATED = 0,
    RILL_APP_RUNNING,
    RILL_APP_STOPPING,
    RILL_APP_STOPPED,
} rill_app_state_t;

struct rill_tpstate;

/* on_decode_error: what a message that cannot be decoded gets */
typedef enum {
    RILL__DECODE_SKIP = 0,    /* logged, counted, acked */
    RILL__DECODE_DEAD_LETTER, /* the same, and sent to the dead-letter topic */
    RILL__DECODE_CRASH,       /* the worker fails */
} rill__on_decode_error_t;
struct rill_send_ctx;

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
    rill_timer_fn on_stopped; /* rill_app_on_stopped(): once, from the loop */
    void *on_stopped_opaque;
    struct event *stopped_ev;
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
    rill_event_t *current_event; /* being handled (tables check partitions) */
    /* its partition when it was consumed (not a channel's): sends made while it is
     * handled are fenced by it (topic.c); set with current_event (agent.c) */
    const struct rill_tpstate *current_tp;
    const struct rill_tpstate *send_fence; /* sends now belong to this partition */
    struct event *recovery_ev;
    struct evhttp *web;
    struct rill_web *web_state;   /* web.c: listener, connections, counters */
    struct rill_workers *workers; /* workers.c: who owns what (routing) */
    uint64_t rebalances;          /* assignments handled (web.c's /metrics) */
    rill_topic_t *delayed;        /* "<app>-delayed": durable delayed forwards */
    struct rill_delayed *delayed_list;
    uint64_t delayed_pending, delayed_fired; /* forward.c: held now; sent on when due */
    struct rill_asks *asks;

    /* conf, parsed once */
    int64_t commit_interval_ms;
    int64_t revoke_timeout_ms;
    int64_t shutdown_timeout_ms;
    uint32_t buffer_maxsize;
    rill__on_decode_error_t on_decode_error;
    bool cl_per_write; /* table.changelog=per_write */
    rill_topic_t *dead_letter;

    struct event *commit_ev;
    struct event *revoke_ev;
    struct event *shutdown_ev;
    struct event *sigint_ev, *sigterm_ev;
    bool revoke_active;      /* a revoke is being handled: revoke_done not called yet */
    rill_revoke_t revoke_rv; /* the revoke it answers (the latest) */
    bool subscribed;

    /* self-fencing (lease.c): a loop stall past the session drops every partition */
    int64_t stall_ms;      /* 0: off */
    int64_t loop_stall_ms; /* a loop stall (not the process) fences past this */
    struct rill_watchdog *watchdog;
    uint64_t lease_seen_ns; /* the loop was last seen running */
    bool fenced;            /* dropped all after a stall; the group has not confirmed */
    bool fence_replaced;    /* ... and said this member was replaced: what it still
                             * holds goes as lost, its next assignment lifts the fence */
    struct event *lease_ev, *confirm_ev, *stop_ev;

    /* sends: epochs so a commit waits for sends issued before it */
    uint64_t send_epoch;
    uint64_t sends_old, sends_new;
    size_t sends_held;            /* refused for a full queue, held in order */
    struct rill_backlog *backlog; /* backlog.c */
    bool commit_pending;
    bool eos;          /* processing_guarantee=exactly_once (txn.c) */
    bool txn_open;     /* a transaction is open */
    bool txn_flush_ok; /* eos: table overlays may reach the store (just committed) */
    rill_tp_offset_t *commit_snap;
    size_t ncommit_snap, capcommit_snap;
    /* commit.c, txn.c (web_metrics.c's /metrics): commits by result, and the time
     * of each one the transport answered (request to answer) */
    uint64_t commits_ok, commits_failed, commits_fenced;
    rill_hist_t commit_latency;

    rill_buf_t kbuf, vbuf; /* encode scratch */
    rill_buf_t kstr, vstr; /* a string key's / value's NUL-terminated copy */
    rill_event_t *free_events, *all_events;
    struct rill_send_ctx *free_sends, *all_sends;
    uint64_t inflight_total;

    /* last-hit cache for message -> partition state */
    const char *last_topic_ptr;
    /* Handler latency inside a batch of raw events: the clock read that ends one
     * handler starts the next (rill__on_messages sets batch_clock; agent.c). */
    bool batch_clock, clock_ok;
    uint64_t clock_ns;
    rill_topic_t *last_topic;

    /* How a lower layer reaches up (docs/architecture.md): set by app.c when the
     * app is created, never called directly from below. */
    struct {
        void (*finish)(rill_app_t *app); /* ctx: rill_app_fail stops the loop */
        /* topic: the consumed partition of @p ev that fences its sends (NULL: none);
         * *stale when @p ev is from before the partition was lost or reassigned */
        const struct rill_tpstate *(*event_tp)(const rill_event_t *ev, bool *stale);
        void (*idle)(rill_app_t *app); /* agent: the last in-flight event is done */
        void (*sends_done)(
            rill_app_t *app); /* topic: a waiting snapshot's sends landed */
        /* backlog: the last held send left (agents may start events again) */
        void (*sends_unblocked)(rill_app_t *app);
        void (*revoke_idle)(rill_app_t *app); /* agent: a revoking partition went idle */
        /* lease, table: give partitions up as lost (NULL: all) */
        void (*lose)(rill_app_t *app, const rill_tp_t *tps, size_t n);
        /* table: a table partition finished recovering (what this worker owns
         * changed: the workers topic says so) */
        void (*recovered)(rill_app_t *app);
    } hooks;
};

#define rill__log(app, lvl, ...) rill_log((app)->log, lvl, (app)->id, __VA_ARGS__)

/* ctx.c: error latch, failing, serializer cache */
void rill__app_seterr(rill_app_t *app, const char *fmt, ...) RILL_PRINTF(2, 3);
/* the same for a definition (topic, agent, table, stream, timer): latched */
void rill__app_deferr(rill_app_t *app, const char *fmt, ...) RILL_PRINTF(2, 3);
rill_serializer_t *rill__app_serializer(rill_app_t *app, const char *name, char *errstr,
                                        size_t errlen);

/* lease.c: self-fencing after a loop stall */
rill_err_t rill__lease_start(rill_app_t *app);
void rill__lease_stop(rill_app_t *app);
void rill__lease_free(rill_app_t *app);
/* An assignment while fenced: the membership is confirmed (again) before the
 * fence lifts, so partitions dropped earlier are handed out again too; unless the
 * transport already said this member was replaced (what it held goes as lost and
 * every partition from then on comes with an assignment): then it lifts at once. */
void rill__lease_on_assigned(rill_app_t *app);
/* false (and every partition dropped as lost) when the loop stalled past the
 * lease or the worker is fenced: nothing may be written for consumed partitions. */
bool rill__lease_ok(rill_app_t *app);
/* A write for a consumed partition was not delivered in time: it may have waited
 * out a freeze, so this worker may have been replaced; drop everything until the
 * group confirms it (a worker without a lease fails instead). */
void rill__lease_fence(rill_app_t *app, const char *why);

#endif
