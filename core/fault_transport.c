/* faulty+<scheme>:// transports: a transport that wraps another and injects the
 * faults of its spec (fault_int.h) into calls, delivery reports and handlers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "backend_int.h"
#include "fault_int.h"
#include "url_int.h"

typedef struct fault_tr fault_tr_t;

/* One produce() in flight; cb NULL: the duplicate of a dup.produce, whose report
 * nobody waits for.  Reports the wrapper holds back wait in a FIFO (wprev/wnext):
 * late and reordered reports still come in produce order within a partition, as
 * the contract's increasing offsets and every Kafka producer promise. */
typedef struct fdeliv {
    fault_tr_t *f;
    rill_delivery_cb cb;
    void *opaque;
    char *topic;
    rill_err_t err;
    char errmsg[200];
    bool has_errmsg;
    int32_t partition;
    int64_t offset;
    struct event *ev; /* delay.delivery / reorder timer */
    bool waiting;     /* in the FIFO */
    struct fdeliv *prev, *next, *wprev, *wnext;
} fdeliv_t;

/* A message held back by late.pause (copied: the inner view is gone). */
typedef struct late_msg {
    rill_msg_t m;
    char *topic;
    void *key, *value;
    rill_header_t *headers;
} late_msg_t;

typedef struct queued_err {
    rill_err_t err;
    bool fatal;
    char msg[200];
} queued_err_t;

struct fault_tr {
    struct rill_transport_ops ops; /* this instance's: the inner features */
    char scheme[40];
    rill_transport_t *outer, *inner;
    rill_transport_handlers_t ih;
    rill__fault_spec_t spec;
    fdeliv_t *inflight;      /* every fdeliv not yet reported */
    fdeliv_t *whead, *wtail; /* reports held back, in the order they came */
    fdeliv_t *held;          /* reorder.delivery: waits for the next report */
    late_msg_t *late;
    size_t nlate, caplate;
    struct event *late_ev, *stall_ev, *writable_ev, *error_ev;
    queued_err_t errs[8];
    size_t nerrs;
};

#define F(t) ((fault_tr_t *)(t)->impl)

static void flog(fault_tr_t *f, rill_log_level_t lvl, const char *fmt, ...)
    RILL_PRINTF(3, 4);
static void flog(fault_tr_t *f, rill_log_level_t lvl, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rill_log(f->outer->log, lvl, f->outer->name, "%s", msg);
}

/* ---- handlers the outer transport's owner sees, called later on the loop ---------- */

static void on_error_ev(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    fault_tr_t *f = arg;
    queued_err_t q[8];
    size_t n = f->nerrs;
    memcpy(q, f->errs, n * sizeof *q);
    f->nerrs = 0;
    for (size_t i = 0; i < n; i++)
        f->outer->h->error(f->outer, q[i].err, q[i].fatal, q[i].msg, f->outer->h->opaque);
}

static void queue_error(fault_tr_t *f, rill_err_t err, bool fatal, const char *msg) {
    if (f->nerrs < sizeof f->errs / sizeof *f->errs) {
        f->errs[f->nerrs] = (queued_err_t){.err = err, .fatal = fatal};
        snprintf(f->errs[f->nerrs].msg, sizeof f->errs[f->nerrs].msg, "%s", msg);
        f->nerrs++;
    }
    event_active(f->error_ev, EV_TIMEOUT, 0);
}

static void on_writable_ev(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    fault_tr_t *f = arg;
    if (f->outer->h->writable) f->outer->h->writable(f->outer, f->outer->h->opaque);
}

/* Delay, then fail or not, a call of @p slot. */
static rill_err_t inject(fault_tr_t *f, rill__fault_slot_t slot, char *errstr,
                         size_t errlen) {
    rill__fault_delay(&f->spec, slot);
    rill_err_t rc = rill__fault_decide(&f->spec, slot);
    if (rc == RILL_OK) return RILL_OK;
    const rill__fault_rule_t *r = &f->spec.rule[slot];
    char msg[200];
    snprintf(msg, sizeof msg, "faulty: injected %s into %s call %llu (seed %llu)",
             rill_err_name(rc), rill__fault_slot_name(slot), (unsigned long long)r->calls,
             (unsigned long long)f->spec.seed);
    flog(f, RILL_LOG_DEBUG, "%s", msg);
    if (errstr && errlen) snprintf(errstr, errlen, "%s", msg);
    if (r->fatal) queue_error(f, rc, true, msg);
    if (rc == RILL_EFULL) event_active(f->writable_ev, EV_TIMEOUT, 0); /* the contract */
    return rc;
}

