/* rill_buf_t and clocks. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rill/types.h"

rill_err_t rill_buf_reserve(rill_buf_t *b, size_t extra) {
    if (b->cap - b->len >= extra) return RILL_OK;
    size_t need = b->len + extra;
    if (need < b->len) return RILL_ENOMEM;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return RILL_ENOMEM;
    b->data = p;
    b->cap = cap;
    return RILL_OK;
}

rill_err_t rill_buf_append(rill_buf_t *b, const void *data, size_t len) {
    if (len == 0) return RILL_OK;
    rill_err_t rc = rill_buf_reserve(b, len);
    if (rc) return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return RILL_OK;
}

void rill_buf_reset(rill_buf_t *b) {
    b->len = 0;
}

void rill_buf_free(rill_buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int64_t rill_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t rill_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
