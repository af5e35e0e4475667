/* The json serializer's simdjson decoder (json_simdjson.cpp), behind json.c's C
 * vtable: the only C++ in rill, compiled when RILL_WITH_SIMDJSON is on. */
#ifndef RILL_JSON_SIMDJSON_H
#define RILL_JSON_SIMDJSON_H

#include <stdbool.h>
#include <stddef.h>

#include "rill/serializer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Decode @p data into @p value (initialised by the caller) as json.c's jansson
 * decoder does, without a DOM of allocated nodes.  RILL_OK, or an error code
 * without a message: then json.c decodes the same bytes with jansson, which
 * decides (some inputs simdjson refuses jansson accepts, e.g. nesting deeper than
 * 1024) and words the error naming the field, so that messages and acceptance
 * are the same whichever decoder runs. */
rill_err_t rill__json_simd_decode(rill_serializer_t *self, const rill_type_t *type,
                                  const void *data, size_t len, void *value,
                                  bool check_ns);

/* json.c's base64 decoder (standard alphabet, padded). */
rill_err_t rill__json_b64_decode(const char *s, size_t n, rill_bytes_t *out);

#ifdef __cplusplus
}
#endif

#endif
