/* Crontab timers (Faust's @app.crontab): a report every six hours, in Oslo's time,
 * and a line every minute in UTC.
 *
 *     @app.crontab('0 *\/6 * * *', timezone=pytz.timezone('Europe/Oslo'))
 *     async def report(): ...
 *
 * The timezone is a TZ database name; daylight saving is followed (a time that a
 * DST change skips does not fire that day, a repeated one fires once). */
#include <stdio.h>
#include <time.h>

#include <rill/rill.h>

static void report(rill_app_t *app, void *opaque) {
    (void)app;
    printf("%s\n", (const char *)opaque);
    fflush(stdout);
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("crontab-report", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    if (!rill_app_crontab(app, "0 */6 * * *", "Europe/Oslo", report,
                          "six-hourly report (Oslo time)") ||
        !rill_app_crontab(app, "* * * * *", "UTC", report, "a minute has begun (UTC)")) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
