/* Internal, layer 5, the table feature (docs/architecture.md): GlobalTables
 * (global_table.c). */
#ifndef RILL_GLOBAL_TABLE_INT_H
#define RILL_GLOBAL_TABLE_INT_H

#include "table_int.h"

/* The partition of @p key in GlobalTable @p t: its murmur2 partition, if held
 * here (owned, or a standby copy for reads); else NULL and *rc = RILL_ENOTOWNER
 * with the app's error message saying why. */
rill_tpart_t *rill__global_part(rill_table_t *t, const void *key, size_t klen, bool write,
                                rill_err_t *rc);

#endif
