/* rill_send (issue 12, API v1): one send function whose keys and values are a
 * pointer and a length whatever the topic's types, so a value of the wrong kind is
 * refused with an error naming the type instead of being read past its end, and
 * options that were not made with RILL_SEND_OPTS_INIT never mean "partition 0". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

#include "run_until.h"

typedef struct order {
    char *id;
    int64_t amount;
} order_t;

RILL_RECORD(order_schema, order_t, "shop.Order", RILL_F(order_t, id, STRING),
            RILL_F(order_t, amount, INT64));

typedef struct got {
    int n;
    int64_t ts[4]; /* timestamps of the first events */
    int32_t partition;
    char key[64], value[256];
    char bkey[64], bvalue[256]; /* raw: rill_event_key/value as rill_bytes_t */
    int64_t amount;
} got_t;

static rill_err_t on_raw(rill_event_t *ev, void *opaque) {
    got_t *g = opaque;
    size_t kl = 0, vl = 0;
    const char *k = rill_event_key_bytes(ev, &kl);
    const char *v = rill_event_value_bytes(ev, &vl);
    snprintf(g->key, sizeof g->key, "%.*s", (int)kl, k ? k : "");
    snprintf(g->value, sizeof g->value, "%.*s", (int)vl, v ? v : "");
    const rill_bytes_t *bk = rill_event_key(ev), *bv = rill_event_value(ev);
    snprintf(g->bkey, sizeof g->bkey, "%.*s", bk ? (int)bk->len : 0,
             bk ? (const char *)bk->data : "");
    snprintf(g->bvalue, sizeof g->bvalue, "%.*s", bv ? (int)bv->len : 0,
             bv ? (const char *)bv->data : "");
    g->partition = rill_event_partition(ev);
    if (g->n < 4) g->ts[g->n] = rill_event_timestamp(ev);
    g->n++;
    return RILL_OK;
}

static rill_err_t on_string(rill_event_t *ev, void *opaque) {
    got_t *g = opaque;
    char *const *v = rill_event_value(ev); /* a string's C representation */
    snprintf(g->value, sizeof g->value, "%s", v ? *v : "(null)");
    g->n++;
    return RILL_OK;
}

static rill_err_t on_order(rill_event_t *ev, void *opaque) {
    got_t *g = opaque;
    const order_t *o = rill_event_value(ev);
    snprintf(g->value, sizeof g->value, "%s", o->id);
    g->amount = o->amount;
    g->n++;
    return RILL_OK;
}

typedef struct fixture {
    struct event_base *base;
    rill_app_t *app;
    rill_topic_t *raw, *orders, *strings;
    got_t raw_got, order_got, string_got;
} fixture_t;

