/* Internal, layer 6 (docs/architecture.md): the commit cycle (commit.c) and
 * transactions (txn.c) */
#ifndef RILL_COMMIT_INT_H
#define RILL_COMMIT_INT_H

#include "topic_int.h"

/* commit.c */
rill_err_t rill__commit(rill_app_t *app, bool force);
/* app->commit_snap = the acked offset of every assigned partition acked past its
 * committed one; rill__commit_snap_done() records them as committed. */
void rill__commit_snap_acked(rill_app_t *app);
void rill__commit_snap_done(rill_app_t *app);
/* Commit the waiting snapshot (its sends are delivered). */
rill_err_t rill__commit_snapshot(rill_app_t *app);
/* Count a commit the transport answered @p rc (refused as not ours: @p fenced),
 * asked at @p t0_ns (rill_mono_ns): app->commits_*, app->commit_latency. */
void rill__commit_count(rill_app_t *app, rill_err_t rc, bool fenced, uint64_t t0_ns);
void rill__commit_sends_done(rill_app_t *app);                     /* hooks.sends_done */
void rill__commit_tick(evutil_socket_t fd, short what, void *arg); /* commit timer */

/* txn.c */
void rill__txn_begin(rill_app_t *app);
void rill__txn_commit(rill_app_t *app);

#endif
