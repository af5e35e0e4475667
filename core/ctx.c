/* The small app core every layer above may use: the error latch, failing (the
 * loop stops through a hook app.c sets), the serializer cache, logging.  Layer 2
 * (docs/architecture.md): calls only layers 0-1 and the app's hooks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "ctx_int.h"

void rill__app_seterr(rill_app_t *app, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(app->errmsg, sizeof app->errmsg, fmt, ap);
    va_end(ap);
}

/* A definition failed: the app will refuse to start, naming the first one (cairo's
 * sticky error), however many definitions followed it. */
void rill__app_deferr(rill_app_t *app, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(app->errmsg, sizeof app->errmsg, fmt, ap);
    va_end(ap);
    if (!app->def_err[0]) snprintf(app->def_err, sizeof app->def_err, "%s", app->errmsg);
}

const char *rill_app_errmsg(const rill_app_t *app) {
    return app->errmsg;
}

const char *rill_app_id(const rill_app_t *app) {
    return app->id;
}

struct event_base *rill_app_base(const rill_app_t *app) {
    return app->base;
}

const rill_conf_t *rill_app_conf(const rill_app_t *app) {
    return app->conf;
}

void rill_app_log(const rill_app_t *app, rill_log_level_t level, const char *fmt, ...) {
    if (level > app->log->level) return;
    va_list ap;
    va_start(ap, fmt);
    rill__vlog(app->log, level, app->id, fmt, ap);
    va_end(ap);
}

rill_serializer_t *rill__app_serializer(rill_app_t *app, const char *name, char *errstr,
                                        size_t errlen) {
    for (size_t i = 0; i < app->nsers; i++)
        if (strcmp(app->sers[i]->name, name) == 0) return app->sers[i];
    rill_serializer_t *s =
        rill__serializer_open(name, app->conf, app->log, errstr, errlen);
    if (!s) return NULL;
    rill_serializer_t **ns = realloc(app->sers, (app->nsers + 1) * sizeof *ns);
    if (!ns) {
        rill_serializer_destroy(s);
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    app->sers = ns;
    app->sers[app->nsers++] = s;
    return s;
}

void rill_app_fail(rill_app_t *app, rill_err_t err, const char *fmt, ...) {
    if (app->state == RILL_APP_STOPPED) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(app->errmsg, sizeof app->errmsg, fmt, ap);
    va_end(ap);
    rill_log(app->log, RILL_LOG_FATAL, app->id, "worker dies: %s (%s)", app->errmsg,
             rill_err_name(err));
    app->exit_err = err ? err : RILL_EFATAL;
    if (app->hooks.finish) /* no commit: uncommitted work is redone by the next owner */
        app->hooks.finish(app);
}
