/**
 * @file app.h
 * @brief Apps, topics, agents, events, sending, timers and tasks.
 *
 * An app owns topics, agents (handlers consuming streams of events), timers and
 * tasks, all running on one libevent loop.  Start more workers of the same app
 * (same id, same broker) and the transport's consumer group spreads the
 * partitions among them.
 *
 * Definition functions (rill_app_topic, rill_app_agent, rill_app_timer, ...) are
 * called before rill_app_run()/rill_app_start(); on error they return NULL and
 * rill_app_errmsg() says why.  The first such error is sticky: later definitions
 * (given the NULLs) return NULL too, and rill_app_start()/rill_app_main() refuse
 * to start with RILL_EINVAL, naming that first error.  A NULL app (rill_app_new
 * failed) is accepted by every definition function and refused by start.  Every
 * callback runs on the loop thread.
 */
#ifndef RILL_APP_H
#define RILL_APP_H

#include "conf.h"
#include "record.h"
#include "types.h"

struct event_base;

RILL_BEGIN_DECLS

typedef struct rill_app rill_app_t;
typedef struct rill_topic rill_topic_t;
typedef struct rill_agent rill_agent_t;
typedef struct rill_event rill_event_t;
typedef struct rill_timer rill_timer_t;

/* ---- app ------------------------------------------------------------------------------
 */

/**
 * @brief Create an app named @p id (also its consumer group) from @p conf.
 * @remark ownership: takes @p conf on success only; @p conf may be NULL (defaults).
 * The app creates its own event_base.
 */
RILL_API rill_app_t *rill_app_new(const char *id, rill_conf_t *conf, char *errstr,
                                  size_t errlen);
/** @brief Like rill_app_new() on the caller's event_base (embedding). */
RILL_API rill_app_t *rill_app_new_with_base(const char *id, rill_conf_t *conf,
                                            struct event_base *base, char *errstr,
                                            size_t errlen);
/**
 * @brief Destroy the app.  A running app is torn down abruptly, as if the process
 * died: nothing more is committed (tests use this to simulate a crash).  Call
 * rill_app_stop() and let the loop finish for a graceful end.
 */
RILL_API void rill_app_destroy(rill_app_t *app);

/**
 * @brief Open the backends, declare topics, join the group, start timers and tasks.
 * Returns at once; the work happens on the loop.  Used when embedding on a
 * user-supplied base (then run that base).  SIGPIPE is set to be ignored if it
 * still has its default action (a peer closing a socket must not kill the worker).
 */
RILL_API rill_err_t rill_app_start(rill_app_t *app, char *errstr, size_t errlen);
/**
 * @brief rill_app_start() then run the loop until the app stops.  Installs SIGINT
 * and SIGTERM handlers that stop gracefully, before the start: a signal while it
 * starts stops the app once it has started.  They stay until rill_app_destroy()
 * (the default actions come back if the start fails).
 * @returns RILL_OK after a graceful stop, or the error that ended the worker.
 */
RILL_API rill_err_t rill_app_run(rill_app_t *app);
/**
 * @brief Begin a graceful stop: stop consuming, finish in-flight events (bounded by
 * shutdown.timeout.ms), flush sends, commit offsets, close stores.  The loop
 * exits when done (with an app-owned base).  Safe to call from any callback.
 */
RILL_API void rill_app_stop(rill_app_t *app);
/**
 * @brief Stop with an error: the worker dies hard ("live happy, die hard").
 * rill_app_run() returns @p err and the CLI exits non-zero.
 */
RILL_API void rill_app_fail(rill_app_t *app, rill_err_t err, const char *fmt, ...)
    RILL_PRINTF(3, 4);

