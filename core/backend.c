/* The one place that calls a transport's or a store's vtable (see backend_int.h). */
#include <stdio.h>
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

void rill__tr_revoke_done(rill_transport_t *t) {
    t->ops->revoke_done(t);
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

rill_err_t rill__tr_reader_open(rill_transport_t *t, const char *topic, int32_t partition,
                                int64_t offset) {
    return t->ops->reader_open(t, topic, partition, offset);
}

rill_err_t rill__tr_reader_close(rill_transport_t *t, const char *topic,
                                 int32_t partition) {
    rill_err_t rc = t->ops->reader_close(t, topic, partition);
    if (rc != RILL_OK && rc != RILL_ENOENT)
        TR_WARN(t, rc, "closing the reader of %s[%d]", topic, partition);
    return rc;
}

bool rill__tr_has(const rill_transport_t *t, uint32_t feature) {
    return (t->ops->features & feature) == feature;
}

rill_err_t rill__tr_watermarks(rill_transport_t *t, const char *topic, int32_t partition,
                               int64_t *low, int64_t *high, int timeout_ms) {
    if (!rill__tr_has(t, RILL_TF_WATERMARKS) || !t->ops->watermarks) return RILL_ENOTSUP;
    return t->ops->watermarks(t, topic, partition, low, high, timeout_ms);
}

rill_err_t rill__tr_txn_begin(rill_transport_t *t, char *errstr, size_t errlen) {
    if (!rill__tr_has(t, RILL_TF_TXN)) return RILL_ENOTSUP;
    return t->ops->txn_begin(t, errstr, errlen);
}

rill_err_t rill__tr_txn_offsets(rill_transport_t *t, const char *group,
                                const rill_tp_offset_t *offs, size_t n, char *errstr,
                                size_t errlen) {
    if (!rill__tr_has(t, RILL_TF_TXN)) return RILL_ENOTSUP;
    return t->ops->txn_offsets(t, group, offs, n, errstr, errlen);
}

rill_err_t rill__tr_txn_commit(rill_transport_t *t, char *errstr, size_t errlen) {
    if (!rill__tr_has(t, RILL_TF_TXN)) return RILL_ENOTSUP;
    return t->ops->txn_commit(t, errstr, errlen);
}

rill_err_t rill__tr_txn_abort(rill_transport_t *t, char *errstr, size_t errlen) {
    if (!rill__tr_has(t, RILL_TF_TXN)) return RILL_ENOTSUP;
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
