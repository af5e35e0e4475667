/* "json": records and values as JSON, wire-compatible with Python Faust.
 *
 * Decoding parses with simdjson when rill was built with it (json_simdjson.cpp,
 * no DOM of allocated nodes; "json.decoder"), else, and whenever simdjson's walk
 * does not take the input, with jansson, which words the errors.  Both walk the
 * record's field table.  Encoding
 * writes the text directly, because Faust compatibility is byte-exact: keys in
 * declaration order with "__faust": {"ns": ...} last, compact separators, non-ASCII
 * escaped as \uXXXX, and floats in Python's repr form (the shortest digits that
 * read back the same: 0.1, 9.5, 10.0, 1e+300) — jansson prints 17 digits.
 *
 * Properties (conf "json.<name>"): faust (write the __faust object, default
 * true), faust.ns (ignore | check the namespace on read), max.bytes, decoder
 * (auto | simdjson | jansson). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_simdjson.h"
#include "rill/serializer.h"

typedef struct json_ctx {
    bool faust;
    char *faust_ns; /* "ignore" | "check" */
    int64_t max_bytes;
    char *decoder; /* "auto" | "simdjson" | "jansson" */
    bool check_ns;
    bool simd;
    rill_serializer_t
        *self; /* the decode running: its strings (rill_serializer_strdup) */
} json_ctx_t;

static const rill_prop_t json_props[] = {
    {"faust", RILL_PROP_BOOL, "true", offsetof(json_ctx_t, faust),
     "Write Faust's \"__faust\": {\"ns\": ...} object in every record"},
    {"faust.ns", RILL_PROP_ENUM, "ignore", offsetof(json_ctx_t, faust_ns),
     "On read: ignore the __faust namespace, or check it against the record's",
     .choices = "ignore|check"},
    {"max.bytes", RILL_PROP_INT, "16777216", offsetof(json_ctx_t, max_bytes),
     "Larger values are refused (RILL_ETOOBIG)", .min = 1, .max = INT64_MAX},
    {"decoder", RILL_PROP_ENUM, "auto", offsetof(json_ctx_t, decoder),
     "auto (simdjson when built with it, else jansson), simdjson or jansson",
     .choices = "auto|simdjson|jansson"},
    {NULL},
};

static rill_err_t json_open(rill_serializer_t *s, const rill_conf_t *conf, char *errstr,
                            size_t errlen) {
    (void)conf, (void)errstr, (void)errlen;
    json_ctx_t *c = s->impl; /* faust.ns, decoder and max.bytes checked by the core */
    c->check_ns = !strcmp(c->faust_ns, "check");
#ifdef RILL_HAVE_SIMDJSON
    c->simd = strcmp(c->decoder, "jansson") != 0;
#else
    if (!strcmp(c->decoder, "simdjson")) {
        snprintf(errstr, errlen,
                 "json.decoder: this rill was built without simdjson (libsimdjson-dev)");
        return RILL_ECONF;
    }
#endif
    return RILL_OK;
}

/* ---- encoding
 * -------------------------------------------------------------------------- */

#define PUT(b, s, n)                                                                     \
    do {                                                                                 \
        rill_err_t rc_ = rill_buf_append((b), (s), (n));                                 \
        if (rc_) return rc_;                                                             \
    } while (0)
#define PUTS(b, s) PUT(b, s, strlen(s))

