/* The one place that calls a transport's or a store's vtable (see backend_int.h),
 * and the one place that adapts ABI 1-2 transports to the ABI 3 contract: readers
 * as handles with their own handlers, revokes answered by identifier. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"

#define TR_WARN(t, rc, ...)                                                              \
    do {                                                                                 \
        char what_[160];                                                                 \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                      \
        rill_log((t)->log, RILL_LOG_WARN, (t)->name, "%s failed: %s", what_,             \
                 rill_err2str(rc));                                                      \
    } while (0)

rill_err_t rill__tr_declare(rill_transport_t *t, const rill_topic_spec_t *spec,
                            int32_t *partitions_out, char *errstr, size_t errlen) {
    return t->ops->declare(t, spec, partitions_out, errstr, errlen);
}

rill_err_t rill__tr_produce(rill_transport_t *t, const rill_produce_t *m,
                            rill_delivery_cb cb, void *opaque) {
    return t->ops->produce(t, m, cb, opaque);
}

rill_err_t rill__tr_flush(rill_transport_t *t, int timeout_ms) {
    return t->ops->flush(t, timeout_ms);
}

rill_err_t rill__tr_subscribe(rill_transport_t *t, const char *group,
                              const char *const *topics, size_t n, char *errstr,
                              size_t errlen) {
    return t->ops->subscribe(t, group, topics, n, errstr, errlen);
}

rill_err_t rill__tr_unsubscribe(rill_transport_t *t) {
    rill_err_t rc = t->ops->unsubscribe(t);
    if (rc != RILL_OK) TR_WARN(t, rc, "leaving the group");
    return rc;
}

rill_err_t rill__tr_pause(rill_transport_t *t, const char *topic, int32_t partition) {
    rill_tp_t one = {topic, partition};
    rill_err_t rc = t->ops->pause(t, &one, 1);
    if (rc != RILL_OK) TR_WARN(t, rc, "pausing %s[%d]", topic, partition);
    return rc;
}

rill_err_t rill__tr_resume(rill_transport_t *t, const char *topic, int32_t partition) {
    rill_tp_t one = {topic, partition};
    rill_err_t rc = t->ops->resume(t, &one, 1);
    if (rc != RILL_OK) TR_WARN(t, rc, "resuming %s[%d]", topic, partition);
    return rc;
}

rill_err_t rill__tr_seek(rill_transport_t *t, const char *topic, int32_t partition,
                         int64_t offset) {
    rill_err_t rc = t->ops->seek(t, topic, partition, offset);
    if (rc != RILL_OK)
        TR_WARN(t, rc, "seeking %s[%d] to %lld", topic, partition, (long long)offset);
    return rc;
}

rill_err_t rill__tr_commit(rill_transport_t *t, const rill_tp_offset_t *offs, size_t n) {
    return t->ops->commit(t, offs, n);
}

rill_err_t rill__tr_committed(rill_transport_t *t, const char *group, const char *topic,
                              int32_t partition, int64_t *out) {
    *out = RILL_OFFSET_INVALID;
    rill_err_t rc = t->ops->committed(t, group, topic, partition, out);
    if (rc != RILL_OK)
        TR_WARN(t, rc, "reading the committed offset of %s[%d]", topic, partition);
    return rc;
}

bool rill__tr_has(const rill_transport_t *t, uint32_t feature) {
    return (t->ops->features & feature) == feature;
}

rill_err_t rill__tr_watermarks(rill_transport_t *t, const char *topic, int32_t partition,
                               int64_t *low, int64_t *high, int timeout_ms) {
    if (!rill__tr_has(t, RILL_TRANSPORT_F_WATERMARKS) || !t->ops->watermarks)
        return RILL_ENOTSUP;
    return t->ops->watermarks(t, topic, partition, low, high, timeout_ms);
}

rill_err_t rill__tr_txn_begin(rill_transport_t *t, char *errstr, size_t errlen) {
    if (!rill__tr_has(t, RILL_TRANSPORT_F_TXN)) return RILL_ENOTSUP;
    return t->ops->txn_begin(t, errstr, errlen);
}

rill_err_t rill__tr_txn_offsets(rill_transport_t *t, const char *group,
                                const rill_tp_offset_t *offs, size_t n, char *errstr,
                                size_t errlen) {
    if (!rill__tr_has(t, RILL_TRANSPORT_F_TXN)) return RILL_ENOTSUP;
    return t->ops->txn_offsets(t, group, offs, n, errstr, errlen);
}

rill_err_t rill__tr_txn_commit(rill_transport_t *t, char *errstr, size_t errlen) {
    if (!rill__tr_has(t, RILL_TRANSPORT_F_TXN)) return RILL_ENOTSUP;
    return t->ops->txn_commit(t, errstr, errlen);
}

rill_err_t rill__tr_txn_abort(rill_transport_t *t, char *errstr, size_t errlen) {
    if (!rill__tr_has(t, RILL_TRANSPORT_F_TXN)) return RILL_ENOTSUP;
    return t->ops->txn_abort(t, errstr, errlen);
}

int64_t rill__tr_session_ms(rill_transport_t *t) {
    int64_t (*fn)(rill_transport_t *) = RILL__TR_SLOT(t->ops, session_ms, 2);
    return fn ? fn(t) : 0;
}

int64_t rill__tr_poll_ms(rill_transport_t *t) {
    int64_t (*fn)(rill_transport_t *) = RILL__TR_SLOT(t->ops, poll_ms, 2);
    return fn ? fn(t) : 0;
}

bool rill__tr_can_confirm(const rill_transport_t *t) {
    return RILL__TR_SLOT(t->ops, confirm, 2) != NULL;
}

rill_err_t rill__tr_confirm(rill_transport_t *t, char *errstr, size_t errlen) {
    rill_err_t (*fn)(rill_transport_t *, char *, size_t) =
        RILL__TR_SLOT(t->ops, confirm, 2);
    return fn ? fn(t, errstr, errlen) : RILL_ENOTSUP;
}

/* ---- the core's state of a transport, the ABI 1-2 adapter ------------------------
 *
 * An ABI 1-2 transport routes readers by topic name, one reader per partition,
 * and calls handlers->revoked() without an identifier.  It gets a copy of the
 * owner's handler table whose revoked, reader_messages and reader_eof are the
 * adapter's: messages and EOFs go to every open handle of their partition (each
 * skipping what it already had), a revoke gets an identifier, and only the answer
 * to the latest revoke reaches revoke_done().  A second handle of a partition
 * reopens the transport's reader at the lowest offset its handles need. */

