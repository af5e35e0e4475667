/* Topics bound to streams rill did not create, and entries rill did not write.
 *
 * "redis.topic.<topic>.<option>" conf keys (docs/redis.md, "Existing streams"):
 *   stream        one stream (a single partition), a comma-separated list (one
 *                 partition each, in order), or a pattern with {p}; default
 *                 "<topic>:{p}"
 *   start         where a partition starts when the group has no committed ID:
 *                 0 (the beginning), $ (new entries only), an ID (the entries after
 *                 it, as XGROUP CREATE), or group (the Redis consumer group's own
 *                 position); default group with redis.group, else 0
 *   value         rill (the fields key, value, headers, ts) or entry (the whole
 *                 entry as a JSON object)
 *   value.field   the value is this field (implies value=field)
 *   key.field     the key is this field; none: keyless (default: key for rill,
 *                 none otherwise)
 *   value.strings fields kept as JSON strings in value=entry even when they look
 *                 like numbers (comma-separated) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "redis_int.h"

static const char *const OPTS[] = {"value.strings", "value.field", "key.field",
                                   "stream",        "start",       "value"};

static void bind_free(rbind_t *b) {
    for (size_t i = 0; i < b->nstreams; i++)
        free(b->streams[i]);
    free(b->streams);
    for (size_t i = 0; i < b->nstrings; i++)
        free(b->strings[i]);
    free(b->strings);
    free(b->topic);
    free(b->stream);
    free(b->start);
    free(b->value_field);
    free(b->key_field);
    free(b);
}

void rill__redis_bind_free_all(rctx_t *r) {
    while (r->binds) {
        rbind_t *b = r->binds;
        r->binds = b->next;
        bind_free(b);
    }
}

const rbind_t *rill__redis_bind(const rctx_t *r, const char *topic) {
    for (const rbind_t *b = r->binds; b; b = b->next)
        if (!strcmp(b->topic, topic)) return b;
    return NULL;
}

static rbind_t *bind_get(rctx_t *r, const char *topic, size_t len) {
    for (rbind_t *b = r->binds; b; b = b->next)
        if (strlen(b->topic) == len && !strncmp(b->topic, topic, len)) return b;
    rbind_t *b = calloc(1, sizeof *b);
    if (!b || !(b->topic = strndup(topic, len))) {
        free(b);
        return NULL;
    }
    b->next = r->binds;
    r->binds = b;
    return b;
}

/* Split @p s at commas into @p out (trimmed, none empty). */
static bool split_list(const char *s, char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    for (const char *p = s; *p;) {
        size_t m = strcspn(p, ",");
        const char *a = p, *e = p + m;
        while (a < e && *a == ' ')
            a++;
        while (e > a && e[-1] == ' ')
            e--;
        if (e == a) return false;
        char **v = realloc(*out, (*n + 1) * sizeof *v);
        if (!v) return false;
        *out = v;
        if (!(v[*n] = strndup(a, (size_t)(e - a)))) return false;
        ++*n;
        p += m;
        if (*p == ',') p++;
    }
    return *n > 0;
}

/* "0", "ms" or "ms-seq" as the offset of that ID; -1 when it is none. */
static int64_t start_id(const char *s) {
    char buf[64];
    if (!strcmp(s, "0")) return 0;
    if (!strchr(s, '-')) {
        snprintf(buf, sizeof buf, "%s-0", s);
        s = buf;
    }
    return rill__redis_id_parse(s, strlen(s));
}

