/* redis:// — Redis Streams over hiredis's async API on the app's libevent loop.
 *
 * redis://[:password@]host:port[/db].  A topic with P partitions is P streams named
 * "<topic>:<p>"; an entry's fields are key, value, headers (a JSON object) and ts
 * (producer timestamp, ms), each left out when absent.  Offsets are stream IDs
 * packed into an int64 (see rill__redis_id_parse).  Groups, partition ownership and
 * commits are in redis_group.c, reading in redis_fetch.c; docs/redis.md has the
 * whole key layout. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>
#include <hiredis/sds.h>
#include <jansson.h>

#include "redis_int.h"

static const rill_prop_t redis_props[] = {
    {"timeout.ms", RILL_PROP_INT, "5000", offsetof(rctx_t, timeout_ms),
     "Bound of connecting and of blocking calls (declare, committed, watermarks)"},
    {"session.timeout.ms", RILL_PROP_INT, "10000", offsetof(rctx_t, session_ms),
     "A member that does not heartbeat this long loses its partitions to the others"},
    {"heartbeat.interval.ms", RILL_PROP_INT, "1000", offsetof(rctx_t, heartbeat_ms),
     "How often a member refreshes its membership and ownership keys and rebalances"},
    {"batch", RILL_PROP_INT, "1000", offsetof(rctx_t, batch),
     "Entries per stream per XREAD/XREADGROUP (COUNT)"},
    {"block.ms", RILL_PROP_INT, "2000", offsetof(rctx_t, block_ms),
     "Server-side BLOCK of an idle read (woken early by CLIENT UNBLOCK)"},
    {"maxlen", RILL_PROP_INT, "0", offsetof(rctx_t, maxlen),
     "XADD MAXLEN ~ trimming of non-compacted topics (0: never trim)"},
    {"queue.max", RILL_PROP_INT, "100000", offsetof(rctx_t, queue_max),
     "Produces awaiting their XADD reply before produce() returns RILL_EFULL"},
    {"partitions", RILL_PROP_INT, "8", offsetof(rctx_t, partitions_default),
     "Partitions of a topic declared without a count"},
    {"group", RILL_PROP_STR, "", offsetof(rctx_t, xgroup_conf),
     "Redis consumer group of the consumed streams (default: the app id); an existing "
     "group's position is where a partition without a committed ID starts"},
    {NULL},
};

/* ---- offsets <-> stream IDs ----------------------------------------------------- */

int64_t rill__redis_id_parse(const char *s, size_t len) {
    uint64_t ms = 0, seq = 0;
    size_t i = 0;
    if (!len) return -1;
    /* past the limit a number only has to stay past it: it never wraps round */
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        if (!(ms >> RILL_REDIS_MS_BITS)) ms = ms * 10 + (uint64_t)(s[i] - '0');
    if (i == 0 || i == len || s[i] != '-') return -1;
    size_t j = ++i;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        if (!(seq >> RILL_REDIS_SEQ_BITS)) seq = seq * 10 + (uint64_t)(s[i] - '0');
    if (i == j || i != len) return -1;
    /* 43 bits of milliseconds (until year 2248) and 20 of sequence */
    if (ms >> RILL_REDIS_MS_BITS || seq >> RILL_REDIS_SEQ_BITS) return -1;
    int64_t off = (int64_t)(ms << RILL_REDIS_SEQ_BITS | seq);
    return off == INT64_MAX ? -1 : off; /* its next offset would not exist */
}

void rill__redis_id_format(int64_t off, char *buf, size_t n) {
    if (off < 0) off = 0;
    snprintf(buf, n, "%llu-%llu",
             (unsigned long long)((uint64_t)off >> RILL_REDIS_SEQ_BITS),
             (unsigned long long)((uint64_t)off & ((1u << RILL_REDIS_SEQ_BITS) - 1)));
}

/* ---- errors -------------------------------------------------------------------- */

void rill__redis_fail(rctx_t *r, rill_err_t err, bool fatal, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->closing) return;
    rill_log(r->t->log, fatal ? RILL_LOG_FATAL : RILL_LOG_WARN, r->t->name, "%s", msg);
    if (r->t->h && r->t->h->error) r->t->h->error(r->t, err, fatal, msg, r->t->h->opaque);
}

/* ---- async connections --------------------------------------------------------- */

static void conn_start(rconn_t *c);

static void down_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rctx_t *r = arg;
    rill__redis_fail(r, RILL_ETRANSPORT, true,
                     "redis at %s unreachable for %lld ms (broker.timeout.ms)", r->where,
                     (long long)r->broker_timeout_ms);
}

static void mark_down(rconn_t *c, const char *why) {
    rctx_t *r = c->r;
    c->ac = NULL;
    c->ready = c->busy = c->blocking = false;
    if (r->closing) return;
    if (!r->down_since_ns) {
        r->down_since_ns = rill_mono_ns();
        rill_log(r->t->log, RILL_LOG_WARN, r->t->name,
                 "redis at %s: %s connection lost (%s); reconnecting", r->where, c->role,
                 why);
        struct timeval tv = {r->broker_timeout_ms / 1000,
                             (r->broker_timeout_ms % 1000) * 1000};
        evtimer_add(r->down_ev, &tv);
    }
    struct timeval retry = {0, 250000};
    evtimer_add(c->retry_ev, &retry);
}

