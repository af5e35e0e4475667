/* rill_app_stop() is safe from any callback (app.h): from a send's delivery
 * callback on Kafka the stop completes at once, without waiting out
 * shutdown.timeout.ms for a flush that cannot finish inside that callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

#include "run_until.h"

typedef struct stopper {
    rill_app_t *app;
    int delivered, flush_timeouts, stopped;
} stopper_t;

static void on_log(rill_log_level_t level, const char *name, const char *msg,
                   void *opaque) {
    (void)level;
    (void)name;
    stopper_t *s = opaque;
    if (strstr(msg, "timed out")) s->flush_timeouts++;
    if (!strcmp(msg, "stopped")) s->stopped++;
}

static void stop_when_delivered(rill_err_t err, const char *errmsg, int32_t partition,
                                int64_t offset, void *opaque) {
    (void)errmsg;
    (void)partition;
    (void)offset;
    stopper_t *s = opaque;
    if (err == RILL_OK) s->delivered++;
    rill_app_stop(s->app);
}

static void
stop_from_a_delivery_callback_does_not_wait_for_the_shutdown_timeout(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    char err[256];
    stopper_t s = {0};
    rill_conf_set(c, "broker", "kafka://mock", err, sizeof err);
    rill_conf_set(c, "shutdown.timeout.ms", "60000", err, sizeof err);
    rill_conf_set(c, "log.level", "info", err, sizeof err);
    rill_conf_set_log_cb(c, on_log, &s);
    s.app = rill_app_new_with_base("stopper", c, base, err, sizeof err);
    assert_non_null(s.app);
    rill_topic_opts_t to = {.partitions = 1};
    rill_topic_t *out = rill_app_topic(s.app, "out", &to);
    assert_non_null(out);
    if (rill_app_start(s.app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
    rill_bytes_t v = {(uint8_t *)"x", 1};
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.cb = stop_when_delivered;
    o.opaque = &s;
    assert_int_equal(rill_send(out, NULL, 0, v.data, v.len, &o), RILL_OK);
    uint64_t t0 = rill_mono_ns();
    RUN_UNTIL(base, s.stopped, 30000);
    double secs = (double)(rill_mono_ns() - t0) / 1e9;
    assert_int_equal(s.delivered, 1);
    if (!s.stopped) fail_msg("not stopped after %.1f s", secs);
    assert_int_equal(s.flush_timeouts, 0);
    rill_app_destroy(s.app);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            stop_from_a_delivery_callback_does_not_wait_for_the_shutdown_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
