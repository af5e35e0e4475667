/* Test harness for the worker's web server (test_web_memory, test_web_views_memory):
 * an app on memory:// counting keys into a table with its web server on a free
 * loopback port, and a raw HTTP client on the app's loop.  Include after cmocka.h
 * and rill/rill.h. */
#ifndef RILL_WEB_HARNESS_H
#define RILL_WEB_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "run_until.h"

static unsigned seq;

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t n = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &n);
    close(s);
    return ntohs(a.sin_port);
}

typedef struct web {
    struct event_base *base;
    rill_app_t *app;
    rill_topic_t *in;
    rill_table_t *counts;
    rill_agent_t *agent;
    int port;
    uint64_t handled;
} web_t;

static rill_err_t count_key(rill_event_t *ev, void *opaque) {
    web_t *w = opaque;
    size_t len;
    const void *k = rill_event_key_bytes(ev, &len);
    rill_err_t rc = rill_table_incr(w->counts, ev, k, len, 1, NULL);
    w->handled++;
    return rc;
}

/* An app counting keys of "in" into table "counts", with its web server on. */
static void web_start(web_t *w, const char *broker, int partitions, ...) {
    memset(w, 0, sizeof *w);
    w->base = event_base_new();
    w->port = free_port();
    rill_conf_t *c = rill_conf_new();
    char err[256], port[16], url[128];
    if (!broker) {
        snprintf(url, sizeof url, "memory://web-%d-%u", (int)getpid(), ++seq);
        broker = url;
    }
    snprintf(port, sizeof port, "%d", w->port);
    assert_int_equal(rill_conf_set(c, "broker", broker, err, sizeof err), RILL_CONF_OK);
    assert_int_equal(rill_conf_set(c, "web.port", port, err, sizeof err), RILL_CONF_OK);
    rill_conf_set(c, "log.level", "warn", err, sizeof err);
    va_list ap;
    va_start(ap, partitions);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        if (rill_conf_set(c, k, v, err, sizeof err) != RILL_CONF_OK)
            fail_msg("%s: %s", k, err);
    }
    va_end(ap);
    w->app = rill_app_new_with_base("web", c, w->base, err, sizeof err);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = partitions};
    w->in = rill_app_topic(w->app, "in", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->in};
    w->counts = rill_app_table(w->app, "counts", &o);
    assert_non_null(w->counts);
    w->agent = rill_app_agent(w->app, "count", w->in, count_key, w, NULL);
    assert_non_null(w->agent);
    if (rill_app_start(w->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
}

static void web_send(web_t *w, const void *key, size_t klen) {
    assert_int_equal(rill_send(w->in, key, klen, "1", 1, &rill_send_encoded), RILL_OK);
}

static void web_ready(web_t *w, uint64_t handled) {
    RUN_UNTIL(w->base, rill_app_is_ready(w->app) && w->handled >= handled, 5000);
    assert_true(rill_app_is_ready(w->app));
    assert_true(w->handled >= handled);
}

static void web_stop(web_t *w) {
    rill_app_destroy(w->app);
    event_base_free(w->base);
}

/* ---- a raw HTTP client on the test's loop ---- */

typedef struct conn {
    int fd;
    char *buf;
    size_t len, cap;
    bool eof;
} conn_t;

static void conn_open(conn_t *c, int port) {
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
}

static void conn_write(conn_t *c, const char *s, size_t n) {
    while (n) {
        ssize_t r = send(c->fd, s, n, MSG_NOSIGNAL);
        if (r <= 0) return; /* the server closed on us */
        s += r;
        n -= (size_t)r;
    }
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
}

/* Read what is there; true at EOF (or a reset). */
static bool conn_poll(conn_t *c) {
    for (;;) {
        if (c->cap - c->len < 65536) {
            c->cap = c->cap ? c->cap * 2 : 131072;
            c->buf = realloc(c->buf, c->cap + 1);
        }
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r > 0) {
            c->len += (size_t)r;
            c->buf[c->len] = 0;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return c->eof;
        c->eof = true;
        if (c->buf) c->buf[c->len] = 0;
        return true;
    }
}

static void conn_close(conn_t *c) {
    close(c->fd);
    free(c->buf);
}

/* GET (or another request line) @p path with Connection: close; the answer. */
static char *http(web_t *w, const char *method, const char *path, const char *headers) {
    conn_t c;
    conn_open(&c, w->port);
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", method,
                     path, headers ? headers : "");
    conn_write(&c, req, (size_t)n);
    RUN_UNTIL(w->base, conn_poll(&c), 10000);
    assert_true(c.eof);
    char *out = c.buf ? c.buf : strdup("");
    close(c.fd);
    return out;
}

static int status_of(const char *resp) {
    int code = 0;
    sscanf(resp, "HTTP/1.%*d %d", &code);
    return code;
}

static const char *body_of(const char *resp) {
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* ---- tests ---- */

#endif
