/* The app: configuration, backends, start, graceful stop (the commit cycle is in
 * commit.c, failing in ctx.c).  Layer 7 (docs/architecture.md). */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_setup_int.h"
#include "backend_int.h"
#include "commit_int.h"
#include "consumer_int.h"
#include "forward_int.h"
#include "reply_int.h"
#include "stream_int.h"
#include "table_int.h"
#include "timer_int.h"
#include "url_int.h"
#include "web_int.h"
#include "workers_int.h"

static void finish(rill_app_t *app);
static void check_idle(rill_app_t *app);

/* The last held send left (backlog.c): agents, a stop and a revoke go on. */
static void sends_unblocked(rill_app_t *app) {
    rill__agents_unblocked(app);
    rill__timers_unblocked(app);
    check_idle(app);
    rill__consumer_revoke_idle(app);
}

static bool valid_id(const char *id) {
    if (!id || !*id || strlen(id) > 200) return false;
    for (const char *p = id; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
            !(*p >= '0' && *p <= '9') && !strchr("-_.", *p))
            return false;
    return true;
}

static void parse_conf(rill_app_t *app) {
    app->commit_interval_ms = rill_conf_get_int(app->conf, "commit.interval.ms", 1000);
    app->revoke_timeout_ms = rill_conf_get_int(app->conf, "revoke.timeout.ms", 30000);
    app->shutdown_timeout_ms = rill_conf_get_int(app->conf, "shutdown.timeout.ms", 30000);
    app->buffer_maxsize =
        (uint32_t)rill_conf_get_int(app->conf, "stream.buffer.maxsize", 4096);
    app->cl_per_write = !strcmp(rill_conf_get(app->conf, "table.changelog"), "per_write");
    const char *ode = rill_conf_get(app->conf, "on_decode_error");
    app->on_decode_error = !strcmp(ode, "dead_letter") ? RILL__DECODE_DEAD_LETTER
                           : !strcmp(ode, "crash")     ? RILL__DECODE_CRASH
                                                       : RILL__DECODE_SKIP;
}

