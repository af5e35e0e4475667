/* Tables: definition, reads and writes (through the overlay and the changelog),
 * windowed keys and their expiry (the arithmetic is in window.c), flushing to the
 * store. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record_int.h"
#include "backend_int.h"
#include "be64_int.h"
#include "global_table_int.h"
#include "table_int.h"
#include "window_int.h"
#include "window_sliding_int.h"

#define WKEY RILL__WKEY

/* ---- definition
 * ------------------------------------------------------------------------ */

void rill_table_opts_tumbling(rill_table_opts_t *o, int64_t size_ms, int64_t expires_ms) {
    o->window_size_ms = size_ms;
    o->window_step_ms = size_ms;
    o->window_expires_ms = expires_ms;
}

void rill_table_opts_hopping(rill_table_opts_t *o, int64_t size_ms, int64_t step_ms,
                             int64_t expires_ms) {
    o->window_size_ms = size_ms;
    o->window_step_ms = step_ms;
    o->window_expires_ms = expires_ms;
}

void rill_table_opts_session(rill_table_opts_t *o, int64_t gap_ms, int64_t expires_ms) {
    o->window_session = true;
    o->window_gap_ms = gap_ms;
    o->window_expires_ms = expires_ms;
}

void rill_table_opts_sliding(rill_table_opts_t *o, int64_t diff_ms, int64_t expires_ms) {
    o->window_sliding = true;
    o->window_diff_ms = diff_ms;
    o->window_expires_ms = expires_ms;
}

/* Sliding windows' longest time difference: sums of a few never overflow. */
#define SLIDE_MAX_DIFF (INT64_MAX / 8)

/* Sliding windows as the windowed table the rest of table.c knows: size diff + 1,
 * step 1 (every start is a window's), the grace in effect made explicit (0 and
 * the default mean expires_ms, which grows) and windows kept long enough for a
 * late record's new windows to find the ones they derive from. */
static bool sliding_opts(rill_app_t *app, const char *name, const rill_table_opts_t *o,
                         rill_table_opts_t *so) {
    int64_t d = o->window_diff_ms, e = o->window_expires_ms;
    if (!o->window_sliding || d < 0 || d > SLIDE_MAX_DIFF || e < 0 ||
        e > SLIDE_MAX_DIFF || o->window_size_ms || o->window_step_ms ||
        o->window_session || o->window_gap_ms ||
        o->window_grace_ms < RILL_WINDOW_NO_GRACE ||
        o->window_grace_ms > SLIDE_MAX_DIFF) {
        rill__app_deferr(app,
                         "table '%s': sliding windows need window_sliding, "
                         "window_diff_ms >= 0 (got %lld), expires >= 0, grace >= 0 or "
                         "RILL_WINDOW_NO_GRACE, and no window_size_ms/step_ms/gap_ms",
                         name, (long long)d);
        return false;
    }
    *so = *o;
    so->window_size_ms = d + 1;
    so->window_step_ms = 1;
    rill__window_t uw = {d + 1, 1, e, o->window_grace_ms};
    int64_t g = rill__window_grace(&uw), keep = rill__slide_keep(d, g);
    so->window_grace_ms = g ? g : RILL_WINDOW_NO_GRACE;
    so->window_expires_ms = e > keep ? e : keep;
    return true;
}

rill_table_t *rill_app_table(rill_app_t *app, const char *name,
                             const rill_table_opts_t *opts) {
    if (!app) return NULL; /* rill_app_new failed: its error says why */
    if (app->state != RILL_APP_CREATED) {
        rill__app_deferr(app, "table '%s' must be defined before the app starts",
                         name ? name : "");
        return NULL;
    }
    if (!opts || !opts->value_type) {
        rill__app_deferr(app, "table '%s': opts.value_type is required",
                         name ? name : "");
        return NULL;
    }
    for (rill_table_t *t = app->tables; t; t = t->next) {
        if (strcmp(t->name, name) == 0) {
            rill__app_deferr(app, "table '%s' is already defined", name);
            return NULL;
        }
    }
    const rill_table_opts_t *o = opts;
    rill_table_opts_t so;
    if (o->window_sliding || o->window_diff_ms) {
        if (!sliding_opts(app, name, o, &so)) return NULL;
        o = &so;
    } else if (o->window_session || o->window_gap_ms) {
        if (o->window_gap_ms <= 0 || o->window_expires_ms < 0 || o->window_size_ms ||
            o->window_step_ms) {
            rill__app_deferr(app,
                             "table '%s': session windows need window_gap_ms > 0 (got "
                             "%lld), expires >= 0, and no window_size_ms/step_ms",
                             name, (long long)o->window_gap_ms);
            return NULL;
        }
        so = *o; /* windowed, one window per session: size and step are the gap */
        so.window_session = true;
        so.window_size_ms = so.window_step_ms = o->window_gap_ms;
        o = &so;
    }
    if (o->window_size_ms < 0 || o->window_step_ms < 0 || o->window_expires_ms < 0 ||
        o->window_grace_ms < RILL_WINDOW_NO_GRACE ||
        (!o->window_size_ms && (o->window_grace_ms || o->on_late)) ||
        (o->window_size_ms && o->window_step_ms > o->window_size_ms) ||
        (!o->window_size_ms && (o->window_step_ms || o->window_expires_ms))) {
        rill__app_deferr(
            app,
            "table '%s': windows need size > 0, 0 < step <= size, expires >= 0, "
            "grace >= 0 or RILL_WINDOW_NO_GRACE (and only windowed tables have grace)",
            name);
        return NULL;
    }
    if (o->window_emit != RILL_EMIT_UPDATE && o->window_emit != RILL_EMIT_FINAL) {
        rill__app_deferr(app,
                         "table '%s': window_emit must be RILL_EMIT_UPDATE or "
                         "RILL_EMIT_FINAL",
                         name);
        return NULL;
    }
    if (!o->window_size_ms &&
        (o->window_emit || o->on_emit || o->emit_topic || o->window_idle_ms)) {
        rill__app_deferr(app,
                         "table '%s': window_emit, on_emit, emit_topic and "
                         "window_idle_ms need a windowed table (window_size_ms > 0)",
                         name);
        return NULL;
    }
    if (o->ttl_ms < 0 || (o->ttl_ms && o->window_size_ms)) {
        rill__app_deferr(app,
                         "table '%s': ttl_ms must be >= 0 (got %lld), on a table without "
                         "windows (windows expire by window_expires_ms)",
                         name, (long long)o->ttl_ms);
        return NULL;
    }
    if (o->window_idle_ms < 0) {
        rill__app_deferr(app, "table '%s': window_idle_ms must be >= 0 (0: off)", name);
        return NULL;
    }
    if (o->window_emit == RILL_EMIT_FINAL && !o->on_emit && !o->emit_topic) {
        rill__app_deferr(app,
                         "table '%s': window_emit = RILL_EMIT_FINAL needs on_emit or "
                         "emit_topic to emit to",
                         name);
        return NULL;
    }
    char cl[512];
    snprintf(cl, sizeof cl, "%s-%s-changelog", app->id, name ? name : "");
    rill_topic_opts_t to = {
        .partitions = o->partitions, .compacted = true, .internal = true};
    rill_topic_t *changelog = rill_app_topic(app, cl, &to);
    if (!changelog) return NULL;
    if (o->source && !o->partitions) changelog->repartition_of = o->source;
    rill_table_t *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        rill__app_deferr(app, "out of memory");
        return NULL;
    }
    t->app = app;
    t->opts = *o;
    t->session = o->window_session;
    t->sliding = o->window_sliding;
    t->vcopy = *o->value_type;
    t->opts.value_type = &t->vcopy;
    if (t->opts.window_size_ms && !t->opts.window_step_ms)
        t->opts.window_step_ms = t->opts.window_size_ms;
    t->changelog = changelog;
    const rill_type_t *vt = o->value_type;
    const char *vs = o->value_serializer ? o->value_serializer
                     : (vt->kind == RILL_T_INT64 || vt->kind == RILL_T_STRING ||
                        vt->kind == RILL_T_BYTES)
                         ? "raw"
                         : "json";
    if (!(t->vser_name = strdup(vs))) {
        free(t->name);
        free(t);
        return NULL;
    }
    rill_table_t **pp = &app->tables;
    while (*pp)
        pp = &(*pp)->next;
    *pp = t;
    return t;
}

const char *rill_table_name(const rill_table_t *t) {
    return t->name;
}

int32_t rill_table_partitions(const rill_table_t *t) {
    return t->partitions;
}

/* table.key_partition_check */
typedef enum { KEY_CHECK_WARN = 0, KEY_CHECK_REFUSE, KEY_CHECK_OFF } key_check_t;

static key_check_t key_check_of(const rill_conf_t *conf) {
    const char *v = rill_conf_get(conf, "table.key_partition_check");
    return v && !strcmp(v, "refuse") ? KEY_CHECK_REFUSE
           : v && !strcmp(v, "off")  ? KEY_CHECK_OFF
                                     : KEY_CHECK_WARN;
}

rill_err_t rill__tables_prepare(rill_app_t *app, char *errstr, size_t errlen) {
    if (!app->tables) return RILL_OK;
    if (!app->store) {
        app->store = rill__store_open(rill_conf_get(app->conf, "store"), app->conf,
                                      app->log, errstr, errlen);
        if (!app->store) return RILL_ESTORE;
    }
    for (rill_table_t *t = app->tables; t; t = t->next) {
        char why[256];
        if (!(t->vser = rill__app_serializer(app, t->vser_name, why, sizeof why))) {
            snprintf(errstr, errlen, "table '%s': %s", t->name, why);
            return RILL_ECONF;
        }
        t->raw_int64 =
            t->opts.value_type->kind == RILL_T_INT64 && !strcmp(t->vser_name, "raw");
        t->incr_inplace = t->raw_int64 && t->opts.window_size_ms <= 0 &&
                          !t->opts.global && !t->opts.ttl_ms && !t->session &&
                          !t->sliding;
        t->partitions = t->changelog->partitions;
        if (t->opts.source && t->opts.source->partitions != t->partitions) {
            snprintf(
                errstr, errlen,
                "table '%s': its changelog '%s' has %d partitions but its source '%s' "
                "has %d; they must be co-partitioned",
                t->name, t->changelog->name, t->partitions, t->opts.source->name,
                t->opts.source->partitions);
            return RILL_EPARTITIONS;
        }
        if (t->copart[0] && (t->copart[0]->changelog->partitions != t->partitions ||
                             t->copart[1]->changelog->partitions != t->partitions)) {
            snprintf(errstr, errlen,
                     "table-table join '%s': table '%s' has %d partitions and table "
                     "'%s' has %d: they must be co-partitioned (give both the same "
                     "source topic or partition count)",
                     t->join_name, t->copart[0]->name,
                     t->copart[0]->changelog->partitions, t->copart[1]->name,
                     t->copart[1]->changelog->partitions);
            return RILL_EPARTITIONS;
        }
        for (rill__join_t *j = t->joins; j; j = j->next)
            if (j->source->partitions != t->partitions) {
                snprintf(errstr, errlen,
                         "stream '%s' (%d partitions) joins table '%s' (%d partitions): "
                         "they must be co-partitioned; rill_stream_through() a topic of "
                         "%d partitions, then rill_stream_group_by() by the table's key "
                         "if the events are keyed otherwise",
                         j->source->name, j->source->partitions, t->name, t->partitions,
                         t->partitions);
                return RILL_EPARTITIONS;
            }
        const rill_topic_t *et = t->opts.emit_topic;
        if (et && et->vtype &&
            (et->vtype->kind != t->opts.value_type->kind ||
             (et->vtype->kind == RILL_T_RECORD &&
              et->vtype->record != t->opts.value_type->record))) {
            snprintf(errstr, errlen,
                     "table '%s': its emit_topic '%s' has another value type than the "
                     "table's values",
                     t->name, et->name);
            return RILL_ECONF;
        }
        t->key_check = (int)key_check_of(app->conf);
        if (!(t->parts = calloc((size_t)t->partitions, sizeof *t->parts)) ||
            !(t->mismatch_logged =
                  calloc((size_t)t->partitions, sizeof *t->mismatch_logged)))
            return RILL_ENOMEM;
        for (int32_t p = 0; p < t->partitions; p++) {
            t->parts[p].table = t;
            t->parts[p].partition = p;
            t->parts[p].cl_next = -1;
            t->parts[p].store_offset = RILL_OFFSET_INVALID;
            t->parts[p].stream_time = INT64_MIN;
            t->parts[p].closed_upto = INT64_MIN;
        }
    }
    return RILL_OK;
}

