/* Iterate over events in a topic (the seed's first example):
 *
 *     async for order in orders_topic.stream():
 *         print(order.product_id)
 *
 * A timer feeds sample orders so `./build/examples/iterate_orders worker` prints
 * something with nothing else running. */
#include <stdio.h>

#include <rill/rill.h>

typedef struct order {
    char *id;
    char *product_id;
    char *country_origin;
    int64_t amount;
} order_t;

RILL_RECORD(order_schema, order_t, "shop.Order", RILL_F(order_t, id, STRING),
            RILL_F(order_t, product_id, STRING), RILL_F(order_t, country_origin, STRING),
            RILL_F(order_t, amount, INT64));

static rill_topic_t *orders;

static rill_err_t print_product(rill_event_t *ev, void *opaque) {
    (void)opaque;
    const order_t *o = rill_event_value(ev);
    printf("%s\n", o->product_id);
    fflush(stdout);
    return RILL_OK;
}

static void feed(rill_app_t *app, void *opaque) {
    static int n;
    (void)opaque;
    char id[32], product[32];
    snprintf(id, sizeof id, "order-%d", ++n);
    snprintf(product, sizeof product, "product-%d", n % 5);
    order_t o = {.id = id, .product_id = product, .country_origin = "NO", .amount = n};
    if (rill_send(orders, NULL, 0, &o, sizeof o, NULL) != RILL_OK)
        rill_app_log(app, RILL_LOG_WARN, "%s", rill_app_errmsg(app));
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("iterate-orders", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    rill_topic_opts_t to = {.value_type = RILL_TYPE_RECORD(&order_schema)};
    orders = rill_app_topic(app, "orders", &to);
    if (!orders ||
        !rill_app_agent(app, "print_product", orders, print_product, NULL, NULL) ||
        !rill_app_timer(app, "feed", 0.5, feed, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
