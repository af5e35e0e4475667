/* GET /metrics: the worker's counters in the Prometheus text format (0.0.4),
 * names rill_<noun>_<unit>[_total], labels app, agent, topic, partition, table.
 * Built from what the core already counts; docs/web.md lists every metric. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table_int.h"
#include "web_int.h"

/* The text is built in one growing buffer (a scrape of a worker with 4 agents on
 * 64 partitions each is ~80 KB, ~1,000 series): appends of known lengths and a
 * hand-written integer formatter, no printf per series (rill-bench
 * web-metrics-scrape).  The app label, the same in every series, is escaped once. */
typedef struct mout {
    char *p;
    size_t len, cap;
    bool oom;
    char *app; /* app="...", escaped */
    size_t applen;
    char le[RILL_HIST_N][16]; /* the histograms' bounds, "%g" */
} mout_t;

static void put(mout_t *o, const char *s, size_t n) {
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 16384;
        while (cap < o->len + n)
            cap *= 2;
        char *p = o->oom ? NULL : realloc(o->p, cap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void puts_(mout_t *o, const char *s) {
    put(o, s, strlen(s));
}

static void put_u64(mout_t *o, unsigned long long v) {
    char d[24];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, d + i, sizeof d - i);
}

/* @p v in decimal, in @p d (at least 24 bytes). */
static const char *dec(char *d, int v) {
    char t[24];
    size_t i = sizeof t;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    t[--i] = 0;
    do {
        t[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) t[--i] = '-';
    memcpy(d, t + i, sizeof t - i);
    return d;
}

/* name="v" with backslash, double quote and newline of v escaped. */
static void put_label(mout_t *o, const char *name, const char *v) {
    puts_(o, name);
    put(o, "=\"", 2);
    const char *run = v;
    for (const char *p = v; *p; p++) {
        const char *esc = *p == '\\'   ? "\\\\"
                          : *p == '"'  ? "\\\""
                          : *p == '\n' ? "\\n"
                                       : NULL;
        if (!esc) continue;
        put(o, run, (size_t)(p - run));
        put(o, esc, 2);
        run = p + 1;
    }
    puts_(o, run);
    put(o, "\"", 1);
}

static void head(mout_t *o, const char *name, const char *type, const char *help) {
    put(o, "# HELP ", 7);
    puts_(o, name);
    put(o, " ", 1);
    puts_(o, help);
    put(o, "\n# TYPE ", 8);
    puts_(o, name);
    put(o, " ", 1);
    puts_(o, type);
    put(o, "\n", 1);
}

/* name[suffix]{app="..."[,k1="v1"[,k2="v2"]] */
static void series(mout_t *o, const char *name, const char *suffix, const char *k1,
                   const char *v1, const char *k2, const char *v2) {
    puts_(o, name);
    if (suffix) puts_(o, suffix);
    put(o, "{", 1);
    put(o, o->app, o->applen);
    if (k1) {
        put(o, ",", 1);
        put_label(o, k1, v1);
    }
    if (k2) {
        put(o, ",", 1);
        put_label(o, k2, v2);
    }
}

/* name{app="..."[,k="v"]...} value */
static void sample(mout_t *o, const char *name, const char *k1, const char *v1,
                   const char *k2, const char *v2, unsigned long long value) {
    series(o, name, NULL, k1, v1, k2, v2);
    put(o, "} ", 2);
    put_u64(o, value);
    put(o, "\n", 1);
}

static void agents(mout_t *o, rill_app_t *app) {
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"rill_events_processed_total", "counter", "Events an agent finished."},
        {"rill_events_failed_total", "counter",
         "Events whose handler returned an error."},
        {"rill_events_decode_errors_total", "counter",
         "Messages whose key or value did not decode."},
        {"rill_agent_queued_events", "gauge", "Events buffered for an agent."},
        {"rill_agent_inflight_events", "gauge", "Events an agent has started."},
    };
    for (size_t i = 0; i < sizeof m / sizeof *m; i++) {
        head(o, m[i].name, m[i].type, m[i].help);
        for (rill_agent_t *a = app->agents; a; a = a->next) {
            unsigned long long v = i == 0   ? a->processed
                                   : i == 1 ? a->errors
                                   : i == 2 ? a->decode_errors
                                   : i == 3 ? a->qlen
                                            : (unsigned long long)a->inflight;
            sample(o, m[i].name, "agent", a->name, "topic",
                   a->topic ? a->topic->name : "", v);
        }
    }
}

