/**
 * @file conf.h
 * @brief App configuration: string keys and values, validated as they are set.
 *
 * Known keys (see docs/CONFIGURATION.md for the full table):
 *   broker, store, web.port, log.level, commit.interval.ms, on_decode_error,
 *   processing_guarantee, table.standby_replicas, broker.timeout.ms, ...
 * Keys prefixed with a registered backend's name ("kafka.", "redis.", "rocksdb.",
 * "memory.", "json.", "avro.") are passed to that backend, which validates them
 * when the app is created.
 */
#ifndef RILL_CONF_H
#define RILL_CONF_H

#include "types.h"

RILL_BEGIN_DECLS

typedef struct rill_conf rill_conf_t;

typedef enum {
    RILL_CONF_OK = 0,
    RILL_CONF_INVALID = -1, /**< known key, bad value */
    RILL_CONF_UNKNOWN = -2, /**< no such key */
} rill_conf_res_t;

typedef enum {
    RILL_LOG_FATAL = 0,
    RILL_LOG_ERROR,
    RILL_LOG_WARN,
    RILL_LOG_INFO,
    RILL_LOG_DEBUG,
    RILL_LOG_TRACE,
} rill_log_level_t;

/** @brief Log sink.  @p name is the emitting instance ("app", "kafka.0"). */
typedef void (*rill_log_cb)(rill_log_level_t level, const char *name, const char *msg,
                            void *opaque);

RILL_API rill_conf_t *rill_conf_new(void);
RILL_API void rill_conf_destroy(rill_conf_t *conf);
RILL_API rill_conf_t *rill_conf_dup(const rill_conf_t *conf);

/**
 * @brief Set @p key to @p value.  Unknown keys and malformed values (bad URL,
 * non-numeric number, unknown enum word) are rejected with a message naming the key.
 */
RILL_API rill_conf_res_t rill_conf_set(rill_conf_t *conf, const char *key,
                                       const char *value, char *errstr, size_t errlen);
/** @brief Value of @p key, the default for known unset keys, or NULL. Borrowed. */
RILL_API const char *rill_conf_get(const rill_conf_t *conf, const char *key);
/** @brief Integer value of @p key (or its default); @p def when unset and no default. */
RILL_API int64_t rill_conf_get_int(const rill_conf_t *conf, const char *key, int64_t def);
/** @brief Call @p cb for every set key starting with @p prefix (in set order). */
RILL_API void rill_conf_foreach(const rill_conf_t *conf, const char *prefix,
                                void (*cb)(const char *key, const char *value,
                                           void *opaque),
                                void *opaque);
/** @brief Route logs to @p cb instead of stderr. */
RILL_API void rill_conf_set_log_cb(rill_conf_t *conf, rill_log_cb cb, void *opaque);
/** @brief Parse "error", "warn", "info", "debug", "trace" (or "fatal"). */
RILL_API rill_err_t rill_log_level_parse(const char *s, rill_log_level_t *out);
RILL_API const char *rill_log_level_name(rill_log_level_t level);

RILL_END_DECLS

#endif