rill_app_t *rill_app_new_with_base(const char *id, rill_conf_t *conf,
                                   struct event_base *base, char *errstr, size_t errlen) {
    char dummy[1];
    if (!errstr || !errlen) {
        errstr = dummy;
        errlen = sizeof dummy;
    }
    if (!valid_id(id)) {
        snprintf(errstr, errlen,
                 "app id '%s' is invalid: use 1-200 letters, digits, '-', '_' or '.'",
                 id ? id : "(null)");
        return NULL;
    }
    rill_app_t *app = calloc(1, sizeof *app);
    if (!app) {
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    app->conf = conf ? conf : rill_conf_new();
    app->id = strdup(id);
    if (!app->conf || !app->id) goto nomem;
    app->log = &app->conf->logger;
    const char *cid = rill_conf_get(app->conf, "client.id");
    char host[64] = "localhost", buf[512];
    gethostname(host, sizeof host - 1);
    static unsigned seq;
    if (cid && *cid)
        snprintf(buf, sizeof buf, "%s", cid);
    else
        snprintf(buf, sizeof buf, "%s-%s-%ld-%u", id, host, (long)getpid(), ++seq);
    if (!(app->client_id = strdup(buf))) goto nomem;
    if (base) {
        app->base = base;
    } else {
        app->base = event_base_new();
        app->own_base = true;
        if (!app->base) goto nomem;
    }
    parse_conf(app);
    app->hooks.finish = finish;
    app->hooks.idle = check_idle;
    app->hooks.event_tp = rill__event_tp;
    app->hooks.sends_done = rill__commit_sends_done;
    app->hooks.sends_unblocked = sends_unblocked;
    app->hooks.revoke_idle = rill__consumer_revoke_idle;
    app->hooks.lose = rill__partitions_lose;
    app->hooks.recovered = rill__workers_changed;
    app->handlers = (rill_transport_handlers_t){
        .messages = rill__on_messages,
        .assigned = rill__on_assigned,
        .revoke_request = rill__on_revoked,
        .writable = rill__on_writable,
        .delivered = rill__sends_delivered,
        .opaque = app,
    };
    return app;
nomem:
    if (!conf) rill_conf_destroy(app->conf);
    free(app->id);
    free(app->client_id);
    free(app);
    snprintf(errstr, errlen, "out of memory");
    return NULL;
}

rill_app_t *rill_app_new(const char *id, rill_conf_t *conf, char *errstr, size_t errlen) {
    return rill_app_new_with_base(id, conf, NULL, errstr, errlen);
}

rill_err_t rill__app_set(rill_app_t *app, const char *key, const char *value,
                         char *errstr, size_t errlen) {
    if (app->state != RILL_APP_CREATED || app->transport) {
        snprintf(errstr, errlen, "config can only change before the app starts");
        return RILL_ESTATE;
    }
    if (rill_conf_set(app->conf, key, value, errstr, errlen) != RILL_CONF_OK)
        return RILL_ECONF;
    parse_conf(app);
    return RILL_OK;
}

/* ---- failure and stop ---------------------------------------------------------------
 */

static void finish(rill_app_t *app) {
    if (app->recovery_ev) event_del(app->recovery_ev);
    if (app->commit_ev) event_del(app->commit_ev);
    if (app->revoke_ev) event_del(app->revoke_ev);
    if (app->shutdown_ev) event_del(app->shutdown_ev);
    /* rill_app_run()'s signal handlers stay until rill_app_destroy(): a signal
     * that comes now (the second copy of a SIGTERM sent to the process and to its
     * group) must not find the default action, which kills the worker (143). */
    if (app->stop_ev) event_del(app->stop_ev);
    rill__timers_stop(app);
    rill__lease_stop(app);
    app->state = RILL_APP_STOPPED;
    if (app->own_base || app->in_run) event_base_loopexit(app->base, NULL);
    /* rill_app_run() calls on_stopped once the loop has ended; on a caller's base
     * the loop calls it, out of whatever callback stopped the app. */
    if (app->on_stopped && !app->in_run && app->stopped_ev)
        event_active(app->stopped_ev, EV_TIMEOUT, 0);
}

/* Call (and forget) on_stopped: the app may be destroyed by it, so nothing may
 * touch @p app afterwards. */
static void call_on_stopped(rill_app_t *app) {
    rill_timer_fn fn = app->on_stopped;
    app->on_stopped = NULL;
    if (fn) fn(app, app->on_stopped_opaque);
}

static void on_stopped_ev(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    call_on_stopped(arg);
}

rill_err_t rill_app_on_stopped(rill_app_t *app, rill_timer_fn fn, void *opaque) {
    if (!app) return RILL_EINVAL;
    if (app->state == RILL_APP_STOPPED) {
        rill__app_seterr(app, "rill_app_on_stopped: app '%s' has already stopped",
                         app->id);
        return RILL_ESTATE;
    }
    if (!app->stopped_ev &&
        !(app->stopped_ev = evtimer_new(app->base, on_stopped_ev, app)))
        return RILL_ENOMEM;
    app->on_stopped = fn;
    app->on_stopped_opaque = opaque;
    return RILL_OK;
}

static void on_transport_error(rill_transport_t *t, rill_err_t err, bool fatal,
                               const char *msg, void *opaque) {
    rill_app_t *app = opaque;
    if (fatal)
        rill_app_fail(app, err, "transport: %s", msg);
    else /* t, not app->transport: this may come while the transport opens */
        rill_log(app->log, RILL_LOG_WARN, t->name, "%s (%s)", msg, rill_err_name(err));
}

/* Graceful stop, last steps: everything in flight is done (or timed out). */
static void stop_finish(rill_app_t *app) {
    if (app->state != RILL_APP_STOPPING) return;
    if (app->shutdown_ev) event_del(app->shutdown_ev);
    rill__timers_run_on_stop(app);
    if (app->transport) {
        rill__tables_stop_readers(app);
        bool owner = rill__lease_ok(app);   /* a stall: nothing of ours to flush */
        if (owner) rill__tables_flush(app); /* coalesced changelog records go out too */
        rill_err_t rc = rill__sends_flush(app, (int)app->shutdown_timeout_ms);
        if (rc != RILL_OK) /* not delivered: their events are not committed either */
            rill__log(app, RILL_LOG_ERROR,
                      "flushing sends at shutdown: %s; the last offsets are not "
                      "committed, the next owner processes those events again",
                      rill_err2str(rc));
        if (owner && rc == RILL_OK) rill__commit(app, true);
        if (app->subscribed) rill__tr_unsubscribe(app->transport);
        app->subscribed = false;
    }
    rill__log(app, RILL_LOG_INFO, "stopped");
    finish(app);
}

static void on_stop_ev(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    stop_finish(arg);
}

/* The last steps run from the loop, never inside the callback that asked for them:
 * a transport's delivery callback (where rill_app_stop or the last ack may come
 * from) cannot wait for its own flush. */
static void check_idle(rill_app_t *app) {
    /* Held sends (backlog.c) leave before the final flush and commit. */
    if (app->state != RILL_APP_STOPPING || app->inflight_total != 0 || app->sends_held)
        return;
    if (!app->stop_ev && !(app->stop_ev = evtimer_new(app->base, on_stop_ev, app))) {
        stop_finish(app);
        return;
    }
    event_active(app->stop_ev, EV_TIMEOUT, 0);
}

static void on_shutdown_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill_app_t *app = arg;
    rill__log(app, RILL_LOG_ERROR,
              "shutdown: %llu events still in flight and %zu sends waiting for room in "
              "the transport's queue after %lld ms; they will be processed again by "
              "the next owner",
              (unsigned long long)app->inflight_total, app->sends_held,
              (long long)app->shutdown_timeout_ms);
    stop_finish(app);
}

