/* Consumer groups on Redis: membership, partition ownership and commits.
 *
 * Redis has no group coordinator for partitions, so members coordinate through
 * keys (all under "rill:<group>:"):
 *   member:<id>         a member's heartbeat key, PX session.timeout.ms
 *   members             the set of member ids (dead ones are pruned by whoever sees
 *                       their heartbeat key gone)
 *   owner:<topic>:<p>   who owns a partition, PX session.timeout.ms, refreshed with
 *                       the heartbeat; only the owner reads, commits or releases it
 *   committed           hash "<topic>:<p>" -> ID of the last processed entry
 * Every heartbeat.interval.ms a member refreshes its keys, reads the live members
 * and computes the assignment every member computes (range, per topic, over the
 * sorted ids: co-partitioned topics land together).  Partitions it owns but should
 * not are revoked (revoke_request(), then released at its revoke_answer()); partitions it
 * should own are acquired once their owner key is free, claiming the previous owner's
 * pending entries with XAUTOCLAIM.  A member whose ownership key was taken (it
 * stopped heartbeating for a session) gets revoked(lost). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

static const char HB_LUA[] =
    "redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])\n"
    "redis.call('SADD', KEYS[1], ARGV[1])\n"
    "local live = {}\n"
    "for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  if redis.call('EXISTS', ARGV[3] .. m) == 1 then live[#live + 1] = m\n"
    "  else redis.call('SREM', KEYS[1], m) end\n"
    "end\n"
    "local mine = {}\n"
    "for i = 3, #KEYS do\n"
    "  if redis.call('GET', KEYS[i]) == ARGV[1] then\n"
    "    redis.call('PEXPIRE', KEYS[i], ARGV[2]); mine[#mine + 1] = 1\n"
    "  else mine[#mine + 1] = 0 end\n"
    "end\n"
    "return {live, mine}\n";

/* KEYS[1] the owner key, KEYS[2] the stream, KEYS[3] the committed hash; ARGV[1]
 * this member, ARGV[2] the session, ARGV[3] the Redis consumer group, ARGV[4] the
 * committed field, ARGV[5] the start ("$", "group" or else nothing to look up).
 * Returns {1, committed ID or '', claimed IDs, the stream's last ID or '' ($), the
 * group's oldest pending ID or '', its last-delivered ID or '' (group)}. */
static const char ACQUIRE_LUA[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v and v ~= ARGV[1] then return {0} end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "local committed = redis.call('HGET', KEYS[3], ARGV[4]) or ''\n"
    "local last, pending, delivered = '', '', ''\n"
    "if committed == '' and ARGV[5] == '$' then\n"
    "  local l = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)\n"
    "  if #l > 0 then last = l[1][1] end\n"
    "elseif committed == '' and ARGV[5] == 'group' then\n"
    "  local gs = redis.pcall('XINFO', 'GROUPS', KEYS[2])\n"
    "  if type(gs) == 'table' and not gs.err then\n"
    "    for _, g in ipairs(gs) do\n"
    "      local name, ld\n"
    "      for i = 1, #g, 2 do\n"
    "        if g[i] == 'name' then name = g[i + 1]\n"
    "        elseif g[i] == 'last-delivered-id' then ld = g[i + 1] end\n"
    "      end\n"
    "      if name == ARGV[3] and ld then delivered = ld end\n"
    "    end\n"
    "    if delivered ~= '' then\n"
    "      local p = redis.call('XPENDING', KEYS[2], ARGV[3])\n"
    "      if p[1] > 0 then pending = p[2] end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[3], '0', 'MKSTREAM')\n"
    "local claimed = {}\n"
    "local start = '0-0'\n"
    "repeat\n"
    "  local r = redis.call('XAUTOCLAIM', KEYS[2], ARGV[3], ARGV[1], 0, start,\n"
    "                       'COUNT', 1000, 'JUSTID')\n"
    "  start = r[1]\n"
    "  for _, id in ipairs(r[2]) do claimed[#claimed + 1] = id end\n"
    "until start == '0-0'\n"
    "return {1, committed, claimed, last, pending, delivered}\n";

static const char RELEASE_LUA[] =
    "for i = 1, #KEYS do\n"
    "  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end\n"
    "end\n"
    "return 1\n";

static const char COMMIT_LUA[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then\n"
    "  return redis.error_reply('FENCED ' .. KEYS[1] .. ' is not owned by ' .. ARGV[1])\n"
    "end\n"
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])\n"
    "return 1\n";

/* KEYS[1] members, KEYS[2] this member's heartbeat key, KEYS[3] the committed hash,
 * KEYS[4..] the owner keys of its partitions; ARGV[1] its id, ARGV[2] the session,
 * ARGV[3..] the committed fields of those partitions.  All still owned: refresh
 * them with the membership and return {1, committed IDs}; else {0, lost indexes}. */
