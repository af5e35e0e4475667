/* Internal, layer 5 (docs/architecture.md): tables and their partitions
 * (table.c), their recovery and standbys (table_recovery.c), and the stream-table
 * joins a table carries (join.c, layer 6, composes it with the stream builder). */
#ifndef RILL_TABLE_INT_H
#define RILL_TABLE_INT_H

#include "event_int.h"
#include "window_session_int.h"
#include "write_cache_int.h"
#include "rill/table.h"

typedef enum {
    RILL_TP_NONE = 0,   /* not here */
    RILL_TP_RECOVERING, /* owned, replaying the changelog; events held */
    RILL_TP_ACTIVE,     /* owned and current */
    RILL_TP_STANDBY,    /* not owned; following the changelog (warm copy) */
} rill_tpart_state_t;

typedef struct rill_tpart {
    struct rill_table *table;
    int32_t partition;
    rill_tpart_state_t state;
    rill_store_part_t *sp;
    rill_wcache_t dirty;
    int64_t cl_next;       /* next changelog offset reflected (store + overlay) */
    int64_t store_offset;  /* what the store has persisted */
    rill_reader_t *reader; /* its changelog reader, when open */
    int64_t rec_start, rec_end;
    uint64_t rec_applied, rec_t0_ns, rec_progress_ns, rec_logged_ns;
    int64_t stream_time; /* windows: max event time seen */
    /* windows: wall clock of the last event (window_idle_ms); emit=final: windows
     * starting at or before closed_upto are closed and emitted (kept in the store
     * under META_KEY, table.c, with the stream time, read back by meta_sp's first use) */
    int64_t last_event_wall, closed_upto;
    rill_store_part_t *meta_sp;
    uint64_t meta_t0; /* rec_t0_ns when loaded: a new recovery reloads */
    bool meta_loaded;
    /* session and sliding tables: the live sessions (windows) by key, built from the
     * store and overlay at the first use after a recovery (sess_t0 == rec_t0_ns) */
    rill__sess_index_t sess;
    rill_store_part_t *sess_sp;
    uint64_t sess_t0;
    bool sess_loaded;
    int64_t ttl_next_ms; /* ttl_ms: the next sweep (wall clock) */
    /* bumped when the overlay is dropped (rill__tables_discard: an aborted
     * transaction): caches of its rows outside table.c reload (stream_timer.c) */
    uint32_t discards;
    /* a GlobalTable's copy (STANDBY): the changelog's end when its reader opened
     * (-1: unknown, the reader's first end of partition tells), and whether the
     * copy has reached it (rill_app_is_ready waits for every partition's) */
    int64_t copy_end;
    bool copy_current;
    bool kept; /* released at a revoke with its data kept, in case the
                  partition comes back (eager rebalances revoke all) */
    /* what rill__st_stats last said of sp (st_ok), for rill__table_stats_live: a
     * scan on rocksdb://, so asked again only after the store changed — every
     * store write of the partition (a flush, a changelog batch) and its closing
     * clear st_ok */
    rill_store_stats_t st;
    bool st_ok;
} rill_tpart_t;

typedef rill_err_t (*rill__table_write_fn)(rill_table_t *t, int32_t partition,
                                           const void *key, size_t klen, void *opaque);
typedef struct rill__table_obs {
    rill__table_write_fn fn;
    void *opaque;
    void (*free_fn)(void *opaque); /* called with the table's end; NULL: borrowed */
} rill__table_obs_t;

/* Calls of a table's reads and writes, by kind (/metrics' rill_table_operations_total;
 * names in web_metrics.c): plain counters, bumped at each public entry. */
typedef enum {
    RILL__TOP_GET = 0, /* get, get_now, get_delta, get_window, a join's lookup */
    RILL__TOP_SET,
    RILL__TOP_INCR,
    RILL__TOP_DELETE, /* del, and set of NULL */
    RILL__TOP_FOREACH,
    RILL__TOP_N
} rill__table_op_t;