void rill_app_stop(rill_app_t *app) {
    if (app->state == RILL_APP_CREATED) {
        app->state = RILL_APP_STOPPED;
        return;
    }
    if (app->state != RILL_APP_RUNNING) return;
    app->state = RILL_APP_STOPPING;
    rill__log(app, RILL_LOG_INFO, "stopping: finishing %llu in-flight events",
              (unsigned long long)app->inflight_total);
    rill__timers_stop(app);
    /* Stop consuming: events received but not started are dropped (not acked, so
     * not committed); the next owner reads them again. */
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->parts || t->channel) continue;
        for (int32_t p = 0; p < t->partitions; p++) {
            rill_tpstate_t *tp = &t->parts[p];
            if (!tp->assigned) continue;
            rill__agents_drop_queued(app, tp);
            rill__tr_pause(app->transport, t->name, p);
        }
    }
    rill__delayed_release(app, NULL); /* held until due: the next owner reschedules */
    rill__take_flush_all(app);        /* partial batches are delivered, not lost */
    if (app->state != RILL_APP_STOPPING) return;
    if (app->inflight_total == 0) {
        check_idle(app);
        return;
    }
    struct timeval tv = {app->shutdown_timeout_ms / 1000,
                         (app->shutdown_timeout_ms % 1000) * 1000};
    app->shutdown_ev = evtimer_new(app->base, on_shutdown_timeout, app);
    if (app->shutdown_ev) evtimer_add(app->shutdown_ev, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    (void)what;
    rill_app_t *app = arg;
    const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    /* One stop per worker, as Faust: a signal during or after the stop is often
     * the same request again (timeout(1), systemd and docker signal the process
     * and then its group or cgroup), so it neither fails the stop nor cuts it
     * short; shutdown.timeout.ms bounds the stop. */
    if (app->state != RILL_APP_RUNNING) {
        rill__log(app, RILL_LOG_INFO, "received %s again: the graceful stop goes on",
                  name);
        return;
    }
    rill__log(app, RILL_LOG_INFO, "received %s, shutting down gracefully", name);
    rill_app_stop(app);
}

