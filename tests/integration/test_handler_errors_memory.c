/* A handler's failure is logged with its specific reason (what the failing call
 * said in rill_app_errmsg), not only the error code's generic text. */
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

typedef struct w {
    rill_app_t *app;
    rill_topic_t *in;
    rill_table_t *counts;
    int handled;
    char logged[1024];
} w_t;

static void on_log(rill_log_level_t level, const char *name, const char *msg,
                   void *opaque) {
    (void)name;
    w_t *w = opaque;
    if (level <= RILL_LOG_ERROR && strstr(msg, "handler failed") && !w->logged[0])
        snprintf(w->logged, sizeof w->logged, "%s", msg);
}

/* Writes key "NO", which belongs to another partition than the event's. */
static rill_err_t write_foreign_key(rill_event_t *ev, void *opaque) {
    (void)ev;
    w_t *w = opaque;
    w->handled++;
    return rill_table_incr(w->counts, ev, "NO", 2, 1, NULL);
}

static rill_err_t fail_plainly(rill_event_t *ev, void *opaque) {
    (void)ev;
    w_t *w = opaque;
    w->handled++;
    return RILL_EINVAL;
}

static void start(w_t *w, struct event_base *base, const char *url, rill_agent_fn fn) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "table.key_partition_check", "refuse", err, sizeof err);
    rill_conf_set_log_cb(c, on_log, w);
    w->app = rill_app_new_with_base("he", c, base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 4};
    w->in = rill_app_topic(w->app, "in", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->in};
    w->counts = rill_app_table(w->app, "counts", &o);
    assert_non_null(rill_app_agent(w->app, "a", w->in, fn, w, NULL));
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void send_to(w_t *w, int32_t partition) {
    rill_bytes_t v = {(uint8_t *)"x", 1};
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.partition = partition;
    assert_int_equal(rill_send(w->in, NULL, 0, v.data, v.len, &o), RILL_OK);
}

static void failed_handler_log_names_the_specific_reason(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    w_t w = {0};
    start(&w, base, "memory://handler-errors-1", write_foreign_key);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    int32_t home = rill_partition_for_key("NO", 2, 4);
    send_to(&w, (home + 1) % 4);
    RUN_UNTIL(base, w.logged[0], 3000);
    assert_int_equal(w.handled, 1);
    if (!strstr(w.logged, "belongs to partition") || !strstr(w.logged, "group_by") ||
        !strstr(w.logged, "RILL_ENOTOWNER"))
        fail_msg("log line without its reason: %s", w.logged);
    rill_app_destroy(w.app);
    event_base_free(base);
}

/* A handler that returns a code without any message gets the code's name and text;
 * an earlier event's message is not reused. */
static void failed_handler_without_a_message_logs_the_code(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    w_t w = {0};
    start(&w, base, "memory://handler-errors-2", fail_plainly);
    RUN_UNTIL(base, rill_app_is_ready(w.app), 1000);
    rill_table_incr(w.counts, NULL, "x", 1, 1, NULL); /* outside a handler: sets errmsg */
    send_to(&w, 0);
    RUN_UNTIL(base, w.logged[0], 3000);
    if (!strstr(w.logged, "RILL_EINVAL") || !strstr(w.logged, rill_err2str(RILL_EINVAL)))
        fail_msg("log line: %s", w.logged);
    rill_app_destroy(w.app);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failed_handler_log_names_the_specific_reason),
        cmocka_unit_test(failed_handler_without_a_message_logs_the_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
