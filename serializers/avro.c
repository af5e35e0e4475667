/* "avro": Avro binary via avro-c, schemas derived from the record field tables,
 * optional Confluent framing (magic 0 + schema id) with schema resolution. */
#include <avro.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_int.h"
#include "rill/avro.h"
#include "rill/serializer.h"

/* ---- process-wide registry: overrides, ids, lookup
 * ---------------------------------------- */

typedef struct reg {
    const rill_schema_t *schema;
    char *json; /* override, or NULL */
    int32_t id; /* Confluent id, or -1 */
    struct reg *next;
} reg_t;

static reg_t *regs;
static rill_avro_lookup_fn lookup_fn;
static void *lookup_opaque;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static reg_t *reg_get(const rill_schema_t *s, bool create) {
    for (reg_t *r = regs; r; r = r->next)
        if (r->schema == s) return r;
    if (!create) return NULL;
    reg_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->schema = s;
    r->id = -1;
    r->next = regs;
    regs = r;
    return r;
}

void rill_avro_set_schema_lookup(rill_avro_lookup_fn fn, void *opaque) {
    pthread_mutex_lock(&reg_lock);
    lookup_fn = fn;
    lookup_opaque = opaque;
    pthread_mutex_unlock(&reg_lock);
}

rill_err_t rill_avro_set_schema_id(const rill_schema_t *s, int32_t id) {
    if (id < 0) return RILL_EINVAL;
    pthread_mutex_lock(&reg_lock);
    reg_t *r = reg_get(s, true);
    if (r) r->id = id;
    pthread_mutex_unlock(&reg_lock);
    return r ? RILL_OK : RILL_ENOMEM;
}

rill_err_t rill_avro_set_schema(const rill_schema_t *s, const char *json, char *errstr,
                                size_t errlen) {
    avro_schema_t sc;
    if (avro_schema_from_json_length(json, strlen(json), &sc)) {
        snprintf(errstr, errlen, "Avro schema for '%s': %s", s->ns ? s->ns : s->name,
                 avro_strerror());
        return RILL_EINVAL;
    }
    avro_schema_decref(sc);
    pthread_mutex_lock(&reg_lock);
    reg_t *r = reg_get(s, true);
    char *dup = strdup(json);
    if (r && dup) {
        free(r->json);
        r->json = dup;
    } else {
        free(dup);
    }
    pthread_mutex_unlock(&reg_lock);
    return r && dup ? RILL_OK : RILL_ENOMEM;
}

/* ---- schema derivation
 * ------------------------------------------------------------------- */

#define PUTS(b, s)                                                                       \
    do {                                                                                 \
        rill_err_t rc_ = rill_buf_append((b), (s), strlen(s));                           \
        if (rc_) return rc_;                                                             \
    } while (0)

typedef struct names {
    const rill_schema_t *seen[64];
    int n;
} names_t;

static rill_err_t type_json(const rill_type_t *t, rill_buf_t *b, names_t *nm);

static rill_err_t record_json(const rill_schema_t *s, rill_buf_t *b, names_t *nm) {
    const char *full = s->ns ? s->ns : s->name;
    for (int i = 0; i < nm->n; i++)
        if (nm->seen[i] == s) { /* a named type is defined once, then referenced */
            PUTS(b, "\"");
            PUTS(b, full);
            PUTS(b, "\"");
            return RILL_OK;
        }
    if (nm->n < 64) nm->seen[nm->n++] = s;
    const char *dot = strrchr(full, '.');
    PUTS(b, "{\"type\":\"record\",\"name\":\"");
    if (dot) {
        PUTS(b, dot + 1);
        PUTS(b, "\",\"namespace\":\"");
        rill_err_t rc = rill_buf_append(b, full, (size_t)(dot - full));
        if (rc) return rc;
    } else {
        PUTS(b, full);
    }
    PUTS(b, "\",\"fields\":[");
    for (size_t i = 0; i < s->nfields; i++) {
        const rill_field_t *f = &s->fields[i];
        if (i) PUTS(b, ",");
        PUTS(b, "{\"name\":\"");
        PUTS(b, f->name);
        PUTS(b, "\",\"type\":");
        bool nullable = (f->flags & RILL_FIELD_OPTIONAL) &&
                        (f->type.kind == RILL_T_STRING || f->type.kind == RILL_T_BYTES ||
                         f->type.kind == RILL_T_RECORD);
        if (nullable) PUTS(b, "[\"null\",");
        rill_err_t rc = type_json(&f->type, b, nm);
        if (rc) return rc;
        if (nullable) {
            PUTS(b, "],\"default\":null");
        } else if (f->flags & RILL_FIELD_OPTIONAL) {
            char d[64] = "";
            switch (f->type.kind) {
            case RILL_T_INT64:
            case RILL_T_DATETIME:
                snprintf(d, sizeof d, ",\"default\":%lld", (long long)f->def.i);
                break;
            case RILL_T_DOUBLE:
                snprintf(d, sizeof d, ",\"default\":%.17g", f->def.d);
                break;
            case RILL_T_BOOL:
                snprintf(d, sizeof d, ",\"default\":%s", f->def.b ? "true" : "false");
                break;
            default:
                break;
            }
            PUTS(b, d);
        }
        PUTS(b, "}");
    }
    PUTS(b, "]}");
    return RILL_OK;
}

