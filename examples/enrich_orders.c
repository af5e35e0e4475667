/* Stream-table join (enrichment): "credits" sets each user's credit limit (key: the
 * user, value: the limit as text) in the table "limits"; every order on "orders"
 * (key: the user, value: the amount as text) is joined with its user's limit, and
 * orders over it are printed.  A left join: orders of users without a limit are
 * printed as such.  The two topics must have the same partition count.
 *
 *   ./build/examples/enrich_orders worker
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

static rill_table_t *limits;

static int64_t number(const void *p, size_t len) {
    char buf[32] = "";
    memcpy(buf, p, len < sizeof buf - 1 ? len : sizeof buf - 1);
    return strtoll(buf, NULL, 10);
}

static rill_err_t set_limit(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t klen, vlen;
    const void *user = rill_event_key_bytes(ev, &klen);
    const void *v = rill_event_value_bytes(ev, &vlen);
    if (!user || !v) return RILL_OK;
    int64_t limit = number(v, vlen);
    return rill_table_set(limits, ev, user, klen, &limit);
}

/* The joined value: the amount over the limit (-1: the user has no limit). */
static rill_err_t over_limit(const rill_event_t *ev, const void *row, void *out,
                             void *opaque) {
    (void)opaque;
    size_t vlen;
    const void *v = rill_event_value_bytes(ev, &vlen);
    int64_t amount = v ? number(v, vlen) : 0;
    *(int64_t *)out = row ? amount - *(const int64_t *)row : -1;
    return RILL_OK;
}

static rill_err_t report(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t klen;
    const char *user = rill_event_key_bytes(ev, &klen);
    int64_t over = *(const int64_t *)rill_event_value(ev);
    if (over == -1)
        printf("order of %.*s: no credit limit\n", (int)klen, user ? user : "");
    else if (over > 0)
        printf("order of %.*s: %lld over the limit\n", (int)klen, user ? user : "",
               (long long)over);
    return RILL_OK;
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("enrich-orders", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    rill_topic_t *credits = rill_app_topic(app, "credits", NULL);
    rill_topic_t *orders = rill_app_topic(app, "orders", NULL);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = credits};
    limits = rill_app_table(app, "limits", &tab);
    rill_app_agent(app, "limits", credits, set_limit, NULL, NULL);
    rill_stream_t *s = rill_app_stream(app, orders);
    s = rill_stream_join_table(s, limits, RILL_JOIN_LEFT, NULL, NULL, &rill_type_int64,
                               over_limit, NULL);
    rill_stream_agent(s, "report", report, NULL, NULL);
    return rill_app_main(app, argc, argv); /* refuses to start naming a failed step */
}
