/* Internal, layer 6 (docs/architecture.md): the transport's handlers
 * (consumer.c): messages, assignment, revoke, lost partitions (readers have their own,
 * each its owner's) */
#ifndef RILL_CONSUMER_INT_H
#define RILL_CONSUMER_INT_H

#include "event_int.h"

void rill__on_messages(rill_transport_t *t, const rill_msg_t *msgs, size_t n,
                       void *opaque);
void rill__on_assigned(rill_transport_t *t, const rill_tp_t *tps, size_t n, void *opaque);
void rill__on_revoked(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                      rill_revoke_t rv, void *opaque);
/* Drop @p n partitions (all assigned ones when @p tps is NULL) as lost, locally:
 * nothing queued runs, nothing is flushed, produced or committed for them (the
 * hooks.lose of lease.c and table.c). */
void rill__partitions_lose(rill_app_t *app, const rill_tp_t *tps, size_t n);
/* The revoke waited for its partitions' in-flight events (hooks.revoke_idle). */
void rill__consumer_revoke_idle(rill_app_t *app);

#endif
