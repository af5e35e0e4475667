/* Stream-table joins (enrichment): a filter step looks the event's key up in the
 * table (the event's own table partition) and skips inner-join misses; a map step
 * builds the joined value from the event and the row.  Layer 6
 * (docs/architecture.md): it composes two features, the stream builder and the
 * table, which may not call each other. */
#include <stdlib.h>
#include <string.h>

#include "record_int.h"
#include "stream_int.h"
#include "table_int.h"

static size_t value_size(const rill_type_t *t) {
    size_t sz = rill__value_csize(t);
    return sz ? sz : 1;
}

static void row_clear(rill__join_t *j) {
    if (!j->found) return;
    rill_value_clear(j->table->opts.value_type, j->row);
    memset(j->row, 0, value_size(j->table->opts.value_type));
    j->found = false;
}

/* The filter step: the lookup.  A failed read (the partition is not ours) is left
 * to the map step, which fails the event with it. */
static rill_err_t join_lookup(const rill_event_t *ev, bool *keep, void *opaque) {
    rill__join_t *j = opaque;
    const void *k = ev->msg.key;
    size_t klen = ev->msg.key_len;
    if (j->key) {
        rill_buf_reset(&j->keybuf);
        rill_err_t rc = j->key(ev, &j->keybuf, j->key_opaque);
        if (rc == RILL_ENOENT) { /* the key function drops it */
            *keep = false;
            return RILL_OK;
        }
        if (rc != RILL_OK) return rc;
        k = j->keybuf.data ? j->keybuf.data : (const uint8_t *)"";
        klen = j->keybuf.len;
    }
    row_clear(j);
    const rill_type_t *vt = j->table->opts.value_type;
    if (vt->kind == RILL_T_RECORD) rill_record_init(vt->record, j->row);
    bool found = false;
    j->err = rill__table_find(j->table, ev, k, klen, j->row, &found);
    j->found = true; /* the row buffer holds a value (the default when absent) */
    if (j->err != RILL_OK) return RILL_OK;
    if (!found) {
        rill_value_clear(vt, j->row);
        memset(j->row, 0, value_size(vt));
        j->found = false;
        if (j->mode == RILL_JOIN_INNER) {
            j->table->join_misses++;
            *keep = false;
            return RILL_OK;
        }
    }
    return RILL_OK;
}

static rill_err_t join_map(const rill_event_t *ev, void *out, void *opaque) {
    rill__join_t *j = opaque;
    if (j->err != RILL_OK) {
        rill_err_t rc = j->err;
        j->err = RILL_OK;
        row_clear(j);
        return rc;
    }
    rill_err_t rc = j->fn(ev, j->found ? j->row : NULL, out, j->opaque);
    row_clear(j);
    return rc;
}

rill_stream_t *rill_stream_join_table(rill_stream_t *s, rill_table_t *t,
                                      rill_join_mode_t mode, rill_key_fn key_fn,
                                      void *key_opaque, const rill_type_t *out_type,
                                      rill_join_fn fn, void *opaque) {
    if (!s) return NULL;
    if (!t || !fn || !out_type || (mode != RILL_JOIN_INNER && mode != RILL_JOIN_LEFT)) {
        rill__app_deferr(s->app,
                         "rill_stream_join_table: a table, RILL_JOIN_INNER or "
                         "RILL_JOIN_LEFT, an out type and a join function are required");
        return NULL;
    }
    rill__join_t *j = calloc(1, sizeof *j);
    if (!j || !(j->row = calloc(1, value_size(t->opts.value_type)))) {
        free(j);
        rill__app_deferr(s->app, "out of memory");
        return NULL;
    }
    *j = (rill__join_t){.table = t,
                        .source = s->source,
                        .mode = (int)mode,
                        .key = key_fn,
                        .key_opaque = key_opaque,
                        .fn = fn,
                        .opaque = opaque,
                        .row = j->row,
                        .next = t->joins};
    t->joins = j;
    s = rill_stream_filter(s, join_lookup, j);
    return rill_stream_map(s, out_type, join_map, j);
}
