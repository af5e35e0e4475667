/* The strings of an event's decode (rill_serializer_strdup with the event's
 * struct rill_strings): carved from memory the event keeps once a reset made room,
 * malloc()ed before that, and a clear frees only the malloc()ed ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record_int.h"
#include "rill/serializer.h"

typedef struct named {
    char *first;
    char *second;
} named_t;

RILL_RECORD(named_schema, named_t, "t.Named", RILL_F(named_t, first, STRING),
            RILL_F(named_t, second, STRING));

static bool carved(const struct rill_strings *a, const char *p) {
    return a->buf && p >= a->buf && p < a->buf + a->cap;
}

static void without_event_strings_a_string_is_malloced(void **state) {
    (void)state;
    rill_serializer_t s = {0};
    char *p = rill_serializer_strdup(&s, "user-1 and more", 6);
    assert_non_null(p);
    assert_string_equal(p, "user-1");
    free(p); /* plain malloc: free() takes it */
}

static void
a_string_that_does_not_fit_is_malloced_and_the_reset_makes_room(void **state) {
    (void)state;
    struct rill_strings a = {0};
    rill_serializer_t s = {.strings = &a};
    char *p = rill_serializer_strdup(&s, "user-1", 6);
    assert_non_null(p);
    assert_false(carved(&a, p));
    assert_int_equal(a.want, 7);
    rill_serializer_strfree(&s, p);
    rill__strings_reset(&a);
    assert_true(a.cap >= 7);
    assert_int_equal(a.used, 0);
    char *q = rill_serializer_strdup(&s, "user-2", 6);
    assert_true(carved(&a, q));
    assert_string_equal(q, "user-2");
    rill__strings_free(&a);
}

static void a_clear_frees_the_malloced_strings_and_leaves_the_carved_ones(void **state) {
    (void)state;
    struct rill_strings a = {0};
    rill_serializer_t s = {.strings = &a};
    a.want = 16;
    rill__strings_reset(&a); /* room for 16 bytes (or a little more) */
    char big[200];
    memset(big, 'x', sizeof big);
    named_t rec = {0};
    rec.first = rill_serializer_strdup(&s, "carved", 6);
    rec.second = rill_serializer_strdup(&s, big, sizeof big); /* does not fit */
    assert_true(carved(&a, rec.first));
    assert_false(carved(&a, rec.second));
    rill__value_clear_in(RILL_TYPE_RECORD(&named_schema), &rec, &a);
    assert_null(rec.first);
    assert_null(rec.second);
    assert_string_equal(a.buf, "carved"); /* still there: nothing freed it */
    rill__strings_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_event_strings_a_string_is_malloced),
        cmocka_unit_test(a_string_that_does_not_fit_is_malloced_and_the_reset_makes_room),
        cmocka_unit_test(a_clear_frees_the_malloced_strings_and_leaves_the_carved_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
