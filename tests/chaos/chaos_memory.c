/* rill-chaos-memory: the chaos run on memory://, in one process (scripts/chaos.sh
 * --transport memory).  Workers of a counting app (a table and an output topic) on
 * faulty+memory:// with faults chosen by the seed; a producer with a known tally
 * on plain memory://; a schedule, also from the seed, of scale-outs, graceful
 * leaves, lost revokes and loop stalls past the lease.  At the end a fresh worker
 * recovers every table partition from the changelog and every key's count must
 * be at least its true count (at-least-once); the over-count is reported.
 *
 * usage: rill-chaos-memory [--seconds N] [--seed S] [--keys K]
 * $CHAOS_FAULTS: more fault keys for every worker ("commit.ahead=1": a core that
 * commits past what it acked, which the run must catch). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <rill/rill.h>

#define NPART 6
#define MAXW 6

static uint64_t rng;
static uint64_t next_u64(void) {
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int below(int n) {
    return (int)(next_u64() % (uint64_t)n);
}

static char broker[64];
static int nkeys = 200;
static int64_t *truth; /* delivered sends per key */
static long injected;  /* faults the wrappers injected (from their close logs) */
static struct event_base *base;

typedef struct worker {
    rill_app_t *app;
    rill_topic_t *words, *out;
    rill_table_t *counts;
    bool used;
} worker_t;
static worker_t workers[MAXW];

static void on_log(rill_log_level_t level, const char *who, const char *msg,
                   void *opaque) {
    (void)who, (void)opaque;
    long n;
    const char *p = strstr(msg, "faulty: ");
    if (p && sscanf(p, "faulty: %ld faults injected", &n) == 1) injected += n;
    if (level <= RILL_LOG_ERROR && getenv("CHAOS_VERBOSE"))
        fprintf(stderr, "chaos: worker error: %s\n", msg);
}

static rill_err_t count(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t len;
    const char *k = rill_event_key_bytes(ev, &len);
    rill_err_t rc = rill_table_incr(w->counts, ev, k, len, 1, NULL);
    if (rc != RILL_OK) return rc;
    rill_bytes_t kb = {(uint8_t *)k, len}, vb = {(uint8_t *)"1", 1};
    rc = rill_send(w->out, kb.data, kb.len, vb.data, vb.len, NULL);
    return rc == RILL_EFULL ? RILL_OK : rc; /* the output is best effort here */
}

static rill_app_t *app_new(worker_t *w, const char *url, bool lease) {
    rill_conf_t *c = rill_conf_new();
    char err[512];
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "50", err, sizeof err);
    if (lease) rill_conf_set(c, "lease.stall.ms", "150", err, sizeof err);
    rill_conf_set_log_cb(c, on_log, w);
    /* the wrappers' close lines are at info: keep them, drop the rest */
    rill_conf_set(c, "log.level", "info", err, sizeof err);
    rill_app_t *app = rill_app_new_with_base("chaos", c, base, err, sizeof err);
    if (!app) {
        fprintf(stderr, "chaos: app: %s\n", err);
        exit(2);
    }
    rill_topic_opts_t to = {.partitions = NPART};
    w->words = rill_app_topic(app, "words", &to);
    w->out = rill_app_topic(app, "out", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w->words};
    w->counts = rill_app_table(app, "counts", &o);
    rill_app_agent(app, "count", w->words, count, w, NULL);
    if (rill_app_start(app, err, sizeof err) != RILL_OK) {
        fprintf(stderr, "chaos: start: %s\n", err);
        exit(2);
    }
    return app;
}

static int nworkers(void) {
    int n = 0;
    for (int i = 0; i < MAXW; i++)
        n += workers[i].used;
    return n;
}

/* Faults every worker runs with, low rates; a stall or lost revokes for some. */
static void worker_start(bool stall, bool lost) {
    for (int i = 0; i < MAXW; i++) {
        if (workers[i].used) continue;
        char url[512];
        snprintf(url, sizeof url,
                 "faulty+%s?seed=%llu&fail.commit=0.05&delay.delivery.ms=0-20&"
                 "reorder.delivery=0.05&late.pause=0.05&dup.produce=0.005&"
                 "fail.produce=0.01&fail.produce.err=EFULL&delay.commit.ms=0-3%s%s%s%s",
                 broker, (unsigned long long)next_u64() % 1000000,
                 stall ? "&stall.ms=400&stall.at.ms=300" : "",
                 lost ? "&revoke.lost=1" : "", getenv("CHAOS_FAULTS") ? "&" : "",
                 getenv("CHAOS_FAULTS") ? getenv("CHAOS_FAULTS") : "");
        workers[i].app = app_new(&workers[i], url, true);
        workers[i].used = true;
        return;
    }
}