void rill__tables_free(rill_app_t *app) {
    while (app->tables) {
        rill_table_t *t = app->tables;
        app->tables = t->next;
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            rill__wcache_free(&t->parts[p].dirty);
            rill__sess_clear(&t->parts[p].sess);
            if (t->parts[p].sp) rill__st_part_close(app->store, t->parts[p].sp);
        }
        free(t->parts);
        free(t->mismatch_logged);
        while (t->joins) {
            rill__join_t *j = t->joins;
            t->joins = j->next;
            if (j->found) rill_value_clear(t->opts.value_type, j->row);
            free(j->row);
            rill_buf_free(&j->keybuf);
            free(j);
        }
        for (size_t i = 0; i < t->nobs; i++)
            if (t->obs[i].free_fn) t->obs[i].free_fn(t->obs[i].opaque);
        free(t->obs);
        free(t->join_name);
        rill_buf_free(&t->vbuf);
        rill_buf_free(&t->kbuf);
        free(t->vser_name);
        free(t->name);
        free(t);
    }
}

/* ---- keys, partitions, windows
 * --------------------------------------------------------- */

static rill__window_t win(const rill_table_t *t) {
    return (rill__window_t){t->opts.window_size_ms, t->opts.window_step_ms,
                            t->opts.window_expires_ms, t->opts.window_grace_ms};
}

static bool windowed(const rill_table_t *t) {
    return t->opts.window_size_ms > 0;
}

/* Store key of @p key (in window @p wstart when windowed) in t->kbuf. */
static rill_err_t store_key(rill_table_t *t, const void *key, size_t klen,
                            int64_t wstart) {
    t->kbuf.len = 0;
    if (t->kbuf.cap < klen + WKEY && rill_buf_reserve(&t->kbuf, klen + WKEY) != RILL_OK)
        return RILL_ENOMEM;
    if (windowed(t)) {
        rill__window_key_put(t->kbuf.data, wstart);
        t->kbuf.len = WKEY;
    }
    if (klen) memcpy(t->kbuf.data + t->kbuf.len, key, klen); /* room reserved above */
    t->kbuf.len += klen;
    return RILL_OK;
}

/* The time of the event an operation belongs to (no event: the wall clock). */
static int64_t event_time(const rill_event_t *ev) {
    return ev ? ev->msg.timestamp_ms : rill_now_ms();
}

/* A handler writes @p key, which hashes to partition @p home, while handling an
 * event of partition ev->msg.partition, where it is stored: count it and tell once
 * per table and partition. */
static void mismatched_write(rill_table_t *t, const void *key, size_t klen, int32_t home,
                             const rill_event_t *ev) {
    t->mismatched_writes++;
    int32_t p = ev->msg.partition;
    if (t->key_check != KEY_CHECK_WARN || t->mismatch_logged[p]) return;
    t->mismatch_logged[p] = true;
    rill__log(
        t->app, RILL_LOG_WARN,
        "table '%s': key '%.*s' belongs to partition %d (murmur2) but its event "
        "is from %s[%d]: stored in partition %d, the event's; a lookup of the key "
        "outside a handler (timers, your code) looks in partition %d.  Produce with "
        "murmur2 (kcat -X topic.partitioner=murmur2_random; kcat's default is "
        "consistent_random) or repartition by this key with "
        "rill_stream_group_by().  table.key_partition_check=off silences this, "
        "=refuse fails such writes; logged once per table and partition",
        t->name, (int)(klen > 64 ? 64 : klen), (const char *)key, home, ev->msg.topic, p,
        p, home);
}

/* The table partition of @p key: inside a handler of an event co-partitioned with
 * the table, the event's partition (Faust's and Kafka Streams' rule, whatever the
 * key hashes to; table.key_partition_check=refuse fails such writes instead);
 * otherwise the key's murmur2 partition. */
static rill_tpart_t *owned_part(rill_table_t *t, const rill_event_t *ev, const void *key,
                                size_t klen, bool write, rill_err_t *rc) {
    rill_app_t *app = t->app;
    if (!t->parts) {
        rill__app_seterr(app, "table '%s': the app is not started", t->name);
        *rc = RILL_ESTATE;
        return NULL;
    }
    if (t->opts.global) return rill__global_part(t, key, klen, write, rc); /* global */
    /* rill_partition_for_key, keeping the hash for the write cache (each_window) */
    t->key_hash = rill_murmur2(key, klen);
    int32_t p = t->partitions > 0
                    ? (int32_t)((t->key_hash & 0x7fffffff) % (uint32_t)t->partitions)
                    : 0;
    if (ev && ev->tp && !ev->tp->topic->channel && ev->msg.partition != p &&
        ev->tp->topic->partitions == t->partitions) {
        if (t->key_check != KEY_CHECK_REFUSE) {
            if (write) mismatched_write(t, key, klen, p, ev);
            p = ev->msg.partition;
        } else if (write) {
            rill__app_seterr(
                app,
                "table '%s': key '%.*s' belongs to partition %d, but the event is "
                "from %s[%d]; repartition the stream by this key with "
                "rill_stream_group_by() so each worker writes only its own "
                "partitions",
                t->name, (int)(klen > 64 ? 64 : klen), (const char *)key, p,
                ev->msg.topic, ev->msg.partition);
            *rc = RILL_ENOTOWNER;
            return NULL;
        }
    }
    rill_tpart_t *tp = &t->parts[p];
    if (tp->state != RILL_TP_ACTIVE) {
        rill__app_seterr(app, "table '%s': partition %d is not owned by this worker%s",
                         t->name, p,
                         tp->state == RILL_TP_RECOVERING ? " (still recovering)"
                         : tp->state == RILL_TP_STANDBY  ? " (standby copy only)"
                                                         : "");
        *rc = RILL_ENOTOWNER;
        return NULL;
    }
    return tp;
}

/* ---- values
 * ------------------------------------------------------------------------------- */

static void value_default(rill_table_t *t, void *out) {
    const rill_type_t *vt = t->opts.value_type;
    size_t sz = rill__value_csize(vt);
    memset(out, 0, sz);
    if (t->opts.default_value)
        rill_value_copy(vt, out, t->opts.default_value);
    else if (vt->kind == RILL_T_RECORD)
        rill_record_init(vt->record, out);
}

/* The serializer paths stay out of line, so the int64 fast paths inline. */
#if defined(__GNUC__)
#define OUT_OF_LINE __attribute__((noinline))
#else
#define OUT_OF_LINE
#endif

static OUT_OF_LINE rill_err_t value_deserialize(rill_table_t *t, const void *data,
                                                size_t len, void *out);

static rill_err_t value_decode(rill_table_t *t, const void *data, size_t len, void *out) {
    if (t->raw_int64 && len == 8) {
        *(int64_t *)out = (int64_t)rill__be64_get(data);
        return RILL_OK;
    }
    return value_deserialize(t, data, len, out);
}

static OUT_OF_LINE rill_err_t value_deserialize(rill_table_t *t, const void *data,
                                                size_t len, void *out) {
    const rill_type_t *vt = t->opts.value_type;
    size_t sz = rill__value_csize(vt);
    memset(out, 0, sz);
    if (vt->kind == RILL_T_RECORD) rill_record_init(vt->record, out);
    char why[256] = "";
    rill_err_t rc = rill_serializer_decode(t->vser, vt, data, len, out, why, sizeof why);
    if (rc != RILL_OK)
        rill__app_seterr(t->app, "table '%s': stored value does not decode: %s", t->name,
                         why);
    return rc;
}

static OUT_OF_LINE rill_err_t value_serialize(rill_table_t *t, const void *value);

static rill_err_t value_encode(rill_table_t *t, const void *value) {
    t->vbuf.len = 0;
    if (t->raw_int64) {
        if (t->vbuf.cap < 8 && rill_buf_reserve(&t->vbuf, 8) != RILL_OK)
            return RILL_ENOMEM;
        rill__be64_put(t->vbuf.data, (uint64_t) * (const int64_t *)value);
        t->vbuf.len = 8;
        return RILL_OK;
    }
    return value_serialize(t, value);
}

static OUT_OF_LINE rill_err_t value_serialize(rill_table_t *t, const void *value) {
    char why[256] = "";
    rill_err_t rc = rill_serializer_encode(t->vser, t->opts.value_type, value, &t->vbuf,
                                           why, sizeof why);
    if (rc != RILL_OK)
        rill__app_seterr(t->app, "table '%s': cannot encode value: %s", t->name, why);
    return rc;
}

/* Read store key t->kbuf: overlay first, then the store.  *found tells. */
/* read_skey, also giving the key's write-cache entry (NULL: not cached) to
 * write_skey_at. */
static rill_err_t read_skey_at(rill_tpart_t *tp, void *out, bool *found,
                               rill_wcache_entry_t **hit) {
    rill_table_t *t = tp->table;
    rill_wcache_entry_t *e =
        t->kbuf_hashed
            ? rill__wcache_find_h(&tp->dirty, t->kbuf.data, t->kbuf.len, t->kbuf_hash)
            : rill__wcache_find(&tp->dirty, t->kbuf.data, t->kbuf.len);
    t->kbuf_hashed = false;
    *hit = e;
    if (e) {
        *found = !e->tomb;
        if (e->tomb) {
            value_default(t, out);
            return RILL_OK;
        }
        return value_decode(t, e->val, e->vlen, out);
    }
    rill_buf_t got = RILL_BUF_INIT;
    rill_err_t rc = rill__st_get(t->app->store, tp->sp, t->kbuf.data, t->kbuf.len, &got);
    if (rc == RILL_ENOENT) {
        *found = false;
        value_default(t, out);
        rc = RILL_OK;
    } else if (rc == RILL_OK) {
        *found = true;
        rc = value_decode(t, got.data ? (const void *)got.data : "", got.len, out);
    }
    rill_buf_free(&got);
    return rc;
}