static const char CONFIRM_LUA[] =
    "local lost = {}\n"
    "for i = 4, #KEYS do\n"
    "  if redis.call('GET', KEYS[i]) ~= ARGV[1] then lost[#lost + 1] = i - 3 end\n"
    "end\n"
    "if #lost > 0 then return {0, lost} end\n"
    "redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])\n"
    "redis.call('SADD', KEYS[1], ARGV[1])\n"
    "local committed = {}\n"
    "for i = 4, #KEYS do\n"
    "  redis.call('PEXPIRE', KEYS[i], ARGV[2])\n"
    "  committed[#committed + 1] = redis.call('HGET', KEYS[3], ARGV[i - 1]) or ''\n"
    "end\n"
    "return {1, committed}\n";

bool rill__redis_owner_key(const rctx_t *r, const char *topic, int32_t p, char *buf,
                           size_t n) {
    int len = snprintf(buf, n, "rill:%s:owner:%s:%d", r->group, topic, (int)p);
    return len > 0 && (size_t)len < n;
}

static char *keyf(const rctx_t *r, const char *what, const char *topic, int32_t p) {
    char buf[1024];
    if (topic)
        snprintf(buf, sizeof buf, "rill:%s:%s:%s:%d", r->group, what, topic, (int)p);
    else
        snprintf(buf, sizeof buf, "rill:%s:%s", r->group, what);
    return strdup(buf);
}

static void hb_schedule(rctx_t *r, int64_t ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (r->hb_ev) evtimer_add(r->hb_ev, &tv);
}

/* ---- release and leave ------------------------------------------------------------ */

static void release(rctx_t *r, rstream_t **streams, size_t n) {
    if (!n) return;
    const char **argv = calloc(4 + n, sizeof *argv);
    if (!argv) return;
    char nk[24];
    snprintf(nk, sizeof nk, "%zu", n);
    int a = 0;
    argv[a++] = "EVAL";
    argv[a++] = RELEASE_LUA;
    argv[a++] = nk;
    for (size_t i = 0; i < n; i++)
        argv[a++] = streams[i]->owner_key;
    argv[a++] = r->t->client_id;
    char err[256];
    if (!rill__redis_send(&r->cmd, NULL, NULL, a, argv, NULL)) {
        /* the loop connection is down: release over the blocking one, or the keys
         * expire after session.timeout.ms */
        redisReply *rep = rill__redis_sync(r, err, sizeof err, a, argv);
        if (rep) freeReplyObject(rep);
    }
    free(argv);
}

static void leave(rctx_t *r, bool sync) {
    char *ms = keyf(r, "members", NULL, 0);
    if (!ms) return;
    char member[1024];
    snprintf(member, sizeof member, "rill:%s:member:%s", r->group, r->t->client_id);
    const char *del[] = {"DEL", member};
    const char *srem[] = {"SREM", ms, r->t->client_id};
    char err[256];
    if (sync || !rill__redis_send(&r->cmd, NULL, NULL, 2, del, NULL)) {
        redisReply *rep = rill__redis_sync(r, err, sizeof err, 2, del);
        if (rep) freeReplyObject(rep);
        if ((rep = rill__redis_sync(r, err, sizeof err, 3, srem))) freeReplyObject(rep);
    } else {
        rill__redis_send(&r->cmd, NULL, NULL, 3, srem, NULL);
    }
    free(ms);
}

void rill__redis_release_pending(rctx_t *r) {
    size_t n = 0;
    for (rstream_t *s = r->releasing; s; s = s->next_s)
        n++;
    if (!n) return;
    rstream_t **all = calloc(n, sizeof *all);
    n = 0;
    for (rstream_t *s = r->releasing; all && s; s = s->next_s)
        all[n++] = s;
    if (all) release(r, all, n);
    free(all);
    while (r->releasing) {
        rstream_t *s = r->releasing;
        r->releasing = s->next_s;
        rill__redis_stream_free(s);
    }
}

/* CLIENT UNBLOCK can reach the server before the read it targets (they travel on
 * different connections): repeat it until the read has returned. */
static void on_rel_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rctx_t *r = arg;
    if (!r->releasing || !r->grp.busy) return;
    rill__redis_unblock(r, &r->grp);
    struct timeval tv = {0, 50000};
    evtimer_add(r->rel_ev, &tv);
}

static void unblock_until_released(rctx_t *r) {
    if (!r->rel_ev && !(r->rel_ev = evtimer_new(r->t->base, on_rel_timer, r))) return;
    struct timeval tv = {0, 50000};
    evtimer_add(r->rel_ev, &tv);
}

static void unlink_part(rctx_t *r, rstream_t *s) {
    for (rstream_t **pp = &r->parts; *pp; pp = &(*pp)->next_s)
        if (*pp == s) {
            *pp = s->next_s;
            return;
        }
}

/* ---- revoke ----------------------------------------------------------------------- */

static void revoke(rctx_t *r, rstream_t **streams, size_t n, bool lost) {
    rill_tp_t *tps = calloc(n, sizeof *tps);
    if (!tps) return;
    for (size_t i = 0; i < n; i++)
        tps[i] = (rill_tp_t){streams[i]->topic, streams[i]->partition};
    r->revoking = tps;
    r->nrevoking = n;
    r->revoke_lost = lost;
    rill_log(r->t->log, RILL_LOG_INFO, r->t->name, "group %s: %s %zu partition(s)",
             r->group, lost ? "lost" : "revoking", n);
    const rill_transport_handlers_t *h = r->t->h;
    r->revoke_id = ++r->revoke_seq;
    /* may answer inside */
    h->revoke_request(r->t, tps, n, lost, r->revoke_id, h->opaque);
}