#define INJECT(f, slot, errstr, errlen)                                                  \
    do {                                                                                 \
        rill_err_t rc_ = inject((f), (slot), (errstr), (errlen));                        \
        if (rc_ != RILL_OK) return rc_;                                                  \
    } while (0)

/* ---- delivery reports ------------------------------------------------------------ */

static void unlink_d(fault_tr_t *f, fdeliv_t *d) {
    if (d->prev)
        d->prev->next = d->next;
    else if (f->inflight == d)
        f->inflight = d->next;
    if (d->next) d->next->prev = d->prev;
    d->prev = d->next = NULL;
    if (d->waiting) {
        if (d->wprev)
            d->wprev->wnext = d->wnext;
        else
            f->whead = d->wnext;
        if (d->wnext)
            d->wnext->wprev = d->wprev;
        else
            f->wtail = d->wprev;
        d->wprev = d->wnext = NULL;
        d->waiting = false;
    }
}

static void free_d(fault_tr_t *f, fdeliv_t *d) {
    unlink_d(f, d);
    if (f->held == d) f->held = NULL;
    if (d->ev) event_free(d->ev);
    free(d->topic);
    free(d);
}

static void report(fault_tr_t *f, fdeliv_t *d) {
    rill_delivery_cb cb = d->cb;
    void *opaque = d->opaque;
    rill_err_t err = d->err;
    char msg[sizeof d->errmsg];
    bool has = d->has_errmsg;
    snprintf(msg, sizeof msg, "%s", d->errmsg);
    int32_t partition = d->partition;
    int64_t offset = d->offset;
    free_d(f, d);
    cb(err, has ? msg : NULL, partition, offset, opaque);
}

static bool same_tp(const fdeliv_t *a, const fdeliv_t *b) {
    return a->partition == b->partition && !strcmp(a->topic, b->topic);
}

static bool is_waiting(const fault_tr_t *f, const fdeliv_t *d) {
    for (const fdeliv_t *e = f->whead; e; e = e->wnext)
        if (e == d) return true;
    return false;
}

/* Report the held-back reports of @p d's partition up to @p d itself (@p upto) or
 * all of them that came before @p d (!upto), oldest first.  Each report may run
 * the core, which may flush: look again from the head every time. */
static void release(fault_tr_t *f, fdeliv_t *d, bool upto) {
    for (;;) {
        fdeliv_t *e = f->whead;
        while (e && !same_tp(e, d))
            e = e->wnext;
        if (!e || (!upto && e == d)) return;
        bool last = e == d;
        report(f, e);
        if (last || (upto && !is_waiting(f, d))) return;
    }
}

static void on_report_ev(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    fdeliv_t *d = arg;
    release(d->f, d, true);
}

/* Hold @p d back for @p ms (behind any earlier report of its partition). */
static void hold_back(fault_tr_t *f, fdeliv_t *d, int ms) {
    d->waiting = true;
    d->wprev = f->wtail;
    d->wnext = NULL;
    if (f->wtail)
        f->wtail->wnext = d;
    else
        f->whead = d;
    f->wtail = d;
    if (!d->ev) d->ev = evtimer_new(f->outer->base, on_report_ev, d);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (!d->ev || evtimer_add(d->ev, &tv) != 0) release(f, d, true);
}

