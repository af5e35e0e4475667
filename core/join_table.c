/* Table-table joins (issue 14, item 3; Kafka Streams' KTable-KTable join): a table
 * whose value under each key is derived from the values of two tables under that
 * key.  Each input table calls the join after every write made to it (an observer,
 * table.c), with the partition written; the join reads both inputs in that
 * partition and writes or deletes the key in its own table there.  The joined
 * table is an ordinary changelogged table: its recovery and standbys read its own
 * changelog, so applies of the inputs' changelogs need not (and do not) trigger the
 * join.  Layer 6 (docs/architecture.md): it composes tables with each other. */
#include <stdlib.h>
#include <string.h>

#include "record_int.h"
#include "table_int.h"

typedef struct tjoin {
    rill_table_t *in[2], *out; /* left, right; the joined table */
    rill_table_join_opts_t o;
    void *val[3]; /* C values of left, right and out */
    size_t size[3];
} tjoin_t;

static void tjoin_free(void *opaque) {
    tjoin_t *j = opaque;
    if (!j) return;
    for (int i = 0; i < 3; i++)
        free(j->val[i]);
    free(j);
}

static size_t csize(const rill_type_t *t) {
    size_t sz = rill__value_csize(t);
    return sz ? sz : 1;
}

static const rill_type_t *type_of(const tjoin_t *j, int i) {
    return (i < 2 ? j->in[i] : j->out)->opts.value_type;
}

static void val_init(tjoin_t *j, int i) {
    const rill_type_t *vt = type_of(j, i);
    memset(j->val[i], 0, j->size[i]);
    if (vt->kind == RILL_T_RECORD) rill_record_init(vt->record, j->val[i]);
}

static void val_clear(tjoin_t *j, int i) {
    rill_value_clear(type_of(j, i), j->val[i]);
    memset(j->val[i], 0, j->size[i]);
}

/* Whether the join has a row when the left and right rows are there or not. */
static bool has_row(const tjoin_t *j, bool l, bool r) {
    switch (j->o.mode) {
    case RILL_JOIN_LEFT:
        return l;
    case RILL_JOIN_OUTER:
        return l || r;
    default:
        return l && r;
    }
}

/* Delete @p key from the joined table's partition @p p if it is there. */
static rill_err_t drop(tjoin_t *j, int32_t p, const void *key, size_t klen) {
    bool found = false;
    val_init(j, 2);
    rill_err_t rc = rill__table_find_at(j->out, p, key, klen, j->val[2], &found);
    val_clear(j, 2);
    if (rc != RILL_OK || !found) return rc;
    return rill__table_write_at(j->out, p, key, klen, NULL);
}

/* Key @p key of an input was written in partition @p p: recompute the joined row. */
static rill_err_t on_write(rill_table_t *t, int32_t p, const void *key, size_t klen,
                           void *opaque) {
    (void)t;
    tjoin_t *j = opaque;
    bool found[2] = {false, false};
    rill_err_t rc = RILL_OK;
    for (int i = 0; i < 2 && rc == RILL_OK; i++) {
        val_init(j, i);
        rc = rill__table_find_at(j->in[i], p, key, klen, j->val[i], &found[i]);
    }
    if (rc == RILL_OK && has_row(j, found[0], found[1])) {
        val_init(j, 2);
        rc = j->o.fn(key, klen, found[0] ? j->val[0] : NULL, found[1] ? j->val[1] : NULL,
                     j->val[2], j->o.opaque);
        if (rc == RILL_OK) rc = rill__table_write_at(j->out, p, key, klen, j->val[2]);
        val_clear(j, 2);
        if (rc == RILL_ENOENT) rc = drop(j, p, key, klen); /* fn: no row */
    } else if (rc == RILL_OK)
        rc = drop(j, p, key, klen);
    val_clear(j, 0);
    val_clear(j, 1);
    return rc;
}

/* Why input @p t cannot be joined, or NULL. */
static const char *unjoinable(const rill_table_t *t) {
    if (t->opts.window_size_ms > 0 || t->session || t->sliding)
        return "is windowed (windowed tables cannot be joined yet)";
    if (t->opts.global) return "is a GlobalTable";
    return NULL;
}

rill_table_t *rill_app_table_join(rill_app_t *app, const char *name, rill_table_t *left,
                                  rill_table_t *right,
                                  const rill_table_join_opts_t *opts) {
    if (!app) return NULL; /* rill_app_new failed: its error says why */
    if (!name || !*name || !left || !right || !opts || !opts->fn || !opts->value_type ||
        (opts->mode != 0 && opts->mode != RILL_JOIN_INNER &&
         opts->mode != RILL_JOIN_LEFT && opts->mode != RILL_JOIN_OUTER)) {
        rill__app_deferr(app,
                         "table-table join '%s': a name, two tables, opts with a join "
                         "function, a value type and RILL_JOIN_INNER, _LEFT or _OUTER "
                         "are required",
                         name ? name : "");
        return NULL;
    }
    if (left == right) {
        rill__app_deferr(app, "table-table join '%s': table '%s' is joined with itself",
                         name, left->name);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        rill_table_t *t = i ? right : left;
        const char *why = unjoinable(t);
        if (why) {
            rill__app_deferr(app, "table-table join '%s': table '%s' %s", name, t->name,
                             why);
            return NULL;
        }
    }
    rill_table_opts_t to = {.value_type = opts->value_type,
                            .value_serializer = opts->value_serializer,
                            .source = left->opts.source,
                            .partitions = left->opts.partitions};
    rill_table_t *out = rill_app_table(app, name, &to);
    if (!out) return NULL;
    tjoin_t *j = calloc(1, sizeof *j);
    if (j) *j = (tjoin_t){.in = {left, right}, .out = out, .o = *opts};
    for (int i = 0; j && i < 3; i++)
        if (!(j->val[i] = calloc(1, j->size[i] = csize(type_of(j, i))))) {
            tjoin_free(j);
            j = NULL;
        }
    if (!j || !(out->join_name = strdup(name))) {
        tjoin_free(j);
        rill__app_deferr(app, "out of memory");
        return NULL;
    }
    if (!j->o.mode) j->o.mode = RILL_JOIN_INNER;
    out->copart[0] = left;
    out->copart[1] = right;
    /* one state, freed with the left table; the right one's observer borrows it */
    if (rill__table_observe(left, on_write, j, tjoin_free) != RILL_OK) {
        tjoin_free(j);
        return NULL;
    }
    if (rill__table_observe(right, on_write, j, NULL) != RILL_OK) return NULL;
    return out;
}
