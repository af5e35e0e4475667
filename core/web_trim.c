/* The heap given back after a burst of connections (issue 13, item 7).
 *
 * A burst (garbage, partial requests held open, a thousand connections at once)
 * needs a few hundred KB of heap for its connections' buffers.  Once they are
 * closed, glibc keeps the freed pages: the top of the heap is given back only
 * past M_TRIM_THRESHOLD and never from the middle, where the worker's own
 * allocations made during the burst pin it.  So once the server has held
 * TRIM_BURST connections (counted or being drained) at once and is back to
 * TRIM_QUIET or fewer (a dashboard's event stream, a scrape), it asks glibc for
 * the free pages back TRIM_DELAY_MS later, if still that quiet (malloc_trim(0),
 * which also releases whole free pages in the middle of the heap).  On the
 * abuse test's 4.4 MB worker that is 130-170 KB of the 0.3-0.5 MB the first
 * round leaves.
 *
 * The trim walks the free chunks of every arena, under each arena's lock: it
 * runs at most once per burst, and a burst cannot end more often than every
 * TRIM_DELAY_MS.  Elsewhere than glibc it does nothing. */
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "web_int.h"

#define TRIM_BURST 16
#define TRIM_QUIET 4
#define TRIM_DELAY_MS 1000

static void on_trim(evutil_socket_t fd, short what, void *opaque) {
    (void)fd;
    (void)what;
    rill_web_t *w = opaque;
    if (rill__web_conns(w) + w->ndrains > TRIM_QUIET) return; /* re-armed later */
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    w->trims++;
    rill_log(w->app->log, RILL_LOG_DEBUG, w->app->id,
             "web server: heap given back after %zu connections at once", w->trim_peak);
    w->trim_peak = 0;
}

rill_err_t rill__web_trim_start(rill_web_t *w) {
    w->trim_ev = event_new(w->app->base, -1, 0, on_trim, w);
    return w->trim_ev ? RILL_OK : RILL_ENOMEM;
}

void rill__web_trim_stop(rill_web_t *w) {
    if (w->trim_ev) event_free(w->trim_ev);
    w->trim_ev = NULL;
}

void rill__web_trim_note(rill_web_t *w) {
    size_t open = rill__web_conns(w) + w->ndrains;
    if (open > w->trim_peak) w->trim_peak = open;
    if (open > TRIM_QUIET || w->trim_peak < TRIM_BURST || !w->trim_ev ||
        event_pending(w->trim_ev, EV_TIMEOUT, NULL))
        return;
    struct timeval tv = {TRIM_DELAY_MS / 1000, (TRIM_DELAY_MS % 1000) * 1000};
    event_add(w->trim_ev, &tv);
}
