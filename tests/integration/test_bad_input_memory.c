/* Bad input never crashes a worker and never loses other data: undecodable values
 * are skipped, dead-lettered or fatal as configured, and the offset advances.
 * Also: agents answering ask()/cast(). */
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

static unsigned seq;
static char broker[64];

typedef struct point {
    int64_t x;
    int64_t y;
} point_t;

RILL_RECORD(point_schema, point_t, "geo.Point", RILL_F(point_t, x, INT64),
            RILL_F(point_t, y, INT64));

typedef struct got {
    int n;
    int64_t sum;
    int dead;
    char dead_err[256];
} got_t;

static rill_err_t on_point(rill_event_t *ev, void *opaque) {
    got_t *g = opaque;
    const point_t *p = rill_event_value(ev);
    g->n++;
    g->sum += p->x + p->y;
    return RILL_OK;
}

static rill_err_t on_dead(rill_event_t *ev, void *opaque) {
    got_t *g = opaque;
    size_t len;
    const char *e = rill_event_header(ev, "rill.error", &len);
    if (e) snprintf(g->dead_err, sizeof g->dead_err, "%.*s", (int)len, e);
    g->dead++;
    return RILL_OK;
}

static int setup(void **state) {
    (void)state;
    snprintf(broker, sizeof broker, "memory://bad-input-%u", ++seq);
    return 0;
}

static rill_app_t *make_app(struct event_base *base, const char *policy,
                            rill_topic_t **points, got_t *g) {
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "20", err, sizeof err);
    rill_conf_set(c, "on_decode_error", policy, err, sizeof err);
    rill_conf_set(c, "json.max.bytes", "64", err, sizeof err);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "fatal", err, sizeof err);
    rill_app_t *app = rill_app_new_with_base("bad", c, base, err, sizeof err);
    rill_topic_opts_t to = {.partitions = 1,
                            .value_type = RILL_TYPE_RECORD(&point_schema)};
    *points = rill_app_topic(app, "points", &to);
    rill_app_agent(app, "sum", *points, on_point, g, NULL);
    return app;
}

static const char *bad_values[] = {
    "\xff\xfe\x00garbage",     /* garbage bytes */
    "{\"x\":1,\"y\":",         /* truncated JSON */
    "{\"x\":\"one\",\"y\":2}", /* wrong type */
    "{\"x\":1}",               /* missing field */
    "[]",                      /* not an object */
};

static void send_mixed(rill_topic_t *t) {
    /* good, bad, good, bad, ... : 6 good values interleaved with the bad ones */
    for (int i = 0; i < 6; i++) {
        char good[64];
        snprintf(good, sizeof good, "{\"x\":%d,\"y\":%d}", i, i);
        assert_int_equal(rill_send(t, NULL, 0, good, strlen(good), &rill_send_encoded),
                         RILL_OK);
        if (i < 5)
            assert_int_equal(rill_send(t, NULL, 0, bad_values[i],
                                       strlen(bad_values[i]) + (i == 0 ? 3 : 0),
                                       &rill_send_encoded),
                             RILL_OK);
    }
    /* oversized: valid JSON, but past json.max.bytes (64 in these apps) */
    char big[200];
    int n = snprintf(big, sizeof big, "{\"x\":1,\"y\":2,\"pad\":\"%0150d\"}", 0);
    assert_int_equal(rill_send(t, NULL, 0, big, (size_t)n, &rill_send_encoded), RILL_OK);
}

static int64_t committed(struct event_base *base) {
    rill_transport_handlers_t h = {0};
    char err[256];
    rill_transport_t *tr =
        rill_transport_new(broker, NULL, base, &h, "probe", err, sizeof err);
    int64_t off = -1;
    tr->ops->committed(tr, "bad", "points", 0, &off);
    rill_transport_destroy(tr);
    return off;
}