static void on_inner_report(rill_err_t err, const char *errmsg, int32_t partition,
                            int64_t offset, void *opaque) {
    fdeliv_t *d = opaque;
    fault_tr_t *f = d->f;
    if (!d->cb) { /* a duplicate's */
        free_d(f, d);
        return;
    }
    d->err = err;
    d->partition = partition;
    d->offset = offset;
    if (errmsg) {
        snprintf(d->errmsg, sizeof d->errmsg, "%s", errmsg);
        d->has_errmsg = true;
    }
    if (err == RILL_OK && rill__fault_chance(&f->spec, f->spec.drop_delivery)) {
        /* The at-least-once ambiguity: the write happened, the producer hears it
         * did not (a timed-out request whose response was lost). */
        d->err = RILL_ETIMEDOUT;
        snprintf(d->errmsg, sizeof d->errmsg,
                 "faulty: delivery report dropped (the message was written at "
                 "partition %d offset %lld; seed %llu)",
                 partition, (long long)offset, (unsigned long long)f->spec.seed);
        d->has_errmsg = true;
    }
    if (f->spec.delivery_hi > 0) {
        hold_back(
            f, d,
            rill__fault_pick_ms(&f->spec, f->spec.delivery_lo, f->spec.delivery_hi));
        return;
    }
    fdeliv_t *held = f->held;
    if (!held && rill__fault_chance(&f->spec, f->spec.reorder_delivery)) {
        f->held = d; /* after the next report of another partition, or soon */
        hold_back(f, d, 20);
        return;
    }
    f->held = NULL;
    hold_back(f, d, 0);
    if (held && same_tp(held, d)) {
        release(f, d, true); /* held first: order within a partition stays */
        return;
    }
    release(f, d, true);
    if (held && is_waiting(f, held)) release(f, held, true);
}

/* Everything held back, now, oldest first (flush). */
static void report_all_now(fault_tr_t *f) {
    while (f->whead)
        report(f, f->whead);
}

/* ---- messages ---------------------------------------------------------------------- */

static void late_free(late_msg_t *l) {
    free(l->topic);
    free(l->key);
    free(l->value);
    for (size_t i = 0; i < l->m.nheaders; i++) {
        free((void *)l->headers[i].name);
        free((void *)l->headers[i].value);
    }
    free(l->headers);
}

static void *dup_bytes(const void *p, size_t n) {
    void *c = malloc(n ? n : 1);
    if (c && n) memcpy(c, p, n);
    return c;
}

static bool late_hold(fault_tr_t *f, const rill_msg_t *m) {
    if (f->nlate == f->caplate) {
        size_t cap = f->caplate ? f->caplate * 2 : 8;
        late_msg_t *n = realloc(f->late, cap * sizeof *n);
        if (!n) return false;
        f->late = n;
        f->caplate = cap;
    }
    late_msg_t *l = &f->late[f->nlate];
    memset(l, 0, sizeof *l);
    l->m = *m;
    rill_msg_t lm = *m; /* headers read now: a lazy view dies with the batch */
    lm.headers = rill_msg_headers(m, &lm.nheaders);
    m = &lm;
    l->topic = strdup(m->topic);
    l->key = m->key ? dup_bytes(m->key, m->key_len) : NULL;
    l->value = m->value ? dup_bytes(m->value, m->value_len) : NULL;
    l->headers = m->nheaders ? calloc(m->nheaders, sizeof *l->headers) : NULL;
    bool ok = l->topic && (!m->key || l->key) && (!m->value || l->value) &&
              (!m->nheaders || l->headers);
    for (size_t i = 0; ok && i < m->nheaders; i++) {
        l->headers[i].name = strdup(m->headers[i].name);
        l->headers[i].value = dup_bytes(m->headers[i].value, m->headers[i].value_len);
        l->headers[i].value_len = m->headers[i].value_len;
        ok = l->headers[i].name && l->headers[i].value;
    }
    if (!ok) {
        l->m.nheaders = m->nheaders;
        late_free(l);
        return false;
    }
    l->m.topic = l->topic;
    l->m.key = l->key;
    l->m.value = l->value;
    l->m.headers = l->headers;
    l->m.nheaders = m->nheaders;
    f->nlate++;
    return true;
}

/* Deliver what late.pause held, in order, before anything newer. */
static void late_flush(fault_tr_t *f) {
    while (f->nlate) {
        late_msg_t l = f->late[0];
        memmove(f->late, f->late + 1, --f->nlate * sizeof *f->late);
        f->outer->h->messages(f->outer, &l.m, 1, f->outer->h->opaque);
        late_free(&l);
    }
}

static void late_drop(fault_tr_t *f, const char *topic, int32_t partition) {
    size_t w = 0;
    for (size_t i = 0; i < f->nlate; i++) {
        if (!topic ||
            (!strcmp(f->late[i].topic, topic) && f->late[i].m.partition == partition))
            late_free(&f->late[i]);
        else
            f->late[w++] = f->late[i];
    }
    f->nlate = w;
}