/* The series of one histogram: name_bucket{...,le=...}, name_sum, name_count, with
 * labels app[, k1=v1[, k2=v2]]. */
static void hist(mout_t *o, const char *name, const char *k1, const char *v1,
                 const char *k2, const char *v2, const rill_hist_t *h) {
    uint64_t cum = 0;
    char num[48];
    for (int i = 0; i <= RILL_HIST_N; i++) {
        cum += h->count[i];
        series(o, name, "_bucket", k1, v1, k2, v2);
        put(o, ",le=\"", 5);
        puts_(o, i < RILL_HIST_N ? o->le[i] : "+Inf");
        put(o, "\"} ", 3);
        put_u64(o, (unsigned long long)cum);
        put(o, "\n", 1);
    }
    series(o, name, "_sum", k1, v1, k2, v2);
    int n = snprintf(num, sizeof num, "} %.9f\n", (double)h->sum_ns / 1e9);
    put(o, num, (size_t)n);
    series(o, name, "_count", k1, v1, k2, v2);
    put(o, "} ", 2);
    put_u64(o, (unsigned long long)cum);
    put(o, "\n", 1);
}

/* rill_agent_processing_seconds: from an event's decoding to its handler's result. */
static void latency(mout_t *o, rill_app_t *app) {
    const char *name = "rill_agent_processing_seconds";
    head(o, name, "histogram",
         "Time an agent takes on an event: decoding it, then its handler to the result.");
    for (rill_agent_t *a = app->agents; a; a = a->next)
        hist(o, name, "agent", a->name, "topic", a->topic ? a->topic->name : "",
             &a->latency);
}

/* Commits (commit.c, txn.c): by result, and the time the transport took. */
static void commits(mout_t *o, rill_app_t *app) {
    head(o, "rill_commits_total", "counter",
         "Offset commits (exactly_once: transaction commits), by result.");
    sample(o, "rill_commits_total", "result", "ok", NULL, NULL, app->commits_ok);
    sample(o, "rill_commits_total", "result", "failed", NULL, NULL, app->commits_failed);
    sample(o, "rill_commits_total", "result", "fenced", NULL, NULL, app->commits_fenced);
    head(o, "rill_commit_latency_seconds", "histogram",
         "Time from a commit's request to the transport's answer.");
    hist(o, "rill_commit_latency_seconds", NULL, NULL, NULL, NULL, &app->commit_latency);
}

/* Sends (topic.c): errors, and the latency of 1 send in RILL__SEND_SAMPLE. */
static void sends(mout_t *o, rill_app_t *app) {
    head(o, "rill_send_errors_total", "counter",
         "Sends refused (by rill or the transport) or whose delivery failed.");
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (t->sent || t->send_errors)
            sample(o, "rill_send_errors_total", "topic", t->name, NULL, NULL,
                   t->send_errors);
    head(o, "rill_send_latency_seconds", "histogram",
         "Time from a send to its delivery report, of 1 send in 64.");
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (t->sent && !t->channel)
            hist(o, "rill_send_latency_seconds", "topic", t->name, NULL, NULL,
                 &t->send_latency);
}

/* Delayed forwards (forward.c). */
static void forwards(mout_t *o, rill_app_t *app) {
    head(o, "rill_forwards_delayed_pending", "gauge",
         "Delayed forwards held until they are due.");
    sample(o, "rill_forwards_delayed_pending", NULL, NULL, NULL, NULL,
           app->delayed_pending);
    head(o, "rill_forwards_delayed_fired_total", "counter",
         "Delayed forwards sent on to their destination once due.");
    sample(o, "rill_forwards_delayed_fired_total", NULL, NULL, NULL, NULL,
           app->delayed_fired);
}