static rill_err_t bind_set(rctx_t *r, rbind_t *b, const char *key, const char *opt,
                           const char *value, char *errstr, size_t errlen) {
    char **dst = NULL;
    if (!strcmp(opt, "stream")) {
        if (!*value) goto bad;
        free(b->stream);
        if (!(b->stream = strdup(value))) return RILL_ENOMEM;
        for (size_t i = 0; i < b->nstreams; i++)
            free(b->streams[i]);
        free(b->streams);
        b->streams = NULL;
        b->nstreams = 0;
        const char *ph = strstr(value, "{p}");
        if (ph) {
            if (strchr(value, ',') || strstr(ph + 3, "{p}")) {
                snprintf(errstr, errlen,
                         "config key '%s': a pattern has one {p} and no commas: '%s'",
                         key, value);
                return RILL_ECONF;
            }
            b->pattern = true;
        } else {
            b->pattern = false;
            if (!split_list(value, &b->streams, &b->nstreams)) goto bad;
        }
        return RILL_OK;
    }
    if (!strcmp(opt, "start")) {
        if (strcmp(value, "$") && strcmp(value, "group") && start_id(value) < 0) {
            snprintf(errstr, errlen,
                     "config key '%s': '%s' is not a start position: 0, $, group or a "
                     "stream ID (ms-seq)",
                     key, value);
            return RILL_ECONF;
        }
        dst = &b->start;
    } else if (!strcmp(opt, "value")) {
        if (!strcmp(value, "rill"))
            b->value = RV_RILL;
        else if (!strcmp(value, "entry"))
            b->value = RV_ENTRY;
        else if (!strcmp(value, "field"))
            b->value = RV_FIELD;
        else {
            snprintf(errstr, errlen,
                     "config key '%s': expected rill, entry or field, got '%s'", key,
                     value);
            return RILL_ECONF;
        }
        b->value_set = true;
        return RILL_OK;
    } else if (!strcmp(opt, "value.field")) {
        if (!*value) goto bad;
        dst = &b->value_field;
    } else if (!strcmp(opt, "key.field")) {
        b->key_set = true;
        free(b->key_field);
        b->key_field = NULL;
        if (!strcmp(value, "none") || !*value) return RILL_OK;
        dst = &b->key_field;
    } else if (!strcmp(opt, "value.strings")) {
        for (size_t i = 0; i < b->nstrings; i++)
            free(b->strings[i]);
        free(b->strings);
        if (!split_list(value, &b->strings, &b->nstrings)) goto bad;
        return RILL_OK;
    }
    free(*dst);
    return (*dst = strdup(value)) ? RILL_OK : RILL_ENOMEM;
bad:
    (void)r;
    snprintf(errstr, errlen, "config key '%s': invalid value '%s'", key, value);
    return RILL_ECONF;
}

typedef struct walk {
    rctx_t *r;
    rill_err_t rc;
    char *errstr;
    size_t errlen;
} walk_t;

static void conf_one(const char *key, const char *value, void *opaque) {
    walk_t *w = opaque;
    if (w->rc) return;
    const char *k = key + 6; /* "redis." */
    for (const rill_prop_t *p = w->r->t->ops->props; p->name; p++)
        if (!strcmp(p->name, k)) return; /* set by the core */
    if (!strncmp(k, "topic.", 6)) {
        const char *rest = k + 6;
        size_t rl = strlen(rest);
        for (size_t i = 0; i < sizeof OPTS / sizeof OPTS[0]; i++) {
            size_t ol = strlen(OPTS[i]);
            if (rl > ol + 1 && rest[rl - ol - 1] == '.' &&
                !strcmp(rest + rl - ol, OPTS[i])) {
                rbind_t *b = bind_get(w->r, rest, rl - ol - 1);
                w->rc = b ? bind_set(w->r, b, key, OPTS[i], value, w->errstr, w->errlen)
                          : RILL_ENOMEM;
                return;
            }
        }
        snprintf(w->errstr, w->errlen,
                 "unknown config key '%s': topic options are redis.topic.<topic>."
                 "{stream,start,value,value.field,key.field,value.strings}",
                 key);
        w->rc = RILL_ECONF;
        return;
    }
    snprintf(w->errstr, w->errlen, "unknown config key '%s'", key);
    w->rc = RILL_ECONF;
}

