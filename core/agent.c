/* Agents: dispatch of consumed messages to handlers, acks, concurrency, buffering
 * with per-partition backpressure, assignment and revocation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table_int.h"
#include "backend_int.h"

rill_agent_t *rill_app_agent(rill_app_t *app, const char *name, rill_topic_t *topic,
                             rill_agent_fn fn, void *opaque,
                             const rill_agent_opts_t *opts) {
    if (!fn) {
        rill__app_seterr(app, "rill_app_agent: a handler is required");
        return NULL;
    }
    return rill__agent_new(app, name, topic, fn, opaque, opts);
}

rill_agent_t *rill__agent_new(rill_app_t *app, const char *name, rill_topic_t *topic,
                              rill_agent_fn fn, void *opaque,
                              const rill_agent_opts_t *opts) {
    if (!name || !*name || !topic) {
        rill__app_seterr(app, "rill_app_agent: name, topic and handler are required");
        return NULL;
    }
    if (app->state != RILL_APP_CREATED) {
        rill__app_seterr(app, "agent '%s' must be defined before the app starts", name);
        return NULL;
    }
    for (rill_agent_t *a = app->agents; a; a = a->next) {
        if (strcmp(a->name, name) == 0) {
            rill__app_seterr(app, "agent '%s' is already defined", name);
            return NULL;
        }
    }
    if (opts && opts->concurrency < 0) {
        rill__app_seterr(app, "agent '%s': concurrency must be >= 1", name);
        return NULL;
    }
    rill_agent_t *a = calloc(1, sizeof *a);
    rill_agent_t **na = realloc(topic->agents, (topic->nagents + 1) * sizeof *na);
    if (!a || !na || !(a->name = strdup(name))) {
        if (na) topic->agents = na;
        free(a);
        rill__app_seterr(app, "out of memory");
        return NULL;
    }
    topic->agents = na;
    topic->agents[topic->nagents++] = a;
    a->app = app;
    a->topic = topic;
    a->fn = fn;
    a->opaque = opaque;
    if (opts) a->opts = *opts;
    if (a->opts.reply_type) {
        a->reply_copy = *a->opts.reply_type;
        a->opts.reply_type = &a->reply_copy;
    }
    a->concurrency = a->opts.concurrency > 0 ? a->opts.concurrency : 1;
    rill_agent_t **pp = &app->agents;
    while (*pp)
        pp = &(*pp)->next;
    *pp = a;
    return a;
}

const char *rill_agent_name(const rill_agent_t *a) {
    return a->name;
}

uint64_t rill_agent_processed(const rill_agent_t *a) {
    return a->processed;
}

/* ---- events
 * ------------------------------------------------------------------------------ */

static rill_event_t *event_get(rill_app_t *app) {
    rill_event_t *ev = app->free_events;
    if (ev) {
        app->free_events = ev->next;
    } else {
        if (!(ev = calloc(1, sizeof *ev))) return NULL;
        ev->all_next = app->all_events;
        app->all_events = ev;
    }
    ev->live = true;
    ev->next = NULL;
    return ev;
}

static void event_clear_values(rill_event_t *ev) {
    rill_topic_t *t = ev->agent->topic;
    if (ev->value) {
        rill_value_clear(ev->vtype, ev->value);
        free(ev->value);
        ev->value = NULL;
    }
    if (ev->key) {
        rill_value_clear(t->ktype, ev->key);
        free(ev->key);
        ev->key = NULL;
    }
}

static void event_put(rill_app_t *app, rill_event_t *ev) {
    event_clear_values(ev);
    free(ev->own);
    ev->own = NULL;
    free(ev->own_headers);
    ev->own_headers = NULL;
    ev->live = false;
    ev->in_handler = ev->early_ack = false;
    ev->next = app->free_events;
    app->free_events = ev;
}

void rill__events_free(rill_app_t *app) {
    while (app->all_events) {
        rill_event_t *ev = app->all_events;
        app->all_events = ev->all_next;
        if (ev->live && ev->agent) event_clear_values(ev);
        free(ev->own);
        free(ev->own_headers);
        free(ev);
    }
    app->free_events = NULL;
}