RILL_API const char *rill_app_id(const rill_app_t *app);
RILL_API struct event_base *rill_app_base(const rill_app_t *app);
/** @brief The app's configuration (borrowed, valid while the app lives). */
RILL_API const rill_conf_t *rill_app_conf(const rill_app_t *app);
/** @brief The last definition or runtime error message. */
RILL_API const char *rill_app_errmsg(const rill_app_t *app);
/** @brief Log through the app's logger. */
RILL_API void rill_app_log(const rill_app_t *app, rill_log_level_t level, const char *fmt,
                           ...) RILL_PRINTF(3, 4);
/** @brief True once every assigned partition is recovered and consuming, and every
 * partition of every GlobalTable is held here and current (owned, or a copy that
 * has read its changelog up to where it ended when the copy started). */
RILL_API bool rill_app_is_ready(const rill_app_t *app);

/* ---- topics
 * ----------------------------------------------------------------------------- */

/* Types given in options are copied (the top level: a RILL_TYPE_RECORD() compound
 * literal may go out of scope); schemas and nested item types must stay valid
 * while the app lives (declare them at file scope, as RILL_RECORD does). */
typedef struct rill_topic_opts {
    int32_t partitions;          /**< 0: conf topic.partitions (or the existing count) */
    const rill_type_t *key_type; /**< NULL: raw bytes (rill_bytes_t) */
    const rill_type_t *value_type; /**< NULL: raw bytes (rill_bytes_t) */
    const char *key_serializer;    /**< NULL: "raw" when key_type is NULL or a string,
                                        else conf key_serializer */
    const char *value_serializer;  /**< NULL: "raw" when value_type is NULL, else conf
                                        value_serializer ("json") */
    bool compacted;                /**< cleanup.policy=compact */
    int64_t retention_ms;          /**< 0: transport default */
    bool internal;                 /**< created by rill (changelogs, repartition) */
} rill_topic_opts_t;

/** @brief Define (or return the already defined) topic @p name.  @p opts may be NULL. */
RILL_API rill_topic_t *rill_app_topic(rill_app_t *app, const char *name,
                                      const rill_topic_opts_t *opts);
RILL_API rill_topic_t *rill_app_find_topic(const rill_app_t *app, const char *name);
RILL_API const char *rill_topic_name(const rill_topic_t *topic);
/** @brief Partition count (known once the app started; before: the declared count). */
RILL_API int32_t rill_topic_partitions(const rill_topic_t *topic);
RILL_API const rill_type_t *rill_topic_value_type(const rill_topic_t *topic);
RILL_API const rill_type_t *rill_topic_key_type(const rill_topic_t *topic);

/* ---- sending
 * ----------------------------------------------------------------------------- */

/** @brief Delivery report of one send: @p err is RILL_OK once the broker has it. */
typedef void (*rill_send_cb)(rill_err_t err, const char *errmsg, int32_t partition,
                             int64_t offset, void *opaque);

/** @brief rill_send_opts_t.partition: the key's murmur2 partition (no key:
 * round-robin). */
#define RILL_PARTITION_ANY (-1)
/** @brief rill_send_opts_t.version of this header (RILL_SEND_OPTS_INIT sets it). */
#define RILL_SEND_OPTS_VERSION 1

/**
 * @brief Options of one send.  Make them with RILL_SEND_OPTS_INIT, then set fields:
 *
 *     rill_send_opts_t o = RILL_SEND_OPTS_INIT;
 *     o.partition = 3;
 *
 * Options not made that way are refused (RILL_EINVAL), so a zeroed struct never
 * silently means "partition 0".
 */
typedef struct rill_send_opts {
    int version;       /**< RILL_SEND_OPTS_VERSION (set by RILL_SEND_OPTS_INIT) */
    int32_t partition; /**< RILL_PARTITION_ANY, or a partition of the topic */
    const rill_header_t *headers;
    size_t nheaders;
    int64_t timestamp_ms; /**< 0: now */
    bool encoded;         /**< key and value are wire bytes: serializers skipped */
    /** the event this send belongs to (e.g. made from a callback after its handler
     * returned RILL_PENDING): refused with RILL_ENOTOWNER once this worker lost the
     * event's partition; NULL: the event being handled, if any */
    const rill_event_t *event;
    rill_send_cb cb; /**< delivery report, or NULL */
    void *opaque;
} rill_send_opts_t;

