/* Topics: definition, serializer resolution, declaration, sending. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record_int.h"
#include "backend_int.h"
#include "topic_int.h"

static bool valid_topic_name(const char *name) {
    if (!name || !*name || strlen(name) > 249) return false;
    for (const char *p = name; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
            !(*p >= '0' && *p <= '9') && !strchr("-_.", *p))
            return false;
    return true;
}

rill_topic_t *rill__topic_by_name(rill_app_t *app, const char *name) {
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (strcmp(t->name, name) == 0) return t;
    return NULL;
}

rill_topic_t *rill_app_find_topic(const rill_app_t *app, const char *name) {
    return rill__topic_by_name((rill_app_t *)app, name);
}

static bool is_rawish(const rill_type_t *t) {
    return !t || t->kind == RILL_T_BYTES || t->kind == RILL_T_STRING;
}

rill_topic_t *rill_app_topic(rill_app_t *app, const char *name,
                             const rill_topic_opts_t *opts) {
    if (!app) return NULL; /* rill_app_new failed: its error says why */
    rill_topic_opts_t o = opts ? *opts : (rill_topic_opts_t){0};
    if (!valid_topic_name(name)) {
        rill__app_deferr(
            app,
            "topic name '%s' is invalid: use 1-249 letters, digits, '-', '_' "
            "or '.'",
            name ? name : "(null)");
        return NULL;
    }
    rill_topic_t *t = rill__topic_by_name(app, name);
    if (t) {
        bool same_v =
            !o.value_type == !t->vtype &&
            (!o.value_type || !memcmp(o.value_type, t->vtype, sizeof *t->vtype));
        bool same_k = !o.key_type == !t->ktype &&
                      (!o.key_type || !memcmp(o.key_type, t->ktype, sizeof *t->ktype));
        if (opts &&
            (!same_v || !same_k || (o.partitions && o.partitions != t->partitions))) {
            rill__app_deferr(app, "topic '%s' is already defined with other options",
                             name);
            return NULL;
        }
        return t;
    }
    if (app->state != RILL_APP_CREATED && !app->transport) {
        rill__app_deferr(app, "topic '%s' defined after the app stopped", name);
        return NULL;
    }
    if (o.partitions < 0) {
        rill__app_deferr(app, "topic '%s': partitions must be positive", name);
        return NULL;
    }
    t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        rill__app_deferr(app, "out of memory");
        return NULL;
    }
    t->app = app;
    t->opts = o;
    if (o.key_type) {
        t->kcopy = *o.key_type;
        t->ktype = &t->kcopy;
    }
    if (o.value_type) {
        t->vcopy = *o.value_type;
        t->vtype = &t->vcopy;
    }
    t->opts.key_type = t->ktype;
    t->opts.value_type = t->vtype;
    t->partitions = o.partitions;
    const char *ks = o.key_serializer ? o.key_serializer
                     : is_rawish(o.key_type)
                         ? "raw"
                         : rill_conf_get(app->conf, "value_serializer");
    const char *vs = o.value_serializer ? o.value_serializer
                     : !o.value_type || o.value_type->kind == RILL_T_BYTES
                         ? "raw"
                         : rill_conf_get(app->conf, "value_serializer");
    t->kser_name = strdup(ks);
    t->vser_name = strdup(vs);
    if (!t->kser_name || !t->vser_name) {
        rill__topic_free(t);
        rill__app_deferr(app, "out of memory");
        return NULL;
    }
    rill_topic_t **pp = &app->topics; /* keep definition order */
    while (*pp)
        pp = &(*pp)->next;
    *pp = t;
    /* A topic defined while running (CLI send, late definition) is usable at once. */
    if (app->transport) {
        char err[256];
        if (rill__topic_resolve(t, err, sizeof err) ||
            rill__topic_declare(t, err, sizeof err)) {
            rill__app_deferr(app, "%s", err);
            return NULL;
        }
    }
    return t;
}

void rill__topic_free(rill_topic_t *t) {
    rill__channel_free(t);
    if (t->parts) {
        for (int32_t p = 0; p < t->partitions; p++)
            rill__acks_free(&t->parts[p].acks);
        free(t->parts);
    }
    free(t->agents);
    free(t->kser_name);
    free(t->vser_name);
    free(t->name);
    free(t);
}