static rill_err_t type_json(const rill_type_t *t, rill_buf_t *b, names_t *nm) {
    char tmp[128];
    switch (t->kind) {
    case RILL_T_STRING:
        PUTS(b, "\"string\"");
        return RILL_OK;
    case RILL_T_INT64:
        PUTS(b, "\"long\"");
        return RILL_OK;
    case RILL_T_DOUBLE:
        PUTS(b, "\"double\"");
        return RILL_OK;
    case RILL_T_BOOL:
        PUTS(b, "\"boolean\"");
        return RILL_OK;
    case RILL_T_BYTES:
        PUTS(b, "\"bytes\"");
        return RILL_OK;
    case RILL_T_DATETIME:
        PUTS(b, "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}");
        return RILL_OK;
    case RILL_T_DECIMAL:
        snprintf(tmp, sizeof tmp,
                 "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":%u,"
                 "\"scale\":%u}",
                 t->precision ? t->precision : 18, t->scale);
        PUTS(b, tmp);
        return RILL_OK;
    case RILL_T_RECORD:
        return record_json(t->record, b, nm);
    case RILL_T_ARRAY: {
        PUTS(b, "{\"type\":\"array\",\"items\":");
        rill_err_t rc = type_json(t->elem, b, nm);
        if (rc) return rc;
        PUTS(b, "}");
        return RILL_OK;
    }
    case RILL_T_MAP: {
        PUTS(b, "{\"type\":\"map\",\"values\":");
        rill_err_t rc = type_json(t->elem, b, nm);
        if (rc) return rc;
        PUTS(b, "}");
        return RILL_OK;
    }
    }
    return RILL_EINVAL;
}

static rill_err_t schema_json_of(const rill_type_t *t, rill_buf_t *out) {
    if (t->kind == RILL_T_RECORD) {
        pthread_mutex_lock(&reg_lock);
        reg_t *r = reg_get(t->record, false);
        rill_err_t rc =
            r && r->json ? rill_buf_append(out, r->json, strlen(r->json)) : RILL_ENOENT;
        pthread_mutex_unlock(&reg_lock);
        if (rc != RILL_ENOENT) return rc;
    }
    names_t nm = {0};
    return type_json(t, out, &nm);
}

rill_err_t rill_avro_schema_json(const rill_schema_t *s, rill_buf_t *out) {
    return schema_json_of(&(rill_type_t){.kind = RILL_T_RECORD, .record = s}, out);
}

/* ---- per-instance cache of compiled schemas
 * ------------------------------------------------ */

typedef struct compiled {
    rill_type_t type; /* key: kind + record/elem pointers */
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value; /* reused for every encode/decode */
    bool direct;        /* the schema rill derives: avro_direct.c reads and writes it */
    struct compiled *next;
} compiled_t;

/* A writer's schema by id.  Values are read with the writer's own schema and then
 * matched to the reader's record field by field, by name (avro-c's resolver does
 * not apply reader defaults, so evolution is done here): new optional fields keep
 * their defaults, removed fields are skipped, int/float widen to long/double. */
typedef struct writer_cache {
    int32_t id;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    const struct compiled *eq_of; /* the reader schema last compared with */
    bool eq;                      /* ... and whether it is the same schema */
    struct writer_cache *next;
} writer_cache_t;

typedef struct avro_ctx {
    bool confluent;
    compiled_t *compiled;
    writer_cache_t *writers;
} avro_ctx_t;

static const rill_prop_t avro_props[] = {
    {"confluent", RILL_PROP_BOOL, "false", offsetof(avro_ctx_t, confluent),
     "Confluent wire format: magic byte 0 + 4-byte schema id before the Avro binary"},
    {NULL},
};

