/* The live dashboard: GET / answers a browser (Accept: text/html) the page of
 * web_assets.c, GET /dashboard.js its script, GET /status the snapshot as JSON,
 * GET /events the same snapshot every web.events.interval.ms as Server-Sent Events
 * (web_events.c).  A snapshot: the app, its workers, agents, assigned partitions
 * with their committed offset and lag, tables with keys and recovery progress,
 * and the recent warnings and errors of the app's logger (kept here: the logger's
 * callback is wrapped while the server runs).  docs/web.md. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log_int.h"
#include "table_int.h"
#include "web_int.h"
#include "workers_int.h"

#define LOG_KEEP 32 /* recent warnings and errors kept */

typedef struct rill_web_log {
    pthread_mutex_t lock; /* the lease watchdog may log from its thread */
    rill_log_cb prev_cb;
    void *prev_opaque;
    struct {
        int64_t ms;
        rill_log_level_t level;
        char name[64];
        char msg[512];
    } ring[LOG_KEEP];
    size_t n;   /* entries written (the last LOG_KEEP kept) */
    bool owned; /* the logger's callback is ours */
} rill_web_log_t;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* log.c's stderr line, for an app without a callback of its own. */
static void log_stderr(rill_log_level_t level, const char *name, const char *msg) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    static const char *const tags[] = {"FATAL", "ERROR", "WARN ",
                                       "INFO ", "DEBUG", "TRACE"};
    fprintf(stderr, "%s.%03ldZ %s [%s] %s\n", when, ts.tv_nsec / 1000000,
            tags[level <= RILL_LOG_TRACE ? level : RILL_LOG_TRACE], name, msg);
}

static void on_log(rill_log_level_t level, const char *name, const char *msg,
                   void *opaque) {
    rill_web_log_t *l = opaque;
    if (level <= RILL_LOG_WARN) {
        pthread_mutex_lock(&l->lock);
        size_t i = l->n++ % LOG_KEEP;
        l->ring[i].ms = now_ms();
        l->ring[i].level = level;
        snprintf(l->ring[i].name, sizeof l->ring[i].name, "%s", name);
        snprintf(l->ring[i].msg, sizeof l->ring[i].msg, "%s", msg);
        pthread_mutex_unlock(&l->lock);
    }
    if (l->prev_cb)
        l->prev_cb(level, name, msg, l->prev_opaque);
    else
        log_stderr(level, name, msg);
}

rill_err_t rill__web_log_start(rill_web_t *w) {
    rill_web_log_t *l = calloc(1, sizeof *l);
    if (!l) return RILL_ENOMEM;
    pthread_mutex_init(&l->lock, NULL);
    struct rill_logger *lg = w->app->log;
    if (lg) {
        l->prev_cb = lg->cb;
        l->prev_opaque = lg->opaque;
        lg->opaque = l;
        lg->cb = on_log;
        l->owned = true;
    }
    w->log = l;
    return RILL_OK;
}

void rill__web_log_stop(rill_web_t *w) {
    rill_web_log_t *l = w->log;
    if (!l) return;
    struct rill_logger *lg = w->app->log;
    if (l->owned && lg && lg->cb == on_log && lg->opaque == l) {
        lg->cb = l->prev_cb;
        lg->opaque = l->prev_opaque;
    }
    pthread_mutex_destroy(&l->lock);
    free(l);
    w->log = NULL;
}

static void errors_json(rill_web_t *w, struct evbuffer *b) {
    evbuffer_add_printf(b, "[");
    rill_web_log_t *l = w->log;
    if (l) {
        pthread_mutex_lock(&l->lock);
        size_t from = l->n > LOG_KEEP ? l->n - LOG_KEEP : 0;
        for (size_t k = from; k < l->n; k++) {
            size_t i = k % LOG_KEEP;
            evbuffer_add_printf(
                b, "%s{\"time_ms\":%lld,\"level\":\"%s\",\"name\":", k == from ? "" : ",",
                (long long)l->ring[i].ms, rill_log_level_name(l->ring[i].level));
            rill__web_json_str(b, l->ring[i].name, strlen(l->ring[i].name));
            evbuffer_add_printf(b, ",\"message\":");
            rill__web_json_str(b, l->ring[i].msg, strlen(l->ring[i].msg));
            evbuffer_add_printf(b, "}");
        }
        pthread_mutex_unlock(&l->lock);
    }
    evbuffer_add_printf(b, "]");
}

