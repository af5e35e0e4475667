/* Count events by key into a table: the app the distribution tests run as several
 * worker processes.  Events on "events" are counted per message key in the table
 * "counts"; read the counts of a worker's partitions with
 *
 *   ./build/examples/key_counter worker --web-port 6066
 *   curl http://127.0.0.1:6066/tables/counts
 */
#include <stdio.h>

#include <rill/rill.h>

static rill_table_t *counts;

static rill_err_t count(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t len;
    const void *key = rill_event_key_bytes(ev, &len);
    if (!key) return RILL_OK; /* keyless events have nothing to count under */
    return rill_table_incr(counts, ev, key, len, 1, NULL);
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("key-counter", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    rill_topic_t *events = rill_app_topic(app, "events", NULL);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = events};
    counts = rill_app_table(app, "counts", &tab);
    rill_agent_opts_t ao = {.on_error = RILL_ON_ERROR_CRASH};
    if (!events || !counts || !rill_app_agent(app, "count", events, count, NULL, &ao)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