static void worker_end(int i) {
    if (!workers[i].used) return;
    rill_app_stop(workers[i].app);
    for (int t = 0; t < 100; t++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    if (rill_app_errmsg(workers[i].app) && *rill_app_errmsg(workers[i].app) &&
        getenv("CHAOS_VERBOSE"))
        fprintf(stderr, "chaos: worker %d: %s\n", i, rill_app_errmsg(workers[i].app));
    rill_app_destroy(workers[i].app);
    workers[i].used = false;
}

/* ---- the producer ------------------------------------------------------------------ */

static rill_transport_t *producer;
static long inflight;

static void on_sent(rill_err_t err, const char *errmsg, int32_t partition, int64_t offset,
                    void *opaque) {
    (void)errmsg, (void)partition, (void)offset;
    inflight--;
    if (err == RILL_OK) truth[(intptr_t)opaque]++;
}

static void produce_some(int n) {
    for (int i = 0; i < n; i++) {
        int k = below(nkeys);
        char key[32];
        int len = snprintf(key, sizeof key, "k%d", k);
        rill_produce_t m = {.topic = "words",
                            .partition = rill_partition_for_key(key, (size_t)len, NPART),
                            .key = key,
                            .key_len = (size_t)len,
                            .value = "1",
                            .value_len = 1};
        if (producer->ops->produce(producer, &m, on_sent, (void *)(intptr_t)k) == RILL_OK)
            inflight++;
    }
}

static void run_ms(int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    int seconds = 20;
    uint64_t seed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--keys") && i + 1 < argc)
            nkeys = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: rill-chaos-memory [--seconds N] [--seed S] [--keys K]\n");
            return 2;
        }
    }
    if (!seed) seed = ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16)) % 1000000000u;
    rng = seed;
    printf("chaos: memory, seed %llu, %d s, %d keys\n", (unsigned long long)seed, seconds,
           nkeys);
    fflush(stdout);
    truth = calloc((size_t)nkeys, sizeof *truth);
    base = event_base_new();
    snprintf(broker, sizeof broker, "memory://chaos-%llu", (unsigned long long)seed);
    static const rill_transport_handlers_t h = {0};
    char err[512];
    producer = rill_transport_new(broker, NULL, base, &h, "producer", err, sizeof err);
    if (!producer) {
        fprintf(stderr, "chaos: producer: %s\n", err);
        return 2;
    }
    worker_start(false, false);
    worker_start(false, false);
    long faults = 0;
    uint64_t end = now_ms() + (uint64_t)seconds * 1000, next_fault = now_ms() + 500;
    while (now_ms() < end) {
        produce_some(20);
        run_ms(10);
        if (now_ms() < next_fault) continue;
        next_fault = now_ms() + 300 + (uint64_t)below(700);
        int n = nworkers(), what = below(4);
        if (what == 0 && n < MAXW) { /* scale out */
            worker_start(false, false);
        } else if (what == 1 && n > 1) { /* scale in: a graceful leave */
            int i;
            while (!workers[i = below(MAXW)].used) {
            }
            worker_end(i);
        } else if (what == 2 && n < MAXW) { /* a zombie: stalls past its lease */
            worker_start(true, false);
        } else if (n < MAXW) { /* a worker whose revokes are all lost */
            worker_start(false, true);
        } else {
            continue;
        }
        faults++;
    }
    /* settle: every send delivered, then everyone leaves (final commits) */
    while (inflight > 0)
        run_ms(20);
    run_ms(1500);
    for (int i = 0; i < MAXW; i++)
        worker_end(i);
    /* the checker: plain memory://, recovers every partition from the changelog */
    worker_t check = {0};
    check.app = app_new(&check, broker, false);
    for (int t = 0; t < 500 && !rill_app_is_ready(check.app); t++)
        run_ms(10);
    run_ms(500);
    long lost = 0, missing = 0;
    int64_t sum_true = 0, sum_seen = 0;
    for (int k = 0; k < nkeys; k++) {
        char key[32];
        int len = snprintf(key, sizeof key, "k%d", k);
        int64_t v = 0;
        if (rill_table_get(check.counts, NULL, key, (size_t)len, &v) != RILL_OK) v = -1;
        if (truth[k] > 0 && v <= 0) missing++;
        if (v < truth[k]) {
            lost += truth[k] - (v < 0 ? 0 : v);
            fprintf(stderr, "chaos: key %s: counted %lld, true %lld\n", key, (long long)v,
                    (long long)truth[k]);
        }
        sum_true += truth[k];
        sum_seen += v > 0 ? v : 0;
    }
    rill_app_stop(check.app);
    run_ms(100);
    rill_app_destroy(check.app);
    rill_transport_destroy(producer);
    double over = sum_true ? 100.0 * (double)(sum_seen - sum_true) / (double)sum_true : 0;
    bool pass = lost == 0 && missing == 0 && sum_true > 0;
    printf("chaos: %ld scheduled faults, %ld injected by the wrappers, %lld events\n",
           faults, injected, (long long)sum_true);
    printf("chaos: seed %llu, faults %ld, keys %d, lost %ld, over-count %.2f %%, %s\n",
           (unsigned long long)seed, faults + injected, nkeys, lost, over,
           pass ? "PASS" : "FAIL");
    event_base_free(base);
    free(truth);
    return pass ? 0 : 1;
}
