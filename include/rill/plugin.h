/**
 * @file plugin.h
 * @brief Plugin API: what transport, store and serializer authors build on.
 *
 * A plugin is a const `*_ops` table (see transport.h, store.h, serializer.h).
 * An instance is `{ops, impl, name}`: the core allocates `impl_size` zeroed bytes
 * for impl, fills the fields its `props` table describes from the URL query and
 * from "<scheme>.<prop>" conf keys, then calls `open`.
 */
#ifndef RILL_PLUGIN_H
#define RILL_PLUGIN_H

#include "conf.h"
#include "types.h"

RILL_BEGIN_DECLS

/* ---- properties ------------------------------------------------------------------ */

/**
 * Layout of rill_prop_t.  Fields are only ever appended; the type word of every
 * entry carries the layout it was built with (RILL_PROP_LAYOUT << 8 | kind), so the
 * core reads a table compiled against an older header at that header's stride.
 * Layout 1 (type words 1-4, STR to DOUBLE) is the struct up to desc; it reads as
 * if every appended field were zero.  Write types by their names (RILL_PROP_INT),
 * never as numbers.
 */
#define RILL_PROP_LAYOUT 2

typedef enum {
    RILL_PROP_STR = (RILL_PROP_LAYOUT << 8) | 1, /**< char * (owned by the core, freed
                                                    after close) */
    RILL_PROP_INT,    /**< int64_t, within [min, max] unless both are 0 */
    RILL_PROP_BOOL,   /**< bool: true/false, 1/0, yes/no, on/off (any case) */
    RILL_PROP_DOUBLE, /**< double */
    RILL_PROP_ENUM,   /**< char *: one of choices (any case; stored as spelled there) */
    RILL_PROP_URL,    /**< char *: a URL rill_url_parse() accepts */
} rill_prop_type_t;

/** @brief One property: a typed field of a plugin's impl struct (or, in the core's
 * own table, an app config key).  Existing positional tables
 * `{"name", RILL_PROP_INT, "5", offsetof(..), "desc"}` compile unchanged; the
 * appended fields are given by designator: `.min = 1, .max = 65535`,
 * `.choices = "a|b"`. */
typedef struct rill_prop {
    const char *name; /**< "linger.ms"; NULL terminates the table */
    rill_prop_type_t type;
    const char *def; /**< default, as text (NULL: zero, not checked) */
    size_t offset;   /**< offsetof(impl struct, member) */
    const char *desc;
    /* layout 2 */
    int64_t min, max;    /**< INT: the accepted range, inclusive (both 0: any) */
    const char *choices; /**< ENUM: "a|b|c" */
} rill_prop_t;

/** @brief Fill @p impl from @p props (a table of any layout): defaults, then conf
 * "<prefix>.<name>", then the URL query, each value checked as rill_conf_set()
 * checks the app's own keys (same messages: "config key 'memory.partitions':
 * expected an integer from 1 to 100000, got '0'").  With @p strict, conf keys
 * "<prefix>.*" and query keys that no prop names are an error; without it they are left
 * for the plugin (passthrough, e.g. kafka.* to librdkafka).  @p props, @p conf and @p url
 * may be NULL. */
struct rill_url;
RILL_API rill_err_t rill_props_apply(const rill_prop_t *props, void *impl,
                                     const char *prefix, const rill_conf_t *conf,
                                     const struct rill_url *url, bool strict,
                                     char *errstr, size_t errlen);
/** @brief Free the STR members rill_props_apply() set. */
RILL_API void rill_props_free(const rill_prop_t *props, void *impl);

/* ---- URLs -------------------------------------------------------------------------- */

typedef struct rill_url_param {
    char *key;
    char *value;
} rill_url_param_t;

/** @brief A parsed URL:
 * scheme://[user[:password]@]host[:port][,host:port...][/path][?k=v&...] */
typedef struct rill_url {
    char *raw;       /**< the URL as given */
    char *scheme;    /**< lower-case: "kafka" */
    char *user;      /**< or NULL */
    char *password;  /**< or NULL */
    char *authority; /**< "h1:9092,h2:9092" without credentials, or "" */
    char *host;      /**< first host, or "" */
    int port;        /**< first port, or 0 */
    char *path;      /**< "/var/lib/x", or "" */
    rill_url_param_t *params;
    size_t nparams;
} rill_url_t;

/** @brief Parse @p s.  Errors name what is wrong ("missing '://' after scheme"). */
RILL_API rill_err_t rill_url_parse(const char *s, rill_url_t **out, char *errstr,
                                   size_t errlen);
RILL_API void rill_url_destroy(rill_url_t *url);
/** @brief Value of query parameter @p key or NULL. */
RILL_API const char *rill_url_param(const rill_url_t *url, const char *key);

/* ---- logging for plugins ------------------------------------------------------------
 */

typedef struct rill_logger rill_logger_t;

/** @brief Log through the owning app's sink ("[name] message"). */
RILL_API void rill_log(const rill_logger_t *lg, rill_log_level_t level, const char *name,
                       const char *fmt, ...) RILL_PRINTF(4, 5);

RILL_END_DECLS

#endif
