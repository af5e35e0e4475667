/* The memory transport's chunk allocator counts the bytes a partition holds now,
 * not the bytes it ever allocated: after bursts that were consumed and trimmed, a
 * long-running worker's partitions go back to ordinary chunks instead of keeping
 * 2 MiB huge-page chunks for a few entries (RSS grew 5.4 -> 13.6 MB after an HTTP
 * abuse run). */
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

#include "memory_int.h"
#include "quiet_handlers.h"

#define MAX_BYTES (1024 * 1024)
#define VALUE_BYTES 4000

typedef struct fx {
    struct event_base *base;
    rill_transport_t *t;
    rill_transport_handlers_t h;
    char broker[64], url[160], topic[64];
} fx_t;

static int setup(void **state) {
    static unsigned seq;
    fx_t *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    snprintf(f->broker, sizeof f->broker, "chunks%d-%u", (int)getpid(), ++seq);
    snprintf(f->url, sizeof f->url, "memory://%s?max.bytes=%d", f->broker, MAX_BYTES);
    snprintf(f->topic, sizeof f->topic, "burst");
    f->h = quiet_handlers(f);
    char err[256] = "";
    f->t = rill_transport_new(f->url, NULL, f->base, &f->h, "chunks-client", err,
                              sizeof err);
    if (!f->t) fail_msg("cannot open %s: %s", f->url, err);
    rill_topic_spec_t spec = {.name = f->topic, .partitions = 1};
    int32_t parts = 0;
    assert_int_equal(f->t->ops->declare(f->t, &spec, &parts, err, sizeof err), RILL_OK);
    const char *topics[] = {f->topic};
    assert_int_equal(f->t->ops->subscribe(f->t, "workers", topics, 1, err, sizeof err),
                     RILL_OK);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    rill_transport_destroy(f->t);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* The group has consumed everything produced so far: commit the high watermark. */
static void commit_all(fx_t *f) {
    int64_t low = 0, high = 0;
    assert_int_equal(f->t->ops->watermarks(f->t, f->topic, 0, &low, &high, 0), RILL_OK);
    rill_tp_offset_t off = {.topic = f->topic, .partition = 0, .offset = high};
    assert_int_equal(f->t->ops->commit(f->t, &off, 1), RILL_OK);
}

/* Produce @p n values; a full partition is trimmed once the group has committed. */
static void burst(fx_t *f, int n) {
    static char value[VALUE_BYTES];
    memset(value, 'v', sizeof value);
    rill_produce_t m = {.topic = f->topic,
                        .partition = 0,
                        .key = "k",
                        .key_len = 1,
                        .value = value,
                        .value_len = sizeof value};
    for (int i = 0; i < n; i++) {
        rill_err_t rc = f->t->ops->produce(f->t, &m, NULL, NULL);
        if (rc == RILL_EFULL) {
            commit_all(f);
            rc = f->t->ops->produce(f->t, &m, NULL, NULL);
        }
        assert_int_equal(rc, RILL_OK);
    }
}

/* 10 bursts of ~2 MiB through a 1 MiB partition: 20 MiB ever allocated, but the
 * partition never holds more than its bound plus the chunks around it. */
static void held_bytes_stay_bounded_across_consumed_bursts(void **state) {
    fx_t *f = *state;
    for (int round = 0; round < 10; round++) {
        burst(f, 2 * MAX_BYTES / VALUE_BYTES);
        commit_all(f);
        size_t held = rill__memory_held_bytes(f->broker, f->topic, 0);
        assert_true(held > 0);
        if (held > MAX_BYTES + 2 * 256 * 1024 + 4096)
            fail_msg("round %d: the partition holds %zu chunk bytes (bound %d)", round,
                     held, MAX_BYTES);
    }
}

/* A chunk freed when its last entry is trimmed is no longer counted. */
static void trimming_a_burst_lowers_held_bytes(void **state) {
    fx_t *f = *state;
    burst(f, MAX_BYTES / VALUE_BYTES - 8); /* almost full: nothing trimmed yet */
    size_t full = rill__memory_held_bytes(f->broker, f->topic, 0);
    commit_all(f);
    burst(f, 16); /* past the bound: trims everything committed */
    size_t after = rill__memory_held_bytes(f->broker, f->topic, 0);
    if (after >= full)
        fail_msg("held %zu chunk bytes before the trim, %zu after", full, after);
}

static void unknown_partition_holds_nothing(void **state) {
    fx_t *f = *state;
    assert_int_equal(rill__memory_held_bytes(f->broker, "no-such-topic", 0), 0);
    assert_int_equal(rill__memory_held_bytes(f->broker, f->topic, 7), 0);
    assert_int_equal(rill__memory_held_bytes("no-such-broker", f->topic, 0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(held_bytes_stay_bounded_across_consumed_bursts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(trimming_a_burst_lowers_held_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unknown_partition_holds_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
