/* Internal: the worker's HTTP server (web.c) and its views (web_table.c,
 * web_metrics.c).  Layer 6 (docs/architecture.md). */
#ifndef RILL_WEB_INT_H
#define RILL_WEB_INT_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/socket.h>

#include "event_int.h"

/* web.c: the server on the app's loop (web.port; 0: none) */
rill_err_t rill__web_start(rill_app_t *app, char *errstr, size_t errlen);
void rill__web_stop(rill_app_t *app);

/* An open connection evhttp accepted and this server counts, at its socket's
 * number: web.c keeps evhttp's close callback of the connection to count its end,
 * and calls the one a view set (rill__web_set_closecb) from it. */
typedef struct rill_web_conn {
    struct evhttp_connection *evcon; /* NULL: no counted connection at this fd */
    void (*closecb)(struct evhttp_connection *, void *);
    void *closearg;
} rill_web_conn_t;

#define RILL_WEB_CODES 16

typedef struct rill_web {
    rill_app_t *app;
    struct evhttp *http;
    struct evconnlistener *lev;
    struct event *resume_ev;        /* accepting again after EMFILE and the like */
    bool accepting;                 /* the listener is enabled (accept_update) */
    struct sockaddr_storage listen; /* the listener's address */
    socklen_t llen;
    const char *token; /* web.token, or NULL */
    size_t max_conns;
    int64_t timeout_ms;         /* web.timeout.ms */
    rill_web_conn_t *byfd;      /* counted connections by socket number */
    size_t nbyfd;               /* entries of byfd */
    size_t nconns;              /* counted connections open */
    struct bufferevent **fresh; /* accepted, not yet counted (a reference each) */
    size_t nfresh, capfresh;
    struct event *fresh_ev;        /* counts (or turns away) the fresh ones */
    struct rill_web_drain *drains; /* turned away, read until the client closes */
    size_t ndrains;
    struct {
        int code;
        uint64_t n;
    } codes[RILL_WEB_CODES];     /* requests answered, by status */
    uint64_t rejected;           /* connections answered 503 past web.max_connections */
    uint64_t accept_errors;      /* accept() failures (listener paused each time) */
    struct rill_web_dump *dumps; /* /tables/<name> answers in progress */
    struct rill_web *next;       /* the process's servers (web.c) */

    /* web_events.c: Server-Sent Events streams (/events and the app's own) */
    struct rill_web_stream *streams;
    size_t max_subs;       /* web.events.max_subscribers, per stream */
    size_t sub_buffer;     /* web.events.buffer.bytes: a subscriber past it is dropped */
    uint64_t subs_dropped; /* slow subscribers dropped */
    uint64_t subs_refused; /* subscribers answered 503 past max_subs */
    int64_t events_ms;     /* web.events.interval.ms: the dashboard's updates */
    struct event *tick_ev; /* the dashboard's snapshot, every events_ms */

    /* web_lag.c: high watermarks of assigned partitions, every web.lag.interval.ms */
    struct rill_web_lag *lags;
    struct event *lag_ev;
    int64_t lag_timeout_ms;

    /* web_dash.c: recent warnings and errors, from the app's logger */
    struct rill_web_log *log;

    /* web_trim.c: the heap given back after a burst of connections */
    struct event *trim_ev;
    size_t trim_peak; /* connections open at once since the last trim */
    uint64_t trims;
} rill_web_t;

/* A JSON string of @p n bytes: valid UTF-8 as is, control characters as \u00XX,
 * bytes that are not UTF-8 as the text \xHH (a backslash, x, two hex digits). */
void rill__web_json_str(struct evbuffer *b, const void *s, size_t n);
/* Answer @p req with @p code and @p body (no body for HEAD); counted by status. */
void rill__web_reply(rill_web_t *w, struct evhttp_request *req, int code,
                     const char *reason, struct evbuffer *body);
void rill__web_count(rill_web_t *w, int code);
void rill__web_error(rill_web_t *w, struct evhttp_request *req, int code,
                     const char *reason, const char *msg);

