/* Internal: plugin registries and instance construction. */
#ifndef RILL_REGISTRY_INT_H
#define RILL_REGISTRY_INT_H

#include "log_int.h"
#include "rill/serializer.h"
#include "rill/store.h"
#include "rill/transport.h"

/* An optional transport slot of ABI 2 or later, or NULL: a plugin built against an
 * older header has a shorter ops struct, which must not be read past its end. */
#define RILL__TR_SLOT(ops, slot, abi_min) ((ops)->abi >= (abi_min) ? (ops)->slot : NULL)

/* True when some registered backend is named @p scheme (for "<scheme>.*" keys). */
bool rill__registry_has_prefix(const char *scheme);
/* True when a backend named @p prefix (of any kind) declares property @p name. */
bool rill__registry_prop_known(const char *prefix, const char *name);
/* The declarations of property @p name by the backends named @p prefix (a
 * transport, a store and a serializer may share a name), into @p out; how many. */
size_t rill__registry_props(const char *prefix, const char *name, rill_prop_t out[3]);

rill_serializer_t *rill__serializer_open(const char *name, const rill_conf_t *conf,
                                         const rill_logger_t *lg, char *errstr,
                                         size_t errlen);
rill_store_t *rill__store_open(const char *url, const rill_conf_t *conf,
                               const rill_logger_t *lg, char *errstr, size_t errlen);
rill_transport_t *rill__transport_open(const char *url, const rill_conf_t *conf,
                                       struct event_base *base,
                                       const rill_transport_handlers_t *h,
                                       const char *client_id, const rill_logger_t *lg,
                                       char *errstr, size_t errlen);

/* fault_transport.c, fault_store.c: faulty+<scheme>:// instances (registry.c
 * opens them for such URLs; core/fault_int.h has the fault rules). */
rill_transport_t *rill__fault_transport_open(const char *url, const rill_conf_t *conf,
                                             struct event_base *base,
                                             const rill_transport_handlers_t *h,
                                             const char *client_id,
                                             const rill_logger_t *lg, char *errstr,
                                             size_t errlen);
rill_store_t *rill__fault_store_open(const char *url, const rill_conf_t *conf,
                                     const rill_logger_t *lg, char *errstr,
                                     size_t errlen);

#endif
