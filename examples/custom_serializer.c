/* A custom serializer: "csv" encodes a record's fields as one comma-separated line
 * (strings may not contain commas; this is an example, not a CSV library).  It is
 * registered before the app is created and chosen per topic by name.
 *
 *   ./build/examples/custom_serializer worker
 *   ./build/examples/custom_serializer send readings '{"sensor":"s1","celsius":21}'
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/rill.h>

typedef struct reading {
    char *sensor;
    int64_t celsius;
} reading_t;

RILL_RECORD(reading_schema, reading_t, "iot.Reading", RILL_F(reading_t, sensor, STRING),
            RILL_F(reading_t, celsius, INT64));

static rill_err_t csv_encode(rill_serializer_t *s, const rill_type_t *type,
                             const void *value, rill_buf_t *out, char *errstr,
                             size_t errlen) {
    (void)s;
    if (type->kind != RILL_T_RECORD) return RILL_ENOTSUP;
    const rill_schema_t *sch = type->record;
    for (size_t i = 0; i < sch->nfields; i++) {
        const rill_field_t *f = &sch->fields[i];
        const char *m = (const char *)value + f->offset;
        char cell[64];
        if (f->type.kind == RILL_T_STRING)
            snprintf(cell, sizeof cell, "%s", *(char *const *)m ? *(char *const *)m : "");
        else if (f->type.kind == RILL_T_INT64)
            snprintf(cell, sizeof cell, "%lld", (long long)*(const int64_t *)m);
        else {
            snprintf(errstr, errlen, "csv: field '%s' has an unsupported type", f->name);
            return RILL_EENCODE;
        }
        if (i) rill_buf_append(out, ",", 1);
        rill_buf_append(out, cell, strlen(cell));
    }
    return RILL_OK;
}

static rill_err_t csv_decode(rill_serializer_t *s, const rill_type_t *type,
                             const void *data, size_t len, void *value, char *errstr,
                             size_t errlen) {
    (void)s;
    if (type->kind != RILL_T_RECORD) return RILL_ENOTSUP;
    const rill_schema_t *sch = type->record;
    const char *p = data, *end = p + len;
    for (size_t i = 0; i < sch->nfields; i++) {
        const rill_field_t *f = &sch->fields[i];
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma && i + 1 < sch->nfields ? comma : end;
        if (i + 1 < sch->nfields && !comma) {
            snprintf(errstr, errlen, "csv: field '%s': missing", sch->fields[i + 1].name);
            return RILL_EDECODE;
        }
        char *m = (char *)value + f->offset;
        if (f->type.kind == RILL_T_STRING) {
            char *str = strndup(p, (size_t)(stop - p));
            if (!str) return RILL_ENOMEM;
            free(*(char **)m);
            *(char **)m = str;
        } else {
            char num[32], *e;
            snprintf(num, sizeof num, "%.*s", (int)(stop - p), p);
            *(int64_t *)m = strtoll(num, &e, 10);
            if (!*num || *e) {
                snprintf(errstr, errlen, "csv: field '%s': '%s' is not an integer",
                         f->name, num);
                return RILL_EDECODE;
            }
        }
        p = stop + 1;
    }
    return RILL_OK;
}

static const struct rill_serializer_ops csv_serializer = {
    .abi = RILL_SERIALIZER_ABI,
    .scheme = "csv",
    .description = "comma-separated record fields (example)",
    .features = RILL_SERIALIZER_F_RECORDS,
    .encode = csv_encode,
    .decode = csv_decode,
};

static rill_topic_t *readings;

static rill_err_t show(rill_event_t *ev, void *opaque) {
    (void)opaque;
    size_t len;
    const char *wire = rill_event_value_bytes(ev, &len);
    const reading_t *r = rill_event_value(ev);
    printf("%s: %lld C (on the wire: \"%.*s\")\n", r->sensor, (long long)r->celsius,
           (int)len, wire);
    fflush(stdout);
    return RILL_OK;
}

static void feed(rill_app_t *app, void *opaque) {
    static int n;
    (void)app;
    (void)opaque;
    reading_t r = {.sensor = "sensor-1", .celsius = 18 + n++ % 5};
    rill_send(readings, NULL, 0, &r, sizeof r, NULL);
}

int main(int argc, char **argv) {
    if (rill_register_serializer(&csv_serializer) != RILL_OK) return 1;
    char err[512];
    rill_app_t *app = rill_app_new("custom-serializer", NULL, err, sizeof err);
    if (!app) return fprintf(stderr, "%s\n", err), 1;
    rill_topic_opts_t to = {.value_type = RILL_TYPE_RECORD(&reading_schema),
                            .value_serializer = "csv"};
    readings = rill_app_topic(app, "readings", &to);
    if (!readings || !rill_app_agent(app, "show", readings, show, NULL, NULL) ||
        !rill_app_timer(app, "feed", 1.0, feed, NULL)) {
        fprintf(stderr, "%s\n", rill_app_errmsg(app));
        rill_app_destroy(app);
        return 1;
    }
    return rill_app_main(app, argc, argv);
}
