/* The worker's HTTP server (web.port, on web.host, 127.0.0.1 by default), on the
 * app's loop: GET / (the app's state), /health (liveness), /ready (readiness),
 * /metrics (Prometheus), /table/<name> (one page of keys), /tables/<name> (every
 * key, written page by page).  docs/web.md lists them.
 *
 * Hardening: our own listener accepts (backlog SOMAXCONN); past
 * web.max_connections a connection is answered 503, and read until the client
 * closes it (no reset); a burst is accepted a few connections per loop turn, and
 * not while too many turned-away ones are still being read; a failing accept()
 * (EMFILE) pauses accepting for a while instead of spinning; idle and partial requests
 * time out (web.timeout.ms); header and body sizes are bounded; HEAD has no body; with
 * web.token every path but /health asks for "Authorization: Bearer <token>". */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "table_int.h"
#include "web_int.h"
#include "web_route_int.h"

#define MAX_HEADERS 8192 /* request line and headers */
#define MAX_BODY 4096    /* no endpoint takes a body */
#define ACCEPT_PAUSE_MS 200

/* ---- JSON strings
 * ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at @p p (at most @p n bytes), 0 if none. */
static size_t utf8_len(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return len;
}

void rill__web_json_str(struct evbuffer *b, const void *s, size_t n) {
    const unsigned char *p = s;
    evbuffer_add(b, "\"", 1);
    size_t run = 0; /* bytes of p before i that go out as they are */
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t u = 1;
        const char *esc = NULL;
        char tmp[8];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            esc = tmp;
        } else if (c >= 0x80 && !(u = utf8_len(p + i, n - i))) {
            snprintf(tmp, sizeof tmp, "\\\\x%02x", c);
            esc = tmp;
            u = 1;
        }
        if (esc) {
            if (run) evbuffer_add(b, p + i - run, run);
            run = 0;
            evbuffer_add(b, esc, strlen(esc));
        } else {
            run += u;
        }
        i += u;
    }
    if (run) evbuffer_add(b, p + n - run, run);
    evbuffer_add(b, "\"", 1);
}

/* ---- replies
 * ---------------------------------------------------------------- */

void rill__web_count(rill_web_t *w, int code) {
    for (int i = 0; i < RILL_WEB_CODES; i++) {
        if (w->codes[i].code == code || w->codes[i].code == 0) {
            w->codes[i].code = code;
            w->codes[i].n++;
            return;
        }
    }
}

void rill__web_reply(rill_web_t *w, struct evhttp_request *req, int code,
                     const char *reason, struct evbuffer *body) {
    rill__web_count(w, code);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        char len[32];
        snprintf(len, sizeof len, "%zu", evbuffer_get_length(body));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", len);
        evbuffer_drain(body, evbuffer_get_length(body));
    }
    evhttp_send_reply(req, code, reason, body);
}

void rill__web_error(rill_web_t *w, struct evhttp_request *req, int code,
                     const char *reason, const char *msg) {
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evbuffer_add_printf(b, "{\"error\":");
    rill__web_json_str(b, msg, strlen(msg));
    evbuffer_add_printf(b, "}\n");
    rill__web_reply(w, req, code, reason, b);
    evbuffer_free(b);
}

/* ---- views
 * ---------------------------------------------------------------- */

static void send_json(rill_web_t *w, struct evhttp_request *req, int code,
                      const char *reason, struct evbuffer *b) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    rill__web_reply(w, req, code, reason, b);
}

