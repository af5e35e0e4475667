/* rill_app_is_ready() keeps what app.h promises: true only once every assigned
 * partition is recovered and consuming. */
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

/* memory:// whose changelog readers never deliver: recovery cannot finish. */
static rill_err_t silent_reader_open(rill_transport_t *t, rill_reader_t *r,
                                     int64_t offset) {
    (void)t;
    (void)r;
    (void)offset;
    return RILL_OK;
}

static struct rill_transport_ops stuck;

static int recovering_logs;
static void on_log(rill_log_level_t level, const char *name, const char *msg,
                   void *opaque) {
    (void)level;
    (void)name;
    (void)opaque;
    if (strstr(msg, "recovering from changelog")) recovering_logs++;
}

static rill_err_t on_event(rill_event_t *ev, void *opaque) {
    (void)ev;
    (void)opaque;
    return RILL_OK;
}

static rill_app_t *start(struct event_base *base, const char *broker, bool table) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "log.level", "info", err, sizeof err);
    rill_conf_set_log_cb(c, on_log, NULL);
    rill_app_t *app = rill_app_new_with_base("ready", c, base, err, sizeof err);
    assert_non_null(app);
    rill_topic_opts_t to = {.partitions = 2};
    rill_topic_t *in = rill_app_topic(app, "in", &to);
    if (table) {
        rill_table_opts_t o = {.value_type = &rill_type_int64, .source = in};
        assert_non_null(rill_app_table(app, "counts", &o));
    }
    assert_non_null(rill_app_agent(app, "a", in, on_event, NULL, NULL));
    if (rill_app_start(app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
    return app;
}

static void not_ready_while_a_table_partition_recovers(void **state) {
    (void)state;
    stuck = *rill_transport_find("memory");
    stuck.scheme = "stuck-recovery";
    stuck.reader_start = silent_reader_open;
    assert_int_equal(rill_register_transport(&stuck), RILL_OK);
    struct event_base *base = event_base_new();
    recovering_logs = 0;
    rill_app_t *app = start(base, "stuck-recovery://ready-1", true);
    RUN_UNTIL(base, recovering_logs >= 2, 2000);
    assert_int_equal(recovering_logs, 2); /* assigned, recovering, never done */
    RUN_UNTIL(base, false, 100);
    assert_false(rill_app_is_ready(app));
    rill_app_destroy(app);
    event_base_free(base);
}

static void ready_once_recovered(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    recovering_logs = 0;
    rill_app_t *app = start(base, "memory://ready-2", true);
    RUN_UNTIL(base, recovering_logs >= 2 && rill_app_is_ready(app), 2000);
    assert_int_equal(recovering_logs, 2);
    assert_true(rill_app_is_ready(app));
    rill_app_stop(app);
    RUN_UNTIL(base, false, 50);
    assert_false(rill_app_is_ready(app)); /* stopped */
    rill_app_destroy(app);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(not_ready_while_a_table_partition_recovers),
        cmocka_unit_test(ready_once_recovered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
