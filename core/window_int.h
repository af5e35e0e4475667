/* Internal: window arithmetic of windowed tables (tumbling: step == size; hopping:
 * step < size).  Pure functions of layer 0 (docs/architecture.md), unit-tested by
 * tests/unit/test_window.c. */
#ifndef RILL_WINDOW_INT_H
#define RILL_WINDOW_INT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rill__window {
    int64_t size_ms, step_ms; /* step_ms > 0, size_ms >= step_ms */
    int64_t expires_ms;       /* kept this long after the window's end */
    /* late events still count this long after the window's end (at most
     * expires_ms); negative: no grace; 0: the whole expires_ms (the default) */
    int64_t grace_ms;
} rill__window_t;

/* Bytes of the window-start prefix of a windowed store key. */
#define RILL__WKEY 8

/* The latest window containing @p ts (Faust's current()): @p ts floored to the step,
 * also for negative times. */
int64_t rill__window_last(const rill__window_t *w, int64_t ts);
/* The oldest window containing @p ts; every step from it to rill__window_last(). */
int64_t rill__window_first(const rill__window_t *w, int64_t ts);
/* Windows starting at or before this are expired once stream time is @p now. */
int64_t rill__window_cutoff(const rill__window_t *w, int64_t now);
/* Window @p start has expired at stream time @p now (INT64_MIN: no time seen yet). */
bool rill__window_expired(const rill__window_t *w, int64_t start, int64_t now);

/* The grace period of @p w in effect: grace_ms, 0 for a negative one, expires_ms
 * for 0 or one longer than expires_ms. */
int64_t rill__window_grace(const rill__window_t *w);
/* Window @p start no longer takes events at stream time @p now: its end plus the
 * grace period has passed (INT64_MIN: no time seen yet).  Never overflows. */
bool rill__window_closed(const rill__window_t *w, int64_t start, int64_t now);

/* The latest window start that is closed at stream time @p now (every window
 * starting at or before it is closed): INT64_MIN when none is (no time yet). */
int64_t rill__window_close_cutoff(const rill__window_t *w, int64_t now);

/* Stream time of an idle partition: @p stream (the largest event time seen, at
 * wall-clock @p last_wall_ms, its last event) moved on by the wall-clock time since,
 * once @p idle_ms have passed without an event at @p now_wall_ms (idle_ms 0: never). */
int64_t rill__window_idle_time(int64_t stream, int64_t last_wall_ms, int64_t now_wall_ms,
                               int64_t idle_ms);

/* Event timestamps a windowed table refuses (counted, the event's writes skipped):
 * before the epoch, or more than RILL__WINDOW_MAX_FUTURE_MS past @p now_ms. */
#define RILL__WINDOW_MAX_FUTURE_MS (24LL * 3600 * 1000)
bool rill__window_bad_time(int64_t ts, int64_t now_ms);

/* Window starts as a key prefix that sorts like the numbers, negatives first. */
void rill__window_key_put(uint8_t *p, int64_t start);
int64_t rill__window_key_get(const uint8_t *p);

#endif