static void check_up(rctx_t *r) {
    if (r->down_since_ns && r->cmd.ready && r->grp.ready && r->tail.ready) {
        rill_log(r->t->log, RILL_LOG_INFO, r->t->name,
                 "redis at %s: reconnected after %llu ms", r->where,
                 (unsigned long long)((rill_mono_ns() - r->down_since_ns) / 1000000));
        r->down_since_ns = 0;
        evtimer_del(r->down_ev);
    }
}

static void on_client_id(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    rconn_t *c = priv;
    redisReply *rep = reply;
    if (!rep || c->r->closing) return;
    if (rep->type != REDIS_REPLY_INTEGER) {
        /* AUTH or SELECT failed before this: their error is the reason */
        return;
    }
    c->id = rep->integer;
    c->ready = true;
    check_up(c->r);
    if (c->on_ready) c->on_ready(c);
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    rconn_t *c = priv;
    redisReply *rep = reply;
    if (rep && rep->type == REDIS_REPLY_ERROR && !c->r->closing)
        rill__redis_fail(c->r, RILL_ETRANSPORT, true, "redis at %s: %s", c->r->where,
                         rep->str);
}

static void on_connect(const redisAsyncContext *ac, int status) {
    rconn_t *c = ac->data;
    if (status != REDIS_OK) mark_down(c, ac->errstr);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    rconn_t *c = ac->data;
    if (c->ac != ac) return;
    mark_down(c, status == REDIS_OK ? "closed" : ac->errstr);
    if (c == &c->r->grp || c == &c->r->tail) rill__redis_kick(c->r); /* reread safely */
}

static void conn_start(rconn_t *c) {
    rctx_t *r = c->r;
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac) {
        mark_down(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        mark_down(c, why);
        return;
    }
    ac->data = c;
    redisLibeventAttach(ac, r->t->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    if (r->password) {
        const char *argv[] = {"AUTH", r->password};
        redisAsyncCommandArgv(ac, on_setup_reply, c, 2, argv, NULL);
    }
    if (r->db) redisAsyncCommand(ac, on_setup_reply, c, "SELECT %d", r->db);
    redisAsyncCommand(ac, on_setup_reply, c, "CLIENT SETNAME %s-%s", "rill", c->role);
    redisAsyncCommand(ac, on_client_id, c, "CLIENT ID");
}

static void conn_retry(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rconn_t *c = arg;
    if (!c->ac && !c->r->closing) conn_start(c);
}

bool rill__redis_send(rconn_t *c, redisCallbackFn *fn, void *priv, int argc,
                      const char **argv, const size_t *lens) {
    if (!c->ac || !c->ready) return false;
    return redisAsyncCommandArgv(c->ac, fn, priv, argc, argv, lens) == REDIS_OK;
}

void rill__redis_unblock(rctx_t *r, rconn_t *c) {
    if (!c->busy || !r->cmd.ready) return;
    char id[32];
    snprintf(id, sizeof id, "%lld", c->id);
    const char *argv[] = {"CLIENT", "UNBLOCK", id};
    c->blocking = false; /* woken: kick() does not send another */
    rill__redis_send(&r->cmd, NULL, NULL, 3, argv, NULL);
}

/* ---- the blocking connection ---------------------------------------------------- */

static bool sync_connect(rctx_t *r, char *errstr, size_t errlen) {
    if (r->sync && !r->sync->err) return true;
    if (r->sync) redisFree(r->sync);
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    r->sync = redisConnectWithTimeout(r->host, r->port, tv);
    if (!r->sync || r->sync->err) {
        snprintf(errstr, errlen, "cannot connect to redis at %s: %s", r->where,
                 r->sync ? r->sync->errstr : "out of memory");
        if (r->sync) redisFree(r->sync);
        r->sync = NULL;
        return false;
    }
    redisSetTimeout(r->sync, tv);
    redisReply *rep = NULL;
    if (r->password) {
        const char *argv[] = {"AUTH", r->password};
        rep = redisCommandArgv(r->sync, 2, argv, NULL);
    } else {
        rep = redisCommand(r->sync, "PING");
    }
    if (rep && rep->type != REDIS_REPLY_ERROR && r->db) {
        freeReplyObject(rep);
        rep = redisCommand(r->sync, "SELECT %d", r->db);
    }
    if (rep && rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "LOADING", 7) &&
        !r->sync_loading) {
        /* a server restarting with AOF or RDB: wait for it, within redis.timeout.ms */
        freeReplyObject(rep);
        redisFree(r->sync);
        r->sync = NULL;
        r->sync_loading = true;
        uint64_t end = rill_mono_ns() + (uint64_t)r->timeout_ms * 1000000u;
        bool ok = false;
        while (!ok && rill_mono_ns() < end) {
            poll(NULL, 0, 100);
            ok = sync_connect(r, errstr, errlen);
            if (!ok && !strstr(errstr, "LOADING")) break;
        }
        r->sync_loading = false;
        return ok;
    }
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errlen, "redis at %s: %s", r->where,
                 rep ? rep->str : r->sync->errstr);
        if (rep) freeReplyObject(rep);
        redisFree(r->sync);
        r->sync = NULL;
        return false;
    }
    freeReplyObject(rep);
    return true;
}

