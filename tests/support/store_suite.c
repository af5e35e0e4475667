/* Store conformance suite (see store_suite.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_suite.h"

static const char *g_template;

typedef struct fx {
    char dir[256];
    char url[512];
    rill_store_t *s;
    rill_store_part_t *p;
} fx_t;

static rill_store_t *open_store(fx_t *f) {
    char err[512] = "";
    rill_store_t *s = rill_store_new(f->url, NULL, err, sizeof err);
    if (!s) fail_msg("open %s: %s", f->url, err);
    return s;
}

static rill_store_part_t *open_part(rill_store_t *s, const char *table, int32_t p) {
    rill_store_part_t *part = NULL;
    char err[256] = "";
    if (s->ops->part_open(s, table, p, &part, err, sizeof err) != RILL_OK)
        fail_msg("part_open %s:%d: %s", table, p, err);
    return part;
}

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof *f);
    if (strstr(g_template, "%s")) {
        snprintf(f->dir, sizeof f->dir, "/tmp/rill-store-XXXXXX");
        if (!mkdtemp(f->dir)) return -1;
        snprintf(f->url, sizeof f->url, g_template, f->dir);
    } else {
        snprintf(f->url, sizeof f->url, "%s", g_template);
    }
    f->s = open_store(f);
    f->p = open_part(f->s, "t", 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    if (f->p) f->s->ops->part_close(f->p);
    if (f->s) rill_store_destroy(f->s);
    if (*f->dir) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", f->dir);
    }
    free(f);
    return 0;
}

#define OPS(f) ((f)->s->ops)

static void check_value(fx_t *f, rill_store_part_t *p, const void *k, size_t kl,
                        const char *v) {
    rill_buf_t b = RILL_BUF_INIT;
    rill_err_t rc = OPS(f)->get(p, k, kl, &b);
    if (!v) {
        assert_int_equal(rc, RILL_ENOENT);
    } else {
        assert_int_equal(rc, RILL_OK);
        assert_int_equal(b.len, strlen(v));
        if (b.len) assert_memory_equal(b.data, v, b.len);
    }
    rill_buf_free(&b);
}

static void get_missing_key_is_enoent(void **state) {
    fx_t *f = *state;
    check_value(f, f->p, "nope", 4, NULL);
}

static void put_then_get_roundtrips(void **state) {
    fx_t *f = *state;
    assert_int_equal(OPS(f)->put(f->p, "k", 1, "v1", 2), RILL_OK);
    check_value(f, f->p, "k", 1, "v1");
}

static void put_overwrites(void **state) {
    fx_t *f = *state;
    OPS(f)->put(f->p, "k", 1, "long value", 10);
    OPS(f)->put(f->p, "k", 1, "v2", 2);
    check_value(f, f->p, "k", 1, "v2");
}

static void delete_removes_and_missing_delete_is_ok(void **state) {
    fx_t *f = *state;
    OPS(f)->put(f->p, "k", 1, "v", 1);
    assert_int_equal(OPS(f)->del(f->p, "k", 1), RILL_OK);
    check_value(f, f->p, "k", 1, NULL);
    assert_int_equal(OPS(f)->del(f->p, "never", 5), RILL_OK);
}

static void binary_keys_and_empty_values_work(void **state) {
    fx_t *f = *state;
    const char k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'};
    OPS(f)->put(f->p, k1, 3, "one", 3);
    OPS(f)->put(f->p, k2, 3, "", 0);
    check_value(f, f->p, k1, 3, "one");
    check_value(f, f->p, k2, 3, "");
    check_value(f, f->p, "a", 1, NULL);
}

static void large_value_roundtrips(void **state) {
    fx_t *f = *state;
    size_t n = 1 << 20;
    char *v = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        v[i] = (char)('a' + i % 26);
    v[n] = 0;
    assert_int_equal(OPS(f)->put(f->p, "big", 3, v, n), RILL_OK);
    check_value(f, f->p, "big", 3, v);
    free(v);
}

static void write_batch_applies_in_order(void **state) {
    fx_t *f = *state;
    rill_store_op_t ops[] = {
        {RILL_STORE_PUT, "a", 1, "1", 1},
        {RILL_STORE_PUT, "b", 1, "2", 1},
        {RILL_STORE_DEL, "a", 1, NULL, 0},
        {RILL_STORE_PUT, "b", 1, "3", 1},
    };
    assert_int_equal(OPS(f)->write(f->p, ops, 4, 17), RILL_OK);
    check_value(f, f->p, "a", 1, NULL);
    check_value(f, f->p, "b", 1, "3");
    int64_t off;
    assert_int_equal(OPS(f)->offset(f->p, &off), RILL_OK);
    assert_int_equal(off, 17);
}

static void offset_is_invalid_before_any_write(void **state) {
    fx_t *f = *state;
    int64_t off = 0;
    assert_int_equal(OPS(f)->offset(f->p, &off), RILL_OK);
    assert_int_equal(off, RILL_OFFSET_INVALID);
}

static void batch_without_offset_keeps_the_offset(void **state) {
    fx_t *f = *state;
    rill_store_op_t op = {RILL_STORE_PUT, "a", 1, "1", 1};
    OPS(f)->write(f->p, &op, 1, 5);
    OPS(f)->write(f->p, &op, 1, -1);
    int64_t off;
    OPS(f)->offset(f->p, &off);
    assert_int_equal(off, 5);
}

typedef struct seen {
    char keys[64][8];
    size_t klen[64];
    int n, stop_after;
} seen_t;

static int collect(const void *k, size_t kl, const void *v, size_t vl, void *opaque) {
    (void)v;
    (void)vl;
    seen_t *s = opaque;
    if (s->n < 64) {
        memcpy(s->keys[s->n], k, kl < 8 ? kl : 8);
        s->klen[s->n] = kl;
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static void scan_orders_keys_bytewise(void **state) {
    fx_t *f = *state;
    const char *keys[] = {"b", "a\0", "\xff", "ab", "a"};
    size_t lens[] = {1, 2, 1, 2, 1};
    for (int i = 0; i < 5; i++)
        OPS(f)->put(f->p, keys[i], lens[i], "v", 1);
    seen_t s = {0};
    assert_int_equal(OPS(f)->scan(f->p, NULL, 0, NULL, 0, collect, &s), RILL_OK);
    assert_int_equal(s.n, 5);
    /* a < a\0 < ab < b < \xff */
    assert_int_equal(s.klen[0], 1);
    assert_memory_equal(s.keys[0], "a", 1);
    assert_int_equal(s.klen[1], 2);
    assert_memory_equal(s.keys[1], "a\0", 2);
    assert_memory_equal(s.keys[2], "ab", 2);
    assert_memory_equal(s.keys[3], "b", 1);
    assert_memory_equal(s.keys[4], "\xff", 1);
}

