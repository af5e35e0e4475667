/* Channels (in-process topics) and distributing an iterable's values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg_int.h"
#include "topic_int.h"

typedef struct chan_msg {
    rill_msg_t msg; /* into the same allocation (rill__msg_copy) */
    struct chan_msg *next;
} chan_msg_t;

struct rill_channel {
    rill_topic_t *topic;
    chan_msg_t *head, *tail;
    struct event *ev;
    int64_t next_offset;
};

static void on_chan(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct rill_channel *ch = arg;
    rill_app_t *app = ch->topic->app;
    rill_msg_t batch[256];
    chan_msg_t *taken[256];
    size_t n = 0;
    while (ch->head && n < 256) {
        chan_msg_t *m = ch->head;
        ch->head = m->next;
        if (!ch->head) ch->tail = NULL;
        batch[n] = m->msg;
        taken[n++] = m;
    }
    /* the consumer, through the handler table the app gives its transport */
    if (n && app->state == RILL_APP_RUNNING) app->handlers.messages(NULL, batch, n, app);
    for (size_t i = 0; i < n; i++)
        free(taken[i]); /* pending events own copies */
    if (ch->head) event_active(ch->ev, EV_TIMEOUT, 0);
}

rill_topic_t *rill_app_channel(rill_app_t *app, const char *name,
                               const rill_type_t *value_type) {
    if (!app) return NULL; /* rill_app_new failed: its error says why */
    if (app->state != RILL_APP_CREATED) {
        rill__app_deferr(app, "channel '%s' must be defined before the app starts", name);
        return NULL;
    }
    if (rill__topic_by_name(app, name)) {
        rill__app_deferr(app, "'%s' is already defined", name);
        return NULL;
    }
    rill_topic_opts_t o = {.partitions = 1, .value_type = value_type, .internal = true};
    rill_topic_t *t = rill_app_topic(app, name, &o);
    if (!t) return NULL;
    struct rill_channel *ch = calloc(1, sizeof *ch);
    if (!ch) {
        rill__app_deferr(app, "out of memory");
        return NULL;
    }
    ch->topic = t;
    t->channel = true;
    t->chan = ch;
    return t;
}

rill_err_t rill__channel_push(rill_topic_t *t, const void *k, size_t klen, const void *v,
                              size_t vlen, const rill_send_opts_t *o) {
    struct rill_channel *ch = t->chan;
    rill_app_t *app = t->app;
    if (!ch->ev && !(ch->ev = event_new(app->base, -1, 0, on_chan, ch)))
        return RILL_ENOMEM;
    rill__msg_parts_t c, in = {.key = k,
                               .key_len = klen,
                               .value = v,
                               .value_len = vlen,
                               .headers = o ? o->headers : NULL,
                               .nheaders = o ? o->nheaders : 0};
    chan_msg_t *m = rill__msg_copy(sizeof *m, &in, 0, &c);
    if (!m) return RILL_ENOMEM;
    m->msg = (rill_msg_t){.topic = t->name,
                          .partition = 0,
                          .offset = ch->next_offset++,
                          .timestamp_ms =
                              o && o->timestamp_ms ? o->timestamp_ms : rill_now_ms(),
                          .key = c.key,
                          .key_len = klen,
                          .value = c.value,
                          .value_len = vlen,
                          .headers = c.headers,
                          .nheaders = c.nheaders};
    m->next = NULL;
    if (ch->tail)
        ch->tail->next = m;
    else
        ch->head = m;
    ch->tail = m;
    event_active(ch->ev, EV_TIMEOUT, 0);
    return RILL_OK;
}

void rill__channel_free(rill_topic_t *t) {
    struct rill_channel *ch = t->chan;
    if (!ch) return;
    while (ch->head) {
        chan_msg_t *m = ch->head;
        ch->head = m->next;
        free(m);
    }
    if (ch->ev) event_free(ch->ev);
    free(ch);
    t->chan = NULL;
}

rill_err_t rill_app_stream_values(rill_app_t *app, rill_topic_t *topic,
                                  const void *values, size_t n, size_t stride) {
    if (!topic || (n && !values)) return RILL_EINVAL;
    if (!topic->vser) {
        rill__app_seterr(app, "stream values: the app is not started");
        return RILL_ESTATE;
    }
    for (size_t i = 0; i < n; i++) {
        rill_send_opts_t o = RILL_SEND_OPTS_INIT;
        o.partition = (int32_t)(i % (size_t)topic->partitions);
        rill_err_t rc = rill__send_value(topic, (const char *)values + i * stride, &o);
        if (rc != RILL_OK) return rc;
    }
    return RILL_OK;
}
