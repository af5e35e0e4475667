/* "raw": bytes and strings as they are, int64 as 8 bytes big-endian. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rill/serializer.h"

static rill_err_t raw_encode(rill_serializer_t *s, const rill_type_t *type,
                             const void *value, rill_buf_t *out, char *errstr,
                             size_t errlen) {
    (void)s;
    switch (type->kind) {
    case RILL_T_BYTES: {
        const rill_bytes_t *b = value;
        return rill_buf_append(out, b->data, b->data ? b->len : 0);
    }
    case RILL_T_STRING: {
        const char *str = *(char *const *)value;
        if (!str) {
            snprintf(errstr, errlen, "raw: NULL string");
            return RILL_EENCODE;
        }
        return rill_buf_append(out, str, strlen(str));
    }
    case RILL_T_INT64: {
        uint64_t v = (uint64_t) * (const int64_t *)value;
        uint8_t be[8];
        for (int i = 7; i >= 0; i--, v >>= 8)
            be[i] = (uint8_t)v;
        return rill_buf_append(out, be, 8);
    }
    default:
        snprintf(errstr, errlen,
                 "raw serializer handles bytes, string and int64 only; use "
                 "json or avro for this type");
        return RILL_ENOTSUP;
    }
}

static rill_err_t raw_decode(rill_serializer_t *s, const rill_type_t *type,
                             const void *data, size_t len, void *value, char *errstr,
                             size_t errlen) {
    (void)s;
    switch (type->kind) {
    case RILL_T_BYTES: {
        rill_bytes_t *b = value;
        if (!(b->data = malloc(len ? len : 1))) return RILL_ENOMEM;
        if (len) memcpy(b->data, data, len);
        b->len = len;
        return RILL_OK;
    }
    case RILL_T_STRING: {
        if (len && memchr(data, '\0', len)) {
            snprintf(errstr, errlen, "raw: string contains a NUL byte");
            return RILL_EDECODE;
        }
        char *str = malloc(len + 1);
        if (!str) return RILL_ENOMEM;
        if (len) memcpy(str, data, len);
        str[len] = '\0';
        *(char **)value = str;
        return RILL_OK;
    }
    case RILL_T_INT64: {
        if (len != 8) {
            snprintf(errstr, errlen, "raw: int64 needs 8 bytes, got %zu", len);
            return RILL_EDECODE;
        }
        const uint8_t *p = data;
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = v << 8 | p[i];
        *(int64_t *)value = (int64_t)v;
        return RILL_OK;
    }
    default:
        snprintf(errstr, errlen,
                 "raw serializer handles bytes, string and int64 only; use "
                 "json or avro for this type");
        return RILL_ENOTSUP;
    }
}

const struct rill_serializer_ops rill_serializer_raw = {
    .abi = RILL_SERIALIZER_ABI,
    .scheme = "raw",
    .description = "bytes and strings unchanged, int64 as 8 bytes big-endian",
    .features = RILL_SERIALIZER_F_SCALARS,
    .encode = raw_encode,
    .decode = raw_decode,
};