rill_err_t rill__redis_bind_parse(rctx_t *r, const rill_conf_t *conf,
                                  const rill_url_t *url, char *errstr, size_t errlen) {
    for (size_t i = 0; url && i < url->nparams; i++) {
        const rill_prop_t *p = r->t->ops->props;
        while (p->name && strcmp(p->name, url->params[i].key))
            p++;
        if (!p->name) {
            snprintf(errstr, errlen, "URL '%s': unknown parameter '%s'", url->raw,
                     url->params[i].key);
            return RILL_EURL;
        }
    }
    walk_t w = {r, RILL_OK, errstr, errlen};
    if (conf) rill_conf_foreach(conf, "redis.", conf_one, &w);
    if (w.rc) return w.rc;
    for (rbind_t *b = r->binds; b; b = b->next) {
        if (b->value_field && b->value_set && b->value != RV_FIELD) {
            snprintf(errstr, errlen,
                     "topic '%s': redis.topic.%s.value.field names the value's field, "
                     "but redis.topic.%s.value is not field",
                     b->topic, b->topic, b->topic);
            return RILL_ECONF;
        }
        if (b->value_field) b->value = RV_FIELD;
        if (b->value == RV_FIELD && !b->value_field) {
            snprintf(errstr, errlen,
                     "topic '%s': value=field needs redis.topic.%s.value.field", b->topic,
                     b->topic);
            return RILL_ECONF;
        }
        if (!b->key_set && b->value == RV_RILL && !(b->key_field = strdup("key")))
            return RILL_ENOMEM;
        if (b->nstrings && b->value != RV_ENTRY) {
            snprintf(
                errstr, errlen,
                "topic '%s': redis.topic.%s.value.strings applies to value=entry only",
                b->topic, b->topic);
            return RILL_ECONF;
        }
    }
    return RILL_OK;
}

bool rill__redis_stream_key(const rctx_t *r, const char *topic, int32_t p, char *buf,
                            size_t n) {
    const rbind_t *b = rill__redis_bind(r, topic);
    int len;
    if (!b || !b->stream) {
        len = snprintf(buf, n, "%s:%d", topic, (int)p);
    } else if (b->pattern) {
        const char *ph = strstr(b->stream, "{p}");
        len = snprintf(buf, n, "%.*s%d%s", (int)(ph - b->stream), b->stream, (int)p,
                       ph + 3);
    } else {
        if (p < 0 || (size_t)p >= b->nstreams) return false;
        len = snprintf(buf, n, "%s", b->streams[p]);
    }
    return len > 0 && (size_t)len < n;
}

/* ---- consuming: an entry into a message's key and value ---------------------------- */

static const redisReply *field_of(const redisReply *f, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len == n && !memcmp(k->str, name, n))
            return f->element[i + 1];
    }
    return NULL;
}

static bool is_string_field(const rbind_t *b, const char *name, size_t len) {
    for (size_t i = 0; i < b->nstrings; i++)
        if (strlen(b->strings[i]) == len && !memcmp(b->strings[i], name, len))
            return true;
    return false;
}

/* A field's value as JSON: a JSON number, true, false or null stays one, an object
 * or array given as JSON text too; anything else is a string. */
static json_t *typed(const char *s, size_t len) {
    if (len && (strchr("-0123456789tfn[{", s[0]))) {
        json_t *j = json_loadb(s, len, JSON_DECODE_ANY, NULL);
        if (j && !json_is_string(j)) return j;
        json_decref(j);
    }
    return json_stringn(s, len);
}

