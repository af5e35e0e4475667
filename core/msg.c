/* Copying message headers into one buffer.  Layer 0. */
#include <string.h>

#include "msg_int.h"

size_t rill__headers_size(const rill_header_t *hs, size_t n) {
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(hs[i].name) + 1 + hs[i].value_len;
    return bytes;
}

uint8_t *rill__headers_copy(rill_header_t *out, const rill_header_t *hs, size_t n,
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
