/**
 * @file record.h
 * @brief Records: a C struct plus a field table, declared once with RILL_RECORD.
 *
 * C has no reflection, so serializers work from a table that names each member,
 * its type and its offset.  Declare the struct, then its table:
 *
 * @code
 * typedef struct { char *from_name; char *to_name; } greeting_t;
 * RILL_RECORD(greeting_schema, greeting_t, "gen.Greeting",
 *             RILL_F(greeting_t, from_name, STRING),
 *             RILL_F(greeting_t, to_name, STRING));
 * @endcode
 *
 * Every field macro checks at compile time that the member has the C type its
 * kind requires, so a table cannot silently disagree with its struct.
 *
 * C representation of each kind (as a struct member, array item or map value):
 *
 * | kind      | C type            | null / absent                       |
 * |-----------|-------------------|-------------------------------------|
 * | STRING    | char *            | NULL                                |
 * | INT64     | int64_t           | optional: the default               |
 * | DOUBLE    | double            | optional: the default               |
 * | BOOL      | bool              | optional: the default               |
 * | BYTES     | rill_bytes_t      | data == NULL                        |
 * | DATETIME  | int64_t (µs UTC)  | optional: the default               |
 * |           | or rill_datetime_t| (the instant plus its zone as written) |
 * | DECIMAL   | rill_decimal_t    | optional: the default (0)           |
 * | RECORD    | struct T *        | NULL                                |
 * | ARRAY     | rill_array_t      | len 0                               |
 * | MAP       | rill_map_t        | len 0                               |
 *
 * Round trips (a record decoded and encoded again, e.g. a Faust app's record that
 * a rill app passes on): a DATETIME member of type rill_datetime_t keeps how the
 * text gave its zone (naive, "Z", "+02:00") and its fraction's digits, so JSON
 * writes the same text again; an int64_t member keeps only the instant and is
 * written in UTC with "Z".  A decimal keeps its digits as written ("100" stays
 * "100" under a scale-2 schema, "1E+2" stays "1E+2") while `unscaled`/`scale`
 * hold the amount at the schema's scale.  Avro keeps neither (timestamp-micros is
 * an instant; decimal bytes have the schema's scale): decoding Avro gives "Z"
 * datetimes and decimals at the schema's scale.
 *
 * Strings, bytes, nested records, arrays and maps are owned by the record and
 * released by rill_record_clear()/rill_record_free().  A top-level record value
 * is the struct itself; a nested record member is a pointer to its struct.
 */
#ifndef RILL_RECORD_H
#define RILL_RECORD_H

#include <stddef.h>

#include "types.h"

RILL_BEGIN_DECLS

typedef enum rill_kind {
    RILL_T_STRING = 1,
    RILL_T_INT64,
    RILL_T_DOUBLE,
    RILL_T_BOOL,
    RILL_T_BYTES,
    RILL_T_DATETIME,
    RILL_T_DECIMAL,
    RILL_T_RECORD,
    RILL_T_ARRAY,
    RILL_T_MAP,
} rill_kind_t;

/** @brief A fixed-point decimal: unscaled * 10^-scale (Faust writes them as strings).
 *
 * Readers use `unscaled` and `scale` (after decoding: the schema's scale when it
 * has one).  `written`/`written_scale` remember the text's own digits when they
 * differ from that (zero for values a program makes: formatted at `scale`), so
 * the value is written again as it came, as long as the amount still fits them. */
typedef struct rill_decimal {
    int64_t unscaled;
    int32_t scale;
    int16_t written_scale; /**< RILL_DECIMAL_WRITTEN: digits after the point as
                                written (negative: the exponent of "1E+2") */
    uint8_t written;       /**< 0, or RILL_DECIMAL_WRITTEN and the flags below */
    uint8_t reserved_;
} rill_decimal_t;

/* rill_decimal_t.written flags */
#define RILL_DECIMAL_WRITTEN 0x1u  /**< written_scale holds the text's scale */
#define RILL_DECIMAL_EXPONENT 0x2u /**< with an exponent: Python's "1E+2" form */
#define RILL_DECIMAL_NEG_ZERO 0x4u /**< "-0" (Python's Decimal keeps the sign) */

