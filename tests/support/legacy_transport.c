/* An ABI 2 transport for tests of the core's adapter (legacy_transport.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legacy_transport.h"

/* One reader of the ABI 2 plugin: a memory reader it forwards by topic name. */
typedef struct v2_reader {
    rill_reader_t *inner;
    char *topic;
    int32_t partition;
    struct v2_reader *next;
} v2_reader_t;

typedef struct v2 {
    rill_transport_t *outer, *inner;
    rill_transport_handlers_t ih;
    v2_reader_t *readers;
    rill_revoke_t revoke; /* the inner revoke revoke_done() answers */
} v2_t;

#define V2(t) ((v2_t *)(t)->impl)
#define IN(t) (V2(t)->inner)

/* ---- the inner memory:// instance's handlers, forwarded the ABI 2 way ---- */

static void i_messages(rill_transport_t *t, const rill_msg_t *m, size_t n, void *o) {
    (void)t;
    v2_t *v = o;
    v->outer->h->messages(v->outer, m, n, v->outer->h->opaque);
}
static void i_assigned(rill_transport_t *t, const rill_tp_t *tps, size_t n, void *o) {
    (void)t;
    v2_t *v = o;
    v->outer->h->assigned(v->outer, tps, n, v->outer->h->opaque);
}
static void i_revoke(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                     rill_revoke_t rv, void *o) {
    (void)t;
    v2_t *v = o;
    v->revoke = rv;
    v->outer->h->revoked(v->outer, tps, n, lost, v->outer->h->opaque);
}
static void i_writable(rill_transport_t *t, void *o) {
    (void)t;
    v2_t *v = o;
    if (v->outer->h->writable) v->outer->h->writable(v->outer, v->outer->h->opaque);
}
static void i_error(rill_transport_t *t, rill_err_t err, bool fatal, const char *msg,
                    void *o) {
    (void)t;
    v2_t *v = o;
    v->outer->h->error(v->outer, err, fatal, msg, v->outer->h->opaque);
}
static void r_messages(rill_reader_t *r, const rill_msg_t *m, size_t n, void *o) {
    (void)r;
    v2_t *v = o;
    v->outer->h->reader_messages(v->outer, m, n, v->outer->h->opaque);
}
static void r_eof(rill_reader_t *r, int64_t end, void *o) {
    v2_t *v = o;
    v->outer->h->reader_eof(v->outer, r->topic, r->partition, end, v->outer->h->opaque);
}
static const rill_reader_handlers_t reader_fwd = {r_messages, r_eof};

/* ---- the ABI 2 slots ---- */

