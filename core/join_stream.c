/* Stream-stream windowed joins (issue 14, item 2).  Each side ends in an agent that
 * buffers its event in the side's table ("<name>-left"/"<name>-right", one row per
 * event: key be32(klen) | key | be64(time) | be64(offset), value flag | value
 * bytes, the flag telling whether it was matched) and scans the other side's rows
 * of the key within the window in the store of the event's partition (the other
 * side's overlay is flushed first, so the scan sees every row).  The tables'
 * changelogs make the buffers survive a worker's death.  When the stream time of a
 * partition (the largest event time of either side) has moved on by half a window,
 * rows whose window and grace have passed are deleted (left/outer: emitted
 * unmatched first).  Layer 6 (docs/architecture.md): it composes the stream
 * builder and tables.
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

#define HDR 4   /* be32 key length */
#define TAIL 16 /* be64 time, be64 offset */
#define MAXK 4096
#define KEY_CHECK_OFF_ 2 /* table.c's key_check_t KEY_CHECK_OFF */

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

/* A row's key for (key, ts, offset) in @p out (HDR + klen + TAIL bytes). */
static size_t row_key(uint8_t *out, const void *key, size_t klen, int64_t ts,
                      int64_t off) {
    out[0] = (uint8_t)(klen >> 24);
    out[1] = (uint8_t)(klen >> 16);
    out[2] = (uint8_t)(klen >> 8);
    out[3] = (uint8_t)klen;
    memcpy(out + HDR, key, klen);
    rill__be64_put(out + HDR + klen, (uint64_t)ts);
    rill__be64_put(out + HDR + klen + 8, (uint64_t)off);
    return HDR + klen + TAIL;
}

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
    /* rows are keyed by key, time and offset: their murmur2 partition is not the
     * event's, and that is right (table.c's KEY_CHECK_OFF) */
    j->buf[0]->key_check = j->buf[1]->key_check = KEY_CHECK_OFF_;
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

/* ---- matching ------------------------------------------------------------------- */

typedef struct mark {
    uint8_t *key;
    size_t klen;
    uint8_t *val;
    size_t vlen;
} mark_t;

typedef struct scan {
    sjoin_t *j;
    rill_event_t *ev;
    int side; /* of the event being handled */
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
    int64_t ts;
    int64_t cutoff; /* expiry: rows closed before this stream time */
    size_t n;       /* matches */
    rill_err_t rc;
    mark_t *marks; /* rows to rewrite (matched) or delete (expired) */
    size_t nmarks, capmarks;
} scan_t;

static bool mark(scan_t *x, const void *k, size_t klen, const void *v, size_t vlen) {
    if (x->nmarks == x->capmarks) {
        size_t cap = x->capmarks ? 2 * x->capmarks : 16;
        mark_t *m = realloc(x->marks, cap * sizeof *m);
        if (!m) return false;
        x->marks = m;
        x->capmarks = cap;
    }
    mark_t *m = &x->marks[x->nmarks];
    if (!(m->key = malloc(klen + vlen + 1))) return false;
    memcpy(m->key, k, klen);
    m->val = m->key + klen;
    if (vlen) memcpy(m->val, v, vlen);
    m->klen = klen;
    m->vlen = vlen;
    x->nmarks++;
    return true;
}

static void marks_free(scan_t *x) {
    for (size_t i = 0; i < x->nmarks; i++)
        free(x->marks[i].key);
    free(x->marks);
}

static rill_err_t call(scan_t *x, const rill_join_pair_t *pair) {
    x->j->pairs++;
    rill_err_t rc = x->j->o.fn(x->ev, pair, x->j->o.opaque);
    if (rc != RILL_OK && x->rc == RILL_OK) x->rc = rc;
    return rc;
}

/* A row of the other side within the window: a pair. */
static int on_match(const void *k, size_t klen, const void *v, size_t vlen,
                    void *opaque) {
    scan_t *x = opaque;
    if (klen != HDR + x->klen + TAIL || vlen < 1) return 0;
    int64_t ts = (int64_t)rill__be64_get((const uint8_t *)k + HDR + x->klen);
    const uint8_t *val = (const uint8_t *)v + 1;
    rill_join_pair_t pr = {.key = x->key, .klen = x->klen};
    if (x->side == 0) {
        pr.left = x->val, pr.left_len = x->vlen, pr.left_ts = x->ts;
        pr.right = val, pr.right_len = vlen - 1, pr.right_ts = ts;
    } else {
        pr.left = val, pr.left_len = vlen - 1, pr.left_ts = ts;
        pr.right = x->val, pr.right_len = x->vlen, pr.right_ts = x->ts;
    }
    x->n++;
    if (call(x, &pr) != RILL_OK) return 1;
    if (!((const uint8_t *)v)[0] && emits_unmatched(x->j, 1 - x->side) &&
        !mark(x, k, klen, v, vlen))
        x->rc = RILL_ENOMEM;
    return x->rc != RILL_OK;
}

static rill_tpart_t *part(rill_table_t *t, int32_t p) {
    rill_tpart_t *tp = &t->parts[p];
    return tp->state == RILL_TP_ACTIVE && tp->sp ? tp : NULL;
}

/* Rewrite (or, @p del, delete) the marked rows of table @p t. */
static rill_err_t apply_marks(scan_t *x, rill_table_t *t, bool del) {
    for (size_t i = 0; i < x->nmarks; i++) {
        mark_t *m = &x->marks[i];
        rill_err_t rc;
        if (del) {
            rc = rill_table_del(t, m->key, m->klen);
        } else {
            m->val[0] = 1;
            rill_bytes_t b = {m->val, m->vlen};
            rc = rill_table_set(t, m->key, m->klen, &b);
        }
        if (rc != RILL_OK) return rc;
    }
    return RILL_OK;
}

