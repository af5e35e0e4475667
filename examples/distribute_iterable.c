/* Distribute data in an iterable across the cluster and process it:
 *
 *     async for item in app.stream([1, 2, 3, 4]):
 *         print(item * 2)
 *
 * The values go to a topic keyed by position, so the partitions — and the workers
 * of the app, when several run — share them.  Here a task sends them once when
 * the worker starts. */
#include <stdio.h>

#include <rill/rill.h>

static rill_topic_t *items;

static rill_err_t double_it(rill_event_t *ev, void *opaque) {
    (void)opaque;
    printf("%lld\n", (long long)(*(const int64_t *)rill_event_value(ev) * 2));
    fflush(stdout);
    return RILL_OK;
}

static void distribute(rill_app_t *app, void *opaque) {
    (void)opaque;
    static const int64_t values[] = {1, 2, 3, 4};
    if (rill_app_stream_values(app, items, values, 4, sizeof values[0]) != RILL_OK)
        rill_app_log(app, RILL_LOG_ERROR, "%s", rill_app_errmsg(app));
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("distribute", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    rill_topic_opts_t to = {.value_type = &rill_type_int64, .partitions = 4};
    items = rill_app_topic(app, "items", &to);
    if (!items || !rill_app_agent(app, "double", items, double_it, NULL, NULL) ||
        rill_app_task(app, "distribute", distribute, NULL) != RILL_OK) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