/** @brief How a datetime's text gave its zone (rill_datetime_t.zone). */
typedef enum rill_datetime_zone {
    RILL_DATETIME_Z = 0,      /**< UTC written "Z" (and what rill writes by default) */
    RILL_DATETIME_OFFSET = 1, /**< an offset "+02:00" (also "+00:00"): offset_min */
    RILL_DATETIME_NAIVE = 2,  /**< no zone (Python's naive datetime): `us` is the wall
                                   time read as if UTC */
} rill_datetime_zone_t;

/** @brief A datetime that keeps how it was written (a DATETIME member or item).
 *
 * `us` is the instant, as the int64_t form holds it (and it comes first, so code
 * that reads a DATETIME as int64_t sees it).  A zero-initialised value is UTC and
 * is written with "Z". */
typedef struct rill_datetime {
    int64_t us;          /**< µs since the epoch, UTC (naive: the wall time as UTC) */
    int16_t offset_min;  /**< RILL_DATETIME_OFFSET: minutes east of UTC (+02:00: 120) */
    uint8_t zone;        /**< rill_datetime_zone_t */
    uint8_t frac_digits; /**< 1-6: digits of fraction as written; 0: Python's rule
                              (none on whole seconds, else 6) */
} rill_datetime_t;

/** @brief An owned array of items in their C representation. */
typedef struct rill_array {
    void *items;
    size_t len;
} rill_array_t;

/** @brief An owned string-keyed map; values in their C representation. */
typedef struct rill_map {
    char **keys;
    void *values;
    size_t len;
} rill_map_t;

struct rill_schema;

/** @brief A value type: a kind plus what the kind needs. */
typedef struct rill_type {
    rill_kind_t kind;
    const struct rill_schema *record; /**< RECORD: the nested record's schema */
    const struct rill_type *elem;     /**< ARRAY, MAP: the item / value type */
    uint8_t precision;                /**< DECIMAL: total digits (Avro) */
    uint8_t scale;                    /**< DECIMAL: digits after the point */
    uint8_t zoned; /**< DATETIME: the C type is rill_datetime_t (else int64_t) */
} rill_type_t;

/** @brief Default of an optional field (the member matching the field's kind). */
typedef union rill_default {
    int64_t i;     /**< INT64, DATETIME, DECIMAL (unscaled) */
    double d;      /**< DOUBLE */
    bool b;        /**< BOOL */
    const char *s; /**< STRING (copied) */
} rill_default_t;

#define RILL_FIELD_OPTIONAL 0x1u

typedef struct rill_field {
    const char *name;
    size_t offset;
    rill_type_t type;
    unsigned flags;     /**< RILL_FIELD_OPTIONAL */
    rill_default_t def; /**< used when an optional field is absent or null */
} rill_field_t;

typedef struct rill_schema {
    const char *name; /**< the C type's name, e.g. "order_t" */
    const char *ns;   /**< full name, e.g. "shop.Order" (Faust ns, Avro fullname) */
    size_t size;      /**< sizeof the struct */
    const rill_field_t *fields;
    size_t nfields;
} rill_schema_t;

/* Built-in scalar types, for topic keys/values, table values and array items. */
RILL_API extern const rill_type_t rill_type_string;
RILL_API extern const rill_type_t rill_type_int64;
RILL_API extern const rill_type_t rill_type_double;
RILL_API extern const rill_type_t rill_type_bool;
RILL_API extern const rill_type_t rill_type_bytes;
RILL_API extern const rill_type_t rill_type_datetime;
/** @brief A datetime as rill_datetime_t (keeps the zone it was written with). */
RILL_API extern const rill_type_t rill_type_datetime_zoned;

/** @brief A pointer to a (static) type for a record schema. */
#define RILL_TYPE_RECORD(schema)                                                         \
    (&(const rill_type_t){.kind = RILL_T_RECORD, .record = (schema)})