static void undecodable_values_are_skipped_and_offsets_advance(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    got_t g = {0};
    rill_topic_t *t;
    rill_app_t *app = make_app(base, "skip", &t, &g);
    char err[256];
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    send_mixed(t);
    RUN_UNTIL(base, committed(base) >= 12, 3000);
    assert_int_equal(g.n, 6); /* every good value, none lost */
    assert_int_equal(g.sum, 30);
    assert_int_equal(committed(base), 12); /* past the bad ones: no wedge */
    assert_true(rill_app_is_ready(app));
    rill_app_destroy(app);
    event_base_free(base);
}

static void undecodable_values_go_to_the_dead_letter_topic(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    got_t g = {0}, dl = {0};
    rill_topic_t *t;
    rill_app_t *app = make_app(base, "dead_letter", &t, &g);
    rill_topic_t *dlt = rill_app_topic(app, "bad-dead-letter", NULL);
    rill_app_agent(app, "dead", dlt, on_dead, &dl, NULL);
    char err[256];
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    send_mixed(t);
    RUN_UNTIL(base, dl.dead >= 6, 3000);
    assert_int_equal(g.n, 6);
    assert_int_equal(dl.dead, 6);
    assert_non_null(
        strstr(dl.dead_err, "json.max.bytes")); /* the last: the oversized one */
    rill_app_destroy(app);
    event_base_free(base);
}

static void undecodable_value_with_crash_policy_stops_the_worker(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    got_t g = {0};
    rill_topic_t *t;
    rill_app_t *app = make_app(base, "crash", &t, &g);
    char err[256];
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    send_mixed(t);
    RUN_UNTIL(base, !rill_app_is_ready(app), 3000);
    assert_false(rill_app_is_ready(app));
    assert_int_equal(g.n, 1);
    assert_non_null(strstr(rill_app_errmsg(app), "points[0]@1"));
    assert_true(committed(base) <= 1); /* never past the bad event */
    rill_app_destroy(app);
    event_base_free(base);
}

/* ---- ask / cast
 * ---------------------------------------------------------------------------- */

static rill_err_t add_handler(rill_event_t *ev, void *opaque) {
    int *calls = opaque;
    (*calls)++;
    const point_t *p = rill_event_value(ev);
    int64_t sum = p->x + p->y;
    return rill_event_reply(ev, &sum, sizeof sum);
}

typedef struct reply {
    int n;
    rill_err_t err;
    int64_t value;
} reply_t;

static void on_reply(rill_err_t err, const void *value, void *opaque) {
    reply_t *r = opaque;
    r->n++;
    r->err = err;
    if (value) r->value = *(const int64_t *)value;
}

static void ask_returns_the_agents_reply_and_cast_does_not_wait(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_app_t *app = rill_app_new_with_base("calc", c, base, err, sizeof err);
    rill_topic_opts_t to = {.partitions = 2,
                            .value_type = RILL_TYPE_RECORD(&point_schema)};
    rill_topic_t *t = rill_app_topic(app, "adds", &to);
    int calls = 0;
    rill_agent_opts_t ao = {.reply_type = &rill_type_int64};
    rill_agent_t *adder = rill_app_agent(app, "adder", t, add_handler, &calls, &ao);
    assert_non_null(adder);
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    RUN_UNTIL(base, false, 20);
    point_t p = {40, 2};
    reply_t r = {0};
    assert_int_equal(rill_agent_ask(adder, NULL, 0, &p, sizeof p, 2000, on_reply, &r),
                     RILL_OK);
    RUN_UNTIL(base, r.n >= 1, 3000);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.err, RILL_OK);
    assert_int_equal(r.value, 42);
    assert_int_equal(rill_agent_cast(adder, NULL, 0, &p, sizeof p), RILL_OK);
    RUN_UNTIL(base, calls >= 2, 3000);
    assert_int_equal(calls, 2);
    assert_int_equal(r.n, 1); /* no reply for a cast */
    rill_app_destroy(app);
    event_base_free(base);
}

