/* Internal: loggers.  An app owns one; standalone plugin instances share the
 * default (stderr, level from $RILL_LOG_LEVEL or "info"). */
#ifndef RILL_LOG_INT_H
#define RILL_LOG_INT_H

#include <stdarg.h>

#include "rill/plugin.h"

struct rill_logger {
    rill_log_level_t level;
    rill_log_cb cb; /* NULL: stderr */
    void *opaque;
};

const rill_logger_t *rill__logger_default(void);
void rill__vlog(const rill_logger_t *lg, rill_log_level_t level, const char *name,
                const char *fmt, va_list ap);

#define rill__log_enabled(lg, lvl) ((lg) && (lvl) <= (lg)->level)

#endif
