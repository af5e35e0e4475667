/* Table-table joins on any transport (issue 14, item 3): inner/left/outer rows, updates
 * from either side, deletes on one side, the join function deleting a row, a
 * restart after which the joined table equals the join of its recovered inputs,
 * and the definition errors.  Two agents write tables "names" and "langs" from
 * topics users and prefs (a tombstone deletes); "profiles" joins them into
 * "name/lang" ("-" for a missing side).
 * The suite of tests/support/join_table_suite.h: test_join_table_memory.c,
 * test_join_table_redis.c and test_join_table_kafka.c run it; the tests of memory:// only
 * with memory_transport.
 */
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

#include "join_table_suite.h"
#include "run_until.h"

static const rill_join_table_suite_t *suite;

static unsigned seq;
static char broker[128];
static int64_t names_ttl_ms; /* the names table's ttl_ms (0: none) */
static bool chained;         /* also "cards": profiles joined with names again */

#define TJ_WAIT_MS (suite->wait_ms ? suite->wait_ms : 3000)
#define TJ_SETTLE_MS (suite->settle_ms ? suite->settle_ms : 0)

static int setup(void **state) {
    (void)state;
    suite->broker(broker, sizeof broker, ++seq);
    names_ttl_ms = 0;
    chained = false;
    return 0;
}

typedef struct worker {
    rill_app_t *app;
    struct event_base *base;
    rill_topic_t *users, *prefs;
    rill_table_t *names, *langs, *profiles, *cards;
    int handled, sent;
} worker_t;

/* Write the event's value into the table (opaque), or delete on a tombstone. */
static rill_err_t put(rill_event_t *ev, rill_table_t *t) {
    size_t klen, vlen;
    const void *k = rill_event_key_bytes(ev, &klen);
    const char *v = rill_event_value_bytes(ev, &vlen);
    rill_err_t rc;
    if (!v) {
        rc = rill_table_del(t, ev, k, klen);
    } else {
        char buf[64];
        snprintf(buf, sizeof buf, "%.*s", (int)vlen, v);
        const char *s = buf;
        rc = rill_table_set(t, ev, k, klen, &s);
    }
    return rc;
}

static rill_err_t on_user(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    rill_err_t rc = put(ev, w->names);
    w->handled++;
    return rc;
}

static rill_err_t on_pref(rill_event_t *ev, void *opaque) {
    worker_t *w = opaque;
    rill_err_t rc = put(ev, w->langs);
    w->handled++;
    return rc;
}

/* "name/lang", "-" for a missing side; a lang of "none" means no row. */
static rill_err_t profile(const void *key, size_t klen, const void *left,
                          const void *right, void *out, void *opaque) {
    (void)key, (void)klen, (void)opaque;
    const char *l = left ? *(const char *const *)left : "-";
    const char *r = right ? *(const char *const *)right : "-";
    if (!strcmp(r, "none")) return RILL_ENOENT;
    char buf[128];
    snprintf(buf, sizeof buf, "%s/%s", l, r);
    return (*(char **)out = strdup(buf)) ? RILL_OK : RILL_ENOMEM;
}