/* Replies with an int32_t where the agent's reply_type is int64. */
typedef struct short_reply {
    int calls;
    rill_err_t rc;
    char why[512];
} short_reply_t;

static rill_err_t short_reply_handler(rill_event_t *ev, void *opaque) {
    short_reply_t *s = opaque;
    int32_t sum = 42;
    s->calls++;
    s->rc = rill_event_reply(ev, &sum, sizeof sum);
    snprintf(s->why, sizeof s->why, "%s", rill_app_errmsg(rill_event_app(ev)));
    return RILL_OK;
}

static void reply_of_the_wrong_length_is_refused_with_a_reason(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "log.level", "fatal", err, sizeof err);
    rill_app_t *app = rill_app_new_with_base("shortreply", c, base, err, sizeof err);
    rill_topic_opts_t to = {.partitions = 1,
                            .value_type = RILL_TYPE_RECORD(&point_schema)};
    rill_agent_opts_t ao = {.reply_type = &rill_type_int64};
    short_reply_t s = {0};
    rill_agent_t *a = rill_app_agent(app, "shorty", rill_app_topic(app, "sq", &to),
                                     short_reply_handler, &s, &ao);
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    point_t p = {1, 1};
    reply_t r = {0};
    assert_int_equal(rill_agent_ask(a, NULL, 0, &p, sizeof p, 200, on_reply, &r),
                     RILL_OK);
    RUN_UNTIL(base, r.n >= 1, 3000);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.rc, RILL_EINVAL);
    assert_non_null(strstr(s.why, "reply of agent 'shorty'"));
    assert_non_null(strstr(s.why, "is 4 bytes"));
    assert_non_null(strstr(s.why, "int64_t (8 bytes)"));
    assert_int_equal(r.err, RILL_ETIMEDOUT); /* nothing was sent */
    /* a cast is checked the same way */
    assert_int_equal(rill_agent_cast(a, NULL, 0, &p, sizeof p), RILL_OK);
    RUN_UNTIL(base, s.calls >= 2, 3000);
    assert_int_equal(s.rc, RILL_EINVAL);
    rill_app_destroy(app);
    event_base_free(base);
}

static rill_err_t silent_handler(rill_event_t *ev, void *opaque) {
    (void)ev;
    (void)opaque;
    return RILL_OK; /* never replies */
}

static void ask_times_out_when_no_reply_comes(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", broker, err, sizeof err);
    rill_conf_set(c, "log.level", "fatal", err, sizeof err);
    rill_app_t *app = rill_app_new_with_base("silent", c, base, err, sizeof err);
    rill_topic_opts_t to = {.partitions = 1,
                            .value_type = RILL_TYPE_RECORD(&point_schema)};
    rill_agent_opts_t ao = {.reply_type = &rill_type_int64};
    rill_agent_t *a = rill_app_agent(app, "silent", rill_app_topic(app, "q", &to),
                                     silent_handler, NULL, &ao);
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_OK);
    point_t p = {1, 1};
    reply_t r = {0};
    assert_int_equal(rill_agent_ask(a, NULL, 0, &p, sizeof p, 100, on_reply, &r),
                     RILL_OK);
    RUN_UNTIL(base, r.n >= 1, 2000);
    assert_int_equal(r.err, RILL_ETIMEDOUT);
    rill_app_destroy(app);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(undecodable_values_are_skipped_and_offsets_advance, setup),
        cmocka_unit_test_setup(undecodable_values_go_to_the_dead_letter_topic, setup),
        cmocka_unit_test_setup(undecodable_value_with_crash_policy_stops_the_worker,
                               setup),
        cmocka_unit_test_setup(ask_returns_the_agents_reply_and_cast_does_not_wait,
                               setup),
        cmocka_unit_test_setup(ask_times_out_when_no_reply_comes, setup),
        cmocka_unit_test_setup(reply_of_the_wrong_length_is_refused_with_a_reason, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