/* UTF-8 -> \uXXXX escapes (Python's ensure_ascii), validating as it goes. */
static rill_err_t put_string(rill_buf_t *b, const char *s, size_t n, const char *path,
                             char *errstr, size_t errlen) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    PUT(b, "\"", 1);
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            p++;
        if (p > run) PUT(b, run, (size_t)(p - run));
        if (p == end) break;
        unsigned c = *p;
        char esc[16];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            PUT(b, esc, 2);
            p++;
            continue;
        }
        if (c < 0x80) {
            const char *short_esc = c == '\n'   ? "\\n"
                                    : c == '\r' ? "\\r"
                                    : c == '\t' ? "\\t"
                                    : c == '\b' ? "\\b"
                                    : c == '\f' ? "\\f"
                                                : NULL;
            if (short_esc) {
                PUT(b, short_esc, 2);
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                PUT(b, esc, 6);
            }
            p++;
            continue;
        }
        unsigned cp, len;
        if ((c & 0xe0) == 0xc0)
            cp = c & 0x1f, len = 2;
        else if ((c & 0xf0) == 0xe0)
            cp = c & 0x0f, len = 3;
        else if ((c & 0xf8) == 0xf0)
            cp = c & 0x07, len = 4;
        else
            goto bad;
        if ((size_t)(end - p) < len) goto bad;
        for (unsigned i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80) goto bad;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        p += len;
        unsigned units[2], nu = 0;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            units[nu++] = 0xd800 | (cp >> 10);
            units[nu++] = 0xdc00 | (cp & 0x3ff);
        } else {
            units[nu++] = cp;
        }
        for (unsigned i = 0; i < nu; i++) {
            char u[6] = {'\\',
                         'u',
                         hex[units[i] >> 12 & 15],
                         hex[units[i] >> 8 & 15],
                         hex[units[i] >> 4 & 15],
                         hex[units[i] & 15]};
            PUT(b, u, 6);
        }
    }
    PUT(b, "\"", 1);
    return RILL_OK;
bad:
    snprintf(errstr, errlen, "field '%s': string is not valid UTF-8", path);
    return RILL_EENCODE;
}

/* Python's repr(float): shortest round-trip digits; fixed notation when the
 * exponent is in [-4, 16), with ".0" on integral values; else d.ddde+XX. */
static rill_err_t put_double(rill_buf_t *b, double v, const char *path, char *errstr,
                             size_t errlen) {
    if (!isfinite(v)) {
        snprintf(errstr, errlen, "field '%s': %s has no JSON form", path,
                 isnan(v) ? "NaN" : "infinity");
        return RILL_EENCODE;
    }
    char sci[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, v);
        if (strtod(sci, NULL) == v) break;
    }
    /* sci is [-]d[.ddd]e[+-]XX */
    char digs[24];
    size_t nd = 0;
    const char *p = sci;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digs[nd++] = *p;
    int e = atoi(p + 1);
    while (nd > 1 && digs[nd - 1] == '0')
        nd--;
    char out[64];
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (e >= -4 && e < 16) {
        if (e < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = -1; i > e; i--)
                out[o++] = '0';
            memcpy(out + o, digs, nd);
            o += nd;
        } else {
            for (int i = 0; i <= e; i++)
                out[o++] = (size_t)i < nd ? digs[i] : '0';
            out[o++] = '.';
            if ((size_t)e + 1 < nd) {
                memcpy(out + o, digs + e + 1, nd - (size_t)e - 1);
                o += nd - (size_t)e - 1;
            } else {
                out[o++] = '0';
            }
        }
    } else {
        out[o++] = digs[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, digs + 1, nd - 1);
            o += nd - 1;
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d", e < 0 ? '-' : '+',
                              e < 0 ? -e : e);
    }
    PUT(b, out, o);
    return RILL_OK;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static rill_err_t put_base64(rill_buf_t *b, const uint8_t *d, size_t n) {
    PUT(b, "\"", 1);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63],
                     i + 1 < n ? b64[v >> 6 & 63] : '=', i + 2 < n ? b64[v & 63] : '='};
        PUT(b, q, 4);
    }
    PUT(b, "\"", 1);
    return RILL_OK;
}

static rill_err_t enc_record(json_ctx_t *c, const rill_schema_t *s, const void *rec,
                             rill_buf_t *b, char *path, size_t plen, char *errstr,
                             size_t errlen);

/* Append ".name", "name" or "[i]" (as @p fmt says: ".%s", "%s" or "%s[%zu]") to the
 * path for error messages.  Runs for every field of every record: no printf. */
static size_t path_push(char *path, size_t plen, const char *fmt, const char *name,
                        size_t i) {
    size_t n = strlen(path), o = n;
    char tmp[24];
    size_t tl = 0;
    if (fmt[2] == '[') { /* "%s[%zu]" */
        tmp[tl++] = '[';
        char d[20];
        int nd = 0;
        do
            d[nd++] = (char)('0' + i % 10);
        while (i /= 10);
        while (nd)
            tmp[tl++] = d[--nd];
        tmp[tl++] = ']';
    } else if (fmt[0] == '.' && o + 1 < plen) {
        path[o++] = '.';
    }
    const char *src = tl ? tmp : (name ? name : "");
    size_t sl = tl ? tl : strlen(src);
    if (o + sl >= plen) sl = plen > o + 1 ? plen - o - 1 : 0;
    memcpy(path + o, src, sl);
    path[o + sl] = '\0';
    return n;
}

