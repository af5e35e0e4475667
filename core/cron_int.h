/* Internal: crontab expressions and their next fire time in a timezone.  Pure code
 * of layer 0 (docs/architecture.md), unit-tested by tests/unit/test_cron.c. */
#ifndef RILL_CRON_INT_H
#define RILL_CRON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct rill__cron {
    uint64_t minute;           /* bit m: minute m (0-59) */
    uint32_t hour, dom, month; /* bits 0-23, 1-31, 1-12 */
    uint8_t dow;               /* bits 0-6, Sunday 0 */
    bool dom_any, dow_any;     /* "*": when both are restricted, either matches */
} rill__cron_t;

/* Parse five fields "minute hour day-of-month month day-of-week": "*", numbers,
 * ranges a-b, steps * /n and a-b/n, lists a,b; month and day names (jan, mon);
 * day of week 7 is Sunday too; or @yearly @annually @monthly @weekly @daily
 * @midnight @hourly.  Non-zero with a message naming the field on error. */
int rill__cron_parse(const char *expr, rill__cron_t *out, char *err, size_t errlen);

/* @p tz is a timezone name of the TZ database (e.g. "Europe/Oslo", "UTC"), found
 * under $TZDIR or /usr/share/zoneinfo; NULL or "" is the process's local time. */
bool rill__cron_tz_valid(const char *tz);

/* The first minute after @p after (seconds since the epoch) that @p c matches in
 * @p tz's local time, or -1 when none in the next 5 years (e.g. "0 0 30 2 *").
 * Sets TZ while it computes and restores it: call from one thread only (the
 * loop's); setenv and localtime are not thread-safe against other threads using
 * TZ at that moment. */
int64_t rill__cron_next(const rill__cron_t *c, const char *tz, int64_t after);

#endif
