/* rill_app_main(): the Faust-like command line every app binary gets. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record_int.h"
#include "app_setup_int.h"
#include "backend_int.h"
#include "table_int.h"
#include "url_int.h"
#include "rill/version.h"

/* ---- table NAME [KEY] --web URL: GET through a worker's web server
 * ---------------------------------------------------------------- */

typedef struct fetch {
    int status;
    struct evbuffer *body;
    char err[256];
} fetch_t;

static void fetch_done(struct evhttp_request *req, void *opaque) {
    fetch_t *f = opaque;
    if (!req || !evhttp_request_get_response_code(req)) {
        snprintf(f->err, sizeof f->err, "no answer (is a worker running there?)");
        return;
    }
    f->status = evhttp_request_get_response_code(req);
    evbuffer_add_buffer(f->body, evhttp_request_get_input_buffer(req));
}

/* GET @p path (with its query) of the server at @p base_url: the status, the body
 * in f->body; -1 when it could not be asked (f->err says why). */
static int http_get(const char *base_url, const char *path, const char *token,
                    fetch_t *f) {
    f->status = -1;
    f->err[0] = 0;
    struct evhttp_uri *u = evhttp_uri_parse(base_url);
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    if (!host || !scheme || strcmp(scheme, "http")) {
        snprintf(f->err, sizeof f->err, "--web expects http://host:port, got '%s'",
                 base_url);
        if (u) evhttp_uri_free(u);
        return -1;
    }
    int port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
    const char *prefix = evhttp_uri_get_path(u);
    size_t pl = prefix ? strlen(prefix) : 0;
    while (pl && prefix[pl - 1] == '/')
        pl--;
    char *full = malloc(pl + strlen(path) + 1);
    struct event_base *base = event_base_new();
    struct evhttp_connection *c =
        base ? evhttp_connection_base_new(base, NULL, host, (unsigned short)port) : NULL;
    struct evhttp_request *req = c ? evhttp_request_new(fetch_done, f) : NULL;
    if (!full || !req) {
        snprintf(f->err, sizeof f->err, "out of memory");
    } else {
        memcpy(full, prefix, pl);
        strcpy(full + pl, path);
        evhttp_connection_set_timeout(c, 30);
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "Host", host);
        evhttp_add_header(h, "Accept", "application/json");
        char auth[512];
        if (token && *token) {
            snprintf(auth, sizeof auth, "Bearer %s", token);
            evhttp_add_header(h, "Authorization", auth);
        }
        if (evhttp_make_request(c, req, EVHTTP_REQ_GET, full) == 0)
            event_base_dispatch(base);
        else
            snprintf(f->err, sizeof f->err, "cannot ask %s", base_url);
        if (f->status < 0 && !f->err[0])
            snprintf(f->err, sizeof f->err,
                     "no answer from %s (is a worker running there?)", base_url);
    }
    if (c) evhttp_connection_free(c);
    if (base) event_base_free(base);
    free(full);
    evhttp_uri_free(u);
    return f->status;
}

static char *body_text(fetch_t *f) {
    size_t n = evbuffer_get_length(f->body);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    evbuffer_remove(f->body, s, n);
    s[n] = 0;
    return s;
}

/* An answer that is not 200: its {"error"} (or status) on stderr. */
static void http_complain(const char *what, fetch_t *f, const char *body) {
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    const char *e = json_string_value(json_object_get(j, "error"));
    fprintf(stderr, "error: %s: HTTP %d%s%s\n", what, f->status, e ? ": " : "",
            e ? e : "");
    json_decref(j);
}

