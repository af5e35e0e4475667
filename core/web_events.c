/* Server-Sent Events on the worker's web server: a stream is a path (/events for
 * the dashboard, the app's own with rill_app_event_stream); a subscriber's request
 * stays open as a chunked text/event-stream answer and gets every event sent to its
 * stream.  Everything runs on the app's loop and nothing waits for a reader: when a
 * subscriber's unsent output passes web.events.buffer.bytes it is dropped (its
 * connection closed), and past web.events.max_subscribers a new one is answered
 * 503.  docs/web.md. */
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web_int.h"

typedef struct rill_web_sub {
    struct rill_web_stream *s;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct rill_web_sub *next;
} sub_t;

struct rill_web_stream {
    rill_web_t *w;
    char *path;
    sub_t *subs;
    size_t nsubs;
    uint64_t id; /* events sent (the id: field) */
    struct rill_web_stream *next;
};

static void sub_unlink(sub_t *u) {
    rill_web_stream_t *s = u->s;
    for (sub_t **pp = &s->subs; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            s->nsubs--;
            break;
        }
}

/* The subscriber went away (or timed out): as for dumps, a request evhttp has
 * detached is ours to free. */
static void sub_closed(struct evhttp_connection *evcon, void *opaque) {
    (void)evcon;
    sub_t *u = opaque;
    sub_unlink(u);
    if (!evhttp_request_get_connection(u->req)) evhttp_request_free(u->req);
    free(u);
}

/* Close a subscriber's connection now (it frees the request it holds). */
static void sub_drop(sub_t *u) {
    sub_unlink(u);
    rill__web_set_closecb(u->s->w, u->evcon, NULL, NULL);
    evhttp_connection_free(u->evcon);
    free(u);
}

static size_t sub_unsent(const sub_t *u) {
    struct bufferevent *bev = evhttp_connection_get_bufferevent(u->evcon);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

rill_web_stream_t *rill__web_stream(rill_web_t *w, const char *path, bool create) {
    for (rill_web_stream_t *s = w->streams; s; s = s->next)
        if (!strcmp(s->path, path)) return s;
    if (!create) return NULL;
    rill_web_stream_t *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return NULL;
    }
    s->w = w;
    s->next = w->streams;
    w->streams = s;
    return s;
}

size_t rill__web_stream_subs(const rill_web_stream_t *s) {
    return s->nsubs;
}

size_t rill__web_subs_total(const rill_web_t *w) {
    size_t n = 0;
    for (const rill_web_stream_t *s = w->streams; s; s = s->next)
        n += s->nsubs;
    return n;
}

void rill__web_subscribe(rill_web_t *w, rill_web_stream_t *s,
                         struct evhttp_request *req) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (s->nsubs >= w->max_subs) {
        w->subs_refused++;
        rill__web_error(w, req, 503, "Service Unavailable", "too many subscribers");
        return;
    }
    evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            evhttp_send_error(req, 500, NULL);
            return;
        }
        rill__web_reply(w, req, 200, "OK", b);
        evbuffer_free(b);
        return;
    }
    sub_t *u = calloc(1, sizeof *u);
    struct evbuffer *b = evbuffer_new();
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (!u || !b || !evcon) {
        free(u);
        if (b) evbuffer_free(b);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    u->s = s;
    u->req = req;
    u->evcon = evcon;
    u->next = s->subs;
    s->subs = u;
    s->nsubs++;
    rill__web_count(w, 200);
    rill__web_set_closecb(w, evcon, sub_closed, u);
    evhttp_send_reply_start(req, 200, "OK");
    /* A subscriber sends nothing more: no read timeout (web.timeout.ms would close
     * the stream); a write that waits that long still closes it. */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    struct timeval wtv = {w->timeout_ms / 1000, (w->timeout_ms % 1000) * 1000};
    if (bev) bufferevent_set_timeouts(bev, NULL, &wtv);
    evbuffer_add_printf(b, "retry: 2000\n\n");
    evhttp_send_reply_chunk(req, b);
    evbuffer_free(b);
}