static rill_err_t read_skey(rill_tpart_t *tp, void *out, bool *found) {
    rill_wcache_entry_t *e;
    return read_skey_at(tp, out, found, &e);
}

static void on_cl_delivered(rill_err_t err, const char *errmsg, int32_t partition,
                            int64_t offset, void *opaque) {
    (void)partition;
    rill_tpart_t *tp = opaque;
    if (err == RILL_ESHUTDOWN)
        return; /* purged with an aborted transaction (its
                   overlay is dropped too) or at close */
    rill_app_t *app = tp->table->app;
    if (err == RILL_ENOTOWNER) { /* fenced by the server: someone else owns it now */
        rill_log(
            app->log, RILL_LOG_WARN, app->id,
            "table '%s' partition %d: changelog write refused (%s): given up as lost",
            tp->table->name, tp->partition, errmsg ? errmsg : rill_err2str(err));
        const rill_tpstate_t *f =
            rill__fence_for(app, tp->table->partitions, tp->partition);
        if (f) {
            rill_tp_t one = {f->topic->name, f->partition};
            app->hooks.lose(app, &one, 1);
        }
        return;
    }
    if (err == RILL_ETIMEDOUT) { /* maybe queued across a freeze: never sent */
        char why[256];
        snprintf(why, sizeof why,
                 "table '%s' partition %d: a changelog record was not delivered in time "
                 "(%s)",
                 tp->table->name, tp->partition, errmsg ? errmsg : rill_err2str(err));
        rill__lease_fence(app, why);
        return;
    }
    if (err != RILL_OK) {
        rill_app_fail(app, err, "table '%s': changelog write to partition %d failed: %s",
                      tp->table->name, tp->partition,
                      errmsg ? errmsg : rill_err2str(err));
        return;
    }
    if (offset + 1 > tp->cl_next) tp->cl_next = offset + 1;
}

/* One changelog record for partition @p tp.  A full producer queue does not block:
 * the record is held behind earlier sends and leaves in order (backlog.c). */
static rill_err_t send_cl(rill_tpart_t *tp, const void *key, size_t klen, const void *v,
                          size_t vlen) {
    rill_table_t *t = tp->table;
    rill_app_t *app = t->app;
    rill_send_opts_t o =
        RILL__SEND_OPTS(.cb = on_cl_delivered, .opaque = tp, .encoded = true);
    o.partition = tp->partition;
    /* fenced by the consumed partition it belongs to (refused once lost) */
    const rill_tpstate_t *saved = app->send_fence;
    app->send_fence = rill__fence_for(app, t->partitions, tp->partition);
    rill_err_t rc = rill_send(t->changelog, key, klen, v, vlen, &o);
    app->send_fence = saved;
    return rc;
}

/* table.changelog=per_commit: the overlay holds the last value of every key
 * written since the last flush; the flush writes one record per key (Kafka
 * Streams' record cache).  Before the store write and before the commit, so the
 * commit waits for their delivery like for any send of its interval. */
static bool coalesced(const rill_app_t *app) {
    return !app->cl_per_write && !app->eos;
}

static rill_err_t send_dirty(rill_tpart_t *tp) {
    for (size_t i = 0; i < tp->dirty.cap; i++) {
        rill_wcache_entry_t *e = &tp->dirty.slots[i];
        if (!e->used) continue;
        rill_err_t rc =
            send_cl(tp, e->key, e->klen, e->tomb ? NULL : e->val, e->tomb ? 0 : e->vlen);
        if (rc != RILL_OK) return rc;
    }
    return RILL_OK;
}

/* Write store key t->kbuf = t->vbuf (or delete): overlay + changelog.  @p e: the
 * key's write-cache entry as read_skey_at found it (NULL: not cached or not
 * known), with no write in between. */
static rill_err_t write_skey_at(rill_tpart_t *tp, bool tomb, rill_wcache_entry_t *e) {
    rill_table_t *t = tp->table;
    const void *v = tomb ? NULL : (t->vbuf.data ? (const void *)t->vbuf.data : "");
    size_t vlen = tomb ? 0 : t->vbuf.len;
    rill_err_t rc =
        rill__wcache_put_at(&tp->dirty, e, t->kbuf.data, t->kbuf.len, v, vlen, tomb);
    if (rc != RILL_OK || coalesced(t->app)) return rc;
    return send_cl(tp, t->kbuf.data, t->kbuf.len, v, vlen);
}

static rill_err_t write_skey(rill_tpart_t *tp, bool tomb) {
    return write_skey_at(tp, tomb, NULL);
}

rill_err_t rill__table_observe(rill_table_t *t, rill__table_write_fn fn, void *opaque,
                               void (*free_fn)(void *opaque)) {
    rill__table_obs_t *o = realloc(t->obs, (t->nobs + 1) * sizeof *o);
    if (!o) {
        rill__app_deferr(t->app, "out of memory");
        return RILL_ENOMEM;
    }
    t->obs = o;
    t->obs[t->nobs++] = (rill__table_obs_t){fn, opaque, free_fn};
    return RILL_OK;
}

/* Key @p key of partition @p p was written: tell the observers (t->kbuf may be
 * reused by them). */
static rill_err_t observed(rill_table_t *t, int32_t p, const void *key, size_t klen) {
    for (size_t i = 0; i < t->nobs; i++) {
        rill_err_t rc = t->obs[i].fn(t, p, key, klen, t->obs[i].opaque);
        if (rc != RILL_OK) return rc;
    }
    return RILL_OK;
}

typedef struct expired {
    uint8_t *key;
    size_t klen;
    uint8_t *val;
    size_t vlen;
} expired_t;

typedef struct expiry_scan {
    expired_t *v;
    size_t n, cap;
} expiry_scan_t;

static int collect_expired(const void *key, size_t klen, const void *val, size_t vlen,
                           void *opaque) {
    expiry_scan_t *x = opaque;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 64;
        expired_t *nv = realloc(x->v, cap * sizeof *nv);
        if (!nv) return 1;
        x->v = nv;
        x->cap = cap;
    }
    uint8_t *mem = malloc(klen + vlen + 1);
    if (!mem) return 1;
    memcpy(mem, key, klen);
    if (vlen) memcpy(mem + klen, val, vlen);
    x->v[x->n++] = (expired_t){mem, klen, mem + klen, vlen};
    return 0;
}

/* ---- stream time, closing windows and emits
 * ----------------------------------------------- */

/* The bookkeeping row of an emit=final partition: shorter than a window key, so
 * scans, foreach and the web pages (which skip keys shorter than RILL__WKEY) and
 * the expiry range never see it.  Value: closed_upto, stream time (be64 each). */
static const uint8_t META_KEY[] = {0xff, 0xff, 'c', 'l', 'o', 's', 'e'};

static bool emits_final(const rill_table_t *t) {
    return t->opts.window_emit == RILL_EMIT_FINAL;
}

/* Read what a previous owner closed (emit=final), once per opening of the
 * partition: its stream time and closed windows carry over a restart. */
static void meta_load(rill_tpart_t *tp) {
    if (!emits_final(tp->table) || !tp->sp ||
        (tp->meta_loaded && tp->meta_sp == tp->sp && tp->meta_t0 == tp->rec_t0_ns))
        return;
    tp->closed_upto = INT64_MIN;
    tp->meta_loaded = true;
    tp->meta_t0 = tp->rec_t0_ns;
    tp->meta_sp = tp->sp;
    rill_table_t *t = tp->table;
    const uint8_t *v = NULL;
    rill_buf_t got = RILL_BUF_INIT;
    rill_wcache_entry_t *e = rill__wcache_find(&tp->dirty, META_KEY, sizeof META_KEY);
    if (e && !e->tomb && e->vlen == 16)
        v = e->val;
    else if (!e &&
             rill__st_get(t->app->store, tp->sp, META_KEY, sizeof META_KEY, &got) ==
                 RILL_OK &&
             got.len == 16)
        v = got.data;
    if (v) {
        int64_t closed = (int64_t)rill__be64_get(v), st = (int64_t)rill__be64_get(v + 8);
        if (closed > tp->closed_upto) tp->closed_upto = closed;
        if (st > tp->stream_time) tp->stream_time = st;
    }
    rill_buf_free(&got);
}

static void emit_send(rill_table_t *t, const void *key, size_t klen, int64_t ws,
                      int64_t we, const void *v, size_t vlen);

/* Emit window @p ws of @p key with encoded value @p v: callback and topic. */
static void emit_window(rill_table_t *t, const void *key, size_t klen, int64_t ws,
                        int64_t we, const void *v, size_t vlen, void *val) {
    rill_topic_t *to = t->opts.emit_topic;
    if (value_decode(t, v, vlen, val) != RILL_OK) return;
    if (t->opts.on_emit)
        t->opts.on_emit(t, key, klen, ws, we, val, t->opts.on_emit_opaque);
    rill_buf_t enc = RILL_BUF_INIT;
    if (to && to->vtype) { /* in the topic's own serializer */
        char why[256] = "";
        rill_err_t erc =
            rill_serializer_encode(to->vser, to->vtype, val, &enc, why, sizeof why);
        if (erc != RILL_OK) {
            rill__log(t->app, RILL_LOG_ERROR,
                      "table '%s': window value does not encode for '%s': %s", t->name,
                      to->name, why);
            to = NULL;
        } else {
            v = enc.data ? (const void *)enc.data : "";
            vlen = enc.len;
        }
    }
    rill_value_clear(t->opts.value_type, val);
    if (to) emit_send(t, key, klen, ws, we, v, vlen);
    rill_buf_free(&enc);
}

static void emit_send(rill_table_t *t, const void *key, size_t klen, int64_t ws,
                      int64_t we, const void *v, size_t vlen) {
    char s[24], e[24];
    snprintf(s, sizeof s, "%lld", (long long)ws);
    snprintf(e, sizeof e, "%lld", (long long)we);
    rill_header_t h[2] = {{"rill-window-start", s, strlen(s)},
                          {"rill-window-end", e, strlen(e)}};
    rill_send_opts_t o = RILL__SEND_OPTS(.headers = h, .nheaders = 2,
                                         .timestamp_ms = we - 1, .encoded = true);
    rill_err_t rc = rill_send(t->opts.emit_topic, key, klen, v, vlen, &o);
    if (rc != RILL_OK)
        rill_app_fail(t->app, rc, "table '%s': emitting a window to '%s' failed: %s",
                      t->name, t->opts.emit_topic->name, rill_app_errmsg(t->app));
}

