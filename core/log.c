/* Logging: level filter, timestamped lines on stderr, or the user's callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log_int.h"

static const char *const level_names[] = {"fatal", "error", "warn",
                                          "info",  "debug", "trace"};

const char *rill_log_level_name(rill_log_level_t level) {
    if ((unsigned)level < sizeof level_names / sizeof level_names[0])
        return level_names[level];
    return "?";
}

rill_err_t rill_log_level_parse(const char *s, rill_log_level_t *out) {
    if (!s) return RILL_EINVAL;
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (rill_log_level_t)i;
            return RILL_OK;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = RILL_LOG_WARN;
        return RILL_OK;
    }
    return RILL_EINVAL;
}

const rill_logger_t *rill__logger_default(void) {
    static struct rill_logger lg = {.level = RILL_LOG_INFO};
    static int inited;
    if (!inited) {
        rill_log_level_t l;
        if (rill_log_level_parse(getenv("RILL_LOG_LEVEL"), &l) == RILL_OK) lg.level = l;
        inited = 1;
    }
    return &lg;
}

void rill__vlog(const rill_logger_t *lg, rill_log_level_t level, const char *name,
                const char *fmt, va_list ap) {
    if (!lg) lg = rill__logger_default();
    if (level > lg->level) return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (lg->cb) {
        lg->cb(level, name ? name : "rill", msg, lg->opaque);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    static const char *const tags[] = {"FATAL", "ERROR", "WARN ",
                                       "INFO ", "DEBUG", "TRACE"};
    fprintf(stderr, "%s.%03ldZ %s [%s] %s\n", when, ts.tv_nsec / 1000000,
            tags[level <= RILL_LOG_TRACE ? level : RILL_LOG_TRACE], name ? name : "rill",
            msg);
}

void rill_log(const rill_logger_t *lg, rill_log_level_t level, const char *name,
              const char *fmt, ...) {
    if (!lg) lg = rill__logger_default();
    if (level > lg->level) return;
    va_list ap;
    va_start(ap, fmt);
    rill__vlog(lg, level, name, fmt, ap);
    va_end(ap);
}
