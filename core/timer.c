/* Timers (every N seconds), tasks (once at start) and on-stop hooks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "timer_int.h"

static rill_timer_t *timer_add(rill_app_t *app, const char *name, double interval,
                               bool once, bool on_stop, rill_timer_fn fn, void *opaque) {
    if (!app) return NULL; /* rill_app_new failed: its error says why */
    if (!fn) {
        rill__app_deferr(app, "timer '%s': a callback is required", name ? name : "");
        return NULL;
    }
    if (!once && !on_stop && !(interval > 0 && isfinite(interval))) {
        rill__app_deferr(app, "timer '%s': interval must be a positive number of seconds",
                         name ? name : "");
        return NULL;
    }
    rill_timer_t *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name ? name : "timer"))) {
        free(t);
        rill__app_deferr(app, "out of memory");
        return NULL;
    }
    t->app = app;
    t->interval = interval;
    t->once = once;
    t->on_stop = on_stop;
    t->fn = fn;
    t->opaque = opaque;
    rill_timer_t **pp = &app->timers;
    while (*pp)
        pp = &(*pp)->next;
    *pp = t;
    if (app->state == RILL_APP_RUNNING && rill__timers_start(app) != RILL_OK) return NULL;
    return t;
}

rill_timer_t *rill_app_timer(rill_app_t *app, const char *name, double interval_s,
                             rill_timer_fn fn, void *opaque) {
    return timer_add(app, name, interval_s, false, false, fn, opaque);
}

rill_err_t rill_app_task(rill_app_t *app, const char *name, rill_timer_fn fn,
                         void *opaque) {
    return timer_add(app, name, 0, true, false, fn, opaque) ? RILL_OK : RILL_EINVAL;
}

rill_err_t rill_app_on_stop(rill_app_t *app, rill_timer_fn fn, void *opaque) {
    return timer_add(app, "on_stop", 0, false, true, fn, opaque) ? RILL_OK : RILL_EINVAL;
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill_timer_t *t = arg;
    if (t->app->state != RILL_APP_RUNNING) return;
    t->fn(t->app, t->opaque);
}

rill_err_t rill__timers_start(rill_app_t *app) {
    for (rill_timer_t *t = app->timers; t; t = t->next) {
        if (t->on_stop || t->ev) continue;
        t->ev = event_new(app->base, -1, t->once ? 0 : EV_PERSIST, on_timer, t);
        if (!t->ev) return RILL_ENOMEM;
        double s = t->once ? 0 : t->interval;
        struct timeval tv = {(time_t)s, (suseconds_t)((s - floor(s)) * 1e6)};
        event_add(t->ev, &tv);
    }
    return RILL_OK;
}

void rill__timers_stop(rill_app_t *app) {
    for (rill_timer_t *t = app->timers; t; t = t->next)
        if (t->ev) event_del(t->ev);
}

void rill__timers_run_on_stop(rill_app_t *app) {
    for (rill_timer_t *t = app->timers; t; t = t->next)
        if (t->on_stop) t->fn(app, t->opaque);
}

void rill__timer_free(rill_timer_t *t) {
    if (t->ev) event_free(t->ev);
    free(t->name);
    free(t);
}