/* Copy the message bytes into the event: the transport's views die with its batch. */
rill_err_t rill__event_own(rill_event_t *ev) {
    if (ev->own) return RILL_OK;
    rill_msg_t *m = &ev->msg;
    size_t tl = strlen(m->topic) + 1, hl = 0;
    for (size_t i = 0; i < m->nheaders; i++)
        hl += strlen(m->headers[i].name) + 1 + m->headers[i].value_len;
    uint8_t *p = malloc(tl + m->key_len + m->value_len + hl + 1);
    rill_header_t *hs = m->nheaders ? malloc(m->nheaders * sizeof *hs) : NULL;
    if (!p || (m->nheaders && !hs)) {
        free(p);
        free(hs);
        return RILL_ENOMEM;
    }
    ev->own = p;
    memcpy(p, m->topic, tl);
    m->topic = (const char *)p;
    p += tl;
    if (m->key) {
        memcpy(p, m->key, m->key_len);
        m->key = p;
        p += m->key_len;
    }
    if (m->value) {
        memcpy(p, m->value, m->value_len);
        m->value = p;
        p += m->value_len;
    }
    for (size_t i = 0; i < m->nheaders; i++) {
        size_t nl = strlen(m->headers[i].name) + 1;
        memcpy(p, m->headers[i].name, nl);
        hs[i].name = (const char *)p;
        p += nl;
        memcpy(p, m->headers[i].value, m->headers[i].value_len);
        hs[i].value = p;
        hs[i].value_len = m->headers[i].value_len;
        p += m->headers[i].value_len;
    }
    ev->own_headers = hs;
    m->headers = hs;
    ev->kbytes = (rill_bytes_t){(uint8_t *)m->key, m->key_len};
    ev->vbytes = (rill_bytes_t){(uint8_t *)m->value, m->value_len};
    return RILL_OK;
}

const void *rill_event_key(const rill_event_t *ev) {
    if (!ev->msg.key) return NULL;
    return ev->key ? ev->key : (const void *)&ev->kbytes;
}

const void *rill_event_value(const rill_event_t *ev) {
    if (!ev->msg.value) return NULL;
    return ev->value ? ev->value : (const void *)&ev->vbytes;
}

const void *rill_event_key_bytes(const rill_event_t *ev, size_t *len) {
    if (len) *len = ev->msg.key_len;
    return ev->msg.key;
}

const void *rill_event_value_bytes(const rill_event_t *ev, size_t *len) {
    if (len) *len = ev->msg.value_len;
    return ev->msg.value;
}

const char *rill_event_topic(const rill_event_t *ev) {
    return ev->msg.topic;
}

int32_t rill_event_partition(const rill_event_t *ev) {
    return ev->msg.partition;
}

int64_t rill_event_offset(const rill_event_t *ev) {
    return ev->msg.offset;
}

int64_t rill_event_timestamp(const rill_event_t *ev) {
    return ev->msg.timestamp_ms;
}

const void *rill_event_header(const rill_event_t *ev, const char *name, size_t *len) {
    for (size_t i = 0; i < ev->msg.nheaders; i++) {
        if (strcmp(ev->msg.headers[i].name, name) == 0) {
            if (len) *len = ev->msg.headers[i].value_len;
            return ev->msg.headers[i].value;
        }
    }
    return NULL;
}

const rill_header_t *rill_event_headers(const rill_event_t *ev, size_t *n) {
    if (n) *n = ev->msg.nheaders;
    return ev->msg.headers;
}

rill_app_t *rill_event_app(const rill_event_t *ev) {
    return ev->app;
}

/* ---- decoding
 * ------------------------------------------------------------------------------ */

static rill_err_t decode_one(rill_serializer_t *ser, const rill_type_t *type,
                             const void *data, size_t len, void **out, char *why,
                             size_t whylen) {
    size_t sz = type->kind == RILL_T_RECORD ? type->record->size : rill_type_csize(type);
    void *v = calloc(1, sz ? sz : 1);
    if (!v) return RILL_ENOMEM;
    if (type->kind == RILL_T_RECORD) rill_record_init(type->record, v);
    rill_err_t rc = rill_serializer_decode(ser, type, data, len, v, why, whylen);
    if (rc != RILL_OK) {
        rill_value_clear(type, v);
        free(v);
        return rc;
    }
    *out = v;
    return RILL_OK;
}

/* Bad input: counted, logged with its position, then skipped, dead-lettered or
 * fatal as configured.  The offset always advances, so the worker never wedges. */
