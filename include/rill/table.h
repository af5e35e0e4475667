/**
 * @file table.h
 * @brief Tables: partitioned key/value state with changelog recovery, standby
 * replicas and windows (Faust's app.Table).
 *
 * A table is partitioned like the stream that writes it: partition p of the table
 * lives on the worker that owns partition p of the source topic.  Every write also
 * goes to the compacted changelog topic "<app>-<table>-changelog"; when a worker is
 * assigned a partition it recovers the table partition (from its store's
 * checkpoint, then the changelog tail) before any event of that partition is
 * processed.
 *
 * Keys are bytes (a string key is its characters).  Values have the table's value
 * type in their C representation (int64_t for counters).  Reads and writes are made
 * from agents' handlers (or their callbacks), on the loop; for an event they go to the
 * table partition of the event being handled, whatever partition the key hashes to
 * (Faust's and Kafka Streams' rule; table.key_partition_check=warn counts and logs such
 * keys once per table and partition, refuse fails them with RILL_ENOTOWNER).  Outside a
 * handler a key goes to its murmur2 partition.
 */
#ifndef RILL_TABLE_H
#define RILL_TABLE_H

#include "app.h"
#include "stream.h"

RILL_BEGIN_DECLS

typedef struct rill_table rill_table_t;

/** @brief Called when a window expires (closes), before it is deleted. */
typedef void (*rill_window_close_fn)(rill_table_t *table, const void *key, size_t klen,
                                     int64_t window_start_ms, int64_t window_end_ms,
                                     const void *value, void *opaque);

/** @brief Called for a write, by an event of time @p ts_ms, to a window whose grace
 * period has passed: the write was dropped. */
typedef void (*rill_window_late_fn)(rill_table_t *table, const void *key, size_t klen,
                                    int64_t window_start_ms, int64_t ts_ms, void *opaque);

/**
 * @brief What a windowed table emits to rill_table_opts_t.on_emit / emit_topic.
 *
 * A window closes when the stream time of its partition (the largest event
 * timestamp seen there, or the wall clock for idle partitions: window_idle_ms)
 * reaches its end plus the grace period.  A closed window takes no more events.
 */
typedef enum {
    RILL_EMIT_UPDATE = 0, /**< every change of a window, as it is written */
    /** one record per window and key when the window closes, with its final
     * value (Kafka Streams' suppress(untilWindowCloses)).  What was closed is
     * kept in the table's changelog: a restarted or rebalanced worker does not
     * emit a closed window again, nor count a late event into it */
    RILL_EMIT_FINAL,
} rill_window_emit_t;

/** @brief An emitted window value (see rill_window_emit_t). */
typedef void (*rill_window_emit_fn)(rill_table_t *table, const void *key, size_t klen,
                                    int64_t window_start_ms, int64_t window_end_ms,
                                    const void *value, void *opaque);

typedef struct rill_table_opts {
    const rill_type_t *value_type; /**< required: e.g. &rill_type_int64 */
    const void *default_value;     /**< value of absent keys (C repr); NULL: zero */
    const char *value_serializer;  /**< NULL: "raw" for int64/string/bytes, else "json" */
    rill_topic_t *source; /**< partitioned like this topic (NULL: topic.partitions) */
    int32_t partitions;   /**< explicit count (0: like source) */
    /* windows: size 0 means not windowed */
    int64_t window_size_ms;    /**< tumbling/hopping window length */
    int64_t window_step_ms;    /**< hopping step (0 or == size: tumbling) */
    int64_t window_expires_ms; /**< keep windows this long after they end */
    rill_window_close_fn on_window_close;
    void *on_window_close_opaque;
    /** late events still count this long after a window's end (stream time);
     * 0: the whole window_expires_ms (the default), RILL_WINDOW_NO_GRACE: none;
     * longer than window_expires_ms: capped to it.  Past it an event's write to the
     * window is dropped and counted (stats.late_dropped), and on_late is called. */
    int64_t window_grace_ms;
    rill_window_late_fn on_late;
    void *on_late_opaque;
    /** windowed: what is emitted to on_emit / emit_topic (docs/windows.md) */
    rill_window_emit_t window_emit;
    /** called with each emitted window value (RILL_EMIT_UPDATE: after every write
     * to a window; RILL_EMIT_FINAL: once, when the window closes) */
    rill_window_emit_fn on_emit;
    void *on_emit_opaque;
    /** also send each emitted value here: key = the table key, value = the value
     * encoded by the topic's value serializer (a topic with a value type: it must be
     * the table's; without one: the table's encoding), headers "rill-window-start" and
     * "rill-window-end" (decimal ms), timestamp = the window's end - 1 */
    rill_topic_t *emit_topic;
    /** windowed: when > 0, a partition that received no event for this long (wall
     * clock) has its stream time moved on by the wall-clock time since its last
     * event, so windows of idle streams close too (checked every
     * commit.interval.ms); 0: stream time moves only with events */
    int64_t window_idle_ms;
    /** session windows (rill_table_opts_session): a key's events less than
     * window_gap_ms apart are one session, [first event, last event + gap); an
     * event that bridges two sessions merges them (int64 values: summed) */
    bool window_session;
    int64_t window_gap_ms;
    /** state TTL (tables without windows): a key not written for this long (wall
     * clock) is deleted, the deletion written to the changelog like any delete, so
     * a recovery does not bring it back (stats.ttl_expired counts them); checked
     * at commits, at most every ttl_ms / 4.  0: keys live until deleted */
    int64_t ttl_ms;
    /** a GlobalTable (set by rill_app_global_table(), see there): every worker
     * holds every partition; reads from anywhere, writes only from the owner of
     * the key's partition */
    bool global;
    /** sliding windows (rill_table_opts_sliding, Kafka Streams' SlidingWindows):
     * windows [t - window_diff_ms, t] made where the key's records are */
    bool window_sliding;
    int64_t window_diff_ms;
} rill_table_opts_t;

