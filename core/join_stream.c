/* Stream-stream windowed joins (issue 14, item 2).  Each side ends in an agent that
 * buffers its event in the side's table ("<name>-left"/"<name>-right"): one row per
 * key, its value the key's buffered events, oldest first, each be64 time | be64
 * offset | u8 matched | be32 length | value bytes.  An event reads the other side's
 * row of its key (a point read: overlay, then store), pairs with the entries within
 * the window, and appends itself to its own row; entries past their window and
 * grace are dropped from a row whenever it is read (left/outer: emitted unmatched
 * first), and a sweep of the partition every half window of stream time (the
 * largest event time of either side) does the same for keys not seen again.  The
 * tables' changelogs make the buffers survive a worker's death.  Layer 6
 * (docs/architecture.md): it composes the stream builder and tables.
 *
 * The join's state is one allocation, owned by the right table's placeholder join
 * (rill__join_t.row, freed with the table); that placeholder also makes
 * rill__tables_prepare() check that the two streams are co-partitioned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "be64_int.h"
#include "stream_int.h"
#include "table_int.h"

#define EHDR 21 /* be64 time, be64 offset, u8 matched, be32 length */

typedef struct sjoin {
    rill_app_t *app;
    rill_stream_join_opts_t o;
    rill_table_t *buf[2];  /* left, right */
    rill__join_t *side[2]; /* agents' opaques: side[i]->table == buf[i] */
    int32_t nparts;        /* of stream_time/next_expiry (0 until the first event) */
    int64_t *stream_time;  /* per partition: largest event time (points in more) */
    int64_t *next_expiry;  /* per partition: stream time of the next expiry scan */
    uint64_t bad, late, pairs;
    int64_t more[]; /* stream_time, then next_expiry */
} sjoin_t;

/* How long after its time an event of side @p s can still meet a partner. */
static int64_t open_for(const sjoin_t *j, int s) {
    return (s == 0 ? j->o.after_ms : j->o.before_ms) + j->o.grace_ms;
}

/* Side @p s emits its unmatched events. */
static bool emits_unmatched(const sjoin_t *j, int s) {
    return j->o.mode == RILL_JOIN_OUTER || (s == 0 && j->o.mode == RILL_JOIN_LEFT);
}

static sjoin_t *state_of(rill__join_t *pj, int *side) {
    rill__join_t *right = pj->opaque ? pj->opaque : pj; /* left's opaque: the right */
    sjoin_t *j = right->row;
    *side = pj == j->side[0] ? 0 : 1;
    return j;
}

/* Per-partition arrays, once the partition count is known (first event). */
static sjoin_t *sized(rill__join_t *pj, int side) {
    rill__join_t *right = side == 0 ? pj->opaque : pj;
    sjoin_t *j = right->row;
    int32_t n = rill_table_partitions(j->buf[0]);
    if (j->nparts == n) return j;
    sjoin_t *g = realloc(j, sizeof *j + 2 * (size_t)n * sizeof(int64_t));
    if (!g) return NULL;
    right->row = g;
    g->nparts = n;
    g->stream_time = g->more;
    g->next_expiry = g->more + n;
    for (int32_t p = 0; p < n; p++)
        g->stream_time[p] = g->next_expiry[p] = INT64_MIN;
    return g;
}

static rill_tpart_t *part(rill_table_t *t, int32_t p) {
    rill_tpart_t *tp = &t->parts[p];
    return tp->state == RILL_TP_ACTIVE && tp->sp ? tp : NULL;
}

/* ---- rows --------------------------------------------------------------------- */

