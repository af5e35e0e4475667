/* Records and values: sizes, defaults, deep clear/copy/equality over the field
 * tables, and the text forms of datetimes and decimals. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record_int.h"
#include "rill/record.h"
#include "rill/serializer.h"

const rill_type_t rill_type_string = {.kind = RILL_T_STRING};
const rill_type_t rill_type_int64 = {.kind = RILL_T_INT64};
const rill_type_t rill_type_double = {.kind = RILL_T_DOUBLE};
const rill_type_t rill_type_bool = {.kind = RILL_T_BOOL};
const rill_type_t rill_type_bytes = {.kind = RILL_T_BYTES};
const rill_type_t rill_type_datetime = {.kind = RILL_T_DATETIME};
const rill_type_t rill_type_datetime_zoned = {.kind = RILL_T_DATETIME, .zoned = 1};

size_t rill_type_csize(const rill_type_t *t) {
    switch (t->kind) {
    case RILL_T_STRING:
        return sizeof(char *);
    case RILL_T_INT64:
        return sizeof(int64_t);
    case RILL_T_DATETIME:
        return t->zoned ? sizeof(rill_datetime_t) : sizeof(int64_t);
    case RILL_T_DOUBLE:
        return sizeof(double);
    case RILL_T_BOOL:
        return sizeof(bool);
    case RILL_T_BYTES:
        return sizeof(rill_bytes_t);
    case RILL_T_DECIMAL:
        return sizeof(rill_decimal_t);
    case RILL_T_RECORD:
        return sizeof(void *); /* as a member, array item or map value */
    case RILL_T_ARRAY:
        return sizeof(rill_array_t);
    case RILL_T_MAP:
        return sizeof(rill_map_t);
    }
    return 0;
}

size_t rill__value_csize(const rill_type_t *t) {
    return t->kind == RILL_T_RECORD && t->record ? t->record->size : rill_type_csize(t);
}

static rill_err_t schema_validate(const rill_schema_t *s, int depth, char *errstr,
                                  size_t errlen);

static rill_err_t type_validate(const rill_type_t *t, const char *where,
                                const char *field, int depth, char *errstr,
                                size_t errlen) {
    switch (t->kind) {
    case RILL_T_STRING:
    case RILL_T_INT64:
    case RILL_T_DOUBLE:
    case RILL_T_BOOL:
    case RILL_T_BYTES:
    case RILL_T_DATETIME:
        return RILL_OK;
    case RILL_T_DECIMAL:
        if (t->precision > 38 || t->scale > t->precision) {
            snprintf(errstr, errlen,
                     "%s field '%s': decimal needs scale <= precision <= 38", where,
                     field);
            return RILL_EINVAL;
        }
        return RILL_OK;
    case RILL_T_RECORD:
        if (!t->record) {
            snprintf(errstr, errlen, "%s field '%s': nested record without a schema",
                     where, field);
            return RILL_EINVAL;
        }
        return schema_validate(t->record, depth + 1, errstr, errlen);
    case RILL_T_ARRAY:
    case RILL_T_MAP:
        if (!t->elem) {
            snprintf(errstr, errlen, "%s field '%s': %s without an item type", where,
                     field, t->kind == RILL_T_ARRAY ? "array" : "map");
            return RILL_EINVAL;
        }
        return type_validate(t->elem, where, field, depth + 1, errstr, errlen);
    }
    snprintf(errstr, errlen, "%s field '%s': unknown kind %d", where, field,
             (int)t->kind);
    return RILL_EINVAL;
}

