/* Send something to be processed later:
 *
 *     async for event in my_topic.stream():
 *         # forward to other topic, but only after two days
 *         event.forward(other_topic, eta=timedelta(days=2))
 *
 * The delay is FORWARD_DELAY_S seconds (default 3, so the example shows it; the
 * seed's two days is FORWARD_DELAY_S=172800).  Delayed events wait in the internal
 * topic "forward-delayed-delayed" and survive worker restarts. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include <rill/rill.h>

static rill_topic_t *my_topic, *other_topic;
static int64_t delay_ms = 3000;

static rill_err_t later(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t len;
    const char *v = rill_event_value_bytes(ev, &len);
    printf("scheduled '%.*s' for %lld s from now\n", (int)len, v,
           (long long)(delay_ms / 1000));
    fflush(stdout);
    return rill_event_forward(ev, other_topic, delay_ms);
}

static rill_err_t arrived(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t len;
    const char *v = rill_event_value_bytes(ev, &len);
    printf("received '%.*s' on %s, sent %.1f s ago\n", (int)len, v, rill_event_topic(ev),
           (double)(rill_now_ms() - rill_event_timestamp(ev)) / 1000.0);
    fflush(stdout);
    return RILL_OK;
}

static void feed(rill_app_t *app, void *opaque) {
    static int n;
    (void)app;
    (void)opaque;
    char v[32];
    snprintf(v, sizeof v, "task-%d", ++n);
    rill_send(my_topic, NULL, 0, v, strlen(v), NULL);
}

int main(int argc, char **argv) {
    const char *d = getenv("FORWARD_DELAY_S");
    if (d && atof(d) > 0) delay_ms = (int64_t)(atof(d) * 1000);
    char err[512];
    rill_app_t *app = rill_app_new("forward-delayed", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    my_topic = rill_app_topic(app, "my_topic", NULL);
    other_topic = rill_app_topic(app, "other_topic", NULL);
    if (!my_topic || !other_topic ||
        !rill_app_agent(app, "later", my_topic, later, NULL, NULL) ||
        !rill_app_agent(app, "arrived", other_topic, arrived, NULL, NULL) ||
        !rill_app_timer(app, "feed", 2.0, feed, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