static int cmd_table(rill_app_t *app, const char *web, const char *name,
                     const char *key) {
    char def[64];
    if (!web) {
        int64_t port = rill_conf_get_int(rill_app_conf(app), "web.port", 0);
        if (port <= 0) {
            fprintf(stderr, "error: table needs --web URL (a running worker's web "
                            "server, e.g. http://127.0.0.1:6066)\n");
            return 2;
        }
        snprintf(def, sizeof def, "http://127.0.0.1:%lld", (long long)port);
        web = def;
    }
    const char *token = rill_conf_get(rill_app_conf(app), "web.token");
    fetch_t f = {.body = evbuffer_new()};
    char *en = evhttp_uriencode(name, -1, 0);
    char *ek = key ? evhttp_uriencode(key, -1, 0) : NULL;
    char *path = malloc(strlen(en ? en : "") + strlen(ek ? ek : "") + 64);
    int rc = 1;
    if (!f.body || !en || (key && !ek) || !path) {
        fprintf(stderr, "error: out of memory\n");
        goto done;
    }
    if (key) {
        sprintf(path, "/table/%s/%s", en, ek);
        int st = http_get(web, path, token, &f);
        char *b = body_text(&f);
        if (st < 0)
            fprintf(stderr, "error: %s\n", f.err);
        else if (st != 200)
            http_complain(key, &f, b);
        else {
            json_t *j = b ? json_loads(b, 0, NULL) : NULL;
            json_t *v = json_object_get(j, "value");
            char *out = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            printf("%s\n", out ? out : (b ? b : ""));
            free(out);
            json_decref(j);
            rc = 0;
        }
        free(b);
        goto done;
    }
    /* every key: the pages of GET /table/<name>, one "key<TAB>value" line each */
    sprintf(path, "/table/%s?limit=1000", en);
    char *next = strdup(path);
    while (next) {
        int st = http_get(web, next, token, &f);
        free(next);
        next = NULL;
        char *b = body_text(&f);
        if (st != 200) {
            if (st < 0)
                fprintf(stderr, "error: %s\n", f.err);
            else
                http_complain(name, &f, b);
            free(b);
            goto done;
        }
        json_t *j = b ? json_loads(b, 0, NULL) : NULL;
        json_t *items = json_object_get(j, "items"), *it;
        size_t i;
        json_array_foreach(items, i, it) {
            char *v =
                json_dumps(json_object_get(it, "value"), JSON_ENCODE_ANY | JSON_COMPACT);
            const char *k = json_string_value(json_object_get(it, "key"));
            json_t *ws = json_object_get(it, "window_start");
            if (ws)
                printf("%s@%lld\t%s\n", k ? k : "", (long long)json_integer_value(ws),
                       v ? v : "null");
            else
                printf("%s\t%s\n", k ? k : "", v ? v : "null");
            free(v);
        }
        const char *n = json_string_value(json_object_get(j, "next"));
        if (n && *n) {
            const char *q = strncmp(n, "http", 4) ? n : strchr(strchr(n, ':') + 3, '/');
            next = q ? strdup(q) : NULL;
        }
        if (!j) fprintf(stderr, "error: %s: the answer is not JSON\n", name);
        json_decref(j);
        free(b);
        if (!j) goto done;
    }
    rc = 0;
done:
    free(path);
    free(en);
    free(ek);
    if (f.body) evbuffer_free(f.body);
    return rc;
}

static void usage(FILE *f, const char *prog, const rill_app_t *app) {
    fprintf(
        f,
        "usage: %s COMMAND [OPTIONS]\n"
        "\n"
        "rill app '%s' (rill %s)\n"
        "\n"
        "commands:\n"
        "  worker                     run a worker of this app\n"
        "  send TOPIC [--key K] [--partition N] VALUE\n"
        "                             send one event (VALUE as JSON for record topics)\n"
        "  agents                     list the app's agents\n"
        "  topics                     list the app's topics\n"
        "  tables                     list the app's tables\n"
        "  table NAME [KEY] [--web URL]\n"
        "                             read a table through a running worker's web\n"
        "                             server (default http://127.0.0.1:<web.port>)\n"
        "\n"
        "options:\n"
        "  --broker URL               transport (default memory://): kafka://host:port,\n"
        "                             redis://host:port/db, memory://[name]\n"
        "  --store URL                table store (default memory://): rocksdb:///path\n"
        "  --web-port N               HTTP status port (0: off)\n"
        "  --web URL                  a running worker's web server (for table)\n"
        "  -l, --loglevel LEVEL       fatal|error|warn|info|debug|trace\n"
        "  -c, --conf KEY=VALUE       any config key: man 7 rill, docs/CONFIGURATION.md\n"
        "  -h, --help                 this help\n"
        "  --version                  print the rill version\n",
        prog, rill_app_id(app), RILL_VERSION_STR);
}

static const char *kind_name(const rill_type_t *t) {
    if (!t) return "bytes";
    switch (t->kind) {
    case RILL_T_STRING:
        return "string";
    case RILL_T_INT64:
        return "int64";
    case RILL_T_DOUBLE:
        return "double";
    case RILL_T_BOOL:
        return "bool";
    case RILL_T_BYTES:
        return "bytes";
    case RILL_T_DATETIME:
        return "datetime";
    case RILL_T_DECIMAL:
        return "decimal";
    case RILL_T_RECORD:
        return t->record->ns ? t->record->ns : t->record->name;
    case RILL_T_ARRAY:
        return "array";
    case RILL_T_MAP:
        return "map";
    }
    return "?";
}

