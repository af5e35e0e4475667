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

typedef enum {
    RILL_PROP_STR = 1, /**< char * (owned by the core, freed after close) */
    RILL_PROP_INT,     /**< int64_t */
    RILL_PROP_BOOL,    /**< bool ("true/false/1/0/yes/no") */
    RILL_PROP_DOUBLE,  /**< double */
} rill_prop_type_t;

typedef struct rill_prop {
    const char *name; /**< "linger.ms"; NULL terminates the table */
    rill_prop_type_t type;
    const char *def; /**< default, as text (NULL: zero) */
    size_t offset;   /**< offsetof(impl struct, member) */
    const char *desc;
} rill_prop_t;

/** @brief Fill @p impl from @p props: defaults, then conf "<prefix>.<name>", then
 * the URL query.  With @p strict, conf keys "<prefix>.*" and query keys that no
 * prop names are an error; without it they are left for the plugin (passthrough,
 * e.g. kafka.* to librdkafka).  @p props, @p conf and @p url may be NULL. */
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
