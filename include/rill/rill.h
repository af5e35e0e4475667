/**
 * @file rill.h
 * @brief rill: distributed, fault-tolerant stream processing for C.
 *
 * The umbrella header: apps, topics, agents, events, records, configuration,
 * and the plugin interfaces (transport, store, serializer).
 */
#ifndef RILL_H
#define RILL_H

#include "app.h"
#include "conf.h"
#include "err.h"
#include "plugin.h"
#include "record.h"
#include "serializer.h"
#include "store.h"
#include "stream.h"
#include "table.h"
#include "transport.h"
#include "types.h"
#include "rill/version.h"

RILL_BEGIN_DECLS

/** @brief The library's version string ("0.1.0"). */
RILL_API const char *rill_version(void);
/** @brief RILL_VERSION_NUM of the library actually linked. */
RILL_API int rill_version_num(void);

RILL_END_DECLS

#endif
