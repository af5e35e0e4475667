/**
 * @file stream.h
 * @brief Streams: a pipeline of operators between a source and an agent.
 *
 * A stream starts at a topic (or channel) and ends in an agent.  Operators run in
 * order on each event, on the loop:
 *
 * @code
 * rill_stream_t *s = rill_app_stream(app, orders);
 * s = rill_stream_filter(s, is_big, NULL);
 * s = rill_stream_group_by(s, by_country, NULL, "country");  // repartition
 * rill_stream_agent(s, "count", on_order, NULL, NULL);
 * @endcode
 *
 * An event is acked (its offset becomes committable) when the handler and every
 * operator's derived work is done: a filtered-out event is done at once; an event
 * forwarded by through()/group_by() is done when the forward was queued, and the
 * rest of the pipeline runs on the forwarded copy.  Stream objects are owned by
 * the app; each operator returns the (new) stream to chain on.
 */
#ifndef RILL_STREAM_H
#define RILL_STREAM_H

#include "app.h"

RILL_BEGIN_DECLS

typedef struct rill_stream rill_stream_t;

/*
 * Callbacks return rill_err_t: RILL_OK, or an error, for which the agent's error
 * policy (rill_agent_opts_t.on_error) applies and the event is dropped.  They get
 * the event const: only the handler may complete it.
 */

/** @brief Set *@p keep to keep the event (it starts true). */
typedef rill_err_t (*rill_filter_fn)(const rill_event_t *ev, bool *keep, void *opaque);
/**
 * @brief Transform an event's value: fill @p out (zeroed, of the map's out type;
 * a struct for records) from the event.  Return RILL_OK, or an error (the agent's
 * error policy applies and the event is dropped).
 */
typedef rill_err_t (*rill_map_fn)(const rill_event_t *ev, void *out, void *opaque);
/**
 * @brief The new key of an event (group_by, a join's lookup): append it to @p key
 * (empty when called; rill_buf_append, any length).  Return RILL_OK, RILL_ENOENT
 * when this event has no such key (it is dropped, as by a filter), or an error.
 */
typedef rill_err_t (*rill_key_fn)(const rill_event_t *ev, rill_buf_t *key, void *opaque);
/** @brief A batch handler (take): the events are valid during the call only. */
typedef rill_err_t (*rill_batch_fn)(rill_event_t *const *events, size_t n, void *opaque);

/** @brief A stream of @p topic's events. */
RILL_API rill_stream_t *rill_app_stream(rill_app_t *app, rill_topic_t *topic);
/** @brief Keep only events for which @p fn sets keep (an error: the agent's policy). */
RILL_API rill_stream_t *rill_stream_filter(rill_stream_t *s, rill_filter_fn fn,
                                           void *opaque);
/** @brief Replace each event's value with @p fn's output, of type @p out_type
 * (NULL: raw bytes as rill_bytes_t).  rill_event_value() then returns the new value. */
RILL_API rill_stream_t *rill_stream_map(rill_stream_t *s, const rill_type_t *out_type,
                                        rill_map_fn fn, void *opaque);
/** @brief Number events 0, 1, 2, ... (per worker and stream): rill_event_index(). */
RILL_API rill_stream_t *rill_stream_enumerate(rill_stream_t *s);
/** @brief Copy every event to @p topics and go on with the original. */
RILL_API rill_stream_t *rill_stream_echo(rill_stream_t *s, rill_topic_t *const *topics,
                                         size_t n);
/** @brief Forward every event to @p topic; the rest of the stream consumes from it. */
RILL_API rill_stream_t *rill_stream_through(rill_stream_t *s, rill_topic_t *topic);
/**
 * @brief Repartition by a new key: events are forwarded, keyed by @p fn, to the
 * internal topic "<app>-<source topic>-<name>-repartition" (as many partitions as
 * the source) and the rest of the stream consumes from it, so tables written
 * downstream are keyed and partitioned correctly.
 */
