/* "<backend>.*" config keys: the memory transport and the memory store share the
 * name "memory", so their keys are one namespace: a key either declares is
 * accepted by both, a key neither declares is refused naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

static rill_err_t start_with(const char *key, const char *value, char *err, size_t n) {
    struct event_base *base = event_base_new();
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "log.level", "error", err, n);
    rill_conf_set(c, "broker", "memory://keys-test", err, n);
    rill_conf_set(c, "store", "memory://", err, n);
    rill_conf_set(c, key, value, err, n);
    rill_app_t *app = rill_app_new_with_base("keys", c, base, err, n);
    assert_non_null(app);
    rill_topic_t *t = rill_app_topic(app, "t", NULL);
    rill_table_opts_t o = {.value_type = &rill_type_int64, .source = t};
    assert_non_null(rill_app_table(app, "counts", &o)); /* a table opens the store */
    rill_err_t rc = rill_app_start(app, err, n);
    if (rc == RILL_OK) rill_app_stop(app);
    rill_app_destroy(app);
    event_base_free(base);
    return rc;
}

static void a_transport_key_is_not_refused_by_the_store_of_the_same_name(void **state) {
    (void)state;
    char err[512] = "";
    assert_int_equal(start_with("memory.revoke.lost", "true", err, sizeof err), RILL_OK);
}

static void a_key_no_memory_backend_declares_is_refused_naming_it(void **state) {
    (void)state;
    char err[512] = "";
    assert_int_not_equal(start_with("memory.no_such_key", "1", err, sizeof err), RILL_OK);
    assert_non_null(strstr(err, "memory.no_such_key"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_transport_key_is_not_refused_by_the_store_of_the_same_name),
        cmocka_unit_test(a_key_no_memory_backend_declares_is_refused_naming_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
