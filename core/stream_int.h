/* Internal, layer 5 (docs/architecture.md): the stream builder (stream.c) */
#ifndef RILL_STREAM_INT_H
#define RILL_STREAM_INT_H

#include "event_int.h"

struct rill_stream {
    rill_app_t *app;
    rill_topic_t *source;
    rill_op_t *ops;
    size_t nops;
    size_t take_n;
    double take_within;
    bool used;                /* ended in an agent */
    struct rill_stream *next; /* app's list, for freeing */
};

void rill__streams_free(rill_app_t *app);

#endif