redisReply *rill__redis_sync(rctx_t *r, char *errstr, size_t errlen, int argc,
                             const char **argv) {
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!sync_connect(r, errstr, errlen)) return NULL;
        redisReply *rep = redisCommandArgv(r->sync, argc, argv, NULL);
        if (!rep) {
            snprintf(errstr, errlen, "redis at %s: %s failed: %s", r->where, argv[0],
                     r->sync->errstr);
            continue; /* the connection broke: reconnect once */
        }
        if (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "LOADING", 7) &&
            attempt == 0) {
            /* restarted under us: wait for its data, within redis.timeout.ms */
            uint64_t end = rill_mono_ns() + (uint64_t)r->timeout_ms * 1000000u;
            while (rep && rep->type == REDIS_REPLY_ERROR &&
                   !strncmp(rep->str, "LOADING", 7) && rill_mono_ns() < end) {
                freeReplyObject(rep);
                poll(NULL, 0, 100);
                rep = redisCommandArgv(r->sync, argc, argv, NULL);
            }
            if (!rep) {
                snprintf(errstr, errlen, "redis at %s: %s failed: %s", r->where, argv[0],
                         r->sync->errstr);
                continue;
            }
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            snprintf(errstr, errlen, "redis at %s: %s: %s", r->where, argv[0], rep->str);
            freeReplyObject(rep);
            return NULL;
        }
        return rep;
    }
    return NULL;
}

static void on_xadd(redisAsyncContext *ac, void *reply, void *priv);

/* ---- the fenced XADD --------------------------------------------------------------- */

/* KEYS[1] the stream, KEYS[2] the owner key of the fencing partition (absent: this
 * transport is in no group); ARGV[1] this member's id, ARGV[2..] XADD's arguments
 * after the key.  The check and the append are one script, so no other member can
 * take the partition between them. */
static const char FENCED_XADD_LUA[] =
    "local owner = KEYS[2] and redis.call('GET', KEYS[2])\n"
    "if owner ~= ARGV[1] then\n"
    "  return redis.error_reply('FENCED ' .. (owner or ''))\n"
    "end\n"
    "return redis.call('XADD', KEYS[1], unpack(ARGV, 2))\n";

static void on_script_load(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    rctx_t *r = priv;
    redisReply *rep = reply;
    if (!rep || r->closing) return;
    if (rep->type == REDIS_REPLY_STRING && rep->len < sizeof r->fence_sha)
        memcpy(r->fence_sha, rep->str, rep->len + 1);
    else if (rep->type == REDIS_REPLY_ERROR)
        rill_log(r->t->log, RILL_LOG_WARN, r->t->name,
                 "SCRIPT LOAD of the fenced XADD: %s (fenced produces go as EVAL)",
                 rep->str);
}

/* Ahead of every EVALSHA sent after it on the command connection. */
static void load_fence_script(rctx_t *r) {
    const char *argv[] = {"SCRIPT", "LOAD", FENCED_XADD_LUA};
    rill__redis_send(&r->cmd, on_script_load, r, 3, argv, NULL);
}

/* ---- open / close ------------------------------------------------------------------ */

static void on_cmd_ready(rconn_t *c) {
    rctx_t *r = c->r;
    /* a restarted server has lost its scripts: the resent EVALSHAs follow this */
    load_fence_script(r);
    /* produces whose reply a broken connection swallowed go again, in order */
    for (preq_t *q = r->pq_head; q; q = q->next)
        redisAsyncFormattedCommand(c->ac, on_xadd, r, q->cmd, q->len);
    rill__redis_heartbeat_now(r);
    rill__redis_kick(r);
}

static void on_read_ready(rconn_t *c) {
    rill__redis_kick(c->r);
}

/* "name:value" of @p name in an INFO reply, into @p out; false when absent. */
static bool info_field(const char *info, const char *name, char *out, size_t n) {
    size_t nl = strlen(name);
    for (const char *p = info; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, name, nl) && p[nl] == ':') {
            size_t m = strcspn(p + nl + 1, "\r\n");
            snprintf(out, n, "%.*s", (int)m, p + nl + 1);
            return true;
        }
    }
    return false;
}

/* A server rill cannot run on is one fatal message; settings that lose data are a
 * warning, once, at start. */
static rill_err_t check_server(rctx_t *r, char *errstr, size_t errlen) {
    char err[256], v[128];
    const char *info[] = {"INFO"};
    redisReply *rep = rill__redis_sync(r, err, sizeof err, 1, info);
    if (!rep || rep->type != REDIS_REPLY_STRING) {
        if (rep) freeReplyObject(rep);
        rill_log(r->t->log, RILL_LOG_WARN, r->t->name,
                 "redis at %s: INFO failed (%s): server settings not checked", r->where,
                 rep ? "not a string" : err);
        return RILL_OK;
    }
    int major = 0, minor = 0;
    if (info_field(rep->str, "redis_version", v, sizeof v) &&
        sscanf(v, "%d.%d", &major, &minor) == 2 &&
        (major < 6 || (major == 6 && minor < 2))) {
        snprintf(errstr, errlen,
                 "redis at %s is version %s: rill needs 6.2 or later (XAUTOCLAIM, "
                 "XGROUP CREATE ... MKSTREAM)",
                 r->where, v);
        freeReplyObject(rep);
        return RILL_ENOTSUP;
    }
    char policy[64] = "", maxmem[32] = "0", aof[8] = "0";
    info_field(rep->str, "maxmemory_policy", policy, sizeof policy);
    info_field(rep->str, "maxmemory", maxmem, sizeof maxmem);
    info_field(rep->str, "aof_enabled", aof, sizeof aof);
    freeReplyObject(rep);
    if (*policy && strcmp(policy, "noeviction") && strcmp(maxmem, "0"))
        rill_log(r->t->log, RILL_LOG_WARN, r->t->name,
                 "redis at %s evicts keys when full (maxmemory-policy %s, maxmemory "
                 "%s): streams, committed IDs and ownership keys may vanish; use "
                 "noeviction",
                 r->where, policy, maxmem);
    if (!strcmp(aof, "0")) {
        const char *cfg[] = {"CONFIG", "GET", "save"};
        redisReply *c = rill__redis_sync(r, err, sizeof err, 3, cfg);
        /* CONFIG may be disabled (managed services): then nothing is said */
        if (c && c->type == REDIS_REPLY_ARRAY && c->elements == 2 &&
            c->element[1]->type == REDIS_REPLY_STRING && !c->element[1]->len)
            rill_log(r->t->log, RILL_LOG_WARN, r->t->name,
                     "redis at %s has no persistence (appendonly no, save \"\"): a "
                     "restart of the server loses every stream and committed ID",
                     r->where);
        if (c) freeReplyObject(c);
    }
    return RILL_OK;
}