static rill_err_t schema_validate(const rill_schema_t *s, int depth, char *errstr,
                                  size_t errlen) {
    if (depth > 32) {
        snprintf(errstr, errlen, "record '%s': nesting deeper than 32 (a cycle?)",
                 s->ns ? s->ns : s->name);
        return RILL_EINVAL;
    }
    const char *where = s->ns ? s->ns : s->name ? s->name : "record";
    if (!s->fields && s->nfields) {
        snprintf(errstr, errlen, "record '%s': no field table", where);
        return RILL_EINVAL;
    }
    for (size_t i = 0; i < s->nfields; i++) {
        const rill_field_t *f = &s->fields[i];
        if (!f->name || !*f->name) {
            snprintf(errstr, errlen, "record '%s': field %zu has no name", where, i);
            return RILL_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s->fields[j].name, f->name) == 0) {
                snprintf(errstr, errlen, "record '%s': field '%s' is declared twice",
                         where, f->name);
                return RILL_EINVAL;
            }
        }
        if (f->offset + rill_type_csize(&f->type) > s->size) {
            snprintf(errstr, errlen, "record '%s' field '%s': offset outside the struct",
                     where, f->name);
            return RILL_EINVAL;
        }
        rill_err_t rc = type_validate(&f->type, where, f->name, depth, errstr, errlen);
        if (rc != RILL_OK) return rc;
    }
    return RILL_OK;
}

rill_err_t rill_schema_validate(const rill_schema_t *s, char *errstr, size_t errlen) {
    char dummy[1];
    if (!errstr || !errlen) {
        errstr = dummy;
        errlen = sizeof dummy;
    }
    if (!s) {
        snprintf(errstr, errlen, "no schema");
        return RILL_EINVAL;
    }
    return schema_validate(s, 0, errstr, errlen);
}

/* ---- init / clear
 * ------------------------------------------------------------------------ */

rill_err_t rill_record_init(const rill_schema_t *s, void *rec) {
    memset(rec, 0, s->size);
    for (size_t i = 0; i < s->nfields; i++) {
        const rill_field_t *f = &s->fields[i];
        if (!(f->flags & RILL_FIELD_OPTIONAL)) continue;
        char *m = (char *)rec + f->offset;
        switch (f->type.kind) {
        case RILL_T_INT64:
        case RILL_T_DATETIME: /* rill_datetime_t: .us comes first */
            *(int64_t *)m = f->def.i;
            break;
        case RILL_T_DOUBLE:
            *(double *)m = f->def.d;
            break;
        case RILL_T_BOOL:
            *(bool *)m = f->def.b;
            break;
        case RILL_T_DECIMAL:
            ((rill_decimal_t *)m)->unscaled = f->def.i;
            ((rill_decimal_t *)m)->scale = f->type.scale;
            break;
        case RILL_T_STRING:
            if (f->def.s && !(*(char **)m = strdup(f->def.s))) {
                rill_record_clear(s, rec);
                return RILL_ENOMEM;
            }
            break;
        default:
            break;
        }
    }
    return RILL_OK;
}

void *rill_record_new(const rill_schema_t *s) {
    void *r = malloc(s->size ? s->size : 1);
    if (r && rill_record_init(s, r) != RILL_OK) {
        free(r);
        return NULL;
    }
    return r;
}

static bool carved(const struct rill_strings *a, const void *p) {
    return a && a->buf && (const char *)p >= a->buf && (const char *)p < a->buf + a->cap;
}

static void record_clear_in(const rill_schema_t *s, void *rec,
                            const struct rill_strings *a);

/* Release what one item (C repr of @p t at @p v) owns, but strings carved from
 * @p a. */
static void item_clear(const rill_type_t *t, void *v, const struct rill_strings *a) {
    switch (t->kind) {
    case RILL_T_STRING:
        if (!carved(a, *(char **)v)) free(*(char **)v);
        *(char **)v = NULL;
        break;
    case RILL_T_BYTES:
        free(((rill_bytes_t *)v)->data);
        *(rill_bytes_t *)v = (rill_bytes_t){NULL, 0};
        break;
    case RILL_T_RECORD:
        if (*(void **)v) {
            record_clear_in(t->record, *(void **)v, a);
            free(*(void **)v);
        }
        *(void **)v = NULL;
        break;
    case RILL_T_ARRAY: {
        rill_array_t *arr = v;
        size_t sz = rill_type_csize(t->elem);
        for (size_t i = 0; arr->items && i < arr->len; i++)
            item_clear(t->elem, (char *)arr->items + i * sz, a);
        free(arr->items);
        *arr = (rill_array_t){NULL, 0};
        break;
    }
    case RILL_T_MAP: {
        rill_map_t *m = v;
        size_t sz = rill_type_csize(t->elem);
        for (size_t i = 0; i < m->len; i++) {
            if (m->keys) free(m->keys[i]);
            if (m->values) item_clear(t->elem, (char *)m->values + i * sz, a);
        }
        free(m->keys);
        free(m->values);
        *m = (rill_map_t){NULL, NULL, 0};
        break;
    }
    default:
        break;
    }
}

