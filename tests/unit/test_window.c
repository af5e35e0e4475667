/* Window arithmetic: which windows hold a timestamp (tumbling and hopping, also
 * before the epoch), when a window expires, and window starts as store-key
 * prefixes that sort like the numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "window_int.h"
#include "window_session_int.h"
#include "window_sliding_int.h"

static void tumbling_windows_hold_each_time_once(void **state) {
    (void)state;
    rill__window_t w = {.size_ms = 10, .step_ms = 10};
    assert_int_equal(rill__window_last(&w, 0), 0);
    assert_int_equal(rill__window_last(&w, 9), 0);
    assert_int_equal(rill__window_last(&w, 10), 10);
    for (int64_t ts = 0; ts < 40; ts++)
        assert_int_equal(rill__window_first(&w, ts), rill__window_last(&w, ts));
}

static void hopping_windows_hold_size_over_step_windows(void **state) {
    (void)state;
    rill__window_t w = {.size_ms = 10, .step_ms = 5};
    assert_int_equal(rill__window_first(&w, 12), 5); /* [5,15) and [10,20) */
    assert_int_equal(rill__window_last(&w, 12), 10);
    assert_int_equal(rill__window_first(&w, 15), 10); /* [5,15) ends before 15 */
    rill__window_t w3 = {.size_ms = 60, .step_ms = 20};
    for (int64_t ts = 100; ts < 200; ts++) {
        int64_t first = rill__window_first(&w3, ts), last = rill__window_last(&w3, ts);
        assert_int_equal((last - first) / 20 + 1, 3);
        assert_true(first <= ts && ts < first + 60);
        assert_true(first - 20 + 60 <= ts); /* the one before does not hold it */
    }
}

static void times_before_the_epoch_floor_to_the_step(void **state) {
    (void)state;
    rill__window_t w = {.size_ms = 10, .step_ms = 10};
    assert_int_equal(rill__window_last(&w, -1), -10);
    assert_int_equal(rill__window_last(&w, -10), -10);
    assert_int_equal(rill__window_last(&w, -11), -20);
    rill__window_t h = {.size_ms = 10, .step_ms = 5};
    assert_int_equal(rill__window_first(&h, -1), -10); /* [-10,0) and [-5,5) */
    assert_int_equal(rill__window_last(&h, -1), -5);
}

static void a_window_expires_after_its_end_plus_expires(void **state) {
    (void)state;
    rill__window_t w = {.size_ms = 10, .step_ms = 10, .expires_ms = 5};
    assert_false(rill__window_expired(&w, 0, INT64_MIN)); /* no stream time yet */
    assert_false(rill__window_expired(&w, 0, 14));
    assert_true(rill__window_expired(&w, 0, 15));
    assert_int_equal(rill__window_cutoff(&w, 15), 0);
}

static void window_keys_sort_like_their_starts(void **state) {
    (void)state;
    int64_t starts[] = {INT64_MIN + 1, -20, -1, 0, 1, 10, INT64_MAX};
    uint8_t prev[RILL__WKEY], cur[RILL__WKEY];
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        rill__window_key_put(cur, starts[i]);
        assert_int_equal(rill__window_key_get(cur), starts[i]);
        if (i) assert_true(memcmp(prev, cur, RILL__WKEY) < 0);
        memcpy(prev, cur, RILL__WKEY);
    }
}

static void a_window_takes_events_until_its_end_plus_grace(void **state) {
    (void)state;
    rill__window_t w = {.size_ms = 10, .step_ms = 10, .expires_ms = 100, .grace_ms = 5};
    assert_false(rill__window_closed(&w, 0, 14)); /* end 10, grace till 15 */
    assert_true(rill__window_closed(&w, 0, 15));
    assert_false(rill__window_closed(&w, 0, INT64_MIN)); /* no time seen yet */
}

static void grace_zero_is_expires_and_negative_is_none(void **state) {
    (void)state;
    rill__window_t w = {.size_ms = 10, .step_ms = 10, .expires_ms = 100};
    assert_int_equal(rill__window_grace(&w), 100);
    assert_false(rill__window_closed(&w, 0, 109));
    assert_true(rill__window_closed(&w, 0, 110));
    w.grace_ms = -1;
    assert_int_equal(rill__window_grace(&w), 0);
    assert_true(rill__window_closed(&w, 0, 10));
    assert_false(rill__window_closed(&w, 0, 9));
    w.grace_ms = 500; /* longer than the window is kept: capped */
    assert_int_equal(rill__window_grace(&w), 100);
}