/** @brief window_grace_ms: windows close at their end. */
#define RILL_WINDOW_NO_GRACE (-1)

/** @brief Define table @p name (before the app starts). */
RILL_API rill_table_t *rill_app_table(rill_app_t *app, const char *name,
                                      const rill_table_opts_t *opts);
/** @brief Make @p opts a tumbling-window table: windows of @p size_ms, kept for
 * @p expires_ms after they end. */
RILL_API void rill_table_opts_tumbling(rill_table_opts_t *opts, int64_t size_ms,
                                       int64_t expires_ms);
/** @brief Hopping windows of @p size_ms every @p step_ms. */
RILL_API void rill_table_opts_hopping(rill_table_opts_t *opts, int64_t size_ms,
                                      int64_t step_ms, int64_t expires_ms);

/**
 * @brief Session windows: a window per key and burst of activity.  An event at time
 * ts makes the session [ts, ts + @p gap_ms) and merges every session of its key it
 * overlaps (an event that bridges two sessions makes them one; int64 values are
 * summed, rill_table_set replaces); sessions are kept @p expires_ms after their
 * end.  Reads (rill_table_get) return the key's session holding the event's time,
 * rill_table_get_window the one starting at a start; window_grace_ms, window_emit
 * and on_late apply (a session closes at its end + grace: checked at commits).
 * @p gap_ms <= 0 is refused by rill_app_table().
 */
RILL_API void rill_table_opts_session(rill_table_opts_t *opts, int64_t gap_ms,
                                      int64_t expires_ms);

/**
 * @brief Sliding windows (Kafka Streams' SlidingWindows.ofTimeDifferenceAndGrace):
 * windows of @p diff_ms, [start, start + diff_ms] with both ends included, made
 * only where the key's records are: a record at time t makes the window ending at
 * it, [t - diff_ms, t], and the one starting just after it, [t + 1, t + 1 +
 * diff_ms], once a later record falls in that one; every window holding t is
 * updated.  A window's value aggregates every record of its key in it (int64
 * incr: their sum; rill_table_set: the value of the last one processed), so a
 * late record within grace corrects every window it falls in.  Windows are given
 * to callbacks and emits as [start, start + diff_ms + 1) (rill's half-open
 * convention) and kept at least max(@p expires_ms, grace + 2 * (diff_ms + 1))
 * after their end (a late record's new windows derive from them).
 * rill_table_get() returns the aggregate over [ev's time - diff_ms, ev's time],
 * rill_table_get_window() the window starting at a start; rill_table_del() is
 * refused (RILL_EINVAL).  window_grace_ms, window_emit and on_late apply (a record
 * is late when the window ending at it is closed).  @p diff_ms < 0 is refused by
 * rill_app_table().  See docs/windows.md.
 */
RILL_API void rill_table_opts_sliding(rill_table_opts_t *opts, int64_t diff_ms,
                                      int64_t expires_ms);

RILL_API const char *rill_table_name(const rill_table_t *t);
RILL_API int32_t rill_table_partitions(const rill_table_t *t);