static void list_topics(rill_app_t *app) {
    printf("%-40s %-10s %-24s %-24s\n", "topic", "partitions", "key", "value");
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        char parts[16];
        if (t->partitions)
            snprintf(parts, sizeof parts, "%d", t->partitions);
        else
            snprintf(parts, sizeof parts, "default");
        char k[64], v[64];
        snprintf(k, sizeof k, "%s (%s)", kind_name(t->ktype), t->kser_name);
        snprintf(v, sizeof v, "%s (%s)", kind_name(t->vtype), t->vser_name);
        printf("%-40s %-10s %-24s %-24s\n", t->name, parts, k, v);
    }
}

static void list_agents(rill_app_t *app) {
    printf("%-30s %-40s %s\n", "agent", "topic", "concurrency");
    for (rill_agent_t *a = app->agents; a; a = a->next)
        printf("%-30s %-40s %d\n", a->name, a->topic->name, a->concurrency);
}

struct sent {
    bool done;
    rill_err_t err;
    int32_t partition;
    int64_t offset;
};

static void on_sent(rill_err_t err, const char *errmsg, int32_t partition, int64_t offset,
                    void *opaque) {
    (void)errmsg;
    struct sent *s = opaque;
    s->done = true;
    s->err = err;
    s->partition = partition;
    s->offset = offset;
}

/* Parse @p text (JSON for typed values, bytes otherwise) into a value of @p type. */
static rill_err_t parse_value(rill_app_t *app, const rill_type_t *type, const char *text,
                              void **out, char *why, size_t whylen) {
    *out = NULL; /* bytes and strings are sent as the text's bytes */
    if (!type || type->kind == RILL_T_BYTES || type->kind == RILL_T_STRING)
        return RILL_OK;
    rill_serializer_t *json = rill__app_serializer(app, "json", why, whylen);
    if (!json) return RILL_ECONF;
    size_t sz = rill__value_csize(type);
    void *v = calloc(1, sz ? sz : 1);
    if (!v) return RILL_ENOMEM;
    if (type->kind == RILL_T_RECORD) rill_record_init(type->record, v);
    rill_err_t rc =
        rill_serializer_decode(json, type, text, strlen(text), v, why, whylen);
    if (rc != RILL_OK) {
        rill_value_clear(type, v);
        free(v);
        return rc;
    }
    *out = v;
    return RILL_OK;
}

static void free_value(const rill_type_t *type, void *v) {
    if (!v) return;
    rill_value_clear(type, v);
    free(v);
}

/* The scheme of URL @p url, lower-cased, into @p out ("" when it has none); that of
 * the backend wrapped by a faulty+<scheme>:// one. */
static const char *url_scheme(const char *url, char *out, size_t outlen) {
    rill_url_t *u;
    out[0] = '\0';
    if (url && rill_url_parse(url, &u, NULL, 0) == RILL_OK) {
        const char *s = u->scheme;
        while (!strncmp(s, "faulty+", 7))
            s += 7;
        snprintf(out, outlen, "%s", s);
        rill_url_destroy(u);
    }
    return out;
}

/* A transport whose data neither leaves the process nor outlives it (memory://):
 * an event sent by this command could never reach a worker. */
static bool broker_in_process(const rill_app_t *app, char *scheme, size_t len) {
    url_scheme(rill_conf_get(app->conf, "broker"), scheme, len);
    const struct rill_transport_ops *ops = rill_transport_find(scheme);
    return ops &&
           !(ops->features & (RILL_TRANSPORT_F_GROUPS | RILL_TRANSPORT_F_PERSISTENT));
}

