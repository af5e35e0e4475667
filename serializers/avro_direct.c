/* Avro binary straight between the wire and rill's C structs, for the schemas rill
 * derives itself (avro.c uses it when the writer's schema is that schema): no avro-c
 * value tree, no lookups by field name, no separate validation walk (every length is
 * checked against the end as it is read).  The bytes are the ones avro-c writes
 * (block counts without sizes, one block per array or map); anything unusual sends
 * the caller back to avro-c's path, the reference, which also words the errors. */
#include <stdlib.h>
#include <string.h>

#include "avro_int.h"

#define MAX_DEPTH 64
#define MAX_ITEMS 10000000 /* the validation walk's bound on a value's items */
#define DEDUP_MAX 64       /* maps longer than this go to avro-c for repeated keys */

/* ---- writing ------------------------------------------------------------------- */

typedef struct wr {
    rill_buf_t *b;
    bool ok;
} wr_t;

static void put(wr_t *w, const void *p, size_t n) {
    if (w->ok && rill_buf_append(w->b, p, n) != RILL_OK) w->ok = false;
}

static void put_long(wr_t *w, int64_t x) {
    uint64_t u = ((uint64_t)x << 1) ^ (uint64_t)(x >> 63); /* zigzag */
    uint8_t buf[10];
    size_t n = 0;
    while (u > 0x7f) {
        buf[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    buf[n++] = (uint8_t)u;
    put(w, buf, n);
}

static void put_bytes(wr_t *w, const void *p, size_t n) {
    put_long(w, (int64_t)n);
    put(w, p, n);
}

static void put_double(wr_t *w, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    uint8_t buf[8];
    for (int i = 0; i < 8; i++, u >>= 8)
        buf[i] = (uint8_t)u;
    put(w, buf, 8);
}

/* big-endian two's complement, minimal length (as avro.c's decimal_bytes) */
static void put_decimal(wr_t *w, rill_decimal_t d) {
    uint64_t u = (uint64_t)d.unscaled;
    uint8_t full[8];
    for (int i = 7; i >= 0; i--, u >>= 8)
        full[i] = (uint8_t)u;
    size_t start = 0;
    while (start < 7 && ((full[start] == 0 && !(full[start + 1] & 0x80)) ||
                         (full[start] == 0xff && (full[start + 1] & 0x80))))
        start++;
    put_bytes(w, full + start, 8 - start);
}

static bool nullable(const rill_field_t *f) {
    return (f->flags & RILL_FIELD_OPTIONAL) &&
           (f->type.kind == RILL_T_STRING || f->type.kind == RILL_T_BYTES ||
            f->type.kind == RILL_T_RECORD);
}

static bool is_null(const rill_type_t *t, const void *m) {
    return (t->kind == RILL_T_STRING && !*(char *const *)m) ||
           (t->kind == RILL_T_BYTES && !((const rill_bytes_t *)m)->data) ||
           (t->kind == RILL_T_RECORD && !*(void *const *)m);
}

static void enc(wr_t *w, const rill_type_t *t, const void *v, int depth);

static void enc_rec(wr_t *w, const rill_schema_t *s, const void *rec, int depth) {
    for (size_t i = 0; i < s->nfields && w->ok; i++) {
        const rill_field_t *f = &s->fields[i];
        const void *m = (const char *)rec + f->offset;
        if (nullable(f)) {
            bool null = is_null(&f->type, m);
            put_long(w, null ? 0 : 1);
            if (null) continue;
        }
        enc(w, &f->type, m, depth + 1);
    }
}

static bool repeated_keys(const rill_map_t *m) {
    for (size_t i = 1; i < m->len; i++)
        for (size_t j = 0; j < i; j++) {
            const char *a = m->keys[i] ? m->keys[i] : "",
                       *b = m->keys[j] ? m->keys[j] : "";
            if (!strcmp(a, b)) return true;
        }
    return false;
}

static void enc(wr_t *w, const rill_type_t *t, const void *v, int depth) {
    if (!w->ok || depth > MAX_DEPTH) {
        w->ok = false;
        return;
    }
    switch (t->kind) {
    case RILL_T_STRING: {
        const char *s = *(char *const *)v;
        if (!s) break;
        put_bytes(w, s, strlen(s));
        return;
    }
    case RILL_T_INT64:
    case RILL_T_DATETIME:
        put_long(w, *(const int64_t *)v);
        return;
    case RILL_T_DOUBLE:
        put_double(w, *(const double *)v);
        return;
    case RILL_T_BOOL: {
        uint8_t b = *(const bool *)v ? 1 : 0;
        put(w, &b, 1);
        return;
    }
    case RILL_T_BYTES: {
        const rill_bytes_t *b = v;
        if (!b->data) break;
        put_bytes(w, b->data, b->len);
        return;
    }
    case RILL_T_DECIMAL: {
        rill_decimal_t d = *(const rill_decimal_t *)v;
        if (d.scale != t->scale && rill_decimal_rescale(&d, t->scale) != RILL_OK) break;
        put_decimal(w, d);
        return;
    }
    case RILL_T_RECORD: {
        const void *r = *(void *const *)v;
        if (!r) break;
        enc_rec(w, t->record, r, depth);
        return;
    }
    case RILL_T_ARRAY: {
        const rill_array_t *arr = v;
        size_t sz = rill_type_csize(t->elem);
        if (arr->len) put_long(w, (int64_t)arr->len);
        for (size_t i = 0; i < arr->len && w->ok; i++)
            enc(w, t->elem, (const char *)arr->items + i * sz, depth + 1);
        put_long(w, 0);
        return;
    }
    case RILL_T_MAP: {
        const rill_map_t *m = v;
        if (m->len > DEDUP_MAX || repeated_keys(m)) break;
        size_t sz = rill_type_csize(t->elem);
        if (m->len) put_long(w, (int64_t)m->len);
        for (size_t i = 0; i < m->len && w->ok; i++) {
            const char *k = m->keys[i] ? m->keys[i] : "";
            put_bytes(w, k, strlen(k));
            enc(w, t->elem, (const char *)m->values + i * sz, depth + 1);
        }
        put_long(w, 0);
        return;
    }
    }
    w->ok = false; /* avro-c's path says why */
}

bool rill__avro_direct_encode(const rill_type_t *t, const void *v, rill_buf_t *out) {
    size_t start = out->len;
    wr_t w = {out, true};
    if (t->kind == RILL_T_RECORD)
        enc_rec(&w, t->record, v, 0);
    else
        enc(&w, t, v, 0);
    if (!w.ok) out->len = start;
    return w.ok;
}

/* ---- reading ------------------------------------------------------------------- */

typedef struct rd {
    const uint8_t *p, *end;
    int64_t items; /* array and map items read so far */
} rd_t;

static bool get_long(rd_t *r, int64_t *out) {
    uint64_t u = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return false;
        uint8_t b = *r->p++;
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return true;
        }
    }
    return false;
}