static void partitions(mout_t *o, rill_web_t *w) {
    rill_app_t *app = w->app;
    head(o, "rill_partition_committed_offset", "gauge",
         "The last offset committed for an assigned partition.");
    char ps[24];
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            const rill_tpstate_t *tp = &t->parts[p];
            if (!tp->assigned || tp->committed < 0) continue;
            sample(o, "rill_partition_committed_offset", "topic", t->name, "partition",
                   dec(ps, (int)p), (unsigned long long)tp->committed);
        }
    head(o, "rill_partition_high_watermark", "gauge",
         "The next offset of an assigned partition, as the transport last said "
         "(web.lag.interval.ms).");
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && t->nagents && p < t->partitions; p++) {
            int64_t high;
            if (!t->parts[p].assigned) continue;
            (void)rill__web_lag(w, t, p, &high);
            if (high < 0) continue;
            sample(o, "rill_partition_high_watermark", "topic", t->name, "partition",
                   dec(ps, (int)p), (unsigned long long)high);
        }
    head(o, "rill_consumer_lag_records", "gauge",
         "Records of an assigned partition not yet processed: high watermark minus "
         "position (memory:// and kafka://).");
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && t->nagents && p < t->partitions; p++) {
            int64_t high;
            if (!t->parts[p].assigned) continue;
            int64_t lag = rill__web_lag(w, t, p, &high);
            if (lag < 0) continue;
            sample(o, "rill_consumer_lag_records", "topic", t->name, "partition",
                   dec(ps, (int)p), (unsigned long long)lag);
        }
    head(o, "rill_partitions_assigned", "gauge", "Partitions of a topic assigned here.");
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->parts || !t->nagents) continue;
        unsigned long long n = 0;
        for (int32_t p = 0; p < t->partitions; p++)
            n += t->parts[p].assigned;
        sample(o, "rill_partitions_assigned", "topic", t->name, NULL, NULL, n);
    }
    head(o, "rill_sends_total", "counter", "Messages sent to a topic.");
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (t->sent) sample(o, "rill_sends_total", "topic", t->name, NULL, NULL, t->sent);
}

static void tables(mout_t *o, rill_app_t *app) {
    static const char *const names[] = {
        "rill_table_keys", "rill_table_bytes", "rill_table_partitions_owned",
        "rill_table_partitions_standby", "rill_table_recovered_records_total"};
    static const char *const helps[] = {
        "Live keys in the owned partitions.", "Store bytes of the owned partitions.",
        "Table partitions owned here.", "Table partitions followed as standby.",
        "Changelog records applied by recoveries."};
    rill_table_stats_t st[64];
    size_t nt = 0;
    for (rill_table_t *t = app->tables; t && nt < 64; t = t->next)
        if (rill__table_stats_live(t, &st[nt]) == RILL_OK) nt++;
    for (size_t i = 0; i < 5; i++) {
        head(o, names[i], i == 4 ? "counter" : "gauge", helps[i]);
        size_t k = 0;
        for (rill_table_t *t = app->tables; t && k < nt; t = t->next) {
            if (!t->parts) continue;
            const rill_table_stats_t *s = &st[k++];
            unsigned long long v = i == 0   ? s->keys
                                   : i == 1 ? s->bytes
                                   : i == 2 ? s->owned
                                   : i == 3 ? s->standby
                                            : s->recovered;
            sample(o, names[i], "table", t->name, NULL, NULL, v);
        }
    }
    static const char *const ops[RILL__TOP_N] = {
        [RILL__TOP_GET] = "get",         [RILL__TOP_SET] = "set",
        [RILL__TOP_INCR] = "incr",       [RILL__TOP_DELETE] = "delete",
        [RILL__TOP_FOREACH] = "foreach",
    };
    head(o, "rill_table_operations_total", "counter",
         "Calls of a table's reads and writes, by operation.");
    for (rill_table_t *t = app->tables; t; t = t->next)
        for (int i = 0; i < RILL__TOP_N; i++)
            sample(o, "rill_table_operations_total", "table", t->name, "op", ops[i],
                   t->ops[i]);
    head(o, "rill_table_recovery_remaining_records", "gauge",
         "Changelog records a recovering partition has still to apply.");
    char ps[24];
    for (rill_table_t *t = app->tables; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            const rill_tpart_t *tp = &t->parts[p];
            if (tp->state != RILL_TP_RECOVERING) continue;
            int64_t left = tp->rec_end - tp->cl_next;
            sample(o, "rill_table_recovery_remaining_records", "table", t->name,
                   "partition", dec(ps, (int)p),
                   (unsigned long long)(left > 0 ? left : 0));
        }
}