static void record_clear_in(const rill_schema_t *s, void *rec,
                            const struct rill_strings *a) {
    for (size_t i = 0; i < s->nfields; i++)
        item_clear(&s->fields[i].type, (char *)rec + s->fields[i].offset, a);
    if (!a) memset(rec, 0, s->size); /* an event's: rill_record_init zeroes it again */
}

void rill_record_clear(const rill_schema_t *s, void *rec) {
    if (!rec) return;
    record_clear_in(s, rec, NULL);
}

void rill_record_free(const rill_schema_t *s, void *rec) {
    if (!rec) return;
    rill_record_clear(s, rec);
    free(rec);
}

void rill__value_clear_in(const rill_type_t *t, void *v, const struct rill_strings *a) {
    if (!t || !v) return;
    if (t->kind == RILL_T_RECORD)
        record_clear_in(t->record, v, a);
    else
        item_clear(t, v, a);
}

void rill_value_clear(const rill_type_t *t, void *v) {
    rill__value_clear_in(t, v, NULL);
}

/* ---- decoded strings
 * ---------------------------------------------------------------------- */

#define STRINGS_MAX 4096 /* kept per pooled event at most */

char *rill_serializer_strdup(rill_serializer_t *s, const char *p, size_t n) {
    struct rill_strings *a = s ? s->strings : NULL;
    char *d;
    if (a) a->want += n + 1;
    if (a && a->cap - a->used > n) {
        d = a->buf + a->used;
        a->used += n + 1;
    } else if (!(d = malloc(n + 1))) {
        return NULL;
    }
    if (n) memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

void rill_serializer_strfree(rill_serializer_t *s, char *str) {
    if (!carved(s ? s->strings : NULL, str)) free(str);
}

void rill__strings_grow(struct rill_strings *a) {
    if (a->want > STRINGS_MAX) return;
    size_t cap = (a->want + 63) & ~(size_t)63;
    char *nb = realloc(a->buf, cap);
    if (nb) {
        a->buf = nb;
        a->cap = cap;
    }
}

void rill__strings_free(struct rill_strings *a) {
    free(a->buf);
    *a = (struct rill_strings){0};
}

/* ---- copy
 * ------------------------------------------------------------------------------- */

static rill_err_t item_copy(const rill_type_t *t, void *dst, const void *src) {
    switch (t->kind) {
    case RILL_T_STRING: {
        const char *s = *(char *const *)src;
        *(char **)dst = NULL;
        if (s && !(*(char **)dst = strdup(s))) return RILL_ENOMEM;
        return RILL_OK;
    }
    case RILL_T_BYTES: {
        const rill_bytes_t *s = src;
        rill_bytes_t *d = dst;
        *d = (rill_bytes_t){NULL, 0};
        if (!s->data) return RILL_OK;
        if (!(d->data = malloc(s->len ? s->len : 1))) return RILL_ENOMEM;
        if (s->len) memcpy(d->data, s->data, s->len);
        d->len = s->len;
        return RILL_OK;
    }
    case RILL_T_RECORD: {
        const void *s = *(void *const *)src;
        *(void **)dst = NULL;
        if (!s) return RILL_OK;
        return (*(void **)dst = rill_record_dup(t->record, s)) ? RILL_OK : RILL_ENOMEM;
    }
    case RILL_T_ARRAY: {
        const rill_array_t *s = src;
        rill_array_t *d = dst;
        size_t sz = rill_type_csize(t->elem);
        *d = (rill_array_t){NULL, 0};
        if (!s->len) return RILL_OK;
        if (!(d->items = calloc(s->len, sz))) return RILL_ENOMEM;
        d->len = s->len;
        for (size_t i = 0; i < s->len; i++) {
            rill_err_t rc = item_copy(t->elem, (char *)d->items + i * sz,
                                      (const char *)s->items + i * sz);
            if (rc != RILL_OK) {
                item_clear(t, d, NULL);
                return rc;
            }
        }
        return RILL_OK;
    }
    case RILL_T_MAP: {
        const rill_map_t *s = src;
        rill_map_t *d = dst;
        size_t sz = rill_type_csize(t->elem);
        *d = (rill_map_t){NULL, NULL, 0};
        if (!s->len) return RILL_OK;
        if (!(d->keys = calloc(s->len, sizeof *d->keys)) ||
            !(d->values = calloc(s->len, sz))) {
            free(d->keys);
            d->keys = NULL;
            return RILL_ENOMEM;
        }
        d->len = s->len;
        for (size_t i = 0; i < s->len; i++) {
            rill_err_t rc = RILL_OK;
            if (s->keys[i] && !(d->keys[i] = strdup(s->keys[i]))) rc = RILL_ENOMEM;
            if (rc == RILL_OK)
                rc = item_copy(t->elem, (char *)d->values + i * sz,
                               (const char *)s->values + i * sz);
            if (rc != RILL_OK) {
                item_clear(t, d, NULL);
                return rc;
            }
        }
        return RILL_OK;
    }
    default:
        memcpy(dst, src, rill_type_csize(t));
        return RILL_OK;
    }
}

rill_err_t rill_record_copy(const rill_schema_t *s, void *dst, const void *src) {
    memcpy(dst, src, s->size); /* scalars; owned members are replaced below */
    for (size_t i = 0; i < s->nfields; i++) {
        const rill_field_t *f = &s->fields[i];
        rill_err_t rc =
            item_copy(&f->type, (char *)dst + f->offset, (const char *)src + f->offset);
        if (rc != RILL_OK) {
            /* members after i still alias src: zero them before clearing */
            for (size_t j = i + 1; j < s->nfields; j++) {
                const rill_field_t *g = &s->fields[j];
                memset((char *)dst + g->offset, 0, rill_type_csize(&g->type));
            }
            rill_record_clear(s, dst);
            return rc;
        }
    }
    return RILL_OK;
}

void *rill_record_dup(const rill_schema_t *s, const void *src) {
    void *d = malloc(s->size ? s->size : 1);
    if (d && rill_record_copy(s, d, src) != RILL_OK) {
        free(d);
        return NULL;
    }
    return d;
}

rill_err_t rill_value_copy(const rill_type_t *t, void *dst, const void *src) {
    if (t->kind == RILL_T_RECORD) return rill_record_copy(t->record, dst, src);
    return item_copy(t, dst, src);
}

/* ---- equality
 * ----------------------------------------------------------------------------- */

static bool item_equal(const rill_type_t *t, const void *a, const void *b) {
    switch (t->kind) {
    case RILL_T_STRING: {
        const char *x = *(char *const *)a, *y = *(char *const *)b;
        return (!x && !y) || (x && y && strcmp(x, y) == 0);
    }
    case RILL_T_INT64:
        return *(const int64_t *)a == *(const int64_t *)b;
    case RILL_T_DATETIME: {
        if (!t->zoned) return *(const int64_t *)a == *(const int64_t *)b;
        const rill_datetime_t *x = a, *y = b;
        return x->us == y->us && x->zone == y->zone && x->offset_min == y->offset_min &&
               x->frac_digits == y->frac_digits;
    }
    case RILL_T_DOUBLE:
        return *(const double *)a == *(const double *)b;
    case RILL_T_BOOL:
        return *(const bool *)a == *(const bool *)b;
    case RILL_T_DECIMAL: {
        rill_decimal_t x = *(const rill_decimal_t *)a, y = *(const rill_decimal_t *)b;
        return x.unscaled == y.unscaled && x.scale == y.scale && x.written == y.written &&
               (!x.written || x.written_scale == y.written_scale);
    }
    case RILL_T_BYTES: {
        const rill_bytes_t *x = a, *y = b;
        if (!x->data || !y->data) return !x->data && !y->data;
        return x->len == y->len && (!x->len || memcmp(x->data, y->data, x->len) == 0);
    }
    case RILL_T_RECORD: {
        const void *x = *(void *const *)a, *y = *(void *const *)b;
        if (!x || !y) return !x && !y;
        return rill_record_equal(t->record, x, y);
    }
    case RILL_T_ARRAY: {
        const rill_array_t *x = a, *y = b;
        size_t sz = rill_type_csize(t->elem);
        if (x->len != y->len) return false;
        for (size_t i = 0; i < x->len; i++)
            if (!item_equal(t->elem, (const char *)x->items + i * sz,
                            (const char *)y->items + i * sz))
                return false;
        return true;
    }
    case RILL_T_MAP: {
        const rill_map_t *x = a, *y = b;
        size_t sz = rill_type_csize(t->elem);
        if (x->len != y->len) return false;
        for (size_t i = 0; i < x->len; i++) {
            bool found = false;
            for (size_t j = 0; j < y->len && !found; j++)
                found = x->keys[i] && y->keys[j] && strcmp(x->keys[i], y->keys[j]) == 0 &&
                        item_equal(t->elem, (const char *)x->values + i * sz,
                                   (const char *)y->values + j * sz);
            if (!found) return false;
        }
        return true;
    }
    }
    return false;
}

bool rill_record_equal(const rill_schema_t *s, const void *a, const void *b) {
    for (size_t i = 0; i < s->nfields; i++) {
        const rill_field_t *f = &s->fields[i];
        if (!item_equal(&f->type, (const char *)a + f->offset,
                        (const char *)b + f->offset))
            return false;
    }
    return true;
}

bool rill_value_equal(const rill_type_t *t, const void *a, const void *b) {
    if (t->kind == RILL_T_RECORD) return rill_record_equal(t->record, a, b);
    return item_equal(t, a, b);
}

/* ---- datetimes
 * ------------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* The wall time of @p us as "YYYY-MM-DDTHH:MM:SS[.f]": the fraction with @p ndigits
 * digits (1-6) while the instant fits them, else Python's rule (none on whole
 * seconds, else 6).  Returns the length. */
static int format_wall(int64_t us, int ndigits, char *buf, size_t size) {
    static const int64_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(buf, size, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (n < 0 || (size_t)n >= size) return n < 0 ? 0 : (int)size - 1;
    if (ndigits < 1 || ndigits > 6 || frac % pow10[6 - ndigits]) ndigits = frac ? 6 : 0;
    if (ndigits)
        n += snprintf(buf + n, size - (size_t)n, ".%0*d", ndigits,
                      (int)(frac / pow10[6 - ndigits]));
    return n;
}

void rill_datetime_format(int64_t us, char out[32]) {
    char buf[64];
    format_wall(us, 0, buf, sizeof buf);
    snprintf(out, 32, "%.30sZ", buf);
}

void rill_datetime_format_zoned(const rill_datetime_t *dt, char out[48]) {
    int64_t wall = dt->us;
    int off = dt->zone == RILL_DATETIME_OFFSET ? dt->offset_min : 0;
    if (__builtin_add_overflow(wall, (int64_t)off * 60000000, &wall)) {
        wall = dt->us; /* out of range: the instant in UTC */
        off = 0;
    }
    char buf[64];
    format_wall(wall, dt->frac_digits, buf, sizeof buf);
    if (dt->zone == RILL_DATETIME_NAIVE)
        snprintf(out, 48, "%.47s", buf);
    else if (dt->zone == RILL_DATETIME_OFFSET)
        snprintf(out, 48, "%.40s%c%02d:%02d", buf, off < 0 ? '-' : '+', abs(off) / 60,
                 abs(off) % 60);
    else
        snprintf(out, 48, "%.46sZ", buf);
}

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* ISO 8601 into the instant and how it was written (zone, offset, fraction). */
static rill_err_t parse_iso(const char *s, rill_datetime_t *dt) {
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (!s || strlen(s) < 10 || !digits(s, 4, &y) || s[4] != '-' ||
        !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
        return RILL_EINVAL;
    const char *p = s + 10;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (!digits(p + 1, 2, &h) || p[3] != ':' || !digits(p + 4, 2, &mi))
            return RILL_EINVAL;
        p += 6;
        if (*p == ':') {
            if (!digits(p + 1, 2, &se)) return RILL_EINVAL;
            p += 3;
        }
    } else if (*p) {
        return RILL_EINVAL;
    }
    int64_t frac = 0;
    int nfrac = 0;
    if (*p == '.' || *p == ',') {
        p++;
        while (isdigit((unsigned char)*p)) {
            if (nfrac < 6) frac = frac * 10 + (*p - '0');
            nfrac++;
            p++;
        }
        if (!nfrac) return RILL_EINVAL;
        for (int n = nfrac; n < 6; n++)
            frac *= 10;
    }
    int64_t off = 0;
    uint8_t zone = RILL_DATETIME_NAIVE;
    if (*p == 'Z' || *p == 'z') {
        zone = RILL_DATETIME_Z;
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om = 0, sign = *p == '-' ? -1 : 1;
        if (!digits(p + 1, 2, &oh)) return RILL_EINVAL;
        p += 3;
        if (*p == ':') p++;
        if (isdigit((unsigned char)*p)) {
            if (!digits(p, 2, &om)) return RILL_EINVAL;
            p += 2;
        }
        if (oh > 23 || om > 59) return RILL_EINVAL;
        off = sign * (oh * 60 + om);
        zone = RILL_DATETIME_OFFSET;
    }
    if (*p) return RILL_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || se > 60)
        return RILL_EINVAL;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
                   mi * 60 + se - off * 60;
    dt->us = secs * 1000000 + frac;
    dt->offset_min = (int16_t)off;
    dt->zone = zone;
    /* Python's rule (none on whole seconds, else 6) needs no note */
    if (nfrac > 6) nfrac = 6;
    dt->frac_digits = (uint8_t)(nfrac == 6 && frac ? 0 : nfrac);
    return RILL_OK;
}

rill_err_t rill_datetime_parse(const char *s, int64_t *us) {
    rill_datetime_t dt;
    rill_err_t rc = parse_iso(s, &dt);
    if (rc == RILL_OK) *us = dt.us;
    return rc;
}

rill_err_t rill_datetime_parse_zoned(const char *s, rill_datetime_t *dt) {
    rill_datetime_t x;
    rill_err_t rc = parse_iso(s, &x);
    if (rc == RILL_OK) *dt = x;
    return rc;
}

/* ---- decimals
 * ------------------------------------------------------------------------------- */

/* Python's str(Decimal) of coefficient @p digs (n digits) and exponent @p exp
 * (to-scientific-string: plain when exp <= 0 and the adjusted exponent >= -6). */
static void format_python(bool neg, const char *digs, int n, int exp, char *out) {
    char *w = out;
    if (neg) *w++ = '-';
    int left = exp + n;
    int dot = exp <= 0 && left > -6 ? left : 1;
    if (dot <= 0) {
        *w++ = '0';
        *w++ = '.';
        for (int i = 0; i < -dot && i < 6; i++) /* left > -6 */
            *w++ = '0';
        memcpy(w, digs, (size_t)n);
        w += n;
    } else if (dot >= n) { /* dot > n needs exp > 0, and then dot is 1 */
        memcpy(w, digs, (size_t)n);
        w += n;
    } else {
        memcpy(w, digs, (size_t)dot);
        w += dot;
        *w++ = '.';
        memcpy(w, digs + dot, (size_t)(n - dot));
        w += n - dot;
    }
    if (left != dot) w += sprintf(w, "E%+d", left - dot);
    *w = '\0';
}

bool rill_decimal_has_written(const rill_decimal_t *d) {
    if (!(d->written & RILL_DECIMAL_WRITTEN)) return false;
    rill_decimal_t x = *d;
    return rill_decimal_rescale(&x, d->written_scale) == RILL_OK;
}

void rill_decimal_format(rill_decimal_t dv, char out[48]) {
    bool as_written = rill_decimal_has_written(&dv);
    if (as_written) rill_decimal_rescale(&dv, dv.written_scale);
    uint64_t u =
        dv.unscaled < 0 ? (uint64_t)0 - (uint64_t)dv.unscaled : (uint64_t)dv.unscaled;
    char digs[32];
    int n = snprintf(digs, sizeof digs, "%llu", (unsigned long long)u);
    bool neg =
        dv.unscaled < 0 || (u == 0 && as_written && (dv.written & RILL_DECIMAL_NEG_ZERO));
    if (as_written && (dv.written & RILL_DECIMAL_EXPONENT)) {
        format_python(neg, digs, n, -dv.scale, out);
        return;
    }
    char *w = out;
    if (neg) *w++ = '-';
    int scale = dv.scale > 0 ? dv.scale : 0;
    if (scale == 0) {
        memcpy(w, digs, (size_t)n + 1);
        for (int i = 0; i < -dv.scale && i < 16; i++)
            strcat(w, "0");
        return;
    }
    if (n <= scale) {
        *w++ = '0';
        *w++ = '.';
        for (int i = n; i < scale; i++)
            *w++ = '0';
        memcpy(w, digs, (size_t)n + 1);
    } else {
        memcpy(w, digs, (size_t)(n - scale));
        w += n - scale;
        *w++ = '.';
        memcpy(w, digs + n - scale, (size_t)scale + 1);
    }
}

rill_err_t rill_decimal_parse(const char *s, rill_decimal_t *dv) {
    if (!s) return RILL_EINVAL;
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    uint64_t u = 0;
    int ndig = 0, scale = 0;
    bool any = false, point = false;
    for (;; p++) {
        if (isdigit((unsigned char)*p)) {
            any = true;
            if (ndig || *p != '0') {
                if (++ndig > 18) return RILL_EINVAL;
            }
            u = u * 10 + (uint64_t)(*p - '0');
            if (point) scale++;
        } else if (*p == '.' && !point) {
            point = true;
        } else {
            break;
        }
    }
    if (!any) return RILL_EINVAL;
    uint8_t written = 0;
    int written_scale = 0;
    if (*p == 'e' || *p == 'E') {
        char *end;
        errno = 0;
        long e = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || errno || e > 18 || e < -18) return RILL_EINVAL;
        scale -= (int)e;
        written = RILL_DECIMAL_WRITTEN | RILL_DECIMAL_EXPONENT;
        written_scale = scale;
        p = end;
        while (scale < 0) { /* 1.5e3 -> 1500, scale 0 */
            if (u > UINT64_MAX / 10 || ++ndig > 18) return RILL_EINVAL;
            u *= 10;
            scale++;
        }
    }
    if (*p) return RILL_EINVAL;
    if (neg && u == 0) {
        written |= RILL_DECIMAL_WRITTEN | RILL_DECIMAL_NEG_ZERO;
        if (!(written & RILL_DECIMAL_EXPONENT)) written_scale = scale;
    }
    *dv = (rill_decimal_t){.unscaled = neg ? -(int64_t)u : (int64_t)u,
                           .scale = scale,
                           .written_scale = (int16_t)written_scale,
                           .written = written};
    return RILL_OK;
}

rill_err_t rill_decimal_parse_scaled(const char *s, int32_t scale, rill_decimal_t *dv) {
    rill_decimal_t d;
    rill_err_t rc = rill_decimal_parse(s, &d);
    if (rc != RILL_OK) return rc;
    if (scale && d.scale != scale) {
        if (!d.written) {
            d.written = RILL_DECIMAL_WRITTEN;
            d.written_scale = (int16_t)d.scale;
        }
        if ((rc = rill_decimal_rescale(&d, scale)) != RILL_OK) return rc;
    }
    *dv = d;
    return RILL_OK;
}

rill_err_t rill_decimal_rescale(rill_decimal_t *dv, int32_t scale) {
    int64_t u = dv->unscaled;
    int32_t s = dv->scale;
    while (s < scale) {
        if (u > INT64_MAX / 10 || u < INT64_MIN / 10) return RILL_EINVAL;
        u *= 10;
        s++;
    }
    while (s > scale) {
        if (u % 10) return RILL_EINVAL; /* digits would be lost */
        u /= 10;
        s--;
    }
    dv->unscaled = u;
    dv->scale = s;
    return RILL_OK;
}
