/* Membership for routed table lookups (docs/web.md, "Routing"): each worker with
 * a web server publishes what it owns to "<app>-__workers" and reads everyone's
 * entries back outside the group.  Layer 6 (docs/architecture.md): the
 * consumer's handlers call it; it uses the transport (backend) and the timers.
 *
 * Liveness: each worker refreshes its entry every third of web.workers.expiry.ms
 * (same claims, same generation); an entry not read again within the expiry is a
 * worker that died without its tombstone (SIGKILL, a lost machine) and is left
 * out of routing, /router's count and the dashboard.  Ages are measured on this
 * worker's clock, from when the entry was read, so clocks need not agree. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend_int.h"
#include "consumer_int.h"
#include "table_int.h"
#include "timer_int.h"
#include "topic_int.h"
#include "workers_int.h"

#define TICK_MS 1000 /* a missed change (a recovery finishing) is published by then */

typedef struct entry {
    char *client_id;
    char *url;
    uint64_t gen;
    int64_t time_ms;
    uint64_t seen_ns;    /* read here last (rill_mono_ns) */
    uint32_t partitions; /* consumed partitions it claims ("topics") */
    json_t
        *tables; /* {"<table>": {"active": [..], "recovering": [..], "standby": [..]}} */
    struct entry *next;
} entry_t;

typedef struct rill_workers {
    rill_app_t *app;
    rill_timer_t *stop_hook; /* registered with app: proves the state is this app's */
    void (*prev_finish)(rill_app_t *app);
    char *topic; /* "<app>-__workers" */
    char url[300];
    rill_reader_t *reader; /* the topic's, this worker's own */
    bool caught_up, dirty, broken;
    uint64_t max_gen;
    char *published;   /* claims last published (JSON), NULL: none yet */
    uint64_t pub_gen;  /* the generation they were published with */
    uint64_t pub_ns;   /* when (rill_mono_ns) */
    int64_t expiry_ms; /* web.workers.expiry.ms */
    entry_t *entries;
    rill_timer_t *tick; /* an app timer: it dies with the app, even a destroyed one */
} rill_workers_t;

static void on_stop(rill_app_t *app, void *opaque);

static rill_workers_t *state_of(rill_app_t *app) {
    return app->workers;
}

static void entry_free(entry_t *e) {
    free(e->client_id);
    free(e->url);
    if (e->tables) json_decref(e->tables);
    free(e);
}

/* @p t is still one of the app's timers (a destroyed app freed them first). */
static bool timer_alive(const rill_app_t *app, const rill_timer_t *t) {
    for (const rill_timer_t *x = app->timers; t && x; x = x->next)
        if (x == t) return true;
    return false;
}

static void state_free(rill_workers_t *s) {
    rill_app_t *app = s->app;
    if (app->workers == s) app->workers = NULL;
    if (app->hooks.finish != s->prev_finish) app->hooks.finish = s->prev_finish;
    if (timer_alive(app, s->stop_hook))
        s->stop_hook->opaque = NULL; /* runs into nothing */
    if (s->reader && app->transport) rill__tr_reader_close(s->reader);
    s->reader = NULL;
    if (timer_alive(app, s->tick)) s->tick->opaque = NULL;
    while (s->entries) {
        entry_t *e = s->entries;
        s->entries = e->next;
        entry_free(e);
    }
    free(s->published);
    free(s->topic);
    free(s);
}

void rill__workers_free(rill_app_t *app) {
    rill_workers_t *s = state_of(app);
    if (s) state_free(s);
}

/* The app failed (or finish ran for a stop): nothing more is published. */
static void on_finish(rill_app_t *app) {
    rill_workers_t *s = state_of(app);
    void (*prev)(rill_app_t *) = s ? s->prev_finish : NULL;
    if (s) state_free(s);
    if (prev) prev(app);
}

/* ---- what this worker owns
 * ---------------------------------------------------------------- */

