/* soak (issue 13, item 5): 10M events (--events) through an agent and a table on
 * memory://, sampled every 20 ms.  After a warm-up (the first 20 % of the events)
 * memory must stay level: a leak per event, or per commit cycle, grows it without
 * bound.  RSS alone cannot say so here: the bounded memory:// log keeps messages
 * in chunks (2 MB ones once a partition holds 4 MB) until a commit lets it trim
 * them, so RSS is a sawtooth whose level follows how many chunks the log holds at
 * that moment: 26-55 MB in a 20M-event run, glibc's arena staying at 17-23 MB.
 * The floors, ceilings and medians of RSS quarters all moved by +13 to +39 %
 * with no trend.  What a leak does move is the heap's trough: right after a trim
 * the log holds next to nothing, and what is still allocated then (glibc's bytes
 * in use plus its mmapped blocks) is the app's own state.  So the verdict: the
 * least heap sample of the second half may exceed the first half's by at most
 * 10 % of the first half's median RSS (halves, not quarters: a quarter of a
 * 10M-event run spans so few trims that one missed them all).  Without glibc it
 * is the halves' RSS medians instead.  The note gives RSS min, max and the
 * halves' medians.  $BENCH_SOAK_LEAK_BYTES makes the handler leak that many
 * bytes every 16 events, to check that the verdict catches a leak.  No baseline
 * (ratio is not meaningful). */
#include <event2/event.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

#include "bench.h"
#include "clicks.h"

#define SOAK_CHUNK 4096
#define SOAK_KEYS 10000
#define SOAK_SAMPLE_NS 20000000ull /* 20 ms: reading statm takes ~10 us */
#define SOAK_MIN_SAMPLES 40        /* fewer: no verdict on growth */
#define SOAK_MAX_SAMPLES 100000

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * 4;
}

typedef struct soak {
    rill_table_t *table;
    uint64_t done, errors;
    size_t leak; /* $BENCH_SOAK_LEAK_BYTES */
} soak_t;

static rill_err_t soak_count(rill_event_t *ev, void *opaque) {
    soak_t *s = opaque;
    size_t klen;
    const void *k = rill_event_key_bytes(ev, &klen);
    if (rill_table_incr(s->table, ev, k, klen, 1, NULL) != RILL_OK) s->errors++;
    if (s->leak && (s->done & 15) == 0) {
        volatile char *lost = malloc(s->leak); /* never freed, on purpose */
        if (lost) lost[0] = 1;
    }
    s->done++;
    return RILL_OK;
}

/* $BENCH_SOAK_VERBOSE: each sample, with glibc's view of the heap (in use, and
 * held: the arena plus mmapped blocks such as the log's 2 MB chunks). */
static void soak_trace(uint64_t sent, long kb) {
#ifdef __GLIBC__
    struct mallinfo2 mi = mallinfo2();
    fprintf(stderr, "soak: %llu events, RSS %ld KB, heap in use %zu KB, held %zu KB\n",
            (unsigned long long)sent, kb, mi.uordblks / 1024,
            (mi.arena + mi.hblkhd) / 1024);
#else
    fprintf(stderr, "soak: %llu events, RSS %ld KB\n", (unsigned long long)sent, kb);
#endif
}

/* What glibc's heap holds allocated (in use in the arena plus mmapped blocks), in
 * KB, or -1 without glibc. */
static long heap_kb(void) {
#ifdef __GLIBC__
    struct mallinfo2 mi = mallinfo2();
    return (long)((mi.uordblks + mi.hblkhd) / 1024);
#else
    return -1;
#endif
}

