/* Registries of transports, stores and serializers, keyed by scheme, and
 * the construction of plugin instances (props filled before open). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend_int.h"
#include "conf_int.h"
#include "fault_int.h"
#include "registry_int.h"

/* Generated from the enabled backends (build/generated/builtins.c). */
extern const struct rill_transport_ops *const rill__builtin_transports[];
extern const struct rill_store_ops *const rill__builtin_stores[];
extern const struct rill_serializer_ops *const rill__builtin_serializers[];

/* One registration list per plugin kind, on one base: the built-ins (generated),
 * then what rill_register_*() added, looked up by scheme (ops.scheme, all three);
 * registration checks the ABI version range, the required slots and the name. */
#define MAX_USER 32

typedef struct reg_kind {
    const void *(*builtin)(size_t i); /* the i-th built-in, NULL past the last */
    const void *users[MAX_USER];
    unsigned abi_max;
    unsigned (*abi)(const void *ops);
    const char *(*key)(const void *ops);
    bool (*complete)(const void *ops); /* every slot the core calls is there */
} reg_kind_t;

static const void *reg_find(const reg_kind_t *k, const char *key) {
    if (!key) return NULL;
    const void *b;
    for (size_t i = 0; (b = k->builtin(i)); i++)
        if (strcmp(k->key(b), key) == 0) return b;
    for (size_t i = 0; i < MAX_USER && k->users[i]; i++)
        if (strcmp(k->key(k->users[i]), key) == 0) return k->users[i];
    return NULL;
}

static rill_err_t reg_add(reg_kind_t *k, const void *ops) {
    if (!ops || k->abi(ops) < 1 || k->abi(ops) > k->abi_max || !k->complete(ops))
        return RILL_EINVAL;
    const char *key = k->key(ops);
    if (!key || !*key || strlen(key) >= 32) return RILL_EINVAL;
    if (reg_find(k, key)) return RILL_EEXIST;
    for (size_t i = 0; i < MAX_USER; i++) {
        if (!k->users[i]) {
            k->users[i] = ops;
            return RILL_OK;
        }
    }
    return RILL_ENOMEM;
}

/* Every slot the core calls without checking, and the optional ones its feature
 * bits promise: a transport without them would crash at start, not here. */
static bool transport_complete(const void *ops) {
    const struct rill_transport_ops *o = ops;
    if (!o->open || !o->close || !o->declare || !o->produce || !o->flush ||
        !o->subscribe || !o->unsubscribe || !o->pause || !o->resume || !o->seek ||
        !o->commit || !o->committed)
        return false;
    /* ABI 3: reader handles and identified revokes; before it, by topic name (the
     * core adapts those, backend.c) */
    if (o->abi >= 3 ? !o->reader_start || !o->reader_stop || !o->revoke_answer
                    : !o->revoke_done || !o->reader_open || !o->reader_close)
        return false;
    if ((o->features & RILL_TRANSPORT_F_WATERMARKS) && !o->watermarks) return false;
    if ((o->features & RILL_TRANSPORT_F_TXN) &&
        (!o->txn_begin || !o->txn_offsets || !o->txn_commit || !o->txn_abort))
        return false;
    return true;
}
static const void *transport_builtin(size_t i) {
    return rill__builtin_transports[i];
}
static unsigned transport_abi(const void *ops) {
    return ((const struct rill_transport_ops *)ops)->abi;
}
static const char *transport_key(const void *ops) {
    return ((const struct rill_transport_ops *)ops)->scheme;
}

/* Every slot the core calls (backend.c). */
static bool store_complete(const void *ops) {
    const struct rill_store_ops *o = ops;
    return o->open && o->close && o->part_open && o->part_close && o->get && o->write &&
           o->scan && o->offset && o->stats && o->drop;
}
static const void *store_builtin(size_t i) {
    return rill__builtin_stores[i];
}
static unsigned store_abi(const void *ops) {
    return ((const struct rill_store_ops *)ops)->abi;
}
static const char *store_key(const void *ops) {
    return ((const struct rill_store_ops *)ops)->scheme;
}