/** @brief A pointer to a (static) array-of-@p elem type. */
#define RILL_TYPE_ARRAY(elem) (&(const rill_type_t){.kind = RILL_T_ARRAY, .elem = (elem)})
/** @brief A pointer to a (static) map-of-@p elem type. */
#define RILL_TYPE_MAP(elem) (&(const rill_type_t){.kind = RILL_T_MAP, .elem = (elem)})
/** @brief A pointer to a (static) decimal type. */
#define RILL_TYPE_DECIMAL(p, s)                                                          \
    (&(const rill_type_t){.kind = RILL_T_DECIMAL, .precision = (p), .scale = (s)})

/* ---- field macros ------------------------------------------------------------- */

/* RILL__IS_<KIND>(x): 1 when expression x has a C type the kind takes. */
#define RILL__IS_STRING(x) _Generic((x), char * : 1, default : 0)
#define RILL__IS_INT64(x) _Generic((x), int64_t : 1, default : 0)
#define RILL__IS_DOUBLE(x) _Generic((x), double : 1, default : 0)
#define RILL__IS_BOOL(x) _Generic((x), bool : 1, default : 0)
#define RILL__IS_BYTES(x) _Generic((x), rill_bytes_t : 1, default : 0)
#define RILL__IS_DATETIME(x) _Generic((x), int64_t : 1, rill_datetime_t : 1, default : 0)
#define RILL__IS_DECIMAL(x) _Generic((x), rill_decimal_t : 1, default : 0)
#define RILL__IS_ARRAY(x) _Generic((x), rill_array_t : 1, default : 0)
#define RILL__IS_MAP(x) _Generic((x), rill_map_t : 1, default : 0)
/* 1 when member m of T is a rill_datetime_t (rill_type_t.zoned). */
#define RILL__ZONED(T, m) _Generic(((T *)0)->m, rill_datetime_t : 1, default : 0)

#define RILL__DEF_STRING s
#define RILL__DEF_INT64 i
#define RILL__DEF_DOUBLE d
#define RILL__DEF_BOOL b
#define RILL__DEF_DATETIME i
#define RILL__DEF_DECIMAL i

/* The C types each kind takes, for the compile-time messages. */
#define RILL__CNAME_STRING "char *"
#define RILL__CNAME_INT64 "int64_t"
#define RILL__CNAME_DOUBLE "double"
#define RILL__CNAME_BOOL "bool"
#define RILL__CNAME_BYTES "rill_bytes_t"
#define RILL__CNAME_DATETIME "int64_t nor rill_datetime_t"
#define RILL__CNAME_DECIMAL "rill_decimal_t"
#define RILL__CNAME_ARRAY "rill_array_t"
#define RILL__CNAME_MAP "rill_map_t"
#define RILL__NOT_DATETIME "neither "
#define RILL__NOT_STRING "not "
#define RILL__NOT_INT64 "not "
#define RILL__NOT_DOUBLE "not "
#define RILL__NOT_BOOL "not "
#define RILL__NOT_BYTES "not "
#define RILL__NOT_DECIMAL "not "
#define RILL__NOT_ARRAY "not "
#define RILL__NOT_MAP "not "

/* Compile-time check that member m of T has a C type KIND takes (0 when it does);
 * else the compiler stops with "field 'amount' of order_t is declared RILL_INT64
 * but is not int64_t" (a static assertion inside a struct, so it can sit in an
 * initialiser). */
#define RILL__CHECK(T, m, KIND)                                                          \
    (0 * sizeof(struct {                                                                 \
         _Static_assert(RILL__IS_##KIND(((T *)0)->m),                                    \
                        "field '" #m "' of " #T " is declared RILL_" #KIND               \
                        " but is " RILL__NOT_##KIND RILL__CNAME_##KIND);                 \
         char rill__ok;                                                                  \
     }))
/* Nested records are pointers: check the member is pointer-sized and deref-able. */
#define RILL__CHECK_PTR(T, m) (0 * sizeof(*((T *)0)->m))

/** @brief A required scalar field: KIND is STRING, INT64, DOUBLE, BOOL, BYTES, DATETIME.
 */
#define RILL_F(T, m, KIND)                                                               \
    {                                                                                    \
        .name = #m, .offset = offsetof(T, m) + RILL__CHECK(T, m, KIND), .type = {        \
            .kind = RILL_T_##KIND,                                                       \
            .zoned = RILL__ZONED(T, m)                                                   \
        }                                                                                \
    }