void rill__web_stream_send(rill_web_stream_t *s, const char *event, const char *data,
                           size_t len) {
    if (!s->subs) return;
    struct evbuffer *msg = evbuffer_new();
    if (!msg) return;
    s->id++;
    if (event && *event) {
        evbuffer_add(msg, "event: ", 7);
        for (const char *p = event; *p; p++) /* one line: no CR or LF */
            if (*p != '\n' && *p != '\r') evbuffer_add(msg, p, 1);
        evbuffer_add(msg, "\n", 1);
    }
    evbuffer_add_printf(msg, "id: %llu\n", (unsigned long long)s->id);
    size_t i = 0;
    do { /* every line of data its own data: line */
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        evbuffer_add(msg, "data: ", 6);
        evbuffer_add(msg, data + i, j - i);
        evbuffer_add(msg, "\n", 1);
        if (j + 1 < len && data[j] == '\r' && data[j + 1] == '\n') j++;
        i = j + 1;
    } while (i < len);
    evbuffer_add(msg, "\n", 1);
    size_t n = evbuffer_get_length(msg);
    const void *bytes = evbuffer_pullup(msg, -1);
    for (sub_t *u = s->subs, *next; u; u = next) {
        next = u->next;
        if (sub_unsent(u) + n > s->w->sub_buffer) {
            s->w->subs_dropped++;
            rill__log(s->w->app, RILL_LOG_WARN,
                      "web server: a subscriber of %s reads too slowly (%zu bytes "
                      "unsent): dropped",
                      s->path, sub_unsent(u));
            sub_drop(u);
            continue;
        }
        struct evbuffer *b = evbuffer_new();
        if (!b) continue;
        evbuffer_add(b, bytes, n);
        evhttp_send_reply_chunk(u->req, b);
        evbuffer_free(b);
    }
    evbuffer_free(msg);
}

/* The dashboard's snapshot, to /events' subscribers (none: nothing is built). */
static void on_tick(evutil_socket_t fd, short what, void *opaque) {
    (void)fd;
    (void)what;
    rill_web_t *w = opaque;
    rill_web_stream_t *s = rill__web_stream(w, "/events", false);
    if (!s || !s->subs) return;
    struct evbuffer *b = evbuffer_new();
    if (!b) return;
    rill__web_snapshot(w, b);
    size_t n = evbuffer_get_length(b);
    rill__web_stream_send(s, "status", (const char *)evbuffer_pullup(b, -1), n);
    evbuffer_free(b);
}

rill_err_t rill__web_events_start(rill_web_t *w) {
    rill_app_t *app = w->app;
    int64_t maxs = rill_conf_get_int(app->conf, "web.events.max_subscribers", 16);
    int64_t buf = rill_conf_get_int(app->conf, "web.events.buffer.bytes", 262144);
    int64_t ms = rill_conf_get_int(app->conf, "web.events.interval.ms", 1000);
    w->max_subs = (size_t)(maxs > 0 ? maxs : 16);
    w->sub_buffer = (size_t)(buf > 0 ? buf : 262144);
    w->events_ms = ms > 0 ? ms : 1000;
    if (!rill__web_stream(w, "/events", true)) return RILL_ENOMEM;
    w->tick_ev = event_new(app->base, -1, EV_PERSIST, on_tick, w);
    if (!w->tick_ev) return RILL_ENOMEM;
    struct timeval tv = {w->events_ms / 1000, (w->events_ms % 1000) * 1000};
    event_add(w->tick_ev, &tv);
    return RILL_OK;
}

void rill__web_events_stop(rill_web_t *w) {
    if (w->tick_ev) event_free(w->tick_ev);
    w->tick_ev = NULL;
    while (w->streams) {
        rill_web_stream_t *s = w->streams;
        w->streams = s->next;
        while (s->subs) { /* evhttp_free closes their connections */
            sub_t *u = s->subs;
            s->subs = u->next;
            rill__web_set_closecb(w, u->evcon, NULL, NULL);
            free(u);
        }
        free(s->path);
        free(s);
    }
}
