/* Agents: the processing kernel.  Consumed messages are handed to handlers (decode,
 * operators, the handler), acks, concurrency, buffering with per-partition
 * backpressure.  Layer 4 (docs/architecture.md): the consumer (consumer.c) calls
 * it; it reaches up only through app->hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record_int.h"
#include "backend_int.h"
#include "event_int.h"

rill_agent_t *rill_app_agent(rill_app_t *app, const char *name, rill_topic_t *topic,
                             rill_agent_fn fn, void *opaque,
                             const rill_agent_opts_t *opts) {
    if (!app) return NULL; /* rill_app_new failed: its error says why */
    if (!fn) {
        rill__app_deferr(app, "rill_app_agent: a handler is required");
        return NULL;
    }
    return rill__agent_new(app, name, topic, fn, opaque, opts);
}

rill_agent_t *rill__agent_new(rill_app_t *app, const char *name, rill_topic_t *topic,
                              rill_agent_fn fn, void *opaque,
                              const rill_agent_opts_t *opts) {
    if (!name || !*name || !topic) {
        rill__app_deferr(app, "rill_app_agent: name, topic and handler are required");
        return NULL;
    }
    if (app->state != RILL_APP_CREATED) {
        rill__app_deferr(app, "agent '%s' must be defined before the app starts", name);
        return NULL;
    }
    for (rill_agent_t *a = app->agents; a; a = a->next) {
        if (strcmp(a->name, name) == 0) {
            rill__app_deferr(app, "agent '%s' is already defined", name);
            return NULL;
        }
    }
    if (opts && opts->concurrency < 0) {
        rill__app_deferr(app, "agent '%s': concurrency must be >= 1", name);
        return NULL;
    }
    rill_agent_t *a = calloc(1, sizeof *a);
    rill_agent_t **na = realloc(topic->agents, (topic->nagents + 1) * sizeof *na);
    if (!a || !na || !(a->name = strdup(name))) {
        if (na) topic->agents = na;
        free(a);
        rill__app_deferr(app, "out of memory");
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

/* ---- decoding
 * ------------------------------------------------------------------------------ */

/* Decode into @p ev's value (@p which 0) or key (1), in memory the event keeps
 * between events (rill__event_mem). */
static rill_err_t decode_one(rill_event_t *ev, int which, rill_serializer_t *ser,
                             const rill_type_t *type, const void *data, size_t len,
                             void **out, char *why, size_t whylen) {
    size_t sz = rill__value_csize(type);
    bool record = type->kind == RILL_T_RECORD; /* rill_record_init zeroes it */
    void *v = rill__event_mem(ev, which, sz, !record);
    if (!v) return RILL_ENOMEM;
    if (record) rill_record_init(type->record, v);
    ser->strings = &ev->strings; /* its strings are carved from the event's memory */
    rill_err_t rc = rill_serializer_decode(ser, type, data, len, v, why, whylen);
    ser->strings = NULL;
    if (rc != RILL_OK) {
        rill__value_clear_in(type, v, &ev->strings);
        rill__event_mem_put(ev, which, v, sz);
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
    if (app->on_decode_error == RILL__DECODE_CRASH) {
        rill_app_fail(app, RILL_EDECODE, "undecodable %s at %s[%d]@%lld: %s", what,
                      ev->msg.topic, ev->msg.partition, (long long)ev->msg.offset, why);
    } else if (app->on_decode_error == RILL__DECODE_DEAD_LETTER && app->dead_letter) {
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
        rill_send_opts_t o =
            RILL__SEND_OPTS(.headers = hs, .nheaders = sizeof hs / sizeof hs[0],
                            .encoded = true, .event = ev);
        if (rill_send(app->dead_letter, ev->msg.key, ev->msg.key_len, ev->msg.value,
                      ev->msg.value_len, &o) != RILL_OK)
            rill_log(app->log, RILL_LOG_ERROR, a->name, "dead-letter send failed: %s",
                     rill_app_errmsg(app));
    }
}

/* ---- running handlers
 * -------------------------------------------------------------------- */

static void tp_done(rill_tpstate_t *tp, int64_t offset);
static void agent_drain(rill_agent_t *a);

/* A handler's error: counted, then the app fails or it is logged and skipped. */
static void handler_failed(rill_event_t *ev, rill_err_t err) {
    rill_agent_t *a = ev->agent;
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

/* rill__handler_result, inline in agent_run (once per event): the failure out of
 * line. */
static inline void handler_result(rill_event_t *ev, rill_err_t err) {
    rill_agent_t *a = ev->agent;
    if (ev->tp && ev->gen != ev->tp->gen) return; /* lost meanwhile: counts nowhere */
    if (ev->start_ns) {
        uint64_t now = rill_mono_ns();
        rill__hist_add(&a->latency, now - ev->start_ns);
        rill_app_t *app = ev->app;
        if (app->batch_clock) { /* the next raw event of the batch starts now */
            app->clock_ns = now;
            app->clock_ok = true;
        }
    }
    if (err == RILL_OK)
        a->processed++;
    else
        handler_failed(ev, err);
}

void rill__handler_result(rill_event_t *ev, rill_err_t err) {
    handler_result(ev, err);
}

/* When an event's processing starts: the end of the handler before it in the batch
 * (its dispatch, a few dozen ns, counts to this one), else now.  One clock read per
 * event of a batch; decoding is part of the event's processing time
 * (rill_agent_processing_seconds), as in Faust. */
static inline uint64_t event_start_ns(rill_app_t *app) {
    uint64_t start = app->clock_ok ? app->clock_ns : rill_mono_ns();
    app->clock_ok = false;
    return start;
}

/* Call @p ev's handler (agent @p a; @p ev is being handled, rill__handling) and
 * judge what it returned.  True when the event is finished now, false when it went
 * pending (held: the handler acks it later).  Shared by agent_run and the short way
 * of rill__agents_dispatch_run. */
static inline bool call_handler(rill_app_t *app, rill_agent_t *a, rill_event_t *ev) {
    ev->in_handler = true;
    rill_err_t r = a->fn(ev, a->opaque);
    ev->in_handler = false;
    rill__handling(app, NULL);
    if (r == RILL_PENDING) {
        if (ev->early_ack) { /* acked before the handler returned */
            handler_result(ev, ev->early_err);
            return true;
        }
        if (rill__event_own(ev) != RILL_OK) { /* finished unjudged */
            rill_app_fail(app, RILL_ENOMEM, "out of memory keeping a pending event");
            return true;
        }
        rill__event_hold(ev);
        return false;
    }
    handler_result(ev, r < 0 ? (rill_err_t)r : RILL_OK);
    return true;
}

/* Decode and call the handler.  Returns true when the event is finished now,
 * false when it is pending (the handler will ack it). */
static bool agent_run(rill_event_t *ev) {
    rill_agent_t *a = ev->agent;
    rill_topic_t *t = a->topic;
    rill_app_t *app = ev->app;
    char why[512];
    uint64_t start = event_start_ns(app);
    bool dvalue = t->vtype && t->vtype->kind != RILL_T_BYTES && ev->msg.value;
    bool dkey = t->ktype && t->ktype->kind != RILL_T_BYTES && ev->msg.key;
    if (dvalue) {
        why[0] = '\0';
        rill_err_t rc = decode_one(ev, 0, t->vser, t->vtype, ev->msg.value,
                                   ev->msg.value_len, &ev->value, why, sizeof why);
        if (rc != RILL_OK) {
            decode_failed(ev, "value", *why ? why : rill_err2str(rc));
            return true;
        }
    }
    if (dkey) {
        why[0] = '\0';
        rill_err_t rc = decode_one(ev, 1, t->kser, t->ktype, ev->msg.key, ev->msg.key_len,
                                   &ev->key, why, sizeof why);
        if (rc != RILL_OK) {
            decode_failed(ev, "key", *why ? why : rill_err2str(rc));
            return true;
        }
    }
    rill__handling(app, ev);
    ev->start_ns = start;
    app->errmsg[0] = '\0'; /* what a failing call says now is this event's reason */
    /* no operators and no take: nothing for rill__ops_run to do */
    int ops = a->nops || a->take_n ? rill__ops_run(ev) : RILL__OPS_CALL;
    if (ops != RILL__OPS_CALL) {
        rill__handling(app, NULL);
        return ops == RILL__OPS_DONE;
    }
    return call_handler(app, a, ev);
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
    rill__event_put(app, ev);
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
    rill__event_put(app, ev);
    if (current) tp_done(tp, off);
    agent_drain(a);
    if (app->hooks.idle) app->hooks.idle(app);
}

/* ---- queues and acks
 * ------------------------------------------------------------------------ */

static void tp_resume_if_drained(rill_app_t *app, rill_tpstate_t *tp) {
    if (tp->paused && !tp->held && !tp->topic->channel &&
        tp->queued <= app->buffer_maxsize / 2 && !tp->revoking && !app->sends_held &&
        app->state == RILL_APP_RUNNING) {
        tp->paused = false;
        rill__tr_resume(app->transport, tp->topic->name, tp->partition);
    }
}

static void tp_done(rill_tpstate_t *tp, int64_t offset) {
    rill__acks_done(&tp->acks, offset);
    rill_app_t *app = tp->topic->app;
    if (tp->revoking && tp->inflight == 0 && app->hooks.revoke_idle)
        app->hooks.revoke_idle(app);
}

/* Start as many queued events as concurrency allows. */
static void agent_drain(rill_agent_t *a) {
    rill_app_t *app = a->app;
    /* Nothing new starts while sends are held for a full queue (backlog.c). */
    while (a->qhead && a->inflight < a->concurrency && !app->sends_held &&
           app->state == RILL_APP_RUNNING) {
        rill_event_t *ev = a->qhead;
        a->qhead = ev->next;
        if (!a->qhead) a->qtail = NULL;
        a->qlen--;
        rill_tpstate_t *tp = ev->tp;
        tp->queued--;
        int64_t off = ev->msg.offset;
        uint32_t gen = ev->gen;
        if (agent_run(ev)) {
            rill__event_put(app, ev);
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

void rill__agents_unblocked(rill_app_t *app) {
    for (rill_agent_t *a = app->agents; a && !app->sends_held; a = a->next)
        agent_drain(a);
    for (rill_topic_t *t = app->topics; t && !app->sends_held; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            tp_resume_if_drained(app, &t->parts[p]);
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
                rill__event_put(app, ev);
            } else {
                last = ev;
                pp = &ev->next;
            }
        }
        a->qtail = last;
    }
}

/* Hand message @p m of partition @p tp to every agent of its topic: run at once
 * where an agent has room, else buffered (a full buffer pauses the partition).
 * Returns false when the app failed. */
bool rill__agents_dispatch(rill_app_t *app, rill_tpstate_t *tp, const rill_msg_t *m) {
    rill_topic_t *t = tp->topic;
    uint32_t refs = 0, gen = tp->gen;
    for (size_t j = 0; j < t->nagents && app->state == RILL_APP_RUNNING; j++) {
        rill_agent_t *a = t->agents[j];
        rill_event_t *ev = rill__event_get(app);
        if (!ev) {
            rill_app_fail(app, RILL_ENOMEM, "out of memory dispatching an event");
            return false;
        }
        ev->app = app;
        ev->agent = a;
        ev->tp = tp;
        ev->msg = *m;
        ev->vtype = t->vtype;
        ev->index = 0;
        ev->gen = tp->gen;
        if (a->inflight < a->concurrency && !a->qhead && !app->sends_held) {
            if (agent_run(ev))
                rill__event_put(app, ev);
            else
                refs++;
            continue;
        }
        /* Busy: buffer a copy; a full buffer pauses only this partition. */
        if (rill__event_own(ev) != RILL_OK) {
            rill__event_put(app, ev);
            rill_app_fail(app, RILL_ENOMEM, "out of memory buffering an event");
            return false;
        }
        agent_enqueue(a, ev);
        tp->queued++;
        refs++;
        if (!tp->paused && !t->channel &&
            (tp->queued >= app->buffer_maxsize || app->sends_held)) {
            tp->paused = true;
            rill__tr_pause(app->transport, t->name, tp->partition);
            rill_log(app->log, RILL_LOG_DEBUG, a->name,
                     app->sends_held
                         ? "%s[%d] paused: %u events buffered while sends wait for room"
                         : "%s[%d] paused: %u events buffered (stream.buffer.maxsize)",
                     t->name, tp->partition, tp->queued);
        }
    }
    if (gen != tp->gen) return true; /* lost while its handlers ran */
    if (rill__acks_add(&tp->acks, m->offset, refs) != 0) {
        rill_app_fail(app, RILL_ENOMEM, "out of memory tracking offsets");
        return false;
    }
    return true;
}

/* Event @p ev, finished, made ready for the next message of a run: what
 * rill__event_put and rill__event_get would do, without the trip through the pool. */
static inline void event_recycle(rill_event_t *ev) {
    if (ev->value || ev->key || ev->own) rill__event_release(ev);
    rill__strings_reset(&ev->strings);
    ev->in_handler = ev->early_ack = false;
    ev->start_ns = 0;
}

static bool raw_type(const rill_type_t *type) {
    return !type || type->kind == RILL_T_BYTES;
}

/* rill__agents_dispatch for the run of messages of @p tp that starts @p msgs (up to
 * the first of another partition, by name pointer as rill__on_messages has it), while the
 * run can take the short way: one agent on the topic, raw (nothing to decode), no
 * operators or take, room to run now (nothing queued, nothing in flight on the partition,
 * no sends held).  One event serves the whole run; the partition's state is checked
 * before each message as rill__on_messages does, since a handler may stop the app,
 * lose the partition or hold sends.  Returns how many of @p msgs were handled (the
 * caller hands the rest to rill__agents_dispatch, one by one); a handler that went
 * pending ends the run after its message. */
size_t rill__agents_dispatch_run(rill_app_t *app, rill_tpstate_t *tp,
                                 const rill_msg_t *msgs, size_t n) {
    rill_topic_t *t = tp->topic;
    if (t->nagents != 1 || !raw_type(t->vtype) || !raw_type(t->ktype)) return 0;
    rill_agent_t *a = t->agents[0];
    if (a->nops || a->take_n) return 0;
    rill_event_t *ev = NULL;
    uint32_t gen = tp->gen;
    size_t i = 0;
    for (; i < n; i++) {
        const rill_msg_t *m = &msgs[i];
        if (m->partition != msgs[0].partition || m->topic != msgs[0].topic) break;
        if (!tp->assigned || tp->revoking || tp->lost || tp->held || tp->gen != gen ||
            app->state != RILL_APP_RUNNING || a->inflight >= a->concurrency || a->qhead ||
            app->sends_held || rill__acks_pending(&tp->acks))
            break;
        if (!ev) {
            if (!(ev = rill__event_get(app))) break; /* the slow way says so */
            ev->app = app;
            ev->agent = a;
            ev->tp = tp;
            ev->vtype = t->vtype;
            ev->index = 0;
            ev->gen = gen;
        }
        ev->msg = *m;
        /* agent_run, less what a raw event without operators never needs */
        rill__handling(app, ev);
        ev->start_ns = event_start_ns(app);
        app->errmsg[0] = '\0';
        if (!call_handler(app, a, ev)) { /* pending: the run ends after it */
            ev = NULL;
            if (gen == tp->gen && rill__acks_add(&tp->acks, m->offset, 1) != 0)
                rill_app_fail(app, RILL_ENOMEM, "out of memory tracking offsets");
            i++;
            break;
        }
        if (gen != tp->gen) { /* lost while its handler ran */
            i++;
            break;
        }
        rill__acks_advance(&tp->acks, m->offset); /* nothing was pending: done */
        event_recycle(ev);
    }
    if (ev) rill__event_put(app, ev);
    return i;
}

void rill__agent_free(rill_agent_t *a) {
    if (a->take_ev) event_free(a->take_ev);
    free(a->batch);
    rill_buf_free(&a->keybuf);
    for (size_t i = 0; i < a->nops; i++)
        free(a->ops[i].topics);
    free(a->ops);
    free(a->name);
    free(a);
}