static void status_view(rill_web_t *w, struct evhttp_request *req) {
    rill_app_t *app = w->app;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"app\":");
    rill__web_json_str(b, app->id, strlen(app->id));
    evbuffer_add_printf(b, ",\"client_id\":");
    rill__web_json_str(b, app->client_id, strlen(app->client_id));
    evbuffer_add_printf(b, ",\"ready\":%s,\"recovering\":%s,\"agents\":{",
                        rill_app_is_ready(app) ? "true" : "false",
                        rill__tables_recovering(app) ? "true" : "false");
    bool first = true;
    for (rill_agent_t *a = app->agents; a; a = a->next) {
        evbuffer_add_printf(b, "%s", first ? "" : ",");
        first = false;
        rill__web_json_str(b, a->name, strlen(a->name));
        evbuffer_add_printf(
            b, ":{\"processed\":%llu,\"errors\":%llu,\"decode_errors\":%llu}",
            (unsigned long long)a->processed, (unsigned long long)a->errors,
            (unsigned long long)a->decode_errors);
    }
    evbuffer_add_printf(b, "}}\n");
    send_json(w, req, 200, "OK", b);
    evbuffer_free(b);
}

static const char *state_name(rill_app_state_t s) {
    switch (s) {
    case RILL_APP_CREATED:
        return "created";
    case RILL_APP_RUNNING:
        return "running";
    case RILL_APP_STOPPING:
        return "stopping";
    default:
        return "stopped";
    }
}

/* Liveness: this answer is written by the loop, so the loop is turning. */
static void health_view(rill_web_t *w, struct evhttp_request *req) {
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"status\":\"ok\",\"app\":");
    rill__web_json_str(b, w->app->id, strlen(w->app->id));
    evbuffer_add_printf(b, ",\"state\":\"%s\"}\n", state_name(w->app->state));
    send_json(w, req, 200, "OK", b);
    evbuffer_free(b);
}

/* Why rill_app_is_ready() says no, in its own order. */
void rill__web_not_ready(rill_app_t *app, char *out, size_t n) {
    if (app->state != RILL_APP_RUNNING) {
        snprintf(out, n, "app is %s", state_name(app->state));
        return;
    }
    if (app->fenced) {
        snprintf(out, n, "fenced after a stall: waiting for the group to confirm");
        return;
    }
    for (rill_table_t *t = app->tables; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (t->parts[p].state == RILL_TP_RECOVERING) {
                snprintf(out, n, "table '%s' partition %d is recovering", t->name, p);
                return;
            }
    const rill_tpart_t *g = rill__tables_global_behind(app);
    if (g) {
        if (g->state == RILL_TP_STANDBY)
            snprintf(out, n,
                     "global table '%s' partition %d: its copy is catching up (offset "
                     "%lld of %lld)",
                     g->table->name, g->partition,
                     (long long)(g->cl_next > 0 ? g->cl_next : 0),
                     (long long)g->copy_end);
        else
            snprintf(out, n, "global table '%s' partition %d is not held yet",
                     g->table->name, g->partition);
        return;
    }
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++)
            if (t->parts[p].assigned && t->parts[p].held) {
                snprintf(out, n, "%s[%d] is held until its tables recover", t->name, p);
                return;
            }
    snprintf(out, n, "not ready");
}

static void ready_view(rill_web_t *w, struct evhttp_request *req) {
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    if (rill_app_is_ready(w->app)) {
        evbuffer_add_printf(b, "{\"ready\":true}\n");
        send_json(w, req, 200, "OK", b);
    } else {
        char why[256];
        rill__web_not_ready(w->app, why, sizeof why);
        evbuffer_add_printf(b, "{\"ready\":false,\"reason\":");
        rill__web_json_str(b, why, strlen(why));
        evbuffer_add_printf(b, "}\n");
        send_json(w, req, 503, "Service Unavailable", b);
    }
    evbuffer_free(b);
}

static bool authorized(rill_web_t *w, struct evhttp_request *req) {
    if (!w->token) return true;
    const char *h =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncmp(h, "Bearer ", 7)) return false;
    h += 7;
    size_t n = strlen(w->token);
    if (strlen(h) != n) return false;
    unsigned char diff = 0; /* the same time for every wrong token of this length */
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(h[i] ^ w->token[i]);
    return diff == 0;
}