static rill_err_t enc_value(json_ctx_t *c, const rill_type_t *t, const void *v,
                            bool optional, rill_buf_t *b, char *path, size_t plen,
                            char *errstr, size_t errlen) {
    char num[64];
    switch (t->kind) {
    case RILL_T_STRING: {
        const char *s = *(char *const *)v;
        if (!s) {
            if (optional) {
                PUT(b, "null", 4);
                return RILL_OK;
            }
            snprintf(errstr, errlen, "field '%s': required string is NULL", path);
            return RILL_EENCODE;
        }
        return put_string(b, s, strlen(s), path, errstr, errlen);
    }
    case RILL_T_INT64:
        PUT(b, num,
            (size_t)snprintf(num, sizeof num, "%lld", (long long)*(const int64_t *)v));
        return RILL_OK;
    case RILL_T_DOUBLE:
        return put_double(b, *(const double *)v, path, errstr, errlen);
    case RILL_T_BOOL:
        PUTS(b, *(const bool *)v ? "true" : "false");
        return RILL_OK;
    case RILL_T_BYTES: {
        const rill_bytes_t *x = v;
        if (!x->data) {
            if (optional) {
                PUT(b, "null", 4);
                return RILL_OK;
            }
            snprintf(errstr, errlen, "field '%s': required bytes are NULL", path);
            return RILL_EENCODE;
        }
        return put_base64(b, x->data, x->len);
    }
    case RILL_T_DATETIME: {
        char dt[48];
        if (t->zoned) /* as it was written: naive, "Z" or its offset */
            rill_datetime_format_zoned(v, dt);
        else
            rill_datetime_format(*(const int64_t *)v, dt);
        PUT(b, "\"", 1);
        PUTS(b, dt);
        PUT(b, "\"", 1);
        return RILL_OK;
    }
    case RILL_T_DECIMAL: {
        rill_decimal_t d = *(const rill_decimal_t *)v;
        /* the digits it was read with, else the schema's scale */
        if (!rill_decimal_has_written(&d)) {
            d.written = 0;
            if (t->scale && d.scale != t->scale &&
                rill_decimal_rescale(&d, t->scale) != RILL_OK) {
                snprintf(errstr, errlen, "field '%s': decimal does not fit scale %u",
                         path, t->scale);
                return RILL_EENCODE;
            }
        }
        char dec[48];
        rill_decimal_format(d, dec);
        PUT(b, "\"", 1);
        PUTS(b, dec);
        PUT(b, "\"", 1);
        return RILL_OK;
    }
    case RILL_T_RECORD: {
        const void *r = *(void *const *)v;
        if (!r) {
            if (optional) {
                PUT(b, "null", 4);
                return RILL_OK;
            }
            snprintf(errstr, errlen, "field '%s': required record is NULL", path);
            return RILL_EENCODE;
        }
        return enc_record(c, t->record, r, b, path, plen, errstr, errlen);
    }
    case RILL_T_ARRAY: {
        const rill_array_t *a = v;
        size_t sz = rill_type_csize(t->elem);
        PUT(b, "[", 1);
        for (size_t i = 0; i < a->len; i++) {
            if (i) PUT(b, ",", 1);
            size_t n = path_push(path, plen, "%s[%zu]", NULL, i);
            rill_err_t rc = enc_value(c, t->elem, (const char *)a->items + i * sz, true,
                                      b, path, plen, errstr, errlen);
            path[n] = '\0';
            if (rc) return rc;
        }
        PUT(b, "]", 1);
        return RILL_OK;
    }
    case RILL_T_MAP: {
        const rill_map_t *m = v;
        size_t sz = rill_type_csize(t->elem);
        PUT(b, "{", 1);
        for (size_t i = 0; i < m->len; i++) {
            if (i) PUT(b, ",", 1);
            const char *k = m->keys[i] ? m->keys[i] : "";
            rill_err_t rc = put_string(b, k, strlen(k), path, errstr, errlen);
            if (rc) return rc;
            PUT(b, ":", 1);
            size_t n = path_push(path, plen, ".%s", k, 0);
            rc = enc_value(c, t->elem, (const char *)m->values + i * sz, true, b, path,
                           plen, errstr, errlen);
            path[n] = '\0';
            if (rc) return rc;
        }
        PUT(b, "}", 1);
        return RILL_OK;
    }
    }
    snprintf(errstr, errlen, "field '%s': unknown type", path);
    return RILL_EENCODE;
}