static json_t *claims(rill_app_t *app) {
    json_t *root = json_object(), *tables = json_object(), *topics = json_object();
    for (rill_table_t *t = app->tables; t; t = t->next) {
        if (!t->parts) continue;
        json_t *o = json_object(), *a = json_array(), *r = json_array(),
               *sb = json_array();
        for (int32_t p = 0; p < t->partitions; p++) {
            rill_tpart_state_t st = t->parts[p].state;
            json_t *into = st == RILL_TP_ACTIVE       ? a
                           : st == RILL_TP_RECOVERING ? r
                           : st == RILL_TP_STANDBY    ? sb
                                                      : NULL;
            if (into) json_array_append_new(into, json_integer(p));
        }
        json_object_set_new(o, "partitions", json_integer(t->partitions));
        json_object_set_new(o, "active", a);
        json_object_set_new(o, "recovering", r);
        json_object_set_new(o, "standby", sb);
        json_object_set_new(tables, t->name, o);
    }
    for (rill_topic_t *t = app->topics; t; t = t->next) {
        if (!t->parts || t->channel || !t->nagents) continue;
        json_t *a = json_array();
        for (int32_t p = 0; p < t->partitions; p++)
            if (t->parts[p].assigned && !t->parts[p].lost)
                json_array_append_new(a, json_integer(p));
        json_object_set_new(topics, t->name, a);
    }
    json_object_set_new(root, "tables", tables);
    json_object_set_new(root, "topics", topics);
    return root;
}

static void on_delivered(rill_err_t err, const char *errmsg, int32_t partition,
                         int64_t offset, void *opaque) {
    (void)partition;
    (void)offset;
    rill_app_t *app = opaque;
    if (err == RILL_OK) return;
    rill__log(app, RILL_LOG_WARN, "workers topic: an entry was not written: %s (%s)",
              errmsg ? errmsg : "", rill_err2str(err));
    rill_workers_t *s = state_of(app);
    if (s) {
        free(s->published);
        s->published = NULL; /* written again at the next tick */
    }
}

static rill_err_t produce(rill_workers_t *s, const char *value) {
    rill_app_t *app = s->app;
    rill_produce_t m = {
        .topic = s->topic,
        .partition = 0,
        .key = app->client_id,
        .key_len = strlen(app->client_id),
        .value = value,
        .value_len = value ? strlen(value) : 0,
    };
    return rill__tr_produce(app->transport, &m, on_delivered, app);
}

/* Publish this worker's claims when they changed (only once the topic has been
 * read to its end: the generation must outrank every entry already there), and
 * unchanged with their generation every third of the expiry (liveness). */
static void publish_if_changed(rill_workers_t *s) {
    rill_app_t *app = s->app;
    if (s->broken || !s->caught_up || app->state != RILL_APP_RUNNING) return;
    json_t *c = claims(app);
    char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    bool same = text && s->published && !strcmp(text, s->published);
    bool refresh =
        same && (rill_mono_ns() - s->pub_ns) / 1000000 >= (uint64_t)(s->expiry_ms / 3);
    if (!text || (same && !refresh)) {
        free(text);
        json_decref(c);
        return;
    }
    uint64_t gen = refresh ? s->pub_gen : s->max_gen + 1;
    json_object_set_new(c, "client_id", json_string(app->client_id));
    json_object_set_new(c, "url", json_string(s->url));
    json_object_set_new(c, "generation", json_integer((json_int_t)gen));
    json_object_set_new(c, "time_ms", json_integer(rill_now_ms()));
    char *value = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    rill_err_t rc = value ? produce(s, value) : RILL_ENOMEM;
    free(value);
    if (rc != RILL_OK) { /* EFULL and the like: the next tick tries again */
        free(text);
        return;
    }
    if (gen > s->max_gen) s->max_gen = gen;
    s->pub_gen = gen;
    s->pub_ns = rill_mono_ns();
    free(s->published);
    s->published = text;
}

static void on_tick(rill_app_t *app, void *opaque) {
    (void)app;
    if (opaque) publish_if_changed(opaque);
}

/* A clean stop: the tombstone goes out with the stop's flush. */
static void on_stop(rill_app_t *app, void *opaque) {
    rill_workers_t *s = opaque;
    if (!s) return;
    if (s->caught_up && !s->broken && produce(s, NULL) != RILL_OK)
        rill__log(app, RILL_LOG_WARN, "workers topic: cannot write the tombstone of %s",
                  app->client_id);
    s->stop_hook = NULL;
    state_free(s);
}

/* ---- start
 * ---------------------------------------------------------------- */

static void self_url(rill_app_t *app, char *out, size_t n) {
    const char *adv = rill_conf_get(app->conf, "web.advertised_url");
    if (adv && *adv) { /* checked by rill_app_start */
        size_t l = strlen(adv);
        while (l > 0 && adv[l - 1] == '/')
            l--; /* entries hold no trailing slash */
        snprintf(out, n, "%.*s", (int)l, adv);
        return;
    }
    const char *host = rill_conf_get(app->conf, "web.host");
    char name[256];
    if (!host || !*host) host = "127.0.0.1";
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::")) {
        if (gethostname(name, sizeof name - 1)) snprintf(name, sizeof name, "localhost");
        name[sizeof name - 1] = '\0';
        host = name;
    }
    long long port = (long long)rill_conf_get_int(app->conf, "web.port", 0);
    if (strchr(host, ':'))
        snprintf(out, n, "http://[%s]:%lld", host, port);
    else
        snprintf(out, n, "http://%s:%lld", host, port);
}

