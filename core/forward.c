/* rill_event_forward(): now, or durably after a delay.
 *
 * A delayed event is produced to the internal topic "<app>-delayed" with headers
 * rill.due (ms since the epoch) and rill.dest (the destination topic).  An
 * internal agent consumes that topic and holds each event, unacked, until it is
 * due; then it forwards it and acks.  Because a held event is never acked, its
 * offset is never committed: after a crash or restart the next owner reads it
 * again and schedules it again, so delayed forwards survive restarts
 * (at-least-once: one forwarded just before a crash may be forwarded twice). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward_int.h"

#define DUE_HDR "rill.due"
#define DEST_HDR "rill.dest"

typedef struct rill_delayed {
    rill_event_t *ev;
    rill_topic_t *dest;
    struct event *timer;
    struct rill_delayed *next;
} rill_delayed_t;

/* Headers of @p ev without rill.due / rill.dest, plus @p extra. */
static size_t copy_headers(const rill_event_t *ev, rill_header_t *out, size_t cap,
                           const rill_header_t *extra, size_t nextra) {
    size_t n = 0, nh;
    const rill_header_t *hs = rill_msg_headers(&ev->msg, &nh);
    for (size_t i = 0; i < nh && n < cap; i++) {
        const char *name = hs[i].name;
        if (!strcmp(name, DUE_HDR) || !strcmp(name, DEST_HDR)) continue;
        out[n++] = hs[i];
    }
    for (size_t i = 0; i < nextra && n < cap; i++)
        out[n++] = extra[i];
    return n;
}

rill_err_t rill_event_forward(rill_event_t *ev, rill_topic_t *topic, int64_t delay_ms) {
    rill_app_t *app = ev->app;
    if (!topic) return RILL_EINVAL;
    if (delay_ms <= 0)
        return rill__forward_to(ev, topic, ev->msg.key, ev->msg.key_len, NULL, 0);
    if (!app->delayed) {
        rill__app_seterr(app, "delayed forwards are off (forward.delayed=off)");
        return RILL_ESTATE;
    }
    char due[32];
    snprintf(due, sizeof due, "%lld", (long long)(rill_now_ms() + delay_ms));
    rill_header_t extra[2] = {{DUE_HDR, due, strlen(due)},
                              {DEST_HDR, topic->name, strlen(topic->name)}};
    return rill__forward_to(ev, app->delayed, ev->msg.key, ev->msg.key_len, extra, 2);
}

static void delayed_unlink(rill_app_t *app, rill_delayed_t *d) {
    for (rill_delayed_t **pp = &app->delayed_list; *pp; pp = &(*pp)->next) {
        if (*pp == d) {
            *pp = d->next;
            app->delayed_pending--;
            break;
        }
    }
    if (d->timer) event_free(d->timer);
    free(d);
}

static rill_err_t deliver(rill_event_t *ev, rill_topic_t *dest) {
    rill_header_t hs[64];
    size_t n = copy_headers(ev, hs, 64, NULL, 0);
    rill_send_opts_t o =
        RILL__SEND_OPTS(.headers = hs, .nheaders = n, .encoded = true, .event = ev);
    return rill_send(dest, ev->msg.key, ev->msg.key_len, ev->msg.value, ev->msg.value_len,
                     &o);
}

static void on_due(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill_delayed_t *d = arg;
    rill_event_t *ev = d->ev;
    rill_app_t *app = ev->app;
    rill_err_t rc = deliver(ev, d->dest);
    app->delayed_fired++;
    delayed_unlink(app, d);
    rill_event_ack(ev, rc);
}

static rill_err_t on_delayed(rill_event_t *ev, void *opaque) {
    (void)opaque;
    rill_app_t *app = ev->app;
    size_t len;
    const char *due_s = rill_event_header(ev, DUE_HDR, &len);
    char buf[256];
    if (!due_s || len >= 32) {
        rill_log(app->log, RILL_LOG_ERROR, "delayed",
                 "%s[%d]@%lld has no %s header: dropped", ev->msg.topic,
                 ev->msg.partition, (long long)ev->msg.offset, DUE_HDR);
        return RILL_OK;
    }
    memcpy(buf, due_s, len);
    buf[len] = '\0';
    int64_t due = strtoll(buf, NULL, 10);
    const char *dest_s = rill_event_header(ev, DEST_HDR, &len);
    if (!dest_s || len >= sizeof buf) {
        rill_log(app->log, RILL_LOG_ERROR, "delayed",
                 "%s[%d]@%lld has no %s header: dropped", ev->msg.topic,
                 ev->msg.partition, (long long)ev->msg.offset, DEST_HDR);
        return RILL_OK;
    }
    memcpy(buf, dest_s, len);
    buf[len] = '\0';
    rill_topic_t *dest = rill__topic_by_name(app, buf);
    if (!dest && !(dest = rill_app_topic(app, buf, NULL))) {
        rill_log(app->log, RILL_LOG_ERROR, "delayed", "destination '%s': %s", buf,
                 rill_app_errmsg(app));
        return RILL_EINVAL;
    }
    int64_t wait = due - rill_now_ms();
    if (wait <= 0) { /* due already (read again after a restart, or late) */
        app->delayed_fired++;
        return deliver(ev, dest);
    }
    rill_delayed_t *d = calloc(1, sizeof *d);
    if (!d || !(d->timer = evtimer_new(app->base, on_due, d))) {
        free(d);
        return RILL_ENOMEM;
    }
    d->ev = ev;
    d->dest = dest;
    d->next = app->delayed_list;
    app->delayed_list = d;
    app->delayed_pending++;
    struct timeval tv = {wait / 1000, (wait % 1000) * 1000};
    evtimer_add(d->timer, &tv);
    return RILL_PENDING;
}

rill_err_t rill__delayed_prepare(rill_app_t *app) {
    if (app->delayed || strcmp(rill_conf_get(app->conf, "forward.delayed"), "on") != 0)
        return RILL_OK;
    bool any = false;
    for (rill_agent_t *a = app->agents; a; a = a->next)
        any |= !a->internal;
    if (!any) return RILL_OK;
    char name[256];
    snprintf(name, sizeof name, "%s-delayed", app->id);
    rill_topic_opts_t o = {.internal = true};
    if (!(app->delayed = rill_app_topic(app, name, &o))) return RILL_ENOMEM;
    /* Every held event is in flight: no bound but memory. */
    rill_agent_opts_t ao = {.concurrency = 1 << 30};
    rill_agent_t *a =
        rill__agent_new(app, "rill.delayed", app->delayed, on_delayed, NULL, &ao);
    if (!a) return RILL_ENOMEM;
    a->internal = true;
    return RILL_OK;
}

/* Give held events back unacked (revoke, stop): the next owner schedules them. */
void rill__delayed_release(rill_app_t *app, const rill_tpstate_t *tp) {
    rill_delayed_t **pp = &app->delayed_list;
    while (*pp) {
        rill_delayed_t *d = *pp;
        if (tp && d->ev->tp != tp) {
            pp = &d->next;
            continue;
        }
        *pp = d->next;
        app->delayed_pending--;
        rill_event_t *ev = d->ev;
        event_free(d->timer);
        free(d);
        rill__event_abandon(ev);
    }
}

void rill__delayed_free(rill_app_t *app) {
    while (app->delayed_list) {
        rill_delayed_t *d = app->delayed_list;
        app->delayed_list = d->next;
        event_free(d->timer);
        free(d);
    }
    app->delayed_pending = 0;
}