/* Only the answer to the open revoke releases its partitions. */
void rill__redis_revoke_answer(rill_transport_t *t, rill_revoke_t rv) {
    rctx_t *r = t->impl;
    if (!r->revoking || rv != r->revoke_id) return;
    rill_tp_t *tps = r->revoking;
    size_t n = r->nrevoking;
    bool lost = r->revoke_lost;
    r->revoking = NULL;
    r->nrevoking = 0;
    rstream_t **gone = calloc(n ? n : 1, sizeof *gone);
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        rstream_t *s = rill__redis_find(r->parts, tps[i].topic, tps[i].partition);
        if (s && gone) gone[ng++] = s;
    }
    for (size_t i = 0; i < ng; i++) {
        unlink_part(r, gone[i]);
        if (lost) {
            rill__redis_stream_free(gone[i]);
        } else {
            gone[i]->next_s = r->releasing;
            r->releasing = gone[i];
        }
    }
    free(gone);
    free(tps);
    /* A blocked XREADGROUP that still names these streams would take entries meant
     * for the next owner: wake it first, release when it has returned. */
    rill__redis_kick(r);
    if (!r->grp.busy)
        rill__redis_release_pending(r);
    else
        unblock_until_released(r);
    if (!r->subscribed) {
        if (r->parts) { /* left while a rebalance revoke was running: the rest now */
            size_t m = 0;
            for (rstream_t *s = r->parts; s; s = s->next_s)
                m++;
            rstream_t **all = calloc(m, sizeof *all);
            if (!all) return;
            m = 0;
            for (rstream_t *s = r->parts; s; s = s->next_s)
                all[m++] = s;
            revoke(r, all, m, false);
            free(all);
        } else if (r->group) {
            leave(r, false);
        }
        return;
    }
    rill__redis_heartbeat_now(r); /* acquire what is free now */
}

/* ---- acquire ---------------------------------------------------------------------- */

/* Where @p s resumes after the committed ID @p c (none: 0).  Only a committed ID
 * written by hand can be beyond the offsets; it stops @p s loudly, since reading
 * from 0 instead would redo everything. */
static int64_t id_of(const redisReply *e) {
    return e->type == REDIS_REPLY_STRING && e->len ? rill__redis_id_parse(e->str, e->len)
                                                   : -1;
}

/* The topic's start when the group has no committed ID (redis.topic.<t>.start). */
static const char *start_of(const rctx_t *r, const rbind_t *b) {
    if (b && b->start) return b->start;
    return r->xgroup_conf && *r->xgroup_conf ? "group" : "0";
}

/* Where a partition without a committed ID starts: the acquire script's reply. */
static int64_t start_at(rctx_t *r, rstream_t *s, const redisReply *rep) {
    const char *start = start_of(r, s->bind);
    int64_t at = 0;
    const char *how = NULL;
    if (!strcmp(start, "$")) {
        int64_t last = id_of(rep->element[3]);
        at = last >= 0 ? last + 1 : 0;
        how = "after the stream's last entry ($)";
    } else if (!strcmp(start, "group")) {
        int64_t pending = id_of(rep->element[4]), delivered = id_of(rep->element[5]);
        at = pending >= 0 ? pending : delivered >= 0 ? delivered + 1 : 0;
        how = pending >= 0     ? "at the consumer group's oldest pending entry"
              : delivered >= 0 ? "after the consumer group's last-delivered entry"
                               : "at the beginning (the consumer group has no position)";
    } else if (strcmp(start, "0")) {
        char buf[64];
        if (!strchr(start, '-')) {
            snprintf(buf, sizeof buf, "%s-0", start);
            start = buf;
        }
        int64_t id = rill__redis_id_parse(start, strlen(start));
        at = id >= 0 ? id + 1 : 0;
        how = "after the configured ID";
    }
    if (how) {
        char idtext[48];
        rill__redis_id_format(at, idtext, sizeof idtext);
        rill_log(r->t->log, RILL_LOG_INFO, r->t->name,
                 "%s: no committed ID in group %s; starting %s, at %s", s->key, r->group,
                 how, idtext);
    }
    return at;
}

static int64_t next_after(rctx_t *r, rstream_t *s, const redisReply *c) {
    if (c->type != REDIS_REPLY_STRING || !c->len) return RILL_OFFSET_INVALID;
    int64_t done = rill__redis_id_parse(c->str, c->len);
    if (done >= 0) return done + 1;
    s->poisoned = true;
    rill__redis_fail(r, RILL_ETRANSPORT, true,
                     "group %s: the committed ID %s of %s is beyond what an offset can "
                     "name: " RILL_REDIS_ID_LIMIT,
                     r->group, c->str, s->key);
    return 0;
}

typedef struct acq {
    rctx_t *r;
    char *topic;
    int32_t partition;
    uint64_t sent_ns;
} acq_t;