static const rill_reader_handlers_t topic_reader;

static rill_workers_t *start(rill_app_t *app) {
    rill_workers_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->app = app;
    size_t tl = strlen(app->id) + sizeof "-__workers";
    s->topic = malloc(tl);
    if (!s->topic || rill_app_on_stop(app, on_stop, s) != RILL_OK) {
        free(s->topic);
        free(s);
        return NULL;
    }
    for (rill_timer_t *t = app->timers; t; t = t->next)
        if (t->fn == on_stop && t->opaque == s) s->stop_hook = t;
    snprintf(s->topic, tl, "%s-__workers", app->id);
    self_url(app, s->url, sizeof s->url);
    s->expiry_ms = rill_conf_get_int(app->conf, "web.workers.expiry.ms", 60000);
    s->prev_finish = app->hooks.finish;
    app->hooks.finish = on_finish;
    app->workers = s;

    char err[256] = "";
    int32_t parts = 0;
    rill_topic_spec_t spec = {.name = s->topic, .partitions = 1, .compacted = true};
    rill_err_t rc = rill__tr_declare(app->transport, &spec, &parts, err, sizeof err);
    if (rc == RILL_OK)
        rc = rill__tr_reader_open(app->transport, s->topic, 0, RILL_OFFSET_BEGINNING,
                                  &topic_reader, s, &s->reader);
    if (rc != RILL_OK) {
        rill__log(app, RILL_LOG_WARN,
                  "workers topic %s: %s%s; table lookups are answered only for the "
                  "partitions this worker owns",
                  s->topic, err[0] ? err : rill_err2str(rc), err[0] ? "" : "");
        s->broken = true;
        return s;
    }
    int64_t tick_ms = s->expiry_ms / 3 < TICK_MS ? s->expiry_ms / 3 : TICK_MS;
    s->tick = rill_app_timer(app, "rill-workers", (double)tick_ms / 1000.0, on_tick, s);
    return s;
}

void rill__workers_changed(rill_app_t *app) {
    if (app->state != RILL_APP_RUNNING || !app->transport || !app->web || !app->tables)
        return;
    rill_workers_t *s = state_of(app);
    if (!s && !(s = start(app))) {
        rill__log(app, RILL_LOG_WARN, "workers topic: out of memory");
        return;
    }
    publish_if_changed(s);
}

/* ---- reading the topic
 * ---------------------------------------------------------------- */

static char *dupn(const void *p, size_t n) {
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void apply(rill_workers_t *s, const rill_msg_t *m) {
    if (!m->key || !m->key_len) return;
    entry_t **pp = &s->entries;
    while (*pp && !((*pp)->client_id && strlen((*pp)->client_id) == m->key_len &&
                    !memcmp((*pp)->client_id, m->key, m->key_len)))
        pp = &(*pp)->next;
    if (*pp) { /* replaced (or deleted) */
        entry_t *old = *pp;
        *pp = old->next;
        entry_free(old);
    }
    if (!m->value) return; /* a tombstone: that worker stopped cleanly */
    json_error_t jerr;
    json_t *v = json_loadb(m->value, m->value_len, 0, &jerr);
    json_t *url = v ? json_object_get(v, "url") : NULL;
    json_t *gen = v ? json_object_get(v, "generation") : NULL;
    json_t *tables = v ? json_object_get(v, "tables") : NULL;
    entry_t *e = calloc(1, sizeof *e);
    if (!e || !json_is_string(url) || !json_is_integer(gen) || !json_is_object(tables) ||
        !(e->client_id = dupn(m->key, m->key_len)) ||
        !(e->url = strdup(json_string_value(url)))) {
        rill__log(s->app, RILL_LOG_WARN,
                  "workers topic %s: entry at offset %lld is not a worker entry: ignored",
                  s->topic, (long long)m->offset);
        if (e) entry_free(e);
        if (v) json_decref(v);
        return;
    }
    e->gen = (uint64_t)json_integer_value(gen);
    json_t *tm = json_object_get(v, "time_ms");
    e->time_ms = json_is_integer(tm) ? (int64_t)json_integer_value(tm) : 0;
    e->tables = json_incref(tables);
    e->seen_ns = rill_mono_ns();
    json_t *topics = json_object_get(v, "topics"), *parts;
    const char *tn;
    json_object_foreach(topics, tn, parts) e->partitions +=
        (uint32_t)json_array_size(parts);
    json_decref(v);
    if (e->gen > s->max_gen) s->max_gen = e->gen;
    e->next = s->entries;
    s->entries = e;
}

static void on_topic(rill_reader_t *r, const rill_msg_t *msgs, size_t n, void *opaque) {
    (void)r;
    rill_workers_t *s = opaque;
    for (size_t i = 0; i < n; i++)
        apply(s, &msgs[i]);
}

static void on_topic_eof(rill_reader_t *r, int64_t end, void *opaque) {
    (void)r, (void)end;
    rill_workers_t *s = opaque;
    if (!s->caught_up) {
        s->caught_up = true;
        publish_if_changed(s);
    }
}

static const rill_reader_handlers_t topic_reader = {on_topic, on_topic_eof};

/* ---- answers
 * ---------------------------------------------------------------- */

static bool has(json_t *tables, const char *table, const char *role, int32_t p) {
    json_t *a = json_object_get(json_object_get(tables, table), role);
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) if (json_is_integer(x) &&
                                    json_integer_value(x) == p) return true;
    return false;
}

