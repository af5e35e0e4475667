/* Table-table join (Kafka Streams' KTable-KTable join): "profiles" is derived from
 * the tables "names" and "langs" on the user id, recomputed whenever either
 * changes.  A left join: a user without a language gets "-" until one arrives, and
 * deleting a user's name deletes the profile.
 *
 * The joined table has its own changelog: a worker that takes a partition over
 * recovers it from there, without joining again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

static rill_topic_t *users, *prefs;
static rill_table_t *names, *langs, *profiles;

/* Write the event's value (a string) into the table @p opaque; a tombstone deletes. */
static rill_err_t store(rill_event_t *ev, void *opaque) {
    size_t klen, vlen;
    const void *user = rill_event_key_bytes(ev, &klen);
    const char *v = rill_event_value_bytes(ev, &vlen);
    if (!v) return rill_table_del(opaque, ev, user, klen);
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", (int)vlen, v);
    const char *s = buf;
    return rill_table_set(opaque, ev, user, klen, &s);
}

static rill_err_t profile(const void *key, size_t klen, const void *name,
                          const void *lang, void *out, void *opaque) {
    (void)key, (void)klen, (void)opaque;
    char buf[160];
    snprintf(buf, sizeof buf, "%s speaks %s", *(const char *const *)name,
             lang ? *(const char *const *)lang : "-");
    return (*(char **)out = strdup(buf)) ? RILL_OK : RILL_ENOMEM;
}

/* user-1 gets a name, then a language; user-2 a name that is deleted later */
static void feed(rill_app_t *app, void *opaque) {
    static int n;
    (void)app;
    (void)opaque;
    switch (n++) {
    case 0:
        rill_send(users, "user-1", 6, "Ann", 3, NULL);
        rill_send(users, "user-2", 6, "Bob", 3, NULL);
        break;
    case 1:
        rill_send(prefs, "user-1", 6, "Norwegian", 9, NULL);
        break;
    case 2:
        rill_send(users, "user-2", 6, NULL, 0, NULL);
        break;
    }
}

static int print_row(const void *key, size_t klen, int64_t ws, const void *value,
                     void *opaque) {
    (void)ws, (void)opaque;
    printf("profile %.*s: %s\n", (int)klen, (const char *)key,
           *(const char *const *)value);
    return 0;
}

static void report(rill_app_t *app, void *opaque) {
    (void)app, (void)opaque;
    rill_table_foreach(profiles, print_row, NULL);
    printf("--\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    char err[512];
    rill_app_t *app = rill_app_new("join-profiles", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    users = rill_app_topic(app, "users", NULL);
    prefs = rill_app_topic(app, "prefs", NULL);
    rill_table_opts_t tab = {.value_type = &rill_type_string, .source = users};
    names = rill_app_table(app, "names", &tab);
    tab.source = prefs;
    langs = rill_app_table(app, "langs", &tab);
    rill_table_join_opts_t jo = {
        .mode = RILL_JOIN_LEFT, .value_type = &rill_type_string, .fn = profile};
    profiles = rill_app_table_join(app, "profiles", names, langs, &jo);
    if (!profiles || !rill_app_agent(app, "names", users, store, names, NULL) ||
        !rill_app_agent(app, "langs", prefs, store, langs, NULL) ||
        !rill_app_timer(app, "feed", 0.2, feed, NULL) ||
        !rill_app_timer(app, "report", 0.5, report, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
