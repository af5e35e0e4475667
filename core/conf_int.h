/* Internal: configuration storage and the table of known keys. */
#ifndef RILL_CONF_INT_H
#define RILL_CONF_INT_H

#include "log_int.h"
#include "rill/conf.h"

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

/* Write the known keys as a Markdown table (docs/CONFIGURATION.md). */
void rill__conf_describe(void (*line)(const char *text, void *opaque), void *opaque);

#endif
