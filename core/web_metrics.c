/* GET /metrics: the worker's counters in the Prometheus text format (0.0.4),
 * names rill_<noun>_<unit>[_total], labels app, agent, topic, partition, table.
 * Built from what the core already counts; docs/web.md lists every metric. */
#include <stdio.h>
#include <string.h>

#include "table_int.h"
#include "web_int.h"

/* A label value: backslash, double quote and newline escaped. */
static void label(struct evbuffer *b, const char *name, const char *v, bool first) {
    evbuffer_add_printf(b, "%s%s=\"", first ? "" : ",", name);
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            evbuffer_add(b, "\\\\", 2);
        else if (*p == '"')
            evbuffer_add(b, "\\\"", 2);
        else if (*p == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, p, 1);
    }
    evbuffer_add(b, "\"", 1);
}

static void head(struct evbuffer *b, const char *name, const char *type,
                 const char *help) {
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{app="..."[,k="v"]...} value */
static void sample(struct evbuffer *b, const rill_app_t *app, const char *name,
                   const char *k1, const char *v1, const char *k2, const char *v2,
                   unsigned long long value) {
    evbuffer_add_printf(b, "%s{", name);
    label(b, "app", app->id, true);
    if (k1) label(b, k1, v1, false);
    if (k2) label(b, k2, v2, false);
    evbuffer_add_printf(b, "} %llu\n", value);
}

static void agents(struct evbuffer *b, rill_app_t *app) {
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
        head(b, m[i].name, m[i].type, m[i].help);
        for (rill_agent_t *a = app->agents; a; a = a->next) {
            unsigned long long v = i == 0   ? a->processed
                                   : i == 1 ? a->errors
                                   : i == 2 ? a->decode_errors
                                   : i == 3 ? a->qlen
                                            : (unsigned long long)a->inflight;
            sample(b, app, m[i].name, "agent", a->name, "topic",
                   a->topic ? a->topic->name : "", v);
        }
    }
}

/* The series of one histogram: name_bucket{...,le=...}, name_sum, name_count, with
 * labels app[, k1=v1[, k2=v2]]. */