static uint32_t be32_get(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One entry of a row at @p p (of @p left bytes left); false at the end or on a
 * malformed tail (ignored). */
typedef struct entry {
    int64_t ts, off;
    uint8_t *matched;
    const uint8_t *val;
    uint32_t len;
    size_t size; /* of the whole entry */
} entry_t;

static bool entry_at(uint8_t *p, size_t left, entry_t *e) {
    if (left < EHDR) return false;
    e->ts = (int64_t)rill__be64_get(p);
    e->off = (int64_t)rill__be64_get(p + 8);
    e->matched = p + 16;
    e->len = be32_get(p + 17);
    if (e->len > left - EHDR) return false;
    e->val = p + EHDR;
    e->size = EHDR + e->len;
    return true;
}

static rill_err_t emit(sjoin_t *j, rill_event_t *ev, const void *key, size_t klen,
                       int side, const entry_t *e, const void *oval, size_t olen,
                       int64_t ots) {
    rill_join_pair_t pr = {.key = key, .klen = klen, .left_ts = -1, .right_ts = -1};
    if (side == 0) {
        pr.left = e->val, pr.left_len = e->len, pr.left_ts = e->ts;
        if (oval) pr.right = oval, pr.right_len = olen, pr.right_ts = ots;
    } else {
        pr.right = e->val, pr.right_len = e->len, pr.right_ts = e->ts;
        if (oval) pr.left = oval, pr.left_len = olen, pr.left_ts = ots;
    }
    j->pairs++;
    return j->o.fn(ev, &pr, j->o.opaque);
}

/* Drop from row @p b (of side @p s) the entries closed at stream time @p st
 * (emitting the unmatched ones when the side does); *changed tells. */
static rill_err_t prune(sjoin_t *j, rill_event_t *ev, const void *key, size_t klen, int s,
                        rill_bytes_t *b, int64_t st, bool *changed) {
    size_t r = 0, w = 0;
    entry_t e;
    while (entry_at(b->data + r, b->len - r, &e)) {
        if (e.ts + open_for(j, s) < st) {
            if (!*e.matched && emits_unmatched(j, s)) {
                rill_err_t rc = emit(j, ev, key, klen, s, &e, NULL, 0, -1);
                if (rc != RILL_OK) return rc;
            }
            *changed = true;
        } else {
            if (w != r) memmove(b->data + w, b->data + r, e.size);
            w += e.size;
        }
        r += e.size;
    }
    if (r != b->len) *changed = true; /* a malformed tail: dropped */
    b->len = w;
    return RILL_OK;
}

static rill_err_t row_read(rill_table_t *t, const rill_event_t *ev, const void *key,
                           size_t klen, rill_bytes_t *b) {
    bool found = false;
    memset(b, 0, sizeof *b);
    rill_err_t rc = rill__table_find(t, ev, key, klen, b, &found);
    if (rc == RILL_OK && !found) {
        rill_value_clear(t->opts.value_type, b);
        memset(b, 0, sizeof *b);
    }
    return rc;
}

static rill_err_t row_write(rill_table_t *t, const rill_event_t *ev, const void *key,
                            size_t klen, rill_bytes_t *b) {
    return b->len ? rill_table_set(t, ev, key, klen, b)
                  : rill_table_del(t, ev, key, klen);
}

/* ---- the sweep ------------------------------------------------------------------ */

typedef struct swept {
    uint8_t *key;
    size_t klen;
    rill_bytes_t row;
} swept_t;

typedef struct sweep {
    sjoin_t *j;
    int side;
    int64_t st;
    swept_t *v;
    size_t n, cap;
    bool oom;
} sweep_t;

/* Collect the rows holding a closed entry. */
static int on_row(const void *k, size_t klen, const void *v, size_t vlen, void *opaque) {
    sweep_t *x = opaque;
    entry_t e;
    int64_t oldest = INT64_MAX;
    size_t r = 0;
    for (; entry_at((uint8_t *)v + r, vlen - r, &e); r += e.size)
        if (e.ts < oldest) oldest = e.ts;
    if (r == vlen && vlen && oldest + open_for(x->j, x->side) >= x->st) return 0;
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 64;
        swept_t *g = realloc(x->v, cap * sizeof *g);
        if (!g) return x->oom = true, 1;
        x->v = g;
        x->cap = cap;
    }
    swept_t *s = &x->v[x->n];
    if (!(s->key = malloc(klen + vlen + 1))) return x->oom = true, 1;
    memcpy(s->key, k, klen);
    if (vlen) memcpy(s->key + klen, v, vlen);
    s->klen = klen;
    s->row = (rill_bytes_t){s->key + klen, vlen};
    x->n++;
    return 0;
}

/* Free (and emit, left/outer) the entries of partition @p p closed at stream time. */
static rill_err_t sweep(sjoin_t *j, rill_event_t *ev, int32_t p) {
    int64_t st = j->stream_time[p];
    rill_err_t rc = RILL_OK;
    for (int s = 0; s < 2 && rc == RILL_OK; s++) {
        rill_tpart_t *tp = part(j->buf[s], p);
        if (!tp) continue;
        rill__tpart_flush(tp); /* the store has every row: none is swept stale */
        sweep_t x = {.j = j, .side = s, .st = st};
        rc = rill__st_scan(j->app->store, tp->sp, NULL, 0, NULL, 0, on_row, &x);
        if (rc == RILL_OK && x.oom) rc = RILL_ENOMEM;
        for (size_t i = 0; i < x.n; i++) {
            bool changed = false;
            if (rc == RILL_OK)
                rc = prune(j, ev, x.v[i].key, x.v[i].klen, s, &x.v[i].row, st, &changed);
            if (rc == RILL_OK && changed)
                rc = row_write(j->buf[s], ev, x.v[i].key, x.v[i].klen, &x.v[i].row);
            free(x.v[i].key);
        }
        free(x.v);
    }
    int64_t step = (j->o.before_ms + j->o.after_ms + j->o.grace_ms) / 2 + 1;
    j->next_expiry[p] = st + step;
    return rc;
}