/** @brief An optional scalar field with a default (NULL for STRING/BYTES). */
#define RILL_F_OPT(T, m, KIND, defval)                                                   \
    {                                                                                    \
        .name = #m, .offset = offsetof(T, m) + RILL__CHECK(T, m, KIND),                  \
        .type = {.kind = RILL_T_##KIND, .zoned = RILL__ZONED(T, m)},                     \
        .flags = RILL_FIELD_OPTIONAL, .def = {                                           \
            .RILL__DEF_##KIND = (defval)                                                 \
        }                                                                                \
    }

/** @brief An optional bytes field (absent: data NULL). */
#define RILL_F_OPT_BYTES(T, m)                                                           \
    {                                                                                    \
        .name = #m, .offset = offsetof(T, m) + RILL__CHECK(T, m, BYTES),                 \
        .type = {.kind = RILL_T_BYTES}, .flags = RILL_FIELD_OPTIONAL                     \
    }

/** @brief A decimal field with Avro precision and scale. */
#define RILL_F_DECIMAL(T, m, prec, scl)                                                  \
    {                                                                                    \
        .name = #m, .offset = offsetof(T, m) + RILL__CHECK(T, m, DECIMAL), .type = {     \
            .kind = RILL_T_DECIMAL,                                                      \
            .precision = (prec),                                                         \
            .scale = (scl)                                                               \
        }                                                                                \
    }

/** @brief A required nested record: member is `struct X *`. */
#define RILL_F_RECORD(T, m, schema)                                                      \
    {                                                                                    \
        .name = #m, .offset = offsetof(T, m) + RILL__CHECK_PTR(T, m), .type = {          \
            .kind = RILL_T_RECORD,                                                       \
            .record = (schema)                                                           \
        }                                                                                \
    }

/** @brief An optional nested record (null: NULL pointer). */
#define RILL_F_OPT_RECORD(T, m, schema)                                                  \
    {                                                                                    \
        .name = #m, .offset = offsetof(T, m) + RILL__CHECK_PTR(T, m),                    \
        .type = {.kind = RILL_T_RECORD, .record = (schema)},                             \
        .flags = RILL_FIELD_OPTIONAL                                                     \
    }

/** @brief An array field; @p elem is a `const rill_type_t *` (e.g. &rill_type_int64). */
#define RILL_F_ARRAY(T, m, elemtype)                                                     \
    {                                                                                    \
        .name = #m, .offset = offsetof(T, m) + RILL__CHECK(T, m, ARRAY), .type = {       \
            .kind = RILL_T_ARRAY,                                                        \
            .elem = (elemtype)                                                           \
        }                                                                                \
    }

/** @brief A string-keyed map field; @p elem is the value type. */
#define RILL_F_MAP(T, m, elemtype)                                                       \
    {                                                                                    \
        .name = #m, .offset = offsetof(T, m) + RILL__CHECK(T, m, MAP), .type = {         \
            .kind = RILL_T_MAP,                                                          \
            .elem = (elemtype)                                                           \
        }                                                                                \
    }