static void on_late_ev(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    late_flush(arg);
}

static void h_messages(rill_transport_t *inner, const rill_msg_t *msgs, size_t n,
                       void *opaque) {
    (void)inner;
    fault_tr_t *f = opaque;
    late_flush(f);
    if (n && rill__fault_chance(&f->spec, f->spec.late_pause) &&
        late_hold(f, &msgs[n - 1])) {
        /* librdkafka may hand over a message it fetched before a pause; this one
         * comes a turn later, after whatever the core does with the rest. */
        if (n > 1) f->outer->h->messages(f->outer, msgs, n - 1, f->outer->h->opaque);
        struct timeval tv = {0, 1000};
        evtimer_add(f->late_ev, &tv);
        return;
    }
    f->outer->h->messages(f->outer, msgs, n, f->outer->h->opaque);
}

static void h_assigned(rill_transport_t *inner, const rill_tp_t *tps, size_t n,
                       void *opaque) {
    (void)inner;
    fault_tr_t *f = opaque;
    f->outer->h->assigned(f->outer, tps, n, f->outer->h->opaque);
}

static void h_revoke_request(rill_transport_t *inner, const rill_tp_t *tps, size_t n,
                             bool lost, rill_revoke_t rv, void *opaque) {
    (void)inner;
    fault_tr_t *f = opaque;
    late_flush(f); /* fetched before the revoke */
    if (!lost && rill__fault_chance(&f->spec, f->spec.revoke_lost)) {
        flog(f, RILL_LOG_INFO,
             "faulty: revoke of %zu partitions reported as lost (seed %llu)", n,
             (unsigned long long)f->spec.seed);
        lost = true;
    }
    f->outer->h->revoke_request(f->outer, tps, n, lost, rv, f->outer->h->opaque);
}

/* An outer reader's messages and EOFs come from its inner reader (r->impl). */
static void h_reader_messages(rill_reader_t *inner, const rill_msg_t *msgs, size_t n,
                              void *opaque) {
    (void)inner;
    rill_reader_t *r = opaque;
    r->h->messages(r, msgs, n, r->opaque);
}

static void h_reader_eof(rill_reader_t *inner, int64_t end, void *opaque) {
    (void)inner;
    rill_reader_t *r = opaque;
    r->h->eof(r, end, r->opaque);
}

static const rill_reader_handlers_t reader_fwd = {h_reader_messages, h_reader_eof};

static void h_writable(rill_transport_t *inner, void *opaque) {
    (void)inner;
    fault_tr_t *f = opaque;
    if (f->outer->h->writable) f->outer->h->writable(f->outer, f->outer->h->opaque);
}

static void h_error(rill_transport_t *inner, rill_err_t err, bool fatal, const char *msg,
                    void *opaque) {
    (void)inner;
    fault_tr_t *f = opaque;
    f->outer->h->error(f->outer, err, fatal, msg, f->outer->h->opaque);
}

/* ---- stalls --------------------------------------------------------------------------
 */

static void on_stall_ev(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    fault_tr_t *f = arg;
    int ms = f->spec.stall_ms;
    flog(f, RILL_LOG_INFO, "faulty: stalling the loop for %d ms (seed %llu)", ms,
         (unsigned long long)f->spec.seed);
    f->spec.injected++;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    if (f->spec.stall_every_ms > 0) {
        struct timeval tv = {f->spec.stall_every_ms / 1000,
                             (f->spec.stall_every_ms % 1000) * 1000};
        evtimer_add(f->stall_ev, &tv);
    }
}

/* ---- the slots ------------------------------------------------------------------------
 */

static rill_err_t f_declare(rill_transport_t *t, const rill_topic_spec_t *spec,
                            int32_t *partitions_out, char *errstr, size_t errlen) {
    INJECT(F(t), RILL__FS_DECLARE, errstr, errlen);
    return rill__tr_declare(F(t)->inner, spec, partitions_out, errstr, errlen);
}

