/* Tables on kafka://mock (librdkafka's mock cluster, in-process). */
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

typedef struct worker {
    rill_app_t *app;
    rill_topic_t *words;
    rill_table_t *counts;
    int handled, errors;
} worker_t;

static rill_err_t count_word(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    size_t len;
    const char *word = rill_event_key_bytes(ev, &len);
    if (rill_table_incr(w->counts, ev, word, len, 1, NULL) != RILL_OK) w->errors++;
    w->handled++;
    return RILL_OK;
}

/* A backlog bigger than librdkafka's producer queue: the changelog writes of the
 * first batches must be delivered (their reports served) while the agent works
 * through the rest, or rill_table_incr fails with RILL_EFULL half-way. */
static void
table_writes_keep_up_with_a_backlog_larger_than_the_producer_queue(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    char err[256];
    rill_conf_set(c, "broker", "kafka://mock", err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "100", err, sizeof err);
    rill_conf_set(c, "kafka.queue.buffering.max.messages", "1000", err, sizeof err);
    if (!getenv("RILL_LOG_LEVEL"))
        rill_conf_set(c, "log.level", "error", err, sizeof err);
    worker_t w = {0};
    w.app = rill_app_new_with_base("backlog", c, base, err, sizeof err);
    assert_non_null(w.app);
    rill_topic_opts_t to = {.partitions = 4};
    w.words = rill_app_topic(w.app, "words", &to);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = w.words};
    w.counts = rill_app_table(w.app, "counts", &o);
    assert_non_null(rill_app_agent(w.app, "count", w.words, count_word, &w, NULL));
    if (rill_app_start(w.app, err, sizeof err) != RILL_OK) fail_msg("start: %s", err);
    /* queued while the group forms (~3 s on the mock): one backlog at assignment */
    char k[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof k, "w%d", i % 50);
        rill_bytes_t kb = {(uint8_t *)k, strlen(k)}, vb = {(uint8_t *)"1", 1};
        rill_err_t rc;
        while ((rc = rill_send(w.words, kb.data, kb.len, vb.data, vb.len, NULL)) ==
               RILL_EFULL)
            RUN_UNTIL(base, false, 5);
        assert_int_equal(rc, RILL_OK);
    }
    RUN_UNTIL(base, w.handled >= 20000, 30000);
    assert_int_equal(w.handled, 20000);
    assert_int_equal(w.errors, 0);
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "w%d", i);
        int64_t v = -1;
        assert_int_equal(rill_table_get(w.counts, NULL, k, strlen(k), &v), RILL_OK);
        assert_int_equal(v, 400);
    }
    rill_app_destroy(w.app);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            table_writes_keep_up_with_a_backlog_larger_than_the_producer_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
