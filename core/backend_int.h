/* Internal: the only callers of the backends' vtables (SQLite's os.c model).
 *
 * Every slot of a transport or store is called through one of these: optional
 * slots and ABI versions are checked here (a plugin built against an older header
 * has a shorter ops struct), a failure the caller can only note is logged here
 * with the backend's instance name, and nothing returned is dropped: the caller
 * gets the code.  Fault injection (faulty+<scheme>://, core/fault_int.h) is a
 * backend of its own that wraps another: the core calls it here like any other,
 * and it calls the backend it wraps through these same functions. */
#ifndef RILL_BACKEND_INT_H
#define RILL_BACKEND_INT_H

#include "registry_int.h"

/* transports */
rill_err_t rill__tr_declare(rill_transport_t *t, const rill_topic_spec_t *spec,
                            int32_t *partitions_out, char *errstr, size_t errlen);
rill_err_t rill__tr_produce(rill_transport_t *t, const rill_produce_t *m,
                            rill_delivery_cb cb, void *opaque);
rill_err_t rill__tr_flush(rill_transport_t *t, int timeout_ms);
rill_err_t rill__tr_subscribe(rill_transport_t *t, const char *group,
                              const char *const *topics, size_t n, char *errstr,
                              size_t errlen);
rill_err_t rill__tr_unsubscribe(rill_transport_t *t);
/* Answer revoke_request() @p rv (a stale @p rv releases nothing). */
void rill__tr_revoke_answer(rill_transport_t *t, rill_revoke_t rv);
rill_err_t rill__tr_pause(rill_transport_t *t, const char *topic, int32_t partition);
rill_err_t rill__tr_resume(rill_transport_t *t, const char *topic, int32_t partition);
rill_err_t rill__tr_seek(rill_transport_t *t, const char *topic, int32_t partition,
                         int64_t offset);
rill_err_t rill__tr_commit(rill_transport_t *t, const rill_tp_offset_t *offs, size_t n);
rill_err_t rill__tr_committed(rill_transport_t *t, const char *group, const char *topic,
                              int32_t partition, int64_t *out);
/* A reader of @p topic/@p partition from @p offset whose messages and EOFs go to
 * @p h with @p opaque (*out: its handle, owned by the caller until closed).  The
 * reader is only the caller's: other readers of the partition are not affected. */
rill_err_t rill__tr_reader_open(rill_transport_t *t, const char *topic, int32_t partition,
                                int64_t offset, const rill_reader_handlers_t *h,
                                void *opaque, rill_reader_t **out);
/* Close and free @p r (NULL: nothing); may be called from r's handlers. */
void rill__tr_reader_close(rill_reader_t *r);
/* RILL_ENOTSUP without RILL_TRANSPORT_F_WATERMARKS. */
rill_err_t rill__tr_watermarks(rill_transport_t *t, const char *topic, int32_t partition,
                               int64_t *low, int64_t *high, int timeout_ms);
bool rill__tr_has(const rill_transport_t *t, uint32_t feature);
rill_err_t rill__tr_txn_begin(rill_transport_t *t, char *errstr, size_t errlen);
rill_err_t rill__tr_txn_offsets(rill_transport_t *t, const char *group,
                                const rill_tp_offset_t *offs, size_t n, char *errstr,
                                size_t errlen);
rill_err_t rill__tr_txn_commit(rill_transport_t *t, char *errstr, size_t errlen);
rill_err_t rill__tr_txn_abort(rill_transport_t *t, char *errstr, size_t errlen);
/* ABI 2 slots: 0 / RILL_ENOTSUP when the plugin has none. */
int64_t rill__tr_session_ms(rill_transport_t *t);
int64_t rill__tr_poll_ms(rill_transport_t *t);
bool rill__tr_can_confirm(const rill_transport_t *t);
rill_err_t rill__tr_confirm(rill_transport_t *t, char *errstr, size_t errlen);

/* The core's state of a transport (registry.c and fault_transport.c, around
 * open and close): attach sets t->h (for an ABI 1-2 transport, the adapter's copy
 * of @p h); closing quiets the readers' handlers; detach frees what the transport
 * left open. */
rill_err_t rill__tr_attach(rill_transport_t *t, const rill_transport_handlers_t *h);
void rill__tr_closing(rill_transport_t *t);
void rill__tr_detach(rill_transport_t *t);

/* stores */
rill_err_t rill__st_part_open(rill_store_t *s, const char *table, int32_t partition,
                              rill_store_part_t **out, char *errstr, size_t errlen);
void rill__st_part_close(rill_store_t *s, rill_store_part_t *p);
rill_err_t rill__st_offset(rill_store_t *s, rill_store_part_t *p, int64_t *out);
rill_err_t rill__st_get(rill_store_t *s, rill_store_part_t *p, const void *key,
                        size_t klen, rill_buf_t *out);
rill_err_t rill__st_write(rill_store_t *s, rill_store_part_t *p,
                          const rill_store_op_t *ops, size_t n, int64_t changelog_offset);
rill_err_t rill__st_scan(rill_store_t *s, rill_store_part_t *p, const void *start,
                         size_t slen, const void *end, size_t elen, rill_store_scan_cb cb,
                         void *opaque);
rill_err_t rill__st_stats(rill_store_t *s, rill_store_part_t *p, rill_store_stats_t *out);
rill_err_t rill__st_drop(rill_store_t *s, const char *table, int32_t partition,
                         char *errstr, size_t errlen);
rill_err_t rill__st_put(rill_store_t *s, rill_store_part_t *p, const void *key,
                        size_t klen, const void *val, size_t vlen);
rill_err_t rill__st_del(rill_store_t *s, rill_store_part_t *p, const void *key,
                        size_t klen);
/* RILL_OK when the store has no flush slot. */
rill_err_t rill__st_flush(rill_store_t *s);

#endif
