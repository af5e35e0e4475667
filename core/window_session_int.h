/* Internal: session windows (gap-based) of windowed tables: a session of a key is
 * the half-open interval [first event, last event + gap); an event at ts makes
 * [ts, ts + gap) and merges every session of its key it overlaps into one.  An
 * in-memory index of the live sessions of one table partition, by key.  Pure code
 * of layer 0 (docs/architecture.md), unit-tested by tests/unit/test_window.c. */
#ifndef RILL_WINDOW_SESSION_INT_H
#define RILL_WINDOW_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rill__sess {
    int64_t start, end; /* [start, end): end = last event + gap */
} rill__sess_t;

/* The session an event at @p ts makes, merged with the @p n sessions @p s it
 * overlaps: [min start, max end).  Never overflows (end saturates). */
rill__sess_t rill__session_merge(const rill__sess_t *s, size_t n, int64_t ts,
                                 int64_t gap);
/* [a) and [b) overlap (touching ends do not). */
bool rill__session_overlaps(rill__sess_t a, rill__sess_t b);

typedef struct rill__sess_key rill__sess_key_t;
typedef struct rill__sess_index {
    rill__sess_key_t **slots;
    size_t cap, nkeys, nsess;
} rill__sess_index_t;

/* Sessions of @p key overlapping @p probe, copied into @p out (at most @p max);
 * returns how many there are (which may be more than @p max). */
size_t rill__sess_find(const rill__sess_index_t *x, const void *key, size_t klen,
                       rill__sess_t probe, rill__sess_t *out, size_t max);
/* Every entry of @p key, copied into @p out (at most @p max); returns how many
 * there are (sliding windows, table.c: {start, 1 when a record is at its end}). */
size_t rill__sess_all(const rill__sess_index_t *x, const void *key, size_t klen,
                      rill__sess_t *out, size_t max);
/* The entries of @p key starting in [@p lo, @p hi], sorted by start (a key's
 * entries are kept so): a pointer to the first (borrowed: valid until the index
 * changes) and how many in *n (0: NULL or any). */
const rill__sess_t *rill__sess_span(const rill__sess_index_t *x, const void *key,
                                    size_t klen, int64_t lo, int64_t hi, size_t *n);
/* The session of @p key starting at @p start, or NULL. */
const rill__sess_t *rill__sess_get(const rill__sess_index_t *x, const void *key,
                                   size_t klen, int64_t start);
/* Add (or replace: same start) a session of @p key.  0, or -1 out of memory. */
int rill__sess_put(rill__sess_index_t *x, const void *key, size_t klen, rill__sess_t s);
/* Remove the session of @p key starting at @p start (if any). */
void rill__sess_del(rill__sess_index_t *x, const void *key, size_t klen, int64_t start);
/* Visit every session (any order); stop when @p fn returns non-zero.  @p fn must not
 * change the index. */
typedef int (*rill__sess_visit_fn)(const void *key, size_t klen, rill__sess_t s,
                                   void *opaque);
void rill__sess_each(const rill__sess_index_t *x, rill__sess_visit_fn fn, void *opaque);
void rill__sess_clear(rill__sess_index_t *x);
/* One time per key (state TTL, table.c): set @p key's to @p ts (its first entry,
 * {ts, ts}); 0, or -1 out of memory. */
int rill__sess_touch(rill__sess_index_t *x, const void *key, size_t klen, int64_t ts);

#endif
