/* Per-partition ack tracking: a ring of pending offsets (see offsets_int.h). */
#include <stdlib.h>
#include <string.h>

#include "offsets_int.h"

void rill__acks_init(rill_acks_t *a) {
    memset(a, 0, sizeof *a);
    a->acked = -1;
}

void rill__acks_free(rill_acks_t *a) {
    free(a->ring);
    rill__acks_init(a);
}

void rill__acks_reset(rill_acks_t *a) {
    a->head = a->len = 0;
    a->acked = -1;
}

static rill_acks_slot_t *slot(rill_acks_t *a, size_t i) {
    return &a->ring[(a->head + i) % a->cap];
}

/* Pop finished offsets from the head, advancing the committable position. */
static void advance(rill_acks_t *a) {
    while (a->len && a->ring[a->head].refs == 0) {
        a->acked = a->ring[a->head].offset + 1;
        a->head = (a->head + 1) % a->cap;
        a->len--;
    }
}

int rill__acks_add_pending(rill_acks_t *a, int64_t offset, uint32_t refs) {
    if (a->len == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        rill_acks_slot_t *r = malloc(cap * sizeof *r);
        if (!r) return -1;
        for (size_t i = 0; i < a->len; i++)
            r[i] = *slot(a, i);
        free(a->ring);
        a->ring = r;
        a->cap = cap;
        a->head = 0;
    }
    if (a->len == 0 && a->acked < 0) a->acked = offset;
    *slot(a, a->len) = (rill_acks_slot_t){offset, refs};
    a->len++;
    advance(a);
    return 0;
}

bool rill__acks_done(rill_acks_t *a, int64_t offset) {
    size_t lo = 0, hi = a->len;
    while (lo < hi) { /* offsets ascend from the head: binary search */
        size_t mid = lo + (hi - lo) / 2;
        if (slot(a, mid)->offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == a->len || slot(a, lo)->offset != offset || slot(a, lo)->refs == 0)
        return false;
    slot(a, lo)->refs--;
    advance(a);
    return true;
}