static void decode_failed(rill_event_t *ev, const char *what, const char *why) {
    rill_app_t *app = ev->app;
    rill_agent_t *a = ev->agent;
    a->decode_errors++;
    rill_log(app->log, RILL_LOG_ERROR, a->name,
             "cannot decode %s of %s[%d]@%lld: %s (on_decode_error=%s)", what,
             ev->msg.topic, ev->msg.partition, (long long)ev->msg.offset, why,
             rill_conf_get(app->conf, "on_decode_error"));
    if (app->on_decode_error == 2) {
        rill_app_fail(app, RILL_EDECODE, "undecodable %s at %s[%d]@%lld: %s", what,
                      ev->msg.topic, ev->msg.partition, (long long)ev->msg.offset, why);
    } else if (app->on_decode_error == 1 && app->dead_letter) {
        char off[32], part[16];
        snprintf(off, sizeof off, "%lld", (long long)ev->msg.offset);
        snprintf(part, sizeof part, "%d", ev->msg.partition);
        char msg[600];
        snprintf(msg, sizeof msg, "cannot decode %s: %s", what, why);
        const char *exc = rill_err_name(RILL_EDECODE);
        /* rill's own headers, then Kafka Streams' (KIP-1034) for tooling that
         * reads those */
        rill_header_t hs[] = {
            {"rill.error", why, strlen(why)},
            {"rill.topic", ev->msg.topic, strlen(ev->msg.topic)},
            {"rill.partition", part, strlen(part)},
            {"rill.offset", off, strlen(off)},
            {"__streams.errors.exception", exc, strlen(exc)},
            {"__streams.errors.message", msg, strlen(msg)},
            {"__streams.errors.topic", ev->msg.topic, strlen(ev->msg.topic)},
            {"__streams.errors.partition", part, strlen(part)},
            {"__streams.errors.offset", off, strlen(off)},
        };
        rill_send_opts_t o = {.headers = hs, .nheaders = sizeof hs / sizeof hs[0]};
        if (rill_send_raw(app->dead_letter, ev->msg.key, ev->msg.key_len, ev->msg.value,
                          ev->msg.value_len, &o) != RILL_OK)
            rill_log(app->log, RILL_LOG_ERROR, a->name, "dead-letter send failed: %s",
                     rill_app_errmsg(app));
    }
}

/* ---- running handlers
 * -------------------------------------------------------------------- */

static void tp_done(rill_tpstate_t *tp, int64_t offset);
static void agent_drain(rill_agent_t *a);

void rill__handler_result(rill_event_t *ev, rill_err_t err) {
    rill_agent_t *a = ev->agent;
    if (ev->tp && ev->gen != ev->tp->gen) return; /* lost meanwhile: counts nowhere */
    if (err == RILL_OK) {
        a->processed++;
        return;
    }
    a->errors++;
    if (a->opts.on_error == RILL_ON_ERROR_CRASH) {
        rill_app_fail(ev->app, RILL_EHANDLER, "agent '%s' failed on %s[%d]@%lld: %s",
                      a->name, ev->msg.topic, ev->msg.partition,
                      (long long)ev->msg.offset,
                      ev->app->errmsg[0] ? ev->app->errmsg : rill_err2str(err));
    } else {
        /* The specific reason (a table's, a send's) is in the app's error message
         * when the failing call set one while this event was being handled. */
        const char *why = ev->app->errmsg[0] ? ev->app->errmsg : rill_err2str(err);
        rill_log(ev->app->log, RILL_LOG_ERROR, a->name,
                 "handler failed on %s[%d]@%lld: %s: %s (logged and skipped)",
                 ev->msg.topic, ev->msg.partition, (long long)ev->msg.offset,
                 rill_err_name(err), why);
        a->processed++;
    }
}

/* Decode and call the handler.  Returns true when the event is finished now,
 * false when it is pending (the handler will ack it). */