static rill_err_t f_produce(rill_transport_t *t, const rill_produce_t *m,
                            rill_delivery_cb cb, void *opaque) {
    fault_tr_t *f = F(t);
    INJECT(f, RILL__FS_PRODUCE, NULL, 0);
    fdeliv_t *d = calloc(1, sizeof *d);
    if (!d) return RILL_ENOMEM;
    *d = (fdeliv_t){.f = f, .cb = cb, .opaque = opaque, .next = f->inflight};
    if (!(d->topic = strdup(m->topic))) {
        free(d);
        return RILL_ENOMEM;
    }
    if (f->inflight) f->inflight->prev = d;
    f->inflight = d;
    rill_err_t rc = rill__tr_produce(f->inner, m, on_inner_report, d);
    if (rc != RILL_OK) {
        free_d(f, d);
        return rc;
    }
    if (rill__fault_chance(&f->spec, f->spec.dup_produce)) {
        /* A retry whose first attempt was written after all: the log has it twice. */
        fdeliv_t *dup = calloc(1, sizeof *dup);
        if (dup) {
            *dup = (fdeliv_t){.f = f, .next = f->inflight};
            f->inflight->prev = dup;
            f->inflight = dup;
            if (rill__tr_produce(f->inner, m, on_inner_report, dup) != RILL_OK)
                free_d(f, dup);
        }
    }
    return RILL_OK;
}

static rill_err_t f_flush(rill_transport_t *t, int timeout_ms) {
    fault_tr_t *f = F(t);
    INJECT(f, RILL__FS_FLUSH, NULL, 0);
    rill_err_t rc = rill__tr_flush(f->inner, timeout_ms);
    report_all_now(f); /* flush means every outstanding report is delivered */
    return rc;
}

static rill_err_t f_subscribe(rill_transport_t *t, const char *group,
                              const char *const *topics, size_t n, char *errstr,
                              size_t errlen) {
    fault_tr_t *f = F(t);
    INJECT(f, RILL__FS_SUBSCRIBE, errstr, errlen);
    rill_err_t rc = rill__tr_subscribe(f->inner, group, topics, n, errstr, errlen);
    if (rc == RILL_OK && f->spec.stall_ms > 0 && !evtimer_pending(f->stall_ev, NULL)) {
        struct timeval tv = {f->spec.stall_at_ms / 1000,
                             (f->spec.stall_at_ms % 1000) * 1000};
        evtimer_add(f->stall_ev, &tv);
    }
    return rc;
}

static rill_err_t f_unsubscribe(rill_transport_t *t) {
    fault_tr_t *f = F(t);
    INJECT(f, RILL__FS_UNSUBSCRIBE, NULL, 0);
    late_drop(f, NULL, 0);
    return rill__tr_unsubscribe(f->inner);
}

static void f_revoke_answer(rill_transport_t *t, rill_revoke_t rv) {
    rill__fault_delay(&F(t)->spec, RILL__FS_REVOKE_DONE);
    rill__tr_revoke_answer(F(t)->inner, rv);
}

static rill_err_t f_pause(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    fault_tr_t *f = F(t);
    INJECT(f, RILL__FS_PAUSE, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        rill_err_t rc = rill__tr_pause(f->inner, tps[i].topic, tps[i].partition);
        if (rc != RILL_OK) return rc;
    }
    return RILL_OK;
}

static rill_err_t f_resume(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    fault_tr_t *f = F(t);
    INJECT(f, RILL__FS_RESUME, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        rill_err_t rc = rill__tr_resume(f->inner, tps[i].topic, tps[i].partition);
        if (rc != RILL_OK) return rc;
    }
    return RILL_OK;
}

static rill_err_t f_seek(rill_transport_t *t, const char *topic, int32_t partition,
                         int64_t offset) {
    fault_tr_t *f = F(t);
    INJECT(f, RILL__FS_SEEK, NULL, 0);
    late_drop(f, topic,
              partition); /* fetched before the seek: discarded, as librdkafka */
    return rill__tr_seek(f->inner, topic, partition, offset);
}

