/* take(n, within): events batched per agent, delivered together when n are
 * held or within seconds passed; dropped with a lost partition, delivered at a
 * revoke.  Layer 4 (docs/architecture.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "event_int.h"

static void take_flush(rill_agent_t *a) {
    if (!a->nbatch) return;
    if (a->take_ev) event_del(a->take_ev);
    size_t n = a->nbatch;
    rill_event_t **evs = malloc(n * sizeof *evs);
    if (!evs) {
        rill_app_fail(a->app, RILL_ENOMEM, "out of memory delivering a batch");
        return;
    }
    memcpy(evs, a->batch, n * sizeof *evs);
    a->nbatch = 0;
    rill_err_t rc = a->batch_fn(evs, n, a->opaque);
    for (size_t i = 0; i < n; i++)
        rill__event_complete(evs[i], rc);
    free(evs);
}

static void on_take_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    take_flush(arg);
}

void rill__take_add(rill_event_t *ev) {
    rill_agent_t *a = ev->agent;
    if (rill__event_own(ev) != RILL_OK) {
        rill_app_fail(a->app, RILL_ENOMEM, "out of memory keeping a batched event");
        return;
    }
    rill__event_hold(ev);
    a->batch[a->nbatch++] = ev;
    if (!a->take_ev && !(a->take_ev = evtimer_new(a->app->base, on_take_timer, a))) {
        rill_app_fail(a->app, RILL_ENOMEM, "out of memory");
        return;
    }
    if (a->nbatch == 1) {
        struct timeval tv = {
            (time_t)a->take_within,
            (suseconds_t)((a->take_within - floor(a->take_within)) * 1e6)};
        evtimer_add(a->take_ev, &tv);
    }
    /* Full: deliver from the loop, not from inside this event's dispatch. */
    if (a->nbatch >= a->take_n) event_active(a->take_ev, EV_TIMEOUT, 0);
}

void rill__take_drop(rill_app_t *app, const rill_tpstate_t *tp) {
    for (rill_agent_t *a = app->agents; a; a = a->next) {
        size_t k = 0;
        for (size_t i = 0; i < a->nbatch; i++) {
            if (a->batch[i]->tp == tp)
                rill__event_abandon(a->batch[i]);
            else
                a->batch[k++] = a->batch[i];
        }
        a->nbatch = k;
        if (!k && a->take_ev) event_del(a->take_ev);
    }
}

void rill__take_flush_all(rill_app_t *app) {
    for (rill_agent_t *a = app->agents; a; a = a->next)
        take_flush(a);
}