/*
 * Reads and writes take the event they belong to, @p ev: its partition picks the
 * table partition (Faust's and Kafka Streams' rule, see above) and its time the
 * window, so a write made after a handler returned RILL_PENDING (from a callback)
 * is as correct as one made inside it.  @p ev NULL: an operation of no event (a
 * timer, a lookup): the key's murmur2 partition and the wall clock.
 */

/**
 * @brief Read @p key into @p value_out (the default when absent).  For a windowed
 * table: the window of @p ev's time (Faust's .current()).
 * @returns RILL_OK, or RILL_ENOTOWNER when this worker does not own (or has not
 * recovered) the key's partition.  @p value_out is released with rill_value_clear.
 */
RILL_API rill_err_t rill_table_get(rill_table_t *t, const rill_event_t *ev,
                                   const void *key, size_t klen, void *value_out);
/** @brief Set @p key to @p value (windowed: every window containing @p ev's time). */
RILL_API rill_err_t rill_table_set(rill_table_t *t, const rill_event_t *ev,
                                   const void *key, size_t klen, const void *value);
/** @brief Add @p by to an int64 value (table[key] += by); @p result may be NULL.
 * Windowed: every window containing @p ev's time; result is the current one. */
RILL_API rill_err_t rill_table_incr(rill_table_t *t, const rill_event_t *ev,
                                    const void *key, size_t klen, int64_t by,
                                    int64_t *result);
/** @brief Delete @p key. */
RILL_API rill_err_t rill_table_del(rill_table_t *t, const rill_event_t *ev,
                                   const void *key, size_t klen);

/** @brief Windowed read: the window containing wall-clock now (Faust's .now()). */
RILL_API rill_err_t rill_table_get_now(rill_table_t *t, const rill_event_t *ev,
                                       const void *key, size_t klen, void *value_out);
/** @brief Windowed read: the window containing (@p ev's time - @p ago_ms) (.delta()). */
RILL_API rill_err_t rill_table_get_delta(rill_table_t *t, const rill_event_t *ev,
                                         const void *key, size_t klen, int64_t ago_ms,
                                         void *value_out);
/** @brief Windowed read of the window starting at @p window_start_ms. */
RILL_API rill_err_t rill_table_get_window(rill_table_t *t, const rill_event_t *ev,
                                          const void *key, size_t klen,
                                          int64_t window_start_ms, void *value_out);

/** @brief Visit every key of the partitions this worker owns (windowed: every
 * window; @p window_start_ms is -1 for plain tables).  Return non-zero to stop. */
typedef int (*rill_table_visit_fn)(const void *key, size_t klen, int64_t window_start_ms,
                                   const void *value, void *opaque);
RILL_API rill_err_t rill_table_foreach(rill_table_t *t, rill_table_visit_fn fn,
                                       void *opaque);

/** @brief Statistics of the partitions this worker has (owned and standby). */
typedef struct rill_table_stats {
    uint64_t keys;            /**< live keys (windowed: windows) in owned partitions */
    uint64_t bytes;           /**< store bytes of owned partitions */
    uint64_t recovered;       /**< changelog messages applied during recoveries */
    uint64_t standby_applied; /**< changelog messages applied by standbys */
    uint32_t owned, standby;  /**< partitions */
    /** writes, in handlers, of a key whose murmur2 partition is not its event's
     * (stored in the event's partition: table.key_partition_check) */
    uint64_t mismatched_writes;
    /** events of inner stream-table joins skipped: no row for their key */
    uint64_t join_misses;
    /** windowed: writes dropped because their window's grace period had passed */
    uint64_t late_dropped;
    /** windowed: events whose writes were skipped for their timestamp: none (-1),
     * before the epoch, or more than a day ahead of the wall clock (logged once) */
    uint64_t bad_timestamps;
    /** keys deleted by the table's ttl_ms */
    uint64_t ttl_expired;
} rill_table_stats_t;
RILL_API rill_err_t rill_table_stats(rill_table_t *t, rill_table_stats_t *out);

/* ---- stream-table join (enrichment) -------------------------------------------------
 */

typedef enum {
    RILL_JOIN_INNER = 1, /**< events without a row are skipped (stats.join_misses) */
    RILL_JOIN_LEFT,      /**< events without a row reach the join function, row NULL */
    /** stream-stream joins: unmatched events of both sides are emitted; table-table
     * joins: a row for the keys of either table */
    RILL_JOIN_OUTER
} rill_join_mode_t;

/**
 * @brief Build the joined value: fill @p out (zeroed, of the join's out type) from
 * the event and its table @p row (the table's value type, C representation; NULL in
 * a left join when the key has no row).  An error drops the event under the agent's
 * error policy.
 */