static void assign_acquired(rctx_t *r) {
    if (!r->nacquired) return;
    rill_tp_t *tps = r->acquired;
    size_t n = r->nacquired;
    r->acquired = NULL;
    r->nacquired = 0;
    rill_log(r->t->log, RILL_LOG_INFO, r->t->name, "group %s: assigned %zu partition(s)",
             r->group, n);
    const rill_transport_handlers_t *h = r->t->h;
    h->assigned(r->t, tps, n, h->opaque);
    free(tps);
    rill__redis_kick(r);
}

static void on_acquire(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    acq_t *q = priv;
    rctx_t *r = q->r;
    redisReply *rep = reply;
    r->acquiring--;
    bool ok = !r->closing && rep && rep->type == REDIS_REPLY_ARRAY &&
              rep->elements == 6 && rep->element[0]->type == REDIS_REPLY_INTEGER &&
              rep->element[0]->integer == 1;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        rill__redis_fail(r, RILL_ETRANSPORT, false, "acquiring %s:%d: %s", q->topic,
                         (int)q->partition, rep->str);
    rstream_t *s = NULL;
    if (ok) {
        const redisReply *ids = rep->element[2];
        s = rill__redis_stream_new(r, q->topic, q->partition, 0, false);
        if (s) s->owner_key = keyf(r, "owner", q->topic, q->partition);
        if (s && !s->owner_key) {
            rill__redis_stream_free(s);
            s = NULL;
        }
        if (s) {
            s->next = next_after(r, s, rep->element[1]);
            if (s->next == RILL_OFFSET_INVALID) s->next = s->first = start_at(r, s, rep);
            rill__redis_lease(r, s, q->sent_ns);
        }
        for (size_t i = 0; s && ids->type == REDIS_REPLY_ARRAY && i < ids->elements; i++)
            rill__redis_pel_add(
                s, rill__redis_id_parse(ids->element[i]->str, ids->element[i]->len));
    } else if (!r->closing) {
        hb_schedule(r, r->heartbeat_ms < 200 ? r->heartbeat_ms : 200); /* retry soon */
    }
    if (s && !r->subscribed) { /* left meanwhile */
        release(r, &s, 1);
        rill__redis_stream_free(s);
        s = NULL;
    }
    if (s) {
        s->next_s = r->parts;
        r->parts = s;
        rill_tp_t *tps = realloc(r->acquired, (r->nacquired + 1) * sizeof *tps);
        if (tps) {
            r->acquired = tps;
            tps[r->nacquired++] = (rill_tp_t){s->topic, s->partition};
        }
    }
    free(q->topic);
    free(q);
    if (r->acquiring == 0 && !r->closing) assign_acquired(r);
}

static void acquire(rctx_t *r, const char *topic, int32_t p) {
    acq_t *q = calloc(1, sizeof *q);
    char *owner = keyf(r, "owner", topic, p), *committed = keyf(r, "committed", NULL, 0);
    char stream[1024], field[1024], ttl[24];
    if (!rill__redis_stream_key(r, topic, p, stream, sizeof stream)) {
        free(q);
        free(owner);
        free(committed);
        return;
    }
    snprintf(field, sizeof field, "%s:%d", topic, (int)p);
    const char *start = start_of(r, rill__redis_bind(r, topic));
    snprintf(ttl, sizeof ttl, "%lld", (long long)r->session_ms);
    if (q && owner && committed && (q->topic = strdup(topic))) {
        q->r = r;
        q->partition = p;
        q->sent_ns = rill_mono_ns();
        const char *argv[] = {"EVAL",    ACQUIRE_LUA,     "3", owner,     stream,
                              committed, r->t->client_id, ttl, r->xgroup, field,
                              start};
        if (rill__redis_send(&r->cmd, on_acquire, q, 11, argv, NULL)) {
            r->acquiring++;
            q = NULL;
        }
    }
    if (q) free(q->topic);
    free(q);
    free(owner);
    free(committed);
}

/* ---- rebalance --------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Kafka's range assignor for one topic: member @p m of @p n gets [lo, lo+cnt). */
static void range_of(int32_t parts, int32_t n, int32_t m, int32_t *lo, int32_t *cnt) {
    *lo = m * (parts / n) + (m < parts % n ? m : parts % n);
    *cnt = parts / n + (m < parts % n);
}

static bool any_unconfirmed(const rctx_t *r) {
    for (const rstream_t *s = r->parts; s; s = s->next_s)
        if (s->unconfirmed) return true;
    return false;
}

