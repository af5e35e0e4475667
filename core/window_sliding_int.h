/* Internal: sliding windows of windowed tables (Kafka Streams' SlidingWindows):
 * windows of a fixed time difference d, [start, start + d] (both ends included),
 * made only where a key's records are: one ending at each record's time (its left
 * window, [ts - d, ts]) and one starting just after it (its right window,
 * [ts + 1, ts + 1 + d]) when a later record falls in it.  Every distinct set of
 * records a window of d can hold is then one of these windows, so a new window's
 * aggregate is another window's (the one holding the same records) plus, or not,
 * the new record: no record is stored.  Pure code of layer 0
 * (docs/architecture.md), unit-tested by tests/unit/test_window.c. */
#ifndef RILL_WINDOW_SLIDING_INT_H
#define RILL_WINDOW_SLIDING_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One window of a key: its start, and whether a record is at its end (a left
 * window); the times of a key's records are the ends of its left windows. */
typedef struct rill__slide_win {
    int64_t start;
    bool left;
} rill__slide_win_t;

/* No window: a new window starts from the default value. */
#define RILL__SLIDE_NONE INT64_MIN

/* One write a record makes: window @c start (new, or existing: @c created) gets
 * the value of window @c from (created windows: RILL__SLIDE_NONE, the default;
 * existing ones: itself) with the record applied to it when @c add (incr adds,
 * set replaces); @c left is its mark after the write, @c was_left before (an
 * existing window that becomes a left window changes its store key). */
typedef struct rill__slide_op {
    int64_t start, from;
    bool created, add, left, was_left;
} rill__slide_op_t;

/* Keep, in place, the windows of @p w (@p n) a record or a read at @p ts needs:
 * those starting in [ts - 3 diff - 2, ts + diff + 2] (the windows it makes and
 * updates start in [ts - diff, ts + 1], the ones they derive from within diff + 1
 * before, and those windows' records - the ends of left windows - within diff
 * after).  Returns how many; plans and finds on them are the same as on all. */
size_t rill__slide_near(rill__slide_win_t *w, size_t n, int64_t diff, int64_t ts);
/* The bounds [*lo, *hi] of the starts rill__slide_near keeps (a caller holding a
 * key's windows sorted takes that span of them instead of filtering). */
void rill__slide_near_bounds(int64_t diff, int64_t ts, int64_t *lo, int64_t *hi);

/* Sort @p w by start (the order rill__slide_plan and rill__slide_find need). */
void rill__slide_sort(rill__slide_win_t *w, size_t n);

/* The writes a record at @p ts makes to a key's windows @p w (@p n, sorted by
 * start) of time difference @p diff, into @p out (room for n + 3): created
 * windows first (their sources are read before any window is updated), then the
 * existing windows holding @p ts.  @p scratch has room for n times.  Returns how
 * many.  Whether the record is late is the caller's (its left window closed). */
size_t rill__slide_plan(const rill__slide_win_t *w, size_t n, int64_t diff, int64_t ts,
                        int64_t *scratch, rill__slide_op_t *out);

/* The window among @p w (sorted) holding exactly the key's records in [from,
 * from + diff]: its start in *start and true; false when there are none there
 * (*start = RILL__SLIDE_NONE) or no window holds them. */
bool rill__slide_find(const rill__slide_win_t *w, size_t n, int64_t diff, int64_t from,
                      int64_t *scratch, int64_t *start);

/* How long sliding windows are kept after their end at least: a window a late
 * record's new windows derive from is then still there.  @p grace: in effect. */
int64_t rill__slide_keep(int64_t diff, int64_t grace);

#endif