static void on_request(struct evhttp_request *req, void *opaque) {
    rill_web_t *w = opaque;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *rawpath = u ? evhttp_uri_get_path(u) : NULL;
    if (!rawpath || !*rawpath) rawpath = "/";
    const char *query = u ? evhttp_uri_get_query(u) : NULL;
    char *path = evhttp_uridecode(rawpath, 0, NULL);
    if (!path) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    if (strcmp(path, "/health") && !authorized(w, req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"rill\"");
        rill__web_error(w, req, 401, "Unauthorized", "a bearer token is required");
    } else if (rill__web_dash_route(w, req, path)) {
    } else if (!strcmp(path, "/")) {
        status_view(w, req);
    } else if (!strcmp(path, "/health")) {
        health_view(w, req);
    } else if (!strcmp(path, "/ready")) {
        ready_view(w, req);
    } else if (!strcmp(path, "/metrics")) {
        rill__web_metrics(w, req);
    } else if (rill__web_route(w, req, path, query)) { /* /table/<name>/<key>, /router/ */
    } else if (!strncmp(path, "/table/", 7)) {
        rill__web_table_page(w, req, path + 7, query);
    } else if (!strncmp(path, "/tables/", 8)) {
        rill__web_table_dump(w, req, path + 8);
    } else if (!rill__web_pages_route(w, req, path)) {
        rill__web_error(w, req, 404, "Not Found", "not found");
    }
    free(path);
}

/* ---- accepting
 * ---------------------------------------------------------------- */

/* A connection evhttp accepted is counted (or turned away) once evhttp has set it
 * up: evhttp calls on_connection for every connection it accepts, before it gives
 * the bufferevent its socket; on_fresh runs next, from the loop, before the
 * connection can read anything, and finds the socket in the bufferevent and the
 * evhttp connection in its callbacks' argument. */

static rill_web_conn_t *conn_of(rill_web_t *w, struct evhttp_connection *evcon) {
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0 || (size_t)fd >= w->nbyfd || w->byfd[fd].evcon != evcon) return NULL;
    return &w->byfd[fd];
}

/* evhttp frees a connection: forget it, then tell the view that asked. */
static void on_conn_closed(struct evhttp_connection *evcon, void *opaque) {
    rill_web_t *w = opaque;
    rill_web_conn_t *c = conn_of(w, evcon);
    if (!c) return;
    void (*cb)(struct evhttp_connection *, void *) = c->closecb;
    void *arg = c->closearg;
    *c = (rill_web_conn_t){0};
    w->nconns--;
    rill__web_trim_note(w);
    if (cb) cb(evcon, arg);
}

void rill__web_set_closecb(rill_web_t *w, struct evhttp_connection *evcon,
                           void (*cb)(struct evhttp_connection *, void *), void *arg) {
    rill_web_conn_t *c = conn_of(w, evcon);
    if (!c) { /* not counted (no memory to, when it came) */
        evhttp_connection_set_closecb(evcon, cb, arg);
        return;
    }
    c->closecb = cb;
    c->closearg = arg;
}

size_t rill__web_conns(rill_web_t *w) {
    return w->nconns;
}

static bool conn_count(rill_web_t *w, struct evhttp_connection *evcon, int fd) {
    if ((size_t)fd >= w->nbyfd) {
        size_t n = w->nbyfd ? w->nbyfd : 64;
        while (n <= (size_t)fd)
            n *= 2;
        rill_web_conn_t *a = realloc(w->byfd, n * sizeof *a);
        if (!a) return false;
        memset(a + w->nbyfd, 0, (n - w->nbyfd) * sizeof *a);
        w->byfd = a;
        w->nbyfd = n;
    }
    w->byfd[fd] = (rill_web_conn_t){.evcon = evcon};
    w->nconns++;
    rill__web_trim_note(w);
    evhttp_connection_set_closecb(evcon, on_conn_closed, w);
    return true;
}

/* A connection turned away: its 503 is written, then it is read (and what comes
 * thrown away) until the client closes it, so that closing it does not leave
 * unread bytes behind, which would make a reset that can reach the client before
 * the answer.  At most MAX_DRAINS at once (accepting waits past that), each for
 * web.timeout.ms and MAX_DRAIN_BYTES at most. */
