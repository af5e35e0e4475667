/* The table write cache: rill__wcache_put_at (a put at the entry a find returned)
 * leaves the cache exactly as rill__wcache_put of the same key would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rill/transport.h"
#include "write_cache_int.h"

static void put_key(rill_wcache_t *o, int i, const char *val) {
    char k[16];
    snprintf(k, sizeof k, "key-%d", i);
    assert_int_equal(rill__wcache_put(o, k, strlen(k), val, strlen(val), false), RILL_OK);
}

/* Two caches hold the same entries in the same slots. */
static void assert_same_cache(const rill_wcache_t *a, const rill_wcache_t *b) {
    assert_int_equal(a->cap, b->cap);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->cap; i++) {
        const rill_wcache_entry_t *x = &a->slots[i], *y = &b->slots[i];
        assert_int_equal(x->used, y->used);
        if (!x->used) continue;
        assert_int_equal(x->tomb, y->tomb);
        assert_memory_equal(x->key, y->key, x->klen);
        assert_int_equal(x->klen, y->klen);
        assert_int_equal(x->vlen, y->vlen);
        if (x->vlen) assert_memory_equal(x->val, y->val, x->vlen);
    }
}

static void put_at_found_entry_replaces_its_value(void **state) {
    (void)state;
    rill_wcache_t o = {0};
    assert_int_equal(rill__wcache_put(&o, "k", 1, "12345678", 8, false), RILL_OK);
    rill_wcache_entry_t *e = rill__wcache_find(&o, "k", 1);
    assert_non_null(e);
    assert_int_equal(rill__wcache_put_at(&o, e, "k", 1, "abcdefgh", 8, false), RILL_OK);
    e = rill__wcache_find(&o, "k", 1);
    assert_non_null(e);
    assert_int_equal(o.n, 1);
    assert_int_equal(e->vlen, 8);
    assert_memory_equal(e->val, "abcdefgh", 8);
    rill__wcache_free(&o);
}

static void put_at_without_entry_inserts_the_key(void **state) {
    (void)state;
    rill_wcache_t o = {0};
    assert_null(rill__wcache_find(&o, "k", 1));
    assert_int_equal(rill__wcache_put_at(&o, NULL, "k", 1, "v", 1, false), RILL_OK);
    rill_wcache_entry_t *e = rill__wcache_find(&o, "k", 1);
    assert_non_null(e);
    assert_int_equal(e->vlen, 1);
    assert_memory_equal(e->val, "v", 1);
    rill__wcache_free(&o);
}

static void put_at_with_a_longer_value_stores_all_of_it(void **state) {
    (void)state;
    rill_wcache_t o = {0};
    assert_int_equal(rill__wcache_put(&o, "k", 1, "ab", 2, false), RILL_OK);
    rill_wcache_entry_t *e = rill__wcache_find(&o, "k", 1);
    assert_int_equal(rill__wcache_put_at(&o, e, "k", 1, "abcdefgh", 8, false), RILL_OK);
    e = rill__wcache_find(&o, "k", 1);
    assert_int_equal(o.n, 1);
    assert_int_equal(e->vlen, 8);
    assert_memory_equal(e->val, "abcdefgh", 8);
    rill__wcache_free(&o);
}

static void put_at_over_a_tombstone_revives_the_key(void **state) {
    (void)state;
    rill_wcache_t o = {0};
    assert_int_equal(rill__wcache_put(&o, "k", 1, "12345678", 8, false), RILL_OK);
    assert_int_equal(rill__wcache_put(&o, "k", 1, NULL, 0, true), RILL_OK);
    rill_wcache_entry_t *e = rill__wcache_find(&o, "k", 1);
    assert_true(e->tomb);
    assert_int_equal(rill__wcache_put_at(&o, e, "k", 1, "x", 1, false), RILL_OK);
    e = rill__wcache_find(&o, "k", 1);
    assert_false(e->tomb);
    assert_int_equal(e->vlen, 1);
    assert_memory_equal(e->val, "x", 1);
    rill__wcache_free(&o);
}

/* At the load that makes a put grow the table, put_at grows it too: the slots
 * (and so the order a flush writes them in) match a cache written by put alone. */
static void put_at_at_the_growth_threshold_grows_like_put(void **state) {
    (void)state;
    rill_wcache_t a = {0}, b = {0};
    int n = 0;
    put_key(&a, n, "v");
    put_key(&b, n, "v");
    n++;
    while ((a.n + 1) * 4 <= a.cap * 3) { /* fill up to the threshold */
        put_key(&a, n, "v");
        put_key(&b, n, "v");
        n++;
    }
    size_t cap = a.cap;
    rill_wcache_entry_t *e = rill__wcache_find(&a, "key-0", 5);
    assert_non_null(e);
    assert_int_equal(rill__wcache_put_at(&a, e, "key-0", 5, "w", 1, false), RILL_OK);
    assert_int_equal(rill__wcache_put(&b, "key-0", 5, "w", 1, false), RILL_OK);
    assert_true(a.cap > cap);
    assert_same_cache(&a, &b);
    rill__wcache_free(&a);
    rill__wcache_free(&b);
}

/* Two 12-byte keys with the same murmur2 hash (found by search): the probe's key
 * compare, not the hash, tells them apart. */
static void keys_with_the_same_hash_are_distinct_entries(void **state) {
    (void)state;
    const char *a = "user-0075683", *b = "user-0069647";
    assert_int_equal(rill_murmur2(a, 12), rill_murmur2(b, 12));
    rill_wcache_t o = {0};
    assert_int_equal(rill__wcache_put(&o, a, 12, "1", 1, false), RILL_OK);
    assert_null(rill__wcache_find(&o, b, 12));
    assert_int_equal(rill__wcache_put(&o, b, 12, "2", 1, false), RILL_OK);
    assert_int_equal(o.n, 2);
    rill_wcache_entry_t *ea = rill__wcache_find(&o, a, 12),
                        *eb = rill__wcache_find(&o, b, 12);
    assert_non_null(ea);
    assert_non_null(eb);
    assert_memory_equal(ea->val, "1", 1);
    assert_memory_equal(eb->val, "2", 1);
    rill__wcache_free(&o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_at_found_entry_replaces_its_value),
        cmocka_unit_test(put_at_without_entry_inserts_the_key),
        cmocka_unit_test(put_at_with_a_longer_value_stores_all_of_it),
        cmocka_unit_test(put_at_over_a_tombstone_revives_the_key),
        cmocka_unit_test(put_at_at_the_growth_threshold_grows_like_put),
        cmocka_unit_test(keys_with_the_same_hash_are_distinct_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
