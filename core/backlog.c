/* The send backlog: sends the transport refused with RILL_EFULL, held in order.
 *
 * A full producer queue never blocks the loop.  The refused send is copied and
 * held; later sends queue behind it, so the order of sends is kept; the core
 * hands them to the transport again when it calls handlers->writable (Kafka's
 * producer blocks send() for up to max.block.ms instead; on one loop that would
 * stall every timer, agent and web request).  While anything is held the agents
 * start no new events (agent.c), so the backlog stays small; it is bounded all
 * the same (RILL__BACKLOG_MAX_BYTES: past it a send returns RILL_EFULL).  A held
 * send counts as in flight: a commit waits for its delivery like for any other.
 * A held send made for a consumed partition is refused (RILL_ENOTOWNER, through
 * its delivery report) if the partition is lost or reassigned before it leaves.
 * No progress for broker.timeout.ms fails the worker with a message that says so.
 * Held sends are numbered (held_total, left_total) so that a timer can tell whether
 * the sends of its last firing left (timer.c: it does not fire again before).
 *
 * Layer 3 (docs/architecture.md): called by topic.c and the layers above. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backend_int.h"
#include "msg_int.h"
#include "topic_int.h"

#define RILL__BACKLOG_MAX_BYTES ((size_t)64 << 20)

typedef struct rill_held {
    struct rill_held *next;
    rill_topic_t *topic;
    int32_t partition;
    const rill_tpstate_t *fence; /* the consumed partition it belongs to, or NULL */
    uint32_t fence_gen;          /* fence->gen when it was sent */
    rill_send_ctx_t *s;          /* its delivery context (counted in flight) */
    int64_t timestamp_ms;
    bool tombstone;
    size_t klen, vlen, nheaders, bytes;
    const rill_header_t *headers; /* into the same allocation (rill__msg_copy) */
    const uint8_t *key, *value;
} rill_held_t;

struct rill_backlog {
    rill_held_t *head, *tail;
    size_t bytes;
    uint64_t held_total, left_total; /* sends ever held, and of those left */
    uint64_t moved_ns;  /* the transport last took a held send (or the first held) */
    int64_t timeout_ms; /* broker.timeout.ms */
    struct event *ev;   /* no-progress check */
    bool draining;
};

static void on_check(evutil_socket_t fd, short what, void *arg);

static struct rill_backlog *backlog_get(rill_app_t *app) {
    if (app->backlog) return app->backlog;
    struct rill_backlog *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->timeout_ms = rill_conf_get_int(app->conf, "broker.timeout.ms", 60000);
    if (!(b->ev = event_new(app->base, -1, 0, on_check, app))) {
        free(b);
        return NULL;
    }
    return app->backlog = b;
}

static void arm(struct rill_backlog *b) {
    uint64_t waited_ms = (rill_mono_ns() - b->moved_ns) / 1000000;
    int64_t left = b->timeout_ms - (int64_t)waited_ms;
    if (left < 1) left = 1;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
    event_add(b->ev, &tv);
}

static void on_check(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill_app_t *app = arg;
    struct rill_backlog *b = app->backlog;
    if (!b->head) return;
    uint64_t waited_ms = (rill_mono_ns() - b->moved_ns) / 1000000;
    if ((int64_t)waited_ms < b->timeout_ms) {
        arm(b);
        return;
    }
    rill_app_fail(
        app, RILL_ETIMEDOUT,
        "sends: the transport took none of %zu held sends (%zu bytes, the first "
        "to '%s') for %lld ms (broker.timeout.ms): its queue stays full — is "
        "the broker reachable, and is anyone consuming?",
        app->sends_held, b->bytes, b->head->topic->name, (long long)waited_ms);
}

rill_err_t rill__backlog_hold(rill_app_t *app, const rill_produce_t *m, rill_topic_t *t,
                              const rill_tpstate_t *fence, rill_send_ctx_t *s) {
    struct rill_backlog *b = backlog_get(app);
    if (!b) return RILL_ENOMEM;
    rill__msg_parts_t c, in = {.key = m->key,
                               .key_len = m->key_len,
                               .value = m->value,
                               .value_len = m->value_len,
                               .headers = m->headers,
                               .nheaders = m->nheaders};
    size_t bytes = rill__msg_copy_size(sizeof(rill_held_t), &in);
    if (b->bytes + bytes > RILL__BACKLOG_MAX_BYTES) {
        rill__app_seterr(app,
                         "send to '%s': the transport's queue is full and %zu bytes of "
                         "sends are already held (at most %zu): retry after the loop ran",
                         t->name, b->bytes, RILL__BACKLOG_MAX_BYTES);
        return RILL_EFULL;
    }
    rill_held_t *h = rill__msg_copy(sizeof *h, &in, bytes, &c);
    if (!h) return RILL_ENOMEM;
    *h = (rill_held_t){.topic = t,
                       .partition = m->partition,
                       .fence = fence,
                       .fence_gen = fence ? fence->gen : 0,
                       .s = s,
                       .timestamp_ms = m->timestamp_ms ? m->timestamp_ms : rill_now_ms(),
                       .tombstone = m->value == NULL,
                       .klen = m->key_len,
                       .vlen = m->value_len,
                       .nheaders = m->nheaders,
                       .bytes = bytes,
                       .headers = c.headers,
                       .key = c.key,
                       .value = c.value};
    if (!b->head) {
        b->moved_ns = rill_mono_ns();
        arm(b);
    }
    if (b->tail)
        b->tail->next = h;
    else
        b->head = h;
    b->tail = h;
    b->bytes += bytes;
    b->held_total++;
    app->sends_held++;
    return RILL_OK;
}