static int cmd_send(rill_app_t *app, const char *prog, const char *topic, const char *key,
                    int partition, const char *value) {
    char err[512] = "", shown[512], scheme[32];
    if (broker_in_process(app, scheme, sizeof scheme)) {
        fprintf(stderr,
                "error: send needs a broker other processes share: %s:// lives inside "
                "one process, so the event could never reach a worker; give the "
                "worker's --broker (kafka://host:port or redis://host:port)\n",
                scheme);
        return 2;
    }
    if (rill__app_open(app, err, sizeof err) != RILL_OK) {
        fprintf(stderr, "error: %s\n", rill__url_redact(err, shown, sizeof shown));
        return 1;
    }
    rill_topic_t *t = rill__topic_by_name(app, topic);
    if (!t) {
        fprintf(stderr, "error: app '%s' has no topic '%s' (see '%s topics')\n", app->id,
                topic, prog);
        return 2;
    }
    void *kv = NULL, *vv = NULL;
    rill_err_t rc = RILL_OK;
    if (key && (rc = parse_value(app, t->ktype, key, &kv, err, sizeof err)) != RILL_OK) {
        fprintf(stderr, "error: key for topic '%s': %s\n", topic, err);
        return 2;
    }
    if ((rc = parse_value(app, t->vtype, value, &vv, err, sizeof err)) != RILL_OK) {
        free_value(t->ktype, kv);
        fprintf(stderr, "error: value for topic '%s' (%s expected as JSON): %s\n", topic,
                kind_name(t->vtype), err);
        return 2;
    }
    struct sent s = {0};
    rill_send_opts_t o = RILL__SEND_OPTS(.cb = on_sent, .opaque = &s);
    if (partition >= 0) o.partition = partition;
    app->state = RILL_APP_RUNNING;
    rc = rill_send(t, kv ? kv : key,
                   kv    ? rill__value_csize(t->ktype)
                   : key ? strlen(key)
                         : 0,
                   vv ? vv : value, vv ? rill__value_csize(t->vtype) : strlen(value), &o);
    free_value(t->ktype, kv);
    free_value(t->vtype, vv);
    if (rc != RILL_OK) {
        fprintf(stderr, "error: %s\n",
                rill__url_redact(rill_app_errmsg(app), shown, sizeof shown));
        return 1;
    }
    rill__sends_flush(app, 30000);
    while (!s.done && event_base_loop(app->base, EVLOOP_ONCE) == 0) {
    }
    app->state = RILL_APP_STOPPED;
    if (!s.done || s.err != RILL_OK) {
        fprintf(stderr, "error: send to '%s' failed: %s\n", topic,
                s.done ? rill_err2str(s.err) : "no delivery report");
        return 1;
    }
    printf("sent to %s[%d]@%lld\n", topic, s.partition, (long long)s.offset);
    return 0;
}

typedef struct key_check {
    char broker[32], store[32];
    char *errstr;
    size_t errlen;
    bool bad;
} key_check_t;

/* "<plugin>.<prop>" keys for a transport or store the app does not use are an
 * error: they would be ignored silently ("kafka.acks" with memory://). */
static void check_key(const char *key, const char *value, void *opaque) {
    (void)value;
    key_check_t *c = opaque;
    const char *dot = strchr(key, '.');
    if (c->bad || !dot || (size_t)(dot - key) >= 32) return;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(dot - key), key);
    if (rill_serializer_find(prefix)) return; /* any topic may use it */
    bool transport = rill_transport_find(prefix) != NULL,
         store = rill_store_find(prefix) != NULL;
    if (!transport && !store) return; /* not a plugin's: rill's own key */
    if ((transport && !strcmp(prefix, c->broker)) || (store && !strcmp(prefix, c->store)))
        return;
    if (transport)
        snprintf(c->errstr, c->errlen,
                 "config key '%s' is for the %s transport, but the broker is %s:// "
                 "(--broker %s://...)",
                 key, prefix, c->broker, prefix);
    else
        snprintf(c->errstr, c->errlen,
                 "config key '%s' is for the %s store, but the store is %s:// "
                 "(--store %s://...)",
                 key, prefix, c->store, prefix);
    c->bad = true;
}

static rill_err_t check_backend_keys(const rill_app_t *app, char *errstr, size_t errlen) {
    key_check_t c = {.errstr = errstr, .errlen = errlen};
    url_scheme(rill_conf_get(app->conf, "broker"), c.broker, sizeof c.broker);
    url_scheme(rill_conf_get(app->conf, "store"), c.store, sizeof c.store);
    rill_conf_foreach(app->conf, NULL, check_key, &c);
    return c.bad ? RILL_ECONF : RILL_OK;
}