char *rill__redis_entry_json(const rbind_t *b, const redisReply *f) {
    json_t *o = json_object();
    for (size_t i = 0; o && i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        char name[256];
        if (k->len >= sizeof name) continue;
        memcpy(name, k->str, k->len);
        name[k->len] = '\0';
        json_t *j = is_string_field(b, k->str, k->len) ? json_stringn(v->str, v->len)
                                                       : typed(v->str, v->len);
        if (!j || json_object_set_new(o, name, j)) {
            json_decref(o);
            return NULL;
        }
    }
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

int rill__redis_map_entry(const rbind_t *b, const redisReply *f, rill_msg_t *m,
                          char **owned, char *why, size_t whylen) {
    *owned = NULL;
    if (b->key_field) {
        const redisReply *k = field_of(f, b->key_field);
        if (!k || k->type != REDIS_REPLY_STRING) {
            snprintf(why, whylen, "has no field '%s' (the key: redis.topic.%s.key.field)",
                     b->key_field, b->topic);
            return -1;
        }
        m->key = k->str;
        m->key_len = k->len;
    }
    if (b->value == RV_FIELD) {
        const redisReply *v = field_of(f, b->value_field);
        if (!v || v->type != REDIS_REPLY_STRING) {
            snprintf(why, whylen,
                     "has no field '%s' (the value: redis.topic.%s.value.field)",
                     b->value_field, b->topic);
            return -1;
        }
        m->value = v->str;
        m->value_len = v->len;
        return 0;
    }
    if (!(*owned = rill__redis_entry_json(b, f))) {
        snprintf(why, whylen, "cannot be turned into a JSON object (out of memory)");
        return -1;
    }
    m->value = *owned;
    m->value_len = strlen(*owned);
    return 0;
}

/* ---- producing: a message as plain fields ---------------------------------------- */

rill_err_t rill__redis_fields_of(const rbind_t *b, const rill_produce_t *m,
                                 rfields_t *out, char *errstr, size_t errlen) {
    memset(out, 0, sizeof *out);
    size_t cap = 8;
    out->argv = calloc(cap, sizeof *out->argv);
    out->lens = calloc(cap, sizeof *out->lens);
    if (!out->argv || !out->lens) return RILL_ENOMEM;
#define PUT(p, l)                                                                        \
    do {                                                                                 \
        if (out->n + 2 > cap) {                                                          \
            cap *= 2;                                                                    \
            const char **a = realloc(out->argv, cap * sizeof *a);                        \
            if (a) out->argv = a;                                                        \
            size_t *ls = realloc(out->lens, cap * sizeof *ls);                           \
            if (ls) out->lens = ls;                                                      \
            if (!a || !ls) return RILL_ENOMEM;                                           \
        }                                                                                \
        out->argv[out->n] = (p);                                                         \
        out->lens[out->n++] = (l);                                                       \
    } while (0)
    bool key_done = !b->key_field || !m->key;
    if (b->value == RV_FIELD) {
        if (m->value) {
            PUT(b->value_field, strlen(b->value_field));
            PUT(m->value, m->value_len);
        }
    } else if (m->value) {
        json_t *o = json_loadb(m->value, m->value_len, 0, NULL);
        out->json = o;
        if (!json_is_object(o)) {
            snprintf(
                errstr, errlen,
                "topic '%s' is written as plain entries (redis.topic.%s.value=entry): "
                "its values must encode as JSON objects (a record type with the json "
                "serializer)",
                b->topic, b->topic);
            return RILL_EINVAL;
        }
        const char *name;
        json_t *v;
        size_t nf = json_object_size(o);
        if (!(out->texts = calloc(nf ? nf : 1, sizeof *out->texts))) return RILL_ENOMEM;
        json_object_foreach(o, name, v) {
            if (!strcmp(name, "__faust") || json_is_null(v)) continue; /* Faust's meta */
            if (json_is_string(v)) {
                PUT(name, strlen(name));
                PUT(json_string_value(v), json_string_length(v));
            } else {
                char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                if (!t) return RILL_ENOMEM;
                out->texts[out->ntexts++] = t;
                PUT(name, strlen(name));
                PUT(t, strlen(t));
            }
            if (b->key_field && !strcmp(name, b->key_field)) key_done = true;
        }
    }
    if (!key_done) {
        PUT(b->key_field, strlen(b->key_field));
        PUT(m->key, m->key_len);
    }
    if (!out->n) {
        snprintf(errstr, errlen,
                 "topic '%s': a plain entry needs a field, and this message gives none "
                 "(a tombstone or an empty record)",
                 b->topic);
        return RILL_EINVAL;
    }
#undef PUT
    return RILL_OK;
}

void rill__redis_fields_free(rfields_t *f) {
    for (size_t i = 0; i < f->ntexts; i++)
        free(f->texts[i]);
    free(f->texts);
    free(f->argv);
    free(f->lens);
    json_decref(f->json);
    memset(f, 0, sizeof *f);
}