static rill_err_t start(worker_t *w, struct event_base *base, rill_join_mode_t mode,
                        int32_t pref_partitions, char *err, size_t errlen) {
    rill_conf_t *c = rill_conf_new();
    char e[256];
    rill_conf_set(c, "broker", broker, e, sizeof e);
    rill_conf_set(c, "commit.interval.ms", "50", e, sizeof e);
    if (suite->conf) suite->conf(c);
    if (!getenv("RILL_LOG_LEVEL")) rill_conf_set(c, "log.level", "error", e, sizeof e);
    char id[32], ut[32], pt[32];
    snprintf(id, sizeof id, "tj%u", seq);
    snprintf(ut, sizeof ut, "users-%u", seq);
    snprintf(pt, sizeof pt, "prefs-%u", seq);
    w->base = base;
    w->app = rill_app_new_with_base(id, c, base, e, sizeof e);
    assert_non_null(w->app);
    rill_topic_opts_t to = {.partitions = 4};
    w->users = rill_app_topic(w->app, ut, &to);
    to.partitions = pref_partitions;
    w->prefs = rill_app_topic(w->app, pt, &to);
    rill_table_opts_t o = {.value_type = &rill_type_string, .source = w->users};
    o.ttl_ms = names_ttl_ms;
    w->names = rill_app_table(w->app, "names", &o);
    o.ttl_ms = 0;
    o.source = w->prefs;
    w->langs = rill_app_table(w->app, "langs", &o);
    rill_app_agent(w->app, "user", w->users, on_user, w, NULL);
    rill_app_agent(w->app, "pref", w->prefs, on_pref, w, NULL);
    rill_table_join_opts_t jo = {
        .mode = mode, .value_type = &rill_type_string, .fn = profile};
    w->profiles = rill_app_table_join(w->app, "profiles", w->names, w->langs, &jo);
    if (w->profiles && chained) {
        jo.mode = RILL_JOIN_INNER;
        w->cards = rill_app_table_join(w->app, "cards", w->profiles, w->names, &jo);
    }
    if (!w->profiles || (chained && !w->cards)) {
        snprintf(err, errlen, "%s", rill_app_errmsg(w->app));
        return RILL_EINVAL;
    }
    rill_err_t rc = rill_app_start(w->app, err, errlen);
    if (rc != RILL_OK) return rc;
    RUN_UNTIL(base, rill_app_is_ready(w->app), TJ_WAIT_MS);
    assert_true(rill_app_is_ready(w->app));
    if (TJ_SETTLE_MS) RUN_UNTIL(base, false, TJ_SETTLE_MS);
    return RILL_OK;
}

/* Send @p v (NULL: a tombstone) under @p k to @p t and wait until it is handled. */
static void send_kv(worker_t *w, rill_topic_t *t, const char *k, const char *v) {
    assert_int_equal(rill_send(t, k, strlen(k), v, v ? strlen(v) : 0, NULL), RILL_OK);
    w->sent++;
    RUN_UNTIL(w->base, w->handled >= w->sent, TJ_WAIT_MS);
    assert_int_equal(w->handled, w->sent);
}

/* ---- reading a table whole ---------------------------------------------------- */

typedef struct row {
    char key[16], val[64];
} row_t;

typedef struct rows {
    row_t v[128];
    int n;
} rows_t;

static int collect(const void *key, size_t klen, int64_t ws, const void *value,
                   void *opaque) {
    (void)ws;
    rows_t *r = opaque;
    if (r->n >= 128) return 1;
    row_t *x = &r->v[r->n++];
    snprintf(x->key, sizeof x->key, "%.*s", (int)klen, (const char *)key);
    snprintf(x->val, sizeof x->val, "%s", *(const char *const *)value);
    return 0;
}

static const char *lookup(const rows_t *r, const char *key) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].key, key)) return r->v[i].val;
    return NULL;
}

static rows_t *rows_of(rill_table_t *t) {
    static rows_t r[3];
    static int i;
    rows_t *x = &r[i++ % 3];
    x->n = 0;
    assert_int_equal(rill_table_foreach(t, collect, x), RILL_OK);
    return x;
}

/* The joined row of @p key, or NULL when there is none. */
static const char *row(worker_t *w, const char *key) {
    return lookup(rows_of(w->profiles), key);
}

static void assert_row(worker_t *w, const char *key, const char *want) {
    const char *got = row(w, key);
    if (!want) {
        if (got) fail_msg("key '%s': row '%s', wanted none", key, got);
        return;
    }
    if (!got) fail_msg("key '%s': no row, wanted '%s'", key, want);
    assert_string_equal(got, want);
}

/* names u1=Ann, u2=Bob; langs u1=no, u3=en. */
static void write_three_keys(worker_t *w) {
    send_kv(w, w->users, "u1", "Ann");
    send_kv(w, w->users, "u2", "Bob");
    send_kv(w, w->prefs, "u1", "no");
    send_kv(w, w->prefs, "u3", "en");
}

static void finish(worker_t *w, struct event_base *base) {
    rill_app_destroy(w->app);
    event_base_free(base);
}

static void an_inner_join_has_rows_for_keys_of_both_tables(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, 4, err, sizeof err), RILL_OK);
    write_three_keys(&w);
    assert_row(&w, "u1", "Ann/no");
    assert_row(&w, "u2", NULL);
    assert_row(&w, "u3", NULL);
    assert_int_equal(rows_of(w.profiles)->n, 1);
    finish(&w, base);
}

static void a_left_join_has_rows_for_keys_of_the_left_table(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_LEFT, 4, err, sizeof err), RILL_OK);
    write_three_keys(&w);
    assert_row(&w, "u1", "Ann/no");
    assert_row(&w, "u2", "Bob/-");
    assert_row(&w, "u3", NULL);
    finish(&w, base);
}