static compiled_t *compile(avro_ctx_t *c, const rill_type_t *t, char *errstr,
                           size_t errlen) {
    for (compiled_t *x = c->compiled; x; x = x->next)
        if (x->type.kind == t->kind && x->type.record == t->record &&
            x->type.elem == t->elem && x->type.scale == t->scale)
            return x;
    rill_buf_t js = RILL_BUF_INIT;
    if (schema_json_of(t, &js) != RILL_OK) {
        rill_buf_free(&js);
        snprintf(errstr, errlen, "cannot derive an Avro schema");
        return NULL;
    }
    compiled_t *x = calloc(1, sizeof *x);
    if (!x || avro_schema_from_json_length((const char *)js.data, js.len, &x->schema)) {
        snprintf(errstr, errlen, "Avro schema %.*s: %s",
                 (int)(js.len > 200 ? 200 : js.len), (const char *)js.data,
                 avro_strerror());
        free(x);
        rill_buf_free(&js);
        return NULL;
    }
    /* avro_direct.c writes the derived schema: an override may differ */
    rill_buf_t derived = RILL_BUF_INIT;
    names_t nm = {0};
    x->direct = type_json(t, &derived, &nm) == RILL_OK && derived.len == js.len &&
                !memcmp(derived.data, js.data, js.len);
    rill_buf_free(&derived);
    rill_buf_free(&js);
    x->type = *t;
    x->iface = avro_generic_class_from_schema(x->schema);
    if (!x->iface || avro_generic_value_new(x->iface, &x->value)) {
        snprintf(errstr, errlen, "Avro: %s", avro_strerror());
        if (x->iface) avro_value_iface_decref(x->iface);
        avro_schema_decref(x->schema);
        free(x);
        return NULL;
    }
    x->next = c->compiled;
    c->compiled = x;
    return x;
}

static void avro_close(rill_serializer_t *s) {
    avro_ctx_t *c = s->impl;
    while (c->compiled) {
        compiled_t *x = c->compiled;
        c->compiled = x->next;
        avro_value_decref(&x->value);
        avro_value_iface_decref(x->iface);
        avro_schema_decref(x->schema);
        free(x);
    }
    while (c->writers) {
        writer_cache_t *w = c->writers;
        c->writers = w->next;
        avro_value_decref(&w->value);
        avro_value_iface_decref(w->iface);
        avro_schema_decref(w->schema);
        free(w);
    }
}

/* ---- C value -> avro value
 * ---------------------------------------------------------------- */

static rill_err_t to_avro(const rill_type_t *t, const void *v, avro_value_t *a,
                          const char *path, char *errstr, size_t errlen);

static rill_err_t decimal_bytes(rill_decimal_t d, uint8_t out[8], size_t *n) {
    /* big-endian two's complement, minimal length */
    uint64_t u = (uint64_t)d.unscaled;
    uint8_t full[8];
    for (int i = 7; i >= 0; i--, u >>= 8)
        full[i] = (uint8_t)u;
    size_t start = 0;
    while (start < 7 && ((full[start] == 0 && !(full[start + 1] & 0x80)) ||
                         (full[start] == 0xff && (full[start + 1] & 0x80))))
        start++;
    *n = 8 - start;
    memcpy(out, full + start, *n);
    return RILL_OK;
}

/* "path.name" without printf: this runs for every field of every value. */
static void join(char *out, size_t n, const char *path, const char *name) {
    size_t pl = strlen(path), nl = strlen(name), w = 0;
    if (pl + nl + 2 > n) pl = nl = 0;
    memcpy(out, path, pl);
    w = pl;
    if (pl) out[w++] = '.';
    memcpy(out + w, name, nl);
    out[w + nl] = '\0';
}

/* Field @p i of the record: by position when the Avro record declares the same
 * field there (derived schemas always do), else by name (other writers). */
static int field_of(avro_value_t *a, size_t i, const char *name, avro_value_t *out) {
    const char *got = NULL;
    size_t n = 0;
    if (!avro_value_get_size(a, &n) && i < n &&
        !avro_value_get_by_index(a, i, out, &got) && got && !strcmp(got, name))
        return 0;
    return avro_value_get_by_name(a, name, out, NULL);
}