/* http://address:port/ of the listener. */
static void self_url(const rill_web_t *w, char *out, size_t n) {
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (w->listen.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&w->listen;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(out, n, "http://%s:%d/", host, port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&w->listen;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(out, n, "http://[%s]:%d/", host, port);
    }
}

static void str(struct evbuffer *b, const char *s) {
    rill__web_json_str(b, s, strlen(s));
}

static void agents_json(rill_app_t *app, struct evbuffer *b) {
    evbuffer_add_printf(b, "[");
    for (rill_agent_t *a = app->agents; a; a = a->next) {
        evbuffer_add_printf(b, "%s{\"name\":", a == app->agents ? "" : ",");
        str(b, a->name);
        evbuffer_add_printf(b, ",\"topic\":");
        str(b, a->topic ? a->topic->name : "");
        evbuffer_add_printf(b,
                            ",\"processed\":%llu,\"errors\":%llu,\"decode_errors\":%llu,"
                            "\"queued\":%llu,\"inflight\":%llu}",
                            (unsigned long long)a->processed,
                            (unsigned long long)a->errors,
                            (unsigned long long)a->decode_errors,
                            (unsigned long long)a->qlen, (unsigned long long)a->inflight);
    }
    evbuffer_add_printf(b, "]");
}

static void opt_int(struct evbuffer *b, const char *name, int64_t v) {
    if (v < 0)
        evbuffer_add_printf(b, ",\"%s\":null", name);
    else
        evbuffer_add_printf(b, ",\"%s\":%lld", name, (long long)v);
}

static void partitions_json(rill_web_t *w, struct evbuffer *b) {
    rill_app_t *app = w->app;
    evbuffer_add_printf(b, "[");
    bool first = true;
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->parts || !t->nagents || (t->opts.internal && !t->repartition_of))
            continue; /* user topics (and their repartitions), not <app>-delayed */
        for (int32_t p = 0; p < t->partitions; p++) {
            const rill_tpstate_t *tp = &t->parts[p];
            if (!tp->assigned) continue;
            evbuffer_add_printf(b, "%s{\"topic\":", first ? "" : ",");
            first = false;
            str(b, t->name);
            evbuffer_add_printf(b, ",\"partition\":%d,\"owner\":", (int)p);
            str(b, app->client_id);
            int64_t high = -1, lag = rill__web_lag(w, t, p, &high);
            opt_int(b, "committed", tp->committed);
            opt_int(b, "high", high);
            opt_int(b, "lag", lag);
            evbuffer_add_printf(b, "}");
        }
    }
    evbuffer_add_printf(b, "]");
}

static void tables_json(rill_app_t *app, struct evbuffer *b) {
    evbuffer_add_printf(b, "[");
    bool first = true;
    for (rill_table_t *t = app->tables; t; t = t->next) {
        rill_table_stats_t st;
        if (!t->parts || rill__table_stats_live(t, &st) != RILL_OK) continue;
        evbuffer_add_printf(b, "%s{\"name\":", first ? "" : ",");
        first = false;
        str(b, t->name);
        evbuffer_add_printf(b,
                            ",\"keys\":%llu,\"bytes\":%llu,\"owned\":%u,\"standby\":%u,"
                            "\"recovered\":%llu,\"recovering\":[",
                            (unsigned long long)st.keys, (unsigned long long)st.bytes,
                            (unsigned)st.owned, (unsigned)st.standby,
                            (unsigned long long)st.recovered);
        bool f2 = true;
        for (int32_t p = 0; p < t->partitions; p++) {
            const rill_tpart_t *tp = &t->parts[p];
            if (tp->state != RILL_TP_RECOVERING) continue;
            int64_t left = tp->rec_end - tp->cl_next;
            evbuffer_add_printf(b, "%s{\"partition\":%d,\"remaining\":%lld}",
                                f2 ? "" : ",", (int)p, (long long)(left > 0 ? left : 0));
            f2 = false;
        }
        evbuffer_add_printf(b, "]}");
    }
    evbuffer_add_printf(b, "]");
}

#define WORKERS_SHOWN 256

/* This worker (live figures), then every other live one the workers topic
 * knows (what it last published). */
