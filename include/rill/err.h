/**
 * @file err.h
 * @brief Error codes shared by every rill function and plugin.
 *
 * Functions return rill_err_t: RILL_OK (0) or a negative RILL_E* code.  Where a
 * message helps, they also fill a caller-supplied `char *errstr, size_t errlen`.
 */
#ifndef RILL_ERR_H
#define RILL_ERR_H

#include "export.h"

RILL_BEGIN_DECLS

/* One list, expanded into the enum and the string tables (libuv UV_ERRNO_MAP). */
#define RILL_ERRNO_MAP(X)                                                                \
    X(OK, 0, "success")                                                                  \
    X(PENDING, 1, "pending: completed later with rill_event_ack()")                      \
    X(ENOMEM, -1, "out of memory")                                                       \
    X(EINVAL, -2, "invalid argument")                                                    \
    X(ENOENT, -3, "not found")                                                           \
    X(EEXIST, -4, "already exists")                                                      \
    X(ECONF, -5, "invalid configuration")                                                \
    X(EURL, -6, "malformed URL")                                                         \
    X(ENOSCHEME, -7, "no backend registered for URL scheme")                             \
    X(EDECODE, -8, "cannot decode value")                                                \
    X(EENCODE, -9, "cannot encode value")                                                \
    X(EIO, -10, "I/O error")                                                             \
    X(ETRANSPORT, -11, "transport error")                                                \
    X(ESTORE, -12, "store error")                                                        \
    X(EFULL, -13, "queue or buffer full, retry later")                                   \
    X(ERETRY, -14, "transient failure, retry")                                           \
    X(ETIMEDOUT, -15, "timed out")                                                       \
    X(ESTATE, -16, "operation not valid in this state")                                  \
    X(ENOTSUP, -17, "not supported by this backend")                                     \
    X(ENOTOWNER, -18, "partition not owned by this worker")                              \
    X(EPARTITIONS, -19, "partition count mismatch")                                      \
    X(EFATAL, -20, "fatal error")                                                        \
    X(EHANDLER, -21, "handler failed")                                                   \
    X(ETOOBIG, -22, "value too large")                                                   \
    X(ESHUTDOWN, -23, "app is shutting down")

typedef enum {
#define RILL__ERR_ENUM(name, val, str) RILL_##name = val,
    RILL_ERRNO_MAP(RILL__ERR_ENUM)
#undef RILL__ERR_ENUM
} rill_err_t;

/** @brief Human-readable text for an error code ("out of memory"). */
RILL_API const char *rill_err2str(rill_err_t err);
/** @brief Symbolic name of an error code ("RILL_ENOMEM"). */
RILL_API const char *rill_err_name(rill_err_t err);

RILL_END_DECLS

#endif