static rill_err_t rec_to_avro(const rill_schema_t *s, const void *rec, avro_value_t *a,
                              const char *path, char *errstr, size_t errlen) {
    for (size_t i = 0; i < s->nfields; i++) {
        const rill_field_t *f = &s->fields[i];
        avro_value_t fv;
        if (field_of(a, i, f->name, &fv)) {
            snprintf(errstr, errlen, "field '%s%s%s': not in the Avro schema", path,
                     *path ? "." : "", f->name);
            return RILL_EENCODE;
        }
        char sub[256];
        join(sub, sizeof sub, path, f->name);
        const void *m = (const char *)rec + f->offset;
        avro_type_t at = avro_value_get_type(&fv);
        if (at == AVRO_UNION) {
            bool null =
                (f->type.kind == RILL_T_STRING && !*(char *const *)m) ||
                (f->type.kind == RILL_T_BYTES && !((const rill_bytes_t *)m)->data) ||
                (f->type.kind == RILL_T_RECORD && !*(void *const *)m);
            avro_value_t br;
            if (avro_value_set_branch(&fv, null ? 0 : 1, &br)) {
                snprintf(errstr, errlen, "field '%s': %s", sub, avro_strerror());
                return RILL_EENCODE;
            }
            if (null) {
                avro_value_set_null(&br);
                continue;
            }
            rill_err_t rc = to_avro(&f->type, m, &br, sub, errstr, errlen);
            if (rc) return rc;
            continue;
        }
        rill_err_t rc = to_avro(&f->type, m, &fv, sub, errstr, errlen);
        if (rc) return rc;
    }
    return RILL_OK;
}

static rill_err_t to_avro(const rill_type_t *t, const void *v, avro_value_t *a,
                          const char *path, char *errstr, size_t errlen) {
    int e = 0;
    switch (t->kind) {
    case RILL_T_STRING: {
        const char *s = *(char *const *)v;
        if (!s) {
            snprintf(errstr, errlen, "field '%s': required string is NULL", path);
            return RILL_EENCODE;
        }
        e = avro_value_set_string_len(a, s, strlen(s) + 1);
        break;
    }
    case RILL_T_INT64:
    case RILL_T_DATETIME:
        e = avro_value_set_long(a, *(const int64_t *)v);
        break;
    case RILL_T_DOUBLE:
        e = avro_value_set_double(a, *(const double *)v);
        break;
    case RILL_T_BOOL:
        e = avro_value_set_boolean(a, *(const bool *)v);
        break;
    case RILL_T_BYTES: {
        const rill_bytes_t *b = v;
        if (!b->data) {
            snprintf(errstr, errlen, "field '%s': required bytes are NULL", path);
            return RILL_EENCODE;
        }
        e = avro_value_set_bytes(a, b->data, b->len);
        break;
    }
    case RILL_T_DECIMAL: {
        rill_decimal_t d = *(const rill_decimal_t *)v;
        if (d.scale != t->scale && rill_decimal_rescale(&d, t->scale) != RILL_OK) {
            snprintf(errstr, errlen, "field '%s': decimal does not fit scale %u", path,
                     t->scale);
            return RILL_EENCODE;
        }
        uint8_t bytes[8];
        size_t n;
        decimal_bytes(d, bytes, &n);
        e = avro_value_set_bytes(a, bytes, n);
        break;
    }
    case RILL_T_RECORD: {
        const void *r = *(void *const *)v;
        if (!r) {
            snprintf(errstr, errlen, "field '%s': required record is NULL", path);
            return RILL_EENCODE;
        }
        return rec_to_avro(t->record, r, a, path, errstr, errlen);
    }
    case RILL_T_ARRAY: {
        const rill_array_t *arr = v;
        size_t sz = rill_type_csize(t->elem);
        for (size_t i = 0; i < arr->len; i++) {
            avro_value_t el;
            if (avro_value_append(a, &el, NULL)) break;
            char sub[256];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            rill_err_t rc = to_avro(t->elem, (const char *)arr->items + i * sz, &el, sub,
                                    errstr, errlen);
            if (rc) return rc;
        }
        return RILL_OK;
    }
    case RILL_T_MAP: {
        const rill_map_t *m = v;
        size_t sz = rill_type_csize(t->elem);
        for (size_t i = 0; i < m->len; i++) {
            avro_value_t el;
            if (avro_value_add(a, m->keys[i] ? m->keys[i] : "", &el, NULL, NULL)) break;
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s", path, m->keys[i] ? m->keys[i] : "");
            rill_err_t rc = to_avro(t->elem, (const char *)m->values + i * sz, &el, sub,
                                    errstr, errlen);
            if (rc) return rc;
        }
        return RILL_OK;
    }
    }
    if (e) {
        snprintf(errstr, errlen, "field '%s': %s", path, avro_strerror());
        return RILL_EENCODE;
    }
    return RILL_OK;
}