static void pop(rill_app_t *app, struct rill_backlog *b) {
    rill_held_t *h = b->head;
    b->head = h->next;
    if (!b->head) b->tail = NULL;
    b->bytes -= h->bytes;
    b->left_total++;
    app->sends_held--;
    free(h);
}

/* Still allowed to leave: the partition it was written for is still ours. */
static bool still_owned(rill_app_t *app, const rill_held_t *h) {
    const rill_tpstate_t *f = h->fence;
    return !f ||
           (f->gen == h->fence_gen && f->assigned && !f->lost && rill__lease_ok(app));
}

void rill__backlog_drain(rill_app_t *app) {
    struct rill_backlog *b = app->backlog;
    if (!b || !b->head || b->draining || !app->transport) return;
    b->draining = true; /* a delivery callback may send (and so call us) */
    while (b->head) {
        rill_held_t *h = b->head;
        rill_send_ctx_t *s = h->s;
        if (!still_owned(app, h)) {
            char why[256];
            snprintf(why, sizeof why,
                     "send to '%s' refused: %s[%d] was lost or reassigned while the "
                     "send waited for room in the transport's queue; the new owner "
                     "processes the event again",
                     h->topic->name, h->fence->topic->name, h->fence->partition);
            pop(app, b);
            rill__send_delivered(RILL_ENOTOWNER, why, -1, -1, s);
            continue;
        }
        rill_produce_t m = {
            .topic = h->topic->name,
            .partition = h->partition,
            .key = h->key,
            .key_len = h->klen,
            .value = h->tombstone ? NULL : h->value,
            .value_len = h->vlen,
            .headers = h->nheaders ? h->headers : NULL,
            .nheaders = h->nheaders,
            .timestamp_ms = h->timestamp_ms,
            .fence_topic = h->fence ? h->fence->topic->name : NULL,
            .fence_partition = h->fence ? h->fence->partition : -1,
        };
        rill_err_t rc = rill__tr_produce(app->transport, &m, rill__send_delivered, s);
        if (rc == RILL_EFULL) break; /* writable comes again */
        b->moved_ns = rill_mono_ns();
        rill_topic_t *t = h->topic;
        pop(app, b);
        if (rc == RILL_OK) {
            t->sent++;
        } else {
            char why[256];
            snprintf(why, sizeof why, "send to '%s' partition %d: %s", t->name,
                     m.partition, rill_err2str(rc));
            rill__send_delivered(rc, why, m.partition, -1, s);
        }
    }
    b->draining = false;
    if (!b->head) {
        event_del(b->ev);
        if (app->hooks.sends_unblocked) app->hooks.sends_unblocked(app);
    }
}

uint64_t rill__backlog_held_total(const rill_app_t *app) {
    return app->backlog ? app->backlog->held_total : 0;
}

bool rill__backlog_left(const rill_app_t *app, uint64_t n) {
    return !app->backlog || app->backlog->left_total >= n;
}

void rill__on_writable(rill_transport_t *t, void *opaque) {
    (void)t;
    rill__backlog_drain(opaque);
}

rill_err_t rill__sends_flush(rill_app_t *app, int timeout_ms) {
    if (!app->transport) return RILL_OK;
    uint64_t end = rill_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
    while (app->sends_held) {
        rill__backlog_drain(app);
        if (!app->sends_held) break;
        uint64_t now = rill_mono_ns();
        if (now >= end) return RILL_ETIMEDOUT;
        uint64_t left_ms = (end - now) / 1000000;
        rill__tr_flush(app->transport, left_ms < 25 ? (int)left_ms + 1 : 25);
    }
    uint64_t now = rill_mono_ns();
    int left = now >= end ? 0 : (int)((end - now) / 1000000);
    return rill__tr_flush(app->transport, left);
}

void rill__backlog_free(rill_app_t *app) {
    struct rill_backlog *b = app->backlog;
    if (!b) return;
    if (b->head)
        rill__log(app, RILL_LOG_WARN,
                  "%zu held sends dropped: the app was destroyed "
                  "before the transport took them",
                  app->sends_held);
    while (b->head)
        pop(app, b); /* their contexts go with the app's */
    event_free(b->ev);
    free(b);
    app->backlog = NULL;
}
