/* Crontab timers on memory://: a bad expression or an unknown timezone fails the
 * definition naming it; a good one is armed by the start and the app stops
 * cleanly (when they fire is unit-tested in tests/unit/test_cron.c). */
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

static void tick(rill_app_t *app, void *opaque) {
    (void)app;
    (*(int *)opaque)++;
}

static rill_app_t *new_app(struct event_base *base) {
    char e[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://crontab-test", e, sizeof e);
    rill_conf_set(c, "log.level", "fatal", e, sizeof e);
    rill_app_t *app = base ? rill_app_new_with_base("cron", c, base, e, sizeof e)
                           : rill_app_new("cron", c, e, sizeof e);
    assert_non_null(app);
    return app;
}

static void a_bad_expression_is_refused_naming_the_field(void **state) {
    (void)state;
    rill_app_t *app = new_app(NULL);
    int n = 0;
    assert_null(rill_app_crontab(app, "0 25 * * *", "UTC", tick, &n));
    assert_non_null(strstr(rill_app_errmsg(app), "crontab '0 25 * * *'"));
    assert_non_null(strstr(rill_app_errmsg(app), "hour '25' out of range 0-23"));
    rill_app_destroy(app);
}

static void an_unknown_timezone_is_refused(void **state) {
    (void)state;
    rill_app_t *app = new_app(NULL);
    int n = 0;
    assert_null(rill_app_crontab(app, "0 */6 * * *", "Europe/Atlantis", tick, &n));
    assert_non_null(strstr(rill_app_errmsg(app), "unknown timezone 'Europe/Atlantis'"));
    rill_app_destroy(app);
}

static void a_crontab_timer_is_armed_and_the_app_stops_cleanly(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_app_t *app = new_app(base);
    int n = 0;
    assert_non_null(rill_app_crontab(app, "0 0 1 1 *", "Europe/Oslo", tick, &n));
    assert_non_null(rill_app_crontab(app, "@hourly", NULL, tick, &n));
    char err[256];
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    RUN_UNTIL(base, false, 50);
    assert_int_equal(n, 0); /* not due */
    /* added while running: armed at once */
    assert_non_null(rill_app_crontab(app, "30 4 * * mon-fri", "UTC", tick, &n));
    rill_app_stop(app);
    RUN_UNTIL(base, false, 20);
    rill_app_destroy(app);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_bad_expression_is_refused_naming_the_field),
        cmocka_unit_test(an_unknown_timezone_is_refused),
        cmocka_unit_test(a_crontab_timer_is_armed_and_the_app_stops_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