/* ---- avro value -> C value
 * ---------------------------------------------------------------- */

static rill_err_t from_avro(const rill_type_t *t, avro_value_t *a, void *v,
                            const char *path, char *errstr, size_t errlen);

static rill_err_t rec_from_avro(const rill_schema_t *s, avro_value_t *a, void *rec,
                                const char *path, char *errstr, size_t errlen) {
    for (size_t i = 0; i < s->nfields; i++) {
        const rill_field_t *f = &s->fields[i];
        char sub[256];
        join(sub, sizeof sub, path, f->name);
        avro_value_t fv;
        if (field_of(a, i, f->name, &fv)) {
            if (f->flags & RILL_FIELD_OPTIONAL) continue; /* keeps its default */
            snprintf(errstr, errlen, "field '%s': missing (required)", sub);
            return RILL_EDECODE;
        }
        void *m = (char *)rec + f->offset;
        if (avro_value_get_type(&fv) == AVRO_UNION) {
            avro_value_t br;
            if (avro_value_get_current_branch(&fv, &br)) {
                snprintf(errstr, errlen, "field '%s': %s", sub, avro_strerror());
                return RILL_EDECODE;
            }
            if (avro_value_get_type(&br) == AVRO_NULL) {
                if (!(f->flags & RILL_FIELD_OPTIONAL)) {
                    snprintf(errstr, errlen, "field '%s': is null but required", sub);
                    return RILL_EDECODE;
                }
                if (f->type.kind == RILL_T_RECORD) {
                    rill_record_free(f->type.record, *(void **)m);
                    *(void **)m = NULL;
                } else if (f->type.kind == RILL_T_STRING ||
                           f->type.kind == RILL_T_BYTES) {
                    rill_value_clear(&f->type, m);
                }
                continue;
            }
            fv = br;
        }
        rill_err_t rc = from_avro(&f->type, &fv, m, sub, errstr, errlen);
        if (rc) return rc;
    }
    return RILL_OK;
}

#define EXPECT(at, name)                                                                 \
    do {                                                                                 \
        if (avro_value_get_type(a) != (at)) {                                            \
            snprintf(errstr, errlen, "field '%s': expected %s in the Avro data", path,   \
                     name);                                                              \
            return RILL_EDECODE;                                                         \
        }                                                                                \
    } while (0)

