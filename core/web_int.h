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

/* One connection the listener accepted: told apart from a later socket with the
 * same fd number by both its addresses. */
typedef struct rill_web_conn {
    int fd;
    struct sockaddr_storage local, peer;
    socklen_t llen, plen;
} rill_web_conn_t;

#define RILL_WEB_CODES 16

typedef struct rill_web {
    rill_app_t *app;
    struct evhttp *http;
    struct evconnlistener *lev;
    struct event *resume_ev;        /* accepting again after EMFILE and the like */
    struct sockaddr_storage listen; /* the listener's address */
    socklen_t llen;
    const char *token; /* web.token, or NULL */
    size_t max_conns;
    rill_web_conn_t *conns;
    size_t nconns;
    struct {
        int code;
        uint64_t n;
    } codes[RILL_WEB_CODES];     /* requests answered, by status */
    uint64_t rejected;           /* connections answered 503 past web.max_connections */
    uint64_t accept_errors;      /* accept() failures (listener paused each time) */
    struct rill_web_dump *dumps; /* /tables/<name> answers in progress */
    struct rill_web *next;       /* the process's servers (web.c) */
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

/* Open connections (the closed ones forgotten first). */
size_t rill__web_conns(rill_web_t *w);

/* web_table.c: GET /table/<name>?partition=P&after=K&limit=N (one page), GET
 * /tables/<name> (every key, written page by page as the client reads) */
void rill__web_table_page(rill_web_t *w, struct evhttp_request *req, const char *name,
                          const char *query);
void rill__web_table_dump(rill_web_t *w, struct evhttp_request *req, const char *name);
void rill__web_dumps_free(rill_web_t *w);

/* web_metrics.c: GET /metrics (Prometheus text format 0.0.4) */
void rill__web_metrics(rill_web_t *w, struct evhttp_request *req);

#endif