static void rebalance(rctx_t *r, const redisReply *members) {
    /* unconfirmed partitions go as lost first (on_confirm_lost), not as revoked */
    if (r->revoking || r->acquiring || !r->subscribed || any_unconfirmed(r)) return;
    size_t n = members->elements, me = n;
    const char **ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids) return;
    for (size_t i = 0; i < n; i++)
        ids[i] = members->element[i]->str;
    qsort(ids, n, sizeof *ids, cmp_str);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ids[i], r->t->client_id)) me = i;
    free(ids);
    if (me == n) return; /* not registered yet */

    /* what this member owns but should not */
    size_t nown = 0;
    for (rstream_t *s = r->parts; s; s = s->next_s)
        nown++;
    rstream_t **drop = calloc(nown ? nown : 1, sizeof *drop);
    size_t ndrop = 0;
    if (!drop) return;
    for (rstream_t *s = r->parts; s; s = s->next_s) {
        rtopic_t *tp = rill__redis_topic(r, s->topic, NULL, 0);
        int32_t lo = 0, cnt = 0;
        if (tp) range_of(tp->partitions, (int32_t)n, (int32_t)me, &lo, &cnt);
        if (s->partition < lo || s->partition >= lo + cnt) drop[ndrop++] = s;
    }
    if (ndrop) {
        revoke(r, drop, ndrop, false);
        free(drop);
        return;
    }
    free(drop);
    for (size_t t = 0; t < r->nsubs; t++) {
        rtopic_t *tp = rill__redis_topic(r, r->subs[t], NULL, 0);
        if (!tp) continue;
        int32_t lo, cnt;
        range_of(tp->partitions, (int32_t)n, (int32_t)me, &lo, &cnt);
        for (int32_t p = lo; p < lo + cnt; p++)
            if (!rill__redis_find(r->parts, tp->name, p)) acquire(r, tp->name, p);
    }
}

/* ---- partitions lost outside a heartbeat's answer --------------------------------- */

static void on_confirm_lost(evutil_socket_t fd, short what, void *arg);

/* Park @p s and revoke it as lost from the loop (on_confirm_lost, which waits for
 * an open revoke to end); rebalance and confirm wait for that. */
static void lose_later(rctx_t *r, rstream_t *s) {
    if (!r->confirm_ev && !(r->confirm_ev = evtimer_new(r->t->base, on_confirm_lost, r)))
        return;
    if (!s->unconfirmed)
        rill_log(r->t->log, RILL_LOG_INFO, r->t->name,
                 "group %s: %s[%d] is not this member's any more: giving it up as lost",
                 r->group, s->topic, (int)s->partition);
    s->unconfirmed = true;
    rill__redis_park(r, s);
    rill__redis_kick(r);
    struct timeval now = {0, 0};
    evtimer_add(r->confirm_ev, &now);
}

void rill__redis_lose_soon(rctx_t *r, const char *topic, int32_t p) {
    if (!topic || r->closing) return;
    rstream_t *s = rill__redis_find(r->parts, topic, p);
    if (s) lose_later(r, s);
}

/* ---- heartbeat --------------------------------------------------------------------- */

typedef struct hbreq {
    rctx_t *r;
    uint64_t sent_ns;
    size_t n;
    rstream_t *owned[]; /* the owner keys it refreshed, in KEYS order */
} hbreq_t;

static void on_heartbeat(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    hbreq_t *q = priv;
    rctx_t *r = q->r;
    redisReply *rep = reply;
    r->hb_busy = false;
    if (r->closing || !rep) {
        free(q);
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
        rill__redis_fail(r, RILL_ETRANSPORT, false, "group %s heartbeat: %s", r->group,
                         rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        free(q);
        return;
    }
    const redisReply *mine = rep->element[1];
    rstream_t **lost = calloc(q->n ? q->n : 1, sizeof *lost);
    size_t nlost = 0;
    for (size_t i = 0; lost && i < q->n && i < mine->elements; i++) {
        for (rstream_t *s = r->parts; s; s = s->next_s) {
            if (s != q->owned[i]) continue;
            if (mine->element[i]->integer)
                rill__redis_lease(r, s, q->sent_ns);
            else
                lost[nlost++] = s;
        }
    }
    free(q);
    if (nlost && r->revoking) {
        /* Not now (one revoke at a time), but not forgotten: left alone, such a
         * partition stays this member's in its own eyes, its commits and writes
         * fenced, and nobody else takes it (the assignment gives it to this
         * member), so nothing of it would be committed again. */
        for (size_t i = 0; i < nlost; i++)
            lose_later(r, lost[i]);
    } else if (nlost) {
        rill__redis_fail(r, RILL_ETRANSPORT, false,
                         "group %s: %zu partition(s) taken over by another member (no "
                         "heartbeat for session.timeout.ms)",
                         r->group, nlost);
        revoke(r, lost, nlost, true);
    } else if (rep->element[0]->type == REDIS_REPLY_ARRAY) {
        rebalance(r, rep->element[0]);
    }
    free(lost);
    if (!r->closing) rill__redis_lease_renewed(r);
}

void rill__redis_heartbeat_now(rctx_t *r) {
    if (!r->subscribed || r->closing) return;
    if (r->hb_busy || !r->cmd.ready) {
        /* The timer that called this is spent: without a new one, a heartbeat
         * slower than the interval (a busy loop) or a connection down at that
         * moment would end the heartbeats for good, and the member would hold
         * its partitions in its own eyes while the group gives them away. */
        hb_schedule(r, r->heartbeat_ms);
        return;
    }
    size_t n = 0;
    for (rstream_t *s = r->parts; s; s = s->next_s)
        n++;
    hbreq_t *q = calloc(1, sizeof *q + n * sizeof q->owned[0]);
    const char **argv = calloc(9 + n, sizeof *argv);
    char *members = keyf(r, "members", NULL, 0);
    char member[1024], prefix[1024], nk[24], ttl[24];
    snprintf(member, sizeof member, "rill:%s:member:%s", r->group, r->t->client_id);
    snprintf(prefix, sizeof prefix, "rill:%s:member:", r->group);
    snprintf(nk, sizeof nk, "%zu", n + 2);
    snprintf(ttl, sizeof ttl, "%lld", (long long)r->session_ms);
    if (q && argv && members) {
        q->r = r;
        q->sent_ns = rill_mono_ns();
        int a = 0;
        argv[a++] = "EVAL";
        argv[a++] = HB_LUA;
        argv[a++] = nk;
        argv[a++] = members;
        argv[a++] = member;
        for (rstream_t *s = r->parts; s; s = s->next_s) {
            q->owned[q->n++] = s;
            argv[a++] = s->owner_key;
        }
        argv[a++] = r->t->client_id;
        argv[a++] = ttl;
        argv[a++] = prefix;
        if (rill__redis_send(&r->cmd, on_heartbeat, q, a, argv, NULL)) {
            r->hb_busy = true;
            q = NULL;
        }
    }
    free(q);
    free(argv);
    free(members);
    hb_schedule(r, r->heartbeat_ms);
}

static void on_hb_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rill__redis_heartbeat_now(arg);
}