static rill_err_t from_avro(const rill_type_t *t, avro_value_t *a, void *v,
                            const char *path, char *errstr, size_t errlen) {
    switch (t->kind) {
    case RILL_T_STRING: {
        EXPECT(AVRO_STRING, "string");
        const char *s = "";
        size_t n = 0;
        avro_value_get_string(a, &s, &n);
        char *d = malloc(n ? n : 1);
        if (!d) return RILL_ENOMEM;
        memcpy(d, s, n ? n : 1);
        d[n ? n - 1 : 0] = '\0';
        free(*(char **)v);
        *(char **)v = d;
        return RILL_OK;
    }
    case RILL_T_INT64:
    case RILL_T_DATETIME: {
        avro_type_t at = avro_value_get_type(a);
        if (at == AVRO_INT32) {
            int32_t x = 0;
            avro_value_get_int(a, &x);
            *(int64_t *)v = x;
            return RILL_OK;
        }
        EXPECT(AVRO_INT64, "long");
        avro_value_get_long(a, (int64_t *)v);
        return RILL_OK;
    }
    case RILL_T_DOUBLE: {
        avro_type_t at = avro_value_get_type(a);
        if (at == AVRO_FLOAT) {
            float x = 0;
            avro_value_get_float(a, &x);
            *(double *)v = x;
            return RILL_OK;
        }
        EXPECT(AVRO_DOUBLE, "double");
        avro_value_get_double(a, (double *)v);
        return RILL_OK;
    }
    case RILL_T_BOOL: {
        EXPECT(AVRO_BOOLEAN, "boolean");
        int b = 0;
        avro_value_get_boolean(a, &b);
        *(bool *)v = b != 0;
        return RILL_OK;
    }
    case RILL_T_BYTES: {
        EXPECT(AVRO_BYTES, "bytes");
        const void *buf = "";
        size_t n = 0;
        avro_value_get_bytes(a, &buf, &n);
        uint8_t *d = malloc(n ? n : 1);
        if (!d) return RILL_ENOMEM;
        if (n) memcpy(d, buf, n);
        free(((rill_bytes_t *)v)->data);
        *(rill_bytes_t *)v = (rill_bytes_t){d, n};
        return RILL_OK;
    }
    case RILL_T_DECIMAL: {
        EXPECT(AVRO_BYTES, "decimal bytes");
        const uint8_t *buf = NULL;
        size_t n = 0;
        avro_value_get_bytes(a, (const void **)&buf, &n);
        if (n > 8) {
            snprintf(errstr, errlen, "field '%s': decimal wider than 64 bits", path);
            return RILL_EDECODE;
        }
        uint64_t u = n && (buf[0] & 0x80) ? UINT64_MAX : 0;
        for (size_t i = 0; i < n; i++)
            u = u << 8 | buf[i];
        *(rill_decimal_t *)v = (rill_decimal_t){(int64_t)u, t->scale};
        return RILL_OK;
    }
    case RILL_T_RECORD: {
        EXPECT(AVRO_RECORD, "record");
        void *r = rill_record_new(t->record);
        if (!r) return RILL_ENOMEM;
        rill_record_free(t->record, *(void **)v);
        *(void **)v = r;
        return rec_from_avro(t->record, a, r, path, errstr, errlen);
    }
    case RILL_T_ARRAY: {
        EXPECT(AVRO_ARRAY, "array");
        rill_array_t *arr = v;
        rill_value_clear(t, arr);
        size_t n = 0, sz = rill_type_csize(t->elem);
        avro_value_get_size(a, &n);
        if (!n) return RILL_OK;
        if (!(arr->items = calloc(n, sz))) return RILL_ENOMEM;
        arr->len = n;
        for (size_t i = 0; i < n; i++) {
            avro_value_t el;
            avro_value_get_by_index(a, i, &el, NULL);
            char sub[256];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            rill_err_t rc =
                from_avro(t->elem, &el, (char *)arr->items + i * sz, sub, errstr, errlen);
            if (rc) return rc;
        }
        return RILL_OK;
    }
    case RILL_T_MAP: {
        EXPECT(AVRO_MAP, "map");
        rill_map_t *m = v;
        rill_value_clear(t, m);
        size_t n = 0, sz = rill_type_csize(t->elem);
        avro_value_get_size(a, &n);
        if (!n) return RILL_OK;
        if (!(m->keys = calloc(n, sizeof *m->keys)) || !(m->values = calloc(n, sz))) {
            free(m->keys);
            m->keys = NULL;
            return RILL_ENOMEM;
        }
        m->len = n;
        for (size_t i = 0; i < n; i++) {
            avro_value_t el;
            const char *key = NULL;
            avro_value_get_by_index(a, i, &el, &key);
            if (!(m->keys[i] = strdup(key ? key : ""))) return RILL_ENOMEM;
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s", path, m->keys[i]);
            rill_err_t rc =
                from_avro(t->elem, &el, (char *)m->values + i * sz, sub, errstr, errlen);
            if (rc) return rc;
        }
        return RILL_OK;
    }
    }
    snprintf(errstr, errlen, "field '%s': unknown type", path);
    return RILL_EDECODE;
}

/* ---- ops
 * ------------------------------------------------------------------------------------ */

static const char *type_name(const rill_type_t *t) {
    return t->kind == RILL_T_RECORD ? (t->record->ns ? t->record->ns : t->record->name)
                                    : "value";
}

/* magic byte 0 + the 4-byte schema id of @p type */
static rill_err_t confluent_header(const rill_type_t *type, rill_buf_t *out, char *errstr,
                                   size_t errlen) {
    int32_t id = -1;
    if (type->kind == RILL_T_RECORD) {
        pthread_mutex_lock(&reg_lock);
        reg_t *r = reg_get(type->record, false);
        id = r ? r->id : -1;
        pthread_mutex_unlock(&reg_lock);
    }
    if (id < 0) {
        snprintf(errstr, errlen,
                 "%s: no Confluent schema id (call rill_avro_set_schema_id())",
                 type_name(type));
        return RILL_EENCODE;
    }
    uint8_t h[5] = {0, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
                    (uint8_t)id};
    return rill_buf_append(out, h, 5);
}