/* ---- the agents ----------------------------------------------------------------- */

static rill_err_t on_event(rill_event_t *ev, void *opaque) {
    int s;
    sjoin_t *j = state_of(opaque, &s);
    if (!(j = sized(opaque, s))) return RILL_ENOMEM;
    int32_t p = ev->msg.partition;
    int64_t ts = ev->msg.timestamp_ms;
    size_t klen, vlen;
    const void *key = rill_event_key_bytes(ev, &klen);
    const void *val = rill_event_value_bytes(ev, &vlen);
    if (p < 0 || p >= j->nparts) return RILL_OK;
    if (!key) key = "", klen = 0;
    if (!val) val = "", vlen = 0;
    if (ts < 0) {
        j->buf[s]->bad_timestamps++;
        if (j->bad++ == 0)
            rill__log(j->app, RILL_LOG_WARN,
                      "join '%s': an event of %s[%d] at offset %lld has no timestamp "
                      "(or one before the epoch): skipped; such events are counted "
                      "(stats.bad_timestamps of '%s'), logged once",
                      j->buf[0]->name, ev->msg.topic, p, (long long)ev->msg.offset,
                      j->buf[s]->name);
        return RILL_OK;
    }
    if (vlen > UINT32_MAX - EHDR) return RILL_EINVAL;
    if (ts > j->stream_time[p]) j->stream_time[p] = ts;
    int64_t st = j->stream_time[p];
    if (ts + open_for(j, s) < st) { /* its window has passed: late */
        j->buf[s]->late_dropped++;
        j->late++;
        return RILL_OK;
    }
    /* the other side's entries of this key within [lo, hi] */
    int o = 1 - s;
    int64_t lo = s == 0 ? ts - j->o.before_ms : ts - j->o.after_ms;
    int64_t hi = s == 0 ? ts + j->o.after_ms : ts + j->o.before_ms;
    rill_bytes_t other, own;
    rill_err_t rc = row_read(j->buf[o], ev, key, klen, &other);
    if (rc != RILL_OK) return rc;
    bool ochanged = false, matched = false;
    rc = prune(j, ev, key, klen, o, &other, st, &ochanged);
    entry_t e;
    for (size_t r = 0; rc == RILL_OK && entry_at(other.data + r, other.len - r, &e);
         r += e.size) {
        if (e.ts < lo || e.ts > hi) continue;
        matched = true;
        rc = emit(j, ev, key, klen, o, &e, val, vlen, ts);
        if (!*e.matched && emits_unmatched(j, o)) *e.matched = 1, ochanged = true;
    }
    if (rc == RILL_OK && ochanged) rc = row_write(j->buf[o], ev, key, klen, &other);
    rill_value_clear(j->buf[o]->opts.value_type, &other);
    if (rc != RILL_OK) return rc;
    /* append this event to its side's row */
    if ((rc = row_read(j->buf[s], ev, key, klen, &own)) != RILL_OK) return rc;
    bool changed = false;
    rc = prune(j, ev, key, klen, s, &own, st, &changed);
    uint8_t *grown = rc == RILL_OK ? realloc(own.data, own.len + EHDR + vlen + 1) : NULL;
    if (rc == RILL_OK && !grown) rc = RILL_ENOMEM;
    if (rc == RILL_OK) {
        own.data = grown;
        uint8_t *q = own.data + own.len;
        rill__be64_put(q, (uint64_t)ts);
        rill__be64_put(q + 8, (uint64_t)ev->msg.offset);
        q[16] = matched;
        q[17] = (uint8_t)(vlen >> 24), q[18] = (uint8_t)(vlen >> 16);
        q[19] = (uint8_t)(vlen >> 8), q[20] = (uint8_t)vlen;
        memcpy(q + EHDR, val, vlen);
        own.len += EHDR + vlen;
        rc = rill_table_set(j->buf[s], ev, key, klen, &own);
    }
    rill_value_clear(j->buf[s]->opts.value_type, &own);
    if (rc == RILL_OK && st >= j->next_expiry[p]) rc = sweep(j, ev, p);
    return rc;
}