/* Heard from within the expiry (this worker's own entry always is). */
static bool alive(const rill_workers_t *s, const entry_t *e) {
    return !strcmp(e->client_id, s->app->client_id) ||
           (rill_mono_ns() - e->seen_ns) / 1000000 <= (uint64_t)s->expiry_ms;
}

static bool outranks(const entry_t *a, const entry_t *b) {
    if (!b) return true;
    if (a->gen != b->gen) return a->gen > b->gen;
    if (a->time_ms != b->time_ms) return a->time_ms > b->time_ms;
    return strcmp(a->client_id, b->client_id) > 0;
}

rill_owner_state_t rill__workers_owner(rill_app_t *app, const char *table, int32_t p,
                                       bool standby, bool others_only,
                                       rill_worker_info_t *who) {
    rill_workers_t *s = state_of(app);
    if (!s) return RILL_OWNER_UNKNOWN;
    const entry_t *best = NULL;
    bool recovering = false;
    for (const entry_t *e = s->entries; e; e = e->next) {
        if (others_only && !strcmp(e->client_id, app->client_id)) continue;
        if (!alive(s, e)) continue;
        bool act = false, rec = false;
        if (standby) {
            act = has(e->tables, table, "standby", p);
        } else {
            act = has(e->tables, table, "active", p);
            rec = !act && has(e->tables, table, "recovering", p);
        }
        if ((act || rec) && outranks(e, best)) {
            best = e;
            recovering = rec;
        }
    }
    if (!best) return RILL_OWNER_UNKNOWN;
    who->client_id = best->client_id;
    who->url = best->url;
    who->generation = best->gen;
    who->time_ms = best->time_ms;
    return recovering ? RILL_OWNER_RECOVERING : RILL_OWNER_ACTIVE;
}

const char *rill__workers_self_url(rill_app_t *app) {
    rill_workers_t *s = state_of(app);
    return s ? s->url : "";
}

bool rill__workers_caught_up(rill_app_t *app) {
    rill_workers_t *s = state_of(app);
    return s && s->caught_up;
}

size_t rill__workers_count(rill_app_t *app) {
    return rill__workers_list(app, NULL, 0);
}

static rill_worker_info_t info(const rill_workers_t *s, const entry_t *e) {
    return (rill_worker_info_t){
        .client_id = e->client_id,
        .url = e->url,
        .generation = e->gen,
        .time_ms = e->time_ms,
        .seen_ms_ago = (int64_t)((rill_mono_ns() - e->seen_ns) / 1000000),
        .partitions = e->partitions,
        .self = !strcmp(e->client_id, s->app->client_id),
    };
}

size_t rill__workers_list(rill_app_t *app, rill_worker_info_t *out, size_t max) {
    rill_workers_t *s = state_of(app);
    size_t n = 0;
    for (int self = 1; self >= 0; self--) /* this worker's entry first */
        for (const entry_t *e = s ? s->entries : NULL; e; e = e->next) {
            bool is_self = !strcmp(e->client_id, app->client_id);
            if (!alive(s, e) || is_self != (self == 1)) continue;
            if (n < max) out[n] = info(s, e);
            n++;
        }
    return n;
}