/* ---- expiry --------------------------------------------------------------------- */

static int on_row(const void *k, size_t klen, const void *v, size_t vlen, void *opaque) {
    scan_t *x = opaque;
    if (klen < HDR + TAIL || vlen < 1) return 0;
    const uint8_t *kb = k;
    size_t ulen = (size_t)kb[0] << 24 | (size_t)kb[1] << 16 | (size_t)kb[2] << 8 | kb[3];
    if (ulen + HDR + TAIL != klen) return 0;
    int64_t ts = (int64_t)rill__be64_get(kb + HDR + ulen);
    if (ts + open_for(x->j, x->side) >= x->cutoff) return 0; /* still open */
    if (!((const uint8_t *)v)[0] && emits_unmatched(x->j, x->side)) {
        rill_join_pair_t pr = {
            .key = kb + HDR, .klen = ulen, .left_ts = -1, .right_ts = -1};
        if (x->side == 0)
            pr.left = (const uint8_t *)v + 1, pr.left_len = vlen - 1, pr.left_ts = ts;
        else
            pr.right = (const uint8_t *)v + 1, pr.right_len = vlen - 1, pr.right_ts = ts;
        if (call(x, &pr) != RILL_OK) return 1;
    }
    if (!mark(x, k, klen, NULL, 0)) x->rc = RILL_ENOMEM;
    return x->rc != RILL_OK;
}

/* Free (and emit, left/outer) the rows of partition @p p closed at stream time. */
static rill_err_t expire(sjoin_t *j, rill_event_t *ev, int32_t p) {
    int64_t st = j->stream_time[p];
    for (int s = 0; s < 2; s++) {
        rill_tpart_t *tp = part(j->buf[s], p);
        if (!tp) continue;
        rill__tpart_flush(tp);
        scan_t x = {.j = j, .ev = ev, .side = s, .cutoff = st};
        rill_err_t rc =
            rill__st_scan(j->app->store, tp->sp, NULL, 0, NULL, 0, on_row, &x);
        if (rc == RILL_OK) rc = x.rc;
        if (rc == RILL_OK) rc = apply_marks(&x, j->buf[s], true);
        marks_free(&x);
        if (rc != RILL_OK) return rc;
    }
    int64_t step = (j->o.before_ms + j->o.after_ms + j->o.grace_ms) / 2 + 1;
    j->next_expiry[p] = st + step;
    return RILL_OK;
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
    if (klen > MAXK) {
        rill__app_seterr(j->app, "join of '%s': a key of %zu bytes (at most %d)",
                         j->buf[s]->name, klen, MAXK);
        return RILL_EINVAL;
    }
    if (ts > j->stream_time[p]) j->stream_time[p] = ts;
    if (ts + open_for(j, s) < j->stream_time[p]) { /* its window has passed: late */
        j->buf[s]->late_dropped++;
        j->late++;
        return RILL_OK;
    }
    rill_tpart_t *other = part(j->buf[1 - s], p);
    rill_tpart_t *own = part(j->buf[s], p);
    if (!other || !own) {
        rill__app_seterr(j->app, "join: partition %d of its buffers is not owned here",
                         p);
        return RILL_ENOTOWNER;
    }
    /* the other side's rows of this key within the window */
    int64_t lo = s == 0 ? ts - j->o.before_ms : ts - j->o.after_ms;
    int64_t hi = s == 0 ? ts + j->o.after_ms : ts + j->o.before_ms;
    if (lo < 0) lo = 0;
    uint8_t *kb = malloc(3 * (HDR + klen + TAIL) + vlen + 1);
    if (!kb) return RILL_ENOMEM;
    uint8_t *start = kb, *end = kb + HDR + klen + TAIL,
            *own_key = end + HDR + klen + TAIL;
    size_t n = row_key(start, key, klen, lo, 0);
    row_key(end, key, klen, hi, INT64_MAX);
    rill__tpart_flush(other);
    scan_t x = {.j = j,
                .ev = ev,
                .side = s,
                .key = key,
                .klen = klen,
                .val = val,
                .vlen = vlen,
                .ts = ts};
    rill_err_t rc =
        rill__st_scan(j->app->store, other->sp, start, n, end, n, on_match, &x);
    if (rc == RILL_OK) rc = x.rc;
    if (rc == RILL_OK) rc = apply_marks(&x, j->buf[1 - s], false);
    marks_free(&x);
    if (rc == RILL_OK) { /* buffer this event */
        size_t kn = row_key(own_key, key, klen, ts, ev->msg.offset);
        uint8_t *v = own_key + kn;
        v[0] = x.n > 0;
        memcpy(v + 1, val, vlen);
        rill_bytes_t b = {v, vlen + 1};
        rc = rill_table_set(j->buf[s], own_key, kn, &b);
    }
    free(kb);
    if (rc == RILL_OK && j->stream_time[p] >= j->next_expiry[p]) rc = expire(j, ev, p);
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
            if (rill_table_stats(j->buf[0], &st) == RILL_OK) out->buffered_left = st.keys;
            if (rill_table_stats(j->buf[1], &st) == RILL_OK)
                out->buffered_right = st.keys;
            out->pairs = j->pairs;
            out->late_dropped = j->late;
            out->bad_timestamps = j->bad;
            return RILL_OK;
        }
    }
    return RILL_ENOENT;
}
