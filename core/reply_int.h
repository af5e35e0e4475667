/* Internal, layer 5 (docs/architecture.md): asks and replies (reply.c) */
#ifndef RILL_REPLY_INT_H
#define RILL_REPLY_INT_H

#include "event_int.h"

void rill__asks_free(rill_app_t *app);

#endif