static rill_err_t enc_record(json_ctx_t *c, const rill_schema_t *s, const void *rec,
                             rill_buf_t *b, char *path, size_t plen, char *errstr,
                             size_t errlen) {
    PUT(b, "{", 1);
    for (size_t i = 0; i < s->nfields; i++) {
        const rill_field_t *f = &s->fields[i];
        if (i) PUT(b, ",", 1);
        PUT(b, "\"", 1);
        PUTS(b, f->name);
        PUT(b, "\":", 2);
        size_t n = path_push(path, plen, *path ? ".%s" : "%s", f->name, 0);
        rill_err_t rc =
            enc_value(c, &f->type, (const char *)rec + f->offset,
                      f->flags & RILL_FIELD_OPTIONAL, b, path, plen, errstr, errlen);
        path[n] = '\0';
        if (rc) return rc;
    }
    if (c->faust && s->ns) {
        if (s->nfields) PUT(b, ",", 1);
        PUTS(b, "\"__faust\":{\"ns\":");
        rill_err_t rc = put_string(b, s->ns, strlen(s->ns), "__faust.ns", errstr, errlen);
        if (rc) return rc;
        PUT(b, "}", 1);
    }
    PUT(b, "}", 1);
    return RILL_OK;
}

static rill_err_t json_encode(rill_serializer_t *s, const rill_type_t *type,
                              const void *value, rill_buf_t *out, char *errstr,
                              size_t errlen) {
    json_ctx_t *c = s->impl;
    char path[256] = "";
    size_t start = out->len;
    rill_err_t rc =
        type->kind == RILL_T_RECORD
            ? enc_record(c, type->record, value, out, path, sizeof path, errstr, errlen)
            : enc_value(c, type, value, true, out, path, sizeof path, errstr, errlen);
    if (rc != RILL_OK) out->len = start;
    return rc;
}

/* ---- decoding
 * -------------------------------------------------------------------------- */

static const char *jtype(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* Where a decode is in the value, for error messages: one link per record field,
 * map key or array index, on the stack.  It is rendered (as path_push would have
 * built it) only when an error is reported, not for every field decoded. */
typedef struct jpath {
    const struct jpath *up;
    const char *name; /* the field's name or the map's key; NULL for an index */
    size_t idx;       /* the array index */
    char kind;        /* 'f' record field, 'k' map key, 'i' array index */
} jpath_t;

static const char *path_str(const jpath_t *p, char *buf, size_t n) {
    if (!p) {
        buf[0] = '\0';
        return buf;
    }
    path_str(p->up, buf, n);
    path_push(buf, n,
              p->kind == 'i'   ? "%s[%zu]"
              : p->kind == 'k' ? ".%s"
              : *buf           ? ".%s"
                               : "%s",
              p->name, p->idx);
    return buf;
}

#define JPATH_LEN 256
#define PATH(buf) path_str(p, buf, sizeof buf)

#define WRONG(what)                                                                      \
    do {                                                                                 \
        char pb_[JPATH_LEN];                                                             \
        const char *ps_ = PATH(pb_);                                                     \
        snprintf(errstr, errlen, "field '%s': expected %s, got %s",                      \
                 *ps_ ? ps_ : "(value)", what, jtype(j));                                \
        return RILL_EDECODE;                                                             \
    } while (0)

static int b64val(int ch) {
    const char *p = ch ? strchr(b64, ch) : NULL;
    return p ? (int)(p - b64) : -1;
}

rill_err_t rill__json_b64_decode(const char *s, size_t n, rill_bytes_t *out) {
    if (n % 4) return RILL_EDECODE;
    uint8_t *d = malloc(n / 4 * 3 + 1);
    if (!d) return RILL_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = s[i + k] == '=' && i + 4 == n && k >= 2
                       ? -2
                       : b64val((unsigned char)s[i + k]);
            if (v[k] == -1 || (v[k] == -2 && k == 2 && s[i + 3] != '=')) {
                free(d);
                return RILL_EDECODE;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)(v[2] < 0 ? 0 : v[2]) << 6 |
                     (uint32_t)(v[3] < 0 ? 0 : v[3]);
        d[o++] = (uint8_t)(x >> 16);
        if (v[2] >= 0) d[o++] = (uint8_t)(x >> 8);
        if (v[3] >= 0) d[o++] = (uint8_t)x;
    }
    out->data = d;
    out->len = o;
    return RILL_OK;
}

