/* A live web page of an agent's output (rill/web.h, Faust's @app.page and the
 * seed's "Realtime Web"): a timer sends an order every 50 ms to "orders"; the agent
 * "total" adds each order's amount to its customer's total in the table "totals"
 * and pushes the order to the Server-Sent Events stream /orders/live.  The worker
 * serves
 *
 *   /live                 a page that shows the orders as they come
 *   /orders/live          the event stream itself (EventSource, curl -N)
 *   /customers/{id}       a customer's total from the table, as JSON
 *   /                     rill's dashboard (in a browser)
 *
 *   ./build/examples/live_orders worker --web-port 6066   (memory://)
 *   open http://127.0.0.1:6066/live
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>
#include <rill/web.h>

static rill_app_t *app;
static rill_topic_t *orders;
static rill_table_t *totals;
static unsigned long long seq;

static void send_order(rill_app_t *a, void *opaque) {
    (void)a;
    (void)opaque;
    char key[16], value[64];
    seq++;
    snprintf(key, sizeof key, "c%llu", seq * 7 % 12);
    long amount = (long)(seq * 37 % 100) - (seq % 50 == 0 ? 150 : 0);
    snprintf(value, sizeof value, "%ld", amount);
    rill_send(orders, key, strlen(key), value, strlen(value), NULL);
}

static rill_err_t total(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t klen, vlen;
    const char *key = rill_event_key_bytes(ev, &klen);
    const char *v = rill_event_value_bytes(ev, &vlen);
    char text[32];
    if (!key || !v || vlen >= sizeof text) return RILL_OK;
    memcpy(text, v, vlen);
    text[vlen] = 0;
    long amount = strtol(text, NULL, 10);
    if (amount < 0) { /* shows up under "recent errors" on the dashboard */
        rill_app_log(app, RILL_LOG_WARN, "order of %.*s refused: amount %ld", (int)klen,
                     key, amount);
        return RILL_OK;
    }
    int64_t sum = 0;
    rill_err_t rc = rill_table_incr(totals, ev, key, klen, amount, &sum);
    if (rc != RILL_OK) return rc;
    char json[128];
    int n = snprintf(json, sizeof json,
                     "{\"customer\":\"%.*s\",\"amount\":%ld,\"total\":%lld}", (int)klen,
                     key, amount, (long long)sum);
    rill_app_push(app, "/orders/live", "order", json, (size_t)n);
    return RILL_OK;
}

static rill_err_t customer(rill_web_request_t *req, void *opaque) {
    (void)opaque;
    const char *id = rill_web_param(req, "id");
    return rill_web_reply_table(req, totals, id, strlen(id));
}

static const char live_html[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>live orders</title>"
    "<style>body{font:14px system-ui;margin:20px}li{font-family:monospace}</style>"
    "</head><body><h1>Orders, live</h1><p><b id=\"n\">0</b> orders</p>"
    "<ul id=\"orders\"></ul><script>\n"
    "var n = 0, ul = document.getElementById('orders');\n"
    "new EventSource('orders/live').addEventListener('order', function (e) {\n"
    "  var o = JSON.parse(e.data), li = document.createElement('li');\n"
    "  li.textContent = o.customer + ' +' + o.amount + ' = ' + o.total;\n"
    "  ul.insertBefore(li, ul.firstChild);\n"
    "  if (ul.children.length > 20) ul.removeChild(ul.lastChild);\n"
    "  document.getElementById('n').textContent = ++n;\n"
    "});\n</script></body></html>\n";

static rill_err_t live(rill_web_request_t *req, void *opaque) {
    (void)opaque;
    return rill_web_reply(req, 200, "text/html; charset=utf-8", live_html,
                          sizeof live_html - 1);
}

int main(int argc, char **argv) {
    char err[512];
    app = rill_app_new("live-orders", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    rill_topic_opts_t to = {.partitions = 4};
    orders = rill_app_topic(app, "orders", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = orders};
    totals = rill_app_table(app, "totals", &tab);
    if (!orders || !totals || !rill_app_agent(app, "total", orders, total, NULL, NULL) ||
        !rill_app_timer(app, "send_order", 0.05, send_order, NULL) ||
        rill_app_event_stream(app, "/orders/live") != RILL_OK ||
        rill_app_page(app, "/customers/{id}", customer, NULL) != RILL_OK ||
        rill_app_page(app, "/live", live, NULL) != RILL_OK) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