const char *rill_topic_name(const rill_topic_t *t) {
    return t->name;
}

int32_t rill_topic_partitions(const rill_topic_t *t) {
    return t->partitions;
}

const rill_type_t *rill_topic_value_type(const rill_topic_t *t) {
    return t->vtype;
}

const rill_type_t *rill_topic_key_type(const rill_topic_t *t) {
    return t->ktype;
}

rill_err_t rill__topic_resolve(rill_topic_t *t, char *errstr, size_t errlen) {
    char why[256];
    if (!(t->kser = rill__app_serializer(t->app, t->kser_name, why, sizeof why))) {
        snprintf(errstr, errlen, "topic '%s': key serializer: %s", t->name, why);
        return RILL_ECONF;
    }
    if (!(t->vser = rill__app_serializer(t->app, t->vser_name, why, sizeof why))) {
        snprintf(errstr, errlen, "topic '%s': value serializer: %s", t->name, why);
        return RILL_ECONF;
    }
    if (t->vtype && t->vtype->kind == RILL_T_RECORD &&
        rill_schema_validate(t->vtype->record, why, sizeof why) != RILL_OK) {
        snprintf(errstr, errlen, "topic '%s': value record: %s", t->name, why);
        return RILL_EINVAL;
    }
    return RILL_OK;
}

rill_err_t rill__topic_declare(rill_topic_t *t, char *errstr, size_t errlen) {
    rill_app_t *app = t->app;
    rill_transport_t *tr = app->transport;
    if (t->channel) { /* in-process: one partition, always ours */
        t->partitions = 1;
        if (!t->parts && !(t->parts = calloc(1, sizeof *t->parts))) return RILL_ENOMEM;
        t->parts[0].topic = t;
        t->parts[0].assigned = true;
        t->parts[0].committed = -1;
        t->parts[0].resume_at = -1;
        rill__acks_init(&t->parts[0].acks);
        return RILL_OK;
    }
    if (!t->opts.partitions && t->repartition_of && t->repartition_of->partitions)
        t->opts.partitions = t->repartition_of->partitions;
    bool explicit = t->opts.partitions > 0;
    rill_topic_spec_t spec = {
        .name = t->name,
        .partitions = explicit
                          ? t->opts.partitions
                          : (int32_t)rill_conf_get_int(app->conf, "topic.partitions", 8),
        .replication = (int16_t)rill_conf_get_int(app->conf, "topic.replication", 1),
        .compacted = t->opts.compacted,
        .retention_ms = t->opts.retention_ms,
    };
    int32_t got = 0;
    char why[512] = "";
    rill_err_t rc = rill__tr_declare(tr, &spec, &got, why, sizeof why);
    if (rc == RILL_EPARTITIONS &&
        !explicit) { /* no count asked for: take the existing one */
        spec.partitions = 0;
        rc = rill__tr_declare(tr, &spec, &got, why, sizeof why);
    }
    if (rc != RILL_OK) {
        snprintf(errstr, errlen, "declaring topic '%s': %s", t->name,
                 *why ? why : rill_err2str(rc));
        return rc;
    }
    t->partitions = got;
    if (!t->parts) {
        if (!(t->parts = calloc((size_t)got, sizeof *t->parts))) return RILL_ENOMEM;
        for (int32_t p = 0; p < got; p++) {
            t->parts[p].topic = t;
            t->parts[p].partition = p;
            t->parts[p].committed = -1;
            t->parts[p].resume_at = -1;
            rill__acks_init(&t->parts[p].acks);
        }
    }
    return RILL_OK;
}

/* ---- sending
 * --------------------------------------------------------------------------- */

static rill_send_ctx_t *send_ctx_get(rill_app_t *app) {
    rill_send_ctx_t *s = app->free_sends;
    if (s) {
        app->free_sends = s->next;
    } else {
        if (!(s = calloc(1, sizeof *s))) return NULL;
        s->all_next = app->all_sends;
        app->all_sends = s;
    }
    s->shared = false;
    s->refs = 1;
    return s;
}