static rill_err_t redis_open(rill_transport_t *t, const rill_url_t *url,
                             const rill_conf_t *conf, char *errstr, size_t errlen) {
    rctx_t *r = t->impl;
    r->t = t;
    if (!t->base) {
        snprintf(errstr, errlen, "redis transport needs an event_base");
        return RILL_EINVAL;
    }
    if (!*url->host) {
        snprintf(errstr, errlen, "redis URL '%s' names no host: redis://host:6379[/db]",
                 url->raw);
        return RILL_EURL;
    }
    if (strchr(url->authority, ',')) {
        snprintf(errstr, errlen, "redis URL '%s': one host only (no cluster support)",
                 url->raw);
        return RILL_EURL;
    }
    if (*url->path && strcmp(url->path, "/")) {
        char *end;
        long db = strtol(url->path + 1, &end, 10);
        if (*end || db < 0 || db > 1000000) {
            snprintf(errstr, errlen, "redis URL '%s': database '%s' is not a number",
                     url->raw, url->path + 1);
            return RILL_EURL;
        }
        r->db = (int)db;
    }
    if (r->timeout_ms < 1 || r->session_ms < 100 || r->heartbeat_ms < 10 ||
        r->heartbeat_ms >= r->session_ms || r->batch < 1 || r->block_ms < 1 ||
        r->maxlen < 0 || r->queue_max < 1 || r->partitions_default < 1) {
        snprintf(errstr, errlen,
                 "redis transport: timeouts, batch, queue.max and partitions must be "
                 "positive and heartbeat.interval.ms below session.timeout.ms");
        return RILL_ECONF;
    }
    r->host = strdup(url->host);
    r->port = url->port ? url->port : 6379;
    r->password = url->password ? strdup(url->password) : NULL;
    char where[300];
    snprintf(where, sizeof where, "%s:%d/%d", r->host, r->port, r->db);
    r->where = strdup(where);
    if (!r->host || !r->where || (url->password && !r->password)) return RILL_ENOMEM;
    r->broker_timeout_ms = rill_conf_get_int(conf, "broker.timeout.ms", 60000);
    rill_err_t brc = rill__redis_bind_parse(r, conf, url, errstr, errlen);
    if (brc != RILL_OK) return brc;
    const char *ode = conf ? rill_conf_get(conf, "on_decode_error") : NULL;
    r->on_decode_error = !ode                          ? 0
                         : !strcmp(ode, "dead_letter") ? 1
                         : !strcmp(ode, "crash")       ? 2
                                                       : 0;
    const char *dl = conf ? rill_conf_get(conf, "dead_letter.topic") : NULL;
    if (dl && *dl && !(r->dead_letter = strdup(dl))) return RILL_ENOMEM;
    /* a read blocked past a session could outlive its member's ownership */
    if (r->block_ms > r->session_ms / 2) r->block_ms = r->session_ms / 2;
    if (!sync_connect(r, errstr, errlen)) return RILL_ETRANSPORT; /* fail fast */
    if ((brc = check_server(r, errstr, errlen)) != RILL_OK) return brc;

    r->down_ev = evtimer_new(t->base, down_timeout, r);
    rconn_t *cs[] = {&r->cmd, &r->grp, &r->tail};
    const char *roles[] = {"cmd", "group", "tail"};
    for (int i = 0; i < 3; i++) {
        cs[i]->r = r;
        cs[i]->role = roles[i];
        cs[i]->on_ready = i == 0 ? on_cmd_ready : on_read_ready;
        cs[i]->retry_ev = evtimer_new(t->base, conn_retry, cs[i]);
        if (!cs[i]->retry_ev) return RILL_ENOMEM;
        conn_start(cs[i]);
    }
    return RILL_OK;
}

static void preq_fail_all(rctx_t *r) {
    while (r->pq_head) {
        preq_t *q = r->pq_head;
        r->pq_head = q->next;
        if (q->cb) q->cb(RILL_ESHUTDOWN, "transport closed", q->partition, -1, q->opaque);
        free(q);
    }
    r->pq_tail = NULL;
}

static rill_err_t redis_flush(rill_transport_t *t, int timeout_ms);

