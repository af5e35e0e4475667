/* The memory transport's delivery reports through handlers->delivered: a run of
 * reports of one cb comes in one call, in produce order, one report per produce;
 * reports of produces made from inside a report come after, in the same turn; and
 * without the handler each produce's cb is called (issue 17). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

#include "quiet_handlers.h"

#define N 40

typedef struct fx {
    struct event_base *base;
    rill_transport_t *t;
    rill_transport_handlers_t h;
    char url[160];
    int calls;           /* delivered() calls */
    size_t sizes[N];     /* their run lengths */
    int cb_calls;        /* reports that reached a cb */
    int32_t part[2 * N]; /* what each report said, in the order they came */
    int64_t off[2 * N];
    int which[2 * N];
    int feed; /* produce this many more from inside reports */
} fx_t;

static void on_delivered(rill_transport_t *t, rill_delivery_cb cb,
                         const rill_delivery_t *d, size_t n, void *op) {
    (void)t;
    fx_t *f = op;
    if (f->calls < N) f->sizes[f->calls] = n;
    f->calls++;
    for (size_t i = 0; i < n; i++)
        cb(RILL_OK, NULL, d[i].partition, d[i].offset, d[i].opaque);
}

static void report(fx_t *f, int which, rill_err_t err, int32_t p, int64_t off);

static void on_report_a(rill_err_t err, const char *errmsg, int32_t p, int64_t off,
                        void *op) {
    (void)errmsg;
    report(op, 1, err, p, off);
}
static void on_report_b(rill_err_t err, const char *errmsg, int32_t p, int64_t off,
                        void *op) {
    (void)errmsg;
    report(op, 2, err, p, off);
}

static void produce(fx_t *f, int32_t p, rill_delivery_cb cb) {
    rill_produce_t m = {.topic = "reports", .partition = p, .value = "v", .value_len = 1};
    assert_int_equal(f->t->ops->produce(f->t, &m, cb, f), RILL_OK);
}

static void report(fx_t *f, int which, rill_err_t err, int32_t p, int64_t off) {
    assert_int_equal(err, RILL_OK);
    assert_true(f->cb_calls < 2 * N);
    f->part[f->cb_calls] = p;
    f->off[f->cb_calls] = off;
    f->which[f->cb_calls++] = which;
    if (f->feed > 0) {
        f->feed--;
        produce(f, 0, on_report_b);
    }
}

static fx_t *open_fx(bool with_delivered) {
    static unsigned seq;
    fx_t *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    snprintf(f->url, sizeof f->url, "memory://reports%d-%u", (int)getpid(), ++seq);
    f->h = quiet_handlers(f);
    f->h.delivered = with_delivered ? on_delivered : NULL;
    char err[256] = "";
    f->t = rill_transport_new(f->url, NULL, f->base, &f->h, "reports-client", err,
                              sizeof err);
    if (!f->t) fail_msg("cannot open %s: %s", f->url, err);
    rill_topic_spec_t spec = {.name = "reports", .partitions = 4};
    int32_t parts = 0;
    assert_int_equal(f->t->ops->declare(f->t, &spec, &parts, err, sizeof err), RILL_OK);
    return f;
}

static void close_fx(fx_t *f) {
    rill_transport_destroy(f->t);
    event_base_free(f->base);
    free(f);
}

/* The offsets each partition's reports carry: 0, 1, 2, .. in produce order. */
static void assert_dense_per_partition(const fx_t *f) {
    int64_t next[4] = {0, 0, 0, 0};
    for (int i = 0; i < f->cb_calls; i++) {
        assert_true(f->part[i] >= 0 && f->part[i] < 4);
        assert_int_equal(f->off[i], next[f->part[i]]++);
    }
}

static void a_run_of_one_cb_comes_in_one_call(void **state) {
    (void)state;
    fx_t *f = open_fx(true);
    for (int i = 0; i < N; i++)
        produce(f, i % 4, on_report_a);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->sizes[0], N);
    assert_int_equal(f->cb_calls, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(f->part[i], i % 4); /* produce order */
    assert_dense_per_partition(f);
    close_fx(f);
}

static void runs_of_different_cbs_come_apart_in_produce_order(void **state) {
    (void)state;
    fx_t *f = open_fx(true);
    for (int i = 0; i < N; i++) /* a x10, b x10, a x10, b x10 */
        produce(f, i % 4, (i / 10) % 2 ? on_report_b : on_report_a);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->calls, 4);
    for (int c = 0; c < 4; c++)
        assert_int_equal(f->sizes[c], 10);
    assert_int_equal(f->cb_calls, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(f->which[i], (i / 10) % 2 ? 2 : 1);
        assert_int_equal(f->part[i], i % 4);
    }
    assert_dense_per_partition(f);
    close_fx(f);
}

static void reports_of_produces_made_in_a_report_follow_in_the_same_turn(void **state) {
    (void)state;
    fx_t *f = open_fx(true);
    f->feed = 5;
    for (int i = 0; i < 10; i++)
        produce(f, 1, on_report_a);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->cb_calls, 15);
    for (int i = 0; i < 15; i++)
        assert_int_equal(f->which[i], i < 10 ? 1 : 2);
    assert_dense_per_partition(f);
    close_fx(f);
}

static void without_the_handler_each_cb_is_called(void **state) {
    (void)state;
    fx_t *f = open_fx(false);
    for (int i = 0; i < N; i++)
        produce(f, i % 4, (i / 10) % 2 ? on_report_b : on_report_a);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->calls, 0);
    assert_int_equal(f->cb_calls, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(f->which[i], (i / 10) % 2 ? 2 : 1);
    assert_dense_per_partition(f);
    close_fx(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_run_of_one_cb_comes_in_one_call),
        cmocka_unit_test(runs_of_different_cbs_come_apart_in_produce_order),
        cmocka_unit_test(reports_of_produces_made_in_a_report_follow_in_the_same_turn),
        cmocka_unit_test(without_the_handler_each_cb_is_called),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
