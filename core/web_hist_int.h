/* Internal, layer 0: a fixed-bucket latency histogram for /metrics (Prometheus
 * "histogram" type, web_metrics.c).  Recording is a few compares and two adds; no
 * allocation.  Buckets in seconds: RILL_HIST_LE. */
#ifndef RILL_WEB_HIST_INT_H
#define RILL_WEB_HIST_INT_H

#include <stdint.h>

#define RILL_HIST_N 12
#define RILL_HIST_LE                                                                     \
    { 0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5 }

typedef struct rill_hist {
    uint64_t count[RILL_HIST_N + 1]; /* [i]: at most RILL_HIST_LE[i]; [N]: above */
    uint64_t sum_ns;
} rill_hist_t;

static inline void rill__hist_add(rill_hist_t *h, uint64_t ns) {
    static const uint64_t le_ns[RILL_HIST_N] = {
        10000,    50000,    100000,    500000,    1000000,    5000000,
        10000000, 50000000, 100000000, 500000000, 1000000000, 5000000000ull};
    int i = 0;
    while (i < RILL_HIST_N && ns > le_ns[i])
        i++;
    h->count[i]++;
    h->sum_ns += ns;
}

#endif