/* ---- subscribe / unsubscribe --------------------------------------------------------
 */

rill_err_t rill__redis_subscribe(rill_transport_t *t, const char *group,
                                 const char *const *topics, size_t n, char *errstr,
                                 size_t errlen) {
    rctx_t *r = t->impl;
    if (r->subscribed || r->group) {
        snprintf(errstr, errlen, "already subscribed (group %s)", r->group);
        return RILL_ESTATE;
    }
    for (size_t i = 0; i < n; i++)
        if (!rill__redis_topic(r, topics[i], errstr, errlen)) return RILL_ENOENT;
    r->group = strdup(group);
    r->subs = calloc(n ? n : 1, sizeof *r->subs);
    if (!r->group || !r->subs) return RILL_ENOMEM;
    r->xgroup = r->xgroup_conf && *r->xgroup_conf ? r->xgroup_conf : r->group;
    for (size_t i = 0; i < n; i++)
        if (!(r->subs[r->nsubs++] = strdup(topics[i]))) return RILL_ENOMEM;
    if (!r->hb_ev && !(r->hb_ev = evtimer_new(t->base, on_hb_timer, r)))
        return RILL_ENOMEM;
    r->subscribed = true;
    rill__redis_heartbeat_now(r);
    hb_schedule(r, r->heartbeat_ms < 100 ? r->heartbeat_ms : 100); /* if cmd is not up */
    return RILL_OK;
}

rill_err_t rill__redis_unsubscribe(rill_transport_t *t) {
    rctx_t *r = t->impl;
    if (!r->subscribed) return RILL_OK;
    r->subscribed = false;
    if (r->hb_ev) evtimer_del(r->hb_ev);
    if (r->revoking) return RILL_OK; /* the answer revokes the rest, then leaves */
    size_t m = 0;
    for (rstream_t *s = r->parts; s; s = s->next_s)
        m++;
    if (!m) {
        leave(r, false);
        return RILL_OK;
    }
    rstream_t **all = calloc(m, sizeof *all);
    if (!all) return RILL_ENOMEM;
    m = 0;
    for (rstream_t *s = r->parts; s; s = s->next_s)
        all[m++] = s;
    revoke(r, all, m, false);
    free(all);
    return RILL_OK;
}

void rill__redis_group_close(rctx_t *r) {
    if (r->hb_ev) event_free(r->hb_ev);
    r->hb_ev = NULL;
    if (r->confirm_ev) event_free(r->confirm_ev);
    r->confirm_ev = NULL;
    size_t m = 0;
    for (rstream_t *s = r->parts; s; s = s->next_s)
        m++;
    if (m) {
        rstream_t **all = calloc(m, sizeof *all);
        m = 0;
        for (rstream_t *s = r->parts; all && s; s = s->next_s)
            all[m++] = s;
        if (all) {
            r->cmd.ready = false; /* release synchronously: the loop is not running */
            release(r, all, m);
        }
        free(all);
    }
    r->cmd.ready = false;
    rill__redis_release_pending(r);
    if (r->group && r->sync) leave(r, true);
    while (r->parts) {
        rstream_t *s = r->parts;
        r->parts = s->next_s;
        rill__redis_stream_free(s);
    }
    for (size_t i = 0; i < r->nsubs; i++)
        free(r->subs[i]);
    free(r->subs);
    free(r->group);
    free(r->revoking);
    free(r->acquired);
    r->subs = NULL;
    r->group = NULL;
    r->xgroup = NULL;
}

/* ---- confirm: after a loop stall ----------------------------------------------------
 *
 * The core stopped everything after a stall of its loop (heartbeats run on it, so
 * the session may have run out) and asks whether this member still owns what it
 * owned.  One script checks every owner key and, only if all are still this
 * member's, refreshes them with the membership: from then on the session runs
 * again, so the answer cannot go stale before the next heartbeat. */