static void hist(struct evbuffer *b, const rill_app_t *app, const char *name,
                 const char *k1, const char *v1, const char *k2, const char *v2,
                 const rill_hist_t *h) {
    static const double le[RILL_HIST_N] = RILL_HIST_LE;
    uint64_t cum = 0;
    for (int i = 0; i <= RILL_HIST_N; i++) {
        cum += h->count[i];
        evbuffer_add_printf(b, "%s_bucket{", name);
        label(b, "app", app->id, true);
        if (k1) label(b, k1, v1, false);
        if (k2) label(b, k2, v2, false);
        if (i < RILL_HIST_N)
            evbuffer_add_printf(b, ",le=\"%g\"} %llu\n", le[i], (unsigned long long)cum);
        else
            evbuffer_add_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    evbuffer_add_printf(b, "%s_sum{", name);
    label(b, "app", app->id, true);
    if (k1) label(b, k1, v1, false);
    if (k2) label(b, k2, v2, false);
    evbuffer_add_printf(b, "} %.9f\n", (double)h->sum_ns / 1e9);
    char cname[128];
    snprintf(cname, sizeof cname, "%s_count", name);
    sample(b, app, cname, k1, v1, k2, v2, cum);
}

/* rill_agent_processing_seconds: from the handler's call to its result. */
static void latency(struct evbuffer *b, rill_app_t *app) {
    const char *name = "rill_agent_processing_seconds";
    head(b, name, "histogram", "Time from an agent's handler call to its result.");
    for (rill_agent_t *a = app->agents; a; a = a->next)
        hist(b, app, name, "agent", a->name, "topic", a->topic ? a->topic->name : "",
             &a->latency);
}

/* Commits (commit.c, txn.c): by result, and the time the transport took. */
static void commits(struct evbuffer *b, rill_app_t *app) {
    head(b, "rill_commits_total", "counter",
         "Offset commits (exactly_once: transaction commits), by result.");
    sample(b, app, "rill_commits_total", "result", "ok", NULL, NULL, app->commits_ok);
    sample(b, app, "rill_commits_total", "result", "failed", NULL, NULL,
           app->commits_failed);
    sample(b, app, "rill_commits_total", "result", "fenced", NULL, NULL,
           app->commits_fenced);
    head(b, "rill_commit_latency_seconds", "histogram",
         "Time from a commit's request to the transport's answer.");
    hist(b, app, "rill_commit_latency_seconds", NULL, NULL, NULL, NULL,
         &app->commit_latency);
}

/* Sends (topic.c): errors, and the latency of 1 send in RILL__SEND_SAMPLE. */
static void sends(struct evbuffer *b, rill_app_t *app) {
    head(b, "rill_send_errors_total", "counter",
         "Sends refused (by rill or the transport) or whose delivery failed.");
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (t->sent || t->send_errors)
            sample(b, app, "rill_send_errors_total", "topic", t->name, NULL, NULL,
                   t->send_errors);
    head(b, "rill_send_latency_seconds", "histogram",
         "Time from a send to its delivery report, of 1 send in 64.");
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (t->sent && !t->channel)
            hist(b, app, "rill_send_latency_seconds", "topic", t->name, NULL, NULL,
                 &t->send_latency);
}

/* Delayed forwards (forward.c). */
static void forwards(struct evbuffer *b, rill_app_t *app) {
    head(b, "rill_forwards_delayed_pending", "gauge",
         "Delayed forwards held until they are due.");
    sample(b, app, "rill_forwards_delayed_pending", NULL, NULL, NULL, NULL,
           app->delayed_pending);
    head(b, "rill_forwards_delayed_fired_total", "counter",
         "Delayed forwards sent on to their destination once due.");
    sample(b, app, "rill_forwards_delayed_fired_total", NULL, NULL, NULL, NULL,
           app->delayed_fired);
}

static void partitions(struct evbuffer *b, rill_web_t *w) {
    rill_app_t *app = w->app;
    head(b, "rill_partition_committed_offset", "gauge",
         "The last offset committed for an assigned partition.");
    char ps[16];
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            const rill_tpstate_t *tp = &t->parts[p];
            if (!tp->assigned || tp->committed < 0) continue;
            snprintf(ps, sizeof ps, "%d", (int)p);
            sample(b, app, "rill_partition_committed_offset", "topic", t->name,
                   "partition", ps, (unsigned long long)tp->committed);
        }
    head(b, "rill_partition_high_watermark", "gauge",
         "The next offset of an assigned partition, as the transport last said "
         "(web.lag.interval.ms).");
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && t->nagents && p < t->partitions; p++) {
            int64_t high;
            if (!t->parts[p].assigned) continue;
            (void)rill__web_lag(w, t, p, &high);
            if (high < 0) continue;
            snprintf(ps, sizeof ps, "%d", (int)p);
            sample(b, app, "rill_partition_high_watermark", "topic", t->name, "partition",
                   ps, (unsigned long long)high);
        }
    head(b, "rill_consumer_lag_records", "gauge",
         "Records of an assigned partition not yet processed: high watermark minus "
         "position (memory:// and kafka://).");
    for (rill_topic_t *t = app->topics; t; t = t->next)
        for (int32_t p = 0; t->parts && t->nagents && p < t->partitions; p++) {
            int64_t high;
            if (!t->parts[p].assigned) continue;
            int64_t lag = rill__web_lag(w, t, p, &high);
            if (lag < 0) continue;
            snprintf(ps, sizeof ps, "%d", (int)p);
            sample(b, app, "rill_consumer_lag_records", "topic", t->name, "partition", ps,
                   (unsigned long long)lag);
        }
    head(b, "rill_partitions_assigned", "gauge", "Partitions of a topic assigned here.");
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->parts || !t->nagents) continue;
        unsigned long long n = 0;
        for (int32_t p = 0; p < t->partitions; p++)
            n += t->parts[p].assigned;
        sample(b, app, "rill_partitions_assigned", "topic", t->name, NULL, NULL, n);
    }
    head(b, "rill_sends_total", "counter", "Messages sent to a topic.");
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (t->sent)
            sample(b, app, "rill_sends_total", "topic", t->name, NULL, NULL, t->sent);
}