static rill_err_t dec_record(json_ctx_t *c, const rill_schema_t *s, const json_t *j,
                             void *rec, const jpath_t *p, char *errstr, size_t errlen);

/* Decode @p j into @p v (zeroed, or holding a default to replace). */
static rill_err_t dec_value(json_ctx_t *c, const rill_type_t *t, const json_t *j, void *v,
                            const jpath_t *p, char *errstr, size_t errlen) {
    char pb[JPATH_LEN]; /* rendered only for an error */
    switch (t->kind) {
    case RILL_T_STRING: {
        if (!json_is_string(j)) WRONG("string");
        size_t n = json_string_length(j);
        const char *s = json_string_value(j);
        if (memchr(s, '\0', n)) {
            snprintf(errstr, errlen, "field '%s': string contains a NUL character",
                     PATH(pb));
            return RILL_EDECODE;
        }
        char *d = rill_serializer_strdup(c->self, s, n);
        if (!d) return RILL_ENOMEM;
        if (*(char **)v) rill_serializer_strfree(c->self, *(char **)v); /* a default */
        *(char **)v = d;
        return RILL_OK;
    }
    case RILL_T_INT64:
        if (!json_is_integer(j)) {
            if (json_is_real(j)) {
                snprintf(errstr, errlen,
                         "field '%s': expected integer, got a number with a fraction or "
                         "out of the int64 range",
                         PATH(pb));
                return RILL_EDECODE;
            }
            WRONG("integer");
        }
        *(int64_t *)v = (int64_t)json_integer_value(j);
        return RILL_OK;
    case RILL_T_DOUBLE:
        if (!json_is_number(j)) WRONG("number");
        *(double *)v = json_number_value(j);
        return RILL_OK;
    case RILL_T_BOOL:
        if (!json_is_boolean(j)) WRONG("boolean");
        *(bool *)v = json_is_true(j);
        return RILL_OK;
    case RILL_T_BYTES: {
        if (!json_is_string(j)) WRONG("base64 string");
        rill_bytes_t x = {0};
        rill_err_t rc =
            rill__json_b64_decode(json_string_value(j), json_string_length(j), &x);
        if (rc == RILL_EDECODE) {
            snprintf(errstr, errlen, "field '%s': invalid base64", PATH(pb));
            return rc;
        }
        if (rc) return rc;
        free(((rill_bytes_t *)v)->data);
        *(rill_bytes_t *)v = x;
        return RILL_OK;
    }
    case RILL_T_DATETIME:
        if (!json_is_string(j)) WRONG("ISO 8601 datetime string");
        if ((t->zoned ? rill_datetime_parse_zoned(json_string_value(j), v)
                      : rill_datetime_parse(json_string_value(j), v)) != RILL_OK) {
            snprintf(errstr, errlen, "field '%s': '%.64s' is not an ISO 8601 datetime",
                     PATH(pb), json_string_value(j));
            return RILL_EDECODE;
        }
        return RILL_OK;
    case RILL_T_DECIMAL: {
        char buf[64];
        const char *text;
        if (json_is_string(j)) {
            text = json_string_value(j);
        } else if (json_is_integer(j)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(j));
            text = buf;
        } else if (json_is_real(j)) {
            snprintf(buf, sizeof buf, "%.15g", json_real_value(j));
            text = buf;
        } else {
            WRONG("decimal string");
        }
        rill_decimal_t d; /* at the schema's scale; its digits as written kept */
        if (rill_decimal_parse_scaled(text, t->scale, &d) != RILL_OK) {
            snprintf(errstr, errlen, "field '%s': '%.40s' is not a decimal%s", PATH(pb),
                     text, t->scale ? " of that scale" : "");
            return RILL_EDECODE;
        }
        *(rill_decimal_t *)v = d;
        return RILL_OK;
    }
    case RILL_T_RECORD: {
        if (!json_is_object(j)) WRONG("object");
        void *r = rill_record_new(t->record);
        if (!r) return RILL_ENOMEM;
        rill_record_free(t->record, *(void **)v);
        *(void **)v = r;
        return dec_record(c, t->record, j, r, p, errstr, errlen);
    }
    case RILL_T_ARRAY: {
        if (!json_is_array(j)) WRONG("array");
        rill_array_t *a = v;
        rill_value_clear(t, a);
        size_t n = json_array_size(j), sz = rill_type_csize(t->elem);
        if (!n) return RILL_OK;
        if (!(a->items = calloc(n, sz))) return RILL_ENOMEM;
        a->len = n; /* so a failure part-way is released by rill_value_clear */
        for (size_t i = 0; i < n; i++) {
            jpath_t ep = {p, NULL, i, 'i'};
            rill_err_t rc = dec_value(c, t->elem, json_array_get(j, i),
                                      (char *)a->items + i * sz, &ep, errstr, errlen);
            if (rc) return rc;
        }
        return RILL_OK;
    }
    case RILL_T_MAP: {
        if (!json_is_object(j)) WRONG("object");
        rill_map_t *m = v;
        rill_value_clear(t, m);
        size_t n = json_object_size(j), sz = rill_type_csize(t->elem);
        if (!n) return RILL_OK;
        if (!(m->keys = calloc(n, sizeof *m->keys)) || !(m->values = calloc(n, sz))) {
            free(m->keys);
            m->keys = NULL;
            return RILL_ENOMEM;
        }
        m->len = n;
        size_t i = 0;
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)j, k, val) {
            if (!(m->keys[i] = strdup(k))) return RILL_ENOMEM;
            jpath_t kp = {p, k, 0, 'k'};
            rill_err_t rc = dec_value(c, t->elem, val, (char *)m->values + i * sz, &kp,
                                      errstr, errlen);
            if (rc) return rc;
            i++;
        }
        return RILL_OK;
    }
    }
    snprintf(errstr, errlen, "field '%s': unknown type", PATH(pb));
    return RILL_EDECODE;
}