static void closing_never_overflows_at_the_ends_of_time(void **state) {
    (void)state;
    rill__window_t w = {.size_ms = 10, .step_ms = 10, .expires_ms = 100, .grace_ms = 5};
    assert_false(rill__window_closed(&w, INT64_MAX - 3, INT64_MAX));
    assert_true(rill__window_closed(&w, INT64_MIN + 1, INT64_MAX));
    assert_false(rill__window_closed(&w, 0, -1000)); /* time before the window */
}

static void times_before_the_epoch_or_far_ahead_are_bad(void **state) {
    (void)state;
    int64_t now = 1700000000000;
    assert_true(rill__window_bad_time(-1, now));
    assert_false(rill__window_bad_time(0, now));
    assert_false(rill__window_bad_time(now + RILL__WINDOW_MAX_FUTURE_MS, now));
    assert_true(rill__window_bad_time(now + RILL__WINDOW_MAX_FUTURE_MS + 1, now));
    assert_true(rill__window_bad_time(INT64_MAX, now));
    assert_false(rill__window_bad_time(INT64_MAX, INT64_MAX)); /* no overflow */
}

static void the_close_cutoff_is_the_last_start_closed(void **state) {
    (void)state;
    rill__window_t w = {.size_ms = 10, .step_ms = 10, .expires_ms = 100, .grace_ms = 5};
    assert_int_equal(rill__window_close_cutoff(&w, INT64_MIN), INT64_MIN);
    assert_int_equal(rill__window_close_cutoff(&w, 14), -10); /* [0,10) open till 15 */
    assert_int_equal(rill__window_close_cutoff(&w, 15), 0);
    assert_int_equal(rill__window_close_cutoff(&w, 24), 0);
    for (int64_t now = 0; now < 100; now++) { /* agrees with rill__window_closed */
        int64_t cut = rill__window_close_cutoff(&w, now);
        assert_true(rill__window_closed(&w, cut, now));
        assert_false(rill__window_closed(&w, cut + w.step_ms, now));
    }
    rill__window_t h = {.size_ms = 10, .step_ms = 5, .expires_ms = 10, .grace_ms = -1};
    assert_int_equal(rill__window_close_cutoff(&h, 17), 5); /* [5,15) closed */
    assert_int_equal(rill__window_close_cutoff(&h, INT64_MIN + 3), INT64_MIN);
}

static void an_idle_partition_follows_the_wall_clock(void **state) {
    (void)state;
    assert_int_equal(rill__window_idle_time(1000, 50, 120, 100), 1000); /* not idle yet */
    assert_int_equal(rill__window_idle_time(1000, 50, 150, 100), 1100);
    assert_int_equal(rill__window_idle_time(1000, 50, 150, 0), 1000); /* off */
    assert_int_equal(rill__window_idle_time(INT64_MIN, 0, 500, 100), INT64_MIN);
    assert_int_equal(rill__window_idle_time(INT64_MAX - 1, 0, 500, 100), INT64_MAX - 1);
}

static void a_session_merges_what_its_event_overlaps(void **state) {
    (void)state;
    rill__sess_t a = {0, 15}, b = {20, 30}; /* events at 0..10 and 20..25, gap 5 */
    rill__sess_t m = rill__session_merge(NULL, 0, 40, 5);
    assert_int_equal(m.start, 40);
    assert_int_equal(m.end, 45);
    rill__sess_t both[] = {a, b};
    m = rill__session_merge(both, 2, 16, 5); /* [16,21) bridges them */
    assert_int_equal(m.start, 0);
    assert_int_equal(m.end, 30);
    assert_true(rill__session_overlaps(a, (rill__sess_t){14, 19}));
    assert_false(rill__session_overlaps(a, (rill__sess_t){15, 20})); /* touching */
    m = rill__session_merge(NULL, 0, INT64_MAX - 2, 5);              /* saturates */
    assert_int_equal(m.end, INT64_MAX);
}