typedef rill_err_t (*rill_join_fn)(const rill_event_t *ev, const void *row, void *out,
                                   void *opaque);

/**
 * @brief Join each event of @p s with the row of @p t under the event's key (or
 * @p key_fn's key, NULL: the event's key): @p fn makes the new event value, of
 * @p out_type, from both; rill_event_value() then returns it.  The row is read from
 * the table partition of the event's own partition, so the stream and the table
 * must be co-partitioned: rill_app_start() refuses a stream whose topic has another
 * partition count than the table, naming both: rill_stream_through() a topic of the
 * table's count first (and rill_stream_group_by() by the table's key when the events
 * are keyed otherwise).
 * @code
 * s = rill_stream_join_table(s, users, RILL_JOIN_LEFT, NULL, &order_type, enrich, NULL);
 * @endcode
 */
RILL_API rill_stream_t *rill_stream_join_table(rill_stream_t *s, rill_table_t *t,
                                               rill_join_mode_t mode, rill_key_fn key_fn,
                                               void *key_opaque,
                                               const rill_type_t *out_type,
                                               rill_join_fn fn, void *opaque);

/* ---- stream-stream windowed join ------------------------------------------------------
 */

/** @brief A joined pair of a stream-stream join: a left and a right event of one
 * key, within the join's window.  In left and outer joins an event that found no
 * partner by the time its window passed (stream time) comes with the other side
 * NULL (its ts -1).  Values are the events' value bytes; views valid for the call. */
typedef struct rill_join_pair {
    const void *key;
    size_t klen;
    const void *left;
    size_t left_len;
    int64_t left_ts;
    const void *right;
    size_t right_len;
    int64_t right_ts;
} rill_join_pair_t;

/** @brief Called per pair, while handling @p ev (the event that made the pair, or
 * whose stream time closed an unmatched event's window).  An error fails @p ev under
 * its agent's error policy. */
typedef rill_err_t (*rill_join_pair_fn)(rill_event_t *ev, const rill_join_pair_t *pair,
                                        void *opaque);

typedef struct rill_stream_join_opts {
    rill_join_mode_t mode; /**< RILL_JOIN_INNER (0 too), _LEFT or _OUTER */
    /** a right event joins a left event of time t when its time is in
     * [t - before_ms, t + after_ms] (Kafka Streams' JoinWindows.before/after;
     * within_ms: both the same) */
    int64_t before_ms, after_ms;
    /** events this much later than the window still join (stream time); past it an
     * event is dropped and counted (stats.late_dropped of the join's tables) */
    int64_t grace_ms;
    rill_join_pair_fn fn; /**< required */
    void *opaque;
} rill_stream_join_opts_t;

/**
 * @brief Join streams @p left and @p right on their keys within a time window:
 * @p opts->fn is called once per pair of events of one key whose timestamps are
 * within the window, on the worker that owns their partition (they must be
 * co-partitioned: rill_app_start() refuses streams of different partition counts
 * with RILL_EPARTITIONS naming both).
 *
 * Both sides are buffered in tables "<name>-left" and "<name>-right" (bytes; one
 * row per key, holding its buffered events), backed by their changelogs: a worker
 * that dies mid-window recovers its buffers wherever the partition lands.  The
 * stream time of a partition (the largest event time of either side) frees an
 * event once its window and grace have passed (left and outer joins: emitting it
 * unmatched then).  The streams end in agents "<name>-left" and "<name>-right".
 * Negative before/after/grace, a missing fn or an unknown mode: a definition error.
 * Events without a timestamp (or before the epoch) are skipped and counted
 * (stats.bad_timestamps).  Not under processing.guarantee=exactly_once (refused).
 */
RILL_API rill_err_t rill_stream_join_stream(rill_stream_t *left, rill_stream_t *right,
                                            const char *name,
                                            const rill_stream_join_opts_t *opts);
/** @brief What a stream-stream join holds and dropped on this worker. */
typedef struct rill_stream_join_stats {
    uint64_t buffered_left, buffered_right; /**< keys buffered, owned partitions */
    uint64_t pairs;                         /**< pairs (and unmatched) emitted */
    uint64_t late_dropped;                  /**< events past their window + grace */
    uint64_t bad_timestamps;                /**< events without a usable time */
} rill_stream_join_stats_t;
/** @brief Statistics of join @p name, counted as they stand (nothing is flushed, so
 * it is cheap to poll); RILL_ENOENT when there is none. */
RILL_API rill_err_t rill_stream_join_stats(rill_app_t *app, const char *name,
                                           rill_stream_join_stats_t *out);
