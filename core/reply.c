/* Agent replies: ask (send and wait for the agent's reply) and cast (send only),
 * like Faust's agent.ask()/cast().  The asker reads its own reply topic
 * "<client id>-reply" (one partition) outside the group; requests carry the
 * headers rill.reply_to and rill.correlation, which the reply echoes. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record_int.h"
#include "backend_int.h"
#include "reply_int.h"

#define REPLY_TO "rill.reply_to"
#define CORRELATION "rill.correlation"

typedef struct ask {
    uint64_t id;
    rill_agent_t *agent;
    rill_reply_cb cb;
    void *opaque;
    struct event *timer;
    struct ask *next;
} ask_t;

struct rill_asks {
    rill_topic_t *topic;
    rill_reader_t *reader; /* of the reply topic (the transport closes it) */
    uint64_t next_id;
    ask_t *pending;
};

static void ask_unlink(rill_app_t *app, ask_t *a) {
    for (ask_t **pp = &app->asks->pending; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    }
    if (a->timer) event_free(a->timer);
    free(a);
}

static void on_ask_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    ask_t *a = arg;
    rill_app_t *app = a->agent->app;
    rill_reply_cb cb = a->cb;
    void *opaque = a->opaque;
    ask_unlink(app, a);
    cb(RILL_ETIMEDOUT, NULL, opaque);
}

static bool asks_on_message(rill_app_t *app, const rill_msg_t *m);

static void on_replies(rill_reader_t *r, const rill_msg_t *msgs, size_t n, void *opaque) {
    (void)r;
    for (size_t i = 0; i < n; i++)
        asks_on_message(opaque, &msgs[i]);
}

static void on_replies_eof(rill_reader_t *r, int64_t end, void *opaque) {
    (void)r, (void)end, (void)opaque;
}

static const rill_reader_handlers_t reply_reader = {on_replies, on_replies_eof};

static rill_err_t reply_topic(rill_app_t *app) {
    if (app->asks && app->asks->topic) return RILL_OK;
    if (!app->asks && !(app->asks = calloc(1, sizeof *app->asks))) return RILL_ENOMEM;
    char name[256];
    size_t n = 0;
    for (const char *p = app->client_id; *p && n < sizeof name - 8; p++)
        name[n++] =
            isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.' ? *p : '_';
    snprintf(name + n, sizeof name - n, "-reply");
    rill_topic_opts_t o = {.partitions = 1, .internal = true};
    rill_topic_t *t = rill_app_topic(app, name, &o);
    if (!t) return RILL_ETRANSPORT;
    rill_err_t rc = rill__tr_reader_open(app->transport, t->name, 0, RILL_OFFSET_END,
                                         &reply_reader, app, &app->asks->reader);
    if (rc != RILL_OK) {
        rill__app_seterr(app, "cannot read reply topic '%s': %s", name, rill_err2str(rc));
        return rc;
    }
    app->asks->topic = t;
    return RILL_OK;
}

rill_err_t rill_agent_ask(rill_agent_t *agent, const void *key, size_t key_len,
                          const void *value, size_t value_len, int timeout_ms,
                          rill_reply_cb cb, void *opaque) {
    if (!agent) return RILL_EINVAL;
    rill_app_t *app = agent->app;
    if (!cb || timeout_ms <= 0) return RILL_EINVAL;
    if (!agent->opts.reply_type) {
        rill__app_seterr(app, "agent '%s' has no reply_type: it cannot be asked",
                         agent->name);
        return RILL_EINVAL;
    }
    if (!app->transport || app->state != RILL_APP_RUNNING) {
        rill__app_seterr(app, "ask: the app is not running");
        return RILL_ESTATE;
    }
    rill_err_t rc = reply_topic(app);
    if (rc != RILL_OK) return rc;
    ask_t *a = calloc(1, sizeof *a);
    if (!a || !(a->timer = evtimer_new(app->base, on_ask_timeout, a))) {
        free(a);
        return RILL_ENOMEM;
    }
    a->id = ++app->asks->next_id;
    a->agent = agent;
    a->cb = cb;
    a->opaque = opaque;
    char id[32];
    snprintf(id, sizeof id, "%llu", (unsigned long long)a->id);
    const char *rt = app->asks->topic->name;
    rill_header_t hs[2] = {{REPLY_TO, rt, strlen(rt)}, {CORRELATION, id, strlen(id)}};
    rill_send_opts_t o = RILL__SEND_OPTS(.headers = hs, .nheaders = 2);
    rc = rill_send(agent->topic, key, key_len, value, value_len, &o);
    if (rc != RILL_OK) {
        event_free(a->timer);
        free(a);
        return rc;
    }
    a->next = app->asks->pending;
    app->asks->pending = a;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(a->timer, &tv);
    return RILL_OK;
}

rill_err_t rill_agent_cast(rill_agent_t *agent, const void *key, size_t key_len,
                           const void *value, size_t value_len) {
    if (!agent) return RILL_EINVAL;
    return rill_send(agent->topic, key, key_len, value, value_len, NULL);
}