static void send_ctx_put(rill_app_t *app, rill_send_ctx_t *s) {
    s->next = app->free_sends;
    app->free_sends = s;
}

/* @p n sends of @p s are over: a context of its own goes back to the pool, a shared
 * one with its last send once it is not its topic's current one. */
static inline void send_ctx_release(rill_app_t *app, rill_send_ctx_t *s, uint64_t n) {
    if (!s->shared) {
        send_ctx_put(app, s);
        return;
    }
    s->refs -= n;
    if (s->refs == 0 && s->topic->plain[s->fenced] != s) send_ctx_put(app, s);
}

/* A new shared context for the plain sends of @p t of this epoch; the one before
 * goes back to the pool now if none of its sends is in flight, else with its last. */
static rill_send_ctx_t *plain_ctx_new(rill_app_t *app, rill_topic_t *t, bool fenced) {
    rill_send_ctx_t *old = t->plain[fenced], *s = send_ctx_get(app);
    if (!s) return NULL;
    *s = (rill_send_ctx_t){.app = app,
                           .topic = t,
                           .epoch = app->send_epoch,
                           .fenced = fenced,
                           .shared = true,
                           .all_next = s->all_next};
    t->plain[fenced] = s;
    if (old && old->refs == 0) send_ctx_put(app, old);
    return s;
}

/* The context of a plain send (no callback, not timed) of @p t: one per topic,
 * epoch and fencing, shared by all of them, instead of one per send. */
static inline rill_send_ctx_t *plain_ctx(rill_app_t *app, rill_topic_t *t, bool fenced) {
    rill_send_ctx_t *s = t->plain[fenced];
    if (!s || s->epoch != app->send_epoch) s = plain_ctx_new(app, t, fenced);
    return s;
}

/* A send not delivered: fenced when it timed out for a consumed partition, else
 * logged; counted either way. */
static void send_failed(rill_send_ctx_t *s, rill_err_t err, const char *errmsg) {
    rill_app_t *app = s->app;
    if (err == RILL_ETIMEDOUT && s->fenced)
        rill__lease_fence(app, "a send for a consumed partition was not delivered in "
                               "time");
    else
        rill__log(app, RILL_LOG_WARN, "send failed: %s",
                  errmsg ? errmsg : rill_err2str(err));
    s->topic->send_errors++;
}

/* rill__send_delivered, inline in rill__sends_delivered (once per send). */
static inline void send_delivered(rill_err_t err, const char *errmsg, int32_t partition,
                                  int64_t offset, rill_send_ctx_t *s) {
    rill_app_t *app = s->app;
    /* Sends of an epoch before the current one belong to a waiting snapshot. */
    if (s->epoch < app->send_epoch) {
        if (app->sends_old) app->sends_old--;
    } else if (app->sends_new) {
        app->sends_new--;
    }
    if (err != RILL_OK)
        send_failed(s, err, errmsg);
    else if (s->t0_ns)
        rill__hist_add(&s->topic->send_latency, rill_mono_ns() - s->t0_ns);
    if (s->cb) s->cb(err, errmsg, partition, offset, s->opaque);
    send_ctx_release(app, s, 1);
    if (app->commit_pending && app->sends_old == 0 && app->hooks.sends_done)
        app->hooks.sends_done(app);
}

/* @p n successful reports of plain sends sharing @p s: send_delivered for each
 * (no callback, not timed), the counts at once. */
static void plain_delivered(rill_send_ctx_t *s, uint64_t n) {
    rill_app_t *app = s->app;
    uint64_t *inflight = s->epoch < app->send_epoch ? &app->sends_old : &app->sends_new;
    *inflight -= n < *inflight ? n : *inflight;
    send_ctx_release(app, s, n);
    if (app->commit_pending && app->sends_old == 0 && app->hooks.sends_done)
        app->hooks.sends_done(app);
}

void rill__send_delivered(rill_err_t err, const char *errmsg, int32_t partition,
                          int64_t offset, void *opaque) {
    send_delivered(err, errmsg, partition, offset, opaque);
}