static int cmp_expired(const void *a, const void *b) {
    const expired_t *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* The windows of @p tp starting in [from, to]: the store's, overridden by the
 * overlay's (not flushed yet), in key order (window start, then key). */
static rill_err_t collect_windows(rill_tpart_t *tp, int64_t from, int64_t to,
                                  expiry_scan_t *x) {
    rill_table_t *t = tp->table;
    uint8_t b[WKEY], e[WKEY];
    rill__window_key_put(b, from);
    if (to < INT64_MAX) rill__window_key_put(e, to + 1);
    expiry_scan_t st = {0};
    rill_err_t rc = rill__st_scan(t->app->store, tp->sp, from == INT64_MIN ? NULL : b,
                                  from == INT64_MIN ? 0 : WKEY, to < INT64_MAX ? e : NULL,
                                  to < INT64_MAX ? WKEY : 0, collect_expired, &st);
    for (size_t i = 0; i < st.n; i++) {
        expired_t *r = &st.v[i];
        if (r->klen < WKEY || rill__wcache_find(&tp->dirty, r->key, r->klen)) {
            free(r->key);
            continue;
        }
        if (x->n == x->cap) {
            size_t cap = x->cap ? x->cap * 2 : 64;
            expired_t *nv = realloc(x->v, cap * sizeof *nv);
            if (!nv) {
                free(r->key);
                continue;
            }
            x->v = nv;
            x->cap = cap;
        }
        x->v[x->n++] = *r;
    }
    free(st.v);
    for (size_t i = 0; i < tp->dirty.cap; i++) {
        rill_wcache_entry_t *d = &tp->dirty.slots[i];
        if (!d->used || d->tomb || d->klen < WKEY) continue;
        int64_t ws = rill__window_key_get(d->key);
        if (ws < from || ws > to) continue;
        if (collect_expired(d->key, d->klen, d->val, d->vlen, x)) return RILL_ENOMEM;
    }
    if (x->n > 1) qsort(x->v, x->n, sizeof *x->v, cmp_expired);
    return rc;
}

static void close_sessions(rill_tpart_t *tp);
static void emit_collected(rill_tpart_t *tp, expiry_scan_t *x);
static void meta_write(rill_tpart_t *tp);
static void emit_update(rill_tpart_t *tp, const void *key, size_t klen, int64_t ws,
                        int64_t we);

/* emit=final: emit, once, every window of @p tp that stream time has closed since
 * the last call, then record how far it closed (changelog and store, with the
 * windows' data: a new owner resumes from there). */
static void close_windows(rill_tpart_t *tp) {
    rill_table_t *t = tp->table;
    if (!emits_final(t) || tp->state != RILL_TP_ACTIVE) return;
    meta_load(tp);
    if (t->session) {
        close_sessions(tp);
        return;
    }
    rill__window_t w = win(t);
    int64_t cut = rill__window_close_cutoff(&w, tp->stream_time);
    if (cut == INT64_MIN || cut <= tp->closed_upto) return;
    expiry_scan_t x = {0};
    int64_t from = tp->closed_upto == INT64_MIN ? INT64_MIN : tp->closed_upto + 1;
    rill_err_t rc = collect_windows(tp, from, cut, &x);
    if (rc != RILL_OK) {
        rill_log(t->app->log, RILL_LOG_WARN, t->app->store->name,
                 "table '%s' partition %d: scanning closed windows: %s (retried)",
                 t->name, tp->partition, rill_err2str(rc));
        for (size_t i = 0; i < x.n; i++)
            free(x.v[i].key);
        free(x.v);
        return;
    }
    tp->closed_upto = cut; /* before the callbacks, which may write the table */
    emit_collected(tp, &x);
    meta_write(tp);
}

/* Emit what collect_windows() or collect_sessions() put in @p x, and free it. */
static void emit_collected(rill_tpart_t *tp, expiry_scan_t *x) {
    rill_table_t *t = tp->table;
    const rill_type_t *vt = t->opts.value_type;
    size_t sz = rill__value_csize(vt);
    void *val = calloc(1, sz ? sz : 1);
    for (size_t i = 0; i < x->n && val; i++) {
        expired_t *e = &x->v[i];
        int64_t ws = rill__window_key_get(e->key), we = ws + t->opts.window_size_ms;
        size_t kl = e->klen - WKEY;
        if (t->session) { /* start, key, end */
            kl -= WKEY;
            we = rill__window_key_get(e->key + e->klen - WKEY);
        } else if (t->sliding) /* start, key, mark */
            kl -= WKEY;
        emit_window(t, e->key + WKEY, kl, ws, we, e->val, e->vlen, val);
    }
    free(val);
    for (size_t i = 0; i < x->n; i++)
        free(x->v[i].key);
    free(x->v);
}

/* Record how far @p tp closed (emit=final): closed_upto and its stream time. */
static void meta_write(rill_tpart_t *tp) {
    rill_table_t *t = tp->table;
    rill_err_t rc;
    uint8_t m[16];
    rill__be64_put(m, (uint64_t)tp->closed_upto);
    rill__be64_put(m + 8, (uint64_t)tp->stream_time);
    rill_buf_reset(&t->kbuf);
    rill_buf_reset(&t->vbuf);
    if (rill_buf_append(&t->kbuf, META_KEY, sizeof META_KEY) != RILL_OK ||
        rill_buf_append(&t->vbuf, m, sizeof m) != RILL_OK ||
        (rc = write_skey(tp, false)) != RILL_OK)
        rill__log(t->app, RILL_LOG_WARN,
                  "table '%s' partition %d: recording closed windows failed: %s", t->name,
                  tp->partition, rill_app_errmsg(t->app));
}

/* ---- state TTL (opts.ttl_ms): the last write of each key, in tp->sess
 * ------------------------- */

static int ttl_load_one(const void *key, size_t klen, const void *val, size_t vlen,
                        void *opaque) {
    (void)val;
    (void)vlen;
    rill_tpart_t *tp = opaque;
    if (rill__wcache_find(&tp->dirty, key, klen)) return 0; /* the overlay's below */
    return rill__sess_touch(&tp->sess, key, klen, rill_now_ms()) ? 1 : 0;
}

/* The last-write index of @p tp, (re)built after each recovery: the keys found in
 * the store count as written then (a write's time is not stored). */
static rill__sess_index_t *ttl_index(rill_tpart_t *tp) {
    if (tp->sess_loaded && tp->sess_sp == tp->sp && tp->sess_t0 == tp->rec_t0_ns)
        return &tp->sess;
    rill__sess_clear(&tp->sess);
    rill_table_t *t = tp->table;
    rill_err_t rc =
        rill__st_scan(t->app->store, tp->sp, NULL, 0, NULL, 0, ttl_load_one, tp);
    for (size_t i = 0; rc == RILL_OK && i < tp->dirty.cap; i++) {
        rill_wcache_entry_t *d = &tp->dirty.slots[i];
        if (d->used && !d->tomb &&
            rill__sess_touch(&tp->sess, d->key, d->klen, rill_now_ms()))
            rc = RILL_ENOMEM;
    }
    if (rc != RILL_OK) {
        rill__log(t->app, RILL_LOG_WARN,
                  "table '%s' partition %d: loading its keys for ttl_ms: %s (retried)",
                  t->name, tp->partition, rill_err2str(rc));
        return &tp->sess;
    }
    tp->sess_loaded = true;
    tp->sess_sp = tp->sp;
    tp->sess_t0 = tp->rec_t0_ns;
    tp->ttl_next_ms = rill_now_ms() + t->opts.ttl_ms / 4;
    return &tp->sess;
}

/* Key t->kbuf of @p tp was written (or deleted: @p gone). */
static void ttl_touch(rill_tpart_t *tp, bool gone) {
    rill_table_t *t = tp->table;
    rill__sess_index_t *x = ttl_index(tp);
    if (gone) {
        rill__sess_t s[1];
        if (rill__sess_find(x, t->kbuf.data, t->kbuf.len,
                            (rill__sess_t){INT64_MIN, INT64_MAX}, s, 1))
            rill__sess_del(x, t->kbuf.data, t->kbuf.len, s[0].start);
    } else if (rill__sess_touch(x, t->kbuf.data, t->kbuf.len, rill_now_ms()))
        rill__log(t->app, RILL_LOG_WARN, "table '%s': out of memory for ttl_ms", t->name);
}

typedef struct ttl_scan {
    expiry_scan_t x;
    int64_t before; /* written before this: expired */
} ttl_scan_t;

static int pick_expired_key(const void *key, size_t klen, rill__sess_t s, void *opaque) {
    ttl_scan_t *a = opaque;
    if (s.start >= a->before) return 0;
    return collect_expired(key, klen, NULL, 0, &a->x);
}

/* Delete the keys of @p tp not written for ttl_ms (tombstones to the changelog). */
static void ttl_sweep(rill_tpart_t *tp) {
    rill_table_t *t = tp->table;
    if (!t->opts.ttl_ms || tp->state != RILL_TP_ACTIVE) return;
    rill__sess_index_t *x = ttl_index(tp);
    int64_t now = rill_now_ms();
    if (now < tp->ttl_next_ms) return;
    tp->ttl_next_ms = now + t->opts.ttl_ms / 4;
    ttl_scan_t a = {{0}, now - t->opts.ttl_ms};
    rill__sess_each(x, pick_expired_key, &a);
    for (size_t i = 0; i < a.x.n; i++) {
        expired_t *e = &a.x.v[i];
        rill__sess_t s[1];
        if (rill__sess_find(x, e->key, e->klen, (rill__sess_t){INT64_MIN, INT64_MAX}, s,
                            1))
            rill__sess_del(x, e->key, e->klen, s[0].start);
        rill_buf_reset(&t->kbuf);
        if (rill_buf_append(&t->kbuf, e->key, e->klen) == RILL_OK &&
            write_skey(tp, true) == RILL_OK) {
            t->ttl_expired++;
            if (observed(t, tp->partition, e->key, e->klen) != RILL_OK)
                rill__log(t->app, RILL_LOG_ERROR,
                          "table '%s': a join of the key expired by ttl_ms failed: %s",
                          t->name, rill_app_errmsg(t->app));
        }
        free(e->key);
    }
    free(a.x.v);
}

/* ---- session windows (the arithmetic and index: window_session.c)
 * ----------------------------- */

/* Store key of session @p s of @p key in t->kbuf: start, key, end. */
static rill_err_t sess_key(rill_table_t *t, const void *key, size_t klen,
                           rill__sess_t s) {
    rill_err_t rc = store_key(t, key, klen, s.start);
    if (rc != RILL_OK || (rc = rill_buf_reserve(&t->kbuf, WKEY)) != RILL_OK) return rc;
    rill__window_key_put(t->kbuf.data + t->kbuf.len, s.end);
    t->kbuf.len += WKEY;
    return RILL_OK;
}

/* The index of @p tp's sessions, (re)built after each recovery. */
static rill__sess_index_t *sess_index(rill_tpart_t *tp) {
    if (tp->sess_loaded && tp->sess_sp == tp->sp && tp->sess_t0 == tp->rec_t0_ns)
        return &tp->sess;
    rill__sess_clear(&tp->sess);
    expiry_scan_t x = {0};
    rill_err_t rc = collect_windows(tp, INT64_MIN, INT64_MAX, &x);
    for (size_t i = 0; i < x.n; i++) {
        expired_t *e = &x.v[i];
        if (e->klen >= 2 * WKEY &&
            rill__sess_put(&tp->sess, e->key + WKEY, e->klen - 2 * WKEY,
                           (rill__sess_t){rill__window_key_get(e->key),
                                          rill__window_key_get(e->key + e->klen - WKEY)}))
            rc = RILL_ENOMEM;
        free(e->key);
    }
    free(x.v);
    if (rc != RILL_OK) {
        rill__log(tp->table->app, RILL_LOG_WARN,
                  "table '%s' partition %d: loading its sessions: %s (retried)",
                  tp->table->name, tp->partition, rill_err2str(rc));
        return &tp->sess;
    }
    tp->sess_loaded = true;
    tp->sess_sp = tp->sp;
    tp->sess_t0 = tp->rec_t0_ns;
    return &tp->sess;
}

/* Session @p s is closed at @p tp's stream time: its end + grace has passed. */
static bool sess_closed(const rill_tpart_t *tp, rill__sess_t s, int64_t at) {
    rill__window_t w = win(tp->table);
    if (at == INT64_MIN || at < s.end) return false;
    return (uint64_t)at - (uint64_t)s.end >= (uint64_t)rill__window_grace(&w);
}

typedef struct sess_scan {
    rill_tpart_t *tp;
    expiry_scan_t *x;
    int64_t now, before; /* closed at now, not at before */
    bool expire;
    rill_err_t rc;
} sess_scan_t;

static int pick_session(const void *key, size_t klen, rill__sess_t s, void *opaque) {
    sess_scan_t *a = opaque;
    rill_tpart_t *tp = a->tp;
    rill_table_t *t = tp->table;
    if (a->expire) {
        if (a->now - s.end < t->opts.window_expires_ms) return 0;
    } else if (!sess_closed(tp, s, a->now) || sess_closed(tp, s, a->before))
        return 0;
    if ((a->rc = sess_key(t, key, klen, s)) != RILL_OK) return 1;
    rill_wcache_entry_t *e = rill__wcache_find(&tp->dirty, t->kbuf.data, t->kbuf.len);
    if (e) {
        if (!e->tomb && collect_expired(t->kbuf.data, t->kbuf.len, e->val, e->vlen, a->x))
            a->rc = RILL_ENOMEM;
        return a->rc != RILL_OK;
    }
    rill_buf_t got = RILL_BUF_INIT;
    if (rill__st_get(t->app->store, tp->sp, t->kbuf.data, t->kbuf.len, &got) == RILL_OK &&
        collect_expired(t->kbuf.data, t->kbuf.len, got.data ? (void *)got.data : "",
                        got.len, a->x))
        a->rc = RILL_ENOMEM;
    rill_buf_free(&got);
    return a->rc != RILL_OK;
}

/* Sessions closed since the last pass (or, @p expire: kept past expires_ms). */
static rill_err_t collect_sessions(rill_tpart_t *tp, bool expire, expiry_scan_t *x) {
    sess_scan_t a = {tp, x, tp->stream_time, tp->closed_upto, expire, RILL_OK};
    rill__sess_each(sess_index(tp), pick_session, &a);
    if (x->n > 1) qsort(x->v, x->n, sizeof *x->v, cmp_expired);
    return a.rc;
}

/* emit=final for sessions: every session closed since the last pass, once; the
 * pass's stream time is what is recorded (sessions closed at it were emitted). */
static void close_sessions(rill_tpart_t *tp) {
    if (tp->stream_time == INT64_MIN || tp->stream_time <= tp->closed_upto) return;
    expiry_scan_t x = {0};
    rill_err_t rc = collect_sessions(tp, false, &x);
    if (rc != RILL_OK) {
        for (size_t i = 0; i < x.n; i++)
            free(x.v[i].key);
        free(x.v);
        return;
    }
    tp->closed_upto = tp->stream_time;
    emit_collected(tp, &x);
    meta_write(tp);
}

/* Delete the sessions kept past expires_ms (on_window_close first). */
static void expire_sessions(rill_tpart_t *tp) {
    rill_table_t *t = tp->table;
    if (tp->stream_time == INT64_MIN) return;
    expiry_scan_t x = {0};
    collect_sessions(tp, true, &x);
    const rill_type_t *vt = t->opts.value_type;
    size_t sz = rill__value_csize(vt);
    void *val = calloc(1, sz ? sz : 1);
    for (size_t i = 0; i < x.n; i++) {
        expired_t *e = &x.v[i];
        int64_t ws = rill__window_key_get(e->key);
        int64_t we = rill__window_key_get(e->key + e->klen - WKEY);
        const uint8_t *k = e->key + WKEY;
        size_t kl = e->klen - 2 * WKEY;
        if (t->opts.on_window_close && val &&
            value_decode(t, e->val, e->vlen, val) == RILL_OK) {
            t->opts.on_window_close(t, k, kl, ws, we, val,
                                    t->opts.on_window_close_opaque);
            rill_value_clear(vt, val);
        }
        rill__sess_del(&tp->sess, k, kl, ws);
        rill_buf_reset(&t->kbuf);
        rill_buf_append(&t->kbuf, e->key, e->klen);
        write_skey(tp, true);
        free(e->key);
    }
    free(val);
    free(x.v);
    if (x.n) rill__tpart_flush(tp);
}

/* The session of @p key holding @p ts as t->kbuf; false when there is none. */
static bool sess_at(rill_tpart_t *tp, const void *key, size_t klen, int64_t ts) {
    rill__sess_t s[4];
    if (!rill__sess_find(sess_index(tp), key, klen, (rill__sess_t){ts, ts + 1}, s, 4))
        return false;
    return sess_key(tp->table, key, klen, s[0]) == RILL_OK;
}

typedef enum { SESS_INCR, SESS_SET, SESS_DEL } sess_op_t;

/* A write at event time @p ts to a session table: the event's session [ts, ts+gap)
 * merges the sessions of @p key it overlaps (their values summed for incr; set and
 * del replace them).  Late (dropped) when it or one of them is closed. */
static rill_err_t session_write(rill_tpart_t *tp, const void *key, size_t klen,
                                int64_t ts, sess_op_t op, int64_t by, const void *value,
                                int64_t *result) {
    rill_table_t *t = tp->table;
    rill__sess_index_t *ix = sess_index(tp);
    int64_t gap = t->opts.window_gap_ms;
    rill__sess_t probe = {ts, ts > INT64_MAX - gap ? INT64_MAX : ts + gap}, over[4];
    size_t n = rill__sess_find(ix, key, klen, probe, over, 4);
    if (n > 4) n = 4; /* disjoint sessions of >= gap: a probe of gap meets <= 2 */
    bool late = sess_closed(tp, probe, tp->stream_time);
    for (size_t i = 0; i < n; i++)
        late = late || sess_closed(tp, over[i], tp->stream_time);
    rill__sess_t m = rill__session_merge(over, n, ts, gap);
    if (late) {
        t->late_dropped++;
        if (t->opts.on_late)
            t->opts.on_late(t, key, klen, m.start, ts, t->opts.on_late_opaque);
        return RILL_OK;
    }
    rill_err_t rc;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) { /* the merged sessions go */
        if (op == SESS_INCR) {
            int64_t v;
            bool found;
            if ((rc = sess_key(t, key, klen, over[i])) != RILL_OK ||
                (rc = read_skey(tp, &v, &found)) != RILL_OK)
                return rc;
            sum += v;
        }
        if (over[i].start == m.start && over[i].end == m.end && op != SESS_DEL) continue;
        if ((rc = sess_key(t, key, klen, over[i])) != RILL_OK ||
            (rc = write_skey(tp, true)) != RILL_OK)
            return rc;
        rill__sess_del(ix, key, klen, over[i].start);
    }
    if (op == SESS_DEL) return RILL_OK;
    if (op == SESS_INCR) {
        if (!n) value_default(t, &sum);
        sum += by;
        if (result) *result = sum;
        value = &sum;
    }
    if ((rc = value_encode(t, value)) != RILL_OK ||
        (rc = sess_key(t, key, klen, m)) != RILL_OK ||
        (rc = write_skey(tp, false)) != RILL_OK)
        return rc;
    if (rill__sess_put(ix, key, klen, m)) return RILL_ENOMEM;
    if (!emits_final(t) && (t->opts.on_emit || t->opts.emit_topic))
        emit_update(tp, key, klen, m.start, m.end);
    return RILL_OK;
}