/* ---- start
 * ------------------------------------------------------------------------------- */

rill_err_t rill__app_open(rill_app_t *app, char *errstr, size_t errlen) {
    if (app->transport) return RILL_OK;
    app->handlers.error = on_transport_error;
    app->transport =
        rill__transport_open(rill_conf_get(app->conf, "broker"), app->conf, app->base,
                             &app->handlers, app->client_id, app->log, errstr, errlen);
    if (!app->transport) return RILL_ETRANSPORT;
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        rill_err_t rc = rill__topic_resolve(t, errstr, errlen);
        if (rc == RILL_OK) rc = rill__topic_declare(t, errstr, errlen);
        if (rc != RILL_OK) return rc;
    }
    return RILL_OK;
}

/* Append to a banner line; a line too long for @p b ends in "...". */
static void banner_add(char *b, size_t blen, const char *fmt, ...) {
    size_t used = strlen(b);
    if (used + 4 >= blen) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b + used, blen - used, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= blen - used) memcpy(b + blen - 4, "...", 4);
}

/* The startup banner: what this worker is and where it talks to, credentials
 * masked.  Partition counts are known here (the topics are declared). */
static void log_banner(rill_app_t *app) {
    if (!rill__log_enabled(app->log, RILL_LOG_INFO)) return;
    char broker[512], store[512], line[1024];
    rill__url_redact(rill_conf_get(app->conf, "broker"), broker, sizeof broker);
    rill__url_redact(rill_conf_get(app->conf, "store"), store, sizeof store);
    rill__log(app, RILL_LOG_INFO, "started: app %s, broker %s, store %s, client id %s",
              app->id, broker, store, app->client_id);
    line[0] = '\0';
    for (rill_topic_t *t = app->topics; t; t = t->next)
        if (!t->channel)
            banner_add(line, sizeof line, "%s%s(%d)", line[0] ? ", " : "", t->name,
                       (int)t->partitions);
    if (line[0]) rill__log(app, RILL_LOG_INFO, "topics: %s", line);
    line[0] = '\0';
    for (rill_table_t *t = app->tables; t; t = t->next)
        banner_add(line, sizeof line, "%s%s(%d)", line[0] ? ", " : "", t->name,
                   (int)t->partitions);
    if (line[0]) rill__log(app, RILL_LOG_INFO, "tables: %s", line);
    if (app->web)
        rill__log(app, RILL_LOG_INFO, "web: http://%s:%lld/",
                  rill_conf_get(app->conf, "web.host"),
                  (long long)rill_conf_get_int(app->conf, "web.port", 0));
}

/* A peer closing a socket (an HTTP client, a broker) while the worker writes must
 * cost that connection, not the process: SIGPIPE's default action kills it.  A
 * program that set its own disposition keeps it. */