/* Why rill_app_is_ready() says no (web.c). */
void rill__web_not_ready(rill_app_t *app, char *out, size_t n);

/* Open connections (counted against web.max_connections). */
size_t rill__web_conns(rill_web_t *w);
/* Set the close callback of the incoming connection @p evcon: views call this
 * instead of evhttp_connection_set_closecb (web.c's own counts the connection). */
void rill__web_set_closecb(rill_web_t *w, struct evhttp_connection *evcon,
                           void (*cb)(struct evhttp_connection *, void *), void *arg);

/* web_table.c: GET /table/<name>?partition=P&after=K&limit=N (one page), GET
 * /tables/<name> (every key, written page by page as the client reads) */
void rill__web_table_page(rill_web_t *w, struct evhttp_request *req, const char *name,
                          const char *query);
void rill__web_table_dump(rill_web_t *w, struct evhttp_request *req, const char *name);
void rill__web_dumps_free(rill_web_t *w);

/* web_metrics.c: GET /metrics (Prometheus text format 0.0.4) */
void rill__web_metrics(rill_web_t *w, struct evhttp_request *req);

/* web_table.c: @p key of table @p t as JSON into @p out (the json serializer;
 * *found false: no row, nothing written).  RILL_ENOTOWNER when this worker does not
 * own (or has not recovered) the key's partition. */
rill_err_t rill__web_table_get_json(struct rill_table *t, const void *key, size_t klen,
                                    struct evbuffer *out, bool *found);
struct rill_table *rill__web_table_named(rill_app_t *app, const char *name);

/* web_dash.c: GET / (the dashboard for browsers, the state as JSON otherwise),
 * /status (JSON), /dashboard.js; the snapshot /events sends; recent errors. */
extern const char rill__web_dash_html[], rill__web_dash_js[]; /* web_assets.c */
bool rill__web_dash_route(rill_web_t *w, struct evhttp_request *req, const char *path);
void rill__web_snapshot(rill_web_t *w, struct evbuffer *b);
rill_err_t rill__web_log_start(rill_web_t *w);
void rill__web_log_stop(rill_web_t *w);

/* web_events.c: Server-Sent Events.  A stream is a path; every subscriber gets
 * every event; one whose unsent output passes web.events.buffer.bytes is dropped
 * (the loop never waits for a reader).  /events carries the dashboard's snapshot
 * every web.events.interval.ms. */
typedef struct rill_web_stream rill_web_stream_t;
rill_err_t rill__web_events_start(rill_web_t *w);
void rill__web_events_stop(rill_web_t *w);
rill_web_stream_t *rill__web_stream(rill_web_t *w, const char *path, bool create);
void rill__web_subscribe(rill_web_t *w, rill_web_stream_t *s, struct evhttp_request *req);
/* Send one event (@p event may be NULL: "message"; @p data's lines each become a
 * data: line). */
void rill__web_stream_send(rill_web_stream_t *s, const char *event, const char *data,
                           size_t len);
size_t rill__web_stream_subs(const rill_web_stream_t *s);
size_t rill__web_subs_total(const rill_web_t *w);

/* web_lag.c: the lag of partition @p p of @p t (-1: not known), *high its high
 * watermark (-1: not known). */
rill_err_t rill__web_lag_start(rill_web_t *w);
void rill__web_lag_stop(rill_web_t *w);
int64_t rill__web_lag(rill_web_t *w, rill_topic_t *t, int32_t p, int64_t *high);

/* web_pages.c: the app's own pages (rill_app_page), matched after the built-in
 * paths; false when none matches @p path. */
bool rill__web_pages_route(rill_web_t *w, struct evhttp_request *req, const char *path);
void rill__web_pages_forget(rill_app_t *app);

/* web_trim.c: after TRIM_BURST connections at once, once they are closed, the
 * free heap pages go back to the system.  rill__web_trim_note is called each
 * time the connections open (counted and drained) change. */
rill_err_t rill__web_trim_start(rill_web_t *w);
void rill__web_trim_stop(rill_web_t *w);
void rill__web_trim_note(rill_web_t *w);

#endif