static bool serializer_complete(const void *ops) {
    const struct rill_serializer_ops *o = ops;
    return o->encode && o->decode;
}
static const void *serializer_builtin(size_t i) {
    return rill__builtin_serializers[i];
}
static unsigned serializer_abi(const void *ops) {
    return ((const struct rill_serializer_ops *)ops)->abi;
}
static const char *serializer_key(const void *ops) {
    return ((const struct rill_serializer_ops *)ops)->scheme;
}

static reg_kind_t transports = {
    .builtin = transport_builtin,
    .abi_max = RILL_TRANSPORT_ABI,
    .abi = transport_abi,
    .key = transport_key,
    .complete = transport_complete,
};
static reg_kind_t stores = {
    .builtin = store_builtin,
    .abi_max = RILL_STORE_ABI,
    .abi = store_abi,
    .key = store_key,
    .complete = store_complete,
};
static reg_kind_t serializers = {
    .builtin = serializer_builtin,
    .abi_max = RILL_SERIALIZER_ABI,
    .abi = serializer_abi,
    .key = serializer_key,
    .complete = serializer_complete,
};

const struct rill_transport_ops *rill_transport_find(const char *scheme) {
    return reg_find(&transports, scheme);
}

const struct rill_store_ops *rill_store_find(const char *scheme) {
    return reg_find(&stores, scheme);
}

const struct rill_serializer_ops *rill_serializer_find(const char *name) {
    return reg_find(&serializers, name);
}

rill_err_t rill_register_transport(const struct rill_transport_ops *ops) {
    return reg_add(&transports, ops);
}

rill_err_t rill_register_store(const struct rill_store_ops *ops) {
    return reg_add(&stores, ops);
}

rill_err_t rill_register_serializer(const struct rill_serializer_ops *ops) {
    return reg_add(&serializers, ops);
}

bool rill__registry_has_prefix(const char *scheme) {
    return rill_transport_find(scheme) || rill_store_find(scheme) ||
           rill_serializer_find(scheme);
}

size_t rill__registry_props(const char *prefix, const char *name, rill_prop_t out[3]) {
    const struct rill_transport_ops *t = rill_transport_find(prefix);
    const struct rill_store_ops *st = rill_store_find(prefix);
    const struct rill_serializer_ops *se = rill_serializer_find(prefix);
    size_t n = 0;
    if (t && rill__prop_find(t->props, name, &out[n])) n++;
    if (st && rill__prop_find(st->props, name, &out[n])) n++;
    if (se && rill__prop_find(se->props, name, &out[n])) n++;
    return n;
}

/* Plugins of different kinds may share a name (the memory transport and the memory
 * store): their "<name>.*" keys are one namespace, and a key one of them declares
 * is not unknown to the other. */
bool rill__registry_prop_known(const char *prefix, const char *name) {
    rill_prop_t decl[3];
    return rill__registry_props(prefix, name, decl) > 0;
}

/* ---- instances --------------------------------------------------------------------- */

static void *alloc_impl(size_t size) {
    return calloc(1, size ? size : 1);
}

