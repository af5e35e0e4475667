/* Timers (every N seconds, or at crontab times in a timezone: cron.c), tasks (once
 * at start) and on-stop hooks; stream-time timers (stream_timer.c) are listed here
 * too, to be freed with the app. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "timer_int.h"
#include "topic_int.h"

static rill_timer_t *timer_add(rill_app_t *app, const char *name, double interval,
                               bool once, bool on_stop, rill_timer_fn fn, void *opaque) {
    if (!app) return NULL; /* rill_app_new failed: its error says why */
    if (!fn) {
        rill__app_deferr(app, "timer '%s': a callback is required", name ? name : "");
        return NULL;
    }
    if (!once && !on_stop && interval >= 0 && !(interval > 0 && isfinite(interval))) {
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
    if (interval >= 0 && app->state == RILL_APP_RUNNING &&
        rill__timers_start(app) != RILL_OK)
        return NULL; /* a crontab timer starts once it is complete */
    return t;
}

rill_timer_t *rill_app_crontab(rill_app_t *app, const char *expr, const char *tz,
                               rill_timer_fn fn, void *opaque) {
    if (!app) return NULL;
    rill__cron_t c;
    char err[256];
    if (rill__cron_parse(expr, &c, err, sizeof err)) {
        rill__app_deferr(app, "crontab '%s': %s", expr ? expr : "", err);
        return NULL;
    }
    if (!rill__cron_tz_valid(tz)) {
        rill__app_deferr(
            app,
            "crontab '%s': unknown timezone '%s' (a TZ database name such "
            "as 'Europe/Oslo' or 'UTC', under $TZDIR or /usr/share/zoneinfo)",
            expr, tz);
        return NULL;
    }
    char *tzc = tz && *tz ? strdup(tz) : NULL;
    if (tz && *tz && !tzc) {
        rill__app_deferr(app, "out of memory");
        return NULL;
    }
    rill_timer_t *t = timer_add(app, expr, -1, false, false, fn, opaque); /* -1: cron */
    if (!t) {
        free(tzc);
        return NULL;
    }
    t->is_cron = true;
    t->cron = c;
    t->tz = tzc;
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

rill_timer_t *rill__timer_add_stream(rill_app_t *app, const char *name, void *state) {
    rill_timer_t *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        free(state);
        rill__app_deferr(app, "out of memory");
        return NULL;
    }
    t->app = app;
    t->interval = -1;
    t->stream_state = state;
    rill_timer_t **pp = &app->timers;
    while (*pp)
        pp = &(*pp)->next;
    *pp = t;
    return t;
}

static void cron_arm(rill_timer_t *t);

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill_timer_t *t = arg;
    rill_app_t *app = t->app;
    if (t->is_cron) cron_arm(t); /* the next one first: fn may take a while */
    if (app->state != RILL_APP_RUNNING) return;
    /* Sends of its last firing still wait for room in the transport's queue: a
     * firing now would only add to them (as a Faust timer awaits its sends before
     * its next round).  It fires once they left. */
    if (t->held_upto && !rill__backlog_left(app, t->held_upto)) {
        if (!t->deferred)
            rill__log(app, RILL_LOG_DEBUG,
                      "timer '%s': its last sends wait for room in the transport's "
                      "queue; it fires again once they left",
                      t->name);
        t->deferred = true;
        return;
    }
    t->deferred = false;
    uint64_t before = rill__backlog_held_total(app);
    t->fn(app, t->opaque);
    uint64_t after = rill__backlog_held_total(app);
    t->held_upto = after > before ? after : 0;
}

/* Schedule crontab timer @p t at its next minute after now. */
static void cron_arm(rill_timer_t *t) {
    int64_t now_ms = rill_now_ms();
    int64_t at = rill__cron_next(&t->cron, t->tz, now_ms / 1000);
    if (at < 0) {
        rill__log(t->app, RILL_LOG_WARN,
                  "crontab '%s': no matching time in the next 5 years: never fires",
                  t->name);
        return;
    }
    int64_t ms = at * 1000 - now_ms;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};
    event_add(t->ev, &tv);
}

rill_err_t rill__timers_start(rill_app_t *app) {
    for (rill_timer_t *t = app->timers; t; t = t->next) {
        if (t->on_stop || t->ev || t->stream_state) continue;
        t->ev =
            event_new(app->base, -1, t->once || t->is_cron ? 0 : EV_PERSIST, on_timer, t);
        if (!t->ev) return RILL_ENOMEM;
        if (t->is_cron) {
            cron_arm(t);
            continue;
        }
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

void rill__timers_unblocked(rill_app_t *app) {
    if (app->state != RILL_APP_RUNNING) return;
    for (rill_timer_t *t = app->timers; t; t = t->next)
        if (t->deferred && t->ev) event_active(t->ev, EV_TIMEOUT, 1);
}

void rill__timers_run_on_stop(rill_app_t *app) {
    for (rill_timer_t *t = app->timers; t; t = t->next)
        if (t->on_stop) t->fn(app, t->opaque);
}

void rill__timer_free(rill_timer_t *t) {
    if (t->ev) event_free(t->ev);
    free(t->name);
    free(t->tz);
    free(t->stream_state);
    free(t);
}
