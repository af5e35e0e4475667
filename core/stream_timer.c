/* Timers on stream time (issue 14, item 7; Kafka Streams' STREAM_TIME punctuators).
 * A stream timer is a filter step put first on its agent's operators: it sees every
 * event of the agent's partitions before anything else does, and when an event's
 * time reaches the next multiple of the interval past the partition's current one,
 * it calls the callback while that event is handled (so table writes and sends
 * belong to its partition).  The start of each partition's current interval is a
 * row of the timer's table "<name>-stream-time" (one per partition, written with
 * the partition-explicit table writes, changelogged), so a restarted or rebalanced
 * worker carries on where the last owner was: a boundary is fired once, not again
 * and not lost.  Layer 6 (docs/architecture.md): it composes the agent's operators,
 * a table and the timers' list, three layer-5 features that may not call each
 * other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table_int.h"
#include "timer_int.h"
#include "window_int.h"

#define ROW_KEY "stream-time"

typedef struct spart {
    int64_t mark;      /* start of the partition's current interval (INT64_MIN: none) */
    uint64_t t0;       /* the table partition's rec_t0_ns when mark was read */
    uint32_t discards; /* and its discards (an aborted transaction drops the row) */
    bool loaded;       /* mark read from the table since that recovery */
} spart_t;

typedef struct stimer {
    rill_app_t *app;
    char *name;
    rill_table_t *table;
    int64_t interval;
    rill_stream_timer_fn fn;
    void *opaque;
    uint64_t bad;
    int32_t nparts;
    spart_t parts[]; /* nparts, once the partition count is known (first event) */
} stimer_t;

/* The timer's state, sized for the table's partitions (it may move: the timer
 * holds the pointer). */
static stimer_t *sized(rill_timer_t *tm) {
    stimer_t *s = tm->stream_state;
    int32_t n = rill_table_partitions(s->table);
    if (s->nparts == n) return s;
    stimer_t *g = realloc(s, sizeof *s + (size_t)n * sizeof(spart_t));
    if (!g) return NULL;
    tm->stream_state = g;
    g->nparts = n;
    for (int32_t p = 0; p < n; p++)
        g->parts[p] = (spart_t){.mark = INT64_MIN};
    return g;
}

/* Partition @p p's current interval, read from the table after each recovery (or
 * aborted transaction). */
static rill_err_t load(stimer_t *s, int32_t p) {
    spart_t *sp = &s->parts[p];
    const rill_tpart_t *tp = &s->table->parts[p];
    if (sp->loaded && sp->t0 == tp->rec_t0_ns && sp->discards == tp->discards)
        return RILL_OK;
    int64_t v = 0;
    bool found = false;
    rill_err_t rc =
        rill__table_find_at(s->table, p, ROW_KEY, sizeof ROW_KEY - 1, &v, &found);
    if (rc != RILL_OK) return rc;
    sp->mark = found ? v : INT64_MIN;
    sp->t0 = tp->rec_t0_ns;
    sp->discards = tp->discards;
    sp->loaded = true;
    return RILL_OK;
}

static rill_err_t on_event(const rill_event_t *ev, bool *keep, void *opaque) {
    *keep = true;
    rill_timer_t *tm = opaque;
    stimer_t *s = sized(tm);
    if (!s) return RILL_ENOMEM;
    int32_t p = ev->msg.partition;
    int64_t ts = ev->msg.timestamp_ms;
    if ((ev->tp && ev->tp->topic->channel) || p < 0 || p >= s->nparts) return RILL_OK;
    if (rill__window_bad_time(ts, rill_now_ms())) {
        if (s->bad++ == 0)
            rill__log(s->app, RILL_LOG_WARN,
                      "stream timer '%s': an event of %s[%d] at offset %lld has "
                      "timestamp %lld (none, before the epoch or more than a day "
                      "ahead): it does not move stream time; logged once",
                      s->name, ev->msg.topic, p, (long long)ev->msg.offset,
                      (long long)ts);
        return RILL_OK;
    }
    rill_err_t rc = load(s, p);
    if (rc != RILL_OK) return rc;
    spart_t *sp = &s->parts[p];
    int64_t start = ts - ts % s->interval;
    bool fire = sp->mark != INT64_MIN && ts >= sp->mark + s->interval;
    if (sp->mark != INT64_MIN && !fire) return RILL_OK; /* same interval, or older */
    sp->mark = start;
    if ((rc = rill__table_write_at(s->table, p, ROW_KEY, sizeof ROW_KEY - 1, &start)) !=
        RILL_OK)
        return rc;
    return fire ? s->fn(ev, start, s->opaque) : RILL_OK;
}

rill_timer_t *rill_app_stream_timer(rill_app_t *app, const char *name,
                                    rill_agent_t *agent, int64_t interval_ms,
                                    rill_stream_timer_fn fn, void *opaque) {
    if (!app) return NULL; /* rill_app_new failed: its error says why */
    if (!name || !*name || !agent || !fn || interval_ms <= 0) {
        rill__app_deferr(app,
                         "stream timer '%s': a name, an agent, a callback and "
                         "interval_ms > 0 are required (got %lld)",
                         name ? name : "", (long long)interval_ms);
        return NULL;
    }
    if (app->state != RILL_APP_CREATED) {
        rill__app_deferr(app, "stream timer '%s' must be defined before the app starts",
                         name);
        return NULL;
    }
    if (agent->topic->channel) {
        rill__app_deferr(app,
                         "stream timer '%s': agent '%s' reads an in-process channel, "
                         "which has no partitions or event times",
                         name, agent->name);
        return NULL;
    }
    char tn[256];
    snprintf(tn, sizeof tn, "%s-stream-time", name);
    rill_table_opts_t to = {.value_type = &rill_type_int64, .source = agent->topic};
    rill_table_t *table = rill_app_table(app, tn, &to);
    if (!table) return NULL;
    rill_op_t *ops = realloc(agent->ops, (agent->nops + 1) * sizeof *ops);
    stimer_t *s = calloc(1, sizeof *s);
    if (ops) agent->ops = ops;
    if (!ops || !s) {
        free(s);
        rill__app_deferr(app, "out of memory");
        return NULL;
    }
    *s = (stimer_t){
        .app = app, .table = table, .interval = interval_ms, .fn = fn, .opaque = opaque};
    rill_timer_t *tm = rill__timer_add_stream(app, name, s);
    if (!tm) return NULL;
    s->name = tm->name;
    /* first: it sees every event of the partition, whatever the stream filters */
    memmove(agent->ops + 1, agent->ops, agent->nops * sizeof *ops);
    agent->ops[0] = (rill_op_t){.kind = RILL_OP_FILTER, .filter = on_event, .opaque = tm};
    agent->nops++;
    return tm;
}