static void on_confirm_lost(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    rctx_t *r = arg;
    if (r->closing) return;
    if (r->revoking) { /* a heartbeat found some lost first: after that one */
        struct timeval tv = {0, 50000};
        evtimer_add(r->confirm_ev, &tv);
        return;
    }
    size_t n = 0;
    for (rstream_t *s = r->parts; s; s = s->next_s)
        n += s->unconfirmed;
    rstream_t **gone = calloc(n ? n : 1, sizeof *gone);
    if (!gone) return;
    n = 0;
    for (rstream_t *s = r->parts; s; s = s->next_s)
        if (s->unconfirmed) gone[n++] = s;
    if (n) revoke(r, gone, n, true); /* then rebalance acquires afresh */
    free(gone);
}

rill_err_t rill__redis_confirm(rill_transport_t *t, char *errstr, size_t errlen) {
    rctx_t *r = t->impl;
    if (!r->subscribed) return RILL_OK; /* no assignment: nothing to lose */
    if (!r->confirm_ev && !(r->confirm_ev = evtimer_new(t->base, on_confirm_lost, r)))
        return RILL_ENOMEM;
    if (r->revoking || any_unconfirmed(r)) {
        /* Mid-rebalance: what this member keeps is not settled, and what it
         * acquires meanwhile is announced as it comes.  Answering "retry" made the
         * core confirm again after that, which announced those partitions a second
         * time; so everything held goes as lost instead (the core dropped it
         * already), and the rebalance that follows acquires afresh. */
        for (rstream_t *s = r->parts; s; s = s->next_s) {
            s->unconfirmed = true;
            rill__redis_park(r, s);
        }
        rill__redis_kick(r);
        struct timeval now = {0, 0};
        evtimer_add(r->confirm_ev, &now);
        snprintf(errstr, errlen,
                 "group %s is rebalancing: its partitions are given up and acquired "
                 "afresh",
                 r->group);
        return RILL_ENOTOWNER;
    }
    size_t n = 0;
    for (rstream_t *s = r->parts; s; s = s->next_s)
        n++;
    rstream_t **parts = calloc(n ? n : 1, sizeof *parts);
    const char **argv = calloc(8 + 2 * n, sizeof *argv);
    rill_tp_t *tps = calloc(n ? n : 1, sizeof *tps);
    char *members = keyf(r, "members", NULL, 0),
         *committed = keyf(r, "committed", NULL, 0);
    char member[1024], nk[24], ttl[24];
    snprintf(member, sizeof member, "rill:%s:member:%s", r->group, t->client_id);
    snprintf(nk, sizeof nk, "%zu", n + 3);
    snprintf(ttl, sizeof ttl, "%lld", (long long)r->session_ms);
    rill_err_t rc = RILL_ENOMEM;
    redisReply *rep = NULL;
    if (!parts || !argv || !tps || !members || !committed) goto out;
    int a = 0;
    argv[a++] = "EVAL";
    argv[a++] = CONFIRM_LUA;
    argv[a++] = nk;
    argv[a++] = members;
    argv[a++] = member;
    argv[a++] = committed;
    n = 0;
    for (rstream_t *s = r->parts; s; s = s->next_s) {
        parts[n++] = s;
        argv[a++] = s->owner_key;
    }
    argv[a++] = t->client_id;
    argv[a++] = ttl;
    for (size_t i = 0; i < n; i++)
        argv[a++] = parts[i]->key; /* the committed field is the stream's name */
    char err[256];
    uint64_t sent = rill_mono_ns();
    if (!(rep = rill__redis_sync(r, err, sizeof err, a, argv))) {
        snprintf(errstr, errlen, "%s", err);
        rc = RILL_ERETRY;
        goto out;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER ||
        rep->element[1]->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errlen, "group %s: unexpected reply to the confirm script",
                 r->group);
        rc = RILL_ERETRY;
        goto out;
    }
    const redisReply *list = rep->element[1];
    if (rep->element[0]->integer == 0) {
        /* Not all ours: every partition goes as lost (the core already dropped
         * them), from the loop, and the rebalance that follows acquires afresh. */
        size_t w = (size_t)snprintf(errstr, errlen, "group %s: ", r->group);
        for (size_t i = 0; i < list->elements; i++) {
            long long k = list->element[i]->integer - 1;
            if (k < 0 || (size_t)k >= n || w >= errlen) continue;
            w += (size_t)snprintf(errstr + w, errlen - w, "%s%s[%d]", i ? ", " : "",
                                  parts[k]->topic, (int)parts[k]->partition);
        }
        if (w < errlen)
            snprintf(errstr + w, errlen - w, " owned by another member or none now");
        for (size_t i = 0; i < n; i++) {
            parts[i]->unconfirmed = true;
            rill__redis_park(r, parts[i]);
        }
        rill__redis_kick(r); /* a blocked XREADGROUP over them returns now */
        struct timeval now = {0, 0};
        evtimer_add(r->confirm_ev, &now);
        rc = RILL_ENOTOWNER;
        goto out;
    }
    for (size_t i = 0; i < n && i < list->elements; i++) {
        int64_t nx = next_after(r, parts[i], list->element[i]);
        rill__redis_restart_at(r, parts[i],
                               nx == RILL_OFFSET_INVALID ? parts[i]->first : nx);
        rill__redis_lease(r, parts[i], sent);
        tps[i] = (rill_tp_t){parts[i]->topic, parts[i]->partition};
    }
    rill_log(t->log, RILL_LOG_INFO, t->name,
             "group %s: still owns its %zu partition(s) after a stall", r->group, n);
    if (n) t->h->assigned(t, tps, n, t->h->opaque);
    rill__redis_kick(r);
    rc = RILL_OK;
