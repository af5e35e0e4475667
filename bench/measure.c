/* See bench.h: the latency histogram and per-side CPU / peak RSS. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"

uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t hist_index(uint64_t ns) {
    if (ns < 64) return (size_t)ns;
    int e = 63 - __builtin_clzll(ns); /* >= 6 */
    if (e > 40) return BENCH_HIST_BUCKETS - 1;
    size_t sub = (size_t)(ns >> (e - 5)) & (BENCH_HIST_SUB - 1);
    return 64 + (size_t)(e - 6) * BENCH_HIST_SUB + sub;
}

/* The middle of bucket @p i, in ns. */
static double hist_value(size_t i) {
    if (i < 64) return (double)i;
    size_t e = (i - 64) / BENCH_HIST_SUB + 6, sub = (i - 64) % BENCH_HIST_SUB;
    double lo = ldexp(1.0, (int)e) + (double)sub * ldexp(1.0, (int)e - 5);
    return lo + ldexp(1.0, (int)e - 6);
}

void bench_hist_add(bench_hist_t *h, uint64_t ns) {
    h->count[hist_index(ns)]++;
    h->n++;
}

double bench_hist_pct_us(const bench_hist_t *h, double pct) {
    if (!h->n) return NAN;
    uint64_t rank = (uint64_t)ceil(pct / 100.0 * (double)h->n), seen = 0;
    if (rank < 1) rank = 1;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) return hist_value(i) / 1000.0;
    }
    return hist_value(BENCH_HIST_BUCKETS - 1) / 1000.0;
}

static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* every thread of the process */
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

void bench_side_begin(bench_side_t *s) {
    FILE *f = fopen("/proc/self/clear_refs", "w"); /* "5": reset the peak RSS */
    if (f) {
        fputs("5", f);
        fclose(f);
    }
    s->cpu0 = cpu_now();
}

void bench_side_end(bench_side_t *s) {
    s->cpu_seconds += cpu_now() - s->cpu0;
    long kb = hwm_kb();
    if (kb > s->peak_rss_kb) s->peak_rss_kb = kb;
}

void bench_result_init(bench_result_t *r) {
    memset(r, 0, sizeof *r);
    r->p50_us = r->p99_us = r->p999_us = NAN;
    r->baseline_p50_us = r->baseline_p99_us = r->baseline_p999_us = NAN;
    r->startup_share = r->baseline_startup_share = NAN;
    r->scrape_ms_mean = r->scrape_ms_max = NAN;
    r->rill.peak_rss_kb = r->base.peak_rss_kb = -1;
}

void bench_result_lat(bench_result_t *r, const bench_hist_t *h, bool baseline) {
    double p50 = bench_hist_pct_us(h, 50), p99 = bench_hist_pct_us(h, 99),
           p999 = bench_hist_pct_us(h, 99.9);
    if (baseline) {
        r->baseline_p50_us = p50;
        r->baseline_p99_us = p99;
        r->baseline_p999_us = p999;
    } else {
        r->p50_us = p50;
        r->p99_us = p99;
        r->p999_us = p999;
    }
}
