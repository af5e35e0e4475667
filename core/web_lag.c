/* Consumer lag for /metrics and the dashboard: every web.lag.interval.ms (5000; 0:
 * off) the high watermark of every assigned partition is asked of the transport
 * (RILL_TRANSPORT_F_WATERMARKS; blocking, web.lag.timeout.ms each, 100 by default) and
 * kept; the lag is that high watermark minus the partition's position (the offset below
 * which every event is done; before any, the committed one).  Only where offsets
 * count records: memory:// and kafka://.  A redis:// offset is a packed stream ID,
 * so there the high watermark is kept but no lag is given.  docs/web.md. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "web_int.h"

typedef struct rill_web_lag {
    rill_topic_t *t;
    int64_t *high; /* [partitions], -1: not known */
    struct rill_web_lag *next;
} lag_t;

static lag_t *lag_of(rill_web_t *w, rill_topic_t *t, bool create) {
    for (lag_t *l = w->lags; l; l = l->next)
        if (l->t == t) return l;
    if (!create) return NULL;
    lag_t *l = calloc(1, sizeof *l);
    if (!l || !(l->high = malloc(sizeof *l->high * (size_t)t->partitions))) {
        free(l);
        return NULL;
    }
    for (int32_t p = 0; p < t->partitions; p++)
        l->high[p] = -1;
    l->t = t;
    l->next = w->lags;
    w->lags = l;
    return l;
}

static bool counts_records(const rill_app_t *app) {
    const char *s =
        app->transport && app->transport->ops ? app->transport->ops->scheme : NULL;
    return s && (!strcmp(s, "memory") || !strcmp(s, "kafka"));
}

static void lag_refresh(evutil_socket_t fd, short what, void *opaque) {
    (void)fd;
    (void)what;
    rill_web_t *w = opaque;
    rill_app_t *app = w->app;
    if (app->state != RILL_APP_RUNNING || !app->transport) return;
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->parts || !t->nagents || t->channel) continue;
        lag_t *l = lag_of(w, t, true);
        if (!l) return;
        for (int32_t p = 0; p < t->partitions; p++) {
            int64_t lo = 0, hi = -1;
            if (!t->parts[p].assigned ||
                rill__tr_watermarks(app->transport, t->name, p, &lo, &hi,
                                    (int)w->lag_timeout_ms) != RILL_OK)
                hi = -1;
            l->high[p] = hi;
        }
    }
}

int64_t rill__web_lag(rill_web_t *w, rill_topic_t *t, int32_t p, int64_t *high) {
    lag_t *l = lag_of(w, t, false);
    *high = l && p < t->partitions ? l->high[p] : -1;
    if (*high < 0 || !counts_records(w->app)) return -1;
    const rill_tpstate_t *tp = &t->parts[p];
    int64_t pos = tp->acks.acked >= 0 ? tp->acks.acked : tp->committed;
    if (pos < 0) return -1;
    return *high > pos ? *high - pos : 0;
}

rill_err_t rill__web_lag_start(rill_web_t *w) {
    rill_app_t *app = w->app;
    int64_t ms = rill_conf_get_int(app->conf, "web.lag.interval.ms", 5000);
    w->lag_timeout_ms = rill_conf_get_int(app->conf, "web.lag.timeout.ms", 100);
    if (ms <= 0 || !app->transport ||
        !rill__tr_has(app->transport, RILL_TRANSPORT_F_WATERMARKS))
        return RILL_OK;
    w->lag_ev = event_new(app->base, -1, EV_PERSIST, lag_refresh, w);
    if (!w->lag_ev) return RILL_ENOMEM;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(w->lag_ev, &tv);
    return RILL_OK;
}

void rill__web_lag_stop(rill_web_t *w) {
    if (w->lag_ev) event_free(w->lag_ev);
    w->lag_ev = NULL;
    while (w->lags) {
        lag_t *l = w->lags;
        w->lags = l->next;
        free(l->high);
        free(l);
    }
}
