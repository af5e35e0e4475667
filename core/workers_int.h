/* Internal: who owns what, on every transport (workers.c, layer 6).
 *
 * Every worker with a web server publishes one entry to the internal compacted
 * topic "<app>-__workers" (one partition; key: its client id; value: JSON, see
 * docs/web.md) at every change of what it owns (assignment, revoke, loss, a
 * recovery finished) and a tombstone at a clean stop, and reads that topic from
 * the start outside the group, like a changelog reader.  Each entry carries a
 * generation: one more than the highest generation its writer had read when it
 * wrote (a Lamport clock over the topic), so a claim made after a rebalance
 * outranks the claims made before it, whatever the writers' clocks say, and the
 * last entry of a worker that was SIGKILLed never wins back a partition. */
#ifndef RILL_WORKERS_INT_H
#define RILL_WORKERS_INT_H

#include "ctx_int.h"

typedef enum {
    RILL_OWNER_UNKNOWN = 0, /* no worker claims the partition (mid-rebalance) */
    RILL_OWNER_ACTIVE,      /* claimed and recovered */
    RILL_OWNER_RECOVERING,  /* claimed, still replaying its changelog */
} rill_owner_state_t;

/* One worker as the topic says (borrowed: valid until the next loop turn). */
typedef struct rill_worker_info {
    const char *client_id;
    const char *url; /* "http://host:port" */
    uint64_t generation;
    int64_t time_ms;     /* when it wrote its entry (its clock) */
    int64_t seen_ms_ago; /* since its entry was last read here (this clock) */
    uint32_t partitions; /* consumed partitions it claims */
    bool self;           /* this worker's own entry */
} rill_worker_info_t;

/* Called by consumer.c: what this worker owns may have changed (publishes when it
 * did; the first call declares the topic and opens its reader, whose messages
 * come only here).  Also hooks.recovered (a table partition finished recovering). */
void rill__workers_changed(rill_app_t *app);
/* Free this app's membership state (a stop and a failure do it themselves). */
void rill__workers_free(rill_app_t *app);

/* The worker claiming partition @p p of table @p table with the highest
 * generation (*who filled), or RILL_OWNER_UNKNOWN.  @p standby: the worker with
 * the highest generation that follows it as a standby instead (ACTIVE when one
 * does).  Never this worker's own entry when @p others_only. */
rill_owner_state_t rill__workers_owner(rill_app_t *app, const char *table, int32_t p,
                                       bool standby, bool others_only,
                                       rill_worker_info_t *who);
/* This worker's advertised URL ("" without a web server) and whether the topic
 * has been read up to its end at least once. */
const char *rill__workers_self_url(rill_app_t *app);
bool rill__workers_caught_up(rill_app_t *app);
/* How many live entries the topic holds: tombstones removed, and entries not
 * refreshed within web.workers.expiry.ms (a worker that died without one). */
size_t rill__workers_count(rill_app_t *app);
/* Up to @p max live entries into @p out (this worker's first); returns how many
 * there are in all. */
size_t rill__workers_list(rill_app_t *app, rill_worker_info_t *out, size_t max);

#endif
