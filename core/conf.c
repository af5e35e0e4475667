/* App configuration: a string map validated against a table of known keys
 * (librdkafka's rd_kafka_conf_set model). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "registry_int.h"

typedef enum { K_STR, K_URL, K_INT, K_ENUM, K_LEVEL, K_BOOL } ktype_t;

typedef struct known_key {
    const char *name;
    ktype_t type;
    const char *def;
    int64_t min, max;    /* K_INT */
    const char *choices; /* K_ENUM: "a|b|c" */
    const char *desc;
} known_key_t;

static const known_key_t known_keys[] = {
    {"broker", K_URL, "memory://", 0, 0, NULL,
     "Transport URL: memory://[name], kafka://host:port[,host:port], "
     "redis://host:port[/db]"},
    {"store", K_URL, "memory://", 0, 0, NULL,
     "Table store URL: memory:// or rocksdb:///path"},
    {"key_serializer", K_STR, "raw", 0, 0, NULL, "Default key serializer of topics"},
    {"value_serializer", K_STR, "json", 0, 0, NULL, "Default value serializer of topics"},
    {"topic.partitions", K_INT, "8", 1, 100000, NULL,
     "Partitions of topics the app creates when none is given"},
    {"topic.replication", K_INT, "1", 1, 100, NULL,
     "Replication factor of created topics"},
    {"commit.interval.ms", K_INT, "1000", 1, 3600000, NULL,
     "How often acked offsets are committed (and tables flushed)"},
    {"on_decode_error", K_ENUM, "skip", 0, 0, "skip|dead_letter|crash",
     "What to do with a message that cannot be decoded"},
    {"dead_letter.topic", K_STR, "", 0, 0, NULL,
     "Dead-letter topic (default <app>-dead-letter); its records carry the headers "
     "rill.error/topic/partition/offset and Kafka Streams' __streams.errors.exception/"
     "message/topic/partition/offset (KIP-1034)"},
    {"processing_guarantee", K_ENUM, "at_least_once", 0, 0, "at_least_once|exactly_once",
     "at_least_once, or exactly_once (Kafka transactions)"},
    {"exactly_once.verify_offsets", K_ENUM, "true", 0, 0, "true|false",
     "exactly_once: read the offsets of the run's first transaction back and stop the "
     "worker if the broker did not keep them (librdkafka's mock cluster drops them)"},
    {"table.standby_replicas", K_INT, "0", 0, 16, NULL,
     "Standby replicas: with 1 or more, every worker keeps a warm copy of each table "
     "partition it does not own (the count is a floor)"},
    {"table.changelog", K_ENUM, "per_commit", 0, 0, "per_commit|per_write",
     "per_commit: one changelog record per written key per commit interval, with its "
     "last value (Kafka Streams' record cache); per_write: one record per write"},
    {"table.key_partition_check", K_ENUM, "warn", 0, 0, "warn|refuse|off",
     "A handler's write of a key whose murmur2 partition is not its event's (kcat's "
     "default partitioner): warn stores it in the event's partition and logs once per "
     "table and partition; off stores it there silently; refuse fails the write "
     "(RILL_ENOTOWNER)"},
    {"table.recovery.stall.ms", K_INT, "60000", 100, 86400000, NULL,
     "Recovery that makes no progress this long fails loudly instead of hanging"},
    {"broker.timeout.ms", K_INT, "60000", 100, 86400000, NULL,
     "The worker dies (non-zero exit) when the broker is unreachable this long"},
    {"revoke.timeout.ms", K_INT, "30000", 1, 3600000, NULL,
     "How long a revoke waits for in-flight events before failing loudly"},
    {"lease.stall.ms", K_INT, "0", -1, 86400000, NULL,
     "A loop or process stall longer than this drops every partition as lost until "
     "the group confirms the member (0: half the transport's session timeout; -1: "
     "off)"},
    {"shutdown.timeout.ms", K_INT, "30000", 1, 3600000, NULL,
     "How long graceful shutdown waits for in-flight events and sends"},
    {"stream.buffer.maxsize", K_INT, "4096", 1, 10000000, NULL,
     "Events buffered per partition before that partition is paused"},
    {"forward.delayed", K_ENUM, "on", 0, 0, "on|off",
     "Durable delayed forwards (the internal topic <app>-delayed)"},
    {"web.port", K_INT, "0", 0, 65535, NULL, "Port of the HTTP status server (0: off)"},
    {"web.host", K_STR, "127.0.0.1", 0, 0, NULL, "Address the HTTP server binds"},
    {"web.token", K_STR, "", 0, 0, NULL,
     "Bearer token the HTTP server asks for on every path but /health (empty: none)"},
    {"web.timeout.ms", K_INT, "10000", 100, 3600000, NULL,
     "An idle or partial HTTP request is closed after this long"},
    {"web.max_connections", K_INT, "64", 1, 100000, NULL,
     "Open HTTP connections; past it a new one is answered 503 and closed"},
    {"web.events.interval.ms", K_INT, "1000", 50, 3600000, NULL,
     "How often /events sends the dashboard's snapshot"},
    {"web.events.max_subscribers", K_INT, "16", 1, 100000, NULL,
     "Subscribers of one event stream; past it a new one is answered 503"},
    {"web.events.buffer.bytes", K_INT, "262144", 1024, 1073741824, NULL,
     "A subscriber with more unsent bytes than this is dropped"},
    {"web.lag.interval.ms", K_INT, "5000", 0, 3600000, NULL,
     "How often the high watermarks behind consumer lag are read (0: never)"},
    {"web.lag.timeout.ms", K_INT, "100", 1, 60000, NULL,
     "How long one watermark read may take"},
    {"log.level", K_LEVEL, "info", 0, 0, NULL, "fatal, error, warn, info, debug, trace"},
    {"client.id", K_STR, "", 0, 0, NULL, "Client id (default <app>-<host>-<pid>)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL},
};

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
    for (const rill_prop_t *p = props; p && p->name; p++) {
        snprintf(full, sizeof full, "%s.%s", plugin, p->name);
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
    for (const known_key_t *k = known_keys; k->name; k++)
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

static const known_key_t *find_known(const char *key) {
    for (const known_key_t *k = known_keys; k->name; k++)
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

static bool enum_has(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        size_t m = strcspn(p, "|");
        if (m == n && strncmp(p, v, n) == 0) return true;
        p += m;
        if (*p == '|') p++;
    }
    return false;
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
    const known_key_t *k = find_known(key);
    if (!k) {
        /* "<backend>.<property>": validated by that backend when the app is created. */
        const char *dot = strchr(key, '.');
        char scheme[32];
        if (dot && dot != key && (size_t)(dot - key) < sizeof scheme && dot[1]) {
            memcpy(scheme, key, (size_t)(dot - key));
            scheme[dot - key] = '\0';
            if (rill__registry_has_prefix(scheme)) return put(c, key, value);
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
    switch (k->type) {
    case K_STR:
        break;
    case K_URL: {
        rill_url_t *u;
        char why[256];
        if (rill_url_parse(value, &u, why, sizeof why) != RILL_OK) {
            snprintf(errstr, errlen, "config key '%s': %s", key, why);
            return RILL_CONF_INVALID;
        }
        rill_url_destroy(u);
        break;
    }
    case K_INT: {
        errno = 0;
        char *end;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || errno || v < k->min || v > k->max) {
            snprintf(errstr, errlen,
                     "config key '%s': expected an integer from %lld to %lld, got '%s'",
                     key, (long long)k->min, (long long)k->max, value);
            return RILL_CONF_INVALID;
        }
        break;
    }
    case K_ENUM:
        if (!enum_has(k->choices, value)) {
            snprintf(errstr, errlen, "config key '%s': expected one of %s, got '%s'", key,
                     k->choices, value);
            return RILL_CONF_INVALID;
        }
        break;
    case K_BOOL:
        break;
    case K_LEVEL: {
        rill_log_level_t l;
        if (rill_log_level_parse(value, &l) != RILL_OK) {
            snprintf(errstr, errlen,
                     "config key '%s': expected fatal, error, warn, info, debug or "
                     "trace, got '%s'",
                     key, value);
            return RILL_CONF_INVALID;
        }
        c->logger.level = l;
        break;
    }
    }
    if (put(c, key, value) != RILL_CONF_OK) {
        snprintf(errstr, errlen, "out of memory");
        return RILL_CONF_INVALID;
    }
    return RILL_CONF_OK;
}

const char *rill_conf_get(const rill_conf_t *c, const char *key) {
    for (size_t i = 0; c && i < c->n; i++)
        if (strcmp(c->kv[i].key, key) == 0) return c->kv[i].value;
    const known_key_t *k = find_known(key);
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

void rill__conf_describe(void (*line)(const char *text, void *opaque), void *opaque) {
    char buf[512];
    line("| key | default | description |", opaque);
    line("|-----|---------|-------------|", opaque);
    for (const known_key_t *k = known_keys; k->name; k++) {
        snprintf(buf, sizeof buf, "| `%s` | `%s` | %s%s%s |", k->name, k->def, k->desc,
                 k->choices ? ": " : "", k->choices ? k->choices : "");
        line(buf, opaque);
    }
}
