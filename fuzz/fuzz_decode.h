/* A record with every field kind, decoded by each decoder fuzz target. */
#ifndef RILL_FUZZ_DECODE_H
#define RILL_FUZZ_DECODE_H

#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

typedef struct fz_inner {
    char *label;
    int64_t n;
} fz_inner_t;

RILL_RECORD(fz_inner_schema, fz_inner_t, "fuzz.Inner", RILL_F(fz_inner_t, label, STRING),
            RILL_F(fz_inner_t, n, INT64));

static const rill_type_t fz_inner_type = {.kind = RILL_T_RECORD,
                                          .record = &fz_inner_schema};

typedef struct fz_all {
    char *s;
    int64_t i;
    double d;
    bool b;
    rill_bytes_t raw;
    int64_t when;
    rill_decimal_t price;
    fz_inner_t *maybe;
    rill_array_t tags;
    rill_array_t inners;
    rill_map_t scores;
} fz_all_t;

RILL_RECORD(fz_all_schema, fz_all_t, "fuzz.All", RILL_F(fz_all_t, s, STRING),
            RILL_F(fz_all_t, i, INT64), RILL_F(fz_all_t, d, DOUBLE),
            RILL_F(fz_all_t, b, BOOL), RILL_F(fz_all_t, raw, BYTES),
            RILL_F(fz_all_t, when, DATETIME), RILL_F_DECIMAL(fz_all_t, price, 12, 2),
            RILL_F_OPT_RECORD(fz_all_t, maybe, &fz_inner_schema),
            RILL_F_ARRAY(fz_all_t, tags, &rill_type_string),
            RILL_F_ARRAY(fz_all_t, inners, &fz_inner_type),
            RILL_F_MAP(fz_all_t, scores, &rill_type_int64));

static rill_serializer_t *fuzz_ser;

static void fuzz_fini(void) {
    rill_serializer_destroy(fuzz_ser);
}

/* Open the serializer and fill its schema cache once, before inputs are
 * counted, so leak detection sees only what one input allocates. */
static void fuzz_init(const char *name) {
    char err[256];
    if (!(fuzz_ser = rill_serializer_new(name, NULL, err, sizeof err))) abort();
    atexit(fuzz_fini);
    fz_all_t v;
    rill_record_init(&fz_all_schema, &v);
    rill_serializer_decode(fuzz_ser, RILL_TYPE_RECORD(&fz_all_schema), "", 0, &v, err,
                           sizeof err);
    rill_record_clear(&fz_all_schema, &v);
    fz_inner_t in;
    rill_record_init(&fz_inner_schema, &in);
    rill_serializer_decode(fuzz_ser, &fz_inner_type, "", 0, &in, err, sizeof err);
    rill_record_clear(&fz_inner_schema, &in);
}

/* Decode @p data: any input, no crash, no leak. */
static int fuzz_decode(const uint8_t *data, size_t size) {
    rill_serializer_t *s = fuzz_ser;
    char err[256];
    fz_all_t v;
    rill_record_init(&fz_all_schema, &v);
    rill_serializer_decode(s, RILL_TYPE_RECORD(&fz_all_schema), data, size, &v, err,
                           sizeof err);
    rill_record_clear(&fz_all_schema, &v);
    fz_inner_t in;
    rill_record_init(&fz_inner_schema, &in);
    rill_serializer_decode(s, &fz_inner_type, data, size, &in, err, sizeof err);
    rill_record_clear(&fz_inner_schema, &in);
    return 0;
}

#endif
