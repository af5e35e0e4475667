/* The embedding lifecycle (issue 12, API item 5): on_stopped fires once after the
 * final commit and may destroy the app; a stopped app cannot be started again;
 * definitions after start are refused; a signal repeated during or after the
 * graceful stop of rill_app_run() neither fails it nor kills the process, and one
 * while it is still starting is a stop request like any other (issue 13). */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <rill/rill.h>

#include "run_until.h"

static unsigned seq;

typedef struct life {
    struct event_base *base;
    char broker[64];
    rill_app_t *app;
    rill_topic_t *in;
    int handled, stopped_calls;
    int64_t committed_at_stop; /* the group's offset of in[0], read in on_stopped */
    bool destroy_in_callback;
} life_t;

static rill_err_t count(rill_event_t *ev, void *opaque) {
    (void)ev;
    ((life_t *)opaque)->handled++;
    return RILL_OK;
}

static int64_t committed(life_t *l) {
    rill_transport_handlers_t h = {0};
    char err[256];
    rill_transport_t *t =
        rill_transport_new(l->broker, NULL, l->base, &h, "probe", err, sizeof err);
    assert_non_null(t);
    int64_t off = RILL_OFFSET_INVALID;
    t->ops->committed(t, "life", "in", 0, &off);
    rill_transport_destroy(t);
    return off;
}

static void on_stopped(rill_app_t *app, void *opaque) {
    life_t *l = opaque;
    l->stopped_calls++;
    l->committed_at_stop = committed(l);
    if (l->destroy_in_callback) {
        rill_app_destroy(app);
        l->app = NULL;
    }
}

static rill_app_t *make(life_t *l, struct event_base *base) {
    char err[256];
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", l->broker, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "commit.interval.ms", "60000", err, sizeof err); /* only at stop */
    rill_app_t *app = base ? rill_app_new_with_base("life", c, base, err, sizeof err)
                           : rill_app_new("life", c, err, sizeof err);
    if (!app) fail_msg("app: %s", err);
    rill_topic_opts_t o = {.partitions = 1};
    l->in = rill_app_topic(app, "in", &o);
    assert_non_null(rill_app_agent(app, "count", l->in, count, l, NULL));
    assert_int_equal(rill_app_on_stopped(app, on_stopped, l), RILL_OK);
    return app;
}

static int setup(void **state) {
    life_t *l = calloc(1, sizeof *l);
    snprintf(l->broker, sizeof l->broker, "memory://life-%u", ++seq);
    l->base = event_base_new();
    *state = l;
    return 0;
}

static int teardown(void **state) {
    life_t *l = *state;
    if (l->app) rill_app_destroy(l->app);
    event_base_free(l->base);
    free(l);
    return 0;
}