typedef struct tr_core {
    rill_transport_handlers_t h; /* what an ABI 1-2 transport gets as t->h */
    const rill_transport_handlers_t *user;
    rill_reader_t *readers; /* open handles (and closed ones while dispatching) */
    int dispatching;        /* adapter deliveries running: closed handles wait */
    rill_revoke_t revoke_seq, revoke_open;
} tr_core_t;

static bool legacy(const rill_transport_t *t) {
    return t->ops->abi < 3;
}

static bool same_tp(const rill_reader_t *r, const char *topic, int32_t partition) {
    return !r->core_closed && r->partition == partition &&
           (r->topic == topic || !strcmp(r->topic, topic));
}

static void reader_free(tr_core_t *c, rill_reader_t *r) {
    for (rill_reader_t **pp = &c->readers; *pp; pp = &(*pp)->core_link)
        if (*pp == r) {
            *pp = r->core_link;
            break;
        }
    free(r);
}

static void sweep(tr_core_t *c) {
    for (rill_reader_t **pp = &c->readers; *pp;) {
        rill_reader_t *r = *pp;
        if (!r->core_closed) {
            pp = &r->core_link;
            continue;
        }
        *pp = r->core_link;
        free(r);
    }
}

static void legacy_messages(rill_transport_t *t, const rill_msg_t *msgs, size_t n,
                            void *opaque) {
    (void)opaque;
    tr_core_t *c = t->core;
    c->dispatching++;
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1;
             j < n && msgs[j].partition == msgs[i].partition &&
             (msgs[j].topic == msgs[i].topic || !strcmp(msgs[j].topic, msgs[i].topic));
             j++) {
        }
        for (rill_reader_t *r = c->readers; r; r = r->core_link) {
            if (!same_tp(r, msgs[i].topic, msgs[i].partition)) continue;
            size_t k = i;
            while (k < j && msgs[k].offset < r->core_next)
                k++; /* had them before the partition's reader was reopened */
            if (k == j) continue;
            r->core_next = msgs[j - 1].offset + 1;
            r->h->messages(r, msgs + k, j - k, r->opaque);
        }
    }
    if (--c->dispatching == 0) sweep(c);
}

