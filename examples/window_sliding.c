/* Sliding windows: alert when a card pays 3 times within any 1000 ms (Faust issue
 * #627 asks for these; Kafka Streams' SlidingWindows).
 *
 * A sliding window is defined by each payment: the window [t - 1000 ms, t] ending
 * at it counts every payment of the card in the 1000 ms before it, wherever the
 * payments fall (hopping windows only see them if one window happens to hold them
 * all).  card-1 pays 3 times 100 ms apart every 1.3 s, card-2 every 700 ms: only
 * card-1 is flagged.  rill_table_incr's result is the count of the window ending
 * at the event. */
#include <stdio.h>
#include <string.h>

#include <rill/rill.h>

#define WITHIN_MS 1000

static rill_topic_t *payments;
static rill_table_t *recent;

static rill_err_t check_payment(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t len;
    const char *card = rill_event_key_bytes(ev, &len);
    int64_t n = 0;
    rill_err_t rc = rill_table_incr(recent, ev, card, len, 1, &n);
    if (rc == RILL_OK && n >= 3) {
        printf("alert: %.*s made %lld payments within %d ms\n", (int)len, card,
               (long long)n, WITHIN_MS);
        fflush(stdout);
    }
    return rc;
}

static void feed(rill_app_t *app, void *opaque) {
    static int n;
    (void)app;
    (void)opaque;
    int tick = n++;
    const char *card = tick % 13 < 3 ? "card-1" : tick % 7 == 0 ? "card-2" : NULL;
    if (!card) return;
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.timestamp_ms = rill_now_ms();
    rill_send(payments, card, strlen(card), "9.99", 4, &o);
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("window-sliding", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    payments = rill_app_topic(app, "payments", NULL);
    rill_table_opts_t tab = {
        .value_type = &rill_type_int64, .source = payments, .window_grace_ms = 200};
    rill_table_opts_sliding(&tab, WITHIN_MS, 10000);
    recent = rill_app_table(app, "recent-payments", &tab);
    if (!payments || !recent ||
        !rill_app_agent(app, "check", payments, check_payment, NULL, NULL) ||
        !rill_app_timer(app, "feed", 0.1, feed, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
