/* docs/CONFIGURATION.md against the tables: every key of the app's table and every
 * property of a built-in backend is documented with its default (and, for an enum,
 * every choice), and every documented key exists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rill/rill.h>

#include "conf_int.h"

extern const struct rill_transport_ops *const rill__builtin_transports[];
extern const struct rill_store_ops *const rill__builtin_stores[];
extern const struct rill_serializer_ops *const rill__builtin_serializers[];

/* Backends a build may leave out: their documented keys cannot be checked then. */
static const char *const optional_backends[] = {"kafka", "redis", "rocksdb", "avro",
                                                NULL};

typedef struct row {
    char key[128];
    char def[128];    /* the default cell without its backquotes; "?" when not literal */
    const char *text; /* the whole line */
    bool backend;     /* under "## Backend properties" */
} row_t;

static char *doc;
static row_t rows[256];
static size_t nrows;

static int load(void **state) {
    (void)state;
    FILE *f = fopen(RILL_SOURCE_DIR "/docs/CONFIGURATION.md", "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    doc = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(doc, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    bool backend = false;
    for (char *line = strtok(doc, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "## Backend properties", 21)) backend = true;
        if (strncmp(line, "| `", 3) != 0) continue;
        assert_true(nrows < sizeof rows / sizeof rows[0]);
        row_t *r = &rows[nrows++];
        r->text = line;
        r->backend = backend;
        const char *k = line + 3, *ke = strchr(k, '`');
        assert_non_null(ke);
        snprintf(r->key, sizeof r->key, "%.*s", (int)(ke - k), k);
        const char *d = strchr(ke, '|') + 1;
        while (*d == ' ')
            d++;
        const char *de = strchr(d, '|');
        if (*d == '`' && strchr(d + 1, '`') && strchr(d + 1, '`') + 2 == de)
            snprintf(r->def, sizeof r->def, "%.*s", (int)(de - d - 3), d + 1);
        else
            snprintf(r->def, sizeof r->def, "?");
    }
    return 0;
}

static int unload(void **state) {
    (void)state;
    free(doc);
    return 0;
}

static const row_t *documented(const char *key, bool backend) {
    for (size_t i = 0; i < nrows; i++)
        if (rows[i].backend == backend && !strcmp(rows[i].key, key)) return &rows[i];
    return NULL;
}

/* The row documents @p p: its default, and every choice of an enum. */
static void check_row(const row_t *r, const char *key, const rill_prop_t *p) {
    if (!r) fail_msg("%s is not in docs/CONFIGURATION.md", key);
    if (strcmp(r->def, "?") && strcmp(r->def, p->def ? p->def : ""))
        fail_msg("%s: documented default '%s', the table's '%s'", key, r->def,
                 p->def ? p->def : "");
    for (const char *c = p->choices; c && *c;) {
        size_t m = strcspn(c, "|");
        char word[64];
        snprintf(word, sizeof word, "%.*s", (int)m, c);
        if (!strstr(r->text, word))
            fail_msg("%s: choice '%s' is not documented", key, word);
        c += m + (c[m] == '|');
    }
}

static void every_app_key_is_documented_with_its_default(void **state) {
    (void)state;
    for (const rill_prop_t *p = rill__conf_props(); p->name; p++)
        check_row(documented(p->name, false), p->name, p);
}

static void every_documented_app_key_exists(void **state) {
    (void)state;
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].backend) continue;
        bool found = false;
        for (const rill_prop_t *p = rill__conf_props(); p->name; p++)
            found |= !strcmp(p->name, rows[i].key);
        if (!found) fail_msg("documented key %s is not in core/conf.c", rows[i].key);
    }
}

static void check_plugin(const char *name, const rill_prop_t *props) {
    rill_prop_t p;
    char key[160];
    for (size_t i = 0; rill__prop_at(props, i, &p); i++) {
        snprintf(key, sizeof key, "%s.%s", name, p.name);
        check_row(documented(key, true), key, &p);
    }
}

static void every_backend_property_is_documented_with_its_default(void **state) {
    (void)state;
    for (size_t i = 0; rill__builtin_transports[i]; i++)
        check_plugin(rill__builtin_transports[i]->scheme,
                     rill__builtin_transports[i]->props);
    for (size_t i = 0; rill__builtin_stores[i]; i++)
        check_plugin(rill__builtin_stores[i]->scheme, rill__builtin_stores[i]->props);
    for (size_t i = 0; rill__builtin_serializers[i]; i++)
        check_plugin(rill__builtin_serializers[i]->name,
                     rill__builtin_serializers[i]->props);
}

static void every_documented_backend_property_exists(void **state) {
    (void)state;
    for (size_t i = 0; i < nrows; i++) {
        const char *key = rows[i].key, *dot = strchr(key, '.');
        if (!rows[i].backend || strchr(key, '<')) continue; /* redis.topic.<topic>.* */
        assert_non_null(dot);
        char backend[32];
        snprintf(backend, sizeof backend, "%.*s", (int)(dot - key), key);
        bool optional = false;
        for (size_t j = 0; optional_backends[j]; j++)
            optional |= !strcmp(optional_backends[j], backend);
        if (!rill_transport_find(backend) && !rill_store_find(backend) &&
            !rill_serializer_find(backend)) {
            if (!optional) fail_msg("documented key %s: no backend '%s'", key, backend);
            continue; /* not built here */
        }
        rill_prop_t p;
        bool declared = false;
        const struct rill_transport_ops *t = rill_transport_find(backend);
        const struct rill_store_ops *st = rill_store_find(backend);
        const struct rill_serializer_ops *se = rill_serializer_find(backend);
        declared |= t && rill__prop_find(t->props, dot + 1, &p);
        declared |= st && rill__prop_find(st->props, dot + 1, &p);
        declared |= se && rill__prop_find(se->props, dot + 1, &p);
        if (!declared) fail_msg("documented key %s is declared by no backend", key);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_app_key_is_documented_with_its_default),
        cmocka_unit_test(every_documented_app_key_exists),
        cmocka_unit_test(every_backend_property_is_documented_with_its_default),
        cmocka_unit_test(every_documented_backend_property_exists),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