int rill_app_main(rill_app_t *app, int argc, char **argv) {
    if (!app) { /* rill_app_new failed; what it wrote to its errstr says why */
        fprintf(stderr, "error: no app to run: rill_app_new failed\n");
        return 1;
    }
    const char *prog = argc > 0 ? argv[0] : "app";
    const char *slash = strrchr(prog, '/');
    if (slash) prog = slash + 1;
    const char *cmd = NULL, *key = NULL, *web = NULL;
    const char *pos[2] = {NULL, NULL};
    size_t npos = 0;
    int partition = -1, rc = 0;
    char err[512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG                                                                         \
    do {                                                                                 \
        if (!next) {                                                                     \
            fprintf(stderr, "error: %s needs a value\n\n", a);                           \
            goto bad;                                                                    \
        }                                                                                \
        i++;                                                                             \
    } while (0)
#define SET(k)                                                                           \
    do {                                                                                 \
        if (rill__app_set(app, k, next, err, sizeof err) != RILL_OK) {                   \
            fprintf(stderr, "error: %s: %s\n", a, err);                                  \
            goto bad_quiet;                                                              \
        }                                                                                \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, prog, app);
            goto out;
        } else if (!strcmp(a, "--version")) {
            printf("rill %s\n", RILL_VERSION_STR);
            goto out;
        } else if (!strcmp(a, "--broker")) {
            NEED_ARG;
            SET("broker");
        } else if (!strcmp(a, "--store")) {
            NEED_ARG;
            SET("store");
        } else if (!strcmp(a, "--web-port")) {
            NEED_ARG;
            SET("web.port");
        } else if (!strcmp(a, "--web")) {
            NEED_ARG;
            web = next;
        } else if (!strcmp(a, "-l") || !strcmp(a, "--loglevel")) {
            NEED_ARG;
            SET("log.level");
        } else if (!strcmp(a, "-c") || !strcmp(a, "--conf")) {
            NEED_ARG;
            const char *eq = strchr(next, '=');
            if (!eq || eq == next) {
                fprintf(stderr, "error: %s expects KEY=VALUE, got '%s'\n\n", a, next);
                goto bad;
            }
            char k[256];
            snprintf(k, sizeof k, "%.*s", (int)(eq - next), next);
            if (rill__app_set(app, k, eq + 1, err, sizeof err) != RILL_OK) {
                fprintf(stderr, "error: %s\n", err); /* one line: no usage */
                goto bad_quiet;
            }
        } else if (!strcmp(a, "--key") || !strcmp(a, "-k")) {
            NEED_ARG;
            key = next;
        } else if (!strcmp(a, "--partition") || !strcmp(a, "-p")) {
            NEED_ARG;
            char *end;
            long p = strtol(next, &end, 10);
            if (*end || p < 0 || p > 1000000) {
                fprintf(stderr,
                        "error: --partition expects a partition number, got '%s'\n\n",
                        next);
                goto bad;
            }
            partition = (int)p;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "error: unknown option '%s'\n\n", a);
            goto bad;
        } else if (!cmd) {
            cmd = a;
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n\n", a);
            goto bad;
        }
#undef NEED_ARG
#undef SET
    }
    if (!cmd) {
        fprintf(stderr, "error: no command given\n\n");
        goto bad;
    }
    if (check_backend_keys(app, err, sizeof err) != RILL_OK) {
        fprintf(stderr, "error: %s\n", err);
        goto bad_quiet;
    }
    if (!strcmp(cmd, "worker")) {
        if (npos) {
            fprintf(stderr, "error: worker takes no arguments, got '%s'\n\n", pos[0]);
            goto bad;
        }
        rill_err_t r = rill_app_run(app);
        rc = r == RILL_OK ? 0 : 1;
    } else if (!strcmp(cmd, "send")) {
        if (npos != 2) {
            fprintf(stderr, "error: send needs TOPIC and VALUE\n\n");
            goto bad;
        }
        rc = cmd_send(app, prog, pos[0], key, partition, pos[1]);
        if (rc == 2) goto bad_quiet;
    } else if (!strcmp(cmd, "table")) {
        if (npos < 1) {
            fprintf(stderr, "error: table needs NAME (and a KEY to read one)\n\n");
            goto bad;
        }
        rc = cmd_table(app, web, pos[0], npos > 1 ? pos[1] : NULL);
        if (rc == 2) goto bad_quiet;
    } else if (!strcmp(cmd, "topics") || !strcmp(cmd, "agents") ||
               !strcmp(cmd, "tables")) {
        if (npos) {
            fprintf(stderr, "error: %s takes no arguments\n\n", cmd);
            goto bad;
        }
        if (!strcmp(cmd, "topics"))
            list_topics(app);
        else if (!strcmp(cmd, "agents"))
            list_agents(app);
        else
            rill__tables_list(app);
    } else {
        fprintf(stderr, "error: unknown command '%s'\n\n", cmd);
        goto bad;
    }
out:
    rill_app_destroy(app);
    return rc;
bad:
    usage(stderr, prog, app);
bad_quiet:
    rill_app_destroy(app);
    return 2;
}
