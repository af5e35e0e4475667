/* Internal, layer 5 (docs/architecture.md): delayed forwards (forward.c) */
#ifndef RILL_FORWARD_INT_H
#define RILL_FORWARD_INT_H

#include "event_int.h"

rill_err_t rill__delayed_prepare(rill_app_t *app);
/* Give the delayed forwards held for @p tp (NULL: all) back unacked (revoke,
 * stop): the next owner schedules them. */
void rill__delayed_release(rill_app_t *app, const rill_tpstate_t *tp);
void rill__delayed_free(rill_app_t *app);

#endif