#define RILL_SEND_OPTS_INIT                                                              \
    { .version = RILL_SEND_OPTS_VERSION, .partition = RILL_PARTITION_ANY }

/** @brief Options that send wire bytes as they are (the topic's serializers are
 * skipped): `rill_send(t, k, klen, bytes, len, &rill_send_encoded)`. */
RILL_API extern const rill_send_opts_t rill_send_encoded;

/**
 * @brief Send @p key / @p value to @p topic, asynchronously.
 *
 * Keys and values are given as a pointer and a length, whatever the topic's types:
 * - no type (raw bytes), bytes or string: the bytes themselves
 *   (`rill_send(t, "NO", 2, "hello", 5, NULL)`);
 * - any other type (a record, int64, double...): the address of a value in its C
 *   representation and its size (`rill_send(t, "NO", 2, &order, sizeof order,
 *   NULL)`); a length that is not the type's size is refused with an error naming
 *   the type, so a string passed for a record never reaches the encoder.
 * A NULL key (length 0) has no key: the partition is round-robin; a NULL value is
 * a tombstone.  The values are encoded before this returns.  @p opts may be NULL.
 * A send the transport refuses for a full queue is held (a copy, in order with
 * later sends) and handed over when the transport has room; until then the agents
 * start no new events (their partitions pause), and its delivery report comes
 * when it is delivered.  A timer (rill_app_timer, rill_app_crontab) whose firing
 * made held sends does not fire again until they left, then fires once (its
 * skipped firings are not made up).  A held send for a partition lost meanwhile is
 * refused (RILL_ENOTOWNER in its report); no room for broker.timeout.ms fails the
 * worker.
 * @returns RILL_OK (queued), RILL_EINVAL (NULL topic, bad length or partition, opts
 * not made with RILL_SEND_OPTS_INIT), RILL_EENCODE (the app's error names the
 * field), RILL_EFULL (the transport's queue is full and 64 MiB of sends are held
 * already: retry after the loop ran), RILL_ESTATE (app not
 * started), RILL_ENOTOWNER (sent while handling an event of a partition this worker
 * lost).  The reason is in rill_app_errmsg().
 */
RILL_API rill_err_t rill_send(rill_topic_t *topic, const void *key, size_t key_len,
                              const void *value, size_t value_len,
                              const rill_send_opts_t *opts);

/* ---- agents
 * ------------------------------------------------------------------------------ */

/**
 * @brief An agent's handler: called once per event, in partition order.
 * @returns RILL_OK (done: the event is acked), RILL_PENDING (call rill_event_ack()
 * later, e.g. from an async callback), or a negative rill_err_t (the agent's
 * error policy applies).
 */
typedef rill_err_t (*rill_agent_fn)(rill_event_t *ev, void *opaque);

typedef enum {
    RILL_ON_ERROR_LOG = 0, /**< log the error, ack the event, go on ("live happy") */
    RILL_ON_ERROR_CRASH,   /**< stop the worker with an error ("die hard") */
} rill_on_error_t;

typedef struct rill_agent_opts {
    int concurrency; /**< events in flight at once (0 or 1: one, in partition order) */
    rill_on_error_t on_error;
    const rill_type_t *reply_type; /**< type of rill_event_reply() values (ask) */
} rill_agent_opts_t;

/** @brief Define agent @p name consuming @p topic.  @p opts may be NULL. */
RILL_API rill_agent_t *rill_app_agent(rill_app_t *app, const char *name,
                                      rill_topic_t *topic, rill_agent_fn fn, void *opaque,
                                      const rill_agent_opts_t *opts);
