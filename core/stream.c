/* Streams: the builder of operator pipelines (filter, map, enumerate, echo,
 * through, group_by, take) and the agents that end them; ops.c runs them.
 * Layer 5 (docs/architecture.md). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_int.h"

static rill_stream_t *stream_new(rill_app_t *app, rill_topic_t *source) {
    rill_stream_t *s = calloc(1, sizeof *s);
    if (!s) {
        rill__app_deferr(app, "out of memory");
        return NULL;
    }
    s->app = app;
    s->source = source;
    s->next = app->streams;
    app->streams = s;
    return s;
}

rill_stream_t *rill_app_stream(rill_app_t *app, rill_topic_t *topic) {
    if (!app) return NULL; /* rill_app_new failed: its error says why */
    if (!topic) {
        rill__app_deferr(app, "rill_app_stream: no topic");
        return NULL;
    }
    if (app->state != RILL_APP_CREATED) {
        rill__app_deferr(app, "streams must be defined before the app starts");
        return NULL;
    }
    return stream_new(app, topic);
}

static rill_stream_t *add_op(rill_stream_t *s, rill_op_t op) {
    if (!s) return NULL;
    if (s->take_n) {
        rill__app_deferr(s->app, "take() must be the last operator of a stream");
        return NULL;
    }
    if (s->used) {
        rill__app_deferr(s->app, "this stream already ended in an agent");
        return NULL;
    }
    rill_op_t *n = realloc(s->ops, (s->nops + 1) * sizeof *n);
    if (!n) {
        rill__app_deferr(s->app, "out of memory");
        return NULL;
    }
    s->ops = n;
    s->ops[s->nops++] = op;
    return s;
}

rill_stream_t *rill_stream_filter(rill_stream_t *s, rill_filter_fn fn, void *opaque) {
    if (s && !fn) {
        rill__app_deferr(s->app, "rill_stream_filter: a predicate is required");
        return NULL;
    }
    return add_op(s, (rill_op_t){.kind = RILL_OP_FILTER, .filter = fn, .opaque = opaque});
}

rill_stream_t *rill_stream_map(rill_stream_t *s, const rill_type_t *out_type,
                               rill_map_fn fn, void *opaque) {
    if (s && (!fn || !out_type)) {
        rill__app_deferr(s->app,
                         "rill_stream_map: a function and an out type are required "
                         "(&rill_type_bytes for bytes)");
        return NULL;
    }
    return add_op(
        s, (rill_op_t){
               .kind = RILL_OP_MAP, .map = fn, .opaque = opaque, .out_type = out_type});
}

rill_stream_t *rill_stream_enumerate(rill_stream_t *s) {
    return add_op(s, (rill_op_t){.kind = RILL_OP_ENUMERATE});
}

rill_stream_t *rill_stream_echo(rill_stream_t *s, rill_topic_t *const *topics, size_t n) {
    if (!s) return NULL;
    if (!topics || !n) {
        rill__app_deferr(s->app, "rill_stream_echo: no topics");
        return NULL;
    }
    rill_topic_t **copy = malloc(n * sizeof *copy);
    if (!copy) return NULL;
    memcpy(copy, topics, n * sizeof *copy);
    rill_stream_t *r =
        add_op(s, (rill_op_t){.kind = RILL_OP_ECHO, .topics = copy, .ntopics = n});
    if (!r) free(copy);
    return r;
}

/* End the current stage in an internal agent that forwards to @p dest, and go on
 * from @p dest. */
static rill_stream_t *forward_stage(rill_stream_t *s, rill_topic_t *dest, rill_key_fn key,
                                    void *opaque, const char *what) {
    if (!add_op(s,
                (rill_op_t){
                    .kind = RILL_OP_FORWARD, .dest = dest, .key = key, .opaque = opaque}))
        return NULL;
    char name[512];
    snprintf(name, sizeof name, "%s:%s->%s", what, s->source->name, dest->name);
    rill_agent_opts_t o = {0};
    rill_agent_t *a = rill__agent_new(s->app, name, s->source, NULL, NULL, &o);
    if (!a) return NULL;
    a->internal = true;
    a->ops = s->ops;
    a->nops = s->nops;
    s->ops = NULL;
    s->nops = 0;
    s->used = true;
    return stream_new(s->app, dest);
}

