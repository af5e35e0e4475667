/* Asynchronously processing events in a topic:
 *
 *     async for order in orders_topic.stream():
 *         product_info = await aiohttp.get(f'http://e.com/api/{order.id}/')
 *
 * The handler starts an HTTP request with libevent's evhttp client and returns
 * RILL_PENDING; the response callback acks the event.  Up to 8 requests are in
 * flight (concurrency), yet offsets are only committed below the oldest one still
 * waiting.  So that it runs with nothing else installed, the example serves the
 * "product API" itself on 127.0.0.1 (an ephemeral port). */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <string.h>

#include <rill/rill.h>

typedef struct order {
    char *id;
    char *product_id;
} order_t;

RILL_RECORD(order_schema, order_t, "shop.Order", RILL_F(order_t, id, STRING),
            RILL_F(order_t, product_id, STRING));

static rill_topic_t *orders;
static struct evhttp_connection *api;

/* The stand-in product API: GET /api/<id>/ answers a little JSON document. */
static void serve_product(struct evhttp_request *req, void *opaque) {
    (void)opaque;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "{\"uri\":\"%s\",\"in_stock\":true}",
                        evhttp_request_get_uri(req));
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void on_response(struct evhttp_request *req, void *opaque) {
    rill_event_t *ev = opaque;
    const order_t *o = rill_event_value(ev);
    if (!req || evhttp_request_get_response_code(req) != 200) {
        printf("order %s: product API failed\n", o->id);
        rill_event_ack(ev, RILL_EIO);
        return;
    }
    struct evbuffer *b = evhttp_request_get_input_buffer(req);
    char body[256] = "";
    evbuffer_copyout(b, body, sizeof body - 1);
    printf("order %s: product info %s\n", o->id, body);
    fflush(stdout);
    rill_event_ack(ev, RILL_OK);
}

static rill_err_t fetch_product(rill_event_t *ev, void *opaque) {
    (void)opaque;
    const order_t *o = rill_event_value(ev);
    struct evhttp_request *req = evhttp_request_new(on_response, ev);
    char uri[256];
    snprintf(uri, sizeof uri, "/api/%s/", o->id);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
    if (evhttp_make_request(api, req, EVHTTP_REQ_GET, uri) != 0) return RILL_EIO;
    return RILL_PENDING; /* acked in on_response */
}

static void feed(rill_app_t *app, void *opaque) {
    static int n;
    (void)app;
    (void)opaque;
    char id[32];
    snprintf(id, sizeof id, "order-%d", ++n);
    order_t o = {.id = id, .product_id = "p1"};
    rill_send(orders, NULL, 0, &o, sizeof o, NULL);
}

int main(int argc, char **argv) {
    char err[512];
    /* Our own event_base: the HTTP objects on it must outlive the app. */
    struct event_base *base = event_base_new();
    rill_app_t *app = rill_app_new_with_base("async-orders", NULL, base, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    struct evhttp *http = evhttp_new(base);
    struct evhttp_bound_socket *sock =
        evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (!sock) return fprintf(stderr, "cannot bind 127.0.0.1\n"), 1;
    evhttp_set_gencb(http, serve_product, NULL);
    struct sockaddr_storage ss;
    ev_socklen_t len = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    api = evhttp_connection_base_new(base, NULL, "127.0.0.1", (uint16_t)port);

    rill_topic_opts_t to = {.value_type = RILL_TYPE_RECORD(&order_schema)};
    orders = rill_app_topic(app, "orders", &to);
    rill_agent_opts_t ao = {.concurrency = 8};
    if (!orders ||
        !rill_app_agent(app, "fetch_product", orders, fetch_product, NULL, &ao) ||
        !rill_app_timer(app, "feed", 0.5, feed, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    int rc = rill_app_main(app, argc, argv); /* destroys the app, not our base */
    evhttp_connection_free(api);
    evhttp_free(http);
    event_base_free(base);
    return rc;
}