static rill_err_t f_commit(rill_transport_t *t, const rill_tp_offset_t *offs, size_t n) {
    fault_tr_t *f = F(t);
    INJECT(f, RILL__FS_COMMIT, NULL, 0);
    if (f->spec.commit_ahead <= 0 || n == 0) return rill__tr_commit(f->inner, offs, n);
    /* A core that commits past what it acked, for checking that the checks catch
     * it (the chaos run must fail): not a fault a broker makes. */
    rill_tp_offset_t *ahead = malloc(n * sizeof *ahead);
    if (!ahead) return RILL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        ahead[i] = offs[i];
        ahead[i].offset += f->spec.commit_ahead;
    }
    f->spec.injected++;
    rill_err_t rc = rill__tr_commit(f->inner, ahead, n);
    free(ahead);
    return rc;
}

static rill_err_t f_committed(rill_transport_t *t, const char *group, const char *topic,
                              int32_t partition, int64_t *out) {
    INJECT(F(t), RILL__FS_COMMITTED, NULL, 0);
    return rill__tr_committed(F(t)->inner, group, topic, partition, out);
}

static rill_err_t f_reader_start(rill_transport_t *t, rill_reader_t *r, int64_t offset) {
    INJECT(F(t), RILL__FS_READER_OPEN, NULL, 0);
    rill_reader_t *in = NULL;
    rill_err_t rc = rill__tr_reader_open(F(t)->inner, r->topic, r->partition, offset,
                                         &reader_fwd, r, &in);
    r->impl = in;
    return rc;
}

/* reader_close faults: a delay only (a reader always stops). */
static void f_reader_stop(rill_transport_t *t, rill_reader_t *r) {
    rill__fault_delay(&F(t)->spec, RILL__FS_READER_CLOSE);
    rill__tr_reader_close(r->impl);
    r->impl = NULL;
}

static rill_err_t f_watermarks(rill_transport_t *t, const char *topic, int32_t partition,
                               int64_t *low, int64_t *high, int timeout_ms) {
    INJECT(F(t), RILL__FS_WATERMARKS, NULL, 0);
    return rill__tr_watermarks(F(t)->inner, topic, partition, low, high, timeout_ms);
}

static rill_err_t f_txn_begin(rill_transport_t *t, char *errstr, size_t errlen) {
    INJECT(F(t), RILL__FS_TXN_BEGIN, errstr, errlen);
    return rill__tr_txn_begin(F(t)->inner, errstr, errlen);
}

static rill_err_t f_txn_offsets(rill_transport_t *t, const char *group,
                                const rill_tp_offset_t *offs, size_t n, char *errstr,
                                size_t errlen) {
    INJECT(F(t), RILL__FS_TXN_OFFSETS, errstr, errlen);
    return rill__tr_txn_offsets(F(t)->inner, group, offs, n, errstr, errlen);
}

static rill_err_t f_txn_commit(rill_transport_t *t, char *errstr, size_t errlen) {
    INJECT(F(t), RILL__FS_TXN_COMMIT, errstr, errlen);
    return rill__tr_txn_commit(F(t)->inner, errstr, errlen);
}

static rill_err_t f_txn_abort(rill_transport_t *t, char *errstr, size_t errlen) {
    INJECT(F(t), RILL__FS_TXN_ABORT, errstr, errlen);
    return rill__tr_txn_abort(F(t)->inner, errstr, errlen);
}

static int64_t f_session_ms(rill_transport_t *t) {
    return rill__tr_session_ms(F(t)->inner);
}

static int64_t f_poll_ms(rill_transport_t *t) {
    return rill__tr_poll_ms(F(t)->inner);
}

static rill_err_t f_confirm(rill_transport_t *t, char *errstr, size_t errlen) {
    INJECT(F(t), RILL__FS_CONFIRM, errstr, errlen);
    return rill__tr_confirm(F(t)->inner, errstr, errlen);
}

static void f_close(rill_transport_t *t) {
    fault_tr_t *f = F(t);
    if (!f) return;
    if (f->inner) {
        flog(f, RILL_LOG_INFO, "faulty: %llu faults injected (seed %llu)",
             (unsigned long long)f->spec.injected, (unsigned long long)f->spec.seed);
        rill_transport_destroy(f->inner); /* drops its reports, as a close may */
        f->inner = NULL;
    }
    late_drop(f, NULL, 0);
    free(f->late);
    while (f->inflight)
        free_d(f, f->inflight);
    struct event **evs[] = {&f->late_ev, &f->stall_ev, &f->writable_ev, &f->error_ev};
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
}