static void workers_json(rill_web_t *w, struct evbuffer *b) {
    rill_app_t *app = w->app;
    size_t n = rill__workers_list(app, NULL, 0);
    if (n > WORKERS_SHOWN) n = WORKERS_SHOWN;
    rill_worker_info_t *ws = n ? calloc(n, sizeof *ws) : NULL;
    size_t got = ws ? rill__workers_list(app, ws, n) : 0;
    if (got < n) n = got;
    char url[320];
    const char *adv = rill__workers_self_url(app);
    if (adv && *adv)
        snprintf(url, sizeof url, "%s/", adv);
    else
        self_url(w, url, sizeof url);
    unsigned long long owned = 0;
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && t->nagents && p < t->partitions; p++)
            owned += t->parts[p].assigned;
    evbuffer_add_printf(b, "[{\"client_id\":");
    str(b, app->client_id);
    evbuffer_add_printf(b, ",\"url\":");
    str(b, url);
    evbuffer_add_printf(b, ",\"self\":true,\"partitions\":%llu,\"seen_ms_ago\":0}",
                        owned);
    for (size_t i = 0; i < n; i++) {
        if (ws[i].self) continue;
        evbuffer_add_printf(b, ",{\"client_id\":");
        str(b, ws[i].client_id);
        evbuffer_add_printf(b, ",\"url\":");
        str(b, ws[i].url);
        evbuffer_add_printf(b,
                            ",\"self\":false,\"partitions\":%u,\"generation\":%llu,"
                            "\"seen_ms_ago\":%lld}",
                            ws[i].partitions, (unsigned long long)ws[i].generation,
                            (long long)ws[i].seen_ms_ago);
    }
    free(ws);
    evbuffer_add_printf(b, "]");
}

static const char *state_name(rill_app_state_t s) {
    return s == RILL_APP_CREATED    ? "created"
           : s == RILL_APP_RUNNING  ? "running"
           : s == RILL_APP_STOPPING ? "stopping"
                                    : "stopped";
}

void rill__web_snapshot(rill_web_t *w, struct evbuffer *b) {
    rill_app_t *app = w->app;
    bool ready = rill_app_is_ready(app);
    evbuffer_add_printf(b, "{\"app\":");
    str(b, app->id);
    evbuffer_add_printf(b, ",\"client_id\":");
    str(b, app->client_id);
    evbuffer_add_printf(b, ",\"state\":\"%s\",\"ready\":%s,\"reason\":",
                        state_name(app->state), ready ? "true" : "false");
    if (ready) {
        evbuffer_add_printf(b, "null");
    } else {
        char why[256];
        rill__web_not_ready(app, why, sizeof why);
        str(b, why);
    }
    evbuffer_add_printf(b, ",\"now_ms\":%lld,\"workers\":", (long long)now_ms());
    workers_json(w, b);
    evbuffer_add_printf(b, ",\"agents\":");
    agents_json(app, b);
    evbuffer_add_printf(b, ",\"partitions\":");
    partitions_json(w, b);
    evbuffer_add_printf(b, ",\"tables\":");
    tables_json(app, b);
    evbuffer_add_printf(b, ",\"errors\":");
    errors_json(w, b);
    evbuffer_add_printf(b, ",\"subscribers\":%zu}\n", rill__web_subs_total(w));
}

static void asset(rill_web_t *w, struct evhttp_request *req, const char *type,
                  const char *text) {
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evbuffer_add_reference(b, text, strlen(text), NULL, NULL);
    rill__web_reply(w, req, 200, "OK", b);
    evbuffer_free(b);
}

static bool wants_html(struct evhttp_request *req) {
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
    return a && strstr(a, "text/html");
}

bool rill__web_dash_route(rill_web_t *w, struct evhttp_request *req, const char *path) {
    if (!strcmp(path, "/") && wants_html(req)) {
        asset(w, req, "text/html; charset=utf-8", rill__web_dash_html);
    } else if (!strcmp(path, "/dashboard.js")) {
        asset(w, req, "text/javascript; charset=utf-8", rill__web_dash_js);
    } else if (!strcmp(path, "/status")) {
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            evhttp_send_error(req, 500, NULL);
            return true;
        }
        rill__web_snapshot(w, b);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        rill__web_reply(w, req, 200, "OK", b);
        evbuffer_free(b);
    } else if (!strcmp(path, "/events")) {
        rill_web_stream_t *s = rill__web_stream(w, "/events", true);
        if (!s) {
            evhttp_send_error(req, 500, NULL);
            return true;
        }
        bool fresh = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
        size_t before = rill__web_stream_subs(s);
        rill__web_subscribe(w, s, req);
        if (fresh && rill__web_stream_subs(s) > before) { /* the state at once */
            struct evbuffer *b = evbuffer_new();
            if (b) {
                rill__web_snapshot(w, b);
                size_t n = evbuffer_get_length(b);
                rill__web_stream_send(s, "status", (const char *)evbuffer_pullup(b, -1),
                                      n);
                evbuffer_free(b);
            }
        }
    } else {
        return false;
    }
    return true;
}
