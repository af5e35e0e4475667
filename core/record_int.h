/* Internal, layer 0 (docs/architecture.md): record helpers the core shares
 * (record.c). */
#ifndef RILL_RECORD_INT_H
#define RILL_RECORD_INT_H

#include "rill/record.h"

/* The size of a top-level value of @p t in its C representation: a record is its
 * struct (rill_type_csize gives a record member's pointer size). */
size_t rill__value_csize(const rill_type_t *t);

/* The strings of an event's decoded key and value (rill_serializer_strdup while
 * rill_serializer_t.strings points here): carved from buf, kept with the pooled
 * event; what does not fit is malloc()ed, and the next reset grows buf to it. */
struct rill_strings {
    char *buf;
    size_t cap, used;
    size_t want; /* bytes asked for since the last reset */
};

void rill__strings_grow(struct rill_strings *a);
/* Every string carved from @p a is gone: start again (with room for what the last
 * decode wanted, up to a bound).  Inline: every event's release calls it. */
static inline void rill__strings_reset(struct rill_strings *a) {
    if (a->want > a->cap) rill__strings_grow(a);
    a->used = 0;
    a->want = 0;
}
void rill__strings_free(struct rill_strings *a);
/* rill_value_clear, not freeing the strings carved from @p a (NULL: none, and then
 * it is rill_value_clear).  With @p a, a record's struct is not zeroed: an event
 * zeroes it before its next decode. */
void rill__value_clear_in(const rill_type_t *t, void *v, const struct rill_strings *a);

#endif
