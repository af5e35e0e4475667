/* Crontab expressions: parsing (fields, ranges, steps, lists, names, macros and
 * the errors) and the next fire time, in UTC and in a timezone across DST. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cron_int.h"

static rill__cron_t parse(const char *expr) {
    rill__cron_t c;
    char err[256] = "";
    if (rill__cron_parse(expr, &c, err, sizeof err)) fail_msg("%s: %s", expr, err);
    return c;
}

static const char *parse_error(const char *expr) {
    static char err[256];
    rill__cron_t c;
    err[0] = 0;
    assert_int_not_equal(rill__cron_parse(expr, &c, err, sizeof err), 0);
    return err;
}

/* 2026-03-28 10:17:00 UTC, a Saturday */
static const int64_t SAT = 1774693020;

static void fields_ranges_steps_and_lists_parse(void **state) {
    (void)state;
    rill__cron_t c = parse("0 */6 * * *");
    assert_true(c.minute == 1);
    assert_true(c.hour == ((1u << 0) | (1u << 6) | (1u << 12) | (1u << 18)));
    c = parse("5,10-12 9-17/4 1 jan-mar mon-fri");
    assert_true(c.minute == ((1ull << 5) | (1ull << 10) | (1ull << 11) | (1ull << 12)));
    assert_true(c.hour == ((1u << 9) | (1u << 13) | (1u << 17)));
    assert_true(c.month == 0xe);
    assert_true(c.dow == 0x3e);
    assert_true(parse("0 0 * * 7").dow == 1); /* 7 is Sunday */
    assert_true(parse("@hourly").minute == 1);
    assert_true(parse("  30 2 * * *  ").hour == 1u << 2);
}

static void bad_expressions_name_what_is_wrong(void **state) {
    (void)state;
    assert_non_null(strstr(parse_error("0 */6 * *"), "has 4 fields; it needs 5"));
    assert_non_null(strstr(parse_error("60 * * * *"), "minute '60' out of range 0-59"));
    assert_non_null(strstr(parse_error("* 24 * * *"), "hour '24' out of range"));
    assert_non_null(strstr(parse_error("* * 0 * *"), "day of month '0' out of range"));
    assert_non_null(strstr(parse_error("* * * * * *"), "more than 5 fields"));
    assert_non_null(strstr(parse_error("*/0 * * * *"), "bad minute"));
    assert_non_null(strstr(parse_error("5-1 * * * *"), "out of range"));
    assert_non_null(strstr(parse_error("a * * * *"), "bad minute 'a'"));
    assert_non_null(strstr(parse_error("1, * * * *"), "bad minute"));
    assert_non_null(strstr(parse_error("@often"), "unknown '@often'"));
    assert_non_null(strstr(parse_error(""), "has 0 fields"));
}

static void the_next_fire_time_in_utc(void **state) {
    (void)state;
    rill__cron_t c = parse("0 */6 * * *");
    assert_int_equal(rill__cron_next(&c, "UTC", SAT),
                     SAT - 17 * 60 + 2 * 3600); /* 12:00 */
    c = parse("* * * * *");
    assert_int_equal(rill__cron_next(&c, "UTC", SAT), SAT + 60); /* strictly after */
    c = parse("30 9 * * mon");                                   /* Monday 09:30 */
    assert_int_equal(rill__cron_next(&c, "UTC", SAT), 1774863000);
    c = parse("0 0 30 2 *"); /* never */
    assert_int_equal(rill__cron_next(&c, "UTC", SAT), -1);
}

static void day_of_month_and_week_both_restricted_match_either(void **state) {
    (void)state;
    rill__cron_t c = parse("0 0 1 * mon"); /* the 1st, or a Monday */
    /* after Sat 2026-03-28: Mon 2026-03-30 00:00 UTC comes before April 1st */
    assert_int_equal(rill__cron_next(&c, "UTC", SAT), 1774828800);
}

static void the_next_fire_time_follows_a_timezone_across_dst(void **state) {
    (void)state;
    /* 02:30 in Oslo: on 2026-03-29 clocks jump 02:00 -> 03:00, so that day has
     * none; the next is 2026-03-30 02:30 CEST = 00:30 UTC */
    rill__cron_t c = parse("30 2 * * *");
    assert_int_equal(rill__cron_next(&c, "Europe/Oslo", SAT), 1774830600);
    c = parse("0 9 * * *"); /* 09:00 Oslo on the 28th (CET) = 08:00 UTC: past */
    assert_int_equal(rill__cron_next(&c, "Europe/Oslo", SAT),
                     1774767600); /* 29th 09:00 CEST = 07:00 UTC */
    /* 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 comes twice, fires once */
    c = parse("30 2 * * *");
    int64_t first = rill__cron_next(&c, "Europe/Oslo", 1792886400); /* 00:00 UTC */
    assert_int_equal(first, 1792888200);                            /* 00:30 UTC */
    assert_int_equal(rill__cron_next(&c, "Europe/Oslo", first),
                     1792978200); /* the 26th, 01:30 UTC, not the 25th's second */
    const char *before = getenv("TZ");
    assert_true(before == NULL || strcmp(before, "Europe/Oslo") != 0); /* restored */
}

static void timezones_are_checked(void **state) {
    (void)state;
    assert_true(rill__cron_tz_valid(NULL));
    assert_true(rill__cron_tz_valid("UTC"));
    assert_true(rill__cron_tz_valid("Europe/Oslo"));
    assert_false(rill__cron_tz_valid("Mars/Olympus_Mons"));
    assert_false(rill__cron_tz_valid("../../etc/passwd"));
    assert_false(rill__cron_tz_valid("/etc/localtime"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fields_ranges_steps_and_lists_parse),
        cmocka_unit_test(bad_expressions_name_what_is_wrong),
        cmocka_unit_test(the_next_fire_time_in_utc),
        cmocka_unit_test(day_of_month_and_week_both_restricted_match_either),
        cmocka_unit_test(the_next_fire_time_follows_a_timezone_across_dst),
        cmocka_unit_test(timezones_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
