/* rill__msg_copy (core/msg.c), the one copy of a message behind an event's own
 * copy, a channel message and a held send: the caller's struct first (zeroed),
 * then the headers, key, value and topic, all in one allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg_int.h"

typedef struct lead {
    char tag[3]; /* an odd size: the headers after it must still be aligned */
} lead_t;

static bool inside(const void *mem, size_t size, const void *p) {
    return (const char *)p >= (const char *)mem &&
           (const char *)p < (const char *)mem + size;
}

static void the_copy_holds_every_part_after_the_callers_struct(void **state) {
    (void)state;
    rill_header_t hs[] = {{"trace", "abc", 3}, {"empty", "", 0}};
    rill__msg_parts_t in = {.topic = "orders",
                            .key = "k1",
                            .key_len = 2,
                            .value = "value",
                            .value_len = 5,
                            .headers = hs,
                            .nheaders = 2},
                      c;
    size_t size = rill__msg_copy_size(sizeof(lead_t), &in);
    lead_t *l = rill__msg_copy(sizeof *l, &in, 0, &c);
    assert_non_null(l);
    assert_memory_equal(l->tag, "\0\0\0", 3);
    assert_true(inside(l, size, c.key) && inside(l, size, c.value));
    assert_true(inside(l, size, c.topic) && inside(l, size, c.headers));
    assert_int_equal((uintptr_t)c.headers % _Alignof(rill_header_t), 0);
    assert_true((const char *)c.headers >= (const char *)(l + 1));
    assert_memory_equal(c.key, "k1", 2);
    assert_int_equal(c.key_len, 2);
    assert_memory_equal(c.value, "value", 5);
    assert_int_equal(c.value_len, 5);
    assert_string_equal(c.topic, "orders");
    assert_int_equal(c.nheaders, 2);
    assert_string_equal(c.headers[0].name, "trace");
    assert_memory_equal(c.headers[0].value, "abc", 3);
    assert_int_equal(c.headers[0].value_len, 3);
    assert_string_equal(c.headers[1].name, "empty");
    assert_int_equal(c.headers[1].value_len, 0);
    assert_true(inside(l, size, c.headers[0].name) &&
                inside(l, size, c.headers[1].value));
    free(l);
}

static void no_key_and_a_tombstone_stay_null_and_no_headers_is_null(void **state) {
    (void)state;
    rill__msg_parts_t in = {.key = NULL, .value = NULL}, c;
    void *mem = rill__msg_copy(0, &in, 0, &c);
    assert_non_null(mem);
    assert_null(c.key);
    assert_null(c.value);
    assert_null(c.headers);
    assert_null(c.topic);
    assert_int_equal(c.nheaders, 0);
    free(mem);
}

static void an_empty_key_is_a_key(void **state) {
    (void)state;
    rill__msg_parts_t in = {.key = "", .key_len = 0, .value = "v", .value_len = 1}, c;
    void *mem = rill__msg_copy(0, &in, 0, &c);
    assert_non_null(c.key);
    assert_int_equal(c.key_len, 0);
    assert_memory_equal(c.value, "v", 1);
    free(mem);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_copy_holds_every_part_after_the_callers_struct),
        cmocka_unit_test(no_key_and_a_tombstone_stay_null_and_no_headers_is_null),
        cmocka_unit_test(an_empty_key_is_a_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