static void the_session_index_finds_a_keys_overlapping_sessions(void **state) {
    (void)state;
    rill__sess_index_t x = {0};
    char key[16];
    for (int i = 0; i < 500; i++) { /* grows, and keeps keys apart */
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(rill__sess_put(&x, key, strlen(key), (rill__sess_t){i, i + 10}),
                         0);
        assert_int_equal(rill__sess_put(&x, key, strlen(key), (rill__sess_t){100, 110}),
                         0);
    }
    assert_int_equal(x.nkeys, 500);
    rill__sess_t out[4];
    assert_int_equal(rill__sess_find(&x, "k7", 2, (rill__sess_t){9, 12}, out, 4), 1);
    assert_int_equal(out[0].start, 7);
    assert_int_equal(rill__sess_find(&x, "k7", 2, (rill__sess_t){0, 200}, out, 4), 2);
    assert_int_equal(rill__sess_find(&x, "zz", 2, (rill__sess_t){0, 200}, out, 4), 0);
    assert_int_equal(rill__sess_put(&x, "k7", 2, (rill__sess_t){7, 50}), 0); /* replace */
    assert_int_equal(rill__sess_get(&x, "k7", 2, 7)->end, 50);
    for (int i = 0; i < 500; i += 2) { /* deleting keeps the others findable */
        snprintf(key, sizeof key, "k%d", i);
        rill__sess_del(&x, key, strlen(key), i);
        rill__sess_del(&x, key, strlen(key), 100);
    }
    assert_int_equal(x.nkeys, 250);
    assert_int_equal(x.nsess, 500);
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(rill__sess_get(&x, key, strlen(key), 100) != NULL, i % 2);
    }
    rill__sess_clear(&x);
}

/* ---- sliding windows: a key's windows as a table would hold them ---------------- */

#define SLIDE_MAX 256

typedef struct slide_sim {
    rill__slide_win_t w[SLIDE_MAX];
    int64_t count[SLIDE_MAX]; /* incr by 1 per record */
    size_t n;
    int64_t rec[SLIDE_MAX]; /* the records, to check against */
    size_t nrec;
} slide_sim_t;

static int64_t sim_count(const slide_sim_t *s, int64_t start) {
    for (size_t i = 0; i < s->n; i++)
        if (s->w[i].start == start) return s->count[i];
    return 0;
}

/* Apply a record at @p ts as table.c does: plan, created windows from their
 * sources, then the windows holding it; returns the plan's size. */
static size_t sim_record(slide_sim_t *s, int64_t diff, int64_t ts,
                         rill__slide_op_t *ops) {
    int64_t scratch[SLIDE_MAX], vals[SLIDE_MAX + 3];
    rill__slide_win_t near[SLIDE_MAX]; /* only the windows near it, as table.c */
    memcpy(near, s->w, s->n * sizeof *near);
    size_t nn = rill__slide_near(near, s->n, diff, ts);
    size_t m = rill__slide_plan(near, nn, diff, ts, scratch, ops);
    for (size_t i = 0; i < m; i++) /* read every source before writing */
        vals[i] = (ops[i].from == RILL__SLIDE_NONE ? 0 : sim_count(s, ops[i].from)) +
                  (ops[i].add ? 1 : 0);
    for (size_t i = 0; i < m; i++) {
        size_t j = 0;
        while (j < s->n && s->w[j].start != ops[i].start)
            j++;
        if (j == s->n) {
            assert_true(ops[i].created);
            s->n++;
        } else {
            assert_false(ops[i].created);
            assert_int_equal(s->w[j].left, ops[i].was_left);
        }
        s->w[j] = (rill__slide_win_t){ops[i].start, ops[i].left};
        s->count[j] = vals[i];
    }
    /* keep them sorted (counts with their windows) */
    for (size_t i = 1; i < s->n; i++)
        for (size_t j = i; j > 0 && s->w[j - 1].start > s->w[j].start; j--) {
            rill__slide_win_t tw = s->w[j];
            int64_t tc = s->count[j];
            s->w[j] = s->w[j - 1];
            s->count[j] = s->count[j - 1];
            s->w[j - 1] = tw;
            s->count[j - 1] = tc;
        }
    s->rec[s->nrec++] = ts;
    return m;
}

static int64_t brute_count(const slide_sim_t *s, int64_t from, int64_t to) {
    int64_t c = 0;
    for (size_t i = 0; i < s->nrec; i++)
        c += s->rec[i] >= from && s->rec[i] <= to;
    return c;
}

static bool brute_has(const slide_sim_t *s, int64_t t) {
    return brute_count(s, t, t) > 0;
}

/* Kafka Streams' windows of the records so far: one ending at each record, one
 * starting just after each record that has a later record within diff + 1; each
 * counts the records in [start, start + diff], marked left when one is at its end. */
