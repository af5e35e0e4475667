/* Internal: per-partition acknowledgement tracking.
 *
 * Events of a partition arrive in offset order but may finish out of order
 * (concurrency > 1, async handlers, several agents on one topic).  The committable
 * offset is the highest offset below which every event is done: never past an
 * event still in flight (faust-streaming/faust#606), and never stuck on gaps in
 * the offsets (compacted topics, robinhood/faust#401) because only offsets that
 * were actually received are waited for. */
#ifndef RILL_OFFSETS_INT_H
#define RILL_OFFSETS_INT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rill_acks_slot {
    int64_t offset;
    uint32_t refs; /* completions still outstanding for this offset */
} rill_acks_slot_t;

typedef struct rill_acks {
    rill_acks_slot_t *ring; /* pending offsets, ascending, from head */
    size_t cap, head, len;
    int64_t acked; /* every received offset below this is done; -1: nothing yet */
} rill_acks_t;

void rill__acks_init(rill_acks_t *a);
void rill__acks_free(rill_acks_t *a);
/* Forget everything (partition revoked / reassigned). */
void rill__acks_reset(rill_acks_t *a);
/* rill__acks_add with events in flight, or one still to finish: the ring. */
int rill__acks_add_pending(rill_acks_t *a, int64_t offset, uint32_t refs);
/* A received event at @p offset, done, with nothing pending before it
 * (rill__acks_pending 0): the committable position moves past it.  What
 * rill__acks_add(a, offset, 0) does then, for a caller that checked. */
static inline void rill__acks_advance(rill_acks_t *a, int64_t offset) {
    assert(a->len == 0);
    a->acked = offset + 1;
}
/* A received event at @p offset with @p refs completions outstanding (0: done).
 * Returns 0, or -1 on ENOMEM.  Inline: once per consumed event, and usually
 * nothing is in flight and the event is done. */
static inline int rill__acks_add(rill_acks_t *a, int64_t offset, uint32_t refs) {
    if (a->len == 0 && refs == 0) {
        rill__acks_advance(a, offset);
        return 0;
    }
    return rill__acks_add_pending(a, offset, refs);
}
/* One completion of @p offset.  Returns false if it was not pending. */
bool rill__acks_done(rill_acks_t *a, int64_t offset);
/* Offsets received and not done yet. */
static inline size_t rill__acks_pending(const rill_acks_t *a) {
    return a->len;
}

#endif
