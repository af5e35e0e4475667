/* Sticky definition errors (cairo's model): the first definition that fails is
 * latched, later definitions stay NULL-safe, and the app refuses to start, naming
 * that first error, so a program that checks nothing still fails loudly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

static rill_err_t on_event(rill_event_t *ev, void *opaque) {
    (void)ev, (void)opaque;
    return RILL_OK;
}

static void on_tick(rill_app_t *app, void *opaque) {
    (void)app, (void)opaque;
}

static rill_app_t *app_new(struct event_base *base, const char *id) {
    char err[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_app_t *app = rill_app_new_with_base(id, c, base, err, sizeof err);
    if (!app) fail_msg("app: %s", err);
    return app;
}

static void the_first_failed_definition_stops_start_naming_it(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = app_new(base, "def1");
    rill_topic_t *t = rill_app_topic(app, "bad topic name", NULL); /* fails first */
    assert_null(t);
    assert_null(rill_app_agent(app, "a", t, on_event, NULL, NULL)); /* fails too */
    char err[512] = "";
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_EINVAL);
    assert_non_null(strstr(err, "definition failed"));
    assert_non_null(strstr(err, "topic name 'bad topic name' is invalid"));
    assert_null(strstr(err, "agent")); /* the first error, not the last */
    rill_app_destroy(app);
    event_base_free(base);
}

static void a_bad_timer_keeps_the_app_from_starting(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = app_new(base, "def2");
    assert_null(rill_app_timer(app, "bad", 0, on_tick, NULL));
    char err[512] = "";
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_EINVAL);
    assert_non_null(strstr(err, "timer 'bad': interval must be a positive number"));
    rill_app_destroy(app);
    event_base_free(base);
}

static void stream_operators_after_a_failure_are_null_safe(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = app_new(base, "def3");
    rill_stream_t *s = rill_app_stream(app, NULL); /* no topic */
    assert_null(s);
    assert_null(rill_stream_take(rill_stream_enumerate(s), 10, 1.0));
    assert_null(rill_stream_agent(s, "a", on_event, NULL, NULL));
    char err[512] = "";
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_EINVAL);
    rill_app_destroy(app);
    event_base_free(base);
}

static void a_null_app_is_refused_everywhere(void **state) {
    (void)state;
    char err[256] = "";
    rill_app_t *app = rill_app_new("bad id!", NULL, err, sizeof err);
    assert_null(app);
    assert_null(rill_app_topic(app, "t", NULL));
    assert_null(rill_app_agent(app, "a", NULL, on_event, NULL, NULL));
    assert_null(rill_app_stream(app, NULL));
    assert_null(rill_app_timer(app, "t", 1.0, on_tick, NULL));
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_EINVAL);
    assert_non_null(strstr(err, "rill_app_new failed"));
    char *argv[] = {"prog", "worker", NULL};
    assert_int_not_equal(rill_app_main(app, 2, argv), 0);
}

static void a_correct_app_starts(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = app_new(base, "def4");
    rill_topic_t *t = rill_app_topic(app, "good", NULL);
    assert_non_null(rill_app_agent(app, "a", t, on_event, NULL, NULL));
    char err[512] = "";
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    rill_app_stop(app);
    rill_app_destroy(app);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_first_failed_definition_stops_start_naming_it),
        cmocka_unit_test(a_bad_timer_keeps_the_app_from_starting),
        cmocka_unit_test(stream_operators_after_a_failure_are_null_safe),
        cmocka_unit_test(a_null_app_is_refused_everywhere),
        cmocka_unit_test(a_correct_app_starts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