/* ---- definition ----------------------------------------------------------------- */

void rill_stream_join_within(rill_stream_join_opts_t *o, int64_t within_ms) {
    o->before_ms = o->after_ms = within_ms;
}

static rill__join_t *placeholder(rill_table_t *t, rill_topic_t *source) {
    rill__join_t *pj = calloc(1, sizeof *pj);
    if (!pj) return NULL;
    pj->table = t;
    pj->source = source;
    pj->next = t->joins;
    t->joins = pj;
    return pj;
}

rill_err_t rill_stream_join_stream(rill_stream_t *left, rill_stream_t *right,
                                   const char *name,
                                   const rill_stream_join_opts_t *opts) {
    rill_app_t *app = left ? left->app : right ? right->app : NULL;
    if (!app) return RILL_EINVAL;
    const rill_stream_join_opts_t *o = opts;
    const char *why = NULL;
    if (!left || !right || !name || !*name || !o || !o->fn)
        why = "two streams, a name and opts.fn are required";
    else if (o->before_ms < 0 || o->after_ms < 0 || o->grace_ms < 0)
        why = "before_ms, after_ms and grace_ms must be >= 0 (a negative window)";
    else if (o->mode && o->mode != RILL_JOIN_INNER && o->mode != RILL_JOIN_LEFT &&
             o->mode != RILL_JOIN_OUTER)
        why = "mode must be RILL_JOIN_INNER, RILL_JOIN_LEFT or RILL_JOIN_OUTER";
    else if (!strcmp(rill_conf_get(app->conf, "processing_guarantee"), "exactly_once"))
        why = "not available under processing_guarantee=exactly_once yet (its buffers "
              "reach the store only at commits)";
    if (why) {
        rill__app_deferr(app, "rill_stream_join_stream '%s': %s", name ? name : "", why);
        return RILL_EINVAL;
    }
    sjoin_t *j = calloc(1, sizeof *j);
    if (!j) goto oom;
    j->app = app;
    j->o = *o;
    if (!j->o.mode) j->o.mode = RILL_JOIN_INNER;
    char tn[512];
    rill_table_opts_t to = {.value_type = &rill_type_bytes, .source = left->source};
    snprintf(tn, sizeof tn, "%s-left", name);
    if (!(j->buf[0] = rill_app_table(app, tn, &to))) goto fail;
    to.source = right->source;
    snprintf(tn, sizeof tn, "%s-right", name);
    if (!(j->buf[1] = rill_app_table(app, tn, &to))) goto fail;
    /* the right's placeholder owns j and checks the left is co-partitioned */
    if (!(j->side[1] = placeholder(j->buf[1], left->source))) goto oom;
    j->side[1]->row = j;
    if (!(j->side[0] = placeholder(j->buf[0], left->source))) goto oom;
    j->side[0]->opaque = j->side[1];
    snprintf(tn, sizeof tn, "%s-left", name);
    if (!rill_stream_agent(left, tn, on_event, j->side[0], NULL)) return RILL_EINVAL;
    snprintf(tn, sizeof tn, "%s-right", name);
    if (!rill_stream_agent(right, tn, on_event, j->side[1], NULL)) return RILL_EINVAL;
    return RILL_OK;
oom:
    rill__app_deferr(app, "out of memory");
fail:
    if (j && !(j->side[1] && j->side[1]->row == j)) free(j);
    return RILL_ENOMEM;
}

rill_err_t rill_stream_join_stats(rill_app_t *app, const char *name,
                                  rill_stream_join_stats_t *out) {
    memset(out, 0, sizeof *out);
    char tn[512];
    snprintf(tn, sizeof tn, "%s-left", name ? name : "");
    for (rill_table_t *t = app ? app->tables : NULL; t; t = t->next) {
        if (strcmp(t->name, tn) != 0) continue;
        for (rill__join_t *pj = t->joins; pj; pj = pj->next) {
            if (!pj->opaque || pj->fn) continue; /* not a stream-stream join's */
            sjoin_t *j = ((rill__join_t *)pj->opaque)->row;
            rill_table_stats_t st;
            if (rill__table_stats_live(j->buf[0], &st) == RILL_OK)
                out->buffered_left = st.keys;
            if (rill__table_stats_live(j->buf[1], &st) == RILL_OK)
                out->buffered_right = st.keys;
            out->pairs = j->pairs;
            out->late_dropped = j->late;
            out->bad_timestamps = j->bad;
            return RILL_OK;
        }
    }
    return RILL_ENOENT;
}
