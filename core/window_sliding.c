/* Sliding windows: which windows a record makes and updates, and which window
 * holds the same records as another (window_sliding_int.h).  Layer 0. */
#include "window_sliding_int.h"

#include <stdlib.h>

static int cmp_win(const void *a, const void *b) {
    int64_t x = ((const rill__slide_win_t *)a)->start;
    int64_t y = ((const rill__slide_win_t *)b)->start;
    return (x > y) - (x < y);
}

void rill__slide_near_bounds(int64_t diff, int64_t ts, int64_t *lo, int64_t *hi) {
    *lo = ts - 3 * diff - 2;
    *hi = ts + diff + 2;
}

size_t rill__slide_near(rill__slide_win_t *w, size_t n, int64_t diff, int64_t ts) {
    int64_t lo, hi;
    rill__slide_near_bounds(diff, ts, &lo, &hi);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (w[i].start >= lo && w[i].start <= hi) w[m++] = w[i];
    return m;
}

void rill__slide_sort(rill__slide_win_t *w, size_t n) {
    if (n > 1) qsort(w, n, sizeof *w, cmp_win);
}

/* The key's record times, ascending: the ends of its left windows. */
static size_t record_times(const rill__slide_win_t *w, size_t n, int64_t diff,
                           int64_t *r) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (w[i].left) r[m++] = w[i].start + diff;
    return m;
}

/* The first of @p r (ascending, @p m) that is >= @p t. */
static size_t lower(const int64_t *r, size_t m, int64_t t) {
    size_t lo = 0, hi = m;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The records in [from, from + diff]: r[*lo..*hi). */
static void records_in(const int64_t *r, size_t m, int64_t from, int64_t diff, size_t *lo,
                       size_t *hi) {
    *lo = lower(r, m, from);
    *hi = from + diff == INT64_MAX ? m : lower(r, m, from + diff + 1);
}

/* The first of @p w (sorted, @p n) starting at or after @p start. */
static size_t lower_win(const rill__slide_win_t *w, size_t n, int64_t start) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool has_window(const rill__slide_win_t *w, size_t n, int64_t start) {
    size_t i = lower_win(w, n, start); /* w may be NULL (n = 0) */
    return i < n && w[i].start == start;
}

/* A window of @p w holding exactly the records r[lo..hi) (not empty), or
 * RILL__SLIDE_NONE: the first one starting after r[lo - 1], at or before r[lo],
 * ending at or after r[hi - 1] and before r[hi] (found by binary search). */
static int64_t same_records(const rill__slide_win_t *w, size_t n, int64_t diff,
                            const int64_t *r, size_t m, size_t lo, size_t hi) {
    if (lo >= hi) return RILL__SLIDE_NONE;
    int64_t from = r[hi - 1] - diff; /* r are window ends: no overflow */
    if (lo > 0 && r[lo - 1] + 1 > from) from = r[lo - 1] + 1;
    size_t i = lower_win(w, n, from);
    if (i == n || w[i].start > r[lo] || (hi < m && w[i].start >= r[hi] - diff))
        return RILL__SLIDE_NONE;
    return w[i].start;
}

typedef struct plan {
    const rill__slide_win_t *w;
    size_t n;
    int64_t diff;
    const int64_t *r;
    size_t m;
    rill__slide_op_t *out;
    size_t nout;
} plan_t;

static bool planned(const plan_t *p, int64_t start) {
    for (size_t i = 0; i < p->nout; i++)
        if (p->out[i].start == start) return true;
    return has_window(p->w, p->n, start);
}

/* Create window @p start unless it exists: from the window holding its other
 * records (those it holds before this one). */
static void create(plan_t *p, int64_t start, bool add, bool left) {
    if (planned(p, start)) return;
    size_t lo, hi;
    records_in(p->r, p->m, start, p->diff, &lo, &hi);
    int64_t from = same_records(p->w, p->n, p->diff, p->r, p->m, lo, hi);
    p->out[p->nout++] = (rill__slide_op_t){start, from, true, add, left, false};
}

size_t rill__slide_plan(const rill__slide_win_t *w, size_t n, int64_t diff, int64_t ts,
                        int64_t *scratch, rill__slide_op_t *out) {
    plan_t p = {w, n, diff, scratch, record_times(w, n, diff, scratch), out, 0};
    int64_t left = ts - diff;
    /* the window ending at the record */
    create(&p, left, true, true);
    /* the right window of the record before it, when this is the first record
     * after it (later ones found it made) */
    size_t before = lower(p.r, p.m, ts);
    if (before > 0 && p.r[before - 1] + 1 + diff >= ts)
        create(&p, p.r[before - 1] + 1, true, p.r[before - 1] + 1 + diff == ts);
    /* its own right window, when a record (out of order: later) is in it */
    size_t lo, hi;
    records_in(p.r, p.m, ts + 1, diff, &lo, &hi);
    if (lo < hi) {
        size_t e = lower(p.r, p.m, ts + 1 + diff);
        create(&p, ts + 1, false, e < p.m && p.r[e] == ts + 1 + diff);
    }
    /* the windows that already hold it */
    for (size_t i = lower_win(w, n, left); i < n; i++) {
        if (w[i].start > ts) break;
        out[p.nout++] = (rill__slide_op_t){
            w[i].start, w[i].start, false, true, w[i].left || w[i].start == left,
            w[i].left};
    }
    return p.nout;
}

bool rill__slide_find(const rill__slide_win_t *w, size_t n, int64_t diff, int64_t from,
                      int64_t *scratch, int64_t *start) {
    size_t m = record_times(w, n, diff, scratch), lo, hi;
    records_in(scratch, m, from, diff, &lo, &hi);
    *start = same_records(w, n, diff, scratch, m, lo, hi);
    return *start != RILL__SLIDE_NONE;
}

int64_t rill__slide_keep(int64_t diff, int64_t grace) {
    int64_t k;
    if (__builtin_mul_overflow(diff + 1, 2, &k) || __builtin_add_overflow(k, grace, &k))
        return INT64_MAX;
    return k;
}