static void assert_kafka_windows(const slide_sim_t *s, int64_t diff) {
    size_t want = 0;
    for (int64_t start = -diff - 2; start < 400; start++) {
        bool left = brute_has(s, start + diff);
        bool right = brute_has(s, start - 1) && brute_count(s, start, start + diff) > 0;
        if (!left && !right) {
            for (size_t i = 0; i < s->n; i++)
                assert_int_not_equal(s->w[i].start, start);
            continue;
        }
        want++;
        size_t i = 0;
        while (i < s->n && s->w[i].start != start)
            i++;
        assert_true(i < s->n); /* the window exists */
        assert_int_equal(s->w[i].left, left);
        assert_int_equal(s->count[i], brute_count(s, start, start + diff));
    }
    assert_int_equal(s->n, want);
}

static void a_record_makes_the_window_ending_at_it(void **state) {
    (void)state;
    slide_sim_t s = {0};
    rill__slide_op_t ops[SLIDE_MAX + 3];
    assert_int_equal(sim_record(&s, 10, 5, ops), 1); /* [-5, 5] */
    assert_int_equal(ops[0].start, -5);
    assert_true(ops[0].created && ops[0].add && ops[0].left);
    assert_int_equal(ops[0].from, RILL__SLIDE_NONE);
    /* 8: [-2, 8] from [-5, 5] (the same record, 5) plus 8, and 5's right window
     * [6, 16] holding 8 alone; [-5, 5] does not hold 8 */
    assert_int_equal(sim_record(&s, 10, 8, ops), 2);
    assert_int_equal(ops[0].start, -2);
    assert_int_equal(ops[0].from, -5);
    assert_int_equal(ops[1].start, 6);
    assert_false(ops[1].left);
    assert_int_equal(sim_count(&s, -2), 2);
    assert_int_equal(sim_count(&s, 6), 1);
    assert_int_equal(sim_count(&s, -5), 1);
    assert_kafka_windows(&s, 10);
}

static void a_record_in_order_updates_the_windows_holding_it(void **state) {
    (void)state;
    slide_sim_t s = {0};
    rill__slide_op_t ops[SLIDE_MAX + 3];
    sim_record(&s, 10, 0, ops);
    sim_record(&s, 10, 4, ops);
    sim_record(&s, 10, 9, ops);
    /* 12 falls in [-1, 9] no; [1, 11] (0's right window) no; [-6, 4] no;
     * [5, 15] (4's right window) yes; makes [2, 12] and 9's right window */
    sim_record(&s, 10, 12, ops);
    assert_int_equal(sim_count(&s, 2), 3);  /* 4, 9, 12 */
    assert_int_equal(sim_count(&s, 5), 2);  /* 9, 12 */
    assert_int_equal(sim_count(&s, 10), 1); /* 12 */
    assert_int_equal(sim_count(&s, 1), 2);  /* 4, 9: 0's right window, not 12 */
    assert_kafka_windows(&s, 10);
}

static void a_late_record_makes_its_right_window_from_the_later_records(void **state) {
    (void)state;
    slide_sim_t s = {0};
    rill__slide_op_t ops[SLIDE_MAX + 3];
    sim_record(&s, 10, 5, ops);
    sim_record(&s, 10, 8, ops);
    /* 3 out of order: [-7, 3] new, its right window [4, 14] copies [-2, 8]'s
     * records (5 and 8) without adding itself; [-5, 5] and [-2, 8] hold it */
    size_t m = sim_record(&s, 10, 3, ops);
    assert_int_equal(m, 4);
    assert_int_equal(ops[0].start, -7);
    assert_int_equal(ops[1].start, 4);
    assert_false(ops[1].add);
    assert_int_equal(ops[1].from, -2);
    assert_int_equal(sim_count(&s, 4), 2);
    assert_int_equal(sim_count(&s, -5), 2);
    assert_int_equal(sim_count(&s, -2), 3);
    assert_kafka_windows(&s, 10);
}

static void a_record_at_a_right_windows_end_marks_it_left(void **state) {
    (void)state;
    slide_sim_t s = {0};
    rill__slide_op_t ops[SLIDE_MAX + 3];
    sim_record(&s, 10, 0, ops);
    sim_record(&s, 10, 5, ops); /* [1, 11]: 0's right window */
    size_t m = sim_record(&s, 10, 11, ops);
    bool seen = false;
    for (size_t i = 0; i < m; i++)
        if (ops[i].start == 1) {
            seen = true;
            assert_false(ops[i].created);
            assert_false(ops[i].was_left);
            assert_true(ops[i].left);
        }
    assert_true(seen);
    assert_kafka_windows(&s, 10);
}

