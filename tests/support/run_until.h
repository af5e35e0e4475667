/* Test helper: run an event_base until a condition holds or a time passes. */
#ifndef RILL_RUN_UNTIL_H
#define RILL_RUN_UNTIL_H

#include <event2/event.h>
#include <rill/rill.h>

static inline void rill_test_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Dispatch @p base in slices of 2 ms until @p cond holds or @p ms milliseconds pass. */
#define RUN_UNTIL(base, cond, ms)                                                        \
    do {                                                                                 \
        uint64_t end_ = rill_mono_ns() + (uint64_t)(ms)*1000000u;                        \
        struct event *t_ = event_new((base), -1, EV_PERSIST, rill_test_tick, (base));    \
        struct timeval tv_ = {0, 2000};                                                  \
        event_add(t_, &tv_);                                                             \
        while (!(cond) && rill_mono_ns() < end_)                                         \
            event_base_dispatch(base);                                                   \
        event_free(t_);                                                                  \
    } while (0)

#endif
