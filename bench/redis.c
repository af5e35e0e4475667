/* redis-passthrough and redis-table-count: rill over Redis Streams against a bare
 * hiredis consumer on the same streams.
 *
 * The server is the one --broker redis://[:password@]host[:port][/db] names, else a
 * redis-server from PATH started here on a free 127.0.0.1 port in a fresh temp dir
 * (no persistence), stopped and removed at exit; with neither the scenarios are
 * skipped.  Each run FLUSHALLs the server (that of --broker too), then XADDs (untimed,
 * pipelined) N events to the P streams "<topic>:<p>" of one topic:
 *   redis-passthrough  100-byte values, round-robin over the partitions;
 *   redis-table-count  memory-table-count's JSON clicks of USERS users, keyed by
 *                      user, on the partition of the key.
 * rill then consumes them with one agent (app id = group), and the baseline reads
 * the same streams in a fresh group created at 0: pipelined (DEPTH reads in flight)
 * XREADGROUP GROUP g c COUNT 1000 STREAMS <all P streams> > ..., each reply's IDs
 * XACKed per stream; for table-count it also does memory-table-count's baseline work
 * (jansson decode + open-addressing hash-map increment).  Both sides are timed from
 * the first event to the last, so the group join and the table recovery are not
 * counted. */
#ifdef RILL_HAVE_REDIS
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rill/rill.h>

#include "bench.h"
#include "clicks.h"
#include "redis_server.h"

#define PARTS 16
#define VLEN 100
#define USERS 1000
#define BATCH 1000 /* COUNT of the baseline's XREADGROUP (rill's redis.batch default) */
#define DEPTH 2    /* baseline reads in flight */
#define LOAD_PIPE 10000
#define TIMEOUT_NS 60000000000ull

/* ---- the server
 * ---------------------------------------------------------------------------- */

typedef struct server {
    char host[256], password[256], url[600];
    int port, db;
    bool tried, ok;
    char why[200];
} server_t;

static server_t srv;

static bool on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        char f[1024];
        snprintf(f, sizeof f, "%.*s/%s", (int)(n ? n : 1), n ? path : ".", prog);
        if (access(f, X_OK) == 0) return true;
        path += n + (path[n] == ':');
    }
    return false;
}

