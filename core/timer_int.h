/* Internal, layer 5 (docs/architecture.md): timers and tasks (timer.c) */
#ifndef RILL_TIMER_INT_H
#define RILL_TIMER_INT_H

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
    struct rill_timer *next;
};

rill_err_t rill__timers_start(rill_app_t *app);
void rill__timers_stop(rill_app_t *app);
void rill__timers_run_on_stop(rill_app_t *app);
void rill__timer_free(rill_timer_t *t);

#endif
