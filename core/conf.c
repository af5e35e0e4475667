/* App configuration: a string map validated against a table of known keys
 * (librdkafka's rd_kafka_conf_set model). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "registry_int.h"

/* The app's own keys, in rill_prop_t (plugin.h) like every plugin's properties and
 * checked by the same validator (props.c); their offsets are unused (the conf is a
 * string map: the core reads a key with rill_conf_get).  docs/CONFIGURATION.md lists
 * them (tests/unit/test_conf_doc.c checks it against this table). */
static const rill_prop_t core_props[] = {
    {"broker", RILL_PROP_URL, "memory://", 0,
     "Transport URL: memory://[name], kafka://host:port[,host:port], "
     "redis://host:port[/db]"},
    {"store", RILL_PROP_URL, "memory://", 0,
     "Table store URL: memory:// or rocksdb:///path"},
    {"key_serializer", RILL_PROP_STR, "raw", 0, "Default key serializer of topics"},
    {"value_serializer", RILL_PROP_STR, "json", 0, "Default value serializer of topics"},
    {"topic.partitions", RILL_PROP_INT, "8", 0,
     "Partitions of topics the app creates when none is given", .min = 1, .max = 100000},
    {"topic.replication", RILL_PROP_INT, "1", 0, "Replication factor of created topics",
     .min = 1, .max = 100},
    {"commit.interval.ms", RILL_PROP_INT, "1000", 0,
     "How often acked offsets are committed (and tables flushed)", .min = 1,
     .max = 3600000},
    {"on_decode_error", RILL_PROP_ENUM, "skip", 0,
     "What to do with a message that cannot be decoded",
     .choices = "skip|dead_letter|crash"},
    {"dead_letter.topic", RILL_PROP_STR, "", 0,
     "Dead-letter topic (default <app>-dead-letter); its records carry the headers "
     "rill.error/topic/partition/offset and Kafka Streams' __streams.errors.exception/"
     "message/topic/partition/offset (KIP-1034)"},
    {"processing_guarantee", RILL_PROP_ENUM, "at_least_once", 0,
     "at_least_once, or exactly_once (Kafka transactions)",
     .choices = "at_least_once|exactly_once"},
    {"exactly_once.verify_offsets", RILL_PROP_BOOL, "true", 0,
     "exactly_once: read the offsets of the run's first transaction back and stop the "
     "worker if the broker did not keep them (librdkafka's mock cluster drops them)"},
    {"table.standby_replicas", RILL_PROP_INT, "0", 0,
     "Standby replicas: with 1 or more, every worker keeps a warm copy of each table "
     "partition it does not own (the count is a floor)",
     .min = 0, .max = 16},
    {"table.changelog", RILL_PROP_ENUM, "per_commit", 0,
     "per_commit: one changelog record per written key per commit interval, with its "
     "last value (Kafka Streams' record cache); per_write: one record per write",
     .choices = "per_commit|per_write"},
    {"table.key_partition_check", RILL_PROP_ENUM, "warn", 0,
     "A handler's write of a key whose murmur2 partition is not its event's (kcat's "
     "default partitioner): warn stores it in the event's partition and logs once per "
     "table and partition; off stores it there silently; refuse fails the write "
     "(RILL_ENOTOWNER)",
     .choices = "warn|refuse|off"},
    {"table.recovery.stall.ms", RILL_PROP_INT, "60000", 0,
     "Recovery that makes no progress this long fails loudly instead of hanging",
     .min = 100, .max = 86400000},
    {"broker.timeout.ms", RILL_PROP_INT, "60000", 0,
     "The worker dies (non-zero exit) when the broker is unreachable this long",
     .min = 100, .max = 86400000},
    {"revoke.timeout.ms", RILL_PROP_INT, "30000", 0,
     "How long a revoke waits for in-flight events before failing loudly", .min = 1,
     .max = 3600000},
    {"lease.stall.ms", RILL_PROP_INT, "0", 0,
     "A loop or process stall longer than this drops every partition as lost until "
     "the group confirms the member (0: half the transport's session timeout; -1: "
     "off)",
     .min = -1, .max = 86400000},
    {"shutdown.timeout.ms", RILL_PROP_INT, "30000", 0,
     "How long graceful shutdown waits for in-flight events and sends", .min = 1,
     .max = 3600000},
    {"stream.buffer.maxsize", RILL_PROP_INT, "4096", 0,
     "Events buffered per partition before that partition is paused", .min = 1,
     .max = 10000000},
    {"forward.delayed", RILL_PROP_ENUM, "on", 0,
     "Durable delayed forwards (the internal topic <app>-delayed)", .choices = "on|off"},
    {"web.port", RILL_PROP_INT, "0", 0, "Port of the HTTP status server (0: off)",
     .min = 0, .max = 65535},
    {"web.host", RILL_PROP_STR, "127.0.0.1", 0, "Address the HTTP server binds"},
    {"web.token", RILL_PROP_STR, "", 0,
     "Bearer token the HTTP server asks for on every path but /health (empty: none)"},
    {"web.advertised_url", RILL_PROP_STR, "", 0,
     "URL other workers and the dashboard reach this worker's server at (empty: "
     "http://<web.host>:<web.port>)"},
    {"web.workers.expiry.ms", RILL_PROP_INT, "60000", 0,
     "A worker not heard from for this long is left out of routing and the dashboard "
     "(each refreshes its entry every third of it)",
     .min = 300, .max = 86400000},
    {"web.timeout.ms", RILL_PROP_INT, "10000", 0,
     "An idle or partial HTTP request is closed after this long", .min = 100,
     .max = 3600000},
    {"web.max_connections", RILL_PROP_INT, "64", 0,
     "Open HTTP connections; past it a new one is answered 503 and closed", .min = 1,
     .max = 100000},
    {"web.events.interval.ms", RILL_PROP_INT, "1000", 0,
     "How often /events sends the dashboard's snapshot", .min = 50, .max = 3600000},
    {"web.events.max_subscribers", RILL_PROP_INT, "16", 0,
     "Subscribers of one event stream; past it a new one is answered 503", .min = 1,
     .max = 100000},
    {"web.events.buffer.bytes", RILL_PROP_INT, "262144", 0,
     "A subscriber with more unsent bytes than this is dropped", .min = 1024,
     .max = 1073741824},
    {"web.lag.interval.ms", RILL_PROP_INT, "5000", 0,
     "How often the high watermarks behind consumer lag are read (0: never)", .min = 0,
     .max = 3600000},
    {"web.lag.timeout.ms", RILL_PROP_INT, "100", 0,
     "How long one watermark read may take", .min = 1, .max = 60000},
    {"log.level", RILL_PROP_ENUM, "info", 0, "Least severe level logged",
     .choices = "fatal|error|warn|warning|info|debug|trace"},
    {"client.id", RILL_PROP_STR, "", 0, "Client id (default <app>-<host>-<pid>)"},
    {NULL},
};