static void redis_close(rill_transport_t *t) {
    rctx_t *r = t->impl;
    if (r->pq_head) redis_flush(t, 2000); /* what was sent gets its report */
    rill__redis_group_close(r); /* releases ownership over the blocking connection */
    r->closing = true;
    rconn_t *cs[] = {&r->cmd, &r->grp, &r->tail};
    for (int i = 0; i < 3; i++) {
        if (cs[i]->ac) redisAsyncFree(cs[i]->ac);
        cs[i]->ac = NULL;
        if (cs[i]->retry_ev) event_free(cs[i]->retry_ev);
    }
    preq_fail_all(r);
    while (r->readers) {
        rstream_t *s = r->readers;
        r->readers = s->next_s;
        rill__redis_stream_free(s);
    }
    while (r->topics) {
        rtopic_t *tp = r->topics;
        r->topics = tp->next;
        free(tp->name);
        free(tp);
    }
    if (r->down_ev) event_free(r->down_ev);
    if (r->rel_ev) event_free(r->rel_ev);
    if (r->sync) redisFree(r->sync);
    rill__redis_fetch_close(r);
    rill__redis_bind_free_all(r);
    free(r->dead_letter);
    free(r->host);
    free(r->password);
    free(r->where);
}

/* ---- topics ----------------------------------------------------------------------- */

static rtopic_t *topic_cache(rctx_t *r, const char *name, int32_t parts, bool compacted) {
    rtopic_t *tp = calloc(1, sizeof *tp);
    if (!tp || !(tp->name = strdup(name))) {
        free(tp);
        return NULL;
    }
    tp->partitions = parts;
    tp->compacted = compacted;
    tp->next = r->topics;
    r->topics = tp;
    return tp;
}

static rtopic_t *topic_cached(rctx_t *r, const char *name) {
    for (rtopic_t *tp = r->topics; tp; tp = tp->next)
        if (!strcmp(tp->name, name)) return tp;
    return NULL;
}

static rtopic_t *topic_load(rctx_t *r, const char *name, char *errstr, size_t errlen) {
    char key[512];
    snprintf(key, sizeof key, "rill:topic:%s", name);
    const char *argv[] = {"HMGET", key, "partitions", "compacted"};
    redisReply *rep = rill__redis_sync(r, errstr, errlen, 4, argv);
    if (!rep) return NULL;
    rtopic_t *tp = NULL;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING)
        tp = topic_cache(r, name, (int32_t)atoi(rep->element[0]->str),
                         rep->element[1]->type == REDIS_REPLY_STRING &&
                             !strcmp(rep->element[1]->str, "1"));
    else
        snprintf(errstr, errlen, "unknown topic '%s' on redis at %s (no %s)", name,
                 r->where, key);
    freeReplyObject(rep);
    return tp;
}

/* A topic bound to a list of streams has as many partitions, whatever the hash says
 * (it has none: the streams are someone else's). */
static rtopic_t *topic_bound(rctx_t *r, const char *name) {
    const rbind_t *b = rill__redis_bind(r, name);
    if (!b || !b->stream || b->pattern) return NULL;
    return topic_cache(r, name, (int32_t)b->nstreams, false);
}

rtopic_t *rill__redis_topic(rctx_t *r, const char *name, char *errstr, size_t errlen) {
    rtopic_t *tp = topic_cached(r, name);
    if (!tp) tp = topic_bound(r, name);
    return tp ? tp : topic_load(r, name, errstr, errlen);
}

/* Every stream of the topic is a stream or absent: a key of another type would make
 * every read fail, so it stops the start with one message. */
static rill_err_t check_types(rctx_t *r, const char *topic, int32_t parts, char *errstr,
                              size_t errlen) {
    for (int32_t p = 0; p < parts; p++) {
        char key[1024];
        if (!rill__redis_stream_key(r, topic, p, key, sizeof key)) {
            snprintf(errstr, errlen,
                     "topic '%s': the stream name of partition %d is too long", topic,
                     (int)p);
            return RILL_EINVAL;
        }
        const char *argv[] = {"TYPE", key};
        redisReply *rep = rill__redis_sync(r, errstr, errlen, 2, argv);
        if (!rep) return RILL_ETRANSPORT;
        bool ok = rep->type == REDIS_REPLY_STATUS &&
                  (!strcmp(rep->str, "stream") || !strcmp(rep->str, "none"));
        if (!ok) {
            const rbind_t *b = rill__redis_bind(r, topic);
            snprintf(errstr, errlen,
                     "topic '%s': key '%s' on redis at %s is a %s, not a stream; %s",
                     topic, key, r->where,
                     rep->type == REDIS_REPLY_STATUS ? rep->str : "(unknown type)",
                     b && b->stream
                         ? "bind the topic to the right stream "
                           "(redis.topic.<topic>.stream)"
                         : "rename the key, or bind the topic to other streams "
                           "(redis.topic.<topic>.stream=NAME)");
            freeReplyObject(rep);
            return RILL_ECONF;
        }
        freeReplyObject(rep);
    }
    return RILL_OK;
}