static bool agent_run(rill_event_t *ev) {
    rill_agent_t *a = ev->agent;
    rill_topic_t *t = a->topic;
    char why[512];
    if (t->vtype && t->vtype->kind != RILL_T_BYTES && ev->msg.value) {
        why[0] = '\0';
        rill_err_t rc = decode_one(t->vser, t->vtype, ev->msg.value, ev->msg.value_len,
                                   &ev->value, why, sizeof why);
        if (rc != RILL_OK) {
            decode_failed(ev, "value", *why ? why : rill_err2str(rc));
            return true;
        }
    }
    if (t->ktype && t->ktype->kind != RILL_T_BYTES && ev->msg.key) {
        why[0] = '\0';
        rill_err_t rc = decode_one(t->kser, t->ktype, ev->msg.key, ev->msg.key_len,
                                   &ev->key, why, sizeof why);
        if (rc != RILL_OK) {
            decode_failed(ev, "key", *why ? why : rill_err2str(rc));
            return true;
        }
    }
    rill_app_t *app = ev->app;
    app->current_event = ev;
    app->errmsg[0] = '\0'; /* what a failing call says now is this event's reason */
    int ops = rill__ops_run(ev);
    if (ops != RILL__OPS_CALL) {
        app->current_event = NULL;
        return ops == RILL__OPS_DONE;
    }
    ev->in_handler = true;
    int r = a->fn(ev, a->opaque);
    ev->in_handler = false;
    app->current_event = NULL;
    if (r == RILL_PENDING) {
        if (ev->early_ack) { /* acked before the handler returned */
            rill__handler_result(ev, ev->early_err);
            return true;
        }
        if (rill__event_own(ev) != RILL_OK) {
            rill_app_fail(ev->app, RILL_ENOMEM, "out of memory keeping a pending event");
            return true;
        }
        rill__event_hold(ev);
        return false;
    }
    rill__handler_result(ev, r < 0 ? (rill_err_t)r : RILL_OK);
    return true;
}

void rill__event_hold(rill_event_t *ev) {
    ev->agent->inflight++;
    ev->tp->inflight++;
    ev->app->inflight_total++;
}

void rill__event_abandon(rill_event_t *ev) {
    rill_app_t *app = ev->app;
    ev->agent->inflight--;
    ev->tp->inflight--;
    app->inflight_total--;
    event_put(app, ev);
}

void rill_event_ack(rill_event_t *ev, rill_err_t err) {
    if (!ev || !ev->live) return;
    if (ev->in_handler) {
        ev->early_ack = true;
        ev->early_err = err;
        return;
    }
    rill__event_complete(ev, err);
}

void rill__event_complete(rill_event_t *ev, rill_err_t err) {
    rill_app_t *app = ev->app;
    rill_agent_t *a = ev->agent;
    rill_tpstate_t *tp = ev->tp;
    int64_t off = ev->msg.offset;
    bool current = ev->gen == tp->gen;
    if (current)
        rill__handler_result(ev, err);
    else /* lost meanwhile: its partition was given up, its outcome counts nowhere */
        rill_log(app->log, RILL_LOG_DEBUG, a->name,
                 "%s[%d]@%lld finished after its partition was lost: ignored",
                 ev->msg.topic, ev->msg.partition, (long long)off);
    a->inflight--;
    tp->inflight--;
    app->inflight_total--;
    event_put(app, ev);
    if (current) tp_done(tp, off);
    agent_drain(a);
    rill__app_check_idle(app);
}

/* ---- partitions
 * ------------------------------------------------------------------------ */

static void finish_revoke(rill_app_t *app);

static void tp_resume_if_drained(rill_app_t *app, rill_tpstate_t *tp) {
    if (tp->paused && !tp->held && !tp->topic->channel &&
        tp->queued <= app->buffer_maxsize / 2 && !tp->revoking &&
        app->state == RILL_APP_RUNNING) {
        tp->paused = false;
        rill__tr_resume(app->transport, tp->topic->name, tp->partition);
    }
}

static void tp_done(rill_tpstate_t *tp, int64_t offset) {
    rill__acks_done(&tp->acks, offset);
    if (tp->revoking && tp->inflight == 0) finish_revoke(tp->topic->app);
}

/* Start as many queued events as concurrency allows. */
static void agent_drain(rill_agent_t *a) {
    rill_app_t *app = a->app;
    while (a->qhead && a->inflight < a->concurrency && app->state == RILL_APP_RUNNING) {
        rill_event_t *ev = a->qhead;
        a->qhead = ev->next;
        if (!a->qhead) a->qtail = NULL;
        a->qlen--;
        rill_tpstate_t *tp = ev->tp;
        tp->queued--;
        int64_t off = ev->msg.offset;
        uint32_t gen = ev->gen;
        if (agent_run(ev)) {
            event_put(app, ev);
            if (gen == tp->gen) tp_done(tp, off);
        }
        tp_resume_if_drained(app, tp);
    }
}

static void agent_enqueue(rill_agent_t *a, rill_event_t *ev) {
    ev->next = NULL;
    if (a->qtail)
        a->qtail->next = ev;
    else
        a->qhead = ev;
    a->qtail = ev;
    a->qlen++;
}