static void scan_honours_half_open_range(void **state) {
    fx_t *f = *state;
    for (char c = 'a'; c <= 'f'; c++)
        OPS(f)->put(f->p, &c, 1, "v", 1);
    seen_t s = {0};
    OPS(f)->scan(f->p, "b", 1, "e", 1, collect, &s);
    assert_int_equal(s.n, 3); /* b c d */
    assert_memory_equal(s.keys[0], "b", 1);
    assert_memory_equal(s.keys[2], "d", 1);
    seen_t lo = {0}, hi = {0};
    OPS(f)->scan(f->p, NULL, 0, "c", 1, collect, &lo);
    OPS(f)->scan(f->p, "e", 1, NULL, 0, collect, &hi);
    assert_int_equal(lo.n, 2);
    assert_int_equal(hi.n, 2);
}

static void scan_stops_when_the_callback_says(void **state) {
    fx_t *f = *state;
    for (char c = 'a'; c <= 'f'; c++)
        OPS(f)->put(f->p, &c, 1, "v", 1);
    seen_t s = {.stop_after = 2};
    OPS(f)->scan(f->p, NULL, 0, NULL, 0, collect, &s);
    assert_int_equal(s.n, 2);
}

static void partitions_and_tables_are_isolated(void **state) {
    fx_t *f = *state;
    rill_store_part_t *p1 = open_part(f->s, "t", 1), *u0 = open_part(f->s, "u", 0);
    OPS(f)->put(f->p, "k", 1, "t0", 2);
    OPS(f)->put(p1, "k", 1, "t1", 2);
    OPS(f)->put(u0, "k", 1, "u0", 2);
    check_value(f, f->p, "k", 1, "t0");
    check_value(f, p1, "k", 1, "t1");
    check_value(f, u0, "k", 1, "u0");
    OPS(f)->part_close(p1);
    OPS(f)->part_close(u0);
}

static void reopened_partition_keeps_data(void **state) {
    fx_t *f = *state;
    OPS(f)->put(f->p, "k", 1, "v", 1);
    OPS(f)->part_close(f->p);
    f->p = open_part(f->s, "t", 0);
    check_value(f, f->p, "k", 1, "v");
}

static void opening_an_open_partition_is_eexist(void **state) {
    fx_t *f = *state;
    rill_store_part_t *again = NULL;
    char err[256];
    assert_int_equal(OPS(f)->part_open(f->s, "t", 0, &again, err, sizeof err),
                     RILL_EEXIST);
}

static void drop_removes_data_and_offset(void **state) {
    fx_t *f = *state;
    rill_store_op_t op = {RILL_STORE_PUT, "k", 1, "v", 1};
    OPS(f)->write(f->p, &op, 1, 9);
    OPS(f)->part_close(f->p);
    char err[256];
    assert_int_equal(OPS(f)->drop(f->s, "t", 0, err, sizeof err), RILL_OK);
    f->p = open_part(f->s, "t", 0);
    check_value(f, f->p, "k", 1, NULL);
    int64_t off;
    OPS(f)->offset(f->p, &off);
    assert_int_equal(off, RILL_OFFSET_INVALID);
}