/* dec_value's common cases without its call: an integer into an INT64 field, a
 * string without a NUL into a STRING field.  False: anything else (dec_value decides,
 * and words the error). */
static inline bool dec_plain(json_ctx_t *c, const rill_type_t *t, const json_t *j,
                             void *v, rill_err_t *rc) {
    if (t->kind == RILL_T_INT64 && json_is_integer(j)) {
        *(int64_t *)v = (int64_t)json_integer_value(j);
        *rc = RILL_OK;
        return true;
    }
    if (t->kind != RILL_T_STRING || !json_is_string(j)) return false;
    size_t n = json_string_length(j);
    const char *str = json_string_value(j);
    if (memchr(str, '\0', n)) return false;
    char *d = rill_serializer_strdup(c->self, str, n);
    if (!d) {
        *rc = RILL_ENOMEM;
        return true;
    }
    if (*(char **)v) rill_serializer_strfree(c->self, *(char **)v); /* a default */
    *(char **)v = d;
    *rc = RILL_OK;
    return true;
}

/* Is the member at @p it named @p name?  (Keys may hold a NUL where jansson allows it.)
 */
static bool iter_key_is(void *it, const char *name) {
    const char *k = json_object_iter_key(it);
#if JANSSON_VERSION_HEX >= 0x020e00
    size_t n = strlen(name);
    return json_object_iter_key_len(it) == n && memcmp(k, name, n) == 0;
#else
    return strcmp(k, name) == 0;
#endif
}