static void same_time_records_count_in_the_same_windows(void **state) {
    (void)state;
    slide_sim_t s = {0};
    rill__slide_op_t ops[SLIDE_MAX + 3];
    sim_record(&s, 10, 7, ops);
    assert_int_equal(sim_record(&s, 10, 7, ops), 1); /* only [-3, 7], updated */
    assert_false(ops[0].created);
    assert_int_equal(sim_count(&s, -3), 2);
    assert_kafka_windows(&s, 10);
}

static void any_arrival_order_gives_kafka_streams_windows(void **state) {
    (void)state;
    uint64_t seed = 42;
    for (int run = 0; run < 200; run++) {
        slide_sim_t s = {0};
        rill__slide_op_t ops[SLIDE_MAX + 3];
        int64_t diff = run % 4 == 0 ? 0 : run % 7 + 2;
        int nrec = 5 + run % 20;
        for (int i = 0; i < nrec; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            sim_record(&s, diff, (int64_t)((seed >> 33) % 60), ops);
        }
        assert_kafka_windows(&s, diff);
        /* and reads of any [t - diff, t] find the window with its records */
        int64_t scratch[SLIDE_MAX];
        for (int64_t t = 0; t < 80; t++) {
            int64_t start;
            int64_t want = brute_count(&s, t - diff, t);
            rill__slide_win_t near[SLIDE_MAX];
            memcpy(near, s.w, s.n * sizeof *near);
            size_t nn = rill__slide_near(near, s.n, diff, t);
            bool found = rill__slide_find(near, nn, diff, t - diff, scratch, &start);
            assert_int_equal(found, want > 0);
            if (found) assert_int_equal(sim_count(&s, start), want);
        }
    }
}

static void kafka_streams_javadoc_example_gives_its_five_windows(void **state) {
    (void)state; /* SlidingWindows' javadoc: diff 5000, records at 8000, 9200, 12400 */
    slide_sim_t s = {0};
    rill__slide_op_t ops[SLIDE_MAX + 3];
    sim_record(&s, 5000, 8000, ops);
    sim_record(&s, 5000, 9200, ops);
    sim_record(&s, 5000, 12400, ops);
    const int64_t start[] = {3000, 4200, 7400, 8001, 9201}, count[] = {1, 2, 3, 2, 1};
    assert_int_equal(s.n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(s.w[i].start, start[i]);
        assert_int_equal(s.count[i], count[i]);
    }
}

static void sliding_windows_are_kept_for_grace_and_two_windows(void **state) {
    (void)state;
    assert_int_equal(rill__slide_keep(10, 5), 27);
    assert_int_equal(rill__slide_keep(0, 0), 2);
    assert_int_equal(rill__slide_keep(INT64_MAX / 2, INT64_MAX / 2), INT64_MAX);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_window_takes_events_until_its_end_plus_grace),
        cmocka_unit_test(grace_zero_is_expires_and_negative_is_none),
        cmocka_unit_test(closing_never_overflows_at_the_ends_of_time),
        cmocka_unit_test(times_before_the_epoch_or_far_ahead_are_bad),
        cmocka_unit_test(tumbling_windows_hold_each_time_once),
        cmocka_unit_test(hopping_windows_hold_size_over_step_windows),
        cmocka_unit_test(times_before_the_epoch_floor_to_the_step),
        cmocka_unit_test(a_window_expires_after_its_end_plus_expires),
        cmocka_unit_test(window_keys_sort_like_their_starts),
        cmocka_unit_test(the_close_cutoff_is_the_last_start_closed),
        cmocka_unit_test(an_idle_partition_follows_the_wall_clock),
        cmocka_unit_test(a_session_merges_what_its_event_overlaps),
        cmocka_unit_test(the_session_index_finds_a_keys_overlapping_sessions),
        cmocka_unit_test(a_record_makes_the_window_ending_at_it),
        cmocka_unit_test(a_record_in_order_updates_the_windows_holding_it),
        cmocka_unit_test(a_late_record_makes_its_right_window_from_the_later_records),
        cmocka_unit_test(a_record_at_a_right_windows_end_marks_it_left),
        cmocka_unit_test(same_time_records_count_in_the_same_windows),
        cmocka_unit_test(any_arrival_order_gives_kafka_streams_windows),
        cmocka_unit_test(kafka_streams_javadoc_example_gives_its_five_windows),
        cmocka_unit_test(sliding_windows_are_kept_for_grace_and_two_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
