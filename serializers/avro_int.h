/* The avro serializer's direct codec (avro_direct.c), used by avro.c. */
#ifndef RILL_AVRO_INT_H
#define RILL_AVRO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rill/record.h"
#include "rill/types.h"

/* Append @p v of type @p t to @p out as Avro binary in the schema rill derives for
 * @p t.  Returns false (and leaves out->len as it was) for anything it does not
 * write itself: a value the schema cannot hold (a required NULL, a decimal that
 * does not fit its scale), a map with repeated keys, or out of memory; the caller
 * then takes avro-c's path, which writes the same bytes or names the error. */
bool rill__avro_direct_encode(const rill_type_t *t, const void *v, rill_buf_t *out);

/* Read the Avro binary @p p .. @p p + @p len, written in the schema rill derives
 * for @p t, into @p v (a record: the struct itself, set up by rill_record_init).
 * Returns false for anything unusual (bad or truncated data, trailing bytes, a map
 * with repeated keys, nesting past 64, out of memory); @p v is then valid but
 * partly filled, and the caller reads the data again through avro-c, which
 * overwrites it or says what is wrong. */
bool rill__avro_direct_decode(const rill_type_t *t, const uint8_t *p, size_t len,
                              void *v);

#endif
