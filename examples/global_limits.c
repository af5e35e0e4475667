/* GlobalTable: "limits" (key: the user, value: the limit as text) fills the global
 * table "limits", which every worker holds whole; "payments" (key: the payment id,
 * value: "<user> <amount>") is keyed by payment, not by user, and has its own
 * partition count, yet each payment is checked against its user's limit on
 * whichever worker handles it: no repartitioning, no co-partitioning.  Run two or
 * three workers: each reads every user's limit; only the owner of a user's
 * partition of "limits" writes it (a write elsewhere fails with RILL_ENOTOWNER).
 *
 *   ./build/examples/global_limits worker
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

static rill_table_t *limits;

static rill_err_t set_limit(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t klen, vlen;
    const void *user = rill_event_key_bytes(ev, &klen);
    const char *v = rill_event_value_bytes(ev, &vlen);
    if (!user || !v) return RILL_OK;
    char buf[32] = "";
    memcpy(buf, v, vlen < sizeof buf - 1 ? vlen : sizeof buf - 1);
    int64_t limit = strtoll(buf, NULL, 10);
    return rill_table_set(limits, ev, user, klen, &limit);
}

static rill_err_t check_payment(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t vlen;
    const char *v = rill_event_value_bytes(ev, &vlen);
    char buf[128] = "", user[64] = "";
    long long amount = 0;
    memcpy(buf, v ? v : "", vlen < sizeof buf - 1 ? vlen : sizeof buf - 1);
    if (sscanf(buf, "%63s %lld", user, &amount) != 2) return RILL_OK;
    int64_t limit = 0;
    rill_err_t rc = rill_table_get(limits, ev, user, strlen(user), &limit);
    if (rc != RILL_OK) return rc; /* not recovered yet: the error policy decides */
    if (amount > limit)
        printf("payment of %s: %lld over the limit %lld\n", user, amount - limit,
               (long long)limit);
    return RILL_OK;
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("global-limits", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    rill_topic_t *users = rill_app_topic(app, "limits", NULL);
    rill_topic_opts_t po = {.partitions = 3};
    rill_topic_t *payments = rill_app_topic(app, "payments", &po);
    rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = users};
    limits = rill_app_global_table(app, "limits", &tab);
    rill_app_agent(app, "limits", users, set_limit, NULL, NULL);
    rill_app_agent(app, "payments", payments, check_payment, NULL, NULL);
    return rill_app_main(app, argc, argv);
}