static const struct rill_transport_ops faulty_template = {
    .abi = RILL_TRANSPORT_ABI,
    .description = "fault injection around another transport (tests, chaos runs)",
    .open = NULL, /* opened by rill__fault_transport_open */
    .declare = f_declare,
    .produce = f_produce,
    .flush = f_flush,
    .subscribe = f_subscribe,
    .unsubscribe = f_unsubscribe,
    .pause = f_pause,
    .resume = f_resume,
    .seek = f_seek,
    .commit = f_commit,
    .committed = f_committed,
    .close = f_close,
    .session_ms = f_session_ms,
    .poll_ms = f_poll_ms,
    .reader_start = f_reader_start,
    .reader_stop = f_reader_stop,
    .revoke_answer = f_revoke_answer,
};

/* The registry's free: close, then the instance (props: none). */
static void outer_free(rill_transport_t *t) {
    if (!t) return;
    f_close(t);
    rill__tr_detach(t);
    free(t->impl);
    free(t);
}

rill_transport_t *rill__fault_transport_open(const char *url, const rill_conf_t *conf,
                                             struct event_base *base,
                                             const rill_transport_handlers_t *h,
                                             const char *client_id,
                                             const rill_logger_t *lg, char *errstr,
                                             size_t errlen) {
    rill_transport_t *t = calloc(1, sizeof *t);
    fault_tr_t *f = calloc(1, sizeof *f);
    char *inner_url = NULL;
    if (!t || !f) {
        free(t);
        free(f);
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    t->impl = f;
    t->log = lg ? lg : rill__logger_default();
    t->base = base;
    t->client_id = client_id;
    t->ops = &faulty_template; /* ABI 3: attach hands h over as it is */
    f->outer = t;
    if (rill__tr_attach(t, h) != RILL_OK) {
        snprintf(errstr, errlen, "out of memory");
        goto fail;
    }
    if (rill__fault_spec_from_url(url, RILL__FAULT_TRANSPORT, &f->spec, &inner_url,
                                  errstr, errlen) != RILL_OK)
        goto fail;
    f->ih = (rill_transport_handlers_t){
        .messages = h_messages,
        .assigned = h_assigned,
        .writable = h_writable,
        .error = h_error,
        .opaque = f,
        .revoke_request = h_revoke_request,
    };
    if (!(f->late_ev = evtimer_new(base, on_late_ev, f)) ||
        !(f->stall_ev = evtimer_new(base, on_stall_ev, f)) ||
        !(f->writable_ev = event_new(base, -1, 0, on_writable_ev, f)) ||
        !(f->error_ev = event_new(base, -1, 0, on_error_ev, f))) {
        snprintf(errstr, errlen, "out of memory");
        goto fail;
    }
    f->inner = rill__transport_open(inner_url, conf, base, &f->ih, client_id, lg, errstr,
                                    errlen);
    if (!f->inner) goto fail;
    const struct rill_transport_ops *in = f->inner->ops;
    f->ops = faulty_template;
    snprintf(f->scheme, sizeof f->scheme, "%s%s", RILL__FAULTY_PREFIX, in->scheme);
    f->ops.scheme = f->scheme;
    f->ops.features = in->features;
    f->ops.impl_size = sizeof *f;
    if (in->features & RILL_TRANSPORT_F_WATERMARKS) f->ops.watermarks = f_watermarks;
    if (in->features & RILL_TRANSPORT_F_TXN) {
        f->ops.txn_begin = f_txn_begin;
        f->ops.txn_offsets = f_txn_offsets;
        f->ops.txn_commit = f_txn_commit;
        f->ops.txn_abort = f_txn_abort;
    }
    if (rill__tr_can_confirm(f->inner)) f->ops.confirm = f_confirm;
    t->ops = &f->ops;
    snprintf(t->name, sizeof t->name, "%.31s", f->scheme);
    char shown[512];
    rill_log(t->log, RILL_LOG_WARN, t->name,
             "fault injection on, seed %llu (replay with seed=%llu): %s",
             (unsigned long long)f->spec.seed, (unsigned long long)f->spec.seed,
             rill__url_redact(url, shown, sizeof shown));
    free(inner_url);
    return t;
fail:
    free(inner_url);
    t->ops = &faulty_template;
    outer_free(t);
    return NULL;
}
