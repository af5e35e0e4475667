/* Emit one final count per window when it closes (Kafka Streams' suppress; Faust
 * has no equivalent: its windows close on a 30-second wall-clock sweep).
 *
 * Page views are counted in tumbling 1-second windows.  A window closes when the
 * stream time (the largest event timestamp seen on the partition) passes its end
 * plus a 200 ms grace period, or, when no view comes, 300 ms of wall clock later
 * (window_idle_ms).  Each window and page is printed once, with its final count;
 * a restarted worker does not print a closed window again. */
#include <stdio.h>
#include <string.h>

#include <rill/rill.h>

static rill_topic_t *views;
static rill_table_t *per_second;

static rill_err_t count_view(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t len;
    const char *page = rill_event_key_bytes(ev, &len);
    return rill_table_incr(per_second, ev, page, len, 1, NULL);
}

static void on_final(rill_table_t *t, const void *key, size_t klen, int64_t start,
                     int64_t end, const void *value, void *opaque) {
    (void)t;
    (void)opaque;
    printf("window [%lld, %lld) closed: %.*s viewed %lld times\n", (long long)start,
           (long long)end, (int)klen, (const char *)key,
           (long long)*(const int64_t *)value);
    fflush(stdout);
}

static void feed(rill_app_t *app, void *opaque) {
    static const char *pages[] = {"/home", "/cart", "/home"};
    static int n;
    (void)app;
    (void)opaque;
    const char *page = pages[n++ % 3];
    rill_bytes_t k = {(uint8_t *)page, strlen(page)}, v = {(uint8_t *)"view", 4};
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.timestamp_ms = rill_now_ms(); /* the event's time */
    rill_send(views, k.data, k.len, v.data, v.len, &o);
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("window-final", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    views = rill_app_topic(app, "page_views", NULL);
    rill_table_opts_t tab = {.value_type = &rill_type_int64,
                             .source = views,
                             .window_grace_ms = 200,
                             .window_emit = RILL_EMIT_FINAL,
                             .on_emit = on_final,
                             .window_idle_ms = 300};
    rill_table_opts_tumbling(&tab, 1000, 60000);
    per_second = rill_app_table(app, "views_per_second", &tab);
    if (!views || !per_second ||
        !rill_app_agent(app, "count", views, count_view, NULL, NULL) ||
        !rill_app_timer(app, "feed", 0.1, feed, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