/** @brief Declare schema @p var for struct type @p T with namespace @p ns. */
#define RILL_RECORD(var, T, nsname, ...)                                                 \
    static const rill_field_t var##__fields[] = {__VA_ARGS__};                           \
    const rill_schema_t var = {.name = #T,                                               \
                               .ns = (nsname),                                           \
                               .size = sizeof(T),                                        \
                               .fields = var##__fields,                                  \
                               .nfields = sizeof(var##__fields) / sizeof(rill_field_t)}

/* ---- lifecycle ------------------------------------------------------------------ */

/** @brief Size in bytes of a value of @p type in its C representation. */
RILL_API size_t rill_type_csize(const rill_type_t *type);

/** @brief Check a schema (unique names, known kinds, nested schemas).  Fills errstr. */
RILL_API rill_err_t rill_schema_validate(const rill_schema_t *schema, char *errstr,
                                         size_t errlen);

/** @brief Zero @p rec and apply the defaults of optional fields. */
RILL_API rill_err_t rill_record_init(const rill_schema_t *schema, void *rec);
/** @brief Allocate and init a record.  @returns NULL on ENOMEM. */
RILL_API void *rill_record_new(const rill_schema_t *schema);
/** @brief Free what the record owns and zero it (the struct itself stays). */
RILL_API void rill_record_clear(const rill_schema_t *schema, void *rec);
/** @brief rill_record_clear() then free(rec).  NULL is a no-op. */
RILL_API void rill_record_free(const rill_schema_t *schema, void *rec);
/** @brief Deep copy @p src into uninitialised @p dst. */
RILL_API rill_err_t rill_record_copy(const rill_schema_t *schema, void *dst,
                                     const void *src);
/** @brief Deep copy into a new allocation. @returns NULL on ENOMEM. */
RILL_API void *rill_record_dup(const rill_schema_t *schema, const void *src);
/** @brief Deep equality (doubles compared exactly). */
RILL_API bool rill_record_equal(const rill_schema_t *schema, const void *a,
                                const void *b);

/* Same operations for any value type (record: the value is the struct). */
RILL_API void rill_value_clear(const rill_type_t *type, void *value);
RILL_API rill_err_t rill_value_copy(const rill_type_t *type, void *dst, const void *src);
RILL_API bool rill_value_equal(const rill_type_t *type, const void *a, const void *b);

/* ---- datetime and decimal text forms ---------------------------------------------- */

/** @brief Format µs since epoch as ISO 8601 UTC ("2024-01-02T03:04:05.123456Z",
 * fraction omitted when zero).  @p out needs 32 bytes. */
RILL_API void rill_datetime_format(int64_t us, char out[32]);
/** @brief Parse ISO 8601 ("Z" or "+hh:mm" offset; none means UTC) into µs. */
RILL_API rill_err_t rill_datetime_parse(const char *s, int64_t *us);
/** @brief Parse ISO 8601 into the instant plus how its zone and fraction were
 * written: "2024-01-02T03:04:05" (naive), "...Z", "...+02:00". */
RILL_API rill_err_t rill_datetime_parse_zoned(const char *s, rill_datetime_t *dt);
/** @brief Format as it was written: Python's isoformat() for naive and offset
 * values ("2024-01-02T05:04:05+02:00"), "Z" for UTC; the fraction with the digits
 * it was written with while the instant fits them.  @p out needs 48 bytes. */
RILL_API void rill_datetime_format_zoned(const rill_datetime_t *dt, char out[48]);
/** @brief Format a decimal ("-12.50"): with its digits as written when it has
 * them and the amount still fits them, else at its scale.  @p out needs 48 bytes. */
RILL_API void rill_decimal_format(rill_decimal_t d, char out[48]);
/** @brief Parse "-12.50" or "1e3"; at most 18 significant digits.  An exponent or
 * "-0" is remembered in d->written (formatted again as Python's str(Decimal)). */
RILL_API rill_err_t rill_decimal_parse(const char *s, rill_decimal_t *d);
/** @brief Parse, then hold the amount at @p scale (0: the text's own scale),
 * remembering the text's digits when they differ (the JSON decoders use this).
 * RILL_EINVAL when the text is no decimal or has more digits than @p scale. */
RILL_API rill_err_t rill_decimal_parse_scaled(const char *s, int32_t scale,
                                              rill_decimal_t *d);
/** @brief Whether d->written applies: it is set and the amount still fits the
 * digits as written (an amount changed to 100.5 no longer fits "100"). */
RILL_API bool rill_decimal_has_written(const rill_decimal_t *d);
/** @brief Rescale to @p scale (ERANGE-like RILL_EINVAL when digits would be lost).
 * The digits as written (d->written) stay as they are. */
RILL_API rill_err_t rill_decimal_rescale(rill_decimal_t *d, int32_t scale);

RILL_END_DECLS

#endif