RILL_API const char *rill_agent_name(const rill_agent_t *agent);
/** @brief Events handled (acked) so far. */
RILL_API uint64_t rill_agent_processed(const rill_agent_t *agent);

/* ---- events
 * ------------------------------------------------------------------------------- */

/** @brief The decoded key (C representation of the topic's key type), or NULL. */
RILL_API const void *rill_event_key(const rill_event_t *ev);
/** @brief The decoded value (a struct for record topics), or NULL for a tombstone. */
RILL_API const void *rill_event_value(const rill_event_t *ev);
/** @brief Key bytes as received (NULL: no key). */
RILL_API const void *rill_event_key_bytes(const rill_event_t *ev, size_t *len);
/** @brief Value bytes as received (NULL: tombstone). */
RILL_API const void *rill_event_value_bytes(const rill_event_t *ev, size_t *len);
RILL_API const char *rill_event_topic(const rill_event_t *ev);
RILL_API int32_t rill_event_partition(const rill_event_t *ev);
RILL_API int64_t rill_event_offset(const rill_event_t *ev);
RILL_API int64_t rill_event_timestamp(const rill_event_t *ev);
/** @brief Header value by name (first match), or NULL. */
RILL_API const void *rill_event_header(const rill_event_t *ev, const char *name,
                                       size_t *len);
RILL_API const rill_header_t *rill_event_headers(const rill_event_t *ev, size_t *n);
RILL_API rill_app_t *rill_event_app(const rill_event_t *ev);
/**
 * @brief Complete an event whose handler returned RILL_PENDING.  @p err is RILL_OK
 * or an error (the agent's error policy applies).  The event is freed: do not use
 * it afterwards.
 */
RILL_API void rill_event_ack(rill_event_t *ev, rill_err_t err);

/* ---- timers and tasks
 * ----------------------------------------------------------------------- */

typedef void (*rill_timer_fn)(rill_app_t *app, void *opaque);

/** @brief Call @p fn every @p interval_s seconds while the app runs (first call after
 * one interval).
 * @remark Backpressure: when the transport's queue is full, rill_send holds sends
 * (it never blocks the loop).  If sends that @p fn made in one firing are held, the
 * timer skips its firings until they were handed to the transport, then fires once
 * (logged at debug level), as a Faust timer waits for its sends before its next
 * round; skipped firings are not made up.  A timer whose firings send nothing, or
 * whose sends were all taken, fires on schedule whatever else is held.  The same
 * holds for rill_app_crontab. */
RILL_API rill_timer_t *rill_app_timer(rill_app_t *app, const char *name,
                                      double interval_s, rill_timer_fn fn, void *opaque);
/**
 * @brief Call @p fn at the minutes crontab expression @p expr matches, in timezone
 * @p tz (Faust's @app.crontab): five fields "minute hour day-of-month month
 * day-of-week" with *, N, N-M, * /S, N-M/S, lists, names (jan, mon), 7 = Sunday,
 * or @hourly, @daily, @weekly, @monthly, @yearly; e.g. "0 * /6 * * *" (without the
 * space) every six hours.  As in cron, when both day fields are restricted either
 * matches.  @p tz is a TZ database name ("Europe/Oslo", "UTC"); NULL is the
 * process's local time.  A time skipped by a DST change does not fire that day; a
 * repeated one fires once.  The next time is computed on the loop thread by setting
 * TZ and calling localtime_r/mktime, then TZ is restored: other threads of the
 * process that read the local time at that moment may see @p tz (docs/windows.md).
 * A bad expression or an unknown timezone fails the definition, naming it.
 * Backpressure as for rill_app_timer: a minute whose turn comes while the sends of
 * the last firing are held is skipped, and the timer fires once they left.
 */
RILL_API rill_timer_t *rill_app_crontab(rill_app_t *app, const char *expr, const char *tz,
                                        rill_timer_fn fn, void *opaque);
