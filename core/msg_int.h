/* Internal: copying message headers into one buffer (events that outlive their
 * batch, channel messages).  Layer 0 (docs/architecture.md). */
#ifndef RILL_MSG_INT_H
#define RILL_MSG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rill/transport.h"

/* Bytes the names (with their NULs) and values of @p n headers take. */
size_t rill__headers_size(const rill_header_t *hs, size_t n);
/* Copy @p n headers: their bytes to @p w, their descriptions to @p out (n entries,
 * pointing into @p w).  Returns the first byte after what was written. */
uint8_t *rill__headers_copy(rill_header_t *out, const rill_header_t *hs, size_t n,
                            uint8_t *w);

#endif