RILL_API rill_stream_t *rill_stream_group_by(rill_stream_t *s, rill_key_fn fn,
                                             void *opaque, const char *name);
/**
 * @brief Deliver events in batches of up to @p n, or fewer when @p within_s seconds
 * passed since the batch's first event (Faust's take(100, within=30)).  A partial
 * batch is delivered on shutdown and before a revoke, never lost.  End the stream
 * with rill_stream_agent_batch().
 */
RILL_API rill_stream_t *rill_stream_take(rill_stream_t *s, size_t n, double within_s);

/** @brief End the stream in an agent called per event. */
RILL_API rill_agent_t *rill_stream_agent(rill_stream_t *s, const char *name,
                                         rill_agent_fn fn, void *opaque,
                                         const rill_agent_opts_t *opts);
/** @brief End a take() stream in an agent called per batch. */
RILL_API rill_agent_t *rill_stream_agent_batch(rill_stream_t *s, const char *name,
                                               rill_batch_fn fn, void *opaque,
                                               const rill_agent_opts_t *opts);

/** @brief The enumerate() index of an event (0 when the stream does not enumerate). */
RILL_API uint64_t rill_event_index(const rill_event_t *ev);

/**
 * @brief Forward the event (key, value bytes, headers) to @p topic, now
 * (@p delay_ms == 0) or once @p delay_ms passed.  Delayed events are kept durably
 * in the internal topic "<app>-delayed" until due, so they survive a restart
 * (Faust's event.forward(topic, eta=...)).
 */
RILL_API rill_err_t rill_event_forward(rill_event_t *ev, rill_topic_t *topic,
                                       int64_t delay_ms);

/* ---- channels and iterables ----------------------------------------------------------
 */

/**
 * @brief An in-process channel: agents consume it like a topic, but events never
 * leave the process (no transport, no offsets).  Send with rill_send().
 */
RILL_API rill_topic_t *rill_app_channel(rill_app_t *app, const char *name,
                                        const rill_type_t *value_type);
/**
 * @brief Distribute @p n values (an array of @p topic's value type, C
 * representation, @p stride bytes apart) across the workers consuming @p topic:
 * each is sent keyed by its index, so the partitions — and so the workers — share
 * them (the seed's app.stream([1, 2, 3, 4])).  Call it once per cluster (e.g. from
 * a task of one worker, or from the CLI).
 */
RILL_API rill_err_t rill_app_stream_values(rill_app_t *app, rill_topic_t *topic,
                                           const void *values, size_t n, size_t stride);

/* ---- agent replies (ask / cast)
 * -------------------------------------------------------- */

/** @brief The reply to an ask: @p value (of the agent's reply_type) or an error. */
typedef void (*rill_reply_cb)(rill_err_t err, const void *value, void *opaque);

/**
 * @brief Send @p value to @p agent's topic and call @p cb with the agent's reply
 * (set with rill_event_reply()) or RILL_ETIMEDOUT after @p timeout_ms.
 * The agent must have been defined with opts.reply_type.
 */
RILL_API rill_err_t rill_agent_ask(rill_agent_t *agent, const void *key, size_t key_len,
                                   const void *value, size_t value_len, int timeout_ms,
                                   rill_reply_cb cb, void *opaque);
/** @brief Send @p value to @p agent's topic without waiting for a reply. */
RILL_API rill_err_t rill_agent_cast(rill_agent_t *agent, const void *key, size_t key_len,
                                    const void *value, size_t value_len);
/** @brief From a handler: the value to reply to the asker with (of the agent's
 * reply_type), given as rill_send() takes one: bytes and strings are @p value_len
 * bytes at @p value; any other type is its C representation, whose size @p value_len
 * must be (pass its address and sizeof it), else RILL_EINVAL and rill_app_errmsg()
 * says why.  Events that were cast, not asked, send nothing (but are checked). */
RILL_API rill_err_t rill_event_reply(rill_event_t *ev, const void *value,
                                     size_t value_len);

RILL_END_DECLS

#endif