static rill_err_t redis_declare(rill_transport_t *t, const rill_topic_spec_t *spec,
                                int32_t *partitions_out, char *errstr, size_t errlen) {
    rctx_t *r = t->impl;
    rtopic_t *old = topic_cached(r, spec->name);
    if (old) { /* reload: another worker may have declared it differently */
        rtopic_t **pp = &r->topics;
        while (*pp != old)
            pp = &(*pp)->next;
        *pp = old->next;
        free(old->name);
        free(old);
    }
    const rbind_t *b = rill__redis_bind(r, spec->name);
    rtopic_t *tp = topic_bound(r, spec->name);
    if (b && b->stream && !b->pattern && !tp) return RILL_ENOMEM;
    if (tp) {
        if (spec->partitions > 0 && tp->partitions != spec->partitions) {
            snprintf(errstr, errlen,
                     "topic '%s' is bound to %d stream(s) (redis.topic.%s.stream=%s), "
                     "declared with %d partitions",
                     spec->name, tp->partitions, spec->name, b->stream, spec->partitions);
            return RILL_EPARTITIONS;
        }
    } else {
        char key[512], parts[24];
        snprintf(key, sizeof key, "rill:topic:%s", spec->name);
        snprintf(parts, sizeof parts, "%d",
                 spec->partitions > 0 ? spec->partitions : (int)r->partitions_default);
        /* HSETNX: the first declarer's count wins; everyone then checks against it */
        const char *set[] = {"HSETNX", key, "partitions", parts};
        redisReply *rep = rill__redis_sync(r, errstr, errlen, 4, set);
        if (!rep) return RILL_ETRANSPORT;
        freeReplyObject(rep);
        if (spec->compacted) {
            const char *c[] = {"HSETNX", key, "compacted", "1"};
            if (!(rep = rill__redis_sync(r, errstr, errlen, 4, c)))
                return RILL_ETRANSPORT;
            freeReplyObject(rep);
        }
        if (!(tp = topic_load(r, spec->name, errstr, errlen))) return RILL_ETRANSPORT;
        if (spec->partitions > 0 && tp->partitions != spec->partitions) {
            snprintf(errstr, errlen,
                     "topic '%s' exists on redis at %s with %d partitions, declared with "
                     "%d",
                     spec->name, r->where, tp->partitions, spec->partitions);
            return RILL_EPARTITIONS;
        }
    }
    rill_err_t rc = check_types(r, spec->name, tp->partitions, errstr, errlen);
    if (rc != RILL_OK) return rc;
    *partitions_out = tp->partitions;
    return RILL_OK;
}

/* ---- produce --------------------------------------------------------------------- */

static void pq_push(rctx_t *r, preq_t *q) {
    q->next = NULL;
    if (r->pq_tail)
        r->pq_tail->next = q;
    else
        r->pq_head = q;
    r->pq_tail = q;
}

static void on_xadd(redisAsyncContext *ac, void *reply, void *priv) {
    rctx_t *r = priv;
    redisReply *rep = reply;
    if (!rep || r->closing) return; /* connection lost: resent when it is back */
    preq_t *q = r->pq_head;
    if (!q) return;
    r->pq_head = q->next;
    if (!r->pq_head) r->pq_tail = NULL;
    if (q->fence && !q->reloaded && rep->type == REDIS_REPLY_ERROR &&
        !strncmp(rep->str, "NOSCRIPT", 8)) {
        /* The server lost the script (SCRIPT FLUSH, eviction): load it and send this
         * again behind it.  Its report then comes after those of the produces sent
         * meanwhile; fenced ones among them got NOSCRIPT too and keep their order. */
        q->reloaded = true;
        rill_log(r->t->log, RILL_LOG_INFO, r->t->name,
                 "redis at %s lost the fenced XADD script (NOSCRIPT): loading it again",
                 r->where);
        pq_push(r, q);
        load_fence_script(r);
        redisAsyncFormattedCommand(ac, on_xadd, r, q->cmd, q->len);
        return;
    }
    r->inflight--;
    char msg[512];
    if (rep->type == REDIS_REPLY_STRING) {
        int64_t off = rill__redis_id_parse(rep->str, rep->len);
        if (off >= 0) {
            q->cb(RILL_OK, NULL, q->partition, off, q->opaque);
        } else {
            snprintf(msg, sizeof msg,
                     "XADD to %s appended entry %.*s, beyond what an offset can "
                     "name: " RILL_REDIS_ID_LIMIT,
                     q->key, (int)rep->len, rep->str);
            rill_log(r->t->log, RILL_LOG_ERROR, r->t->name, "%s", msg);
            q->cb(RILL_ETRANSPORT, msg, q->partition, -1, q->opaque);
        }
    } else if (q->fence && rep->type == REDIS_REPLY_ERROR &&
               !strncmp(rep->str, "FENCED", 6)) {
        const char *owner = rep->str + (rep->len > 7 ? 7 : rep->len);
        if (*owner)
            snprintf(msg, sizeof msg,
                     "fenced: %s[%d] is owned by another member (%s); not written to %s",
                     q->fence, (int)q->fence_partition, owner, q->key);
        else
            snprintf(msg, sizeof msg,
                     "fenced: %s[%d] is owned by another member or none, not by this "
                     "one; not written to %s",
                     q->fence, (int)q->fence_partition, q->key);
        /* The core gives that partition up (a table's changelog write refused):
         * so does the group member, or it would keep the partition, refresh its
         * owner key and never hand it to the core again. */
        rill__redis_lose_soon(r, q->fence, q->fence_partition);
        q->cb(RILL_ENOTOWNER, msg, q->partition, -1, q->opaque);
    } else {
        q->cb(RILL_ETRANSPORT, rep->type == REDIS_REPLY_ERROR ? rep->str : "XADD failed",
              q->partition, -1, q->opaque);
    }
    free(q);
    if (r->want_writable && r->inflight <= (size_t)r->queue_max / 2) {
        r->want_writable = false;
        if (r->t->h && r->t->h->writable) r->t->h->writable(r->t, r->t->h->opaque);
    }
}

