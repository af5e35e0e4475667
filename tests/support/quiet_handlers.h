/* Transport handlers that do nothing but answer revokes and fail the test on a
 * fatal error: for unit tests that drive a transport's vtable themselves and
 * care about one slot (they set it after taking these). */
#ifndef RILL_TEST_QUIET_HANDLERS_H
#define RILL_TEST_QUIET_HANDLERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <rill/transport.h>

static inline void quiet_messages(rill_transport_t *t, const rill_msg_t *m, size_t n,
                                  void *op) {
    (void)t, (void)m, (void)n, (void)op;
}

static inline void quiet_tps(rill_transport_t *t, const rill_tp_t *tps, size_t n,
                             void *op) {
    (void)t, (void)tps, (void)n, (void)op;
}

static inline void quiet_revoke(rill_transport_t *t, const rill_tp_t *tps, size_t n,
                                bool lost, rill_revoke_t rv, void *op) {
    (void)tps, (void)n, (void)lost, (void)op;
    t->ops->revoke_answer(t, rv);
}

static inline void quiet_writable(rill_transport_t *t, void *op) {
    (void)t, (void)op;
}

static inline void quiet_error(rill_transport_t *t, rill_err_t err, bool fatal,
                               const char *msg, void *op) {
    (void)t, (void)op;
    if (fatal) fail_msg("fatal transport error %s: %s", rill_err_name(err), msg);
}

/* The quiet handlers, with @p opaque for the slots a test adds. */
static inline rill_transport_handlers_t quiet_handlers(void *opaque) {
    return (rill_transport_handlers_t){.messages = quiet_messages,
                                       .assigned = quiet_tps,
                                       .revoke_request = quiet_revoke,
                                       .writable = quiet_writable,
                                       .error = quiet_error,
                                       .opaque = opaque};
}

#endif