out:
    if (rep) freeReplyObject(rep);
    free(parts);
    free(argv);
    free(tps);
    free(members);
    free(committed);
    return rc;
}

/* ---- commits ---------------------------------------------------------------------- */

typedef struct commitreq {
    rctx_t *r;
    int32_t partition;
    char topic[]; /* NUL-ended */
} commitreq_t;

static void on_commit(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    commitreq_t *q = priv;
    rctx_t *r = q->r;
    redisReply *rep = reply;
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        rill__redis_fail(r, RILL_ETRANSPORT, false, "commit: %s", rep->str);
        /* Its owner key is not this member's: nothing of it can be committed, and
         * the heartbeat may not say so (while a revoke is open) */
        if (!strncmp(rep->str, "FENCED", 6))
            rill__redis_lose_soon(r, q->topic, q->partition);
    }
    free(q);
}

/* XACK the ids below @p next that the group handed to this member. */
static void ack_below(rctx_t *r, rstream_t *s, int64_t next) {
    enum { CHUNK = 512 };
    const char *argv[3 + CHUNK];
    char ids[CHUNK][48];
    size_t keep = 0, k = 0;
    argv[0] = "XACK";
    argv[1] = s->key;
    argv[2] = r->xgroup;
    for (size_t i = 0; i < s->npel; i++) {
        if (s->pel[i] >= next) {
            s->pel[keep++] = s->pel[i];
            continue;
        }
        rill__redis_id_format(s->pel[i], ids[k], sizeof ids[k]);
        argv[3 + k] = ids[k];
        if (++k == CHUNK) {
            rill__redis_send(&r->cmd, NULL, NULL, (int)(3 + k), argv, NULL);
            k = 0;
        }
    }
    if (k) rill__redis_send(&r->cmd, NULL, NULL, (int)(3 + k), argv, NULL);
    s->npel = keep;
}

rill_err_t rill__redis_commit(rill_transport_t *t, const rill_tp_offset_t *offs,
                              size_t n) {
    rctx_t *r = t->impl;
    if (!r->group) return RILL_ESTATE;
    if (!r->cmd.ready) return RILL_ERETRY;
    char *committed = keyf(r, "committed", NULL, 0);
    if (!committed) return RILL_ENOMEM;
    rill_err_t rc = RILL_OK;
    for (size_t i = 0; i < n; i++) {
        rstream_t *s = rill__redis_find(r->parts, offs[i].topic, offs[i].partition);
        if (!s) {
            rc = RILL_ENOTOWNER;
            continue;
        }
        if (offs[i].offset <= 0) continue;
        char id[48], field[1024];
        rill__redis_id_format(offs[i].offset - 1, id, sizeof id);
        snprintf(field, sizeof field, "%s:%d", s->topic, (int)s->partition);
        const char *argv[] = {"EVAL",    COMMIT_LUA,      "2",   s->owner_key,
                              committed, r->t->client_id, field, id};
        size_t tl = strlen(s->topic) + 1;
        commitreq_t *q = malloc(sizeof *q + tl);
        if (!q) {
            rc = RILL_ENOMEM;
            continue;
        }
        q->r = r;
        q->partition = s->partition;
        memcpy(q->topic, s->topic, tl);
        if (!rill__redis_send(&r->cmd, on_commit, q, 8, argv, NULL)) free(q);
        ack_below(r, s, offs[i].offset);
    }
    free(committed);
    return rc;
}

rill_err_t rill__redis_committed(rill_transport_t *t, const char *group,
                                 const char *topic, int32_t partition, int64_t *out) {
    rctx_t *r = t->impl;
    char key[1024], field[1024], err[256];
    snprintf(key, sizeof key, "rill:%s:committed", group);
    snprintf(field, sizeof field, "%s:%d", topic, (int)partition);
    const char *argv[] = {"HGET", key, field};
    redisReply *rep = rill__redis_sync(r, err, sizeof err, 3, argv);
    if (!rep) {
        rill_log(t->log, RILL_LOG_WARN, t->name, "committed offset of %s: %s", field,
                 err);
        return RILL_ETRANSPORT;
    }
    *out = rep->type == REDIS_REPLY_STRING ? rill__redis_id_parse(rep->str, rep->len) + 1
                                           : RILL_OFFSET_INVALID;
    freeReplyObject(rep);
    return RILL_OK;
}
