/* Aggregate information into a table:
 *
 *     orders_by_country = app.Table('orders_by_country', default=int)
 *     async for order in orders_topic.stream():
 *         orders_by_country[order.country_origin] += 1
 *
 * Orders are keyed by country, so the table (partitioned like the topic) holds
 * each country on the worker that receives its orders.  Its changelog
 * "orders-by-country-orders_by_country-changelog" restores the counts when the
 * worker restarts or a partition moves. */
#include <stdio.h>
#include <string.h>

#include <rill/rill.h>

typedef struct order {
    char *id;
    char *country_origin;
} order_t;

RILL_RECORD(order_schema, order_t, "shop.Order", RILL_F(order_t, id, STRING),
            RILL_F(order_t, country_origin, STRING));

static rill_topic_t *orders;
static rill_table_t *by_country;

static rill_err_t count_order(rill_event_t *ev, void *opaque) {
    (void)opaque;
    const order_t *o = rill_event_value(ev);
    const char *c = o->country_origin;
    int64_t n;
    rill_err_t rc = rill_table_incr(by_country, ev, c, strlen(c), 1, &n);
    if (rc != RILL_OK) return rc;
    printf("Orders for %s: %lld\n", c, (long long)n);
    fflush(stdout);
    return RILL_OK;
}

static void feed(rill_app_t *app, void *opaque) {
    static const char *countries[] = {"NO", "SE", "DK", "FI", "NO", "NO"};
    static int n;
    (void)app;
    (void)opaque;
    char id[32];
    snprintf(id, sizeof id, "order-%d", ++n);
    order_t o = {.id = id, .country_origin = (char *)countries[n % 6]};
    rill_send(orders, o.country_origin, strlen(o.country_origin), &o, sizeof o, NULL);
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("orders-by-country", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    rill_topic_opts_t to = {.value_type = RILL_TYPE_RECORD(&order_schema)};
    orders = rill_app_topic(app, "orders", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = orders};
    by_country = rill_app_table(app, "orders_by_country", &tab);
    if (!orders || !by_country ||
        !rill_app_agent(app, "count", orders, count_order, NULL, NULL) ||
        !rill_app_timer(app, "feed", 0.5, feed, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