/* A connection to the server, authenticated and on its db; NULL with @p why. */
static redisContext *connect_srv(int timeout_ms, char *why, size_t wlen) {
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(srv.host, srv.port, tv);
    if (!c || c->err) {
        snprintf(why, wlen, "cannot connect to redis at %.100s:%d: %.100s", srv.host,
                 srv.port, c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    redisReply *r = *srv.password ? redisCommand(c, "AUTH %s", srv.password)
                                  : redisCommand(c, "PING");
    if (r && r->type != REDIS_REPLY_ERROR && srv.db) {
        freeReplyObject(r);
        r = redisCommand(c, "SELECT %d", srv.db);
    }
    if (!r || r->type == REDIS_REPLY_ERROR) {
        snprintf(why, wlen, "redis at %.100s:%d: %.100s", srv.host, srv.port,
                 r ? r->str : c->errstr);
        if (r) freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    return c;
}

/* At exit: the server started here (the tests' harness) goes with its dir. */
static rill_test_redis_t *started;

static void server_stop(void) {
    rill_test_redis_destroy(started);
    started = NULL;
}

/* redis://[:password@]host[:port][/db] into srv; false when malformed. */
static bool parse_url(const char *url) {
    rill_url_t *u;
    char err[256];
    if (rill_url_parse(url, &u, err, sizeof err) != RILL_OK) return false;
    bool ok = *u->host && !strchr(u->authority, ',') && strlen(u->host) < sizeof srv.host;
    snprintf(srv.host, sizeof srv.host, "%s", u->host);
    snprintf(srv.password, sizeof srv.password, "%s", u->password ? u->password : "");
    srv.port = u->port ? u->port : 6379;
    if (*u->path && strcmp(u->path, "/")) {
        char *end;
        long db = strtol(u->path + 1, &end, 10);
        ok = ok && !*end && end != u->path + 1 && db >= 0;
        srv.db = (int)db;
    }
    rill_url_destroy(u);
    if (ok) snprintf(srv.url, sizeof srv.url, "%s", url);
    return ok;
}

/* The server of --broker redis://..., else one started here (once); false with
 * srv.why when there is none. */
static bool server_get(const bench_opts_t *o) {
    if (srv.tried) return srv.ok;
    srv.tried = true;
    if (o->broker && !strncmp(o->broker, "redis://", 8)) {
        if (!parse_url(o->broker)) {
            snprintf(srv.why, sizeof srv.why,
                     "--broker %.100s: expected redis://[:password@]host[:port][/db]",
                     o->broker);
            return false;
        }
        return srv.ok = true;
    }
    if (!on_path("redis-server")) {
        snprintf(srv.why, sizeof srv.why,
                 "no redis-server on PATH (or pass --broker redis://host:port)");
        return false;
    }
    if (!(started = rill_test_redis_start(false))) {
        snprintf(srv.why, sizeof srv.why, "redis-server did not start");
        return false;
    }
    atexit(server_stop);
    snprintf(srv.host, sizeof srv.host, "127.0.0.1");
    srv.port = rill_test_redis_port(started);
    snprintf(srv.url, sizeof srv.url, "%s", rill_test_redis_url(started));
    return srv.ok = true;
}

/* ---- loading the streams (untimed)
 * --------------------------------------------------------- */

typedef struct loader {
    redisContext *c;
    size_t pending;
    bool failed;
} loader_t;

static void load_drain(loader_t *l) {
    for (; l->pending; l->pending--) {
        redisReply *r = NULL;
        if (redisGetReply(l->c, (void **)&r) != REDIS_OK) {
            l->failed = true;
            l->pending = 0;
            return;
        }
        if (r->type == REDIS_REPLY_ERROR) l->failed = true;
        freeReplyObject(r);
    }
}

/* XADD <topic>:<part> * [key K] value V, pipelined. */
static void load_add(loader_t *l, const char *topic, int32_t part, const char *k,
                     size_t klen, const char *v, size_t vlen) {
    char stream[128];
    snprintf(stream, sizeof stream, "%s:%d", topic, (int)part);
    const char *argv[7] = {"XADD", stream, "*"};
    size_t lens[7] = {4, strlen(stream), 1};
    int a = 3;
    if (k) {
        argv[a] = "key";
        lens[a++] = 3;
        argv[a] = k;
        lens[a++] = klen;
    }
    argv[a] = "value";
    lens[a++] = 5;
    argv[a] = v;
    lens[a++] = vlen;
    redisAppendCommandArgv(l->c, a, argv, lens);
    if (++l->pending == LOAD_PIPE) load_drain(l);
}

/* FLUSHALL, then the events of the scenario into @p topic. */
static int load(const char *topic, uint64_t n, bool clicks, char *note, size_t nlen) {
    loader_t l = {.c = connect_srv(5000, note, nlen)};
    if (!l.c) return -1;
    redisReply *r = redisCommand(l.c, "FLUSHALL");
    if (!r || r->type == REDIS_REPLY_ERROR) {
        snprintf(note, nlen, "FLUSHALL: %s", r ? r->str : l.c->errstr);
        if (r) freeReplyObject(r);
        redisFree(l.c);
        return -1;
    }
    freeReplyObject(r);
    char v[VLEN];
    memset(v, 'x', sizeof v);
    for (uint64_t i = 0; i < n && !l.failed; i++) {
        if (!clicks) {
            load_add(&l, topic, (int32_t)(i % PARTS), NULL, 0, v, sizeof v);
            continue;
        }
        char user[16], js[128];
        int ulen = snprintf(user, sizeof user, "user-%d", (int)(i % USERS));
        int jlen = snprintf(js, sizeof js, "{\"user\":\"%s\",\"amount\":%llu}", user,
                            (unsigned long long)(i % 97));
        load_add(&l, topic, rill_partition_for_key(user, (size_t)ulen, PARTS), user,
                 (size_t)ulen, js, (size_t)jlen);
    }
    load_drain(&l);
    if (l.failed) snprintf(note, nlen, "XADD failed: %s", l.c->err ? l.c->errstr : "");
    redisFree(l.c);
    return l.failed ? -1 : 0;
}

/* ---- baseline: pipelined XREADGROUP + XACK
 * ------------------------------------------------- */

/* Work done per entry: @p fields is the entry's [field, value, ...] array. */
typedef bool (*entry_fn)(const redisReply *fields, void *opaque);

typedef struct raw {
    uint64_t got, bad, acked, t0, t1;
} raw_t;

enum { K_READ, K_ACK, FIFO = 1024 };

static int raw_consume(const char *topic, uint64_t n, entry_fn fn, void *opaque,
                       raw_t *st, char *note, size_t nlen) {
    redisContext *c = connect_srv(5000, note, nlen);
    if (!c) return -1;
    char keys[PARTS][128];
    char count[16];
    snprintf(count, sizeof count, "%d", BATCH);
    const char *rargv[9 + 2 * PARTS] = {"XREADGROUP", "GROUP", "g",      "c",
                                        "COUNT",      count,   "STREAMS"};
    int ra = 7;
    for (int p = 0; p < PARTS; p++) {
        snprintf(keys[p], sizeof keys[p], "%s:%d", topic, p);
        rargv[ra++] = keys[p];
        redisAppendCommand(c, "XGROUP CREATE %s g 0", keys[p]);
    }
    for (int p = 0; p < PARTS; p++)
        rargv[ra++] = ">";
    int rc = 0;
    for (int p = 0; p < PARTS; p++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || r->type == REDIS_REPLY_ERROR) {
            snprintf(note, nlen, "XGROUP CREATE: %s", r ? r->str : c->errstr);
            rc = -1;
        }
        if (r) freeReplyObject(r);
    }
    if (rc) {
        redisFree(c);
        return -1;
    }
    unsigned char kinds[FIFO];
    size_t head = 0, tail = 0;
    for (int i = 0; i < DEPTH; i++) {
        redisAppendCommandArgv(c, ra, rargv, NULL);
        kinds[tail++ % FIFO] = K_READ;
    }
    const char *aargv[3 + BATCH] = {"XACK", NULL, "g"};
    size_t alens[3 + BATCH] = {4, 0, 1};
    uint64_t deadline = bench_now_ns() + TIMEOUT_NS;
    bool more = true;
    while (head != tail) {
        int kind = kinds[head++ % FIFO];
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            snprintf(note, nlen, "raw consumer: %s", c->errstr);
            rc = -1;
            break;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(note, nlen, "raw consumer: %s: %s",
                     kind == K_READ ? "XREADGROUP" : "XACK", r->str);
            freeReplyObject(r);
            rc = -1;
            break;
        }
        if (kind == K_ACK) {
            st->acked += (uint64_t)r->integer;
            freeReplyObject(r);
            continue;
        }
        size_t ns = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        if (!ns) more = false; /* all read */
        for (size_t s = 0; s < ns; s++) {
            const redisReply *sr = r->element[s], *es = sr->element[1];
            aargv[1] = sr->element[0]->str;
            alens[1] = sr->element[0]->len;
            int a = 3;
            for (size_t e = 0; e < es->elements; e++) {
                const redisReply *en = es->element[e];
                if (!st->got && !st->bad) st->t0 = bench_now_ns();
                if (fn(en->element[1], opaque))
                    st->got++;
                else
                    st->bad++;
                aargv[a] = en->element[0]->str;
                alens[a++] = en->element[0]->len;
            }
            st->t1 = bench_now_ns();
            if (a > 3) {
                redisAppendCommandArgv(c, a, aargv, alens);
                kinds[tail++ % FIFO] = K_ACK;
            }
        }
        freeReplyObject(r);
        if (st->got + st->bad >= n || bench_now_ns() > deadline) more = false;
        if (more) {
            redisAppendCommandArgv(c, ra, rargv, NULL);
            kinds[tail++ % FIFO] = K_READ;
        }
    }
    redisFree(c);
    if (!rc && (st->got + st->bad != n || st->acked != n)) {
        snprintf(note, nlen, "raw consumer read %llu and XACKed %llu of %llu entries",
                 (unsigned long long)(st->got + st->bad), (unsigned long long)st->acked,
                 (unsigned long long)n);
        rc = -1;
    }
    return rc;
}

static const redisReply *field(const redisReply *f, const char *name, size_t len) {
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (f->element[i]->len == len && !memcmp(f->element[i]->str, name, len))
            return f->element[i + 1];
    return NULL;
}

static bool sum_value(const redisReply *f, void *opaque) {
    const redisReply *v = field(f, "value", 5);
    if (!v) return false;
    *(uint64_t *)opaque += v->len;
    return true;
}

static bool count_json(const redisReply *f, void *opaque) {
    const redisReply *v = field(f, "value", 5);
    if (!v) return false;
    json_error_t e;
    json_t *j = json_loadb(v->str, v->len, 0, &e);
    const char *u = j ? json_string_value(json_object_get(j, "user")) : NULL;
    if (u) bench_map_incr(opaque, u);
    json_decref(j);
    return u != NULL;
}

/* ---- rill
 * ---------------------------------------------------------------------------------- */

/* One app with one agent over @p topic (counting, or table[user] += 1 with
 * @p clicks), run until it has handled @p n events. */
static int run_rill(const bench_opts_t *o, const char *topic, uint64_t n, bool clicks,
                    double *secs, char *note, size_t nlen) {
    static unsigned run;
    char id[64], err[512], st[512];
    snprintf(id, sizeof id, "bench-redis-%s-%u", clicks ? "tc" : "pass", ++run);
    bench_fresh_store(o->store && clicks ? o->store : "memory://", st, sizeof st,
                      "rcount");
    rill_conf_t *c = rill_conf_new();
    rill_conf_set(c, "broker", srv.url, err, sizeof err);
    rill_conf_set(c, "log.level", "error", err, sizeof err);
    rill_conf_set(c, "forward.delayed", "off", err, sizeof err);
    if (rill_conf_set(c, "store", st, err, sizeof err) != RILL_CONF_OK) {
        snprintf(note, nlen, "%.200s", err);
        rill_conf_destroy(c);
        return -1;
    }
    rill_app_t *app = rill_app_new(id, c, err, sizeof err);
    if (!app) {
        snprintf(note, nlen, "%.200s", err);
        rill_conf_destroy(c);
        bench_rm_store(st);
        return -1;
    }
    /* the compound literal lives in this block: rill_app_topic() copies it */
    rill_topic_opts_t to = {.partitions = PARTS,
                            .value_type =
                                clicks ? RILL_TYPE_RECORD(&bench_click_schema) : NULL,
                            .value_serializer = clicks ? "json" : NULL};
    rill_topic_t *t = rill_app_topic(app, topic, &to);
    bench_counter_t cx = {0};
    if (clicks && t) {
        rill_table_opts_t tab = {.value_type = &rill_type_int64, .source = t};
        cx.table = rill_app_table(app, "counts", &tab);
    }
    *err = 0;
    if (!t || (clicks && !cx.table) ||
        !rill_app_agent(app, "count", t, clicks ? bench_count_click : bench_count_event,
                        &cx, NULL) ||
        rill_app_start(app, err, sizeof err) != RILL_OK) {
        snprintf(note, nlen, "%.200s", *err ? err : rill_app_errmsg(app));
        rill_app_destroy(app);
        bench_rm_store(st);
        return -1;
    }
    struct event_base *base = rill_app_base(app);
    uint64_t deadline = bench_now_ns() + TIMEOUT_NS;
    while (cx.got < n && bench_now_ns() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    *secs = (double)(cx.t1 - cx.t0) / 1e9;
    int rc = 0;
    if (clicks) {
        uint64_t keys;
        int64_t sum;
        bench_table_total(cx.table, &keys, &sum);
        if (cx.got != n || cx.errors || sum != (int64_t)n || keys != USERS) {
            snprintf(note, nlen,
                     "rill handled %llu of %llu events (%llu table errors, last %s); "
                     "the table counts %lld over %llu keys",
                     (unsigned long long)cx.got, (unsigned long long)n,
                     (unsigned long long)cx.errors,
                     cx.errors ? rill_err_name(cx.last_err) : "none", (long long)sum,
                     (unsigned long long)keys);
            rc = -1;
        }
    } else if (cx.got != n || cx.bytes != n * VLEN) {
        snprintf(note, nlen, "rill consumed %llu of %llu events (%llu bytes)",
                 (unsigned long long)cx.got, (unsigned long long)n,
                 (unsigned long long)cx.bytes);
        rc = -1;
    }
    rill_app_stop(app);
    event_base_dispatch(base); /* returns once the stop is done */
    rill_app_destroy(app);
    bench_rm_store(st);
    return rc;
}

/* ---- the scenarios
 * ------------------------------------------------------------------------- */

static int run_raw(const char *topic, uint64_t n, bool clicks, double *secs, char *note,
                   size_t nlen) {
    raw_t st = {0};
    int rc;
    if (!clicks) {
        uint64_t bytes = 0;
        rc = raw_consume(topic, n, sum_value, &bytes, &st, note, nlen);
        if (!rc && (st.bad || bytes != n * VLEN)) {
            snprintf(note, nlen, "raw consumer got %llu values (%llu bytes) of %llu",
                     (unsigned long long)st.got, (unsigned long long)bytes,
                     (unsigned long long)n);
            rc = -1;
        }
    } else {
        bench_map_t m;
        if (bench_map_init(&m, 4096) != 0) return -1; /* > 2 * USERS: short probes */
        rc = raw_consume(topic, n, count_json, &m, &st, note, nlen);
        uint64_t keys;
        int64_t sum;
        bench_map_finish(&m, &keys, &sum);
        if (!rc && (st.bad || sum != (int64_t)n || keys != USERS)) {
            snprintf(note, nlen,
                     "raw counted %lld of %llu events (%llu undecodable) over %llu keys",
                     (long long)sum, (unsigned long long)n, (unsigned long long)st.bad,
                     (unsigned long long)keys);
            rc = -1;
        }
    }
    *secs = (double)(st.t1 - st.t0) / 1e9;
    return rc;
}

static int run_both(const bench_opts_t *o, bench_result_t *r, bool clicks) {
    uint64_t n = o->events ? o->events : 200000;
    if (!server_get(o)) {
        snprintf(r->note, sizeof r->note, "%s", srv.why);
        return BENCH_SKIPPED;
    }
    const char *topic = clicks ? "bench-clicks" : "bench-pass";
    const char *name = clicks ? "redis-table-count" : "redis-passthrough";
    double rs[99], bs[99];
    for (int i = 0; i < o->repeat; i++) {
        if (load(topic, n, clicks, r->note, sizeof r->note) != 0 ||
            run_raw(topic, n, clicks, &bs[i], r->note, sizeof r->note) != 0 ||
            run_rill(o, topic, n, clicks, &rs[i], r->note, sizeof r->note) != 0) {
            fprintf(stderr, "%s: error: %s\n", name, r->note);
            return -1;
        }
    }
    r->transport = "redis";
    r->store = !clicks                                        ? ""
               : o->store && !strncmp(o->store, "rocksdb", 7) ? "rocksdb"
                                                              : "memory";
    r->serializer = clicks ? "json" : "raw";
    r->events = n;
    r->seconds = bench_median(rs, o->repeat);
    r->baseline_seconds = bench_median(bs, o->repeat);
    snprintf(r->note, sizeof r->note,
             "%d partitions; baseline: hiredis XREADGROUP COUNT %d x%d pipelined + "
             "XACK%s",
             PARTS, BATCH, DEPTH, clicks ? " + jansson decode + hash-map increment" : "");
    return 0;
}

static int run_pass(const bench_opts_t *o, bench_result_t *r) {
    return run_both(o, r, false);
}

static int run_count(const bench_opts_t *o, bench_result_t *r) {
    return run_both(o, r, true);
}

const bench_scenario_t bench_redis_passthrough = {
    .name = "redis-passthrough",
    .description = "consume 100-byte events from Redis Streams through an agent vs "
                   "pipelined hiredis XREADGROUP+XACK",
    .run = run_pass,
};

const bench_scenario_t bench_redis_table_count = {
    .name = "redis-table-count",
    .description = "JSON records from Redis Streams -> table increment vs "
                   "XREADGROUP+XACK+jansson+hashmap",
    .run = run_count,
};
#endif