void rill__agents_drop_queued(rill_app_t *app, rill_tpstate_t *tp) {
    for (rill_agent_t *a = app->agents; a; a = a->next) {
        rill_event_t **pp = &a->qhead, *last = NULL;
        while (*pp) {
            rill_event_t *ev = *pp;
            if (ev->tp == tp) {
                *pp = ev->next;
                a->qlen--;
                tp->queued--;
                event_put(app, ev);
            } else {
                last = ev;
                pp = &ev->next;
            }
        }
        a->qtail = last;
    }
}

static rill_tpstate_t *tp_lookup(rill_app_t *app, const char *topic, int32_t partition) {
    rill_topic_t *t;
    /* The pointer alone is not proof: a transport may free a name (librdkafka's
     * partition lists do) and another topic's name may reuse the address. */
    if (topic == app->last_topic_ptr && app->last_topic &&
        !strcmp(app->last_topic->name, topic)) {
        t = app->last_topic;
    } else {
        t = rill__topic_by_name(app, topic);
        app->last_topic_ptr = topic;
        app->last_topic = t;
    }
    if (!t || !t->parts || partition < 0 || partition >= t->partitions) return NULL;
    return &t->parts[partition];
}

void rill__on_messages(rill_transport_t *tr, const rill_msg_t *msgs, size_t n,
                       void *opaque) {
    (void)tr;
    rill_app_t *app = opaque;
    rill__lease_ok(app); /* a stall before this batch drops every partition first */
    for (size_t i = 0; i < n; i++) {
        const rill_msg_t *m = &msgs[i];
        rill_tpstate_t *tp = tp_lookup(app, m->topic, m->partition);
        if (!tp || !tp->assigned || tp->revoking || tp->lost ||
            app->state != RILL_APP_RUNNING)
            continue;
        if (tp->held) {
            /* A transport may deliver before its pause took effect (librdkafka's
             * assign resumes fetchers).  Nothing may run on a table still being
             * recovered, and nothing may be lost: remember the first offset seen,
             * pause again, and seek back to it before resuming. */
            if (tp->held_from < 0 || m->offset < tp->held_from) tp->held_from = m->offset;
            if (!tp->held_rewound) {
                rill__tr_pause(app->transport, tp->topic->name, tp->partition);
                tp->held_rewound = true;
            }
            continue;
        }
        rill_topic_t *t = tp->topic;
        uint32_t refs = 0, gen = tp->gen;
        for (size_t j = 0; j < t->nagents && app->state == RILL_APP_RUNNING; j++) {
            rill_agent_t *a = t->agents[j];
            rill_event_t *ev = event_get(app);
            if (!ev) {
                rill_app_fail(app, RILL_ENOMEM, "out of memory dispatching an event");
                return;
            }
            ev->app = app;
            ev->agent = a;
            ev->tp = tp;
            ev->msg = *m;
            ev->vtype = t->vtype;
            ev->index = 0;
            ev->gen = tp->gen;
            ev->kbytes = (rill_bytes_t){(uint8_t *)m->key, m->key_len};
            ev->vbytes = (rill_bytes_t){(uint8_t *)m->value, m->value_len};
            if (a->inflight < a->concurrency && !a->qhead) {
                if (agent_run(ev))
                    event_put(app, ev);
                else
                    refs++;
                continue;
            }
            /* Busy: buffer a copy; a full buffer pauses only this partition. */
            if (rill__event_own(ev) != RILL_OK) {
                event_put(app, ev);
                rill_app_fail(app, RILL_ENOMEM, "out of memory buffering an event");
                return;
            }
            agent_enqueue(a, ev);
            tp->queued++;
            refs++;
            if (!tp->paused && !t->channel && tp->queued >= app->buffer_maxsize) {
                tp->paused = true;
                rill__tr_pause(app->transport, t->name, tp->partition);
                rill_log(app->log, RILL_LOG_DEBUG, a->name,
                         "%s[%d] paused: %u events buffered (stream.buffer.maxsize)",
                         t->name, tp->partition, tp->queued);
            }
        }
        if (gen != tp->gen) continue; /* lost while its handlers ran */
        if (rill__acks_add(&tp->acks, m->offset, refs) != 0) {
            rill_app_fail(app, RILL_ENOMEM, "out of memory tracking offsets");
            return;
        }
    }
}

