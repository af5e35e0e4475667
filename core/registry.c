/* Registries of transports, stores and serializers, keyed by scheme, and
 * the construction of plugin instances (props filled before open). */
#include <stddef.h>
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

/* ---- instances: one open/destroy path for the three kinds -------------------------- */

/* What the shared path needs of one kind's instances.  The three instance structs
 * begin alike (ops, impl, log, name[32]) and the three ops structs have props and
 * impl_size: those are reached by offset (the props tables' offsetof trick), the
 * typed ops pointer and what a kind does around open and close by its hooks. */
typedef struct inst_kind {
    reg_kind_t *reg;  /* where the scheme is looked up */
    const char *noun; /* "transport": in messages */
    /* "broker URL": instances are named by a URL; NULL: by the scheme alone */
    const char *url_of;
    size_t size, impl_at, log_at, name_at; /* the instance struct's */
    size_t props_at, impl_size_at;         /* the ops struct's */
    /* false: "<scheme>.*" keys the props table lacks pass through (the plugin checks) */
    bool (*strict)(const void *ops);
    void (*bind)(void *inst, const void *ops); /* inst->ops = ops */
    /* before the props are applied (NULL: nothing); @p arg as given to inst_open */
    rill_err_t (*prepare)(void *inst, const void *arg);
    /* the plugin's open (its props already in impl) */
    rill_err_t (*open)(void *inst, const rill_url_t *u, const rill_conf_t *conf,
                       char *errstr, size_t errlen);
    void (*close)(void *inst); /* the plugin's close */
    bool close_failed;         /* close also a half-open instance (its open failed) */
} inst_kind_t;

#define INST_FIELD(k, inst, f, T) ((T *)((char *)(inst) + (k)->f##_at))
#define INST_NAME_SIZE 32
_Static_assert(sizeof(((rill_transport_t *)0)->name) == INST_NAME_SIZE &&
                   sizeof(((rill_store_t *)0)->name) == INST_NAME_SIZE &&
                   sizeof(((rill_serializer_t *)0)->name) == INST_NAME_SIZE,
               "instance names are char[INST_NAME_SIZE]");

static const rill_prop_t *ops_props(const inst_kind_t *k, const void *ops) {
    return *(const rill_prop_t *const *)((const char *)ops + k->props_at);
}
static size_t ops_impl_size(const inst_kind_t *k, const void *ops) {
    return *(const size_t *)((const char *)ops + k->impl_size_at);
}

/* "memory, kafka, redis": every scheme of the kind, built-in then registered. */
static void list_schemes(const reg_kind_t *k, char *out, size_t size) {
    size_t n = 0;
    out[0] = '\0';
    const void *ops;
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0;; i++) {
            ops = pass == 0 ? k->builtin(i) : i < MAX_USER ? k->users[i] : NULL;
            if (!ops) break;
            int w = snprintf(out + n, size - n, "%s%s", n ? ", " : "", k->key(ops));
            if (w < 0 || (size_t)w >= size - n) return; /* truncated */
            n += (size_t)w;
        }
    }
}

static void inst_free(const inst_kind_t *k, void *inst, const void *ops) {
    void **impl = INST_FIELD(k, inst, impl, void *);
    rill_props_free(ops_props(k, ops), *impl);
    free(*impl);
    free(inst);
}

/* An instance of the plugin that @p name (a URL, or for kinds without url_of a
 * scheme) names: impl_size zeroed bytes, the props from @p conf and the URL's query,
 * then the plugin's open.  NULL with @p errstr filled when any step fails; what was
 * set up is released (and a half-open instance closed, for close_failed kinds). */