static void an_outer_join_has_rows_for_keys_of_either_table(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_OUTER, 4, err, sizeof err), RILL_OK);
    write_three_keys(&w);
    assert_row(&w, "u1", "Ann/no");
    assert_row(&w, "u2", "Bob/-");
    assert_row(&w, "u3", "-/en");
    assert_int_equal(rows_of(w.profiles)->n, 3);
    finish(&w, base);
}

static void an_update_of_either_table_recomputes_the_row(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, 4, err, sizeof err), RILL_OK);
    write_three_keys(&w);
    send_kv(&w, w.users, "u1", "Anna");
    assert_row(&w, "u1", "Anna/no");
    send_kv(&w, w.prefs, "u1", "sv");
    assert_row(&w, "u1", "Anna/sv");
    send_kv(&w, w.prefs, "u2", "de"); /* u2 now on both sides */
    assert_row(&w, "u2", "Bob/de");
    finish(&w, base);
}

static void a_delete_in_one_table_removes_or_updates_the_row(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_LEFT, 4, err, sizeof err), RILL_OK);
    write_three_keys(&w);
    send_kv(&w, w.prefs, "u1", NULL); /* right side gone: the left row stays */
    assert_row(&w, "u1", "Ann/-");
    send_kv(&w, w.users, "u1", NULL); /* left side gone: no row */
    assert_row(&w, "u1", NULL);
    send_kv(&w, w.users, "u1", "Ann"); /* back */
    assert_row(&w, "u1", "Ann/-");
    finish(&w, base);
}

static void the_join_function_can_say_a_key_has_no_row(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, 4, err, sizeof err), RILL_OK);
    write_three_keys(&w);
    send_kv(&w, w.prefs, "u1", "none"); /* profile() returns RILL_ENOENT */
    assert_row(&w, "u1", NULL);
    send_kv(&w, w.prefs, "u1", "fi");
    assert_row(&w, "u1", "Ann/fi");
    finish(&w, base);
}

/* A key of the left table expired by its ttl_ms is deleted like any other: its
 * joined row goes too. */
static void a_key_expired_by_ttl_leaves_the_join(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    names_ttl_ms = 200;
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, 4, err, sizeof err), RILL_OK);
    send_kv(&w, w.prefs, "u1", "no");
    send_kv(&w, w.users, "u1", "Ann"); /* last: checked before it can expire */
    assert_row(&w, "u1", "Ann/no");
    RUN_UNTIL(base, !row(&w, "u1"), TJ_WAIT_MS);
    assert_row(&w, "u1", NULL);
    assert_non_null(lookup(rows_of(w.langs), "u1")); /* the other side stays */
    finish(&w, base);
}

/* "cards" joins the joined table "profiles" with "names" again: a write to names
 * reaches cards directly and through profiles, a delete in langs through profiles
 * only. */
static void a_joined_table_can_be_joined_again(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512];
    chained = true;
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, 4, err, sizeof err), RILL_OK);
    write_three_keys(&w);
    assert_string_equal(lookup(rows_of(w.cards), "u1"), "Ann/no/Ann");
    assert_int_equal(rows_of(w.cards)->n, 1);
    send_kv(&w, w.users, "u1", "Anna");
    assert_string_equal(lookup(rows_of(w.cards), "u1"), "Anna/no/Anna");
    send_kv(&w, w.prefs, "u1", NULL); /* profiles loses u1, so cards does */
    assert_null(lookup(rows_of(w.cards), "u1"));
    assert_int_equal(rows_of(w.cards)->n, 0);
    finish(&w, base);
}

/* The joined table's rows are exactly the outer join of the two inputs' rows. */
static void assert_join_of_inputs(worker_t *w) {
    rows_t *n = rows_of(w->names), *l = rows_of(w->langs), *p = rows_of(w->profiles);
    int want = 0;
    char buf[128];
    for (int i = 0; i < n->n; i++) {
        const char *lang = lookup(l, n->v[i].key);
        snprintf(buf, sizeof buf, "%s/%s", n->v[i].val, lang ? lang : "-");
        assert_string_equal(lookup(p, n->v[i].key) ? lookup(p, n->v[i].key) : "(none)",
                            buf);
        want++;
    }
    for (int i = 0; i < l->n; i++) {
        if (lookup(n, l->v[i].key)) continue;
        snprintf(buf, sizeof buf, "-/%s", l->v[i].val);
        assert_string_equal(lookup(p, l->v[i].key) ? lookup(p, l->v[i].key) : "(none)",
                            buf);
        want++;
    }
    assert_int_equal(p->n, want);
}

