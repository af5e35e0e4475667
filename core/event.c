/* Events: the pool of event structs handed to handlers, owning copies of pending
 * ones, and the public accessors.  Layer 4 (docs/architecture.md). */
#include <stdlib.h>
#include <string.h>

#include "event_int.h"
#include "record_int.h"
#include "msg_int.h"

/* ---- events
 * ------------------------------------------------------------------------------ */

/* A new event, on the free list (rill__event_get takes it from there). */
rill_event_t *rill__event_new(rill_app_t *app) {
    rill_event_t *ev = calloc(1, sizeof *ev);
    if (!ev) return NULL;
    ev->all_next = app->all_events;
    app->all_events = ev;
    ev->next = app->free_events;
    app->free_events = ev;
    return ev;
}

void *rill__event_mem(rill_event_t *ev, int which, size_t size, bool zero) {
    void *m = ev->spare[which];
    if (m && ev->spare_size[which] >= size) {
        ev->spare[which] = NULL;
        if (zero) memset(m, 0, size);
        return m;
    }
    return calloc(1, size ? size : 1);
}

void rill__event_mem_put(rill_event_t *ev, int which, void *mem, size_t size) {
    if (ev->spare[which] && ev->spare_size[which] >= size) {
        free(mem);
        return;
    }
    free(ev->spare[which]);
    ev->spare[which] = mem;
    ev->spare_size[which] = size;
}

/* The decoded value and key go; their memory stays with the (pooled) event for
 * the next one decoded into it, saving a calloc and a free per event. */
static void event_clear_values(rill_event_t *ev) {
    rill_topic_t *t = ev->agent->topic;
    if (ev->value) {
        rill__value_clear_in(ev->vtype, ev->value, &ev->strings);
        rill__event_mem_put(ev, 0, ev->value, rill__value_csize(ev->vtype));
        ev->value = NULL;
    }
    if (ev->key) {
        rill__value_clear_in(t->ktype, ev->key, &ev->strings);
        rill__event_mem_put(ev, 1, ev->key, rill__value_csize(t->ktype));
        ev->key = NULL;
    }
}

void rill__event_release(rill_event_t *ev) {
    event_clear_values(ev);
    free(ev->own);
    ev->own = NULL;
}

void rill__events_free(rill_app_t *app) {
    while (app->all_events) {
        rill_event_t *ev = app->all_events;
        app->all_events = ev->all_next;
        if (ev->live && ev->agent) event_clear_values(ev);
        free(ev->own);
        free(ev->spare[0]);
        free(ev->spare[1]);
        rill__strings_free(&ev->strings);
        free(ev);
    }
    app->free_events = NULL;
}

/* Copy the message bytes into the event: the transport's views die with its batch. */
rill_err_t rill__event_own(rill_event_t *ev) {
    if (ev->own) return RILL_OK;
    rill_msg_t *m = &ev->msg;
    m->headers = rill_msg_headers(m, &m->nheaders); /* read now: a lazy view dies too */
    rill__msg_parts_t c, in = {.topic = m->topic,
                               .key = m->key,
                               .key_len = m->key_len,
                               .value = m->value,
                               .value_len = m->value_len,
                               .headers = m->headers,
                               .nheaders = m->nheaders};
    if (!(ev->own = rill__msg_copy(0, &in, 0, &c))) return RILL_ENOMEM;
    m->topic = c.topic;
    m->key = c.key;
    m->value = c.value;
    m->headers = c.headers;
    ev->kbytes = (rill_bytes_t){(uint8_t *)m->key, m->key_len};
    ev->vbytes = (rill_bytes_t){(uint8_t *)m->value, m->value_len};
    return RILL_OK;
}

/* A raw key or value as rill_bytes_t is made when asked for, not per event: most
 * handlers of raw topics read the bytes (rill_event_value_bytes).  The event is
 * never a const object: the const is the API's promise, not its storage's. */
const void *rill_event_key(const rill_event_t *ev) {
    if (!ev->msg.key) return NULL;
    if (ev->key) return ev->key;
    rill_event_t *w = (rill_event_t *)ev;
    w->kbytes = (rill_bytes_t){(uint8_t *)ev->msg.key, ev->msg.key_len};
    return &w->kbytes;
}

const void *rill_event_value(const rill_event_t *ev) {
    if (!ev->msg.value) return NULL;
    if (ev->value) return ev->value;
    rill_event_t *w = (rill_event_t *)ev;
    w->vbytes = (rill_bytes_t){(uint8_t *)ev->msg.value, ev->msg.value_len};
    return &w->vbytes;
}

const void *rill_event_key_bytes(const rill_event_t *ev, size_t *len) {
    if (len) *len = ev->msg.key_len;
    return ev->msg.key;
}

const void *rill_event_value_bytes(const rill_event_t *ev, size_t *len) {
    if (len) *len = ev->msg.value_len;
    return ev->msg.value;
}

const char *rill_event_topic(const rill_event_t *ev) {
    return ev->msg.topic;
}

int32_t rill_event_partition(const rill_event_t *ev) {
    return ev->msg.partition;
}

int64_t rill_event_offset(const rill_event_t *ev) {
    return ev->msg.offset;
}

int64_t rill_event_timestamp(const rill_event_t *ev) {
    return ev->msg.timestamp_ms;
}

const void *rill_event_header(const rill_event_t *ev, const char *name, size_t *len) {
    size_t n;
    const rill_header_t *hs = rill_msg_headers(&ev->msg, &n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(hs[i].name, name) == 0) {
            if (len) *len = hs[i].value_len;
            return hs[i].value;
        }
    }
    return NULL;
}

const rill_header_t *rill_event_headers(const rill_event_t *ev, size_t *n) {
    return rill_msg_headers(&ev->msg, n);
}

rill_app_t *rill_event_app(const rill_event_t *ev) {
    return ev->app;
}

const rill_tpstate_t *rill__event_tp(const rill_event_t *ev, bool *stale) {
    *stale = false;
    if (!ev || !ev->tp || ev->tp->topic->channel) return NULL;
    *stale = ev->gen != ev->tp->gen;
    return ev->tp;
}