static void *inst_open(const inst_kind_t *k, const char *name, const rill_conf_t *conf,
                       const rill_logger_t *lg, const void *arg, char *errstr,
                       size_t errlen) {
    rill_url_t *u = NULL;
    const char *scheme = name;
    if (k->url_of) {
        if (rill_url_parse(name, &u, errstr, errlen) != RILL_OK) return NULL;
        scheme = u->scheme;
    }
    const void *ops = reg_find(k->reg, scheme);
    if (!ops) {
        char known[256];
        list_schemes(k->reg, known, sizeof known);
        if (k->url_of)
            snprintf(errstr, errlen,
                     "%s '%s': no %s registered for scheme '%s' (registered: %s)",
                     k->url_of, name, k->noun, scheme, known);
        else
            snprintf(errstr, errlen, "no %s registered for scheme '%s' (registered: %s)",
                     k->noun, scheme ? scheme : "(null)", known);
        rill_url_destroy(u);
        return NULL;
    }
    void *inst = calloc(1, k->size);
    size_t impl_size = ops_impl_size(k, ops);
    void *impl = inst ? calloc(1, impl_size ? impl_size : 1) : NULL;
    if (!impl) {
        free(inst);
        rill_url_destroy(u);
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    k->bind(inst, ops);
    *INST_FIELD(k, inst, impl, void *) = impl;
    *INST_FIELD(k, inst, log, const rill_logger_t *) = lg ? lg : rill__logger_default();
    snprintf(INST_FIELD(k, inst, name, char), INST_NAME_SIZE, "%s", k->reg->key(ops));
    rill_err_t rc = k->prepare ? k->prepare(inst, arg) : RILL_OK;
    if (rc == RILL_OK)
        rc = rill_props_apply(ops_props(k, ops), impl, k->reg->key(ops), conf, u,
                              !k->strict || k->strict(ops), errstr, errlen);
    if (rc == RILL_OK) rc = k->open(inst, u, conf, errstr, errlen);
    rill_url_destroy(u);
    if (rc != RILL_OK) {
        if (k->close_failed) k->close(inst);
        inst_free(k, inst, ops);
        return NULL;
    }
    return inst;
}

/* Close and free @p inst (not NULL), an instance of @p ops. */
static void inst_destroy(const inst_kind_t *k, void *inst, const void *ops) {
    k->close(inst);
    inst_free(k, inst, ops);
}

/* ---- serializers ---- */

static void serializer_bind(void *inst, const void *ops) {
    ((rill_serializer_t *)inst)->ops = ops;
}
static rill_err_t serializer_open(void *inst, const rill_url_t *u,
                                  const rill_conf_t *conf, char *errstr, size_t errlen) {
    (void)u;
    rill_serializer_t *s = inst;
    return s->ops->open ? s->ops->open(s, conf, errstr, errlen) : RILL_OK;
}
static void serializer_close(void *inst) {
    rill_serializer_t *s = inst;
    if (s->ops->close) s->ops->close(s);
}

static const inst_kind_t serializer_instances = {
    .reg = &serializers,
    .noun = "serializer",
    .size = sizeof(rill_serializer_t),
    .impl_at = offsetof(rill_serializer_t, impl),
    .log_at = offsetof(rill_serializer_t, log),
    .name_at = offsetof(rill_serializer_t, name),
    .props_at = offsetof(struct rill_serializer_ops, props),
    .impl_size_at = offsetof(struct rill_serializer_ops, impl_size),
    .bind = serializer_bind,
    .open = serializer_open,
    .close = serializer_close,
    .close_failed = false, /* a serializer's close sees only what its open made */
};

rill_serializer_t *rill__serializer_open(const char *name, const rill_conf_t *conf,
                                         const rill_logger_t *lg, char *errstr,
                                         size_t errlen) {
    return inst_open(&serializer_instances, name, conf, lg, NULL, errstr, errlen);
}

rill_serializer_t *rill_serializer_new(const char *name, const rill_conf_t *conf,
                                       char *errstr, size_t errlen) {
    return rill__serializer_open(name, conf, NULL, errstr, errlen);
}

void rill_serializer_destroy(rill_serializer_t *s) {
    if (s) inst_destroy(&serializer_instances, s, s->ops);
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

/* ---- stores ---- */

static void store_bind(void *inst, const void *ops) {
    ((rill_store_t *)inst)->ops = ops;
}
static rill_err_t store_open(void *inst, const rill_url_t *u, const rill_conf_t *conf,
                             char *errstr, size_t errlen) {
    rill_store_t *s = inst;
    return s->ops->open(s, u, conf, errstr, errlen);
}
static void store_close(void *inst) {
    rill_store_t *s = inst;
    s->ops->close(s);
}

static const inst_kind_t store_instances = {
    .reg = &stores,
    .noun = "store",
    .url_of = "store URL",
    .size = sizeof(rill_store_t),
    .impl_at = offsetof(rill_store_t, impl),
    .log_at = offsetof(rill_store_t, log),
    .name_at = offsetof(rill_store_t, name),
    .props_at = offsetof(struct rill_store_ops, props),
    .impl_size_at = offsetof(struct rill_store_ops, impl_size),
    .bind = store_bind,
    .open = store_open,
    .close = store_close,
    .close_failed = true, /* store.h: close "accepts a half-open s" */
};

rill_store_t *rill__store_open(const char *url, const rill_conf_t *conf,
                               const rill_logger_t *lg, char *errstr, size_t errlen) {
    if (url && !strncasecmp(url, RILL__FAULTY_PREFIX, strlen(RILL__FAULTY_PREFIX)))
        return rill__fault_store_open(url, conf, lg, errstr, errlen);
    return inst_open(&store_instances, url, conf, lg, NULL, errstr, errlen);
}

rill_store_t *rill_store_new(const char *url, const rill_conf_t *conf, char *errstr,
                             size_t errlen) {
    return rill__store_open(url, conf, NULL, errstr, errlen);
}

void rill_store_destroy(rill_store_t *s) {
    if (s) inst_destroy(&store_instances, s, s->ops);
}

/* ---- transports ---- */

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

static bool transport_strict(const void *ops) {
    return !(((const struct rill_transport_ops *)ops)->features &
             RILL_TRANSPORT_F_PASSTHROUGH);
}
static void transport_bind(void *inst, const void *ops) {
    ((rill_transport_t *)inst)->ops = ops;
}

/* What rill__transport_open hands its instance before the props. */
typedef struct transport_arg {
    struct event_base *base;
    const rill_transport_handlers_t *h;
    const char *client_id;
} transport_arg_t;

static rill_err_t transport_prepare(void *inst, const void *arg) {
    rill_transport_t *t = inst;
    const transport_arg_t *a = arg;
    t->base = a->base;
    t->client_id = a->client_id;
    return rill__tr_attach(t, a->h);
}
static rill_err_t transport_open(void *inst, const rill_url_t *u, const rill_conf_t *conf,
                                 char *errstr, size_t errlen) {
    rill_transport_t *t = inst;
    return t->ops->open(t, u, conf, errstr, errlen);
}
static void transport_close(void *inst) {
    rill_transport_t *t = inst;
    t->h = &quiet_handlers;
    rill__tr_closing(t);
    t->ops->close(t);
    rill__tr_detach(t);
}

static const inst_kind_t transport_instances = {
    .reg = &transports,
    .noun = "transport",
    .url_of = "broker URL",
    .size = sizeof(rill_transport_t),
    .impl_at = offsetof(rill_transport_t, impl),
    .log_at = offsetof(rill_transport_t, log),
    .name_at = offsetof(rill_transport_t, name),
    .props_at = offsetof(struct rill_transport_ops, props),
    .impl_size_at = offsetof(struct rill_transport_ops, impl_size),
    .strict = transport_strict,
    .bind = transport_bind,
    .prepare = transport_prepare,
    .open = transport_open,
    .close = transport_close,
    .close_failed = true, /* transport.h: close accepts a half-open transport */
};

rill_transport_t *rill__transport_open(const char *url, const rill_conf_t *conf,
                                       struct event_base *base,
                                       const rill_transport_handlers_t *h,
                                       const char *client_id, const rill_logger_t *lg,
                                       char *errstr, size_t errlen) {
    if (url && !strncasecmp(url, RILL__FAULTY_PREFIX, strlen(RILL__FAULTY_PREFIX)))
        return rill__fault_transport_open(url, conf, base, h, client_id, lg, errstr,
                                          errlen);
    transport_arg_t arg = {base, h, client_id};
    return inst_open(&transport_instances, url, conf, lg, &arg, errstr, errlen);
}

rill_transport_t *rill_transport_new(const char *url, const rill_conf_t *conf,
                                     struct event_base *base,
                                     const rill_transport_handlers_t *h,
                                     const char *client_id, char *errstr, size_t errlen) {
    return rill__transport_open(url, conf, base, h, client_id, NULL, errstr, errlen);
}

void rill_transport_destroy(rill_transport_t *t) {
    if (t) inst_destroy(&transport_instances, t, t->ops);
}