static void legacy_eof(rill_transport_t *t, const char *topic, int32_t partition,
                       int64_t end, void *opaque) {
    (void)opaque;
    tr_core_t *c = t->core;
    c->dispatching++;
    for (rill_reader_t *r = c->readers; r; r = r->core_link) {
        if (!same_tp(r, topic, partition)) continue;
        if (end > r->core_next) r->core_next = end;
        r->h->eof(r, end, r->opaque);
    }
    if (--c->dispatching == 0) sweep(c);
}

static void legacy_revoked(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                           void *opaque) {
    (void)opaque;
    tr_core_t *c = t->core;
    c->revoke_open = ++c->revoke_seq;
    c->user->revoke_request(t, tps, n, lost, c->revoke_open, c->user->opaque);
}

rill_err_t rill__tr_attach(rill_transport_t *t, const rill_transport_handlers_t *h) {
    tr_core_t *c = calloc(1, sizeof *c);
    if (!c) return RILL_ENOMEM;
    c->user = h;
    if (h) c->h = *h; /* NULL: an open that fails before anything is called */
    c->h.revoked = legacy_revoked;
    c->h.reader_messages = legacy_messages;
    c->h.reader_eof = legacy_eof;
    t->core = c;
    t->h = legacy(t) && h ? &c->h : h;
    return RILL_OK;
}

static void quiet_reader_messages(rill_reader_t *r, const rill_msg_t *msgs, size_t n,
                                  void *opaque) {
    (void)r, (void)msgs, (void)n, (void)opaque;
}
static void quiet_reader_eof(rill_reader_t *r, int64_t end, void *opaque) {
    (void)r, (void)end, (void)opaque;
}
static const rill_reader_handlers_t quiet_reader = {quiet_reader_messages,
                                                    quiet_reader_eof};

void rill__tr_closing(rill_transport_t *t) {
    tr_core_t *c = t->core;
    for (rill_reader_t *r = c ? c->readers : NULL; r; r = r->core_link)
        r->h = &quiet_reader;
}

void rill__tr_detach(rill_transport_t *t) {
    tr_core_t *c = t->core;
    if (!c) return;
    while (c->readers) { /* the owners' handles: the transport closed them */
        rill_reader_t *r = c->readers;
        c->readers = r->core_link;
        free(r);
    }
    free(c);
    t->core = NULL;
}

/* ---- readers ---------------------------------------------------------------------- */

static int64_t from_of(int64_t offset) {
    return offset >= 0 ? offset : -1; /* BEGINNING, END: whatever comes */
}

static rill_err_t legacy_open(tr_core_t *c, rill_transport_t *t, rill_reader_t *r,
                              int64_t offset) {
    bool others = false;
    int64_t from = offset;
    for (rill_reader_t *o = c->readers; o; o = o->core_link) {
        if (o == r || !same_tp(o, r->topic, r->partition)) continue;
        others = true;
        if (from == RILL_OFFSET_END) continue; /* joins the reader where it is */
        if (o->core_next < 0 || from == RILL_OFFSET_BEGINNING)
            from = RILL_OFFSET_BEGINNING;
        else if (o->core_next < from)
            from = o->core_next;
    }
    r->core_next = from_of(offset);
    if (others && offset == RILL_OFFSET_END) return RILL_OK;
    if (others) {
        rill_err_t rc = t->ops->reader_close(t, r->topic, r->partition);
        if (rc != RILL_OK && rc != RILL_ENOENT)
            TR_WARN(t, rc, "closing the reader of %s[%d] to reopen it", r->topic,
                    r->partition);
    }
    return t->ops->reader_open(t, r->topic, r->partition, from);
}

rill_err_t rill__tr_reader_open(rill_transport_t *t, const char *topic, int32_t partition,
                                int64_t offset, const rill_reader_handlers_t *h,
                                void *opaque, rill_reader_t **out) {
    *out = NULL;
    tr_core_t *c = t->core;
    size_t tl = strlen(topic) + 1;
    rill_reader_t *r = calloc(1, sizeof *r + tl);
    if (!c || !r) {
        free(r);
        return RILL_ENOMEM;
    }
    memcpy(r + 1, topic, tl);
    r->t = t;
    r->topic = (const char *)(r + 1);
    r->partition = partition;
    r->h = h;
    r->opaque = opaque;
    r->core_link = c->readers;
    c->readers = r;
    rill_err_t rc =
        legacy(t) ? legacy_open(c, t, r, offset) : t->ops->reader_start(t, r, offset);
    if (rc != RILL_OK) {
        reader_free(c, r);
        return rc;
    }
    *out = r;
    return RILL_OK;
}