/* a length-prefixed run of bytes inside the data */
static bool get_run(rd_t *r, const uint8_t **at, size_t *n) {
    int64_t l;
    if (!get_long(r, &l) || l < 0 || l > r->end - r->p) return false;
    *at = r->p;
    *n = (size_t)l;
    r->p += l;
    return true;
}

static bool dec(rd_t *r, const rill_type_t *t, void *v, int depth);

static bool dec_rec(rd_t *r, const rill_schema_t *s, void *rec, int depth) {
    for (size_t i = 0; i < s->nfields; i++) {
        const rill_field_t *f = &s->fields[i];
        void *m = (char *)rec + f->offset;
        if (nullable(f)) {
            int64_t br;
            if (!get_long(r, &br) || br < 0 || br > 1) return false;
            if (br == 0) {
                if (f->type.kind == RILL_T_RECORD) {
                    rill_record_free(f->type.record, *(void **)m);
                    *(void **)m = NULL;
                } else {
                    rill_value_clear(&f->type, m);
                }
                continue;
            }
        }
        if (!dec(r, &f->type, m, depth + 1)) return false;
    }
    return true;
}

/* The next block's item count of an array or map: 0 at its end. */
static bool block(rd_t *r, int64_t *n) {
    if (!get_long(r, n)) return false;
    if (*n < 0) { /* a negative count is followed by the block's size in bytes */
        int64_t bytes;
        if (*n == INT64_MIN || !get_long(r, &bytes) || bytes < 0 || bytes > r->end - r->p)
            return false;
        *n = -*n;
    }
    /* every item takes at least a byte, but for empty records: bound them too */
    return *n <= r->end - r->p + 1024 && (r->items += *n) <= MAX_ITEMS;
}

static bool grow(void **items, size_t len, size_t add, size_t sz) {
    void *n = realloc(*items, (len + add) * sz);
    if (!n) return false;
    memset((char *)n + len * sz, 0, add * sz);
    *items = n;
    return true;
}