const rill_prop_t *rill__conf_props(void) {
    return core_props;
}

/* ---- "did you mean": the known key closest to a mistyped one ------------------------
 */

extern const struct rill_transport_ops *const rill__builtin_transports[];
extern const struct rill_store_ops *const rill__builtin_stores[];
extern const struct rill_serializer_ops *const rill__builtin_serializers[];

/* Levenshtein distance of two short strings (longer ones count as far apart). */
static size_t edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 127 || m > 127) return (size_t)-1;
    size_t row[128];
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

typedef struct suggest {
    const char *key;
    size_t best;
    char name[160];
} suggest_t;

static void consider(suggest_t *s, const char *candidate, size_t d) {
    if (d < s->best) {
        s->best = d;
        snprintf(s->name, sizeof s->name, "%s", candidate);
    }
}

/* "<plugin>.<prop>" of every prop a built-in plugin declares; and the key with its
 * prefix replaced by the plugin name that prefix is a typo of ("kafak.acks"). */
static void consider_plugin(suggest_t *s, const char *plugin, const rill_prop_t *props) {
    char full[160];
    rill_prop_t p;
    for (size_t i = 0; rill__prop_at(props, i, &p); i++) {
        snprintf(full, sizeof full, "%s.%s", plugin, p.name);
        consider(s, full, edit_distance(s->key, full));
    }
    const char *dot = strchr(s->key, '.');
    if (!dot || !dot[1] || (size_t)(dot - s->key) >= 64) return;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(dot - s->key), s->key);
    size_t d = edit_distance(prefix, plugin);
    if (d && d <= 2) {
        snprintf(full, sizeof full, "%s%s", plugin, dot);
        consider(s, full, d);
    }
}