/* A partition revoked with its commit refused (the group already rebalancing) and
 * handed straight back to us: nobody else owned it in between, and what we
 * processed up to resume_at is flushed and delivered, so continue from there and
 * commit it, instead of processing it all again from the group's offset. */
static void resume_where_left(rill_app_t *app, rill_tpstate_t *tp) {
    int64_t at = tp->resume_at, group = RILL_OFFSET_INVALID;
    tp->resume_at = -1;
    if (at < 0) return;
    rill_topic_t *t = tp->topic;
    if (rill__tr_committed(app->transport, app->id, t->name, tp->partition, &group) !=
            RILL_OK ||
        group >= at)
        return; /* someone committed past it meanwhile: the group's offset it is */
    rill_err_t rc = rill__tr_seek(app->transport, t->name, tp->partition, at);
    if (rc != RILL_OK) {
        rill__log(app, RILL_LOG_WARN, "%s[%d]: cannot resume at %lld (%s): from %lld",
                  t->name, tp->partition, (long long)at, rill_err2str(rc),
                  (long long)group);
        return;
    }
    tp->acks.acked = at; /* the next commit carries it */
    rill__log(app, RILL_LOG_DEBUG, "%s[%d]: resumed at %lld, past the group's %lld",
              t->name, tp->partition, (long long)at, (long long)group);
}

/* ---- one log line per rebalance ------------------------------------------------- */

static bool tps_have(const rill_tp_t *tps, size_t n, const char *topic, int32_t p) {
    for (size_t i = 0; i < n; i++)
        if (tps[i].partition == p && !strcmp(tps[i].topic, topic)) return true;
    return false;
}

/* A table partition that comes or goes with @p tps: owned here, and partition p of
 * a consumed topic partitioned like the table is in the list. */
static bool table_part_moves(rill_app_t *app, const rill_table_t *tb, int32_t p,
                             const rill_tp_t *tps, size_t n) {
    if (tb->parts[p].state != RILL_TP_RECOVERING && tb->parts[p].state != RILL_TP_ACTIVE)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (tps[i].partition != p) continue;
        rill_topic_t *t = rill__topic_by_name(app, tps[i].topic);
        if (t && t->nagents && t->partitions == tb->partitions) return true;
    }
    return false;
}

/* Append "name[0-3,5]" for the partitions of 0..count-1 that @p has says. */
typedef bool (*part_pred)(rill_app_t *app, const void *what, int32_t p,
                          const rill_tp_t *tps, size_t n);

static void add_ranges(char *line, size_t len, const char *name, int32_t count,
                       part_pred has, rill_app_t *app, const void *what,
                       const rill_tp_t *tps, size_t n) {
    size_t used = strlen(line);
    bool first = true;
    for (int32_t p = 0; p < count && used + 8 < len; p++) {
        if (!has(app, what, p, tps, n)) continue;
        int32_t q = p;
        while (q + 1 < count && has(app, what, q + 1, tps, n))
            q++;
        int w = first ? snprintf(line + used, len - used, "%s%s[", used ? ", " : "", name)
                      : snprintf(line + used, len - used, ",");
        if (w > 0) used += (size_t)w;
        if (used < len)
            w = q > p ? snprintf(line + used, len - used, "%d-%d", p, q)
                      : snprintf(line + used, len - used, "%d", p);
        if (w > 0) used += (size_t)w;
        first = false;
        p = q;
    }
    if (!first && used + 1 < len) {
        line[used++] = ']';
        line[used] = '\0';
    }
    if (used >= len) memcpy(line + len - 4, "...", 4);
}

static bool topic_has(rill_app_t *app, const void *what, int32_t p, const rill_tp_t *tps,
                      size_t n) {
    (void)app;
    return tps_have(tps, n, ((const rill_topic_t *)what)->name, p);
}

static bool table_has(rill_app_t *app, const void *what, int32_t p, const rill_tp_t *tps,
                      size_t n) {
    return table_part_moves(app, what, p, tps, n);
}

/* "assigned orders[0-7], counts-changelog[0-7]": one line for the partitions of a
 * rebalance (and the changelogs of the table partitions they carry).  A worker that
 * has stopped says nothing more at info. */
