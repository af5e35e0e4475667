/* State TTL: the last page each user saw, forgotten 1 second after the user's last
 * view (Faust has no TTL; Kafka Streams and Flink users ask for one).
 *
 * Deleting an idle key is a delete like any other: it goes to the table's
 * changelog, so a worker that restarts does not bring a forgotten user back. */
#include <stdio.h>
#include <string.h>

#include <rill/rill.h>

static rill_topic_t *views;
static rill_table_t *last_page;

static rill_err_t remember(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t klen, vlen;
    const char *user = rill_event_key_bytes(ev, &klen);
    const char *page = rill_event_value_bytes(ev, &vlen);
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", (int)vlen, page);
    const char *v = buf;
    return rill_table_set(last_page, ev, user, klen, &v);
}

/* user-1 browses all the time, user-2 only in the first half second */
static void feed(rill_app_t *app, void *opaque) {
    static int n;
    (void)app;
    (void)opaque;
    n++;
    rill_send(views, "user-1", 6, "/home", 5, NULL);
    if (n <= 5) rill_send(views, "user-2", 6, "/cart", 5, NULL);
}

static void report(rill_app_t *app, void *opaque) {
    (void)app;
    (void)opaque;
    rill_table_stats_t st;
    if (rill_table_stats(last_page, &st) != RILL_OK) return;
    printf("users remembered: %llu, forgotten: %llu\n", (unsigned long long)st.keys,
           (unsigned long long)st.ttl_expired);
    fflush(stdout);
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("table-ttl", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    views = rill_app_topic(app, "views", NULL);
    rill_table_opts_t tab = {
        .value_type = &rill_type_string, .source = views, .ttl_ms = 1000};
    last_page = rill_app_table(app, "last_page", &tab);
    if (!views || !last_page ||
        !rill_app_agent(app, "remember", views, remember, NULL, NULL) ||
        !rill_app_timer(app, "feed", 0.1, feed, NULL) ||
        !rill_app_timer(app, "report", 0.5, report, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
