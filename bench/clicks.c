/* See clicks.h. */
#include "clicks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

RILL_RECORD(bench_click_schema, bench_click_t, "bench.Click",
            RILL_F(bench_click_t, user, STRING), RILL_F(bench_click_t, amount, INT64));

rill_err_t bench_count_event(rill_event_t *ev, void *opaque) {
    bench_counter_t *c = opaque;
    size_t len;
    rill_event_value_bytes(ev, &len);
    if (!c->got++) c->t0 = bench_now_ns();
    c->bytes += len;
    c->t1 = bench_now_ns();
    return RILL_OK;
}

rill_err_t bench_count_click(rill_event_t *ev, void *opaque) {
    bench_counter_t *c = opaque;
    const bench_click_t *k = rill_event_value(ev);
    if (!c->got++) c->t0 = bench_now_ns();
    rill_err_t rc = rill_table_incr(c->table, ev, k->user, strlen(k->user), 1, NULL);
    if (rc != RILL_OK) {
        c->errors++;
        c->last_err = rc;
    }
    c->t1 = bench_now_ns();
    return RILL_OK;
}

typedef struct total {
    uint64_t keys;
    int64_t sum;
} total_t;

static int add_count(const void *key, size_t klen, int64_t ws, const void *value,
                     void *opaque) {
    (void)key;
    (void)klen;
    (void)ws;
    total_t *t = opaque;
    t->keys++;
    t->sum += *(const int64_t *)value;
    return 0;
}

void bench_table_total(rill_table_t *t, uint64_t *keys, int64_t *sum) {
    total_t tot = {0, 0};
    if (t) rill_table_foreach(t, add_count, &tot);
    *keys = tot.keys;
    *sum = tot.sum;
}

static uint64_t fnv(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

int bench_map_init(bench_map_t *m, size_t cap) {
    m->cap = cap;
    m->slots = calloc(cap, sizeof *m->slots);
    return m->slots ? 0 : -1;
}

int64_t bench_map_incr(bench_map_t *m, const char *key) {
    size_t i = (size_t)fnv(key) & (m->cap - 1);
    while (m->slots[i].key && strcmp(m->slots[i].key, key) != 0)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key) m->slots[i].key = strdup(key);
    return ++m->slots[i].count;
}

void bench_map_finish(bench_map_t *m, uint64_t *keys, int64_t *sum) {
    *keys = 0;
    *sum = 0;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key) ++*keys;
        *sum += m->slots[i].count;
        free(m->slots[i].key);
    }
    free(m->slots);
    m->slots = NULL;
}

void bench_clicks_json_make(bench_clicks_json_t *p, uint64_t n, int users,
                            uint64_t stride) {
    p->n = n;
    p->users = users;
    p->json = malloc(n * sizeof *p->json);
    p->len = malloc(n * sizeof *p->len);
    p->user = malloc((size_t)users * sizeof *p->user);
    for (int u = 0; u < users; u++) {
        p->user[u] = malloc(16);
        snprintf(p->user[u], 16, "user-%d", u);
    }
    for (uint64_t i = 0; i < n; i++) {
        char buf[128];
        int len = snprintf(buf, sizeof buf, "{\"user\":\"%s\",\"amount\":%llu}",
                           p->user[(i * stride) % (uint64_t)users],
                           (unsigned long long)(i % 97));
        p->json[i] = malloc((size_t)len + 1);
        memcpy(p->json[i], buf, (size_t)len + 1);
        p->len[i] = (size_t)len;
    }
}

void bench_clicks_json_free(bench_clicks_json_t *p) {
    for (uint64_t i = 0; i < p->n; i++)
        free(p->json[i]);
    for (int u = 0; u < p->users; u++)
        free(p->user[u]);
    free(p->json);
    free(p->len);
    free(p->user);
}