#define MAX_DRAINS 128
#define MAX_DRAIN_BYTES (64 * 1024)

/* A burst of connections is taken FRESH_BATCH at a time, and not at all while
 * the drains are (nearly) full: the rest wait in the listen backlog.  So the
 * connections and the descriptors open at once stay bounded, and with them the
 * heap a burst leaves behind (a thousand at once left glibc holding ~1.2 MB,
 * pinned by libevent's per-descriptor entries made in the middle of it; 16 and
 * 128 leave 0.3-0.6 MB). */
#define FRESH_BATCH 16

static void accept_update(rill_web_t *w) {
    bool on = !event_pending(w->resume_ev, EV_TIMEOUT, NULL) && w->nfresh < FRESH_BATCH &&
              w->ndrains + FRESH_BATCH <= MAX_DRAINS;
    if (on == w->accepting) return;
    w->accepting = on;
    if (on)
        evconnlistener_enable(w->lev);
    else
        evconnlistener_disable(w->lev);
}

typedef struct rill_web_drain {
    rill_web_t *w;
    int fd;
    size_t bytes;
    struct timeval until; /* the loop's clock */
    struct event *ev;
    struct rill_web_drain *prev, *next;
} rill_web_drain_t;

static void drain_free(rill_web_drain_t *d) {
    rill_web_t *w = d->w;
    if (d->prev)
        d->prev->next = d->next;
    else
        w->drains = d->next;
    if (d->next) d->next->prev = d->prev;
    w->ndrains--;
    event_free(d->ev);
    close(d->fd);
    free(d);
    rill__web_trim_note(w);
}

/* A drain ends on the loop: room for more connections, perhaps. */
static void drain_done(rill_web_drain_t *d) {
    rill_web_t *w = d->w;
    drain_free(d);
    accept_update(w);
}

static void on_drain(evutil_socket_t fd, short what, void *opaque) {
    rill_web_drain_t *d = opaque;
    if (what & EV_TIMEOUT) {
        drain_done(d);
        return;
    }
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        if ((d->bytes += (size_t)n) > MAX_DRAIN_BYTES) break;
    if (n == 0 || d->bytes > MAX_DRAIN_BYTES ||
        (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        drain_done(d);
        return;
    }
    struct timeval now, left;
    event_base_gettimeofday_cached(d->w->app->base, &now);
    if (!evutil_timercmp(&now, &d->until, <)) {
        drain_done(d);
        return;
    }
    evutil_timersub(&d->until, &now, &left);
    event_add(d->ev, &left);
}

static void reject(rill_web_t *w, struct evhttp_connection *evcon, int fd) {
    static const char body[] = "{\"error\":\"too many connections\"}\n";
    char msg[256];
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 503 Service Unavailable\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     sizeof body - 1, body);
    w->rejected++;
    rill__web_count(w, 503);
    /* Our own descriptor of the socket, to read it after evhttp let it go. */
    rill_web_drain_t *d = w->ndrains < MAX_DRAINS ? calloc(1, sizeof *d) : NULL;
    if (d) {
        d->w = w;
        d->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        d->ev = d->fd >= 0 ? event_new(w->app->base, d->fd, EV_READ, on_drain, d) : NULL;
        if (!d->ev) {
            if (d->fd >= 0) close(d->fd);
            free(d);
            d = NULL;
        }
    }
    /* A new connection's send buffer is empty: the answer fits. */
    ssize_t r = send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)r;
    /* evhttp shuts the write side (a FIN after the answer) and closes its
     * descriptor; the socket stays open through ours. */
    evhttp_connection_free(evcon);
    if (!d) return; /* closed now: the client may see a reset */
    struct timeval tv = {w->timeout_ms / 1000, (w->timeout_ms % 1000) * 1000};
    event_base_gettimeofday_cached(w->app->base, &d->until);
    evutil_timeradd(&d->until, &tv, &d->until);
    d->next = w->drains;
    if (d->next) d->next->prev = d;
    w->drains = d;
    w->ndrains++;
    rill__web_trim_note(w);
    event_add(d->ev, &tv);
}

