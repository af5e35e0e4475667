/**
 * @file store.h
 * @brief Store interface (plugin API): per-table-partition key/value state.
 *
 * Keys and values are bytes; keys order bytewise (memcmp, then shorter first),
 * as RocksDB's default comparator does.  Each table partition is opened as a
 * rill_store_part_t.  Besides data, a partition persists the changelog offset it
 * reflects (the next changelog offset to apply), written atomically with the data
 * in rill_store_ops.write, so recovery replays only the changelog tail.
 * Built-ins: "memory" (memory://), "rocksdb" (rocksdb:///path).
 */
#ifndef RILL_STORE_H
#define RILL_STORE_H

#include "plugin.h"

RILL_BEGIN_DECLS

#define RILL_STORE_ABI 1

typedef struct rill_store rill_store_t;
/** @brief One table partition's keyspace; defined by each plugin. */
typedef struct rill_store_part rill_store_part_t;

/** @brief Feature bits (ops.features): RILL_STORE_F_*, as RILL_TRANSPORT_F_*. */
#define RILL_STORE_F_PERSISTENT 0x1u /**< data survives a process restart */

/** @deprecated Old spelling; use RILL_STORE_F_PERSISTENT. */
#define RILL_STF_PERSISTENT RILL_STORE_F_PERSISTENT

typedef enum { RILL_STORE_PUT = 1, RILL_STORE_DEL = 2 } rill_store_op_kind_t;

/** @brief One operation of an atomic write batch (borrowed buffers). */
typedef struct rill_store_op {
    rill_store_op_kind_t kind;
    const void *key;
    size_t klen;
    const void *val; /**< PUT only */
    size_t vlen;
} rill_store_op_t;

/** @brief Scan callback: return non-zero to stop the scan early. Views are valid
 * for the call only. */
typedef int (*rill_store_scan_cb)(const void *key, size_t klen, const void *val,
                                  size_t vlen, void *opaque);

/** @brief Size statistics of a partition. */
typedef struct rill_store_stats {
    uint64_t keys;  /**< number of live keys (may be an estimate for rocksdb) */
    uint64_t bytes; /**< bytes of live keys+values (estimate) */
} rill_store_stats_t;

struct rill_store_ops {
    unsigned abi;       /**< RILL_STORE_ABI */
    const char *scheme; /**< "memory", "rocksdb" */
    const char *description;
    uint32_t features; /**< RILL_STORE_F_* */
    const rill_prop_t *props;
    size_t impl_size;

    /** Open the store at @p url (rocksdb:///path: a directory, created if missing). */
    rill_err_t (*open)(rill_store_t *s, const rill_url_t *url, const rill_conf_t *conf,
                       char *errstr, size_t errlen);
    /** Open (creating if needed) the keyspace of table @p table, partition @p partition.
     * Opening one that is already open is RILL_EEXIST. */
    rill_err_t (*part_open)(rill_store_t *s, const char *table, int32_t partition,
                            rill_store_part_t **out, char *errstr, size_t errlen);
    /** Copy the value of @p key into @p out (reset first). RILL_ENOENT if absent. */
    rill_err_t (*get)(rill_store_part_t *p, const void *key, size_t klen,
                      rill_buf_t *out);
    rill_err_t (*put)(rill_store_part_t *p, const void *key, size_t klen, const void *val,
                      size_t vlen);
    /** Delete @p key; deleting an absent key is RILL_OK. */
    rill_err_t (*del)(rill_store_part_t *p, const void *key, size_t klen);
    /** Apply @p n ops atomically, in order, and (if @p changelog_offset >= 0) persist
     * it as the partition's offset in the same atomic write. */
    rill_err_t (*write)(rill_store_part_t *p, const rill_store_op_t *ops, size_t n,
                        int64_t changelog_offset);
    /** Visit keys in [start, end) in ascending order.  NULL start/end: unbounded. */
    rill_err_t (*scan)(rill_store_part_t *p, const void *start, size_t slen,
                       const void *end, size_t elen, rill_store_scan_cb cb, void *opaque);
    /** The persisted changelog offset, or RILL_OFFSET_INVALID if none was written. */
    rill_err_t (*offset)(rill_store_part_t *p, int64_t *out);
    rill_err_t (*stats)(rill_store_part_t *p, rill_store_stats_t *out);
    /** Close a partition handle (data stays). */
    void (*part_close)(rill_store_part_t *p);
    /** Delete all data and the offset of a closed partition (moved away, not standby). */
    rill_err_t (*drop)(rill_store_t *s, const char *table, int32_t partition,
                       char *errstr, size_t errlen);
    /** Make every completed write durable (fsync / WAL flush).  May be NULL. */
    rill_err_t (*flush)(rill_store_t *s);
    /** Close the store; every partition was closed first.  Accepts a half-open s. */
    void (*close)(rill_store_t *s);
};

struct rill_store {
    const struct rill_store_ops *ops;
    void *impl;
    const rill_logger_t *log;
    char name[32];
};

RILL_API rill_err_t rill_register_store(const struct rill_store_ops *ops);
RILL_API const struct rill_store_ops *rill_store_find(const char *scheme);

/** @brief Open a standalone store from a URL (tests, tools). @p conf may be NULL. */
RILL_API rill_store_t *rill_store_new(const char *url, const rill_conf_t *conf,
                                      char *errstr, size_t errlen);
RILL_API void rill_store_destroy(rill_store_t *s);

RILL_END_DECLS

#endif