/**
 * @brief A stream-time timer's callback, called while @p ev is handled: @p ev is the
 * event whose time moved its partition's stream time past @p boundary_ms (a multiple
 * of the interval; the latest one passed).  Table writes and sends made with @p ev
 * go to @p ev's partition, as in a handler.  An error fails @p ev under its agent's
 * error policy (the boundary counts as fired).
 */
typedef rill_err_t (*rill_stream_timer_fn)(const rill_event_t *ev, int64_t boundary_ms,
                                           void *opaque);
/**
 * @brief Call @p fn per partition of @p agent's topic when that partition's stream
 * time (the largest event timestamp seen there) reaches the next multiple of
 * @p interval_ms (Kafka Streams' PunctuationType.STREAM_TIME): never on the wall
 * clock, so a partition that receives nothing does not fire.  Once per advance:
 * an event that jumps several intervals ahead fires once, with the latest
 * boundary it passed (Kafka Streams' rule).  The first event a partition ever
 * gets only starts its stream time.  Older (out-of-order) events do not move
 * stream time back.  @p fn runs before @p agent's operators and handler see the
 * event that crossed the boundary, so what it reads is the state of the events
 * before it; each partition fires independently.
 *
 * The start of each partition's current interval is kept in the table
 * "<name>-stream-time" (one row per partition, with its changelog), so a worker
 * that restarts, or takes a partition over in a rebalance, carries on from where
 * the last owner was: a boundary fires once (at-least-once: a worker that dies
 * between firing and its next commit fires it again, as it handles the event
 * again).  Events without a timestamp, before the epoch or more than a day ahead
 * of the wall clock are ignored (logged once).  Definition errors: no name,
 * agent or callback, @p interval_ms <= 0, an agent of an in-process channel.
 * @returns the timer, or NULL (rill_app_errmsg() says why).
 */
RILL_API rill_timer_t *rill_app_stream_timer(rill_app_t *app, const char *name,
                                             rill_agent_t *agent, int64_t interval_ms,
                                             rill_stream_timer_fn fn, void *opaque);
/** @brief Call @p fn once when the app has started (Faust's @app.task).
 * @remark A task runs once, so nothing throttles it: what it sends beyond what the
 * transport's queue takes is held (64 MiB at most, then rill_send returns
 * RILL_EFULL).  To send more than that, send in rounds from a rill_app_timer,
 * which waits for a round's held sends before its next firing. */
RILL_API rill_err_t rill_app_task(rill_app_t *app, const char *name, rill_timer_fn fn,
                                  void *opaque);
/** @brief Call @p fn at shutdown, before offsets are committed for the last time. */
RILL_API rill_err_t rill_app_on_stop(rill_app_t *app, rill_timer_fn fn, void *opaque);
/**
 * @brief Call @p fn once a started app has stopped, gracefully or not: after the final
 * flush and commit, with the group left.
 * @p fn may destroy the app.  On the app's own loop it is called by rill_app_run()
 * after the loop ended; on a caller's base (rill_app_new_with_base) from that base,
 * never from inside the callback that stopped the app.  One callback per app: a
 * second call replaces the first.  A stopped app cannot be started again (create a
 * new one).
 */
RILL_API rill_err_t rill_app_on_stopped(rill_app_t *app, rill_timer_fn fn, void *opaque);

/* ---- command line
 * ------------------------------------------------------------------------------ */

/**
 * @brief A Faust-like command line for an app binary:
 *   worker [--broker URL] [--store URL] [--web-port N] [-l LEVEL]
 *   send TOPIC [--key K] [--partition N] VALUE
 *   agents | topics | tables
 *   --help
 * Bad arguments print usage to stderr and return 2.  The app is destroyed.
 * @returns the process exit code.
 */
RILL_API int rill_app_main(rill_app_t *app, int argc, char **argv);

RILL_END_DECLS

#endif
