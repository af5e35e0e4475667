/* Internal, layer 5 (docs/architecture.md): asks and replies (reply.c) */
#ifndef RILL_REPLY_INT_H
#define RILL_REPLY_INT_H

#include "event_int.h"

/* A message read on this worker's reply topic: true when it answered an ask. */
bool rill__asks_on_message(rill_app_t *app, const rill_msg_t *m);
void rill__asks_free(rill_app_t *app);

#endif
