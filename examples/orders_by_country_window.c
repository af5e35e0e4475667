/* Aggregate information using a window: orders by country within the last two
 * days.
 *
 *     orders_by_country = app.Table('orders_by_country', default=int)
 *                            .hopping(timedelta(days=2), timedelta(days=1))
 *     async for order in orders_topic.stream():
 *         orders_by_country[order.country_origin] += 1
 *         print(orders_by_country[order.country_origin].current())
 *
 * Windows are 2 days long, one starting every day, kept 7 days after they end.
 * Each order counts in both windows that contain its time; current() reads the
 * newest of them.  The event time is the order's timestamp. */
#include <stdio.h>
#include <string.h>

#include <rill/rill.h>

#define DAY_MS (24LL * 3600 * 1000)

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
    rill_err_t rc = rill_table_incr(by_country, ev, c, strlen(c), 1, NULL);
    if (rc != RILL_OK) return rc;
    int64_t current = 0, day_before = 0;
    rill_table_get(by_country, ev, c, strlen(c), &current); /* .current() */
    rill_table_get_delta(by_country, ev, c, strlen(c), DAY_MS,
                         &day_before); /* .delta(1 day) */
    printf(
        "%s: %lld orders in the current 2-day window (%lld in the one a day earlier)\n",
        c, (long long)current, (long long)day_before);
    fflush(stdout);
    return RILL_OK;
}

static void feed(rill_app_t *app, void *opaque) {
    static const char *countries[] = {"NO", "SE", "NO"};
    static int n;
    (void)app;
    (void)opaque;
    char id[32];
    snprintf(id, sizeof id, "order-%d", ++n);
    order_t o = {.id = id, .country_origin = (char *)countries[n % 3]};
    rill_send(orders, o.country_origin, strlen(o.country_origin), &o, sizeof o, NULL);
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("orders-by-country-window", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    rill_topic_opts_t to = {.value_type = RILL_TYPE_RECORD(&order_schema)};
    orders = rill_app_topic(app, "orders", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = orders};
    rill_table_opts_hopping(&tab, 2 * DAY_MS, DAY_MS, 7 * DAY_MS);
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
