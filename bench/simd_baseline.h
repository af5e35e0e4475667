/* simdjson baselines (simd_baseline.cpp, built with RILL_WITH_SIMDJSON): the bare
 * on-demand API doing codec-json's and memory-table-count's work. */
#ifndef RILL_BENCH_SIMD_BASELINE_H
#define RILL_BENCH_SIMD_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Decode each of @p n JSON clicks and ++map[user]; the seconds, the sum of the
 * counts in @p total (n when every record decoded). */
double bench_simd_click_count(char *const *json, const size_t *len, uint64_t n,
                              int64_t *total);
/* @p n encode (snprintf) + decode (on-demand, into a struct) round trips of
 * codec-json's Order; the seconds, or -1 if a round trip lost the amount. */
double bench_simd_roundtrips(uint64_t n, uint64_t *check);

#ifdef __cplusplus
}
#endif

#endif