static rill_err_t avro_encode(rill_serializer_t *s, const rill_type_t *type,
                              const void *value, rill_buf_t *out, char *errstr,
                              size_t errlen) {
    avro_ctx_t *c = s->impl;
    compiled_t *x = compile(c, type, errstr, errlen);
    if (!x) return RILL_EENCODE;
    if (x->direct && !c->confluent && rill__avro_direct_encode(type, value, out))
        return RILL_OK;
    if (x->direct && c->confluent) {
        size_t start = out->len;
        if (confluent_header(type, out, errstr, errlen) == RILL_OK &&
            rill__avro_direct_encode(type, value, out))
            return RILL_OK;
        out->len = start; /* avro-c's path below says what is wrong */
    }
    avro_value_reset(&x->value);
    rill_err_t rc = type->kind == RILL_T_RECORD
                        ? rec_to_avro(type->record, value, &x->value, "", errstr, errlen)
                        : to_avro(type, value, &x->value, "(value)", errstr, errlen);
    if (rc) return rc;
    size_t size = 0;
    if (avro_value_sizeof(&x->value, &size)) {
        snprintf(errstr, errlen, "%s: %s", type_name(type), avro_strerror());
        return RILL_EENCODE;
    }
    size_t start = out->len, hdr = 0;
    if (c->confluent) {
        if ((rc = confluent_header(type, out, errstr, errlen))) return rc;
        hdr = 5;
    }
    if ((rc = rill_buf_reserve(out, size))) return rc;
    avro_writer_t w = avro_writer_memory((char *)out->data + start + hdr, (int64_t)size);
    int e = avro_value_write(w, &x->value);
    avro_writer_free(w);
    if (e) {
        out->len = start;
        snprintf(errstr, errlen, "%s: %s", type_name(type), avro_strerror());
        return RILL_EENCODE;
    }
    out->len = start + hdr + size;
    return RILL_OK;
}

/* ---- validation before avro-c reads
 * ------------------------------------------------------- avro-c allocates whatever a
 * length prefix or block count says before it finds the data is not there; a few garbage
 * bytes could ask for gigabytes.  So walk the writer's schema over the bytes first and
 * refuse lengths past the end. */

static bool varint(const uint8_t **p, const uint8_t *end, int64_t *out) {
    uint64_t u = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return false;
        uint8_t b = *(*p)++;
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1); /* zigzag */
            return true;
        }
    }
    return false;
}

static bool skip(avro_schema_t s, const uint8_t **p, const uint8_t *end, int depth) {
    if (depth > 64) return false;
    int64_t n;
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return true;
    case AVRO_BOOLEAN:
        if (*p >= end) return false;
        (*p)++;
        return true;
    case AVRO_INT32:
    case AVRO_INT64:
    case AVRO_ENUM:
        return varint(p, end, &n);
    case AVRO_FLOAT:
    case AVRO_DOUBLE: {
        size_t w = avro_typeof(s) == AVRO_FLOAT ? 4 : 8;
        if ((size_t)(end - *p) < w) return false;
        *p += w;
        return true;
    }
    case AVRO_STRING:
    case AVRO_BYTES:
        if (!varint(p, end, &n) || n < 0 || n > end - *p) return false;
        *p += n;
        return true;
    case AVRO_FIXED:
        n = avro_schema_fixed_size(s);
        if (n < 0 || n > end - *p) return false;
        *p += n;
        return true;
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s); i++)
            if (!skip(avro_schema_record_field_get_by_index(s, (int)i), p, end,
                      depth + 1))
                return false;
        return true;
    case AVRO_ARRAY:
    case AVRO_MAP: {
        bool map = avro_typeof(s) == AVRO_MAP;
        avro_schema_t item = map ? avro_schema_map_values(s) : avro_schema_array_items(s);
        int64_t total = 0;
        for (;;) {
            if (!varint(p, end, &n)) return false;
            if (n == 0) return true;
            if (n < 0) {
                int64_t bytes;
                if (n == INT64_MIN) return false;
                n = -n;
                if (!varint(p, end, &bytes) || bytes < 0 || bytes > end - *p)
                    return false;
            }
            /* every item takes at least a byte, but for null items: bound them too */
            if (n > end - *p + 1024 || (total += n) > 10000000) return false;
            for (int64_t i = 0; i < n; i++) {
                if (map) {
                    int64_t kl;
                    if (!varint(p, end, &kl) || kl < 0 || kl > end - *p) return false;
                    *p += kl;
                }
                if (!skip(item, p, end, depth + 1)) return false;
            }
        }
    }
    case AVRO_UNION:
        if (!varint(p, end, &n) || n < 0 || (size_t)n >= avro_schema_union_size(s))
            return false;
        return skip(avro_schema_union_branch(s, (int)n), p, end, depth + 1);
    case AVRO_LINK:
        return skip(avro_schema_link_target(s), p, end, depth + 1);
    default:
        return false;
    }
}