static void stats_count_keys_and_shrink_after_deletes(void **state) {
    fx_t *f = *state;
    char k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "key%03d", i);
        OPS(f)->put(f->p, k, strlen(k), "0123456789", 10);
    }
    rill_store_stats_t a, b;
    assert_int_equal(OPS(f)->stats(f->p, &a), RILL_OK);
    assert_int_equal(a.keys, 100);
    assert_true(a.bytes >= 100 * 16);
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "key%03d", i);
        OPS(f)->del(f->p, k, strlen(k));
    }
    OPS(f)->stats(f->p, &b);
    assert_int_equal(b.keys, 50);
    assert_true(b.bytes < a.bytes);
}

static void many_keys_put_get_and_scan(void **state) {
    fx_t *f = *state;
    rill_store_op_t ops[1000];
    char keys[1000][16];
    for (int round = 0; round < 100; round++) {
        for (int i = 0; i < 1000; i++) {
            int n = snprintf(keys[i], 16, "k%06d", round * 1000 + i);
            ops[i] =
                (rill_store_op_t){RILL_STORE_PUT, keys[i], (size_t)n, keys[i], (size_t)n};
        }
        assert_int_equal(OPS(f)->write(f->p, ops, 1000, round), RILL_OK);
    }
    check_value(f, f->p, "k054321", 7, "k054321");
    seen_t s = {0};
    OPS(f)->scan(f->p, NULL, 0, NULL, 0, collect, &s);
    assert_int_equal(s.n, 100000);
}

/* Short and long values (the memory store keeps short ones inside its index and
 * long ones in an allocation of their own) swapped by overwrites, with deletes
 * moving entries around: every key still reads back what was last written. */
static void values_changing_size_under_overwrites_and_deletes_read_back(void **state) {
    fx_t *f = *state;
    enum { N = 2000 };
    static char keys[N][16], vals[N][80];
    static rill_store_op_t ops[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            int kl = snprintf(keys[i], sizeof keys[i], "key-%d", i);
            bool long_val = (i + round) % 2 == 0;
            int vl = snprintf(
                vals[i], sizeof vals[i],
                long_val ? "r%d-%d-a-value-long-enough-to-need-its-own-block" : "r%d-%d",
                round, i);
            ops[i] = (rill_store_op_t){RILL_STORE_PUT, keys[i], (size_t)kl, vals[i],
                                       (size_t)vl};
        }
        assert_int_equal(OPS(f)->write(f->p, ops, N, round), RILL_OK);
    }
    for (int i = 0; i < N; i += 3)
        assert_int_equal(OPS(f)->del(f->p, keys[i], strlen(keys[i])), RILL_OK);
    for (int i = 0; i < N; i++)
        check_value(f, f->p, keys[i], strlen(keys[i]), i % 3 ? vals[i] : NULL);
    rill_store_stats_t st;
    assert_int_equal(OPS(f)->stats(f->p, &st), RILL_OK);
    assert_int_equal(st.keys, N - (N + 2) / 3);
}

static void persistent_store_survives_reopen(void **state) {
    fx_t *f = *state;
    if (!(f->s->ops->features & RILL_STORE_F_PERSISTENT)) skip();
    rill_store_op_t op = {RILL_STORE_PUT, "k", 1, "kept", 4};
    OPS(f)->write(f->p, &op, 1, 42);
    OPS(f)->part_close(f->p);
    f->p = NULL;
    rill_store_destroy(f->s);
    f->s = open_store(f);
    f->p = open_part(f->s, "t", 0);
    check_value(f, f->p, "k", 1, "kept");
    int64_t off;
    OPS(f)->offset(f->p, &off);
    assert_int_equal(off, 42);
}

int rill_store_conformance(const char *url_template) {
    g_template = url_template;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(get_missing_key_is_enoent, setup, teardown),
        cmocka_unit_test_setup_teardown(put_then_get_roundtrips, setup, teardown),
        cmocka_unit_test_setup_teardown(put_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_removes_and_missing_delete_is_ok, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(binary_keys_and_empty_values_work, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(large_value_roundtrips, setup, teardown),
        cmocka_unit_test_setup_teardown(
            values_changing_size_under_overwrites_and_deletes_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(write_batch_applies_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(offset_is_invalid_before_any_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(batch_without_offset_keeps_the_offset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(scan_orders_keys_bytewise, setup, teardown),
        cmocka_unit_test_setup_teardown(scan_honours_half_open_range, setup, teardown),
        cmocka_unit_test_setup_teardown(scan_stops_when_the_callback_says, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(partitions_and_tables_are_isolated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reopened_partition_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(opening_an_open_partition_is_eexist, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(drop_removes_data_and_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(stats_count_keys_and_shrink_after_deletes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(many_keys_put_get_and_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(persistent_store_survives_reopen, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name(url_template, tests, NULL, NULL);
}