rill_err_t rill_event_reply(rill_event_t *ev, const void *value, size_t value_len) {
    if (!ev) return RILL_EINVAL;
    rill_app_t *app = ev->app;
    rill_agent_t *agent = ev->agent;
    const rill_type_t *type = agent->opts.reply_type;
    /* Checked for casts too: a wrong length is a bug whether anyone waits or not. */
    rill_err_t rc = rill__value_len_check(app, "reply of agent", agent->name, "agent",
                                          "reply value", type, value, value_len);
    if (rc != RILL_OK) return rc;
    size_t rlen, clen;
    const char *rt = rill_event_header(ev, REPLY_TO, &rlen);
    const char *corr = rill_event_header(ev, CORRELATION, &clen);
    if (!rt || !corr) return RILL_OK; /* cast: nobody waits */
    if (!type) {
        rill__app_seterr(app, "reply of agent '%s': the agent has no opts.reply_type",
                         agent->name);
        return RILL_EINVAL;
    }
    char name[256];
    if (rlen >= sizeof name) return RILL_EINVAL;
    memcpy(name, rt, rlen);
    name[rlen] = '\0';
    rill_topic_t *t = rill__topic_by_name(app, name);
    if (!t) {
        rill_topic_opts_t o = {.partitions = 1, .internal = true};
        if (!(t = rill_app_topic(app, name, &o))) return RILL_ETRANSPORT;
    }
    char why[256] = "";
    rill_serializer_t *json = rill__app_serializer(app, "json", why, sizeof why);
    if (!json) return RILL_ECONF;
    /* As rill_send takes them: bytes and strings are (pointer, length); the
     * serializer takes a rill_bytes_t and a NUL-terminated string's address. */
    rill_buf_t buf = RILL_BUF_INIT, cstr = RILL_BUF_INIT;
    rill_bytes_t bytes = {(uint8_t *)(uintptr_t)value, value_len}; /* only read */
    const char *sp = NULL;
    const void *enc = value;
    if (value && type->kind == RILL_T_BYTES) {
        enc = &bytes;
    } else if (value && type->kind == RILL_T_STRING) {
        if (rill_buf_reserve(&cstr, value_len + 1) != RILL_OK) return RILL_ENOMEM;
        if (value_len) memcpy(cstr.data, value, value_len);
        cstr.data[value_len] = '\0';
        sp = (const char *)cstr.data;
        enc = &sp;
    }
    rc = rill_serializer_encode(json, type, enc, &buf, why, sizeof why);
    rill_buf_free(&cstr);
    if (rc == RILL_OK) {
        rill_header_t h = {CORRELATION, corr, clen};
        rill_send_opts_t o =
            RILL__SEND_OPTS(.headers = &h, .nheaders = 1, .encoded = true);
        rc = rill_send(t, NULL, 0, buf.data ? (void *)buf.data : (void *)"", buf.len, &o);
    } else {
        rill__app_seterr(app, "reply of agent '%s': %s", agent->name, why);
    }
    rill_buf_free(&buf);
    return rc;
}

/* Replies arriving on our reply topic (its reader's messages). */
static bool asks_on_message(rill_app_t *app, const rill_msg_t *m) {
    if (!app->asks || !app->asks->topic) return false;
    char id[32] = "";
    size_t nh;
    const rill_header_t *hs = rill_msg_headers(m, &nh);
    for (size_t i = 0; i < nh; i++)
        if (!strcmp(hs[i].name, CORRELATION) && hs[i].value_len < sizeof id)
            memcpy(id, hs[i].value, hs[i].value_len);
    uint64_t cid = strtoull(id, NULL, 10);
    for (ask_t *a = app->asks->pending; a; a = a->next) {
        if (a->id != cid) continue;
        const rill_type_t *t = a->agent->opts.reply_type;
        char why[256] = "";
        rill_serializer_t *json = rill__app_serializer(app, "json", why, sizeof why);
        size_t sz = rill__value_csize(t);
        void *v = calloc(1, sz ? sz : 1);
        rill_err_t rc = v && json ? RILL_OK : RILL_ENOMEM;
        if (rc == RILL_OK && t->kind == RILL_T_RECORD) rill_record_init(t->record, v);
        if (rc == RILL_OK)
            rc = rill_serializer_decode(json, t, m->value ? m->value : "", m->value_len,
                                        v, why, sizeof why);
        rill_reply_cb cb = a->cb;
        void *opaque = a->opaque;
        ask_unlink(app, a);
        cb(rc, rc == RILL_OK ? v : NULL, opaque);
        if (v) {
            rill_value_clear(t, v);
            free(v);
        }
        break;
    }
    return true;
}

void rill__asks_free(rill_app_t *app) {
    if (!app->asks) return;
    while (app->asks->pending) {
        ask_t *a = app->asks->pending;
        app->asks->pending = a->next;
        if (a->timer) event_free(a->timer);
        free(a);
    }
    free(app->asks);
    app->asks = NULL;
}