struct rill_table {
    rill_app_t *app;
    char *name;
    rill_table_opts_t opts;
    rill_type_t vcopy; /* opts.value_type points here */
    char *vser_name;
    rill_serializer_t *vser;
    bool raw_int64; /* fast path: int64 values as 8 bytes big-endian */
    /* rill_table_incr may add to a cached counter in place (raw_int64, no windows,
     * not global, no ttl) */
    bool incr_inplace;
    rill_topic_t *changelog;
    int32_t partitions;
    rill_tpart_t *parts;
    uint64_t recovered, standby_applied;
    /* table.key_partition_check: where a handler's key whose murmur2 partition is
     * not its event's goes (key_check_t in table.c) */
    int key_check;
    uint64_t mismatched_writes; /* such writes (stored in the event's partition) */
    bool *mismatch_logged;      /* [partitions]: warned for this event partition */
    rill_buf_t vbuf, kbuf;
    uint32_t key_hash;  /* owned_part: rill_murmur2 of the key it placed */
    uint32_t kbuf_hash; /* each_window: kbuf's rill_murmur2, for its first lookup */
    bool kbuf_hashed;   /* kbuf_hash is set (read_skey_at clears it) */
    /* stream-table joins on this table (join.c): their sources are checked for
     * co-partitioning at start; misses of inner joins are counted */
    struct rill__join *joins;
    uint64_t join_misses;
    uint64_t late_dropped, bad_timestamps; /* windowed: stats */
    bool session; /* session windows: opts.window_gap_ms (window_session_int.h) */
    /* sliding windows (window_sliding_int.h): size = diff + 1, step 1; store keys
     * start, key, 8 bytes of 1 when a record is at the window's end (else 0), kept
     * in the sessions' index (tp->sess, end = that mark) */
    bool sliding;
    uint64_t ttl_expired; /* opts.ttl_ms: keys deleted */
    /* table-table joins reading this table (join_table.c, layer 6): called after
     * each write made here, by handlers, timers, joins or ttl_ms (not by recovery or
     * standby applies: a joined table recovers from its own changelog), with the
     * partition written; an error is the write's result */
    struct rill__table_obs *obs;
    size_t nobs;
    /* a table-table join's table: its inputs, which must have its partition count
     * (checked by rill__tables_prepare) */
    struct rill_table *copart[2];
    char *join_name; /* for that check's message */
    uint64_t ops[RILL__TOP_N];
    struct rill_table *next;
};

/* table.c */
rill_err_t rill__tables_prepare(rill_app_t *app, char *errstr, size_t errlen);
void rill__tables_flush(rill_app_t *app);
/* Drop what the overlays hold (an aborted transaction): back to the store. */
void rill__tables_discard(rill_app_t *app);
void rill__tables_free(rill_app_t *app);
rill_err_t rill__tpart_flush(rill_tpart_t *tp);
/* Read @p key (in a handler: the event's table partition; windowed: the window of
 * the event's time) into @p out; *found tells whether a row exists (else @p out is
 * the default). */
rill_err_t rill__table_find(rill_table_t *t, const rill_event_t *ev, const void *key,
                            size_t klen, void *out, bool *found);
/* Partition-explicit reads and writes of a table without windows (stream-time
 * timers, table-table joins: layer 6): partition @p p must be owned and current
 * (else RILL_ENOTOWNER), whatever partition @p key hashes to.  A NULL @p value
 * deletes the key. */
rill_err_t rill__table_find_at(rill_table_t *t, int32_t p, const void *key, size_t klen,
                               void *out, bool *found);
rill_err_t rill__table_write_at(rill_table_t *t, int32_t p, const void *key, size_t klen,
                                const void *value);
/* Call @p fn after every write to @p t (see rill_table.obs); @p free_fn (may be NULL)
 * frees @p opaque with the table.  RILL_ENOMEM (a definition error set) when out of
 * memory (@p opaque is not freed then). */
rill_err_t rill__table_observe(rill_table_t *t, rill__table_write_fn fn, void *opaque,
                               void (*free_fn)(void *opaque));
/* join.c: one stream-table join (freed with its table, by table.c) */
typedef struct rill__join {
    rill_table_t *table;
    rill_topic_t *source; /* the joined stream's topic */
    int mode;             /* rill_join_mode_t */
    rill_key_fn key;
    void *key_opaque;
    rill_join_fn fn;
    void *opaque;
    rill_buf_t keybuf; /* the key function's output */
    void *row; /* the row looked up by the filter step, consumed by the map step */
    bool found;
    rill_err_t err; /* of the lookup, returned by the map step */
    struct rill__join *next;
} rill__join_t;
void rill__tables_list(rill_app_t *app);
/* rill_table_stats without flushing the write caches (/metrics, the dashboard: a
 * scrape must not change how often the changelog and the store are written).  The
 * store's stats slot is still called per owned partition (rocksdb://: a scan). */
rill_err_t rill__table_stats_live(rill_table_t *t, rill_table_stats_t *out);

/* table_recovery.c */
void rill__tables_on_assigned(rill_app_t *app, const rill_tp_t *tps, size_t n);
void rill__tables_on_revoked(rill_app_t *app);
/* Release, unflushed, every table partition of a partition given up as lost:
 * its overlay is dropped, the store keeps what was flushed before. */
void rill__tables_on_lost(rill_app_t *app);
bool rill__tables_recovering(const rill_app_t *app);
/* The first partition of a GlobalTable that is not current here: not held yet,
 * recovering, or a copy still reading up to the changelog's end when it opened;
 * NULL when every partition of every GlobalTable is (rill_app_is_ready). */
const rill_tpart_t *rill__tables_global_behind(const rill_app_t *app);
void rill__tables_stop_readers(rill_app_t *app);

#endif