/* ---- sliding windows (which windows a record makes: window_sliding.c)
 * ------------------------- */

static int64_t slide_diff(const rill_table_t *t) {
    return t->opts.window_size_ms - 1;
}

/* A key's windows near a time (slide_windows), and room for as many record
 * times and planned writes: on the stack unless there are many. */
#define SLIDE_STACK 64
typedef struct slide_buf {
    rill__slide_win_t *w;
    int64_t *r;
    rill__slide_op_t *ops;
    size_t n;
    rill__slide_win_t w0[SLIDE_STACK];
    int64_t r0[SLIDE_STACK];
    rill__slide_op_t ops0[SLIDE_STACK + 3];
} slide_buf_t;

static void slide_buf_free(slide_buf_t *b) {
    if (b->w != b->w0) free(b->w);
    if (b->r != b->r0) free(b->r);
    if (b->ops != b->ops0) free(b->ops);
}

/* The windows of @p key in @p tp that a record (or a read) at @p ts needs
 * (rill__slide_near: a write costs the windows near it, not every window of the
 * key kept), sorted by start (the index keeps a key's windows sorted: their span
 * is found by binary search), into @p b (slide_buf_free). */
static rill_err_t slide_windows(rill_tpart_t *tp, const void *key, size_t klen,
                                int64_t ts, slide_buf_t *b) {
    int64_t lo, hi;
    size_t k;
    rill__slide_near_bounds(slide_diff(tp->table), ts, &lo, &hi);
    const rill__sess_t *s = rill__sess_span(sess_index(tp), key, klen, lo, hi, &k);
    b->w = b->w0;
    b->r = b->r0;
    b->ops = b->ops0;
    b->n = 0;
    if (k > SLIDE_STACK) {
        b->w = malloc(k * sizeof *b->w);
        b->r = malloc(k * sizeof *b->r);
        b->ops = malloc((k + 3) * sizeof *b->ops);
        if (!b->w || !b->r || !b->ops) {
            free(b->w);
            free(b->r);
            free(b->ops);
            b->w = b->w0; /* nothing left for slide_buf_free */
            b->r = b->r0;
            b->ops = b->ops0;
            return RILL_ENOMEM;
        }
    }
    for (size_t i = 0; i < k; i++)
        b->w[i] = (rill__slide_win_t){s[i].start, s[i].end != 0};
    b->n = k;
    return RILL_OK;
}

/* Store key of sliding window @p start of @p key in t->kbuf. */
static rill_err_t slide_key(rill_table_t *t, const void *key, size_t klen, int64_t start,
                            bool left) {
    return sess_key(t, key, klen, (rill__sess_t){start, left ? 1 : 0});
}