/* A worker dies (no final commit) after writes, updates and deletes on both sides;
 * its successor recovers the three tables from their changelogs: the joined table
 * is the join of the recovered inputs, and later writes join with them. */
static void after_a_restart_the_joined_table_is_the_join_of_its_inputs(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512], k[16], v[16];
    assert_int_equal(start(&w, base, RILL_JOIN_OUTER, 4, err, sizeof err), RILL_OK);
    for (int i = 0; i < 24; i++) {
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "n%d", i);
        if (i % 3 != 2) send_kv(&w, w.users, k, v);
        snprintf(v, sizeof v, "l%d", i);
        if (i % 3 != 1) send_kv(&w, w.prefs, k, v);
    }
    for (int i = 0; i < 24; i += 4) { /* updates and deletes on both sides */
        snprintf(k, sizeof k, "k%d", i);
        send_kv(&w, w.users, k, "renamed");
        snprintf(k, sizeof k, "k%d", i + 1);
        send_kv(&w, w.prefs, k, NULL);
        snprintf(k, sizeof k, "k%d", i + 3);
        send_kv(&w, w.users, k, NULL);
    }
    assert_join_of_inputs(&w);
    int before = rows_of(w.profiles)->n;
    RUN_UNTIL(base, false, 150); /* a commit: the events are not handled again */
    rill_app_destroy(w.app);     /* abrupt: no final commit or flush */
    worker_t again = {0};
    assert_int_equal(start(&again, base, RILL_JOIN_OUTER, 4, err, sizeof err), RILL_OK);
    RUN_UNTIL(base, rows_of(again.profiles)->n >= before, TJ_WAIT_MS);
    assert_int_equal(again.handled, 0); /* nothing was handled again: recovered */
    assert_int_equal(rows_of(again.profiles)->n, before);
    assert_join_of_inputs(&again);
    send_kv(&again, again.prefs, "k0", "fresh"); /* joins the recovered left row */
    assert_row(&again, "k0", "renamed/fresh");
    assert_join_of_inputs(&again);
    rill_app_destroy(again.app);
    event_base_free(base);
}

static uint32_t owned(worker_t *w) {
    rill_table_stats_t st;
    return rill_table_stats(w->profiles, &st) == RILL_OK ? st.owned : 0;
}

/* Send through @p a; wait until one of the two workers handled it. */
static void send_two(worker_t *a, worker_t *b, rill_topic_t *t, const char *k,
                     const char *v) {
    int before = a->handled + b->handled;
    assert_int_equal(rill_send(t, k, strlen(k), v, v ? strlen(v) : 0, NULL), RILL_OK);
    RUN_UNTIL(a->base, a->handled + b->handled > before, TJ_WAIT_MS);
    assert_int_equal(a->handled + b->handled, before + 1);
}

/* A second worker joins: the partitions it takes over come with their three
 * tables recovered from the changelogs, each worker's joined rows are the join of
 * its inputs, and writes on either worker keep them so. */
static void after_a_rebalance_each_worker_holds_the_join_of_its_inputs(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t a = {0}, b = {0};
    char err[512], k[16], v[16];
    assert_int_equal(start(&a, base, RILL_JOIN_OUTER, 4, err, sizeof err), RILL_OK);
    for (int i = 0; i < 24; i++) {
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "n%d", i);
        if (i % 3 != 2) send_kv(&a, a.users, k, v);
        snprintf(v, sizeof v, "l%d", i);
        if (i % 3 != 1) send_kv(&a, a.prefs, k, v);
    }
    int total = rows_of(a.profiles)->n;
    RUN_UNTIL(base, false, 150); /* a commit */
    assert_int_equal(start(&b, base, RILL_JOIN_OUTER, 4, err, sizeof err), RILL_OK);
    RUN_UNTIL(base,
              rill_app_is_ready(a.app) && rill_app_is_ready(b.app) && owned(&b) > 0 &&
                  owned(&a) + owned(&b) == 4,
              TJ_WAIT_MS);
    assert_int_equal(owned(&a) + owned(&b), 4);
    assert_true(owned(&b) > 0);
    assert_int_equal(rows_of(a.profiles)->n + rows_of(b.profiles)->n, total);
    assert_true(rows_of(b.profiles)->n > 0);
    assert_join_of_inputs(&a);
    assert_join_of_inputs(&b);
    for (int i = 0; i < 24; i += 2) { /* on whichever worker owns each key */
        snprintf(k, sizeof k, "k%d", i);
        send_two(&a, &b, a.prefs, k, "later");
        snprintf(k, sizeof k, "k%d", i + 1);
        send_two(&a, &b, a.users, k, NULL);
    }
    assert_join_of_inputs(&a);
    assert_join_of_inputs(&b);
    assert_string_equal(lookup(rows_of(a.profiles), "k0")
                            ? lookup(rows_of(a.profiles), "k0")
                            : lookup(rows_of(b.profiles), "k0"),
                        "n0/later");
    rill_app_destroy(b.app);
    rill_app_destroy(a.app);
    event_base_free(base);
}