static void tables(struct evbuffer *b, rill_app_t *app) {
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
        if (rill_table_stats(t, &st[nt]) == RILL_OK) nt++;
    for (size_t i = 0; i < 5; i++) {
        head(b, names[i], i == 4 ? "counter" : "gauge", helps[i]);
        size_t k = 0;
        for (rill_table_t *t = app->tables; t && k < nt; t = t->next) {
            if (!t->parts) continue;
            const rill_table_stats_t *s = &st[k++];
            unsigned long long v = i == 0   ? s->keys
                                   : i == 1 ? s->bytes
                                   : i == 2 ? s->owned
                                   : i == 3 ? s->standby
                                            : s->recovered;
            sample(b, app, names[i], "table", t->name, NULL, NULL, v);
        }
    }
    static const char *const ops[RILL__TOP_N] = {
        [RILL__TOP_GET] = "get",         [RILL__TOP_SET] = "set",
        [RILL__TOP_INCR] = "incr",       [RILL__TOP_DELETE] = "delete",
        [RILL__TOP_FOREACH] = "foreach",
    };
    head(b, "rill_table_operations_total", "counter",
         "Calls of a table's reads and writes, by operation.");
    for (rill_table_t *t = app->tables; t; t = t->next)
        for (int i = 0; i < RILL__TOP_N; i++)
            sample(b, app, "rill_table_operations_total", "table", t->name, "op", ops[i],
                   t->ops[i]);
    head(b, "rill_table_recovery_remaining_records", "gauge",
         "Changelog records a recovering partition has still to apply.");
    char ps[16];
    for (rill_table_t *t = app->tables; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            const rill_tpart_t *tp = &t->parts[p];
            if (tp->state != RILL_TP_RECOVERING) continue;
            int64_t left = tp->rec_end - tp->cl_next;
            snprintf(ps, sizeof ps, "%d", (int)p);
            sample(b, app, "rill_table_recovery_remaining_records", "table", t->name,
                   "partition", ps, (unsigned long long)(left > 0 ? left : 0));
        }
}

static void http(struct evbuffer *b, rill_web_t *w) {
    rill_app_t *app = w->app;
    head(b, "rill_http_requests_total", "counter", "HTTP requests answered, by status.");
    char code[8];
    for (int i = 0; i < RILL_WEB_CODES && w->codes[i].code; i++) {
        snprintf(code, sizeof code, "%d", w->codes[i].code);
        sample(b, app, "rill_http_requests_total", "code", code, NULL, NULL,
               w->codes[i].n);
    }
    head(b, "rill_http_connections", "gauge", "Open HTTP connections.");
    sample(b, app, "rill_http_connections", NULL, NULL, NULL, NULL, rill__web_conns(w));
    head(b, "rill_http_connections_rejected_total", "counter",
         "Connections answered 503 past web.max_connections.");
    sample(b, app, "rill_http_connections_rejected_total", NULL, NULL, NULL, NULL,
           w->rejected);
    head(b, "rill_http_accept_errors_total", "counter",
         "Failed accept() calls (out of file descriptors).");
    sample(b, app, "rill_http_accept_errors_total", NULL, NULL, NULL, NULL,
           w->accept_errors);
    head(b, "rill_http_event_subscribers", "gauge",
         "Server-Sent Events subscribers (/events and the app's streams).");
    sample(b, app, "rill_http_event_subscribers", NULL, NULL, NULL, NULL,
           rill__web_subs_total(w));
    head(b, "rill_http_event_subscribers_dropped_total", "counter",
         "Subscribers dropped for reading too slowly (web.events.buffer.bytes).");
    sample(b, app, "rill_http_event_subscribers_dropped_total", NULL, NULL, NULL, NULL,
           w->subs_dropped);
    head(b, "rill_http_event_subscribers_refused_total", "counter",
         "Subscribers answered 503 past web.events.max_subscribers.");
    sample(b, app, "rill_http_event_subscribers_refused_total", NULL, NULL, NULL, NULL,
           w->subs_refused);
}

void rill__web_metrics(rill_web_t *w, struct evhttp_request *req) {
    rill_app_t *app = w->app;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    rill__web_count(w, 200); /* this answer is counted in itself */
    head(b, "rill_ready", "gauge", "1 when rill_app_is_ready().");
    sample(b, app, "rill_ready", NULL, NULL, NULL, NULL, rill_app_is_ready(app));
    head(b, "rill_rebalances_total", "counter", "Partition assignments handled.");
    sample(b, app, "rill_rebalances_total", NULL, NULL, NULL, NULL, app->rebalances);
    agents(b, app);
    latency(b, app);
    commits(b, app);
    partitions(b, w);
    sends(b, app);
    forwards(b, app);
    tables(b, app);
    http(b, w);
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
