/* Buffer up many events at a time: up to 100 events within a 30 second window.
 *
 *     async for orders in orders_topic.stream().take(100, within=30.0):
 *         ...
 *
 * A task sends a burst of 250 orders at start (and a timer every 40 s): the worker
 * prints batches of 100, 100 and then 50 — the last when `within` elapses. */
#include <stdio.h>

#include <rill/rill.h>

typedef struct order {
    char *id;
    int64_t amount;
} order_t;

RILL_RECORD(order_schema, order_t, "shop.Order", RILL_F(order_t, id, STRING),
            RILL_F(order_t, amount, INT64));

static rill_topic_t *orders;

static rill_err_t on_batch(rill_event_t *const *events, size_t n, void *opaque) {
    (void)opaque;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += ((const order_t *)rill_event_value(events[i]))->amount;
    printf("batch of %zu orders, total amount %lld\n", n, (long long)total);
    fflush(stdout);
    return RILL_OK;
}

static void burst(rill_app_t *app, void *opaque) {
    static int n;
    (void)app;
    (void)opaque;
    for (int i = 0; i < 250; i++) {
        char id[32];
        snprintf(id, sizeof id, "order-%d", ++n);
        order_t o = {.id = id, .amount = 1};
        rill_send(orders, NULL, 0, &o, sizeof o, NULL);
    }
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("take-batches", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    rill_topic_opts_t to = {.value_type = RILL_TYPE_RECORD(&order_schema),
                            .partitions = 1};
    orders = rill_app_topic(app, "orders", &to);
    rill_stream_t *s = rill_stream_take(rill_app_stream(app, orders), 100, 30.0);
    if (!orders || !rill_stream_agent_batch(s, "batches", on_batch, NULL, NULL) ||
        rill_app_task(app, "first-burst", burst, NULL) != RILL_OK ||
        !rill_app_timer(app, "burst", 40.0, burst, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
