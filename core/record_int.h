/* Internal, layer 0 (docs/architecture.md): record helpers the core shares
 * (record.c). */
#ifndef RILL_RECORD_INT_H
#define RILL_RECORD_INT_H

#include "rill/record.h"

/* The size of a top-level value of @p t in its C representation: a record is its
 * struct (rill_type_csize gives a record member's pointer size). */
size_t rill__value_csize(const rill_type_t *t);

#endif