bool rill__conf_suggest(const char *key, char *out, size_t outlen) {
    suggest_t s = {key, (size_t)-1, ""};
    for (const rill_prop_t *k = core_props; k->name; k++)
        consider(&s, k->name, edit_distance(key, k->name));
    for (size_t i = 0; rill__builtin_transports[i]; i++)
        consider_plugin(&s, rill__builtin_transports[i]->scheme,
                        rill__builtin_transports[i]->props);
    for (size_t i = 0; rill__builtin_stores[i]; i++)
        consider_plugin(&s, rill__builtin_stores[i]->scheme,
                        rill__builtin_stores[i]->props);
    for (size_t i = 0; rill__builtin_serializers[i]; i++)
        consider_plugin(&s, rill__builtin_serializers[i]->name,
                        rill__builtin_serializers[i]->props);
    size_t limit = strlen(key) / 4 > 2 ? strlen(key) / 4 : 2;
    if (!s.name[0] || s.best > limit) return false;
    snprintf(out, outlen, "%s", s.name);
    return true;
}

static const rill_prop_t *find_known(const char *key) {
    for (const rill_prop_t *k = core_props; k->name; k++)
        if (strcmp(k->name, key) == 0) return k;
    return NULL;
}

rill_conf_t *rill_conf_new(void) {
    rill_conf_t *c = calloc(1, sizeof *c);
    if (c) c->logger.level = rill__logger_default()->level; /* $RILL_LOG_LEVEL or info */
    return c;
}

void rill_conf_destroy(rill_conf_t *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->kv[i].key);
        free(c->kv[i].value);
    }
    free(c->kv);
    free(c);
}

static rill_conf_res_t put(rill_conf_t *c, const char *key, const char *value) {
    char *v = strdup(value);
    if (!v) return RILL_CONF_INVALID;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->kv[i].key, key) == 0) {
            free(c->kv[i].value);
            c->kv[i].value = v;
            return RILL_CONF_OK;
        }
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        rill_conf_kv_t *kv = realloc(c->kv, cap * sizeof *kv);
        if (!kv) {
            free(v);
            return RILL_CONF_INVALID;
        }
        c->kv = kv;
        c->cap = cap;
    }
    if (!(c->kv[c->n].key = strdup(key))) {
        free(v);
        return RILL_CONF_INVALID;
    }
    c->kv[c->n++].value = v;
    return RILL_CONF_OK;
}

rill_conf_t *rill_conf_dup(const rill_conf_t *c) {
    rill_conf_t *d = rill_conf_new();
    if (!d) return NULL;
    d->logger = c->logger;
    for (size_t i = 0; i < c->n; i++) {
        if (put(d, c->kv[i].key, c->kv[i].value) != RILL_CONF_OK) {
            rill_conf_destroy(d);
            return NULL;
        }
    }
    return d;
}

