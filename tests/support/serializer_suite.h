/* The serializer conformance suite: round trips of every field kind and garbage
 * input, run against every serializer that handles records (json, avro, yours). */
#ifndef RILL_SERIALIZER_SUITE_H
#define RILL_SERIALIZER_SUITE_H

#include <rill/rill.h>

/* Returns the number of failed tests. */
int rill_serializer_conformance(const char *name);
/* The same with one property set (e.g. "json.decoder", "jansson"). */
int rill_serializer_conformance_with(const char *name, const char *key,
                                     const char *value);

#endif
