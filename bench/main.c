/* rill-bench [SCENARIO...] [--events N] [--broker URL] [--store URL] [--repeat R]
 * One JSON object per scenario on stdout; a human table on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const bench_scenario_t *const scenarios[] = {
    &bench_memory_passthrough, &bench_memory_filter_map, &bench_memory_take,
    &bench_memory_table_count, &bench_recovery,          &bench_recovery_checkpoint,
    &bench_codec_json,
#ifdef RILL_HAVE_AVRO
    &bench_codec_avro,
#endif
#ifdef RILL_HAVE_KAFKA
    &bench_kafka_passthrough,  &bench_kafka_produce,     &bench_kafka_table_count,
#endif
#ifdef RILL_HAVE_REDIS
    &bench_redis_passthrough,  &bench_redis_table_count,
#endif
};
#define NSCEN (sizeof scenarios / sizeof scenarios[0])

uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_lat_add(bench_lat_t *l, uint64_t ns) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1 << 16;
        uint32_t *p = realloc(l->ns, cap * sizeof *p);
        if (!p) return;
        l->ns = p;
        l->cap = cap;
    }
    l->ns[l->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

double bench_lat_pct_us(bench_lat_t *l, double pct) {
    if (!l->n) return 0;
    qsort(l->ns, l->n, sizeof *l->ns, cmp_u32);
    size_t i = (size_t)(pct / 100.0 * (double)(l->n - 1));
    return l->ns[i] / 1000.0;
}

void bench_lat_free(bench_lat_t *l) {
    free(l->ns);
    l->ns = NULL;
    l->n = l->cap = 0;
}

void bench_fresh_store(const char *store, char *out, size_t n, const char *tag) {
    static unsigned seq;
    if (strncmp(store, "rocksdb://", 10) == 0)
        snprintf(out, n, "%s-%s-%d-%u", store, tag, (int)getpid(), ++seq);
    else
        snprintf(out, n, "%s", store);
}

void bench_rm_store(const char *url) {
    if (strncmp(url, "rocksdb://", 10) != 0) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", url + 10);
    if (system(cmd) != 0) fprintf(stderr, "bench: could not remove %s\n", url + 10);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: rill-bench [SCENARIO...] [--events N] [--broker URL] [--store URL] "
            "[--repeat R] [--serializer json|avro]\n\nscenarios:\n");
    for (size_t i = 0; i < NSCEN; i++)
        fprintf(f, "  %-24s %s\n", scenarios[i]->name, scenarios[i]->description);
}

int main(int argc, char **argv) {
    bench_opts_t o = {.events = 0, .repeat = 3};
    const char *names[64];
    int nnames = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc) {
            char *end;
            o.events = strtoull(argv[++i], &end, 10);
            if (*end || !o.events) {
                fprintf(stderr, "error: --events needs a positive number\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--broker") && i + 1 < argc) {
            o.broker = argv[++i];
        } else if (!strcmp(argv[i], "--store") && i + 1 < argc) {
            o.store = argv[++i];
        } else if (!strcmp(argv[i], "--serializer") && i + 1 < argc) {
            o.serializer = argv[++i];
        } else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            o.repeat = atoi(argv[++i]);
            if (o.repeat < 1 || o.repeat > 99) {
                fprintf(stderr, "error: --repeat needs 1-99\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "error: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (nnames < 64) {
            names[nnames++] = argv[i];
        }
    }
    for (int i = 0; i < nnames; i++) {
        bool found = false;
        for (size_t j = 0; j < NSCEN; j++)
            found |= !strcmp(names[i], scenarios[j]->name);
        if (!found) {
            fprintf(stderr, "error: unknown scenario '%s'\n", names[i]);
            usage(stderr);
            return 2;
        }
    }
    fprintf(stderr, "%-22s %-8s %-8s %-6s %10s %12s %12s %8s %8s %7s\n", "scenario",
            "transport", "store", "ser", "events", "rill ev/s", "raw ev/s", "ratio",
            "p99 us", "rss MB");
    int failed = 0;
    for (size_t j = 0; j < NSCEN; j++) {
        const bench_scenario_t *s = scenarios[j];
        bool wanted = nnames == 0 && (!s->needs_server || o.broker);
        for (int i = 0; i < nnames; i++)
            wanted |= !strcmp(names[i], s->name);
        if (!wanted) continue;
        bench_result_t r = {0};
        if (s->run(&o, &r) != 0) {
            fprintf(stderr, "%-22s skipped: %s\n", s->name, r.note);
            failed += nnames > 0;
            continue;
        }
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double eps = r.seconds > 0 ? (double)r.events / r.seconds : 0;
        double beps = r.baseline_seconds > 0 ? (double)r.events / r.baseline_seconds : 0;
        double ratio = beps > 0 ? eps / beps : 0;
        printf("{\"scenario\":\"%s\",\"transport\":\"%s\",\"store\":\"%s\","
               "\"serializer\":\"%s\","
               "\"events\":%llu,\"seconds\":%.6f,\"events_per_sec\":%.0f,\"p50_us\":%.2f,"
               "\"p99_us\":%.2f,\"peak_rss_kb\":%ld,\"baseline_events_per_sec\":%.0f,"
               "\"ratio\":%.4f}\n",
               s->name, r.transport ? r.transport : "", r.store ? r.store : "",
               r.serializer ? r.serializer : "", (unsigned long long)r.events, r.seconds,
               eps, r.p50_us, r.p99_us, ru.ru_maxrss, beps, ratio);
        fflush(stdout);
        fprintf(stderr,
                "%-22s %-8s %-8s %-6s %10llu %12.0f %12.0f %8.3f %8.1f %7.1f%s%s\n",
                s->name, r.transport ? r.transport : "", r.store ? r.store : "",
                r.serializer ? r.serializer : "", (unsigned long long)r.events, eps, beps,
                ratio, r.p99_us, ru.ru_maxrss / 1024.0, *r.note ? "  " : "", r.note);
    }
    return failed ? 1 : 0;
}