static void ignore_sigpipe(void) {
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

rill_err_t rill_app_start(rill_app_t *app, char *errstr, size_t errlen) {
    char dummy[1];
    if (!errstr || !errlen) {
        errstr = dummy;
        errlen = sizeof dummy;
    }
    if (!app) {
        snprintf(errstr, errlen, "no app: rill_app_new failed (its error says why)");
        return RILL_EINVAL;
    }
    if (app->state == RILL_APP_STOPPED) {
        snprintf(errstr, errlen,
                 "app '%s' has stopped: a stopped app cannot be started again "
                 "(destroy it and create a new one)",
                 app->id);
        return RILL_ESTATE;
    }
    if (app->state != RILL_APP_CREATED) {
        snprintf(errstr, errlen, "app '%s' was already started", app->id);
        return RILL_ESTATE;
    }
    ignore_sigpipe();
    if (app->def_err[0]) { /* sticky: the first definition that failed */
        snprintf(errstr, errlen, "app '%s' is not started: its definition failed: %s",
                 app->id, app->def_err);
        return RILL_EINVAL;
    }
    const char *adv = rill_conf_get(app->conf, "web.advertised_url");
    if (adv && *adv && strncmp(adv, "http://", 7) && strncmp(adv, "https://", 8)) {
        snprintf(errstr, errlen,
                 "web.advertised_url '%s' is not a URL: it must start with http:// or "
                 "https:// (e.g. http://worker-1.internal:6066)",
                 adv);
        return RILL_ECONF;
    }
    if (app->on_decode_error == RILL__DECODE_DEAD_LETTER && !app->dead_letter) {
        const char *dl = rill_conf_get(app->conf, "dead_letter.topic");
        char name[256];
        snprintf(name, sizeof name, "%s-dead-letter", app->id);
        rill_topic_opts_t o = {.internal = true};
        app->dead_letter = rill_app_topic(app, dl && *dl ? dl : name, &o);
        if (!app->dead_letter) {
            snprintf(errstr, errlen, "%s", app->errmsg);
            return RILL_ENOMEM;
        }
    }
    rill_err_t rc = rill__delayed_prepare(app);
    if (rc != RILL_OK) {
        snprintf(errstr, errlen, "%s", app->errmsg);
        goto fail;
    }
    rc = rill__app_open(app, errstr, errlen);
    if (rc == RILL_OK &&
        !strcmp(rill_conf_get(app->conf, "processing_guarantee"), "exactly_once") &&
        !rill__tr_has(app->transport, RILL_TRANSPORT_F_TXN)) {
        snprintf(errstr, errlen,
                 "processing_guarantee=exactly_once needs a transport with transactions "
                 "(kafka://); '%s' has none",
                 app->transport->ops->scheme);
        rc = RILL_ECONF;
    }
    if (rc == RILL_OK) rc = rill__tables_prepare(app, errstr, errlen);
    if (rc != RILL_OK) goto fail;
    app->state = RILL_APP_RUNNING;
    if ((rc = rill__lease_start(app)) != RILL_OK) {
        snprintf(errstr, errlen, "cannot start the lease watchdog: %s", rill_err2str(rc));
        goto fail;
    }
    app->eos = !strcmp(rill_conf_get(app->conf, "processing_guarantee"), "exactly_once");
    if (app->eos) { /* the first transaction: every send from now on is in one */
        if ((rc = rill__tr_txn_begin(app->transport, errstr, errlen)) != RILL_OK)
            goto fail;
        app->txn_open = true;
    }

    /* Join the group for every topic an agent consumes. */
    const char **names = NULL;
    size_t n = 0;
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->nagents || t->channel) continue;
        const char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn) {
            free(names);
            rc = RILL_ENOMEM;
            goto fail;
        }
        names = nn;
        names[n++] = t->name;
    }
    if (n) {
        rc = rill__tr_subscribe(app->transport, app->id, names, n, errstr, errlen);
        app->subscribed = rc == RILL_OK;
    }
    free(names);
    if (rc != RILL_OK) goto fail;

    app->commit_ev = event_new(app->base, -1, EV_PERSIST, rill__commit_tick, app);
    if (!app->commit_ev) {
        rc = RILL_ENOMEM;
        goto fail;
    }
    struct timeval tv = {app->commit_interval_ms / 1000,
                         (app->commit_interval_ms % 1000) * 1000};
    event_add(app->commit_ev, &tv);
    if ((rc = rill__timers_start(app)) != RILL_OK) goto fail;
    if ((rc = rill__web_start(app, errstr, errlen)) != RILL_OK) goto fail;
    log_banner(app);
    return RILL_OK;
fail:
    if (!*errstr && errstr != dummy) snprintf(errstr, errlen, "%s", rill_err2str(rc));
    rill__app_seterr(app, "%s", errstr);
    app->state = RILL_APP_STOPPED;
    return rc;
}