/* Decimal digits of @p v at @p p; returns the end. */
static char *put_u64(char *p, uint64_t v) {
    char tmp[20];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while (v /= 10);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *headers_json(const rill_produce_t *m) {
    json_t *o = json_object();
    for (size_t i = 0; o && i < m->nheaders; i++) {
        json_t *v = json_stringn(m->headers[i].value ? m->headers[i].value : "",
                                 m->headers[i].value_len);
        if (!v || json_object_set_new(o, m->headers[i].name, v)) {
            json_decref(o);
            return NULL;
        }
    }
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static rill_err_t redis_produce(rill_transport_t *t, const rill_produce_t *m,
                                rill_delivery_cb cb, void *opaque) {
    rctx_t *r = t->impl;
    if (r->inflight >= (size_t)r->queue_max) {
        r->want_writable = true;
        return RILL_EFULL;
    }
    char key[512], maxlen[24], ts[24], owner[1024];
    const rbind_t *b = rill__redis_bind(r, m->topic);
    if (b && b->stream) {
        if (!rill__redis_stream_key(r, m->topic, m->partition, key, sizeof key))
            return RILL_EINVAL;
    } else { /* the common case, without snprintf */
        size_t tl = strlen(m->topic);
        if (tl > sizeof key - 16) return RILL_EINVAL;
        memcpy(key, m->topic, tl);
        key[tl] = ':';
        *put_u64(key + tl + 1, (uint64_t)m->partition) = '\0';
    }
    rfields_t plain = {0}; /* value=entry or field: the entry's fields */
    if (b && b->value != RV_RILL) {
        char why[400];
        rill_err_t frc = rill__redis_fields_of(b, m, &plain, why, sizeof why);
        if (frc != RILL_OK) {
            rill__redis_fields_free(&plain);
            if (frc == RILL_ENOMEM) return frc;
            rill_log(t->log, RILL_LOG_ERROR, t->name, "produce to %s: %s", key, why);
            return frc;
        }
    }
    const char *argv_s[24];
    size_t lens_s[24];
    const char **argv = argv_s;
    size_t *lens = lens_s;
    if (plain.n) {
        argv = malloc((16 + plain.n) * sizeof *argv);
        lens = malloc((16 + plain.n) * sizeof *lens);
        if (!argv || !lens) {
            free(argv);
            free(lens);
            rill__redis_fields_free(&plain);
            return RILL_ENOMEM;
        }
    }
    rill_err_t rc = RILL_OK;
    char *hdrs = NULL;
    preq_t *q = NULL;
    int n = 0;
#define ARG(p, l) (argv[n] = (p), lens[n++] = (l))
    if (m->fence_topic) {
        /* EVALSHA sha 2 key owner id <XADD's arguments after the key> */
        bool grouped = r->group != NULL;
        if (grouped && !rill__redis_owner_key(r, m->fence_topic, m->fence_partition,
                                              owner, sizeof owner)) {
            rc = RILL_EINVAL;
            goto out;
        }
        if (*r->fence_sha) {
            ARG("EVALSHA", 7);
            ARG(r->fence_sha, strlen(r->fence_sha));
        } else { /* not loaded yet */
            ARG("EVAL", 4);
            ARG(FENCED_XADD_LUA, sizeof FENCED_XADD_LUA - 1);
        }
        ARG(grouped ? "2" : "1", 1);
        ARG(key, strlen(key));
        if (grouped) ARG(owner, strlen(owner));
        ARG(t->client_id, strlen(t->client_id));
    } else {
        ARG("XADD", 4);
        ARG(key, strlen(key));
    }
    rtopic_t *tp = r->maxlen ? topic_cached(r, m->topic) : NULL;
    if (r->maxlen && !(tp && tp->compacted)) {
        *put_u64(maxlen, (uint64_t)r->maxlen) = '\0';
        ARG("MAXLEN", 6);
        ARG("~", 1);
        ARG(maxlen, strlen(maxlen));
    }
    ARG("*", 1);
    if (plain.n) { /* a plain entry: no rill fields, no headers, no ts */
        for (size_t i = 0; i < plain.n; i++)
            ARG(plain.argv[i], plain.lens[i]);
        goto built;
    }
    if (m->key) {
        ARG("key", 3);
        ARG(m->key, m->key_len);
    }
    if (m->value) {
        ARG("value", 5);
        ARG(m->value, m->value_len);
    }
    if (m->nheaders) {
        if (!(hdrs = headers_json(m))) {
            rill_log(t->log, RILL_LOG_ERROR, t->name,
                     "produce to %s: header values must be UTF-8 text on redis://", key);
            rc = RILL_EINVAL;
            goto out;
        }
        ARG("headers", 7);
        ARG(hdrs, strlen(hdrs));
    }
    if (m->timestamp_ms > 0) {
        *put_u64(ts, (uint64_t)m->timestamp_ms) = '\0';
        ARG("ts", 2);
        ARG(ts, strlen(ts));
    }
built:
#undef ARG
    /* the command in RESP, in the same allocation as its request */
    size_t klen = strlen(key) + 1, flen = m->fence_topic ? strlen(m->fence_topic) + 1 : 0;
    size_t size = 16 + klen + flen;
    for (int i = 0; i < n; i++)
        size += 26 + lens[i];
    q = malloc(sizeof *q + size);
    if (!q) {
        rc = RILL_ENOMEM;
        goto out;
    }
    char *w = q->cmd;
    *w++ = '*';
    w = put_u64(w, (uint64_t)n);
    *w++ = '\r';
    *w++ = '\n';
    for (int i = 0; i < n; i++) {
        *w++ = '$';
        w = put_u64(w, lens[i]);
        *w++ = '\r';
        *w++ = '\n';
        memcpy(w, argv[i], lens[i]);
        w += lens[i];
        *w++ = '\r';
        *w++ = '\n';
    }
    q->len = (size_t)(w - q->cmd);
    memcpy(w, key, klen);
    q->key = w;
    q->fence = flen ? memcpy(w + klen, m->fence_topic, flen) : NULL;
    q->cb = cb;
    q->opaque = opaque;
    q->partition = m->partition;
    q->fence_partition = m->fence_partition;
    q->reloaded = false;
    pq_push(r, q);
    r->inflight++;
    /* replies come back in order on the one connection, so on_xadd pops the head */
    if (r->cmd.ready) {
        redisAsyncContext *ac = r->cmd.ac;
        redisAsyncFormattedCommand(ac, on_xadd, r, q->cmd, q->len);
        /* An agent working through a batch produces thousands of XADDs before the
         * loop gets to write them; writing every 64 KiB keeps hiredis's output
         * buffer small (freeing a multi-MB one costs more than the writes). */
        if (sdslen(ac->c.obuf) >= 65536) redisAsyncHandleWrite(ac);
    }
out:
    free(hdrs);
    if (plain.n) {
        free(argv);
        free(lens);
    }
    rill__redis_fields_free(&plain);
    return rc;
}

/* Drive the command connection by hand (not the loop): flush() blocks. */
static rill_err_t redis_flush(rill_transport_t *t, int timeout_ms) {
    rctx_t *r = t->impl;
    uint64_t end = rill_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    while (r->pq_head && r->cmd.ready && rill_mono_ns() < end) {
        redisAsyncContext *ac = r->cmd.ac;
        struct pollfd pfd = {.fd = ac->c.fd, .events = POLLIN};
        if (ac->c.obuf && *ac->c.obuf) pfd.events |= POLLOUT;
        int left = (int)((end - rill_mono_ns()) / 1000000u);
        if (poll(&pfd, 1, left > 100 ? 100 : left) < 0 && errno != EINTR) break;
        if (pfd.revents & POLLOUT) redisAsyncHandleWrite(ac);
        if (r->cmd.ac == ac && (pfd.revents & (POLLIN | POLLERR | POLLHUP)))
            redisAsyncHandleRead(ac);
    }
    return r->pq_head ? RILL_ETIMEDOUT : RILL_OK;
}

/* ---- watermarks ------------------------------------------------------------------ */

static rill_err_t redis_watermarks(rill_transport_t *t, const char *topic,
                                   int32_t partition, int64_t *low, int64_t *high,
                                   int timeout_ms) {
    (void)timeout_ms;
    rctx_t *r = t->impl;
    char key[1024], err[256];
    if (!rill__redis_stream_key(r, topic, partition, key, sizeof key)) return RILL_EINVAL;
    const char *first[] = {"XRANGE", key, "-", "+", "COUNT", "1"};
    const char *last[] = {"XREVRANGE", key, "+", "-", "COUNT", "1"};
    redisReply *a = rill__redis_sync(r, err, sizeof err, 6, first);
    redisReply *b = a ? rill__redis_sync(r, err, sizeof err, 6, last) : NULL;
    rill_err_t rc = RILL_OK;
    if (!a || !b) {
        rill_log(t->log, RILL_LOG_WARN, t->name, "watermarks of %s: %s", key, err);
        rc = RILL_ETRANSPORT;
    } else if (a->elements == 0 || b->elements == 0) {
        *low = *high = 0;
    } else {
        redisReply *fa = a->element[0]->element[0], *fb = b->element[0]->element[0];
        int64_t lo = rill__redis_id_parse(fa->str, fa->len);
        int64_t hi = rill__redis_id_parse(fb->str, fb->len);
        if (lo < 0 || hi < 0) {
            redisReply *bad = lo < 0 ? fa : fb;
            rill_log(t->log, RILL_LOG_ERROR, t->name,
                     "watermarks of %s: entry %s is beyond what an offset can "
                     "name: " RILL_REDIS_ID_LIMIT,
                     key, bad->str);
            rc = RILL_ETRANSPORT;
        } else {
            *low = lo;
            *high = hi + 1;
        }
    }
    if (a) freeReplyObject(a);
    if (b) freeReplyObject(b);
    return rc;
}

static int64_t redis_session_ms(rill_transport_t *t) {
    return ((rctx_t *)t->impl)->session_ms;
}

const struct rill_transport_ops rill_transport_redis = {
    .abi = RILL_TRANSPORT_ABI,
    .scheme = "redis",
    .description = "Redis Streams (hiredis): redis://[:password@]host:port[/db]",
    /* passthrough: "redis.topic.<topic>.*" keys are checked by redis_bind.c */
    .features = RILL_TRANSPORT_F_GROUPS | RILL_TRANSPORT_F_WATERMARKS |
                RILL_TRANSPORT_F_PERSISTENT | RILL_TRANSPORT_F_FENCING |
                RILL_TRANSPORT_F_PASSTHROUGH,
    .props = redis_props,
    .impl_size = sizeof(rctx_t),
    .open = redis_open,
    .declare = redis_declare,
    .produce = redis_produce,
    .flush = redis_flush,
    .subscribe = rill__redis_subscribe,
    .unsubscribe = rill__redis_unsubscribe,
    .pause = rill__redis_pause,
    .resume = rill__redis_resume,
    .seek = rill__redis_seek,
    .commit = rill__redis_commit,
    .committed = rill__redis_committed,
    .watermarks = redis_watermarks,
    .close = redis_close,
    .session_ms = redis_session_ms,
    .confirm = rill__redis_confirm,
    .reader_start = rill__redis_reader_start,
    .reader_stop = rill__redis_reader_stop,
    .revoke_answer = rill__redis_revoke_answer,
};
