/**
 * @file types.h
 * @brief Small value types shared by the public and plugin APIs.
 */
#ifndef RILL_TYPES_H
#define RILL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "export.h"

RILL_BEGIN_DECLS

/** @brief A byte string.  Owned or borrowed depending on where it appears. */
typedef struct rill_bytes {
    uint8_t *data;
    size_t len;
} rill_bytes_t;

/** @brief A growable output buffer (serializers encode into one). */
typedef struct rill_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} rill_buf_t;

#define RILL_BUF_INIT                                                                    \
    { NULL, 0, 0 }

/** @brief Ensure room for @p extra more bytes.  @returns RILL_OK or RILL_ENOMEM. */
RILL_API rill_err_t rill_buf_reserve(rill_buf_t *b, size_t extra);
/** @brief Append @p len bytes. */
RILL_API rill_err_t rill_buf_append(rill_buf_t *b, const void *data, size_t len);
/** @brief Forget the contents, keep the allocation. */
RILL_API void rill_buf_reset(rill_buf_t *b);
/** @brief Free the allocation. */
RILL_API void rill_buf_free(rill_buf_t *b);

/** @brief A message header: borrowed name and value. */
typedef struct rill_header {
    const char *name;
    const void *value;
    size_t value_len;
} rill_header_t;

/** @brief A topic partition. */
typedef struct rill_tp {
    const char *topic;
    int32_t partition;
} rill_tp_t;

/** @brief A topic partition and an offset (the next offset to read, Kafka-style). */
typedef struct rill_tp_offset {
    const char *topic;
    int32_t partition;
    int64_t offset;
} rill_tp_offset_t;

/** @brief Offsets and timestamps use these sentinels. */
#define RILL_OFFSET_BEGINNING (-2)
#define RILL_OFFSET_END (-1)
#define RILL_OFFSET_STORED (-1000)
#define RILL_OFFSET_INVALID (-1001)

/** @brief Wall-clock time in milliseconds since the Unix epoch. */
RILL_API int64_t rill_now_ms(void);
/** @brief Monotonic clock in nanoseconds (for intervals and measurements). */
RILL_API uint64_t rill_mono_ns(void);

RILL_END_DECLS

#endif