rill_err_t rill_app_run(rill_app_t *app) {
    char err[512] = "";
    /* The handlers come first: a start can take a while (a slow broker's topic
     * declarations, a store opening), and a SIGTERM meanwhile is a stop request
     * like any other, taken once the loop runs, not the default death. */
    if (!app->sigint_ev && !app->sigterm_ev) {
        app->sigint_ev = evsignal_new(app->base, SIGINT, on_signal, app);
        app->sigterm_ev = evsignal_new(app->base, SIGTERM, on_signal, app);
        if (app->sigint_ev) evsignal_add(app->sigint_ev, NULL);
        if (app->sigterm_ev) evsignal_add(app->sigterm_ev, NULL);
    }
    rill_err_t rc = rill_app_start(app, err, sizeof err);
    if (rc != RILL_OK) {
        char shown[sizeof err];
        rill_log(app->log, RILL_LOG_ERROR, app->id, "cannot start: %s",
                 rill__url_redact(err, shown, sizeof shown));
        /* no loop will take a signal: the default actions again */
        if (app->sigint_ev) event_free(app->sigint_ev);
        if (app->sigterm_ev) event_free(app->sigterm_ev);
        app->sigint_ev = app->sigterm_ev = NULL;
        return rc;
    }
    app->in_run = true;
    while (app->state != RILL_APP_STOPPED) {
        if (event_base_dispatch(app->base) < 0) {
            rill_app_fail(app, RILL_EFATAL, "event loop failed");
            break;
        }
    }
    app->in_run = false;
    rc = app->exit_err;
    if (app->stopped_ev) event_del(app->stopped_ev);
    call_on_stopped(app); /* last: it may destroy the app */
    return rc;
}

void rill_app_destroy(rill_app_t *app) {
    if (!app) return;
    rill__web_stop(app);
    rill__timers_stop(app);
    while (app->timers) {
        rill_timer_t *t = app->timers;
        app->timers = t->next;
        rill__timer_free(t);
    }
    /* Transport first: no handler may run into freed agents or topics. */
    rill__lease_free(app);   /* its watchdog first: nothing may tick into freed state */
    rill__workers_free(app); /* routing state (a running app destroyed: not stopped) */
    if (app->transport) rill_transport_destroy(app->transport);
    app->transport = NULL;
    rill__backlog_free(app); /* held sends the transport never took */
    rill__tables_free(app);  /* closes store partitions */
    if (app->store) rill_store_destroy(app->store);
    rill__delayed_free(app);
    rill__asks_free(app);
    rill__events_free(app); /* events point at agents */
    while (app->agents) {
        rill_agent_t *a = app->agents;
        app->agents = a->next;
        rill__agent_free(a);
    }
    while (app->topics) {
        rill_topic_t *t = app->topics;
        app->topics = t->next;
        rill__topic_free(t);
    }
    rill__streams_free(app);
    for (size_t i = 0; i < app->nsers; i++)
        rill_serializer_destroy(app->sers[i]);
    free(app->sers);
    while (app->all_sends) {
        rill_send_ctx_t *s = app->all_sends;
        app->all_sends = s->all_next;
        free(s);
    }
    const struct event *evs[] = {app->commit_ev, app->revoke_ev,  app->shutdown_ev,
                                 app->sigint_ev, app->sigterm_ev, app->recovery_ev,
                                 app->stop_ev,   app->stopped_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i]) event_free((struct event *)evs[i]);
    if (app->own_base) event_base_free(app->base);
    rill_buf_free(&app->kbuf);
    rill_buf_free(&app->vbuf);
    rill_buf_free(&app->kstr);
    rill_buf_free(&app->vstr);
    free(app->commit_snap);
    rill_conf_destroy(app->conf);
    free(app->client_id);
    free(app->id);
    free(app);
}