static rill_err_t dec_record(json_ctx_t *c, const rill_schema_t *s, const json_t *j,
                             void *rec, const jpath_t *p, char *errstr, size_t errlen) {
    char pb[JPATH_LEN]; /* rendered only for an error */
    if (c->check_ns && s->ns) {
        json_t *meta = json_object_get(j, "__faust");
        json_t *ns = meta ? json_object_get(meta, "ns") : NULL;
        if (!json_is_string(ns) || strcmp(json_string_value(ns), s->ns) != 0) {
            const char *path = PATH(pb);
            snprintf(errstr, errlen,
                     "record '%s'%s%s: __faust.ns is %s%s%s, expected '%s'", s->ns,
                     *path ? " at " : "", path, ns ? "'" : "",
                     ns && json_is_string(ns) ? json_string_value(ns) : "missing",
                     ns ? "'" : "", s->ns);
            return RILL_EDECODE;
        }
    }
    /* Members written in the schema's order (as rill and Faust write them) are
     * matched walking the object once; any other member is looked up by name.
     * Keys are unique in a jansson object, so both find the same value. */
    void *it = json_object_iter((json_t *)j);
    for (size_t i = 0; i < s->nfields; i++) {
        const rill_field_t *f = &s->fields[i];
        json_t *fj;
        if (it && iter_key_is(it, f->name)) {
            fj = json_object_iter_value(it);
            it = json_object_iter_next((json_t *)j, it);
        } else {
            fj = json_object_get(j, f->name);
        }
        rill_err_t rc = RILL_OK;
        void *m = (char *)rec + f->offset;
        if (fj && !json_is_null(fj) && dec_plain(c, &f->type, fj, m, &rc)) {
            if (rc) return rc;
            continue;
        }
        jpath_t fp = {p, f->name, 0, 'f'}; /* for dec_value and the errors */
        if (!fj || json_is_null(fj)) {
            if (!(f->flags & RILL_FIELD_OPTIONAL)) {
                snprintf(errstr, errlen, "field '%s': %s", path_str(&fp, pb, sizeof pb),
                         fj ? "is null but required" : "missing (required)");
                rc = RILL_EDECODE;
            } else if (fj && f->type.kind == RILL_T_RECORD) {
                rill_record_free(f->type.record, *(void **)m); /* explicit null: None */
                *(void **)m = NULL;
            } else if (fj &&
                       (f->type.kind == RILL_T_STRING || f->type.kind == RILL_T_BYTES)) {
                /* explicit null: None, not the default */
                if (f->type.kind == RILL_T_STRING) {
                    rill_serializer_strfree(c->self, *(char **)m);
                    *(char **)m = NULL;
                } else {
                    rill_value_clear(&f->type, m);
                }
            }
            /* absent optional: the default from rill_record_init stays */
        } else {
            rc = dec_value(c, &f->type, fj, m, &fp, errstr, errlen);
        }
        if (rc) return rc;
    }
    return RILL_OK;
}

static rill_err_t json_decode(rill_serializer_t *s, const rill_type_t *type,
                              const void *data, size_t len, void *value, char *errstr,
                              size_t errlen) {
    json_ctx_t *c = s->impl;
    c->self = s;
    if ((int64_t)len > c->max_bytes) {
        snprintf(errstr, errlen,
                 "value of %zu bytes is larger than json.max.bytes (%lld)", len,
                 (long long)c->max_bytes);
        return RILL_ETOOBIG;
    }
#ifdef RILL_HAVE_SIMDJSON
    /* on any failure jansson decides, over what simdjson left: every field it
     * decodes replaces (and frees) what was there, as it does over defaults */
    if (c->simd &&
        rill__json_simd_decode(s, type, data, len, value, c->check_ns) == RILL_OK)
        return RILL_OK;
#endif
    json_error_t jerr;
    json_t *j = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j) {
        snprintf(errstr, errlen, "invalid JSON at line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return RILL_EDECODE;
    }
    rill_err_t rc;
    if (type->kind == RILL_T_RECORD) {
        if (!json_is_object(j)) {
            snprintf(errstr, errlen, "record '%s': expected a JSON object, got %s",
                     type->record->ns ? type->record->ns : type->record->name, jtype(j));
            rc = RILL_EDECODE;
        } else {
            rc = dec_record(c, type->record, j, value, NULL, errstr, errlen);
        }
    } else {
        rc = dec_value(c, type, j, value, NULL, errstr, errlen);
    }
    json_decref(j);
    return rc;
}

const struct rill_serializer_ops rill_serializer_json = {
    .abi = RILL_SERIALIZER_ABI,
    .scheme = "json",
    .description =
        "JSON (simdjson or jansson decoding), wire-compatible with Python Faust records",
    .features = RILL_SERIALIZER_F_RECORDS | RILL_SERIALIZER_F_SCALARS,
    .props = json_props,
    .impl_size = sizeof(json_ctx_t),
    .open = json_open,
    .encode = json_encode,
    .decode = json_decode,
};