static long least_kb(const long *v, int n) {
    long m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The median of @p n samples (sorted in a copy). */
static double median_kb(const long *v, int n) {
    static long tmp[SOAK_MAX_SAMPLES];
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_long);
    return n % 2 ? (double)tmp[n / 2]
                 : ((double)tmp[n / 2 - 1] + (double)tmp[n / 2]) / 2.0;
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 10000000;
    char err[512];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "memory://soak?keep=false&max.messages=10000", err,
                  sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "100", err, sizeof err);
    rill_app_t *app = rill_app_new("soak", c, err, sizeof err);
    rill_topic_opts_t to = {.partitions = 4, .value_type = &rill_type_bytes};
    rill_topic_t *t = rill_app_topic(app, "events", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = t};
    static soak_t s;
    memset(&s, 0, sizeof s);
    const char *leak = getenv("BENCH_SOAK_LEAK_BYTES");
    s.leak = leak ? (size_t)strtoul(leak, NULL, 10) : 0;
    s.table = rill_app_table(app, "counts", &tab);
    if (!s.table || !rill_app_agent(app, "count", t, soak_count, &s, NULL) ||
        rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(r->note, sizeof r->note, "%.200s", *err ? err : rill_app_errmsg(app));
        rill_app_destroy(app);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    for (int i = 0; i < 100 && !rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    r->transport = "memory";
    r->store = "memory";
    r->serializer = "bytes";
    bench_side_begin(&r->rill);
    uint64_t t0 = bench_now_ns(), next_sample = t0 + SOAK_SAMPLE_NS, sent = 0;
    uint64_t warm = n / 5;
    long lo = -1, hi = -1;
    int samples = 0;
    static long rs[SOAK_MAX_SAMPLES], hs[SOAK_MAX_SAMPLES];
    bool verbose = getenv("BENCH_SOAK_VERBOSE") != NULL;
    char key[16], val[32];
    while (sent < n) {
        uint64_t end = sent + SOAK_CHUNK < n ? sent + SOAK_CHUNK : n;
        for (; sent < end; sent++) {
            int kl = snprintf(key, sizeof key, "k%llu",
                              (unsigned long long)(sent % SOAK_KEYS));
            int vl = snprintf(val, sizeof val, "v%llu", (unsigned long long)sent);
            rill_err_t e;
            /* the log is bounded (max.messages): full until a commit lets it trim */
            while ((e = rill_send(t, key, (size_t)kl, val, (size_t)vl,
                                  &rill_send_encoded)) == RILL_EFULL)
                event_base_loop(base, EVLOOP_ONCE);
            if (e != RILL_OK) {
                snprintf(r->note, sizeof r->note, "send: %.200s", rill_app_errmsg(app));
                rill_app_destroy(app);
                return -1;
            }
        }
        while (s.done < sent)
            event_base_loop(base, EVLOOP_NONBLOCK);
        uint64_t now = bench_now_ns();
        if (now >= next_sample) {
            next_sample = now + SOAK_SAMPLE_NS;
            long kb = rss_kb();
            if (verbose) soak_trace(sent, kb);
            if (sent >= warm && kb > 0) {
                lo = lo < 0 || kb < lo ? kb : lo;
                hi = kb > hi ? kb : hi;
                if (samples < SOAK_MAX_SAMPLES) {
                    rs[samples] = kb;
                    hs[samples] = heap_kb();
                }
                samples++;
            }
        }
    }
    r->seconds = (double)(bench_now_ns() - t0) / 1e9;
    bench_side_end(&r->rill);
    long last = rss_kb();
    if (last > 0 && samples == 0) lo = hi = rs[0] = last, hs[0] = heap_kb(), samples = 1;
    uint64_t keys;
    int64_t sum;
    bench_table_total(s.table, &keys, &sum);
    r->events = n;
    r->checksum = (uint64_t)sum;
    r->has_checksum = true;
    int ns = samples < SOAK_MAX_SAMPLES ? samples : SOAK_MAX_SAMPLES, q = ns / 2;
    double m1 = q ? median_kb(rs, q) : 0, m4 = q ? median_kb(rs + ns - q, q) : 0;
    long h1 = q ? least_kb(hs, q) : -1, h4 = q ? least_kb(hs + ns - q, q) : -1;
    bool by_heap = h1 >= 0 && h4 >= 0;
    double growth = m1 <= 0   ? 0
                    : by_heap ? (double)(h4 - h1) * 100.0 / m1
                              : (m4 - m1) * 100.0 / m1;
    bool judged = samples >= SOAK_MIN_SAMPLES;
    snprintf(r->note, sizeof r->note,
             "RSS after warm-up: min %ld KB, max %ld KB, halves' medians %.0f -> %.0f KB "
             "over %d samples; %s %ld -> %ld KB, %+.1f %% of RSS%s",
             lo, hi, m1, m4, samples, by_heap ? "heap trough" : "RSS median",
             by_heap ? h1 : (long)m1, by_heap ? h4 : (long)m4, growth,
             !judged         ? ": too few samples to judge (more --events)"
             : growth > 10.0 ? ": grew more than 10 %"
                             : "");
    fprintf(stderr, "soak: %s\n", r->note);
    int rc = (s.errors || sum != (int64_t)n || (judged && growth > 10.0)) ? -1 : 0;
    rill_app_destroy(app);
    return rc;
}

const bench_scenario_t bench_soak = {
    "soak",
    "10M events through an agent and a table on memory://, RSS sampled every 20 ms "
    "(after warm-up the heap's trough grows by at most 10 % of RSS)",
    false, run};