void rill__tr_reader_close(rill_reader_t *r) {
    if (!r) return;
    rill_transport_t *t = r->t;
    tr_core_t *c = t->core;
    if (!legacy(t)) {
        t->ops->reader_stop(t, r);
        reader_free(c, r);
        return;
    }
    r->core_closed = true;
    bool others = false;
    for (rill_reader_t *o = c->readers; o && !others; o = o->core_link)
        others = o != r && same_tp(o, r->topic, r->partition);
    if (!others) {
        rill_err_t rc = t->ops->reader_close(t, r->topic, r->partition);
        if (rc != RILL_OK && rc != RILL_ENOENT)
            TR_WARN(t, rc, "closing the reader of %s[%d]", r->topic, r->partition);
    }
    if (!c->dispatching) reader_free(c, r);
}

rill_err_t rill_reader_open(rill_transport_t *t, const char *topic, int32_t partition,
                            int64_t offset, const rill_reader_handlers_t *h, void *opaque,
                            rill_reader_t **out) {
    if (!out) return RILL_EINVAL;
    *out = NULL;
    if (!t || !topic || !h || !h->messages || !h->eof) return RILL_EINVAL;
    return rill__tr_reader_open(t, topic, partition, offset, h, opaque, out);
}

void rill_reader_close(rill_reader_t *r) {
    rill__tr_reader_close(r);
}

/* ---- revokes ---------------------------------------------------------------------- */

void rill__tr_revoke_answer(rill_transport_t *t, rill_revoke_t rv) {
    if (!legacy(t)) {
        t->ops->revoke_answer(t, rv);
        return;
    }
    tr_core_t *c = t->core;
    if (!c || rv == 0 || rv != c->revoke_open) {
        rill_log(t->log, RILL_LOG_DEBUG, t->name,
                 "answer to revoke %llu ignored: the open revoke is %llu",
                 (unsigned long long)rv, (unsigned long long)(c ? c->revoke_open : 0));
        return;
    }
    c->revoke_open = 0;
    t->ops->revoke_done(t);
}

void rill_transport_revoke_answer(rill_transport_t *t, rill_revoke_t rv) {
    if (t) rill__tr_revoke_answer(t, rv);
}

/* ---- stores ---------------------------------------------------------------------- */

rill_err_t rill__st_part_open(rill_store_t *s, const char *table, int32_t partition,
                              rill_store_part_t **out, char *errstr, size_t errlen) {
    return s->ops->part_open(s, table, partition, out, errstr, errlen);
}

void rill__st_part_close(rill_store_t *s, rill_store_part_t *p) {
    s->ops->part_close(p);
}

rill_err_t rill__st_offset(rill_store_t *s, rill_store_part_t *p, int64_t *out) {
    *out = RILL_OFFSET_INVALID;
    return s->ops->offset(p, out);
}

rill_err_t rill__st_get(rill_store_t *s, rill_store_part_t *p, const void *key,
                        size_t klen, rill_buf_t *out) {
    return s->ops->get(p, key, klen, out);
}

rill_err_t rill__st_write(rill_store_t *s, rill_store_part_t *p,
                          const rill_store_op_t *ops, size_t n,
                          int64_t changelog_offset) {
    return s->ops->write(p, ops, n, changelog_offset);
}

rill_err_t rill__st_scan(rill_store_t *s, rill_store_part_t *p, const void *start,
                         size_t slen, const void *end, size_t elen, rill_store_scan_cb cb,
                         void *opaque) {
    return s->ops->scan(p, start, slen, end, elen, cb, opaque);
}

rill_err_t rill__st_stats(rill_store_t *s, rill_store_part_t *p,
                          rill_store_stats_t *out) {
    memset(out, 0, sizeof *out);
    return s->ops->stats(p, out);
}

rill_err_t rill__st_drop(rill_store_t *s, const char *table, int32_t partition,
                         char *errstr, size_t errlen) {
    return s->ops->drop(s, table, partition, errstr, errlen);
}

/* put, del and flush: the core writes through write(), but a faulty store passes
 * every slot on to the store it wraps. */
rill_err_t rill__st_put(rill_store_t *s, rill_store_part_t *p, const void *key,
                        size_t klen, const void *val, size_t vlen) {
    return s->ops->put(p, key, klen, val, vlen);
}

rill_err_t rill__st_del(rill_store_t *s, rill_store_part_t *p, const void *key,
                        size_t klen) {
    return s->ops->del(p, key, klen);
}

rill_err_t rill__st_flush(rill_store_t *s) {
    return s->ops->flush ? s->ops->flush(s) : RILL_OK;
}
