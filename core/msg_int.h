/* Internal: copying a message (events that outlive their batch, channel messages,
 * held sends) into one allocation.  Layer 0 (docs/architecture.md). */
#ifndef RILL_MSG_INT_H
#define RILL_MSG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rill/transport.h"

/* A message's parts a copy takes: key, value and headers (and a topic name, for an
 * event's own copy).  A NULL key or value (no key, a tombstone) stays NULL. */
typedef struct rill__msg_parts {
    const char *topic; /* NULL: not copied */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const rill_header_t *headers;
    size_t nheaders;
} rill__msg_parts_t;

/* Bytes rill__msg_copy allocates for @p m after a leading struct of @p lead bytes. */
size_t rill__msg_copy_size(size_t lead, const rill__msg_parts_t *m);
/* One allocation of @p size bytes (rill__msg_copy_size(lead, m); 0: computed here):
 * @p lead zeroed bytes for the caller's struct, then copies of @p m's headers
 * (descriptions, names, values), key, value and topic, which @p out describes (it
 * may be @p m).  Free it with free().  NULL: out of memory. */
void *rill__msg_copy(size_t lead, const rill__msg_parts_t *m, size_t size,
                     rill__msg_parts_t *out);

#endif