rill_stream_t *rill_stream_through(rill_stream_t *s, rill_topic_t *topic) {
    if (!s) return NULL;
    if (!topic || topic == s->source) {
        rill__app_deferr(s->app,
                         "rill_stream_through: needs another topic than the source");
        return NULL;
    }
    return forward_stage(s, topic, NULL, NULL, "through");
}

rill_stream_t *rill_stream_group_by(rill_stream_t *s, rill_key_fn fn, void *opaque,
                                    const char *name) {
    if (!s) return NULL;
    if (!fn || !name || !*name) {
        rill__app_deferr(s->app,
                         "rill_stream_group_by: a key function and a name are required");
        return NULL;
    }
    char tname[512];
    snprintf(tname, sizeof tname, "%s-%s-%s-repartition", s->app->id, s->source->name,
             name);
    rill_topic_opts_t o = {.partitions = s->source->opts.partitions,
                           .key_type = NULL,
                           .value_type = s->source->vtype,
                           .value_serializer = s->source->vser_name,
                           .internal = true};
    /* the same partition count as the source: known at start, fixed below */
    rill_topic_t *t = rill_app_topic(s->app, tname, &o);
    if (!t) return NULL;
    t->repartition_of = s->source;
    return forward_stage(s, t, fn, opaque, "group_by");
}

rill_stream_t *rill_stream_take(rill_stream_t *s, size_t n, double within_s) {
    if (!s) return NULL;
    if (n == 0 || n > 1000000 || !(within_s > 0) || !isfinite(within_s)) {
        rill__app_deferr(s->app,
                         "rill_stream_take: n must be 1-1000000 and within > 0 seconds");
        return NULL;
    }
    s->take_n = n;
    s->take_within = within_s;
    return s;
}

static rill_agent_t *end_stream(rill_stream_t *s, const char *name, rill_agent_fn fn,
                                rill_batch_fn bfn, void *opaque,
                                const rill_agent_opts_t *opts) {
    if (!s) return NULL;
    if (s->used) {
        rill__app_deferr(s->app, "this stream already ended in an agent");
        return NULL;
    }
    if (bfn && !s->take_n) {
        rill__app_deferr(s->app, "agent '%s': a batch agent needs a take() stream", name);
        return NULL;
    }
    if (fn && s->take_n) {
        rill__app_deferr(
            s->app, "agent '%s': a take() stream needs rill_stream_agent_batch()", name);
        return NULL;
    }
    rill_agent_opts_t o = opts ? *opts : (rill_agent_opts_t){0};
    if (s->take_n && (size_t)o.concurrency < s->take_n)
        o.concurrency = s->take_n > INT_MAX ? INT_MAX : (int)s->take_n;
    rill_agent_t *a = rill__agent_new(s->app, name, s->source, fn, opaque, &o);
    if (!a) return NULL;
    a->ops = s->ops;
    a->nops = s->nops;
    s->ops = NULL;
    s->nops = 0;
    a->batch_fn = bfn;
    a->take_n = s->take_n;
    a->take_within = s->take_within;
    if (a->take_n && !(a->batch = calloc(a->take_n, sizeof *a->batch))) {
        rill__app_deferr(s->app, "out of memory");
        return NULL;
    }
    s->used = true;
    return a;
}

rill_agent_t *rill_stream_agent(rill_stream_t *s, const char *name, rill_agent_fn fn,
                                void *opaque, const rill_agent_opts_t *opts) {
    if (s && !fn) {
        rill__app_deferr(s->app, "rill_stream_agent: a handler is required");
        return NULL;
    }
    return end_stream(s, name, fn, NULL, opaque, opts);
}

rill_agent_t *rill_stream_agent_batch(rill_stream_t *s, const char *name,
                                      rill_batch_fn fn, void *opaque,
                                      const rill_agent_opts_t *opts) {
    if (s && !fn) {
        rill__app_deferr(s->app, "rill_stream_agent_batch: a handler is required");
        return NULL;
    }
    return end_stream(s, name, NULL, fn, opaque, opts);
}

void rill__streams_free(rill_app_t *app) {
    while (app->streams) {
        rill_stream_t *s = app->streams;
        app->streams = s->next;
        for (size_t i = 0; i < s->nops; i++)
            free(s->ops[i].topics);
        free(s->ops);
        free(s);
    }
}

uint64_t rill_event_index(const rill_event_t *ev) {
    return ev->index;
}
