/* Internal: configuration storage, the table of known keys, and the property
 * tables (props.c) the app's keys and the plugins' share. */
#ifndef RILL_CONF_INT_H
#define RILL_CONF_INT_H

#include "log_int.h"
#include "rill/conf.h"
#include "rill/plugin.h"

typedef struct rill_conf_kv {
    char *key;
    char *value;
} rill_conf_kv_t;

struct rill_conf {
    rill_conf_kv_t *kv;
    size_t n, cap;
    struct rill_logger logger; /* level from log.level, cb from set_log_cb */
};

/* The known key (rill's own, or "<plugin>.<prop>" of a built-in plugin) closest to
 * the mistyped @p key, into @p out; false when none is close. */
bool rill__conf_suggest(const char *key, char *out, size_t outlen);

/* The app's own keys: a rill_prop_t table (offsets unused), NULL-terminated. */
const rill_prop_t *rill__conf_props(void);

/* Write the known keys as Markdown tables (docs/CONFIGURATION.md): the app's, then
 * "<backend>.<prop>" of every built-in backend. */
void rill__conf_describe(void (*line)(const char *text, void *opaque), void *opaque);

/* ---- properties (props.c) ------------------------------------------------------- */

/* Entry @p i of @p props, a table of any layout (plugin.h), copied into @p out: the
 * fields its layout lacks are zero, its type is of the current layout.  False past
 * the end (and for a table of a layout this rill does not know). */
bool rill__prop_at(const rill_prop_t *props, size_t i, rill_prop_t *out);
/* The entry of @p props named @p name, into @p out; false when none. */
bool rill__prop_find(const rill_prop_t *props, const char *name, rill_prop_t *out);

/* A value checked against its property. */
typedef struct rill__prop_value {
    const char *text; /* canonical: the value, "true"/"false", or the choice as the
                         table spells it (points into this struct: do not copy it) */
    int64_t i;        /* INT */
    double d;         /* DOUBLE */
    bool b;           /* BOOL */
    char choice[64];
} rill__prop_value_t;

/* The one validator of the app's keys and the plugins' properties: @p value checked
 * against @p p (number syntax, INT range, BOOL words, ENUM choices, URL syntax),
 * errors "<where>: expected an integer from 1 to 8, got '0'" (@p where names it:
 * "config key 'topic.partitions'", "URL parameter 'partitions'").  NULL is zero. */
rill_err_t rill__prop_parse(const rill_prop_t *p, const char *where, const char *value,
                            rill__prop_value_t *out, char *errstr, size_t errlen);

/* The Markdown row of @p p ("| `prefix.name` | `def` | desc (1 to 8) |"). */
void rill__prop_row(const rill_prop_t *p, const char *prefix, char *buf, size_t n);

#endif