static rill_err_t v2_open(rill_transport_t *t, const rill_url_t *url,
                          const rill_conf_t *conf, char *errstr, size_t errlen) {
    v2_t *v = t->impl;
    v->outer = t;
    v->ih = (rill_transport_handlers_t){
        .messages = i_messages,
        .assigned = i_assigned,
        .writable = i_writable,
        .error = i_error,
        .opaque = v,
        .revoke_request = i_revoke,
    };
    char inner[300];
    snprintf(inner, sizeof inner, "memory://%s", url->authority);
    v->inner =
        rill_transport_new(inner, conf, t->base, &v->ih, t->client_id, errstr, errlen);
    return v->inner ? RILL_OK : RILL_ETRANSPORT;
}
static rill_err_t v2_declare(rill_transport_t *t, const rill_topic_spec_t *spec,
                             int32_t *out, char *errstr, size_t errlen) {
    return IN(t)->ops->declare(IN(t), spec, out, errstr, errlen);
}
static rill_err_t v2_produce(rill_transport_t *t, const rill_produce_t *m,
                             rill_delivery_cb cb, void *opaque) {
    return IN(t)->ops->produce(IN(t), m, cb, opaque);
}
static rill_err_t v2_flush(rill_transport_t *t, int ms) {
    return IN(t)->ops->flush(IN(t), ms);
}
static rill_err_t v2_subscribe(rill_transport_t *t, const char *group,
                               const char *const *topics, size_t n, char *errstr,
                               size_t errlen) {
    return IN(t)->ops->subscribe(IN(t), group, topics, n, errstr, errlen);
}
static rill_err_t v2_unsubscribe(rill_transport_t *t) {
    return IN(t)->ops->unsubscribe(IN(t));
}
static void v2_revoke_done(rill_transport_t *t) {
    rill_transport_revoke_answer(IN(t), V2(t)->revoke);
}
static rill_err_t v2_pause(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    return IN(t)->ops->pause(IN(t), tps, n);
}
static rill_err_t v2_resume(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    return IN(t)->ops->resume(IN(t), tps, n);
}
static rill_err_t v2_seek(rill_transport_t *t, const char *topic, int32_t p, int64_t o) {
    return IN(t)->ops->seek(IN(t), topic, p, o);
}
static rill_err_t v2_commit(rill_transport_t *t, const rill_tp_offset_t *offs, size_t n) {
    return IN(t)->ops->commit(IN(t), offs, n);
}
static rill_err_t v2_committed(rill_transport_t *t, const char *group, const char *topic,
                               int32_t p, int64_t *out) {
    return IN(t)->ops->committed(IN(t), group, topic, p, out);
}
static v2_reader_t **v2_find(v2_t *v, const char *topic, int32_t p) {
    v2_reader_t **pp = &v->readers;
    while (*pp && !((*pp)->partition == p && !strcmp((*pp)->topic, topic)))
        pp = &(*pp)->next;
    return pp;
}
static rill_err_t v2_reader_open(rill_transport_t *t, const char *topic, int32_t p,
                                 int64_t offset) {
    v2_t *v = t->impl;
    if (*v2_find(v, topic, p)) return RILL_EEXIST; /* one reader per partition */
    v2_reader_t *r = calloc(1, sizeof *r);
    if (!r || !(r->topic = strdup(topic))) {
        free(r);
        return RILL_ENOMEM;
    }
    r->partition = p;
    rill_err_t rc =
        rill_reader_open(v->inner, topic, p, offset, &reader_fwd, v, &r->inner);
    if (rc != RILL_OK) {
        free(r->topic);
        free(r);
        return rc;
    }
    r->next = v->readers;
    v->readers = r;
    return RILL_OK;
}
static rill_err_t v2_reader_close(rill_transport_t *t, const char *topic, int32_t p) {
    v2_reader_t **pp = v2_find(t->impl, topic, p), *r = *pp;
    if (!r) return RILL_ENOENT;
    *pp = r->next;
    rill_reader_close(r->inner);
    free(r->topic);
    free(r);
    return RILL_OK;
}
static rill_err_t v2_watermarks(rill_transport_t *t, const char *topic, int32_t p,
                                int64_t *lo, int64_t *hi, int ms) {
    return IN(t)->ops->watermarks(IN(t), topic, p, lo, hi, ms);
}
static void v2_close(rill_transport_t *t) {
    v2_t *v = t->impl;
    while (v->readers) {
        v2_reader_t *r = v->readers;
        v->readers = r->next;
        free(r->topic);
        free(r);
    }
    if (v->inner) rill_transport_destroy(v->inner); /* closes its readers */
    v->inner = NULL;
}

const struct rill_transport_ops rill_test_legacy_transport = {
    .abi = 2,
    .scheme = "memv2",
    .description = "memory:// behind the ABI 2 contract (tests of the core's adapter)",
    .features = RILL_TRANSPORT_F_WATERMARKS,
    .impl_size = sizeof(v2_t),
    .open = v2_open,
    .declare = v2_declare,
    .produce = v2_produce,
    .flush = v2_flush,
    .subscribe = v2_subscribe,
    .unsubscribe = v2_unsubscribe,
    .revoke_done = v2_revoke_done,
    .pause = v2_pause,
    .resume = v2_resume,
    .seek = v2_seek,
    .commit = v2_commit,
    .committed = v2_committed,
    .reader_open = v2_reader_open,
    .reader_close = v2_reader_close,
    .watermarks = v2_watermarks,
    .close = v2_close,
};