static int setup(void **state) {
    static unsigned seq;
    fixture_t *f = calloc(1, sizeof *f);
    char err[256], broker[64];
    snprintf(broker, sizeof broker, "memory://send-%u", ++seq);
    f->base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    f->app = rill_app_new_with_base("sendtest", c, f->base, err, sizeof err);
    assert_non_null(f->app);
    rill_topic_opts_t ro = {.partitions = 4};
    f->raw = rill_app_topic(f->app, "raw", &ro);
    rill_topic_opts_t oo = {.partitions = 1,
                            .value_type = RILL_TYPE_RECORD(&order_schema)};
    f->orders = rill_app_topic(f->app, "orders", &oo);
    rill_topic_opts_t so = {.partitions = 1, .value_type = &rill_type_string};
    f->strings = rill_app_topic(f->app, "strings", &so);
    rill_app_agent(f->app, "raw-agent", f->raw, on_raw, &f->raw_got, NULL);
    rill_app_agent(f->app, "order-agent", f->orders, on_order, &f->order_got, NULL);
    rill_app_agent(f->app, "string-agent", f->strings, on_string, &f->string_got, NULL);
    if (rill_app_start(f->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    rill_app_stop(f->app);
    rill_app_destroy(f->app);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void a_record_value_is_its_address_and_size(void **state) {
    fixture_t *f = *state;
    order_t o = {.id = "o-1", .amount = 42};
    assert_int_equal(rill_send(f->orders, NULL, 0, &o, sizeof o, NULL), RILL_OK);
    RUN_UNTIL(f->base, f->order_got.n == 1, 5000);
    assert_int_equal(f->order_got.n, 1);
    assert_string_equal(f->order_got.value, "o-1");
    assert_int_equal(f->order_got.amount, 42);
}

/* A send without a timestamp carries the time it was sent: two sends 50 ms apart
 * (a slow producer) get stamps that far apart, each within the wall clock around it. */
static void unstamped_sends_carry_the_time_they_were_sent(void **state) {
    fixture_t *f = *state;
    int64_t t0 = rill_now_ms();
    assert_int_equal(rill_send(f->raw, "k", 1, "a", 1, NULL), RILL_OK);
    RUN_UNTIL(f->base, f->raw_got.n == 1, 5000);
    RUN_UNTIL(f->base, false, 50);
    int64_t t1 = rill_now_ms();
    assert_int_equal(rill_send(f->raw, "k", 1, "b", 1, NULL), RILL_OK);
    RUN_UNTIL(f->base, f->raw_got.n == 2, 5000);
    int64_t t2 = rill_now_ms();
    assert_int_equal(f->raw_got.n, 2);
    assert_in_range(f->raw_got.ts[0], t0, t1);
    assert_in_range(f->raw_got.ts[1], t1, t2);
    assert_true(f->raw_got.ts[1] - f->raw_got.ts[0] >= 45);
}

static void a_string_passed_for_a_record_is_refused_naming_the_type(void **state) {
    fixture_t *f = *state;
    assert_int_equal(rill_send(f->orders, "NO", 2, "NO", 2, NULL), RILL_EINVAL);
    const char *e = rill_app_errmsg(f->app);
    assert_non_null(strstr(e, "send to 'orders'"));
    assert_non_null(strstr(e, "the value is 2 bytes"));
    assert_non_null(strstr(e, "order_t"));
    RUN_UNTIL(f->base, false, 50);
    assert_int_equal(f->order_got.n, 0); /* nothing was sent */
}

static void a_string_topic_takes_the_bytes_without_a_terminator(void **state) {
    fixture_t *f = *state;
    const char text[] = "hello world";
    assert_int_equal(rill_send(f->strings, NULL, 0, text, 5, NULL), RILL_OK);
    RUN_UNTIL(f->base, f->string_got.n == 1, 5000);
    assert_string_equal(f->string_got.value, "hello");
}

static void options_not_made_with_init_are_refused(void **state) {
    fixture_t *f = *state;
    rill_send_opts_t zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    assert_int_equal(rill_send(f->raw, "k", 1, "v", 1, &zeroed), RILL_EINVAL);
    assert_non_null(strstr(rill_app_errmsg(f->app), "RILL_SEND_OPTS_INIT"));
}

static void partition_any_places_the_key_by_murmur2(void **state) {
    fixture_t *f = *state;
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    assert_int_equal(rill_send(f->raw, "user-17", 7, "v", 1, &o), RILL_OK);
    RUN_UNTIL(f->base, f->raw_got.n == 1, 5000);
    assert_int_equal(f->raw_got.n, 1);
    assert_int_equal(f->raw_got.partition, rill_partition_for_key("user-17", 7, 4));
}

static void an_explicit_partition_is_used(void **state) {
    fixture_t *f = *state;
    int32_t want = (rill_partition_for_key("user-17", 7, 4) + 1) % 4;
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.partition = want;
    assert_int_equal(rill_send(f->raw, "user-17", 7, "v", 1, &o), RILL_OK);
    RUN_UNTIL(f->base, f->raw_got.n == 1, 5000);
    assert_int_equal(f->raw_got.partition, want);
    o.partition = 4;
    assert_int_equal(rill_send(f->raw, "k", 1, "v", 1, &o), RILL_EINVAL);
    assert_non_null(strstr(rill_app_errmsg(f->app), "partition 4 out of range 0-3"));
}

static void encoded_bytes_skip_the_serializer(void **state) {
    fixture_t *f = *state;
    const char *json = "{\"id\": \"o-9\", \"amount\": 9}";
    assert_int_equal(
        rill_send(f->orders, NULL, 0, json, strlen(json), &rill_send_encoded), RILL_OK);
    RUN_UNTIL(f->base, f->order_got.n == 1, 5000);
    assert_string_equal(f->order_got.value, "o-9");
    assert_int_equal(f->order_got.amount, 9);
}

static void a_null_topic_or_a_null_with_a_length_is_refused(void **state) {
    fixture_t *f = *state;
    assert_int_equal(rill_send(NULL, "k", 1, "v", 1, NULL), RILL_EINVAL);
    assert_int_equal(rill_send(f->raw, NULL, 3, "v", 1, NULL), RILL_EINVAL);
    assert_non_null(strstr(rill_app_errmsg(f->app), "key is NULL but its length is 3"));
}

/* Send callbacks: one per send, in send order, each with its own opaque and the
 * partition the send went to (reports reach the core in runs, issue 17). */
typedef struct sent {
    int n, errors;
    int order[100];
    int32_t partition[100];
} sent_t;

static sent_t g_sent;

static void on_sent(rill_err_t err, const char *errmsg, int32_t partition, int64_t offset,
                    void *opaque) {
    (void)errmsg;
    (void)offset;
    if (err != RILL_OK) g_sent.errors++;
    if (g_sent.n < 100) {
        g_sent.order[g_sent.n] = (int)(intptr_t)opaque;
        g_sent.partition[g_sent.n] = partition;
    }
    g_sent.n++;
}

static void each_send_callback_runs_once_in_send_order(void **state) {
    fixture_t *f = *state;
    memset(&g_sent, 0, sizeof g_sent);
    for (int i = 0; i < 100; i++) {
        rill_send_opts_t o = RILL_SEND_OPTS_INIT;
        o.cb = on_sent;
        o.opaque = (void *)(intptr_t)i;
        assert_int_equal(rill_send(f->raw, NULL, 0, "v", 1, &o), RILL_OK);
    }
    RUN_UNTIL(f->base, g_sent.n >= 100 && f->raw_got.n >= 100, 5000);
    RUN_UNTIL(f->base, false, 20); /* no report twice */
    assert_int_equal(g_sent.n, 100);
    assert_int_equal(g_sent.errors, 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(g_sent.order[i], i);
}

static void keyless_sends_go_round_robin(void **state) {
    fixture_t *f = *state;
    memset(&g_sent, 0, sizeof g_sent);
    for (int i = 0; i < 12; i++) {
        rill_send_opts_t o = RILL_SEND_OPTS_INIT;
        o.cb = on_sent;
        o.opaque = (void *)(intptr_t)i;
        assert_int_equal(rill_send(f->raw, NULL, 0, "v", 1, &o), RILL_OK);
    }
    RUN_UNTIL(f->base, g_sent.n >= 12, 5000);
    assert_int_equal(g_sent.n, 12);
    for (int i = 1; i < 12; i++)
        assert_int_equal(g_sent.partition[i], (g_sent.partition[i - 1] + 1) % 4);
}

/* A raw topic's key and value through rill_event_key/value are rill_bytes_t of
 * this event's bytes (made when asked, issue 17), also for the events after it. */
static void a_raw_event_key_and_value_are_its_bytes(void **state) {
    fixture_t *f = *state;
    assert_int_equal(rill_send(f->raw, "key-1", 5, "value-1", 7, NULL), RILL_OK);
    RUN_UNTIL(f->base, f->raw_got.n == 1, 5000);
    assert_string_equal(f->raw_got.bkey, "key-1");
    assert_string_equal(f->raw_got.bvalue, "value-1");
    assert_int_equal(rill_send(f->raw, "k2", 2, "second", 6, NULL), RILL_OK);
    RUN_UNTIL(f->base, f->raw_got.n == 2, 5000);
    assert_string_equal(f->raw_got.bkey, "k2");
    assert_string_equal(f->raw_got.bvalue, "second");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unstamped_sends_carry_the_time_they_were_sent,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_record_value_is_its_address_and_size, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_string_passed_for_a_record_is_refused_naming_the_type, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_string_topic_takes_the_bytes_without_a_terminator, setup, teardown),
        cmocka_unit_test_setup_teardown(options_not_made_with_init_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(partition_any_places_the_key_by_murmur2, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_explicit_partition_is_used, setup, teardown),
        cmocka_unit_test_setup_teardown(encoded_bytes_skip_the_serializer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_null_topic_or_a_null_with_a_length_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(each_send_callback_runs_once_in_send_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(keyless_sends_go_round_robin, setup, teardown),
        cmocka_unit_test_setup_teardown(a_raw_event_key_and_value_are_its_bytes, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