static void log_rebalance(rill_app_t *app, const char *verb, const rill_tp_t *tps,
                          size_t n, const char *suffix) {
    rill_log_level_t level =
        app->state == RILL_APP_STOPPED ? RILL_LOG_DEBUG : RILL_LOG_INFO;
    if (!n || !rill__log_enabled(app->log, level)) return;
    char line[1024] = "";
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (!t->channel)
            add_ranges(line, sizeof line, t->name, t->partitions, topic_has, app, t, tps,
                       n);
    for (rill_table_t *tb = app->tables; tb; tb = tb->next)
        if (tb->changelog && tb->parts)
            add_ranges(line, sizeof line, tb->changelog->name, tb->partitions, table_has,
                       app, tb, tps, n);
    if (line[0]) rill__log(app, level, "%s %s%s", verb, line, suffix);
}

void rill__on_assigned(rill_transport_t *tr, const rill_tp_t *tps, size_t n,
                       void *opaque) {
    (void)tr;
    rill_app_t *app = opaque;
    rill__lease_ok(app);
    rill__lease_on_assigned(app);
    for (size_t i = 0; i < n; i++) {
        rill_tpstate_t *tp = tp_lookup(app, tps[i].topic, tps[i].partition);
        if (!tp) {
            rill__log(app, RILL_LOG_WARN, "assigned unknown partition %s[%d]",
                      tps[i].topic, tps[i].partition);
            continue;
        }
        tp->assigned = true;
        tp->revoking = tp->lost = false;
        tp->paused = false;
        tp->committed = -1;
        tp->gen++;
        rill__acks_reset(&tp->acks);
        resume_where_left(app, tp);
        rill__log(app, RILL_LOG_DEBUG, "assigned %s[%d]", tps[i].topic, tps[i].partition);
    }
    rill__tables_on_assigned(app, tps, n);
    log_rebalance(app, "assigned", tps, n, "");
}

static void on_revoke_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill_app_t *app = arg;
    char where[256] = "";
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (t->parts[p].revoking && t->parts[p].inflight && !*where)
                snprintf(where, sizeof where, "%s[%d] has %u events in flight", t->name,
                         p, t->parts[p].inflight);
    rill_app_fail(
        app, RILL_ETIMEDOUT,
        "revoke timed out after %lld ms (revoke.timeout.ms): %s; a handler never "
        "acked its event",
        (long long)app->revoke_timeout_ms, where);
}

/* A revoking partition still waited for: not lost (nothing of a lost one is
 * waited for: its outcome counts nowhere) with events in flight. */
static bool revoke_waits(const rill_app_t *app) {
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (t->parts[p].revoking && !t->parts[p].lost && t->parts[p].inflight)
                return true;
    return false;
}

/* Forget a partition's consumer state: it is no longer ours. */
static void tp_release(rill_tpstate_t *tp) {
    tp->revoking = tp->assigned = tp->paused = tp->held = false;
    tp->gen++;
    rill__acks_reset(&tp->acks);
}

/* All revoking partitions are idle: commit them and hand them back.  Lost ones
 * are already someone else's: nothing of theirs is flushed or committed. */
static void finish_revoke(rill_app_t *app) {
    if (!app->revoke_active || revoke_waits(app)) return;
    if (app->revoke_ev) event_del(app->revoke_ev);
    bool any_kept = false;
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (t->parts[p].revoking && !t->parts[p].lost) any_kept = true;
    /* Tables of lost partitions go first, unflushed, so the flush below cannot
     * write their stale overlays. */
    if (app->state != RILL_APP_STOPPED) rill__tables_on_lost(app);
    if (any_kept && app->state != RILL_APP_STOPPED && rill__lease_ok(app)) {
        rill__tables_flush(app); /* exactly_once: only after the commit below */
        rill_err_t frc = rill__tr_flush(app->transport, (int)app->shutdown_timeout_ms);
        rill_err_t crc = rill__app_commit(app, true);
        /* Refused (the group is rebalancing already): if the partition comes
         * straight back, continue from here (everything before is delivered). */
        if (frc == RILL_OK && crc != RILL_OK && !app->eos && rill__lease_ok(app))
            for (rill_topic_t *t = app->topics; t; t = t->next)
                for (int32_t p = 0; t->parts && p < t->partitions; p++) {
                    rill_tpstate_t *tp = &t->parts[p];
                    if (tp->revoking && !tp->lost && tp->acks.acked >= 0 &&
                        !rill__acks_pending(&tp->acks))
                        tp->resume_at = tp->acks.acked;
                }
    }
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            rill_tpstate_t *tp = &t->parts[p];
            if (!tp->revoking) continue;
            if (tp->lost) tp->resume_at = -1;
            tp_release(tp);
            tp->lost = false;
        }
    }
    if (app->state != RILL_APP_STOPPED) rill__tables_on_revoked(app);
    app->revoke_active = false;
    rill__tr_revoke_done(app->transport);
}

