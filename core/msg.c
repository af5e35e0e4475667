/* Copying a message (key, value, headers) into one allocation.  Layer 0. */
#include <stdlib.h>
#include <string.h>

#include "msg_int.h"

/* Bytes the names (with their NULs) and values of @p n headers take. */
static size_t headers_size(const rill_header_t *hs, size_t n) {
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(hs[i].name) + 1 + hs[i].value_len;
    return bytes;
}

/* Copy @p n headers: their bytes to @p w, their descriptions to @p out (n entries,
 * pointing into @p w).  Returns the first byte after what was written. */
static uint8_t *headers_copy(rill_header_t *out, const rill_header_t *hs, size_t n,
                             uint8_t *w) {
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(hs[i].name) + 1;
        memcpy(w, hs[i].name, nl);
        out[i].name = (const char *)w;
        w += nl;
        if (hs[i].value_len) memcpy(w, hs[i].value, hs[i].value_len);
        out[i].value = w;
        out[i].value_len = hs[i].value_len;
        w += hs[i].value_len;
    }
    return w;
}

/* The caller's struct, rounded up so the header descriptions after it are aligned. */
static size_t lead_size(size_t lead) {
    size_t a = _Alignof(rill_header_t);
    return (lead + a - 1) / a * a;
}

size_t rill__msg_copy_size(size_t lead, const rill__msg_parts_t *m) {
    return lead_size(lead) + m->nheaders * sizeof(rill_header_t) +
           headers_size(m->headers, m->nheaders) + (m->key ? m->key_len : 0) +
           (m->value ? m->value_len : 0) + (m->topic ? strlen(m->topic) + 1 : 0) +
           1; /* never malloc(0) */
}

void *rill__msg_copy(size_t lead, const rill__msg_parts_t *m, size_t size,
                     rill__msg_parts_t *out) {
    uint8_t *mem = malloc(size ? size : rill__msg_copy_size(lead, m));
    if (!mem) return NULL;
    memset(mem, 0, lead);
    rill_header_t *hs = (rill_header_t *)(void *)(mem + lead_size(lead));
    uint8_t *w = headers_copy(hs, m->headers, m->nheaders, (uint8_t *)(hs + m->nheaders));
    rill__msg_parts_t c = {.key_len = m->key_len, /* lengths pass through */
                           .value_len = m->value_len,
                           .headers = m->nheaders ? hs : NULL,
                           .nheaders = m->nheaders};
    if (m->key) {
        if (m->key_len) memcpy(w, m->key, m->key_len);
        c.key = w;
        w += m->key_len;
    }
    if (m->value) {
        if (m->value_len) memcpy(w, m->value, m->value_len);
        c.value = w;
        w += m->value_len;
    }
    if (m->topic) {
        memcpy(w, m->topic, strlen(m->topic) + 1);
        c.topic = (const char *)w;
    }
    *out = c;
    return mem;
}

const rill_header_t *rill_msg_headers(const rill_msg_t *m, size_t *n) {
    const rill_header_t *hs = m->headers;
    size_t cnt = m->nheaders;
    if (cnt == RILL_MSG_HEADERS_LAZY) {
        const rill_lazy_headers_t *lh = (const rill_lazy_headers_t *)(const void *)hs;
        hs = NULL;
        cnt = lh->load(lh, &hs);
    }
    if (n) *n = cnt;
    return cnt ? hs : NULL;
}