/* Whether @p start of @p w (sorted) is a left window. */
static bool slide_left(const rill__slide_win_t *w, size_t n, int64_t start) {
    for (size_t lo = 0, hi = n; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        if (w[mid].start == start) return w[mid].left;
        if (w[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* The window of @p key holding its records of [ts - diff, ts] as t->kbuf; false
 * when there are none. */
static bool slide_at(rill_tpart_t *tp, const void *key, size_t klen, int64_t ts) {
    slide_buf_t b;
    int64_t start;
    if (slide_windows(tp, key, klen, ts, &b) != RILL_OK) return false;
    bool ok =
        rill__slide_find(b.w, b.n, slide_diff(tp->table), ts - slide_diff(tp->table), b.r,
                         &start) &&
        slide_key(tp->table, key, klen, start, slide_left(b.w, b.n, start)) == RILL_OK;
    slide_buf_free(&b);
    return ok;
}

/* Read window @p start (mark @p left) of @p key into @p out (the default when
 * RILL__SLIDE_NONE). */
static rill_err_t slide_read(rill_tpart_t *tp, const void *key, size_t klen,
                             int64_t start, bool left, void *out,
                             rill_wcache_entry_t **hit) {
    *hit = NULL;
    if (start == RILL__SLIDE_NONE) {
        value_default(tp->table, out);
        return RILL_OK;
    }
    bool found;
    rill_err_t rc = slide_key(tp->table, key, klen, start, left);
    return rc != RILL_OK ? rc : read_skey_at(tp, out, &found, hit);
}

/* One planned write: the window's new value (t->vbuf), its key (a window that
 * becomes a left window moves to its new key), the index, emit=update.  A window
 * read and written under the same key is written through the write-cache entry
 * the read found (its key is still t->kbuf: no second key or hash). */
static rill_err_t slide_apply(rill_tpart_t *tp, const void *key, size_t klen,
                              const rill__slide_win_t *w, size_t n,
                              const rill__slide_op_t *op, sess_op_t kind, int64_t by,
                              const void *value, void *tmp, int64_t cur,
                              int64_t *result) {
    rill_table_t *t = tp->table;
    rill_wcache_entry_t *hit = NULL;
    bool read = false; /* t->kbuf is window op->from's key */
    rill_err_t rc;
    if (kind == SESS_INCR) {
        int64_t v;
        if ((rc = slide_read(tp, key, klen, op->from, slide_left(w, n, op->from), &v,
                             &hit)) != RILL_OK)
            return rc;
        read = true;
        if (op->add) v += by;
        if (op->start == cur) *result = v; /* the window ending at the record */
        rc = value_encode(t, &v);
    } else if (op->add)
        rc = value_encode(t, value);
    else {
        if ((rc = slide_read(tp, key, klen, op->from, slide_left(w, n, op->from), tmp,
                             &hit)) != RILL_OK)
            return rc;
        read = true;
        rc = value_encode(t, tmp);
        rill_value_clear(t->opts.value_type, tmp);
    }
    if (rc != RILL_OK) return rc;
    if (!op->created && op->left == op->was_left && read && op->from == op->start) {
        if ((rc = write_skey_at(tp, false, hit)) != RILL_OK) return rc;
    } else {
        if (!op->created && op->left != op->was_left && /* its old key goes */
            ((rc = slide_key(t, key, klen, op->start, op->was_left)) != RILL_OK ||
             (rc = write_skey(tp, true)) != RILL_OK))
            return rc;
        if ((rc = slide_key(t, key, klen, op->start, op->left)) != RILL_OK ||
            (rc = write_skey(tp, false)) != RILL_OK)
            return rc;
    }
    if ((op->created || op->left != op->was_left) && /* else the index has it */
        rill__sess_put(&tp->sess, key, klen, (rill__sess_t){op->start, op->left ? 1 : 0}))
        return RILL_ENOMEM;
    if (!emits_final(t) && (t->opts.on_emit || t->opts.emit_topic))
        emit_update(tp, key, klen, op->start, op->start + t->opts.window_size_ms);
    return RILL_OK;
}

/* A write at event time @p ts to a sliding table: the windows it makes (from
 * the windows holding the same other records) and the ones holding it.  Late
 * (dropped) when the window ending at it is closed: every other one it touches
 * starts later. */
static rill_err_t slide_write(rill_tpart_t *tp, const void *key, size_t klen, int64_t ts,
                              sess_op_t kind, int64_t by, const void *value,
                              int64_t *result) {
    rill_table_t *t = tp->table;
    rill__window_t win_ = win(t);
    int64_t diff = slide_diff(t);
    if (rill__window_closed(&win_, ts - diff, tp->stream_time)) {
        t->late_dropped++;
        if (t->opts.on_late)
            t->opts.on_late(t, key, klen, ts - diff, ts, t->opts.on_late_opaque);
        return RILL_OK;
    }
    slide_buf_t b;
    rill_err_t rc = slide_windows(tp, key, klen, ts, &b);
    if (rc != RILL_OK) return rc;
    size_t sz = rill__value_csize(t->opts.value_type);
    max_align_t tmp0[4]; /* a set's value for the windows it does not add to */
    void *tmp = kind == SESS_INCR   ? NULL
                : sz <= sizeof tmp0 ? memset(tmp0, 0, sizeof tmp0)
                                    : calloc(1, sz);
    int64_t res = 0;
    if (kind != SESS_INCR && !tmp)
        rc = RILL_ENOMEM;
    else {
        size_t m = rill__slide_plan(b.w, b.n, diff, ts, b.r, b.ops);
        for (size_t i = 0; i < m && rc == RILL_OK; i++)
            rc = slide_apply(tp, key, klen, b.w, b.n, &b.ops[i], kind, by, value, tmp,
                             ts - diff, &res);
    }
    if (rc == RILL_OK && result) *result = res;
    if (tmp != (void *)tmp0) free(tmp);
    slide_buf_free(&b);
    return rc;
}

/* emit=update with somewhere to emit to: window @p ws of @p key was just written
 * (t->kbuf is its store key). */
static void emit_update(rill_tpart_t *tp, const void *key, size_t klen, int64_t ws,
                        int64_t we) {
    rill_table_t *t = tp->table;
    rill_wcache_entry_t *e = rill__wcache_find(&tp->dirty, t->kbuf.data, t->kbuf.len);
    if (!e) return; /* written through: see the overlay */
    const rill_type_t *vt = t->opts.value_type;
    size_t sz = rill__value_csize(vt);
    void *val = calloc(1, sz ? sz : 1);
    if (!val) return;
    if (e->tomb) { /* a delete: the default value */
        value_default(t, val);
        if (t->opts.on_emit)
            t->opts.on_emit(t, key, klen, ws, we, val, t->opts.on_emit_opaque);
        rill_value_clear(vt, val);
    } else {
        rill_buf_t v = RILL_BUF_INIT; /* the callback may write the table */
        if (rill_buf_append(&v, e->val, e->vlen) == RILL_OK)
            emit_window(t, key, klen, ws, we, v.data ? (const void *)v.data : "", v.len,
                        val);
        rill_buf_free(&v);
    }
    free(val);
}

/* An event of time @p ts reached @p tp: stream time, idle clock, closing. */
static void stream_time_advance(rill_tpart_t *tp, int64_t ts) {
    meta_load(tp);
    tp->last_event_wall = rill_now_ms();
    if (ts <= tp->stream_time) return;
    tp->stream_time = ts;
    if (emits_final(tp->table) && !tp->table->session)
        close_windows(tp); /* sessions: at commits (a pass visits every session) */
}

/* Every commit: idle partitions' stream time follows the wall clock
 * (window_idle_ms), and what it closed is emitted. */
static void stream_time_tick(rill_tpart_t *tp) {
    rill_table_t *t = tp->table;
    if (!windowed(t) || tp->state != RILL_TP_ACTIVE) return;
    meta_load(tp);
    if (t->opts.window_idle_ms && tp->stream_time != INT64_MIN) {
        int64_t now = rill_now_ms();
        int64_t st = rill__window_idle_time(tp->stream_time, tp->last_event_wall, now,
                                            t->opts.window_idle_ms);
        if (st > tp->stream_time) {
            tp->stream_time = st;
            tp->last_event_wall = now; /* moved up to now */
        }
    }
    close_windows(tp);
}

/* ---- public reads and writes
 * ------------------------------------------------------------ */

static rill_err_t get_at(rill_table_t *t, const rill_event_t *ev, const void *key,
                         size_t klen, int64_t ts, void *out) {
    t->ops[RILL__TOP_GET]++;
    rill_err_t rc = RILL_OK;
    rill_tpart_t *tp = owned_part(t, ev, key, klen, false, &rc);
    if (!tp) return rc;
    if (t->session || t->sliding) {
        bool found = false;
        if (t->session ? sess_at(tp, key, klen, ts) : slide_at(tp, key, klen, ts))
            return read_skey(tp, out, &found);
        value_default(t, out);
        return RILL_OK;
    }
    rill__window_t w = win(t);
    if ((rc = store_key(t, key, klen, windowed(t) ? rill__window_last(&w, ts) : 0)) !=
        RILL_OK)
        return rc;
    bool found;
    return read_skey(tp, out, &found);
}

rill_err_t rill__table_find(rill_table_t *t, const rill_event_t *ev, const void *key,
                            size_t klen, void *out, bool *found) {
    t->ops[RILL__TOP_GET]++;
    *found = false;
    rill_err_t rc = RILL_OK;
    rill_tpart_t *tp = owned_part(t, ev, key, klen, false, &rc);
    if (!tp) return rc;
    rill__window_t w = win(t);
    int64_t ts = event_time(ev);
    if ((t->session && !sess_at(tp, key, klen, ts)) ||
        (t->sliding && !slide_at(tp, key, klen, ts))) {
        value_default(t, out);
        return RILL_OK;
    }
    if (!t->session && !t->sliding &&
        (rc = store_key(t, key, klen, windowed(t) ? rill__window_last(&w, ts) : 0)) !=
            RILL_OK)
        return rc;
    return read_skey(tp, out, found);
}

/* Partition @p p of @p t, when this worker owns it and it is current. */
static rill_tpart_t *part_at(rill_table_t *t, int32_t p, rill_err_t *rc) {
    if (!t->parts || p < 0 || p >= t->partitions) {
        rill__app_seterr(t->app, "table '%s': no partition %d here", t->name, p);
        *rc = t->parts ? RILL_EINVAL : RILL_ESTATE;
        return NULL;
    }
    rill_tpart_t *tp = &t->parts[p];
    if (tp->state != RILL_TP_ACTIVE) {
        rill__app_seterr(t->app, "table '%s': partition %d is not owned by this worker",
                         t->name, p);
        *rc = RILL_ENOTOWNER;
        return NULL;
    }
    return tp;
}

rill_err_t rill__table_find_at(rill_table_t *t, int32_t p, const void *key, size_t klen,
                               void *out, bool *found) {
    t->ops[RILL__TOP_GET]++;
    *found = false;
    rill_err_t rc = RILL_OK;
    rill_tpart_t *tp = part_at(t, p, &rc);
    if (!tp) return rc;
    if ((rc = store_key(t, key, klen, 0)) != RILL_OK) return rc;
    return read_skey(tp, out, found);
}

rill_err_t rill__table_write_at(rill_table_t *t, int32_t p, const void *key, size_t klen,
                                const void *value) {
    t->ops[value ? RILL__TOP_SET : RILL__TOP_DELETE]++;
    rill_err_t rc = RILL_OK;
    rill_tpart_t *tp = part_at(t, p, &rc);
    if (!tp) return rc;
    if ((rc = store_key(t, key, klen, 0)) != RILL_OK) return rc;
    if (value && (rc = value_encode(t, value)) != RILL_OK) return rc;
    if ((rc = write_skey(tp, !value)) == RILL_OK && t->opts.ttl_ms) ttl_touch(tp, !value);
    return rc == RILL_OK ? observed(t, p, key, klen) : rc;
}

rill_err_t rill_table_get(rill_table_t *t, const rill_event_t *ev, const void *key,
                          size_t klen, void *value_out) {
    return get_at(t, ev, key, klen, event_time(ev), value_out);
}

rill_err_t rill_table_get_now(rill_table_t *t, const rill_event_t *ev, const void *key,
                              size_t klen, void *value_out) {
    return get_at(t, ev, key, klen, rill_now_ms(), value_out);
}

rill_err_t rill_table_get_delta(rill_table_t *t, const rill_event_t *ev, const void *key,
                                size_t klen, int64_t ago_ms, void *value_out) {
    return get_at(t, ev, key, klen, event_time(ev) - ago_ms, value_out);
}

rill_err_t rill_table_get_window(rill_table_t *t, const rill_event_t *ev, const void *key,
                                 size_t klen, int64_t window_start_ms, void *value_out) {
    t->ops[RILL__TOP_GET]++;
    rill_err_t rc = RILL_OK;
    rill_tpart_t *tp = owned_part(t, ev, key, klen, false, &rc);
    if (!tp) return rc;
    if (t->session || t->sliding) {
        const rill__sess_t *ss =
            rill__sess_get(sess_index(tp), key, klen, window_start_ms);
        if (!ss) {
            value_default(t, value_out);
            return RILL_OK;
        }
        rc = sess_key(t, key, klen, *ss);
    } else
        rc = store_key(t, key, klen, window_start_ms);
    if (rc != RILL_OK) return rc;
    bool found;
    return read_skey(tp, value_out, &found);
}

/* Event time @p ts is refused by windowed tables: counted, logged once. */
static bool bad_time(rill_table_t *t, int64_t ts) {
    if (!rill__window_bad_time(ts, rill_now_ms())) return false;
    if (t->bad_timestamps++ == 0)
        rill__log(t->app, RILL_LOG_WARN,
                  "table '%s': an event of timestamp %lld (none, before the epoch "
                  "or more than a day ahead) is not written to any window; such "
                  "events are counted (stats.bad_timestamps), logged once",
                  t->name, (long long)ts);
    return true;
}

/* A write to a session or sliding table, at the event's time. */
static rill_err_t session_op(rill_table_t *t, const rill_event_t *ev, const void *key,
                             size_t klen, sess_op_t op, int64_t by, const void *value,
                             int64_t *result) {
    rill_err_t rc = RILL_OK;
    rill_tpart_t *tp = owned_part(t, ev, key, klen, true, &rc);
    if (!tp) return rc;
    int64_t ts = event_time(ev);
    if (bad_time(t, ts)) return RILL_OK;
    stream_time_advance(tp, ts);
    if (t->sliding) return slide_write(tp, key, klen, ts, op, by, value, result);
    return session_write(tp, key, klen, ts, op, by, value, result);
}

static rill_err_t del_one(rill_tpart_t *tp, int64_t wstart, void *arg);

/* Apply @p fn to every window of the event's time (once for plain tables). */
typedef rill_err_t (*win_fn)(rill_tpart_t *tp, int64_t wstart, void *arg);

/* @p fn on key @p key of partition @p tp (owned_part's, just now) of a table without
 * windows. */
static rill_err_t plain_write(rill_table_t *t, rill_tpart_t *tp, const void *key,
                              size_t klen, win_fn fn, void *arg) {
    rill_err_t rc = store_key(t, key, klen, 0);
    if (rc != RILL_OK) return rc;
    /* the store key is the key: its hash placed it (owned_part) */
    t->kbuf_hash = t->key_hash;
    t->kbuf_hashed = !t->opts.global;
    rc = fn(tp, -1, arg);
    t->kbuf_hashed = false;
    if (rc == RILL_OK && t->opts.ttl_ms) ttl_touch(tp, fn == del_one);
    return rc == RILL_OK ? observed(t, tp->partition, key, klen) : rc;
}

static rill_err_t each_window(rill_table_t *t, const rill_event_t *ev, const void *key,
                              size_t klen, win_fn fn, void *arg) {
    rill_err_t rc = RILL_OK;
    rill_tpart_t *tp = owned_part(t, ev, key, klen, true, &rc);
    if (!tp) return rc;
    if (!windowed(t)) return plain_write(t, tp, key, klen, fn, arg);
    int64_t ts = event_time(ev);
    if (bad_time(t, ts)) return RILL_OK;
    stream_time_advance(tp, ts);
    rill__window_t w = win(t);
    /* oldest first, so the current (latest) window is written last */
    int64_t first = rill__window_first(&w, ts), last = rill__window_last(&w, ts);
    for (int64_t s = first; s <= last; s += t->opts.window_step_ms) {
        if (rill__window_closed(&w, s, tp->stream_time)) { /* past its grace: late */
            t->late_dropped++;
            if (t->opts.on_late)
                t->opts.on_late(t, key, klen, s, ts, t->opts.on_late_opaque);
            continue;
        }
        if ((rc = store_key(t, key, klen, s)) != RILL_OK) return rc;
        if ((rc = fn(tp, s, arg)) != RILL_OK) return rc;
        if (!emits_final(t) && (t->opts.on_emit || t->opts.emit_topic))
            emit_update(tp, key, klen, s, s + t->opts.window_size_ms);
    }
    return RILL_OK;
}

typedef struct incr_arg {
    int64_t by, result;
} incr_arg_t;

static rill_err_t incr_one(rill_tpart_t *tp, int64_t wstart, void *arg) {
    (void)wstart;
    incr_arg_t *a = arg;
    rill_table_t *t = tp->table;
    int64_t v;
    bool found;
    rill_wcache_entry_t *e;
    rill_err_t rc = read_skey_at(tp, &v, &found, &e);
    if (rc != RILL_OK) return rc;
    v += a->by;
    a->result = v;
    if ((rc = value_encode(t, &v)) != RILL_OK) return rc;
    return write_skey_at(tp, false, e);
}

rill_err_t rill_table_incr(rill_table_t *t, const rill_event_t *ev, const void *key,
                           size_t klen, int64_t by, int64_t *result) {
    t->ops[RILL__TOP_INCR]++;
    if (t->opts.value_type->kind != RILL_T_INT64) {
        rill__app_seterr(t->app, "table '%s': incr needs int64 values", t->name);
        return RILL_EINVAL;
    }
    if (t->session || t->sliding)
        return session_op(t, ev, key, klen, SESS_INCR, by, NULL, result);
    if (t->incr_inplace) {
        /* A counter already written since the last flush: its 8 bytes in the write
         * cache are the value, and the flush sends the latest to the changelog
         * (coalesced), so the increment is in place.  Everything else (first write
         * of the key, a tombstone, per-write changelogs) goes the general way. */
        rill_err_t rc = RILL_OK;
        rill_tpart_t *tp = owned_part(t, ev, key, klen, true, &rc);
        if (!tp) return rc;
        rill_wcache_entry_t *e = rill__wcache_find_h(&tp->dirty, key, klen, t->key_hash);
        if (e && !e->tomb && e->vlen == 8 && coalesced(t->app) && !t->nobs) {
            int64_t v = (int64_t)((uint64_t)rill__be64_get(e->val) + (uint64_t)by);
            rill__be64_put(e->val, (uint64_t)v);
            if (result) *result = v;
            return RILL_OK;
        }
        incr_arg_t a = {by, 0}; /* placed already: owned_part once per write */
        rc = plain_write(t, tp, key, klen, incr_one, &a);
        if (rc == RILL_OK && result) *result = a.result;
        return rc;
    }
    incr_arg_t a = {by, 0};
    rill_err_t rc = each_window(t, ev, key, klen, incr_one, &a);
    if (rc == RILL_OK && result) *result = a.result;
    return rc;
}

static rill_err_t set_one(rill_tpart_t *tp, int64_t wstart, void *arg) {
    (void)wstart;
    rill_err_t rc = value_encode(tp->table, arg);
    return rc != RILL_OK ? rc : write_skey(tp, false);
}

rill_err_t rill_table_set(rill_table_t *t, const rill_event_t *ev, const void *key,
                          size_t klen, const void *value) {
    if (!value) return rill_table_del(t, ev, key, klen);
    t->ops[RILL__TOP_SET]++;
    if (t->session || t->sliding)
        return session_op(t, ev, key, klen, SESS_SET, 0, value, NULL);
    return each_window(t, ev, key, klen, set_one, (void *)value);
}

static rill_err_t del_one(rill_tpart_t *tp, int64_t wstart, void *arg) {
    (void)wstart;
    (void)arg;
    return write_skey(tp, true);
}

rill_err_t rill_table_del(rill_table_t *t, const rill_event_t *ev, const void *key,
                          size_t klen) {
    t->ops[RILL__TOP_DELETE]++;
    if (t->sliding) {
        rill__app_seterr(t->app,
                         "table '%s': sliding windows cannot delete a key (a record's "
                         "windows are derived from the windows of the records around it)",
                         t->name);
        return RILL_EINVAL;
    }
    if (t->session) return session_op(t, ev, key, klen, SESS_DEL, 0, NULL, NULL);
    return each_window(t, ev, key, klen, del_one, NULL);
}

/* ---- flush and expiry
 * -------------------------------------------------------------------- */

rill_err_t rill__tpart_flush(rill_tpart_t *tp) {
    rill_table_t *t = tp->table;
    rill_store_t *st = t->app->store;
    if (!tp->sp) return RILL_OK;
    /* every flush (a commit's, a stats or foreach call's) checks the lease first:
     * a stall drops the partition, so nothing stale is written below */
    if (!rill__lease_ok(t->app) || tp->state != RILL_TP_ACTIVE) return RILL_ENOTOWNER;
    if (t->app->eos && !t->app->txn_flush_ok) return RILL_OK; /* not committed yet */
    if (!tp->dirty.n && tp->cl_next == tp->store_offset) return RILL_OK;
    if (coalesced(t->app) && tp->dirty.n) {
        rill_err_t rc = send_dirty(tp);
        if (rc == RILL_ENOTOWNER) return rc; /* lost meanwhile: released, unflushed */
        if (rc != RILL_OK) {
            rill_app_fail(t->app, rc,
                          "table '%s' partition %d: changelog write failed: %s", t->name,
                          tp->partition, rill_app_errmsg(t->app));
            return rc;
        }
    }
    rill_store_op_t *ops = tp->dirty.n ? malloc(tp->dirty.n * sizeof *ops) : NULL;
    if (tp->dirty.n && !ops) return RILL_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < tp->dirty.cap && n < tp->dirty.n; i++) {
        rill_wcache_entry_t *e = &tp->dirty.slots[i];
        if (!e->used) continue;
        ops[n++] = (rill_store_op_t){e->tomb ? RILL_STORE_DEL : RILL_STORE_PUT, e->key,
                                     e->klen, e->val, e->vlen};
    }
    tp->st_ok = false; /* the store changes */
    rill_err_t rc =
        rill__st_write(st, tp->sp, ops, n, tp->cl_next >= 0 ? tp->cl_next : -1);
    free(ops);
    if (rc != RILL_OK) {
        rill_app_fail(t->app, rc, "table '%s' partition %d: store write failed", t->name,
                      tp->partition);
        return rc;
    }
    rill__wcache_clear(&tp->dirty);
    tp->store_offset = tp->cl_next;
    return RILL_OK;
}

/* Remove the windows of @p tp that expired: callback, store delete, tombstone. */
static void expire_windows(rill_tpart_t *tp) {
    rill_table_t *t = tp->table;
    if (!windowed(t) || tp->state != RILL_TP_ACTIVE || tp->stream_time == INT64_MIN)
        return;
    if (t->session) {
        expire_sessions(tp);
        return;
    }
    rill__window_t w = win(t);
    uint8_t end[WKEY]; /* windows starting at or before the cutoff */
    rill__window_key_put(end, rill__window_cutoff(&w, tp->stream_time) + 1);
    expiry_scan_t x = {0};
    rill_err_t src =
        rill__st_scan(t->app->store, tp->sp, NULL, 0, end, WKEY, collect_expired, &x);
    if (src != RILL_OK) /* what was collected still expires; the rest next time */
        rill_log(t->app->log, RILL_LOG_WARN, t->app->store->name,
                 "table '%s' partition %d: scanning expired windows: %s", t->name,
                 tp->partition, rill_err2str(src));
    if (!x.n) return;
    const rill_type_t *vt = t->opts.value_type;
    size_t sz = rill__value_csize(vt);
    void *val = calloc(1, sz ? sz : 1);
    for (size_t i = 0; i < x.n; i++) {
        expired_t *e = &x.v[i];
        if (e->klen < WKEY || (t->sliding && e->klen < 2 * WKEY)) continue;
        size_t kl = e->klen - WKEY - (t->sliding ? WKEY : 0); /* sliding: mark */
        int64_t ws = rill__window_key_get(e->key);
        if (t->opts.on_window_close && val &&
            value_decode(t, e->val, e->vlen, val) == RILL_OK) {
            t->opts.on_window_close(t, e->key + WKEY, kl, ws, ws + t->opts.window_size_ms,
                                    val, t->opts.on_window_close_opaque);
            rill_value_clear(vt, val);
        }
        if (t->sliding) rill__sess_del(&tp->sess, e->key + WKEY, kl, ws);
        rill_buf_reset(&t->kbuf);
        rill_buf_append(&t->kbuf, e->key, e->klen);
        write_skey(tp, true);
    }
    free(val);
    for (size_t i = 0; i < x.n; i++)
        free(x.v[i].key);
    free(x.v);
    rill__tpart_flush(tp);
}

/* Every commit: expire windows, write overlays to the store with their offsets. */
void rill__tables_flush(rill_app_t *app) {
    for (rill_table_t *t = app->tables; t; t = t->next) {
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            rill_tpart_t *tp = &t->parts[p];
            if (tp->state != RILL_TP_ACTIVE) continue;
            /* exactly_once: closing and expiry write to the changelog (and emits to
             * topics), so only while a transaction is open (not after the final
             * commit of a stop) */
            bool writes = !app->eos || app->txn_open;
            if (writes) stream_time_tick(tp);
            if (writes) ttl_sweep(tp);
            rill__tpart_flush(tp);
            if (writes) expire_windows(tp);
        }
    }
}

void rill__tables_discard(rill_app_t *app) {
    for (rill_table_t *t = app->tables; t; t = t->next)
        for (int32_t p = 0; t->parts && p < t->partitions; p++) {
            rill_tpart_t *tp = &t->parts[p];
            if (tp->state != RILL_TP_ACTIVE) continue;
            rill__wcache_clear(&tp->dirty);
            tp->cl_next = tp->store_offset;
            tp->sess_loaded = tp->meta_loaded = false; /* back to the store's */
            tp->discards++;
        }
}

/* ---- iteration and stats
 * ---------------------------------------------------------------- */

typedef struct visit {
    rill_table_t *t;
    rill_table_visit_fn fn;
    void *opaque;
    void *val;
    int stop;
} visit_t;

static int visit_one(const void *key, size_t klen, const void *v, size_t vlen,
                     void *opaque) {
    visit_t *x = opaque;
    rill_table_t *t = x->t;
    int64_t ws = -1;
    if (windowed(t)) {
        if (klen < WKEY) return 0;
        ws = rill__window_key_get(key);
        key = (const uint8_t *)key + WKEY;
        klen -= WKEY;
        if (t->session || t->sliding) {
            if (klen < WKEY) return 0;
            klen -= WKEY; /* the session's end, the sliding window's mark */
        }
    }
    if (value_decode(t, v, vlen, x->val) != RILL_OK) return 0;
    x->stop = x->fn(key, klen, ws, x->val, x->opaque);
    rill_value_clear(t->opts.value_type, x->val);
    return x->stop;
}

rill_err_t rill_table_foreach(rill_table_t *t, rill_table_visit_fn fn, void *opaque) {
    t->ops[RILL__TOP_FOREACH]++;
    if (!t->parts) return RILL_ESTATE;
    const rill_type_t *vt = t->opts.value_type;
    size_t sz = rill__value_csize(vt);
    visit_t x = {t, fn, opaque, calloc(1, sz ? sz : 1), 0};
    if (!x.val) return RILL_ENOMEM;
    for (int32_t p = 0; p < t->partitions && !x.stop; p++) {
        rill_tpart_t *tp = &t->parts[p];
        bool global_copy = t->opts.global && tp->state == RILL_TP_STANDBY && tp->sp;
        if (tp->state != RILL_TP_ACTIVE && !global_copy) continue;
        if (!global_copy) rill__tpart_flush(tp);
        rill_err_t src =
            rill__st_scan(t->app->store, tp->sp, NULL, 0, NULL, 0, visit_one, &x);
        if (src != RILL_OK) {
            free(x.val);
            rill__app_seterr(t->app, "table '%s' partition %d: store scan: %s", t->name,
                             p, rill_err2str(src));
            return src;
        }
    }
    free(x.val);
    return RILL_OK;
}

/* Live keys and store bytes of @p tp without flushing it: the store's figures
 * (asked once after each change of the store, tp->st), plus the keys its write
 * cache adds, minus those it deletes (each entry's
 * presence in the store looked up once, at the first count after its write). */
static void count_live(rill_tpart_t *tp, uint64_t *keys, uint64_t *bytes) {
    rill_table_t *t = tp->table;
    rill_store_t *st = t->app->store;
    if (!tp->sp) return;
    if (!tp->st_ok && rill__st_stats(st, tp->sp, &tp->st) != RILL_OK) return;
    tp->st_ok = true;
    rill_buf_t got = RILL_BUF_INIT;
    int64_t k = (int64_t)tp->st.keys;
    uint64_t b = tp->st.bytes;
    for (size_t i = 0; i < tp->dirty.cap && tp->dirty.n; i++) {
        rill_wcache_entry_t *e = &tp->dirty.slots[i];
        if (!e->used) continue;
        if (e->in_store < 0) {
            rill_err_t rc = rill__st_get(st, tp->sp, e->key, e->klen, &got);
            if (rc == RILL_OK || rc == RILL_ENOENT) e->in_store = rc == RILL_OK;
        }
        if (e->in_store < 0) continue; /* the store could not say: not counted */
        if (emits_final(t) && e->klen == sizeof META_KEY &&
            !memcmp(e->key, META_KEY, sizeof META_KEY)) {
            k -= e->in_store; /* not a key of the table; flushed below, not yet here */
            continue;
        }
        if (!e->tomb && !e->in_store) {
            k++;
            b += e->klen + e->vlen;
        } else if (e->tomb && e->in_store) {
            k--;
        }
    }
    /* META_KEY, when the store has it and the cache does not hold it */
    if (emits_final(t) && !rill__wcache_find(&tp->dirty, META_KEY, sizeof META_KEY) &&
        rill__st_get(st, tp->sp, META_KEY, sizeof META_KEY, &got) == RILL_OK)
        k--;
    rill_buf_free(&got);
    *keys += k > 0 ? (uint64_t)k : 0;
    *bytes += b;
}

static rill_err_t table_stats(rill_table_t *t, rill_table_stats_t *out, bool flush) {
    memset(out, 0, sizeof *out);
    if (!t->parts) return RILL_ESTATE;
    out->recovered = t->recovered;
    out->standby_applied = t->standby_applied;
    out->mismatched_writes = t->mismatched_writes;
    out->join_misses = t->join_misses;
    out->late_dropped = t->late_dropped;
    out->bad_timestamps = t->bad_timestamps;
    out->ttl_expired = t->ttl_expired;
    for (int32_t p = 0; p < t->partitions; p++) {
        rill_tpart_t *tp = &t->parts[p];
        if (tp->state == RILL_TP_STANDBY) out->standby++;
        if (tp->state != RILL_TP_ACTIVE) continue;
        out->owned++;
        if (!flush) {
            count_live(tp, &out->keys, &out->bytes);
            continue;
        }
        rill__tpart_flush(tp);
        rill_store_stats_t s;
        if (rill__st_stats(t->app->store, tp->sp, &s) == RILL_OK) {
            if (emits_final(t) && s.keys && tp->closed_upto != INT64_MIN)
                s.keys--; /* META_KEY */
            out->keys += s.keys;
            out->bytes += s.bytes;
        }
    }
    return RILL_OK;
}

rill_err_t rill_table_stats(rill_table_t *t, rill_table_stats_t *out) {
    return table_stats(t, out, true);
}

rill_err_t rill__table_stats_live(rill_table_t *t, rill_table_stats_t *out) {
    return table_stats(t, out, false);
}

void rill__tables_list(rill_app_t *app) {
    printf("%-30s %-10s %-10s %s\n", "table", "partitions", "values", "windows");
    for (rill_table_t *t = app->tables; t; t = t->next) {
        char w[96] = "-";
        if (t->session)
            snprintf(w, sizeof w, "session gap=%lldms expires=%lldms",
                     (long long)t->opts.window_gap_ms,
                     (long long)t->opts.window_expires_ms);
        else if (t->sliding)
            snprintf(w, sizeof w, "sliding diff=%lldms expires=%lldms",
                     (long long)t->opts.window_diff_ms,
                     (long long)t->opts.window_expires_ms);
        else if (windowed(t))
            snprintf(w, sizeof w, "%s size=%lldms step=%lldms expires=%lldms",
                     t->opts.window_step_ms == t->opts.window_size_ms ? "tumbling"
                                                                      : "hopping",
                     (long long)t->opts.window_size_ms, (long long)t->opts.window_step_ms,
                     (long long)t->opts.window_expires_ms);
        char parts[16] = "like source";
        if (t->changelog->partitions || t->opts.partitions)
            snprintf(parts, sizeof parts, "%d",
                     t->changelog->partitions ? t->changelog->partitions
                                              : t->opts.partitions);
        printf("%-30s %-10s %-10s %s\n", t->name, parts, t->vser_name, w);
    }
}
