/* GlobalTables (issue 14, item 4): every worker holds every partition.  The
 * owned partitions are ordinary table partitions; the others are kept as standbys
 * (table_recovery.c follows their changelogs with readers outside the group, for
 * a global table whatever table.standby_replicas says).  This file defines them
 * and picks the partition of a key: always its murmur2 partition, readable when
 * held (owned or standby), writable only when owned.  Layer 5, part of the table
 * feature (docs/architecture.md). */
#include <stdio.h>
#include <string.h>

#include "global_table_int.h"

rill_table_t *rill_app_global_table(rill_app_t *app, const char *name,
                                    const rill_table_opts_t *opts) {
    if (!app) return NULL;
    if (!opts || !opts->value_type) {
        rill__app_deferr(app, "global table '%s': opts.value_type is required",
                         name ? name : "");
        return NULL;
    }
    if (opts->window_size_ms || opts->window_step_ms || opts->window_expires_ms) {
        rill__app_deferr(app,
                         "global table '%s': a GlobalTable cannot be windowed (use "
                         "rill_app_table() for windows)",
                         name ? name : "");
        return NULL;
    }
    rill_table_opts_t o = *opts;
    o.global = true;
    return rill_app_table(app, name, &o);
}

bool rill_table_is_global(const rill_table_t *t) {
    return t && t->opts.global;
}

/* Which topic's owner writes partition p: the source, else a topic of as many
 * partitions (for the error message). */
static const char *owner_topic(const rill_table_t *t) {
    if (t->opts.source) return t->opts.source->name;
    for (rill_topic_t *tp = t->app->topics; tp; tp = tp->next)
        if (rill__copartitioned(tp, t->partitions)) return tp->name;
    return "its source topic";
}

rill_tpart_t *rill__global_part(rill_table_t *t, const void *key, size_t klen, bool write,
                                rill_err_t *rc) {
    int32_t p = rill_partition_for_key(key, klen, t->partitions);
    rill_tpart_t *tp = &t->parts[p];
    int shown = (int)(klen > 64 ? 64 : klen);
    if (tp->state == RILL_TP_ACTIVE || (!write && tp->state == RILL_TP_STANDBY && tp->sp))
        return tp;
    if (write && tp->state == RILL_TP_STANDBY) {
        rill__app_seterr(t->app,
                         "global table '%s': write of key '%.*s' refused: its partition "
                         "%d is owned by another worker (this one holds a read-only "
                         "copy); write it from the agent that owns partition %d of '%s'",
                         t->name, shown, (const char *)key, p, p, owner_topic(t));
    } else {
        rill__app_seterr(t->app,
                         "global table '%s': key '%.*s': partition %d is %s on this "
                         "worker",
                         t->name, shown, (const char *)key, p,
                         tp->state == RILL_TP_RECOVERING
                             ? "still recovering"
                             : "not held yet (no assignment)");
    }
    *rc = RILL_ENOTOWNER;
    return NULL;
}