static bool dec_array(rd_t *r, const rill_type_t *t, rill_array_t *arr, int depth) {
    rill_value_clear(t, arr);
    size_t sz = rill_type_csize(t->elem);
    for (;;) {
        int64_t n;
        if (!block(r, &n)) return false;
        if (n == 0) return true;
        if (!grow(&arr->items, arr->len, (size_t)n, sz)) return false;
        size_t first = arr->len;
        arr->len += (size_t)n; /* zeroed items are valid empty values */
        for (size_t i = first; i < arr->len; i++)
            if (!dec(r, t->elem, (char *)arr->items + i * sz, depth + 1)) return false;
    }
}

static bool dec_map(rd_t *r, const rill_type_t *t, rill_map_t *m, int depth) {
    rill_value_clear(t, m);
    size_t sz = rill_type_csize(t->elem);
    for (;;) {
        int64_t n;
        if (!block(r, &n)) return false;
        if (n == 0) return true;
        if ((size_t)n + m->len > DEDUP_MAX) return false; /* avro-c merges repeats */
        void *keys = m->keys;
        bool ok = grow(&keys, m->len, (size_t)n, sizeof *m->keys);
        m->keys = keys;
        if (!ok || !grow(&m->values, m->len, (size_t)n, sz)) return false;
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *k;
            size_t kl;
            if (!get_run(r, &k, &kl)) return false;
            for (size_t j = 0; j < m->len; j++)
                if (strlen(m->keys[j]) == kl && !memcmp(m->keys[j], k, kl)) return false;
            char *key = malloc(kl + 1);
            if (!key) return false;
            memcpy(key, k, kl);
            key[kl] = '\0';
            m->keys[m->len++] = key;
            if (!dec(r, t->elem, (char *)m->values + (m->len - 1) * sz, depth + 1))
                return false;
        }
    }
}

static bool dec(rd_t *r, const rill_type_t *t, void *v, int depth) {
    if (depth > MAX_DEPTH) return false;
    switch (t->kind) {
    case RILL_T_STRING: {
        const uint8_t *s;
        size_t n;
        if (!get_run(r, &s, &n)) return false;
        char *d = malloc(n + 1);
        if (!d) return false;
        memcpy(d, s, n);
        d[n] = '\0';
        free(*(char **)v);
        *(char **)v = d;
        return true;
    }
    case RILL_T_INT64:
    case RILL_T_DATETIME:
        return get_long(r, (int64_t *)v);
    case RILL_T_DOUBLE: {
        if (r->end - r->p < 8) return false;
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--)
            u = u << 8 | r->p[i];
        r->p += 8;
        memcpy(v, &u, 8);
        return true;
    }
    case RILL_T_BOOL:
        if (r->p >= r->end) return false;
        *(bool *)v = *r->p++ != 0;
        return true;
    case RILL_T_BYTES: {
        const uint8_t *s;
        size_t n;
        if (!get_run(r, &s, &n)) return false;
        uint8_t *d = malloc(n ? n : 1);
        if (!d) return false;
        if (n) memcpy(d, s, n);
        free(((rill_bytes_t *)v)->data);
        *(rill_bytes_t *)v = (rill_bytes_t){d, n};
        return true;
    }
    case RILL_T_DECIMAL: {
        const uint8_t *b;
        size_t n;
        if (!get_run(r, &b, &n) || n > 8) return false;
        uint64_t u = n && (b[0] & 0x80) ? UINT64_MAX : 0;
        for (size_t i = 0; i < n; i++)
            u = u << 8 | b[i];
        *(rill_decimal_t *)v = (rill_decimal_t){(int64_t)u, t->scale};
        return true;
    }
    case RILL_T_RECORD: {
        void *rec = rill_record_new(t->record);
        if (!rec) return false;
        rill_record_free(t->record, *(void **)v);
        *(void **)v = rec;
        return dec_rec(r, t->record, rec, depth);
    }
    case RILL_T_ARRAY:
        return dec_array(r, t, v, depth);
    case RILL_T_MAP:
        return dec_map(r, t, v, depth);
    }
    return false;
}

bool rill__avro_direct_decode(const rill_type_t *t, const uint8_t *p, size_t len,
                              void *v) {
    rd_t r = {p, p + len, 0};
    bool ok = t->kind == RILL_T_RECORD ? dec_rec(&r, t->record, v, 0) : dec(&r, t, v, 0);
    return ok && r.p == r.end;
}
