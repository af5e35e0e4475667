/* The memory transport's log entries (memory_int.h): a message copied into a chunk
 * reads back byte for byte, key and value of every length from 0 to 40 (8 to 16
 * bytes are copied as two moves, issue 17), with and without headers, and the
 * entry's size is what the partition counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rill/rill.h>

#include "memory_int.h"

static void fill(uint8_t *b, size_t n, uint8_t seed) {
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed + i * 7);
}

static void check_entry(size_t klen, size_t vlen, size_t nheaders) {
    mem_part_t p = {0};
    uint8_t key[40], value[40];
    fill(key, sizeof key, 1);
    fill(value, sizeof value, 100);
    rill_header_t hs[2] = {{"trace", "abc", 3}, {"x", "", 0}};
    rill_produce_t m = {.topic = "t",
                        .key = klen ? key : NULL,
                        .key_len = klen,
                        .value = value,
                        .value_len = vlen,
                        .headers = nheaders ? hs : NULL,
                        .nheaders = nheaders};
    mem_entry_t *e = rill__mem_entry_new(&p, &m, 7, 1234);
    assert_non_null(e);
    assert_int_equal(e->offset, 7);
    assert_int_equal(e->timestamp_ms, 1234);
    assert_int_equal(e->klen, klen);
    assert_int_equal(e->vlen, vlen);
    assert_int_equal(e->has_key, klen != 0);
    if (klen) assert_memory_equal(E_KEY(e), key, klen);
    if (vlen) assert_memory_equal(E_VALUE(e), value, vlen);
    assert_int_equal(e->nheaders, nheaders);
    for (size_t i = 0; i < nheaders; i++) {
        assert_string_equal(E_HEADERS(e)[i].name, hs[i].name);
        assert_int_equal(E_HEADERS(e)[i].value_len, hs[i].value_len);
        assert_memory_equal(E_HEADERS(e)[i].value, hs[i].value, hs[i].value_len);
    }
    assert_int_equal(p.bytes, E_BYTES(e));
    /* nothing written past the entry: the next one starts where it ends */
    mem_entry_t *next = rill__mem_entry_new(&p, &m, 8, 1234);
    assert_non_null(next);
    assert_true((uint8_t *)next >= E_VALUE(e) + vlen);
    if (vlen) assert_memory_equal(E_VALUE(e), value, vlen);
    rill__mem_free_part(&p);
}

static void keys_and_values_of_every_length_read_back(void **state) {
    (void)state;
    for (size_t klen = 0; klen <= 40; klen++)
        for (size_t vlen = 0; vlen <= 40; vlen++)
            check_entry(klen, vlen, 0);
}

static void with_headers_too(void **state) {
    (void)state;
    for (size_t len = 0; len <= 40; len++) {
        check_entry(len, len, 1);
        check_entry(3, len, 2);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_and_values_of_every_length_read_back),
        cmocka_unit_test(with_headers_too),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