rill_serializer_t *rill__serializer_open(const char *name, const rill_conf_t *conf,
                                         const rill_logger_t *lg, char *errstr,
                                         size_t errlen) {
    const struct rill_serializer_ops *ops = rill_serializer_find(name);
    if (!ops) {
        snprintf(errstr, errlen, "unknown serializer '%s'", name ? name : "(null)");
        return NULL;
    }
    rill_serializer_t *s = calloc(1, sizeof *s);
    if (!s || !(s->impl = alloc_impl(ops->impl_size))) {
        free(s);
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    s->ops = ops;
    s->log = lg ? lg : rill__logger_default();
    snprintf(s->name, sizeof s->name, "%s", ops->scheme);
    if (rill_props_apply(ops->props, s->impl, ops->scheme, conf, NULL, true, errstr,
                         errlen) != RILL_OK ||
        (ops->open && ops->open(s, conf, errstr, errlen) != RILL_OK)) {
        rill_props_free(ops->props, s->impl);
        free(s->impl);
        free(s);
        return NULL;
    }
    return s;
}

rill_serializer_t *rill_serializer_new(const char *name, const rill_conf_t *conf,
                                       char *errstr, size_t errlen) {
    return rill__serializer_open(name, conf, NULL, errstr, errlen);
}

void rill_serializer_destroy(rill_serializer_t *s) {
    if (!s) return;
    if (s->ops->close) s->ops->close(s);
    rill_props_free(s->ops->props, s->impl);
    free(s->impl);
    free(s);
}

rill_err_t rill_serializer_encode(rill_serializer_t *s, const rill_type_t *type,
                                  const void *value, rill_buf_t *out, char *errstr,
                                  size_t errlen) {
    return s->ops->encode(s, type, value, out, errstr, errlen);
}

rill_err_t rill_serializer_decode(rill_serializer_t *s, const rill_type_t *type,
                                  const void *data, size_t len, void *value, char *errstr,
                                  size_t errlen) {
    return s->ops->decode(s, type, data, len, value, errstr, errlen);
}

rill_store_t *rill__store_open(const char *url, const rill_conf_t *conf,
                               const rill_logger_t *lg, char *errstr, size_t errlen) {
    if (url && !strncasecmp(url, RILL__FAULTY_PREFIX, strlen(RILL__FAULTY_PREFIX)))
        return rill__fault_store_open(url, conf, lg, errstr, errlen);
    rill_url_t *u;
    if (rill_url_parse(url, &u, errstr, errlen) != RILL_OK) return NULL;
    const struct rill_store_ops *ops = rill_store_find(u->scheme);
    if (!ops) {
        snprintf(errstr, errlen, "store URL '%s': no store registered for scheme '%s'",
                 url, u->scheme);
        rill_url_destroy(u);
        return NULL;
    }
    rill_store_t *s = calloc(1, sizeof *s);
    if (!s || !(s->impl = alloc_impl(ops->impl_size))) {
        free(s);
        rill_url_destroy(u);
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    s->ops = ops;
    s->log = lg ? lg : rill__logger_default();
    snprintf(s->name, sizeof s->name, "%s", ops->scheme);
    rill_err_t rc =
        rill_props_apply(ops->props, s->impl, ops->scheme, conf, u, true, errstr, errlen);
    if (rc == RILL_OK) rc = ops->open(s, u, conf, errstr, errlen);
    rill_url_destroy(u);
    if (rc != RILL_OK) {
        ops->close(s);
        rill_props_free(ops->props, s->impl);
        free(s->impl);
        free(s);
        return NULL;
    }
    return s;
}

rill_store_t *rill_store_new(const char *url, const rill_conf_t *conf, char *errstr,
                             size_t errlen) {
    return rill__store_open(url, conf, NULL, errstr, errlen);
}

void rill_store_destroy(rill_store_t *s) {
    if (!s) return;
    s->ops->close(s);
    rill_props_free(s->ops->props, s->impl);
    free(s->impl);
    free(s);
}

/* What a transport reaches while it closes.  close() must call no handler, but a
 * client library it flushes there may still serve queued events (librdkafka's
 * rd_kafka_flush polls: "connect failed" errors went to the app's error handler
 * from a half-open transport the app had no pointer to yet, and crashed it).  So
 * close runs against handlers that do nothing, whatever the transport does. */
static void quiet_messages(rill_transport_t *t, const rill_msg_t *msgs, size_t n,
                           void *opaque) {
    (void)t, (void)msgs, (void)n, (void)opaque;
}
static void quiet_tps(rill_transport_t *t, const rill_tp_t *tps, size_t n, void *opaque) {
    (void)t, (void)tps, (void)n, (void)opaque;
}
static void quiet_revoked(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                          void *opaque) {
    (void)t, (void)tps, (void)n, (void)lost, (void)opaque;
}
static void quiet_eof(rill_transport_t *t, const char *topic, int32_t partition,
                      int64_t end, void *opaque) {
    (void)t, (void)topic, (void)partition, (void)end, (void)opaque;
}
static void quiet_revoke(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                         rill_revoke_t rv, void *opaque) {
    (void)t, (void)tps, (void)n, (void)lost, (void)rv, (void)opaque;
}
static void quiet_writable(rill_transport_t *t, void *opaque) {
    (void)t, (void)opaque;
}
static void quiet_error(rill_transport_t *t, rill_err_t err, bool fatal, const char *msg,
                        void *opaque) {
    (void)err, (void)fatal, (void)opaque;
    rill_log(t->log, RILL_LOG_DEBUG, t->name, "while closing: %s", msg ? msg : "");
}
static const rill_transport_handlers_t quiet_handlers = {
    .messages = quiet_messages,
    .assigned = quiet_tps,
    .revoked = quiet_revoked,
    .reader_messages = quiet_messages,
    .reader_eof = quiet_eof,
    .writable = quiet_writable,
    .error = quiet_error,
    .revoke_request = quiet_revoke,
};

static void transport_free(rill_transport_t *t) {
    t->h = &quiet_handlers;
    rill__tr_closing(t);
    t->ops->close(t);
    rill__tr_detach(t);
    rill_props_free(t->ops->props, t->impl);
    free(t->impl);
    free(t);
}

rill_transport_t *rill__transport_open(const char *url, const rill_conf_t *conf,
                                       struct event_base *base,
                                       const rill_transport_handlers_t *h,
                                       const char *client_id, const rill_logger_t *lg,
                                       char *errstr, size_t errlen) {
    if (url && !strncasecmp(url, RILL__FAULTY_PREFIX, strlen(RILL__FAULTY_PREFIX)))
        return rill__fault_transport_open(url, conf, base, h, client_id, lg, errstr,
                                          errlen);
    rill_url_t *u;
    if (rill_url_parse(url, &u, errstr, errlen) != RILL_OK) return NULL;
    const struct rill_transport_ops *ops = rill_transport_find(u->scheme);
    if (!ops) {
        snprintf(errstr, errlen,
                 "broker URL '%s': no transport registered for scheme '%s' (built in: "
                 "memory%s%s)",
                 url, u->scheme, rill_transport_find("kafka") ? ", kafka" : "",
                 rill_transport_find("redis") ? ", redis" : "");
        rill_url_destroy(u);
        return NULL;
    }
    rill_transport_t *t = calloc(1, sizeof *t);
    if (!t || !(t->impl = alloc_impl(ops->impl_size))) {
        free(t);
        rill_url_destroy(u);
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    t->ops = ops;
    t->log = lg ? lg : rill__logger_default();
    t->base = base;
    t->client_id = client_id;
    snprintf(t->name, sizeof t->name, "%s", ops->scheme);
    rill_err_t rc = rill__tr_attach(t, h);
    if (rc == RILL_OK)
        rc = rill_props_apply(ops->props, t->impl, ops->scheme, conf, u,
                              !(ops->features & RILL_TRANSPORT_F_PASSTHROUGH), errstr,
                              errlen);
    if (rc == RILL_OK) rc = ops->open(t, u, conf, errstr, errlen);
    rill_url_destroy(u);
    if (rc != RILL_OK) {
        transport_free(t);
        return NULL;
    }
    return t;
}

rill_transport_t *rill_transport_new(const char *url, const rill_conf_t *conf,
                                     struct event_base *base,
                                     const rill_transport_handlers_t *h,
                                     const char *client_id, char *errstr, size_t errlen) {
    return rill__transport_open(url, conf, base, h, client_id, NULL, errstr, errlen);
}

void rill_transport_destroy(rill_transport_t *t) {
    if (!t) return;
    transport_free(t);
}