/** @brief opts for a window of @p within_ms on both sides. */
RILL_API void rill_stream_join_within(rill_stream_join_opts_t *opts, int64_t within_ms);

/* ---- table-table join ----------------------------------------------------------------
 */

/**
 * @brief Build the joined value of @p key: fill @p out (zeroed, of the join's value
 * type, C representation) from @p left and @p right (the two tables' values, C
 * representation; NULL when that table has no row for the key, in left and outer
 * joins).  @returns RILL_OK (the joined table's row is @p out), RILL_ENOENT (the
 * joined table has no row for the key: it is deleted), or an error, which is the
 * result of the input write that called it (that write stays made).
 */
typedef rill_err_t (*rill_table_join_fn)(const void *key, size_t klen, const void *left,
                                         const void *right, void *out, void *opaque);

typedef struct rill_table_join_opts {
    /** which keys have a row: RILL_JOIN_INNER (0 too): keys of both tables;
     * RILL_JOIN_LEFT: keys of the left table; RILL_JOIN_OUTER: keys of either */
    rill_join_mode_t mode;
    const rill_type_t *value_type; /**< required: the joined table's values */
    const char *value_serializer;  /**< NULL: as rill_app_table() */
    rill_table_join_fn fn;         /**< required */
    void *opaque;
} rill_table_join_opts_t;

/**
 * @brief Define table @p name as the join of tables @p left and @p right on their
 * keys (Kafka Streams' KTable-KTable join): after every write to either (set, incr,
 * del, ttl_ms expiry; from a handler, a timer or another join), @p opts->fn computes
 * the joined row of the written key from both tables' rows in the partition written,
 * and it is written (or deleted, when the mode says the key has no row now or fn
 * returns RILL_ENOENT) in the joined table's same partition, while the write is
 * made: a read of the joined table right after sees it.
 *
 * The joined table is an ordinary table (read it with rill_table_get(), join it
 * again, see it on the web pages) with its own changelog "<app>-<name>-changelog":
 * a worker that recovers a partition, or keeps a standby, reads it from there, so
 * recovery and standby applies of the inputs do not call @p fn.  Its rows and the
 * inputs' are flushed at the same commits; a worker that dies between two commits
 * handles the uncommitted events again, and their writes compute the joined rows
 * again.
 *
 * The three tables are partitioned alike (the joined one like @p left):
 * rill_app_start() refuses inputs of different partition counts with
 * RILL_EPARTITIONS, naming both.  Windowed tables and GlobalTables cannot be
 * joined, nor a table with itself (definition errors).
 * @returns the joined table, or NULL (rill_app_errmsg() says why).
 */
RILL_API rill_table_t *rill_app_table_join(rill_app_t *app, const char *name,
                                           rill_table_t *left, rill_table_t *right,
                                           const rill_table_join_opts_t *opts);

/* ---- GlobalTable ---------------------------------------------------------------------
 */

/**
 * @brief Define a GlobalTable @p name (Faust's app.GlobalTable): every worker holds
 * the whole table.  Partition p is owned (written) by the worker that owns
 * partition p of the table's source topic (or of any topic of as many partitions
 * that an agent reads); every other worker follows its changelog with a reader
 * outside the consumer group, like a standby of every partition
 * (table.standby_replicas does not matter).
 *
 * rill_table_get() of a key reads the key's murmur2 partition wherever it is
 * called (any agent, a timer, any worker), current to the changelog records the
 * owner has flushed (every commit.interval.ms; table.changelog=per_write: every
 * write).  rill_table_set/incr/del of a key write the key's murmur2 partition and
 * are refused with RILL_ENOTOWNER, naming the key, its partition and the topic whose
 * owner may write it, on any other worker.  rill_table_foreach() visits every
 * partition held.  Not windowed (RILL_EINVAL at definition).  rill_app_is_ready()
 * (and the web server's /ready) waits until this worker holds every partition and
 * each copy has read its changelog up to where it ended when the copy started, so
 * a ready worker reads every value flushed before it joined.
 * @code
 * rill_table_opts_t o = {.value_type = &rill_type_int64, .source = users};
 * rill_table_t *limits = rill_app_global_table(app, "limits", &o);
 * @endcode
 */
RILL_API rill_table_t *rill_app_global_table(rill_app_t *app, const char *name,
                                             const rill_table_opts_t *opts);
/** @brief Whether @p t is a GlobalTable. */
RILL_API bool rill_table_is_global(const rill_table_t *t);

RILL_END_DECLS

#endif
