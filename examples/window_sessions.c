/* Session windows: clicks per user visit, where a visit ends after 500 ms without a
 * click (Faust issue #581 asks for these; Kafka Streams' SessionWindows).
 *
 * Each user clicks in bursts; a click less than the gap after the previous one
 * extends the session, a later one starts a new session, and a late click that
 * falls between two sessions merges them.  Each session is printed once when it
 * closes (its end plus a 100 ms grace period), with its click count. */
#include <stdio.h>
#include <string.h>

#include <rill/rill.h>

static rill_topic_t *clicks;
static rill_table_t *visits;

static rill_err_t count_click(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t len;
    const char *user = rill_event_key_bytes(ev, &len);
    return rill_table_incr(visits, ev, user, len, 1, NULL);
}

static void on_visit(rill_table_t *t, const void *key, size_t klen, int64_t start,
                     int64_t end, const void *value, void *opaque) {
    (void)t;
    (void)opaque;
    printf("visit of %.*s: %lld clicks in %lld ms\n", (int)klen, (const char *)key,
           (long long)*(const int64_t *)value, (long long)(end - start));
    fflush(stdout);
}

/* user-1 clicks 3 times every 100 ms, then pauses for a second; user-2 steadily */
static void feed(rill_app_t *app, void *opaque) {
    static int n;
    (void)app;
    (void)opaque;
    int phase = n++ % 13;
    const char *user = phase < 3 ? "user-1" : phase % 4 == 0 ? "user-2" : NULL;
    if (!user) return;
    rill_bytes_t k = {(uint8_t *)user, strlen(user)}, v = {(uint8_t *)"click", 5};
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.timestamp_ms = rill_now_ms();
    rill_send(clicks, k.data, k.len, v.data, v.len, &o);
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("window-sessions", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    clicks = rill_app_topic(app, "clicks", NULL);
    rill_table_opts_t tab = {.value_type = &rill_type_int64,
                             .source = clicks,
                             .window_grace_ms = 100,
                             .window_emit = RILL_EMIT_FINAL,
                             .on_emit = on_visit,
                             .window_idle_ms = 200};
    rill_table_opts_session(&tab, 500, 60000);
    visits = rill_app_table(app, "visits", &tab);
    if (!clicks || !visits ||
        !rill_app_agent(app, "count", clicks, count_click, NULL, NULL) ||
        !rill_app_timer(app, "feed", 0.1, feed, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