rill_conf_res_t rill_conf_set(rill_conf_t *c, const char *key, const char *value,
                              char *errstr, size_t errlen) {
    char dummy[1];
    if (!errstr || !errlen) {
        errstr = dummy;
        errlen = sizeof dummy;
    }
    if (!key || !value) {
        snprintf(errstr, errlen, "config key and value must not be NULL");
        return RILL_CONF_INVALID;
    }
    const rill_prop_t *k = find_known(key);
    char where[192];
    snprintf(where, sizeof where, "config key '%s'", key);
    rill__prop_value_t v;
    if (!k) {
        /* "<backend>.<property>": checked now against the property when a registered
         * backend of that name declares it (every one that does: a transport, a store
         * and a serializer may share a name); other keys of a known backend are the
         * backend's to judge when the app is created (kafka.* goes to librdkafka). */
        const char *dot = strchr(key, '.');
        char scheme[32];
        if (dot && dot != key && (size_t)(dot - key) < sizeof scheme && dot[1]) {
            memcpy(scheme, key, (size_t)(dot - key));
            scheme[dot - key] = '\0';
            if (rill__registry_has_prefix(scheme)) {
                rill_prop_t decl[3];
                size_t n = rill__registry_props(scheme, dot + 1, decl);
                for (size_t i = 0; i < n; i++)
                    if (rill__prop_parse(&decl[i], where, value, &v, errstr, errlen))
                        return RILL_CONF_INVALID;
                if (put(c, key, value) != RILL_CONF_OK) {
                    snprintf(errstr, errlen, "out of memory");
                    return RILL_CONF_INVALID;
                }
                return RILL_CONF_OK;
            }
        }
        char near[160];
        if (rill__conf_suggest(key, near, sizeof near))
            snprintf(errstr, errlen, "unknown config key '%s': did you mean '%s'?", key,
                     near);
        else
            snprintf(errstr, errlen,
                     "unknown config key '%s' (see docs/CONFIGURATION.md; backend "
                     "properties are '<backend>.<name>', e.g. kafka.acks)",
                     key);
        return RILL_CONF_UNKNOWN;
    }
    if (rill__prop_parse(k, where, value, &v, errstr, errlen) != RILL_OK)
        return RILL_CONF_INVALID;
    /* the canonical text: the core compares enum words and "true" with strcmp */
    if (put(c, key, v.text) != RILL_CONF_OK) {
        snprintf(errstr, errlen, "out of memory");
        return RILL_CONF_INVALID;
    }
    if (strcmp(key, "log.level") == 0) {
        rill_log_level_t l;
        if (rill_log_level_parse(v.text, &l) == RILL_OK) c->logger.level = l;
    }
    return RILL_CONF_OK;
}

const char *rill_conf_get(const rill_conf_t *c, const char *key) {
    for (size_t i = 0; c && i < c->n; i++)
        if (strcmp(c->kv[i].key, key) == 0) return c->kv[i].value;
    const rill_prop_t *k = find_known(key);
    return k ? k->def : NULL;
}

int64_t rill_conf_get_int(const rill_conf_t *c, const char *key, int64_t def) {
    const char *v = rill_conf_get(c, key);
    if (!v || !*v) return def;
    char *end;
    long long r = strtoll(v, &end, 10);
    return *end ? def : r;
}

void rill_conf_foreach(const rill_conf_t *c, const char *prefix,
                       void (*cb)(const char *key, const char *value, void *opaque),
                       void *opaque) {
    size_t n = prefix ? strlen(prefix) : 0;
    for (size_t i = 0; c && i < c->n; i++)
        if (!n || strncmp(c->kv[i].key, prefix, n) == 0)
            cb(c->kv[i].key, c->kv[i].value, opaque);
}

void rill_conf_set_log_cb(rill_conf_t *c, rill_log_cb cb, void *opaque) {
    c->logger.cb = cb;
    c->logger.opaque = opaque;
}

static void describe_plugin(void (*line)(const char *text, void *opaque), void *opaque,
                            const char *name, const rill_prop_t *props) {
    char buf[1024];
    rill_prop_t p;
    for (size_t i = 0; rill__prop_at(props, i, &p); i++) {
        rill__prop_row(&p, name, buf, sizeof buf);
        line(buf, opaque);
    }
}

void rill__conf_describe(void (*line)(const char *text, void *opaque), void *opaque) {
    char buf[1024];
    line("| key | default | description |", opaque);
    line("|-----|---------|-------------|", opaque);
    for (const rill_prop_t *k = core_props; k->name; k++) {
        rill__prop_row(k, NULL, buf, sizeof buf);
        line(buf, opaque);
    }
    line("", opaque);
    line("| key | default | description |", opaque);
    line("|-----|---------|-------------|", opaque);
    for (size_t i = 0; rill__builtin_transports[i]; i++)
        describe_plugin(line, opaque, rill__builtin_transports[i]->scheme,
                        rill__builtin_transports[i]->props);
    for (size_t i = 0; rill__builtin_stores[i]; i++)
        describe_plugin(line, opaque, rill__builtin_stores[i]->scheme,
                        rill__builtin_stores[i]->props);
    for (size_t i = 0; rill__builtin_serializers[i]; i++)
        describe_plugin(line, opaque, rill__builtin_serializers[i]->name,
                        rill__builtin_serializers[i]->props);
}
