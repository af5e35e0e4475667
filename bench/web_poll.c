/* memory-table-count-web (issue 16, performance): the memory-table-count workload
 * (JSON click records, table[user] += 1 per event, memory:// and the memory store)
 * with the worker's web server on, run twice in the same process: once while a
 * client thread asks GET /metrics every 100 ms (the "rill" side), once with nobody
 * asking (the "baseline" side).  The ratio is the cost of being scraped; the note
 * says how many scrapes were answered. */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rill/rill.h>

#include "bench.h"
#include "clicks.h"

#define CHUNK 4096
#define USERS 1000
#define PARTITIONS 4
#define POLL_MS 100

typedef struct poller {
    int port;
    atomic_bool stop;
    atomic_uint_fast64_t answered, bytes;
} poller_t;

/* GET /metrics with a fresh connection, read to the end. */
static void scrape(poller_t *p) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)p->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    static const char req[] =
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
        char buf[65536];
        ssize_t r, total = 0;
        while ((r = recv(fd, buf, sizeof buf, 0)) > 0)
            total += r;
        if (total > 12 && !memcmp(buf, "HTTP/1.1 200", 12))
            atomic_fetch_add(&p->answered, 1);
        atomic_fetch_add(&p->bytes, (uint64_t)total);
    }
    close(fd);
}

static void *poll_main(void *opaque) {
    poller_t *p = opaque;
    while (!atomic_load(&p->stop)) {
        scrape(p);
        struct timespec ts = {0, POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t n = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &n);
    close(s);
    return ntohs(a.sin_port);
}

typedef struct payloads {
    char **json;
    size_t *len;
    char *user[USERS];
    uint64_t n;
} payloads_t;

static void payloads_make(payloads_t *p, uint64_t n) {
    p->n = n;
    p->json = malloc(n * sizeof *p->json);
    p->len = malloc(n * sizeof *p->len);
    for (int u = 0; u < USERS; u++) {
        p->user[u] = malloc(16);
        snprintf(p->user[u], 16, "user-%d", u);
    }
    for (uint64_t i = 0; i < n; i++) {
        char buf[128];
        int len = snprintf(buf, sizeof buf, "{\"user\":\"%s\",\"amount\":%llu}",
                           p->user[i % USERS], (unsigned long long)(i % 97));
        p->json[i] = strdup(buf);
        p->len[i] = (size_t)len;
    }
}

static void payloads_free(payloads_t *p) {
    for (uint64_t i = 0; i < p->n; i++)
        free(p->json[i]);
    for (int u = 0; u < USERS; u++)
        free(p->user[u]);
    free(p->json);
    free(p->len);
}

typedef struct ctx {
    rill_table_t *table;
    uint64_t done, errors;
} ctx_t;

static rill_err_t count_click(rill_event_t *ev, void *opaque) {
    ctx_t *c = opaque;
    const bench_click_t *k = rill_event_value(ev);
    if (rill_table_incr(c->table, ev, k->user, strlen(k->user), 1, NULL) != RILL_OK)
        c->errors++;
    c->done++;
    return RILL_OK;
}

/* One run; @p polled: a client scrapes /metrics meanwhile. */
static int run_once(const payloads_t *p, bool polled, double *secs, bench_side_t *side,
                    uint64_t *scrapes, char *note, size_t nlen) {
    static unsigned run;
    char url[160], err[512], port[16];
    snprintf(url, sizeof url, "memory://bench-web-%u?keep=false&max.messages=%llu", ++run,
             (unsigned long long)(p->n + CHUNK));
    int wport = free_port();
    snprintf(port, sizeof port, "%d", wport);
    bench_side_begin(side);
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    rill_conf_set(c, "web.port", port, err, sizeof err);
    rill_app_t *app = rill_app_new("bench", c, err, sizeof err);
    rill_topic_opts_t to = {.partitions = PARTITIONS,
                            .value_type = RILL_TYPE_RECORD(&bench_click_schema)};
    rill_topic_t *t = rill_app_topic(app, "clicks", &to);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = t};
    static ctx_t cx;
    memset(&cx, 0, sizeof cx);
    cx.table = rill_app_table(app, "counts", &tab);
    if (!cx.table || !rill_app_agent(app, "count", t, count_click, &cx, NULL) ||
        rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(note, nlen, "%.200s", *err ? err : rill_app_errmsg(app));
        rill_app_destroy(app);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    for (int i = 0; i < 100 && !rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    poller_t pl = {.port = wport};
    pthread_t th;
    if (polled && pthread_create(&th, NULL, poll_main, &pl)) polled = false;
    uint64_t t0 = bench_now_ns(), sent = 0;
    while (sent < p->n) {
        uint64_t end = sent + CHUNK < p->n ? sent + CHUNK : p->n;
        for (; sent < end; sent++) {
            const char *u = p->user[sent % USERS];
            if (rill_send(t, u, strlen(u), p->json[sent], p->len[sent],
                          &rill_send_encoded) != RILL_OK) {
                snprintf(note, nlen, "send: %.200s", rill_app_errmsg(app));
                if (polled) {
                    atomic_store(&pl.stop, true);
                    pthread_join(th, NULL);
                }
                rill_app_destroy(app);
                return -1;
            }
        }
        while (cx.done < sent)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    *secs = (double)(bench_now_ns() - t0) / 1e9;
    if (polled) { /* the last scrape may be waiting for the loop */
        atomic_store(&pl.stop, true);
        while (pthread_tryjoin_np(th, NULL))
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    *scrapes = atomic_load(&pl.answered);
    rill_app_stop(app);
    for (int i = 0; i < 1000 && rill_app_is_ready(app); i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    bench_side_end(side);
    rill_app_destroy(app);
    return cx.errors ? -1 : 0;
}

static int run(const bench_opts_t *o, bench_result_t *r) {
    uint64_t n = o->events ? o->events : 500000;
    payloads_t p;
    payloads_make(&p, n);
    double rs[99], bs[99];
    uint64_t scrapes = 0, s1 = 0;
    for (int i = 0; i < o->repeat; i++) {
        /* alternate the order so neither side always runs on a warmer process */
        bool polled_first = i % 2 == 0;
        for (int k = 0; k < 2; k++) {
            bool polled = (k == 0) == polled_first;
            if (run_once(&p, polled, polled ? &rs[i] : &bs[i],
                         polled ? &r->rill : &r->base, &s1, r->note, sizeof r->note)) {
                payloads_free(&p);
                return -1;
            }
            if (polled) scrapes += s1;
        }
    }
    payloads_free(&p);
    r->transport = "memory";
    r->store = "memory";
    r->serializer = "json";
    r->events = n;
    r->seconds = bench_median(rs, o->repeat);
    r->baseline_seconds = bench_median(bs, o->repeat);
    snprintf(r->note, sizeof r->note,
             "rill: /metrics scraped every %d ms (%llu answers); baseline: the same "
             "run, web server on, not scraped",
             POLL_MS, (unsigned long long)scrapes);
    return 0;
}

const bench_scenario_t bench_memory_table_count_web = {
    .name = "memory-table-count-web",
    .description = "memory-table-count with /metrics scraped every 100 ms vs not scraped",
    .run = run,
};
