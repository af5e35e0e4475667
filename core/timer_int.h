/* Internal, layer 5 (docs/architecture.md): timers and tasks (timer.c) */
#ifndef RILL_TIMER_INT_H
#define RILL_TIMER_INT_H

#include "cron_int.h"
#include "ctx_int.h"

struct rill_timer {
    rill_app_t *app;
    char *name;
    double interval;
    bool once; /* a task */
    bool on_stop;
    rill_timer_fn fn;
    void *opaque;
    struct event *ev;
    /* backpressure: the number of the last send its last firing made that the
     * backlog held (0: none); while that one is held the timer skips its firings
     * (deferred) and fires once it left (rill__timers_unblocked) */
    uint64_t held_upto;
    bool deferred;
    /* a crontab timer: fires at the minutes @p cron matches in @p tz */
    bool is_cron;
    rill__cron_t cron;
    char *tz; /* NULL: local time */
    /* a stream-time timer (stream_timer.c): listed here to be freed with the app,
     * never armed on the loop (it fires from its agent's events); its state is one
     * allocation, freed with it */
    void *stream_state;
    struct rill_timer *next;
};

rill_err_t rill__timers_start(rill_app_t *app);
void rill__timers_stop(rill_app_t *app);
/* The send backlog emptied (hooks.sends_unblocked): the timers it deferred fire. */
void rill__timers_unblocked(rill_app_t *app);
void rill__timers_run_on_stop(rill_app_t *app);
void rill__timer_free(rill_timer_t *t);
/* Add stream-time timer @p name owning @p state (freed with the timer); NULL and a
 * definition error when out of memory (@p state is freed then too). */
rill_timer_t *rill__timer_add_stream(rill_app_t *app, const char *name, void *state);

#endif
