/* The worker's HTTP status server (web.port, on web.host): GET / for the app's
 * state, GET /tables/<name> for the keys of the partitions this worker owns.
 * Tests and operators read table contents from it across processes. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table_int.h"

static void json_str(struct evbuffer *b, const void *s, size_t n) {
    const unsigned char *p = s;
    evbuffer_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\')
            evbuffer_add_printf(b, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            evbuffer_add_printf(b, "\\u%04x", c);
        else
            evbuffer_add(b, &c, 1);
    }
    evbuffer_add(b, "\"", 1);
}

typedef struct dump {
    rill_table_t *t;
    struct evbuffer *b;
    rill_serializer_t *json;
    bool first;
} dump_t;

static int dump_one(const void *key, size_t klen, int64_t ws, const void *value,
                    void *opaque) {
    dump_t *d = opaque;
    evbuffer_add_printf(d->b, "%s\n  ", d->first ? "" : ",");
    d->first = false;
    if (ws >= 0) {
        char k[600];
        int n = snprintf(k, sizeof k, "%.*s@%lld", (int)(klen > 500 ? 500 : klen),
                         (const char *)key, (long long)ws);
        json_str(d->b, k, (size_t)n);
    } else {
        json_str(d->b, key, klen);
    }
    evbuffer_add(d->b, ": ", 2);
    rill_buf_t out = RILL_BUF_INIT;
    char why[128];
    if (d->json && rill_serializer_encode(d->json, d->t->opts.value_type, value, &out,
                                          why, sizeof why) == RILL_OK)
        evbuffer_add(d->b, out.data, out.len);
    else
        evbuffer_add(d->b, "null", 4);
    rill_buf_free(&out);
    return 0;
}

static void on_request(struct evhttp_request *req, void *opaque) {
    rill_app_t *app = opaque;
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    if (!strcmp(uri, "/") || !strcmp(uri, "/health")) {
        evbuffer_add_printf(b, "{\"app\":");
        json_str(b, app->id, strlen(app->id));
        evbuffer_add_printf(b, ",\"client_id\":");
        json_str(b, app->client_id, strlen(app->client_id));
        evbuffer_add_printf(b, ",\"ready\":%s,\"recovering\":%s,\"agents\":{",
                            rill_app_is_ready(app) ? "true" : "false",
                            rill__tables_recovering(app) ? "true" : "false");
        bool first = true;
        for (rill_agent_t *a = app->agents; a; a = a->next) {
            evbuffer_add_printf(b, "%s", first ? "" : ",");
            first = false;
            json_str(b, a->name, strlen(a->name));
            evbuffer_add_printf(
                b, ":{\"processed\":%llu,\"errors\":%llu,\"decode_errors\":%llu}",
                (unsigned long long)a->processed, (unsigned long long)a->errors,
                (unsigned long long)a->decode_errors);
        }
        evbuffer_add_printf(b, "}}\n");
        evhttp_send_reply(req, 200, "OK", b);
    } else if (!strncmp(uri, "/tables/", 8)) {
        rill_table_t *t = NULL;
        for (rill_table_t *x = app->tables; x; x = x->next)
            if (!strcmp(x->name, uri + 8)) t = x;
        if (!t || !t->parts) {
            evbuffer_add_printf(b, "{\"error\":\"no such table\"}\n");
            evhttp_send_reply(req, 404, "Not Found", b);
        } else {
            char why[128];
            dump_t d = {t, b, rill__app_serializer(app, "json", why, sizeof why), true};
            evbuffer_add_printf(b, "{");
            rill_table_foreach(t, dump_one, &d);
            evbuffer_add_printf(b, "\n}\n");
            evhttp_send_reply(req, 200, "OK", b);
        }
    } else {
        evbuffer_add_printf(b, "{\"error\":\"not found\"}\n");
        evhttp_send_reply(req, 404, "Not Found", b);
    }
    evbuffer_free(b);
}

rill_err_t rill__web_start(rill_app_t *app, char *errstr, size_t errlen) {
    int64_t port = rill_conf_get_int(app->conf, "web.port", 0);
    if (port <= 0) return RILL_OK;
    const char *host = rill_conf_get(app->conf, "web.host");
    app->web = evhttp_new(app->base);
    if (!app->web) return RILL_ENOMEM;
    if (evhttp_bind_socket(app->web, host, (uint16_t)port) != 0) {
        snprintf(errstr, errlen, "web server: cannot listen on %s:%lld", host,
                 (long long)port);
        evhttp_free(app->web);
        app->web = NULL;
        return RILL_EIO;
    }
    evhttp_set_gencb(app->web, on_request, app);
    rill_log(app->log, RILL_LOG_DEBUG, app->id, "web server on http://%s:%lld/", host,
             (long long)port);
    return RILL_OK;
}

void rill__web_stop(rill_app_t *app) {
    if (app->web) evhttp_free(app->web);
    app->web = NULL;
}