static void
on_stopped_fires_once_after_the_final_commit_and_may_destroy_the_app(void **state) {
    life_t *l = *state;
    l->app = make(l, l->base);
    l->destroy_in_callback = true;
    char err[256] = "";
    assert_int_equal(rill_app_start(l->app, err, sizeof err), RILL_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(rill_send(l->in, NULL, 0, "x", 1, NULL), RILL_OK);
    RUN_UNTIL(l->base, l->handled == 5, 5000);
    assert_int_equal(l->handled, 5);
    rill_app_stop(l->app);
    assert_int_equal(l->stopped_calls, 0); /* never inside the call that stopped it */
    RUN_UNTIL(l->base, l->stopped_calls > 0, 5000);
    RUN_UNTIL(l->base, false, 50);
    assert_int_equal(l->stopped_calls, 1);
    assert_int_equal(l->committed_at_stop, 5); /* the final commit came first */
    assert_null(l->app);                       /* destroyed in the callback */
}

static void stop_from_a_task(rill_app_t *app, void *opaque) {
    (void)opaque;
    rill_app_stop(app);
}

static void rill_app_run_calls_on_stopped_after_its_loop_ended(void **state) {
    life_t *l = *state;
    l->app = make(l, NULL); /* its own loop */
    l->destroy_in_callback = true;
    assert_int_equal(rill_app_task(l->app, "stop", stop_from_a_task, NULL), RILL_OK);
    assert_int_equal(rill_app_run(l->app), RILL_OK);
    assert_int_equal(l->stopped_calls, 1);
    assert_null(l->app);
}

/* What kill -TERM of timeout(1) does to the worker it runs: SIGTERM to it, then to
 * its process group (the worker again), both before the worker's loop runs. */
static void sigterm_twice(rill_app_t *app, void *opaque) {
    (void)app;
    (void)opaque;
    raise(SIGTERM);
    raise(SIGTERM);
}

static void a_signal_repeated_during_the_graceful_stop_does_not_fail_it(void **state) {
    life_t *l = *state;
    l->app = make(l, NULL);
    assert_int_equal(rill_app_task(l->app, "signal", sigterm_twice, NULL), RILL_OK);
    assert_int_equal(rill_app_run(l->app), RILL_OK); /* was RILL_ESHUTDOWN: exit 1 */
    assert_int_equal(l->stopped_calls, 1);
}

static void sigterm_after_the_stop(rill_app_t *app, void *opaque) {
    on_stopped(app, opaque);
    raise(SIGTERM); /* the second copy, late */
}

static void a_signal_after_the_graceful_stop_leaves_the_process_running(void **state) {
    life_t *l = *state;
    l->app = make(l, NULL);
    assert_int_equal(rill_app_on_stopped(l->app, sigterm_after_the_stop, l), RILL_OK);
    assert_int_equal(rill_app_task(l->app, "stop", stop_from_a_task, NULL), RILL_OK);
    /* before: the handler was gone, and the default action ended this process */
    assert_int_equal(rill_app_run(l->app), RILL_OK);
    assert_int_equal(l->stopped_calls, 1);
}

/* SIGTERM to the process 300 ms on, from a thread of its own. */
static void *sigterm_soon(void *arg) {
    (void)arg;
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    kill(getpid(), SIGTERM);
    return NULL;
}

static void a_signal_while_the_app_starts_stops_it_gracefully(void **state) {
    life_t *l = *state;
    /* the topic's declaration takes 1.5 s: the signal comes in the middle */
    snprintf(l->broker, sizeof l->broker, "faulty+memory://life-%u?delay.declare.ms=1500",
             ++seq);
    l->app = make(l, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sigterm_soon, NULL), 0);
    /* before: the handlers came after the start, and SIGTERM ended this process */
    assert_int_equal(rill_app_run(l->app), RILL_OK);
    pthread_join(th, NULL);
    assert_int_equal(l->stopped_calls, 1);
}

static void fail_in_task(rill_app_t *app, void *opaque) {
    (void)opaque;
    rill_app_fail(app, RILL_EFATAL, "the test fails the app");
}

static void on_stopped_fires_when_the_app_fails(void **state) {
    life_t *l = *state;
    l->app = make(l, l->base);
    assert_int_equal(rill_app_task(l->app, "fail", fail_in_task, NULL), RILL_OK);
    char err[256] = "";
    assert_int_equal(rill_app_start(l->app, err, sizeof err), RILL_OK);
    RUN_UNTIL(l->base, l->stopped_calls > 0, 5000);
    assert_int_equal(l->stopped_calls, 1);
}

static void a_stopped_app_cannot_be_started_again(void **state) {
    life_t *l = *state;
    l->app = make(l, l->base);
    char err[256] = "";
    assert_int_equal(rill_app_start(l->app, err, sizeof err), RILL_OK);
    rill_app_stop(l->app);
    RUN_UNTIL(l->base, l->stopped_calls > 0, 5000);
    assert_int_equal(rill_app_start(l->app, err, sizeof err), RILL_ESTATE);
    assert_non_null(strstr(err, "a stopped app cannot be started again"));
    assert_int_equal(rill_app_on_stopped(l->app, on_stopped, l), RILL_ESTATE);
}

static void definitions_after_start_are_refused(void **state) {
    life_t *l = *state;
    l->app = make(l, l->base);
    char err[256] = "";
    assert_int_equal(rill_app_start(l->app, err, sizeof err), RILL_OK);
    assert_null(rill_app_agent(l->app, "late", l->in, count, l, NULL));
    assert_non_null(strstr(rill_app_errmsg(l->app), "before the app starts"));
    rill_table_opts_t to = {.value_type = &rill_type_int64};
    assert_null(rill_app_table(l->app, "late-table", &to));
    assert_null(rill_app_stream(l->app, l->in));
    assert_ptr_equal(rill_app_topic(l->app, "in", NULL), l->in); /* lookups still work */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            on_stopped_fires_once_after_the_final_commit_and_may_destroy_the_app, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            rill_app_run_calls_on_stopped_after_its_loop_ended, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_signal_repeated_during_the_graceful_stop_does_not_fail_it, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_signal_after_the_graceful_stop_leaves_the_process_running, setup, teardown),
        cmocka_unit_test_setup_teardown(a_signal_while_the_app_starts_stops_it_gracefully,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(on_stopped_fires_when_the_app_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_stopped_app_cannot_be_started_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(definitions_after_start_are_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
