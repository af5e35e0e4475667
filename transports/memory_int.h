/* Internals of the memory:// transport shared with its tests (never installed). */
#ifndef RILL_TRANSPORT_MEMORY_INT_H
#define RILL_TRANSPORT_MEMORY_INT_H

#include <stddef.h>
#include <stdint.h>

/* Chunk bytes partition @p partition of @p topic on broker @p broker ("default" for
 * memory://) holds now: what its chunk allocator counts towards huge pages.  0 when
 * there is no such broker, topic or partition.  For tests. */
size_t rill__memory_held_bytes(const char *broker, const char *topic, int32_t partition);

#endif