static void tables_of_different_partition_counts_are_refused(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    worker_t w = {0};
    char err[512] = "";
    assert_int_equal(start(&w, base, RILL_JOIN_INNER, 3, err, sizeof err),
                     RILL_EPARTITIONS);
    assert_non_null(strstr(err, "table-table join 'profiles'"));
    assert_non_null(strstr(err, "'names' has 4 partitions"));
    assert_non_null(strstr(err, "'langs' has 3"));
    assert_non_null(strstr(err, "co-partitioned"));
    finish(&w, base);
}

/* memory_transport: the tests of memory:// only */
static void a_windowed_table_cannot_be_joined(void **state) {
    (void)state;
    char e[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", broker, e, sizeof e);
    rill_app_t *app = rill_app_new("tj-def", c, e, sizeof e);
    assert_non_null(app);
    rill_table_opts_t o = {.value_type = &rill_type_int64};
    rill_table_t *plain = rill_app_table(app, "plain", &o);
    rill_table_opts_tumbling(&o, 1000, 1000);
    rill_table_t *win = rill_app_table(app, "win", &o);
    rill_table_join_opts_t jo = {.value_type = &rill_type_int64, .fn = profile};
    assert_null(rill_app_table_join(app, "j", plain, win, &jo));
    assert_non_null(strstr(rill_app_errmsg(app), "table 'win' is windowed"));
    char err[512] = "";
    assert_int_equal(rill_app_start(app, err, sizeof err), RILL_EINVAL);
    assert_non_null(strstr(err, "table-table join 'j'"));
    rill_app_destroy(app);
}

int rill_join_table_suite_run(const rill_join_table_suite_t *s) {
    suite = s;
    const struct {
        struct CMUnitTest test;
        bool memory_only;
    } all[] = {
        {cmocka_unit_test_setup(an_inner_join_has_rows_for_keys_of_both_tables, setup),
         false},
        {cmocka_unit_test_setup(a_left_join_has_rows_for_keys_of_the_left_table, setup),
         false},
        {cmocka_unit_test_setup(an_outer_join_has_rows_for_keys_of_either_table, setup),
         false},
        {cmocka_unit_test_setup(an_update_of_either_table_recomputes_the_row, setup),
         false},
        {cmocka_unit_test_setup(a_delete_in_one_table_removes_or_updates_the_row, setup),
         false},
        {cmocka_unit_test_setup(the_join_function_can_say_a_key_has_no_row, setup),
         false},
        {cmocka_unit_test_setup(a_key_expired_by_ttl_leaves_the_join, setup), false},
        {cmocka_unit_test_setup(a_joined_table_can_be_joined_again, setup), false},
        {cmocka_unit_test_setup(
             after_a_restart_the_joined_table_is_the_join_of_its_inputs, setup),
         false},
        {cmocka_unit_test_setup(
             after_a_rebalance_each_worker_holds_the_join_of_its_inputs, setup),
         false},
        {cmocka_unit_test_setup(tables_of_different_partition_counts_are_refused, setup),
         false},
        {cmocka_unit_test_setup(a_windowed_table_cannot_be_joined, setup), true},
    };
    enum { N = sizeof all / sizeof all[0] };
    struct CMUnitTest tests[N];
    size_t n = 0;
    for (size_t i = 0; i < N; i++)
        if (s->memory_transport || !all[i].memory_only) tests[n++] = all[i].test;
    return _cmocka_run_group_tests(s->name, tests, n, NULL, NULL);
}