static void http(mout_t *o, rill_web_t *w) {
    head(o, "rill_http_requests_total", "counter", "HTTP requests answered, by status.");
    char code[24];
    for (int i = 0; i < RILL_WEB_CODES && w->codes[i].code; i++) {
        sample(o, "rill_http_requests_total", "code", dec(code, w->codes[i].code), NULL,
               NULL, w->codes[i].n);
    }
    head(o, "rill_http_connections", "gauge", "Open HTTP connections.");
    sample(o, "rill_http_connections", NULL, NULL, NULL, NULL, rill__web_conns(w));
    head(o, "rill_http_connections_rejected_total", "counter",
         "Connections answered 503 past web.max_connections.");
    sample(o, "rill_http_connections_rejected_total", NULL, NULL, NULL, NULL,
           w->rejected);
    head(o, "rill_http_accept_errors_total", "counter",
         "Failed accept() calls (out of file descriptors).");
    sample(o, "rill_http_accept_errors_total", NULL, NULL, NULL, NULL, w->accept_errors);
    head(o, "rill_http_heap_trims_total", "counter",
         "Times the free heap went back to the system after a burst of connections.");
    sample(o, "rill_http_heap_trims_total", NULL, NULL, NULL, NULL, w->trims);
    head(o, "rill_http_event_subscribers", "gauge",
         "Server-Sent Events subscribers (/events and the app's streams).");
    sample(o, "rill_http_event_subscribers", NULL, NULL, NULL, NULL,
           rill__web_subs_total(w));
    head(o, "rill_http_event_subscribers_dropped_total", "counter",
         "Subscribers dropped for reading too slowly (web.events.buffer.bytes).");
    sample(o, "rill_http_event_subscribers_dropped_total", NULL, NULL, NULL, NULL,
           w->subs_dropped);
    head(o, "rill_http_event_subscribers_refused_total", "counter",
         "Subscribers answered 503 past web.events.max_subscribers.");
    sample(o, "rill_http_event_subscribers_refused_total", NULL, NULL, NULL, NULL,
           w->subs_refused);
}

void rill__web_metrics(rill_web_t *w, struct evhttp_request *req) {
    rill_app_t *app = w->app;
    mout_t lab = {0}, out = {0}, *o = &out;
    put_label(&lab, "app", app->id);
    out.app = lab.p;
    out.applen = lab.len;
    static const double le[RILL_HIST_N] = RILL_HIST_LE;
    for (int i = 0; i < RILL_HIST_N; i++)
        snprintf(out.le[i], sizeof out.le[i], "%g", le[i]);
    if (!lab.oom) {
        rill__web_count(w, 200); /* this answer is counted in itself */
        head(o, "rill_ready", "gauge", "1 when rill_app_is_ready().");
        sample(o, "rill_ready", NULL, NULL, NULL, NULL, rill_app_is_ready(app));
        head(o, "rill_rebalances_total", "counter", "Partition assignments handled.");
        sample(o, "rill_rebalances_total", NULL, NULL, NULL, NULL, app->rebalances);
        agents(o, app);
        latency(o, app);
        commits(o, app);
        partitions(o, w);
        sends(o, app);
        forwards(o, app);
        tables(o, app);
        http(o, w);
    }
    free(lab.p);
    struct evbuffer *b = lab.oom || out.oom ? NULL : evbuffer_new();
    if (!b || evbuffer_add(b, out.p, out.len) != 0) {
        if (b) evbuffer_free(b);
        free(out.p);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    free(out.p);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        char len[32];
        snprintf(len, sizeof len, "%zu", evbuffer_get_length(b));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", len);
        evbuffer_drain(b, evbuffer_get_length(b));
    }
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}
