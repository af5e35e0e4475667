/**
 * @file serializer.h
 * @brief Serializer interface (plugin API) and direct use of serializers.
 *
 * A serializer turns a value described by a rill_type_t (a record schema, or a
 * scalar such as rill_type_int64) into bytes and back.  Built-ins: "raw" (bytes
 * and strings as they are), "json" (jansson, Faust-compatible records), "avro".
 */
#ifndef RILL_SERIALIZER_H
#define RILL_SERIALIZER_H

#include "plugin.h"
#include "record.h"

RILL_BEGIN_DECLS

#define RILL_SERIALIZER_ABI 1

typedef struct rill_serializer rill_serializer_t;

/** @brief Feature bits (ops.features): RILL_SERIALIZER_F_*, as RILL_TRANSPORT_F_*. */
#define RILL_SERIALIZER_F_RECORDS 0x1u /**< encodes record types (raw does not) */
#define RILL_SERIALIZER_F_SCALARS 0x2u /**< encodes scalar types */

/** @deprecated Old spellings; use RILL_SERIALIZER_F_*. */
#define RILL_SF_RECORDS RILL_SERIALIZER_F_RECORDS
#define RILL_SF_SCALARS RILL_SERIALIZER_F_SCALARS

struct rill_serializer_ops {
    unsigned abi; /**< RILL_SERIALIZER_ABI */
    /** What the registry finds it by, as a transport's or store's scheme: "json"
     * (serializer=json, rill_serializer_find("json")), also the prefix of its
     * conf keys ("json.faust.ns").  `.name` is the old spelling of the same
     * field (deprecated); an instance's own name is rill_serializer.name. */
    union {
        const char *scheme;
        const char *name;
    };
    const char *description;
    uint32_t features;
    const rill_prop_t *props; /**< may be NULL */
    size_t impl_size;

    /** Prepare an instance.  May be NULL. */
    rill_err_t (*open)(rill_serializer_t *s, const rill_conf_t *conf, char *errstr,
                       size_t errlen);
    /** Append the encoding of @p value (of @p type) to @p out. For a RECORD type
     * @p value points at the struct.  Errors name the field. */
    rill_err_t (*encode)(rill_serializer_t *s, const rill_type_t *type, const void *value,
                         rill_buf_t *out, char *errstr, size_t errlen);
    /** Decode @p len bytes into @p value, which the caller zeroed (records: inited
     * with rill_record_init).  On error @p value may hold partial data the caller
     * releases with rill_value_clear.  Never crashes on any input. */
    rill_err_t (*decode)(rill_serializer_t *s, const rill_type_t *type, const void *data,
                         size_t len, void *value, char *errstr, size_t errlen);
    /** Release the instance.  May be NULL. */
    void (*close)(rill_serializer_t *s);
};

/** @brief An instance: one ops table, per-app state in impl. */
struct rill_serializer {
    const struct rill_serializer_ops *ops;
    void *impl;
    const rill_logger_t *log;
    char name[32];
    /** The core's: where rill_serializer_strdup() puts the strings of the decode
     * running now (an event's value), or NULL (malloc). */
    struct rill_strings *strings;
};

/** @brief Plugin API: a NUL-terminated copy of @p n bytes at @p p, for a string a
 * decode() writes into its value.  Inside an event's decode it is carved from
 * memory the event keeps (no malloc, no free per string), else malloc()ed.
 * @returns NULL when out of memory.
 * @remark ownership: the value owns it; release a string a decode replaces with
 * rill_serializer_strfree(), never free(); rill_value_clear() does the rest. */
RILL_API char *rill_serializer_strdup(rill_serializer_t *s, const char *p, size_t n);
/** @brief Plugin API: release @p str (NULL: nothing) from rill_serializer_strdup()
 * or malloc() (a default), replaced while decoding with @p s. */
RILL_API void rill_serializer_strfree(rill_serializer_t *s, char *str);

/** @brief Register a serializer for every app created afterwards (name must be unique).
 */
RILL_API rill_err_t rill_register_serializer(const struct rill_serializer_ops *ops);
/** @brief Look up a registered serializer by name; NULL if none. */
RILL_API const struct rill_serializer_ops *rill_serializer_find(const char *name);

/** @brief Open a standalone instance (tests, tools). @p conf may be NULL. */
RILL_API rill_serializer_t *rill_serializer_new(const char *name, const rill_conf_t *conf,
                                                char *errstr, size_t errlen);
RILL_API void rill_serializer_destroy(rill_serializer_t *s);
RILL_API rill_err_t rill_serializer_encode(rill_serializer_t *s, const rill_type_t *type,
                                           const void *value, rill_buf_t *out,
                                           char *errstr, size_t errlen);
RILL_API rill_err_t rill_serializer_decode(rill_serializer_t *s, const rill_type_t *type,
                                           const void *data, size_t len, void *value,
                                           char *errstr, size_t errlen);

RILL_END_DECLS

#endif
