/* Window arithmetic of windowed tables: which windows hold a timestamp, when a
 * window expires, how a window start prefixes a store key.  Layer 0. */
#include "window_int.h"

#include "be64_int.h"

int64_t rill__window_last(const rill__window_t *w, int64_t ts) {
    int64_t step = w->step_ms;
    return ts >= 0 ? ts / step * step : -((-ts + step - 1) / step) * step;
}

int64_t rill__window_first(const rill__window_t *w, int64_t ts) {
    /* windows start every step; window s holds ts when s <= ts < s + size */
    int64_t last = rill__window_last(w, ts), span = last - (ts - w->size_ms);
    return last - (span - 1) / w->step_ms * w->step_ms;
}

int64_t rill__window_cutoff(const rill__window_t *w, int64_t now) {
    return now - w->size_ms - w->expires_ms;
}

bool rill__window_expired(const rill__window_t *w, int64_t start, int64_t now) {
    return now != INT64_MIN && start <= rill__window_cutoff(w, now);
}

int64_t rill__window_grace(const rill__window_t *w) {
    if (w->grace_ms < 0) return 0;
    if (w->grace_ms == 0 || w->grace_ms > w->expires_ms) return w->expires_ms;
    return w->grace_ms;
}

bool rill__window_closed(const rill__window_t *w, int64_t start, int64_t now) {
    if (now == INT64_MIN) return false;
    /* now >= start + size + grace, without computing a sum that may overflow */
    if (now < start) return false;
    uint64_t since = (uint64_t)now - (uint64_t)start;
    return since >= (uint64_t)w->size_ms + (uint64_t)rill__window_grace(w);
}

int64_t rill__window_close_cutoff(const rill__window_t *w, int64_t now) {
    if (now == INT64_MIN) return INT64_MIN;
    int64_t d = w->size_ms, g = rill__window_grace(w), x;
    if (__builtin_add_overflow(d, g, &d) || __builtin_sub_overflow(now, d, &x) ||
        x < INT64_MIN + w->step_ms)
        return INT64_MIN;
    return rill__window_last(w, x);
}

int64_t rill__window_idle_time(int64_t stream, int64_t last_wall_ms, int64_t now_wall_ms,
                               int64_t idle_ms) {
    if (idle_ms <= 0 || stream == INT64_MIN || now_wall_ms - last_wall_ms < idle_ms)
        return stream;
    int64_t moved;
    if (__builtin_add_overflow(stream, now_wall_ms - last_wall_ms, &moved)) return stream;
    return moved;
}

bool rill__window_bad_time(int64_t ts, int64_t now_ms) {
    return ts < 0 || (now_ms <= INT64_MAX - RILL__WINDOW_MAX_FUTURE_MS &&
                      ts > now_ms + RILL__WINDOW_MAX_FUTURE_MS);
}

void rill__window_key_put(uint8_t *p, int64_t start) {
    rill__be64_put(p, (uint64_t)start ^ 0x8000000000000000ull);
}

int64_t rill__window_key_get(const uint8_t *p) {
    return (int64_t)(rill__be64_get(p) ^ 0x8000000000000000ull);
}
