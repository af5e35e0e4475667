/**
 * @file avro.h
 * @brief Avro serializer extras (available when rill is built with avro-c).
 *
 * The "avro" serializer derives each record's Avro schema from its field table:
 * records become Avro records named after the schema's namespace ("shop.Order"),
 * optional strings, bytes and records become ["null", T] unions with a null
 * default, datetimes are long/timestamp-micros, decimals bytes/decimal, arrays and
 * maps map directly.
 *
 * Confluent wire format (conf avro.confluent=true): every value starts with the
 * magic byte 0 and a 4-byte big-endian schema id.  Encoding writes the id set with
 * rill_avro_set_schema_id(); decoding looks the writer's schema up by id through
 * rill_avro_set_schema_lookup() and resolves it against the reader's record
 * (schema evolution: new optional fields take their defaults, removed fields are
 * skipped).
 */
#ifndef RILL_AVRO_H
#define RILL_AVRO_H

#include "record.h"

RILL_BEGIN_DECLS

/** @brief Return the Avro schema JSON registered under @p id, or NULL (unknown id). */
typedef const char *(*rill_avro_lookup_fn)(int32_t id, void *opaque);

/** @brief Set the process-wide schema-id lookup (e.g. backed by a schema registry). */
RILL_API void rill_avro_set_schema_lookup(rill_avro_lookup_fn fn, void *opaque);
/** @brief The schema id written for values of @p schema in Confluent format. */
RILL_API rill_err_t rill_avro_set_schema_id(const rill_schema_t *schema, int32_t id);
/** @brief Use @p json instead of the derived schema for @p schema (must match its
 * fields by name and type). */
RILL_API rill_err_t rill_avro_set_schema(const rill_schema_t *schema, const char *json,
                                         char *errstr, size_t errlen);
/** @brief The Avro schema JSON of @p schema (derived or overridden) into @p out. */
RILL_API rill_err_t rill_avro_schema_json(const rill_schema_t *schema, rill_buf_t *out);

RILL_END_DECLS

#endif