static void on_fresh(evutil_socket_t fd, short what, void *opaque) {
    (void)fd;
    (void)what;
    rill_web_t *w = opaque;
    /* what a callback here adds comes after: index, not a copy */
    for (size_t i = 0; i < w->nfresh; i++) {
        struct bufferevent *bev = w->fresh[i];
        void *arg = NULL;
        bufferevent_getcb(bev, NULL, NULL, NULL, &arg); /* NULL once freed */
        struct evhttp_connection *evcon = arg;
        evutil_socket_t s = bufferevent_getfd(bev);
        if (evcon && s >= 0 &&
            (w->nconns >= w->max_conns || !conn_count(w, evcon, (int)s)))
            reject(w, evcon, (int)s);
        bufferevent_decref(bev);
    }
    w->nfresh = 0;
    accept_update(w);
}

static struct bufferevent *on_connection(struct event_base *base, void *opaque) {
    rill_web_t *w = opaque;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) return NULL;
    if (w->nfresh == w->capfresh) {
        size_t n = w->capfresh ? 2 * w->capfresh : 64;
        struct bufferevent **a = realloc(w->fresh, n * sizeof *a);
        if (!a) return bev; /* not counted */
        w->fresh = a;
        w->capfresh = n;
    }
    bufferevent_incref(bev); /* until on_fresh: evhttp may free it first */
    w->fresh[w->nfresh++] = bev;
    event_active(w->fresh_ev, EV_TIMEOUT, 0);
    accept_update(w);
    return bev;
}

static void on_resume(evutil_socket_t fd, short what, void *opaque) {
    (void)fd;
    (void)what;
    rill_web_t *w = opaque;
    accept_update(w);
}

/* accept() failed (out of file descriptors, most likely): the listening socket
 * stays readable, so stop watching it for a while instead of spinning. */
/* evhttp makes the listener's argument its own, and the error callback gets that
 * one: the servers of the process, to find ours by its evhttp. */
static pthread_mutex_t webs_lock = PTHREAD_MUTEX_INITIALIZER;
static rill_web_t *webs;

static rill_web_t *web_of(const struct evconnlistener *lev) {
    pthread_mutex_lock(&webs_lock);
    rill_web_t *w = webs;
    while (w && w->lev != lev)
        w = w->next;
    pthread_mutex_unlock(&webs_lock);
    return w;
}

static void on_accept_error(struct evconnlistener *lev, void *opaque) {
    (void)opaque; /* evhttp's */
    rill_web_t *w = web_of(lev);
    if (!w) {
        evconnlistener_disable(lev);
        return;
    }
    int err = EVUTIL_SOCKET_ERROR();
    if (w->accept_errors++ % 100 == 0)
        rill__log(w->app, RILL_LOG_WARN,
                  "web server: accept failed: %s (%llu times); accepting again in "
                  "%d ms",
                  evutil_socket_error_to_string(err),
                  (unsigned long long)w->accept_errors, ACCEPT_PAUSE_MS);
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
    event_add(w->resume_ev, &tv);
    accept_update(w); /* off until resume_ev */
}