/* Give a partition up as lost: what is queued or batched for it is dropped
 * (never acked, so never committed: the new owner reprocesses it from the last
 * commit), and so is its delayed-forward hold. */
static void tp_lose(rill_app_t *app, rill_tpstate_t *tp) {
    tp->lost = true;
    tp->resume_at = -1;
    tp->gen++; /* in-flight events of it finish into nothing */
    rill__agents_drop_queued(app, tp);
    rill__take_drop(app, tp);
    rill__delayed_release(app, tp);
    rill__acks_reset(&tp->acks);
}

void rill__on_revoked(rill_transport_t *tr, const rill_tp_t *tps, size_t n, bool lost,
                      void *opaque) {
    (void)tr;
    rill_app_t *app = opaque;
    app->revoke_active = true;
    if (!rill__lease_ok(app)) lost = true; /* we may have been replaced already */
    log_rebalance(app, "revoked", tps, n, lost ? " (lost)" : "");
    for (size_t i = 0; i < n; i++) {
        rill_tpstate_t *tp = tp_lookup(app, tps[i].topic, tps[i].partition);
        if (!tp) continue;
        rill__log(app, RILL_LOG_DEBUG, "revoked %s[%d]%s", tps[i].topic, tps[i].partition,
                  lost ? " (lost)" : "");
        tp->revoking = true;
        if (lost) {
            tp_lose(app, tp);
        } else {
            rill__agents_drop_queued(app, tp);
            rill__delayed_release(app, tp);
        }
    }
    /* Partial take() batches are delivered, not lost (may finish the revoke). */
    rill__take_flush_all(app);
    if (!app->revoke_active) return;
    if (!revoke_waits(app)) {
        finish_revoke(app);
        return;
    }
    if (!app->revoke_ev &&
        !(app->revoke_ev = evtimer_new(app->base, on_revoke_timeout, app))) {
        rill_app_fail(app, RILL_ENOMEM, "out of memory");
        return;
    }
    struct timeval tv = {app->revoke_timeout_ms / 1000,
                         (app->revoke_timeout_ms % 1000) * 1000};
    evtimer_add(app->revoke_ev, &tv);
}

void rill__partitions_lose(rill_app_t *app, const rill_tp_t *tps, size_t n) {
    size_t lost = 0;
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->parts || t->channel) continue;
        for (int32_t p = 0; p < t->partitions; p++) {
            rill_tpstate_t *tp = &t->parts[p];
            if (!tp->assigned || tp->lost) continue;
            if (tps && !tps_have(tps, n, t->name, p)) continue;
            tp_lose(app, tp);
            /* Not revoking: the transport still has it, and says later whether
             * it is still ours (assigned again) or not (revoked). */
            tp->assigned = tp->held = tp->paused = false;
            lost++;
        }
    }
    if (!lost) return;
    rill__tables_on_lost(app);
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (!t->parts[p].revoking) t->parts[p].lost = false;
}

const rill_tpstate_t *rill__fence_for(rill_app_t *app, int32_t partitions, int32_t p) {
    if (p < 0 || p >= partitions) return NULL;
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (rill__copartitioned(t, partitions) && t->parts[p].assigned)
            return &t->parts[p];
    return NULL;
}

void rill__agent_free(rill_agent_t *a) {
    if (a->take_ev) event_free(a->take_ev);
    free(a->batch);
    for (size_t i = 0; i < a->nops; i++)
        free(a->ops[i].topics);
    free(a->ops);
    free(a->name);
    free(a);
}

/* Messages of partitions read outside the group: replies to asks (and, with
 * tables, changelogs). */
void rill__on_reader_messages(rill_transport_t *tr, const rill_msg_t *msgs, size_t n,
                              void *opaque) {
    (void)tr;
    rill_app_t *app = opaque;
    if (n && rill__tables_on_reader_messages(app, msgs, n)) return;
    for (size_t i = 0; i < n; i++)
        rill__asks_on_message(app, &msgs[i]);
}

void rill__on_reader_eof(rill_transport_t *tr, const char *topic, int32_t partition,
                         int64_t end, void *opaque) {
    (void)tr;
    rill__tables_on_reader_eof(opaque, topic, partition, end);
}