void rill__sends_delivered(rill_transport_t *tr, rill_delivery_cb cb,
                           const rill_delivery_t *d, size_t n, void *opaque) {
    (void)tr;
    (void)opaque;
    if (cb == rill__send_delivered) {
        for (size_t i = 0, j; i < n; i = j) {
            rill_send_ctx_t *s = d[i].opaque;
            j = i + 1;
            if (!s->shared) {
                send_delivered(RILL_OK, NULL, d[i].partition, d[i].offset, s);
                continue;
            }
            while (j < n && d[j].opaque == s)
                j++;
            plain_delivered(s, j - i);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            cb(RILL_OK, NULL, d[i].partition, d[i].offset, d[i].opaque);
    }
}

/* Inline in each caller: rill_send's encoded bytes call nothing else on their way
 * to the transport (a call less per send, ~30 instructions in rill-bench). */
#if defined(__GNUC__)
#define SEND_INLINE __attribute__((always_inline)) inline
#else
#define SEND_INLINE inline
#endif

static SEND_INLINE rill_err_t produce(rill_topic_t *t, const void *k, size_t klen,
                                      const void *v, size_t vlen,
                                      const rill_send_opts_t *o) {
    rill_app_t *app = t->app;
    if (t->channel) {
        if (app->state != RILL_APP_RUNNING) {
            rill__app_seterr(app, "send to channel '%s': the app is not running",
                             t->name);
            return RILL_ESTATE;
        }
        rill_err_t rc = rill__channel_push(t, k, klen, v, vlen, o);
        if (o && o->cb) o->cb(rc, NULL, 0, -1, o->opaque);
        return rc;
    }
    if (!app->transport || app->state == RILL_APP_STOPPED) {
        rill__app_seterr(app, "send to '%s': the app is not running", t->name);
        return RILL_ESTATE;
    }
    /* Fenced: a write for a consumed partition (a changelog's, or made while
     * handling one of its events) is refused once the partition is lost, and the
     * transport refuses it on the server too where it can (RILL_TRANSPORT_F_FENCING). */
    const rill_tpstate_t *f = app->send_fence;
    bool stale = false;
    if (!f && o && o->event && app->hooks.event_tp)
        f = app->hooks.event_tp(o->event, &stale);
    if (!f) f = app->current_tp;
    if (f && (stale || !rill__lease_ok(app) || !f->assigned || f->lost)) {
        rill__app_seterr(app,
                         "send to '%s' refused: %s[%d] is no longer owned by this worker "
                         "(lost, or it may have been replaced after a stall); the new "
                         "owner processes the event again",
                         t->name, f->topic->name, f->partition);
        return RILL_ENOTOWNER;
    }
    int32_t part;
    if (o && o->partition != RILL_PARTITION_ANY) {
        if (o->partition < 0 || o->partition >= t->partitions) {
            rill__app_seterr(app, "send to '%s': partition %d out of range 0-%d", t->name,
                             o->partition, t->partitions - 1);
            return RILL_EINVAL;
        }
        part = o->partition;
    } else if (k) {
        part = rill_partition_for_key(k, klen, t->partitions);
    } else {
        /* 0, 1, .., partitions - 1, 0, ..: a compare, not a division */
        uint32_t r = t->rr < (uint32_t)t->partitions ? t->rr : 0;
        part = (int32_t)r;
        t->rr = r + 1 < (uint32_t)t->partitions ? r + 1 : 0;
    }
    /* 1 send in 64 is timed: a clock read per send would cost the hot path */
    bool timed = (t->sent & (RILL__SEND_SAMPLE - 1)) == 0;
    rill_send_ctx_t *s;
    if (!timed && !(o && o->cb)) {
        if (!(s = plain_ctx(app, t, f != NULL))) return RILL_ENOMEM;
        s->refs++;
    } else {
        if (!(s = send_ctx_get(app))) return RILL_ENOMEM;
        s->app = app;
        s->topic = t;
        s->t0_ns = timed ? rill_mono_ns() : 0;
        s->cb = o ? o->cb : NULL;
        s->opaque = o ? o->opaque : NULL;
        s->epoch = app->send_epoch;
        s->fenced = f != NULL;
    }
    rill_produce_t m = {
        .topic = t->name,
        .partition = part,
        .key = k,
        .key_len = klen,
        .value = v,
        .value_len = vlen,
        .headers = o ? o->headers : NULL,
        .nheaders = o ? o->nheaders : 0,
        .timestamp_ms = o ? o->timestamp_ms : 0,
        .fence_topic = f ? f->topic->name : NULL,
        .fence_partition = f ? f->partition : -1,
    };
    /* Behind held sends, or refused for a full queue: held, in order (backlog.c). */
    rill_err_t rc = app->sends_held
                        ? RILL_EFULL
                        : rill__tr_produce(app->transport, &m, rill__send_delivered, s);
    if (rc == RILL_EFULL) {
        rc = rill__backlog_hold(app, &m, t, f, s);
        if (rc == RILL_OK) {
            app->sends_new++;
            return RILL_OK;
        }
        send_ctx_release(app, s, 1);
        return rc;
    }
    if (rc != RILL_OK) {
        send_ctx_release(app, s, 1);
        rill__app_seterr(app, "send to '%s' partition %d: %s", t->name, part,
                         rill_err2str(rc));
        return rc;
    }
    app->sends_new++;
    t->sent++;
    return RILL_OK;
}

const rill_send_opts_t rill_send_encoded = {
    .version = RILL_SEND_OPTS_VERSION, .partition = RILL_PARTITION_ANY, .encoded = true};

/* Encode @p v (C representation of @p type) with @p ser into @p buf. */
static rill_err_t encode(rill_topic_t *t, rill_serializer_t *ser, const rill_type_t *type,
                         const void *v, rill_buf_t *buf, const void **out, size_t *outlen,
                         const char *what) {
    char why[256] = "";
    rill_buf_reset(buf);
    rill_err_t rc = rill_serializer_encode(ser, type, v, buf, why, sizeof why);
    if (rc != RILL_OK) {
        rill__app_seterr(t->app, "send to '%s': encoding %s with %s: %s", t->name, what,
                         ser->name, *why ? why : rill_err2str(rc));
        return rc == RILL_ENOMEM ? rc : RILL_EENCODE;
    }
    *out = buf->data ? buf->data : (const void *)"";
    *outlen = buf->len;
    return RILL_OK;
}

static const char *type_desc(const rill_type_t *type) {
    switch (type->kind) {
    case RILL_T_RECORD:
        return type->record && type->record->name ? type->record->name : "record";
    case RILL_T_INT64:
        return "int64_t";
    case RILL_T_DOUBLE:
        return "double";
    case RILL_T_BOOL:
        return "bool";
    case RILL_T_DATETIME:
        return "datetime (int64_t)";
    case RILL_T_DECIMAL:
        return "rill_decimal_t";
    case RILL_T_ARRAY:
        return "rill_array_t";
    case RILL_T_MAP:
        return "rill_map_t";
    default:
        return "value";
    }
}

/* The wire bytes of one side (key or value) of a send: @p p / @p len as the caller
 * gave them.  Bytes and strings are their bytes; any other type is its C
 * representation, whose size @p len must be (so a string passed for a record, or a
 * pointer for a struct, is refused rather than read past its end).  @p cstr is
 * scratch for a string's NUL-terminated copy. */
rill_err_t rill__value_len_check(rill_app_t *app, const char *verb, const char *name,
                                 const char *owner, const char *what,
                                 const rill_type_t *type, const void *p, size_t len) {
    if (!p) {
        if (!len) return RILL_OK;
        rill__app_seterr(app, "%s '%s': %s is NULL but its length is %zu", verb, name,
                         what, len);
        return RILL_EINVAL;
    }
    if (!type || type->kind == RILL_T_BYTES || type->kind == RILL_T_STRING)
        return RILL_OK;
    size_t want = rill__value_csize(type);
    if (len == want) return RILL_OK;
    rill__app_seterr(app,
                     "%s '%s': the %s is %zu bytes, but the %s's %ss are %s (%zu bytes): "
                     "pass its address and sizeof it",
                     verb, name, what, len, owner, what, type_desc(type), want);
    return RILL_EINVAL;
}

static rill_err_t wire(rill_topic_t *t, rill_serializer_t *ser, const rill_type_t *type,
                       const void *p, size_t len, rill_buf_t *cstr, rill_buf_t *buf,
                       const void **out, size_t *outlen, const char *what) {
    rill_err_t rc =
        rill__value_len_check(t->app, "send to", t->name, "topic", what, type, p, len);
    if (rc != RILL_OK) return rc;
    if (!p) {
        *out = NULL;
        *outlen = 0;
        return RILL_OK;
    }
    if (!type || type->kind == RILL_T_BYTES) {
        *out = p;
        *outlen = len;
        return RILL_OK;
    }
    if (type->kind == RILL_T_STRING) {
        rill_buf_reset(cstr);
        if (rill_buf_reserve(cstr, len + 1) != RILL_OK) return RILL_ENOMEM;
        if (len) memcpy(cstr->data, p, len);
        cstr->data[len] = '\0';
        const char *sp = (const char *)cstr->data;
        return encode(t, ser, type, &sp, buf, out, outlen, what);
    }
    return encode(t, ser, type, p, buf, out, outlen, what);
}

/* rill_send of what the topic's serializers encode first (not o->encoded). */
static rill_err_t send_one(rill_topic_t *t, const void *key, size_t key_len,
                           const void *value, size_t value_len,
                           const rill_send_opts_t *o) {
    rill_app_t *app = t->app;
    if (o && o->version != RILL_SEND_OPTS_VERSION) {
        rill__app_seterr(
            app,
            "send to '%s': the options were not made with RILL_SEND_OPTS_INIT "
            "(version %d, this library's is %d)",
            t->name, o->version, RILL_SEND_OPTS_VERSION);
        return RILL_EINVAL;
    }
    if (!t->vser) {
        rill__app_seterr(app, "send to '%s': the app is not started", t->name);
        return RILL_ESTATE;
    }
    const void *k, *v;
    size_t kl, vl;
    rill_err_t rc =
        wire(t, t->kser, t->ktype, key, key_len, &app->kstr, &app->kbuf, &k, &kl, "key");
    if (rc == RILL_OK)
        rc = wire(t, t->vser, t->vtype, value, value_len, &app->vstr, &app->vbuf, &v, &vl,
                  "value");
    if (rc != RILL_OK) return rc;
    return produce(t, k, kl, v, vl, o);
}

rill_err_t rill_send(rill_topic_t *t, const void *key, size_t key_len, const void *value,
                     size_t value_len, const rill_send_opts_t *o) {
    if (!t) return RILL_EINVAL;
    /* Encoded bytes go straight to produce: send_one's encoding stays off their path. */
    rill_err_t rc = o && o->encoded && o->version == RILL_SEND_OPTS_VERSION
                        ? produce(t, key, key_len, value, value_len, o)
                        : send_one(t, key, key_len, value, value_len, o);
    if (rc != RILL_OK) t->send_errors++; /* refused: /metrics' rill_send_errors_total */
    return rc;
}

static rill_err_t send_value(rill_topic_t *t, const void *value,
                             const rill_send_opts_t *o) {
    rill_app_t *app = t->app;
    if (!t->vser) {
        rill__app_seterr(app, "send to '%s': the app is not started", t->name);
        return RILL_ESTATE;
    }
    const void *v = NULL;
    size_t vl = 0;
    if (value && (!t->vtype || t->vtype->kind == RILL_T_BYTES)) {
        const rill_bytes_t *b = value;
        v = b->data ? b->data : (const void *)"";
        vl = b->len;
    } else if (value) {
        rill_err_t rc = encode(t, t->vser, t->vtype, value, &app->vbuf, &v, &vl, "value");
        if (rc != RILL_OK) return rc;
    }
    return produce(t, NULL, 0, v, vl, o);
}

rill_err_t rill__send_value(rill_topic_t *t, const void *value,
                            const rill_send_opts_t *o) {
    rill_err_t rc = send_value(t, value, o);
    if (rc != RILL_OK) t->send_errors++;
    return rc;
}

/* The consumed partition a write for partition @p p of something with @p partitions
 * partitions belongs to (its fence), or NULL. */
const rill_tpstate_t *rill__fence_for(rill_app_t *app, int32_t partitions, int32_t p) {
    if (p < 0 || p >= partitions) return NULL;
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (rill__copartitioned(t, partitions) && t->parts[p].assigned)
            return &t->parts[p];
    return NULL;
}
