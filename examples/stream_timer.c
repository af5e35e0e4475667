/* Timers on stream time (Kafka Streams' stream-time punctuators): every 10 seconds
 * of event time, each partition reports the readings its sensor sent since the last
 * report and starts again.  The readings carry their own timestamps (one a second,
 * sent 20 times faster than that), so the reports follow the readings' clock, not
 * the wall clock: a partition that receives nothing reports nothing.
 *
 * The callback runs while the reading that crossed the boundary is handled, before
 * its handler counts it, and its table writes go to that reading's partition. */
#include <stdio.h>
#include <string.h>

#include <rill/rill.h>

#define START_MS 1700000000000LL /* a multiple of 10 s */

static rill_topic_t *readings;
static rill_table_t *counts;

static rill_err_t count(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t klen;
    const void *sensor = rill_event_key_bytes(ev, &klen);
    return rill_table_incr(counts, ev, sensor, klen, 1, NULL);
}

/* One sensor per partition here: the event that crossed the boundary is its. */
static rill_err_t report(const rill_event_t *ev, int64_t boundary_ms, void *opaque) {
    (void)opaque;
    size_t klen;
    const char *sensor = rill_event_key_bytes(ev, &klen);
    int64_t n = 0;
    rill_err_t rc = rill_table_get(counts, ev, sensor, klen, &n);
    if (rc != RILL_OK) return rc;
    printf("partition %d: %.*s sent %lld readings in the 10 s of stream time before "
           "%lld\n",
           rill_event_partition(ev), (int)klen, sensor, (long long)n,
           (long long)boundary_ms);
    fflush(stdout);
    return rill_table_del(counts, ev, sensor, klen);
}

static void feed(rill_app_t *app, void *opaque) {
    static int64_t n;
    (void)app;
    (void)opaque;
    rill_send_opts_t o = RILL_SEND_OPTS_INIT;
    o.timestamp_ms = START_MS + 1000 * n++;
    rill_send(readings, "sensor-1", 8, "21.5", 4, &o);
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("stream-timer", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    readings = rill_app_topic(app, "readings", NULL);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = readings};
    counts = rill_app_table(app, "counts", &tab);
    rill_agent_t *a = rill_app_agent(app, "count", readings, count, NULL, NULL);
    if (!rill_app_stream_timer(app, "every-10s", a, 10000, report, NULL) ||
        !rill_app_timer(app, "feed", 0.05, feed, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
