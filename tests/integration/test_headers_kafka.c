/* Headers of events consumed from Kafka (kafka://mock, librdkafka's in-process mock
 * cluster).  The transport reads a message's headers only when asked
 * (RILL_MSG_HEADERS_LAZY): in the handler, after the batch for an event kept
 * pending, for events buffered behind it, and when an event is forwarded. */
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

#define NEV 3

/* What a handler saw of one event's headers. */
typedef struct seen {
    int handled;
    size_t n;       /* rill_event_headers */
    char trace[16]; /* rill_event_header(ev, "trace"), "-" when absent */
    char first[16]; /* the first header's name, "" when none */
} seen_t;

typedef struct fixture {
    struct event_base *base;
    rill_app_t *app;
    rill_topic_t *in, *fwd;
    seen_t in_seen[NEV], fwd_seen;
    rill_event_t *pending; /* event 0, kept past its batch */
    seen_t pending_after;  /* its headers read from the test, after the batch */
    int handled, forwarded;
} fixture_t;

static void see(const rill_event_t *ev, seen_t *s) {
    const rill_header_t *hs = rill_event_headers(ev, &s->n);
    snprintf(s->first, sizeof s->first, "%s", s->n ? hs[0].name : "");
    size_t len = 0;
    const char *v = rill_event_header(ev, "trace", &len);
    snprintf(s->trace, sizeof s->trace, "%.*s", v ? (int)len : 1, v ? v : "-");
    s->handled = 1;
}

static int index_of(const rill_event_t *ev) {
    size_t len;
    const char *v = rill_event_value_bytes(ev, &len);
    return len == 1 && v[0] >= '0' && v[0] < '0' + NEV ? v[0] - '0' : -1;
}

static rill_err_t on_in(rill_event_t *ev, void *opaque) {
    fixture_t *f = opaque;
    int i = index_of(ev);
    if (i < 0) return RILL_OK;
    see(ev, &f->in_seen[i]);
    f->handled++;
    if (i == 0) { /* the next ones wait behind it, buffered */
        f->pending = ev;
        return RILL_PENDING;
    }
    if (i == 2) return rill_event_forward(ev, f->fwd, 0);
    return RILL_OK;
}

static rill_err_t on_fwd(rill_event_t *ev, void *opaque) {
    fixture_t *f = opaque;
    see(ev, &f->fwd_seen);
    f->forwarded++;
    return RILL_OK;
}

/* Event 0 with headers trace=t0 and span=s0, event 1 with none, event 2 with
 * trace=t2 (forwarded); event 0 is kept pending until its headers were read from
 * outside the handler. */
static int setup(void **state) {
    static unsigned run;
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char err[256], in[32], fwd[32];
    snprintf(in, sizeof in, "hdr-in-%u", ++run);
    snprintf(fwd, sizeof fwd, "hdr-fwd-%u", run);
    f->base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", "kafka://mock", err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    f->app = rill_app_new_with_base("headers", c, f->base, err, sizeof err);
    assert_non_null(f->app);
    rill_topic_opts_t to = {.partitions = 1};
    f->in = rill_app_topic(f->app, in, &to);
    f->fwd = rill_app_topic(f->app, fwd, &to);
    assert_non_null(rill_app_agent(f->app, "in", f->in, on_in, f, NULL));
    assert_non_null(rill_app_agent(f->app, "fwd", f->fwd, on_fwd, f, NULL));
    if (rill_app_start(f->app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
    rill_header_t h0[] = {{"trace", "t0", 2}, {"span", "s0", 2}},
                  h2[] = {{"trace", "t2", 2}};
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.encoded = true;
    o.headers = h0;
    o.nheaders = 2;
    assert_int_equal(rill_send(f->in, NULL, 0, "0", 1, &o), RILL_OK);
    o.headers = NULL;
    o.nheaders = 0;
    assert_int_equal(rill_send(f->in, NULL, 0, "1", 1, &o), RILL_OK);
    o.headers = h2;
    o.nheaders = 1;
    assert_int_equal(rill_send(f->in, NULL, 0, "2", 1, &o), RILL_OK);
    RUN_UNTIL(f->base, f->pending, 40000);
    assert_non_null(f->pending);
    RUN_UNTIL(f->base, false, 300); /* later batches come and go meanwhile */
    see(f->pending, &f->pending_after);
    rill_event_ack(f->pending, RILL_OK);
    RUN_UNTIL(f->base, f->handled == NEV && f->forwarded == 1, 40000);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    rill_app_destroy(f->app);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void a_kafka_events_headers_are_read_in_its_handler(void **state) {
    fixture_t *f = *state;
    assert_true(f->in_seen[0].handled);
    assert_int_equal(f->in_seen[0].n, 2);
    assert_string_equal(f->in_seen[0].first, "trace");
    assert_string_equal(f->in_seen[0].trace, "t0");
}

static void a_kafka_event_without_headers_has_none(void **state) {
    fixture_t *f = *state;
    assert_true(f->in_seen[1].handled);
    assert_int_equal(f->in_seen[1].n, 0);
    assert_string_equal(f->in_seen[1].first, "");
    assert_string_equal(f->in_seen[1].trace, "-");
}

static void a_pending_kafka_events_headers_outlive_its_batch(void **state) {
    fixture_t *f = *state;
    assert_int_equal(f->pending_after.n, 2);
    assert_string_equal(f->pending_after.first, "trace");
    assert_string_equal(f->pending_after.trace, "t0");
}

static void kafka_events_buffered_behind_a_pending_one_keep_their_headers(void **state) {
    fixture_t *f = *state;
    assert_int_equal(f->handled, NEV);
    assert_int_equal(f->in_seen[2].n, 1);
    assert_string_equal(f->in_seen[2].trace, "t2");
}

static void a_forwarded_kafka_event_keeps_its_headers(void **state) {
    fixture_t *f = *state;
    assert_int_equal(f->forwarded, 1);
    assert_int_equal(f->fwd_seen.n, 1);
    assert_string_equal(f->fwd_seen.trace, "t2");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_kafka_events_headers_are_read_in_its_handler,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_kafka_event_without_headers_has_none, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_pending_kafka_events_headers_outlive_its_batch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            kafka_events_buffered_behind_a_pending_one_keep_their_headers, setup,
            teardown),
        cmocka_unit_test_setup_teardown(a_forwarded_kafka_event_keeps_its_headers, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