/* The writer schema registered under @p id. */
static writer_cache_t *writer_for(avro_ctx_t *c, int32_t id, const rill_type_t *type,
                                  char *errstr, size_t errlen) {
    for (writer_cache_t *w = c->writers; w; w = w->next)
        if (w->id == id) return w;
    pthread_mutex_lock(&reg_lock);
    rill_avro_lookup_fn fn = lookup_fn;
    void *op = lookup_opaque;
    pthread_mutex_unlock(&reg_lock);
    const char *json = fn ? fn(id, op) : NULL;
    if (!json) {
        snprintf(errstr, errlen, "%s: unknown Avro schema id %d%s", type_name(type), id,
                 fn ? "" : " (no schema lookup set: rill_avro_set_schema_lookup())");
        return NULL;
    }
    writer_cache_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    if (avro_schema_from_json_length(json, strlen(json), &w->schema)) {
        snprintf(errstr, errlen, "Avro schema id %d: %s", id, avro_strerror());
        free(w);
        return NULL;
    }
    if (!(w->iface = avro_generic_class_from_schema(w->schema)) ||
        avro_generic_value_new(w->iface, &w->value)) {
        snprintf(errstr, errlen, "Avro schema id %d: %s", id, avro_strerror());
        if (w->iface) avro_value_iface_decref(w->iface);
        avro_schema_decref(w->schema);
        free(w);
        return NULL;
    }
    w->id = id;
    w->next = c->writers;
    c->writers = w;
    return w;
}

static rill_err_t avro_decode(rill_serializer_t *s, const rill_type_t *type,
                              const void *data, size_t len, void *value, char *errstr,
                              size_t errlen) {
    avro_ctx_t *c = s->impl;
    compiled_t *x = compile(c, type, errstr, errlen);
    if (!x) return RILL_EDECODE;
    const uint8_t *p = data;
    avro_value_t *target = &x->value;
    avro_schema_t writer = x->schema;
    bool direct = x->direct;
    if (c->confluent) {
        if (len < 5 || p[0] != 0) {
            snprintf(errstr, errlen, "%s: not Confluent wire format (%s)",
                     type_name(type),
                     len < 5 ? "shorter than its 5-byte header" : "magic byte is not 0");
            return RILL_EDECODE;
        }
        int32_t id = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
                               (uint32_t)p[3] << 8 | p[4]);
        writer_cache_t *w = writer_for(c, id, type, errstr, errlen);
        if (!w) return RILL_EDECODE;
        if (w->eq_of != x) {
            w->eq_of = x;
            w->eq = avro_schema_equal(w->schema, x->schema) != 0;
        }
        direct = direct && w->eq;
        target = &w->value;
        writer = w->schema;
        p += 5;
        len -= 5;
    }
    if (direct && rill__avro_direct_decode(type, p, len, value)) return RILL_OK;
    /* avro-c's path: other writers' schemas, and the words for what is wrong */
    avro_value_reset(target);
    const uint8_t *q = p;
    if (!skip(writer, &q, p + len, 0) || q != p + len) {
        snprintf(errstr, errlen, "%s: invalid Avro data (%s)", type_name(type),
                 q > p + len || !skip(writer, &(const uint8_t *){p}, p + len, 0)
                     ? "truncated, or a length past the end"
                     : "trailing bytes after the value");
        return RILL_EDECODE;
    }
    avro_reader_t r = avro_reader_memory((const char *)p, (int64_t)len);
    int e = avro_value_read(r, target);
    avro_reader_free(r);
    if (e) {
        snprintf(errstr, errlen, "%s: invalid Avro data (%s)", type_name(type),
                 avro_strerror());
        return RILL_EDECODE;
    }
    rill_err_t rc = type->kind == RILL_T_RECORD
                        ? rec_from_avro(type->record, target, value, "", errstr, errlen)
                        : from_avro(type, target, value, "(value)", errstr, errlen);
    if (rc == RILL_EDECODE && type->kind == RILL_T_RECORD && target != &x->value) {
        size_t n = strlen(errstr); /* say it is about the writer's schema */
        if (n + 40 < errlen)
            snprintf(errstr + n, errlen - n, " (schema mismatch with writer)");
    }
    return rc;
}

const struct rill_serializer_ops rill_serializer_avro = {
    .abi = RILL_SERIALIZER_ABI,
    .scheme = "avro",
    .description = "Avro binary (avro-c); schemas derived from record field tables",
    .features = RILL_SERIALIZER_F_RECORDS | RILL_SERIALIZER_F_SCALARS,
    .props = avro_props,
    .impl_size = sizeof(avro_ctx_t),
    .encode = avro_encode,
    .decode = avro_decode,
    .close = avro_close,
};