static void web_free(rill_web_t *w) {
    if (!w) return;
    pthread_mutex_lock(&webs_lock);
    for (rill_web_t **pp = &webs; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    pthread_mutex_unlock(&webs_lock);
    rill__web_dumps_free(w);
    rill__web_events_stop(w);
    rill__web_lag_stop(w);
    rill__web_log_stop(w);
    rill__web_trim_stop(w);
    if (w->resume_ev) event_free(w->resume_ev);
    if (w->fresh_ev) event_free(w->fresh_ev);
    if (w->http)
        evhttp_free(w->http); /* frees the bound listener and the connections */
    else if (w->lev)
        evconnlistener_free(w->lev);
    for (size_t i = 0; i < w->nfresh; i++)
        bufferevent_decref(w->fresh[i]);
    free(w->fresh);
    while (w->drains)
        drain_free(w->drains);
    free(w->byfd);
    free(w);
}

rill_err_t rill__web_start(rill_app_t *app, char *errstr, size_t errlen) {
    int64_t port = rill_conf_get_int(app->conf, "web.port", 0);
    if (port <= 0) return RILL_OK;
    const char *host = rill_conf_get(app->conf, "web.host");
    if (!host || !*host) host = "127.0.0.1";
    const char *token = rill_conf_get(app->conf, "web.token");
    int64_t timeout_ms = rill_conf_get_int(app->conf, "web.timeout.ms", 10000);
    int64_t maxc = rill_conf_get_int(app->conf, "web.max_connections", 64);
    rill_web_t *w = calloc(1, sizeof *w);
    if (!w) return RILL_ENOMEM;
    w->app = app;
    w->token = token && *token ? token : NULL;
    w->max_conns = (size_t)(maxc > 0 ? maxc : 64);
    w->timeout_ms = timeout_ms;
    w->http = evhttp_new(app->base);
    w->resume_ev = event_new(app->base, -1, 0, on_resume, w);
    w->fresh_ev = event_new(app->base, -1, 0, on_fresh, w);
    if (w->fresh_ev) event_priority_set(w->fresh_ev, 0); /* before any socket's */
    if (!w->http || !w->resume_ev || !w->fresh_ev) {
        web_free(w);
        return RILL_ENOMEM;
    }
    struct evutil_addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
    char portstr[24];
    snprintf(portstr, sizeof portstr, "%lld", (long long)port);
    if (evutil_getaddrinfo(host, portstr, &hints, &ai) == 0 && ai)
        w->lev = evconnlistener_new_bind(app->base, NULL, NULL,
                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                             LEV_OPT_CLOSE_ON_EXEC,
                                         SOMAXCONN, ai->ai_addr, (int)ai->ai_addrlen);
    if (ai) evutil_freeaddrinfo(ai);
    if (!w->lev) {
        snprintf(errstr, errlen, "web server: cannot listen on %s:%lld: %s", host,
                 (long long)port, strerror(errno));
        web_free(w);
        return RILL_EIO;
    }
    w->llen = sizeof w->listen;
    if (getsockname(evconnlistener_get_fd(w->lev), (struct sockaddr *)&w->listen,
                    &w->llen) ||
        !evhttp_bind_listener(w->http, w->lev)) {
        snprintf(errstr, errlen, "web server: cannot listen on %s:%lld", host,
                 (long long)port);
        web_free(w);
        return RILL_EIO;
    }
    evhttp_set_bevcb(w->http, on_connection, w);
    evconnlistener_set_error_cb(w->lev, on_accept_error);
    w->accepting = true; /* a new listener is enabled */
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evhttp_set_timeout_tv(w->http, &tv);
    evhttp_set_max_headers_size(w->http, MAX_HEADERS);
    evhttp_set_max_body_size(w->http, MAX_BODY);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(w->http, on_request, w);
    if (rill__web_events_start(w) != RILL_OK || rill__web_lag_start(w) != RILL_OK ||
        rill__web_log_start(w) != RILL_OK || rill__web_trim_start(w) != RILL_OK) {
        web_free(w);
        return RILL_ENOMEM;
    }
    app->web = w->http;
    app->web_state = w;
    pthread_mutex_lock(&webs_lock);
    w->next = webs;
    webs = w;
    pthread_mutex_unlock(&webs_lock);
    rill_log(app->log, RILL_LOG_DEBUG, app->id, "web server on http://%s:%lld/", host,
             (long long)port);
    return RILL_OK;
}

void rill__web_stop(rill_app_t *app) {
    rill__web_pages_forget(app);
    web_free(app->web_state);
    app->web_state = NULL;
    app->web = NULL;
}
