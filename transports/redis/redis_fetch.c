/* Reading streams into the core.
 *
 * An owned partition starts in RS_RANGE: plain XREAD from its next offset on the
 * tail connection, so it can start anywhere (committed offset, seek, resume) and
 * re-read what a dropped reply held.  Once a read comes back short it is caught up:
 * XGROUP SETID moves the group's last-delivered ID to it, and it switches to
 * XREADGROUP > on the group connection, where entries enter the pending list and
 * are XACKed at commit.  Readers (changelog recovery, standbys) stay on XREAD: a
 * short read is the end of the partition (the reader's eof()), after which they follow it
 * with a blocking XREAD.
 *
 * A reply is matched to the streams it was asked for by (pointer, gen): pause, seek
 * and mode changes bump gen, so a reply that raced them is dropped, never
 * delivered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "redis_int.h"

typedef struct ritem {
    rstream_t *s;
    unsigned gen;
} ritem_t;

typedef struct rreq {
    rctx_t *r;
    rconn_t *c;
    size_t n;
    ritem_t items[];
} rreq_t;

static void bump(rctx_t *r, rstream_t *s) {
    s->gen = ++r->gen_seq;
}

rstream_t *rill__redis_stream_new(rctx_t *r, const char *topic, int32_t partition,
                                  int64_t next, bool reader) {
    rstream_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    char key[1024];
    if (!rill__redis_stream_key(r, topic, partition, key, sizeof key)) {
        rill__redis_fail(
            r, RILL_EINVAL, true,
            "topic '%s' has no stream for partition %d (redis.topic.%s.stream)", topic,
            (int)partition, topic);
        free(s);
        return NULL;
    }
    s->topic = strdup(topic);
    s->key = strdup(key);
    if (!s->topic || !s->key) {
        rill__redis_stream_free(s);
        return NULL;
    }
    s->bind = rill__redis_bind(r, topic);
    s->partition = partition;
    s->reader = reader;
    s->mode = RS_RANGE;
    s->next = next < 0 ? 0 : next;
    bump(r, s);
    return s;
}

void rill__redis_stream_free(rstream_t *s) {
    if (!s) return;
    free(s->topic);
    free(s->key);
    free(s->owner_key);
    free(s->pel);
    free(s);
}

rstream_t *rill__redis_find(rstream_t *list, const char *topic, int32_t partition) {
    for (rstream_t *s = list; s; s = s->next_s)
        if (s->partition == partition && !strcmp(s->topic, topic)) return s;
    return NULL;
}

void rill__redis_pel_add(rstream_t *s, int64_t id) {
    if (id < 0) return; /* beyond the offsets: the consumer stops at it, unacked */
    if (s->npel == s->pelcap) {
        size_t cap = s->pelcap ? s->pelcap * 2 : 256;
        int64_t *p = realloc(s->pel, cap * sizeof *p);
        if (!p) return; /* not XACKed: stays visible in XPENDING, nothing is lost */
        s->pel = p;
        s->pelcap = cap;
    }
    s->pel[s->npel++] = id;
}

/* The stream a reply item was asked for, if it still exists (not freed). */
static rstream_t *by_ptr(rctx_t *r, const rstream_t *p) {
    for (rstream_t *s = r->parts; s; s = s->next_s)
        if (s == p) return s;
    for (rstream_t *s = r->readers; s; s = s->next_s)
        if (s == p) return s;
    return NULL;
}

/* ... and is unchanged since. */
static rstream_t *live(rctx_t *r, const ritem_t *it) {
    rstream_t *s = by_ptr(r, it->s);
    return s && s->gen == it->gen ? s : NULL;
}

/* ---- turning entries into messages ------------------------------------------------ */

typedef struct rbatch {
    rill_msg_t *msgs;
    size_t n, cap;
    rill_header_t *hdrs;
    size_t nh, hcap;
    json_t **jsons;
    size_t nj, jcap;
    size_t *hfirst; /* per message: index of its first header in hdrs */
    size_t fcap;
    char **owned; /* values made from entries (value=entry) */
    size_t no, ocap;
    char fatal[760]; /* on_decode_error=crash: reported after what came before */
} batch_t;

static bool grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static void batch_reset(batch_t *b) {
    for (size_t i = 0; i < b->nj; i++)
        json_decref(b->jsons[i]);
    for (size_t i = 0; i < b->no; i++)
        free(b->owned[i]);
    b->n = b->nh = b->nj = b->no = 0;
}

static void batch_free(batch_t *b) {
    batch_reset(b);
    free(b->msgs);
    free(b->hdrs);
    free(b->jsons);
    free(b->hfirst);
    free(b->owned);
}

/* A field rill did not expect to be unreadable: counted, and logged the 1st, 10th,
 * 100th... time, with the count. */
static void bad_field(rctx_t *r, uint64_t *count, const rstream_t *s,
                      const redisReply *id, const char *what) {
    ++*count;
    if (rill__redis_log_count(*count))
        rill_log(r->t->log, RILL_LOG_WARN, r->t->name,
                 "stream %s: entry %.*s: %s (%llu such entries so far)", s->key,
                 (int)id->len, id->str, what, (unsigned long long)*count);
}

static void parse_headers(rctx_t *r, batch_t *b, rill_msg_t *m, const rstream_t *s,
                          const redisReply *id, const char *str, size_t len) {
    json_t *o = json_loadb(str, len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        bad_field(r, &r->bad_headers, s, id,
                  "field 'headers' is not a JSON object; delivered without headers");
        return;
    }
    if (!grow((void **)&b->jsons, &b->jcap, b->nj + 1, sizeof *b->jsons)) {
        json_decref(o);
        return;
    }
    b->jsons[b->nj++] = o;
    const char *name;
    json_t *v;
    bool skipped = false;
    json_object_foreach(o, name, v) {
        if (!json_is_string(v)) {
            skipped = true;
            continue;
        }
        if (!grow((void **)&b->hdrs, &b->hcap, b->nh + 1, sizeof *b->hdrs)) return;
        b->hdrs[b->nh++] =
            (rill_header_t){name, json_string_value(v), json_string_length(v)};
        m->nheaders++;
    }
    if (skipped)
        bad_field(r, &r->bad_headers, s, id,
                  "field 'headers' has values that are not strings; those are left out");
}

static bool is_rill_field(const redisReply *k) {
    return (k->len == 3 && !memcmp(k->str, "key", 3)) ||
           (k->len == 5 && !memcmp(k->str, "value", 5)) ||
           (k->len == 7 && !memcmp(k->str, "headers", 7)) ||
           (k->len == 2 && !memcmp(k->str, "ts", 2));
}

/* The fields of an entry, for messages: "a, b, c" (the first few). */
static void field_names(const redisReply *f, char *buf, size_t n) {
    size_t w = 0;
    buf[0] = '\0';
    for (size_t i = 0; i + 1 < f->elements && w + 1 < n; i += 2) {
        const redisReply *k = f->element[i];
        if (k->type != REDIS_REPLY_STRING) continue;
        int l = snprintf(buf + w, n - w, "%s%.*s", w ? ", " : "", (int)k->len, k->str);
        if (l < 0) break;
        w += (size_t)l;
        if (w >= n) {
            if (n > 4) memcpy(buf + n - 4, "...", 4);
            break;
        }
    }
}

static void dead_letter(rctx_t *r, const rstream_t *s, const redisReply *id,
                        const redisReply *f, const char *why) {
    char topic[300], key[1024];
    if (r->dead_letter)
        snprintf(topic, sizeof topic, "%s", r->dead_letter);
    else
        snprintf(topic, sizeof topic, "%s-dead-letter", r->group ? r->group : "rill");
    /* keyless, like the core's dead letters of keyless events: partition 0 */
    if (!rill__redis_stream_key(r, topic, 0, key, sizeof key)) return;
    char *value = rill__redis_entry_json(s->bind, f);
    char part[16], idtext[48];
    snprintf(part, sizeof part, "%d", (int)s->partition);
    snprintf(idtext, sizeof idtext, "%.*s", (int)id->len, id->str);
    json_t *h = json_pack(
        "{ss ss ss ss ss ss ss ss ss}", "rill.error", why, "rill.topic", s->topic,
        "rill.partition", part, "rill.offset", idtext, "__streams.errors.exception",
        "RILL_EDECODE", "__streams.errors.message", why, "__streams.errors.topic",
        s->topic, "__streams.errors.partition", part, "__streams.errors.offset", idtext);
    char *hs = h ? json_dumps(h, JSON_COMPACT) : NULL;
    json_decref(h);
    if (value && hs) {
        const char *argv[] = {"XADD", key, "*", "value", value, "headers", hs};
        if (!rill__redis_send(&r->cmd, NULL, NULL, 7, argv, NULL))
            rill_log(r->t->log, RILL_LOG_ERROR, r->t->name,
                     "dead-letter XADD to %s not sent (connection down)", key);
    }
    free(value);
    free(hs);
}

/* An entry that fits no mapping of its topic: on_decode_error, here, since the core
 * never sees it.  Returns false when the stream must stop (crash). */
static bool unmapped(rctx_t *r, batch_t *b, rstream_t *s, const redisReply *id,
                     const redisReply *f, const char *why) {
    static const char *const policy[] = {"skip", "dead_letter", "crash"};
    char msg[700];
    snprintf(msg, sizeof msg, "stream %s: entry %.*s %s", s->key, (int)id->len, id->str,
             why);
    r->unmapped++;
    if (r->on_decode_error == 2) {
        s->poisoned = true;
        snprintf(b->fatal, sizeof b->fatal, "%s (on_decode_error=crash)", msg);
        return false;
    }
    rill_log(r->t->log, RILL_LOG_ERROR, r->t->name,
             "%s (on_decode_error=%s; %llu so far)", msg, policy[r->on_decode_error],
             (unsigned long long)r->unmapped);
    if (r->on_decode_error == 1) dead_letter(r, s, id, f, msg);
    return true;
}

/* Append the entry (id, [f, v, ...]) of stream @p s.  1: appended; 0: unusable or
 * left out (does not fit the topic's mapping); -1: stop reading the stream. */
static int add_entry(rctx_t *r, batch_t *b, rstream_t *s, const redisReply *e,
                     int64_t *id_out) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    const redisReply *eid = e->element[0];
    int64_t id = rill__redis_id_parse(eid->str, eid->len);
    *id_out = id;
    const redisReply *f = e->element[1];
    if (id < 0 || f->type != REDIS_REPLY_ARRAY) return 0; /* deleted or foreign ID */
    if (id < s->next) return 0; /* already delivered (re-read) */
    if (!grow((void **)&b->msgs, &b->cap, b->n + 1, sizeof *b->msgs) ||
        !grow((void **)&b->hfirst, &b->fcap, b->n + 1, sizeof *b->hfirst) ||
        !grow((void **)&b->owned, &b->ocap, b->no + 1, sizeof *b->owned))
        return 0;
    rill_msg_t *m = &b->msgs[b->n];
    memset(m, 0, sizeof *m);
    m->topic = s->topic;
    m->partition = s->partition;
    m->offset = id;
    m->timestamp_ms = (int64_t)((uint64_t)id >> RILL_REDIS_SEQ_BITS);
    b->hfirst[b->n] = b->nh;
    char why[400];
    if (s->bind && s->bind->value != RV_RILL) {
        char *owned = NULL;
        if (rill__redis_map_entry(s->bind, f, m, &owned, why, sizeof why) < 0)
            return unmapped(r, b, s, eid, f, why) ? 0 : -1;
        if (owned) b->owned[b->no++] = owned;
        b->n++;
        return 1;
    }
    bool foreign = false, has_value = false;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (!is_rill_field(k)) {
            foreign = true;
        } else if (k->len == 3) {
            m->key = v->str;
            m->key_len = v->len;
        } else if (k->len == 5) {
            m->value = v->str;
            m->value_len = v->len;
            has_value = true;
        } else if (k->len == 7) {
            parse_headers(r, b, m, s, eid, v->str, v->len);
        } else {
            char *end = NULL;
            long long ts = v->len && v->len < 20 ? strtoll(v->str, &end, 10) : -1;
            if (ts > 0 && end == v->str + v->len)
                m->timestamp_ms = ts;
            else
                bad_field(r, &r->bad_ts, s, eid,
                          "field 'ts' is not a timestamp in ms; the entry ID's time is "
                          "used");
        }
    }
    if (foreign && !has_value) { /* written by someone else, for someone else */
        char names[200];
        field_names(f, names, sizeof names);
        snprintf(why, sizeof why,
                 "has no field 'value' (it has %s): to read entries rill did not write, "
                 "set redis.topic.%s.value=entry or redis.topic.%s.value.field=NAME",
                 names, s->topic, s->topic);
        return unmapped(r, b, s, eid, f, why) ? 0 : -1;
    }
    b->n++;
    return 1;
}

/* The ID of entry @p e as Redis wrote it, or NULL. */
static const redisReply *entry_id(const redisReply *e) {
    return e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
                   e->element[0]->type == REDIS_REPLY_STRING
               ? e->element[0]
               : NULL;
}

/* Deliver the entries of one stream from a reply; returns how many entries it held.
 *
 * An entry whose ID has no offset (beyond RILL_REDIS_ID_LIMIT) ends the stream for
 * this transport, loudly: what comes before it is delivered, then the error handler
 * gets a fatal error naming it.  Skipping it would lose it without a trace, and,
 * since the position could not move past it, re-read it at every start; and when
 * its milliseconds are what is too big, every later ID is too (IDs only grow). */
static size_t deliver(rctx_t *r, rstream_t *s, const redisReply *entries, bool group) {
    if (!r->scratch && !(r->scratch = calloc(1, sizeof(batch_t)))) return 0;
    batch_t *bp = r->scratch;
#define b (*bp)
    batch_reset(&b);
    size_t got = entries->type == REDIS_REPLY_ARRAY ? entries->elements : 0;
    int64_t last = -1;
    char bad[96] = "";
    b.fatal[0] = '\0';
    for (size_t i = 0; i < got; i++) {
        int64_t id = -1;
        int ok = add_entry(r, &b, s, entries->element[i], &id);
        const redisReply *eid = entry_id(entries->element[i]);
        if (id < 0 && eid) {
            snprintf(bad, sizeof bad, "%.*s", (int)eid->len, eid->str);
            s->poisoned = true; /* no more reads of it: they would stop here again */
            break;
        }
        if (ok < 0) break; /* the fatal error is reported; deliver what came before */
        if (id >= 0) {
            if (group) rill__redis_pel_add(s, id);
            last = id;
        }
    }
    for (size_t i = 0; i < b.n; i++)
        b.msgs[i].headers = b.msgs[i].nheaders ? &b.hdrs[b.hfirst[i]] : NULL;
    if (last >= s->next) s->next = last + 1;
    if (b.n) {
        const rill_transport_handlers_t *h = r->t->h;
        if (s->reader)
            s->handle->h->messages(s->handle, b.msgs, b.n, s->handle->opaque);
        else
            h->messages(r->t, b.msgs, b.n, h->opaque);
    }
    batch_reset(&b);
    if (*b.fatal) rill__redis_fail(r, RILL_EDECODE, true, "%s", b.fatal);
#undef b
    if (*bad)
        rill__redis_fail(r, RILL_ETRANSPORT, true,
                         "stream %s: entry %s has an ID beyond what an offset can "
                         "name: " RILL_REDIS_ID_LIMIT "; not consuming past it, as "
                         "skipping would lose it: XDEL the entry, or recreate the "
                         "stream if later IDs are beyond the limit too",
                         s->key, bad);
    return got;
}

void rill__redis_fetch_close(rctx_t *r) {
    if (r->scratch) batch_free(r->scratch);
    free(r->scratch);
    r->scratch = NULL;
}

/* ---- leases ----------------------------------------------------------------------- */

void rill__redis_lease(rctx_t *r, rstream_t *s, uint64_t sent_ns) {
    s->lease_ns = sent_ns + (uint64_t)r->session_ms * 1000000u;
}

/* How long a read of partition @p s issued now may block and still end before its
 * owner key can expire (a margin kept for the trip to the server); below
 * LEASE_MIN_MS it waits for the next heartbeat instead.  Readers have no lease. */
#define LEASE_MIN_MS 10
static int64_t lease_left_ms(rctx_t *r, const rstream_t *s, uint64_t now) {
    if (s->reader) return INT64_MAX;
    int64_t margin = r->session_ms / 10 < 100 ? r->session_ms / 10 : 100;
    int64_t left = s->lease_ns > now ? (int64_t)((s->lease_ns - now) / 1000000u) : 0;
    if (left - margin >= LEASE_MIN_MS) return left - margin;
    r->lease_wait = true;
    return 0;
}

/* ---- group connection: XREADGROUP > ---------------------------------------------- */

static void to_range(rctx_t *r, rstream_t *s) {
    s->mode = RS_RANGE;
    bump(r, s);
}

static const redisReply *entries_of(const redisReply *rep, const char *key) {
    if (!rep || rep->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
            e->element[0]->type == REDIS_REPLY_STRING && !strcmp(e->element[0]->str, key))
            return e->element[1];
    }
    return NULL;
}

/* A key among a read's streams is no longer a stream (deleted and re-created as
 * another type): every read would fail again, so it is one fatal error, not a retry
 * loop. */
static bool wrong_type(rctx_t *r, const redisReply *rep, rreq_t *q, const char *cmd) {
    if (rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "WRONGTYPE", 9)) return false;
    char keys[400] = "", err[256];
    size_t w = 0;
    for (size_t i = 0; i < q->n; i++) {
        rstream_t *s = live(r, &q->items[i]);
        if (!s) continue;
        s->poisoned = true;
        if (r->wrongtype || w >= sizeof keys - 1) continue;
        /* which of them (once, on the blocking connection: the worker ends here) */
        const char *argv[] = {"TYPE", s->key};
        redisReply *t = rill__redis_sync(r, err, sizeof err, 2, argv);
        if (t && t->type == REDIS_REPLY_STATUS && strcmp(t->str, "stream") &&
            strcmp(t->str, "none"))
            w += (size_t)snprintf(keys + w, sizeof keys - w, "%s'%s' (a %s)",
                                  w ? ", " : "", s->key, t->str);
        if (t) freeReplyObject(t);
    }
    if (!r->wrongtype) {
        r->wrongtype = true;
        rill__redis_fail(r, RILL_ECONF, true,
                         "%s on redis at %s: %s %s not a stream (%s); bind the topic to "
                         "the right streams (redis.topic.<topic>.stream)",
                         cmd, r->where, *keys ? keys : "a key it reads",
                         strchr(keys, ',') ? "are" : "is", rep->str);
    }
    return true;
}

static void on_group_read(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    rreq_t *q = priv;
    rctx_t *r = q->r;
    redisReply *rep = reply;
    if (r->closing || !rep) { /* connection gone: every item re-reads from `next` */
        for (size_t i = 0; !r->closing && i < q->n; i++) {
            rstream_t *s = live(r, &q->items[i]);
            if (s) to_range(r, s);
        }
        free(q);
        if (!r->closing) rill__redis_release_pending(r);
        return;
    }
    r->grp.busy = r->grp.blocking = false;
    rill__redis_release_pending(r);
    if (wrong_type(r, rep, q, "XREADGROUP")) {
        /* poisoned: nothing more is read */
    } else if (rep->type == REDIS_REPLY_ERROR) {
        rill_log(r->t->log, RILL_LOG_WARN, r->t->name, "XREADGROUP: %s; re-reading",
                 rep->str);
        for (size_t i = 0; i < q->n; i++) {
            rstream_t *s = live(r, &q->items[i]);
            if (s) to_range(r, s);
        }
    } else {
        for (size_t i = 0; i < q->n && !r->closing; i++) {
            rstream_t *s = by_ptr(r, q->items[i].s);
            const redisReply *e = s ? entries_of(rep, s->key) : NULL;
            if (!e) continue;
            if (s->gen == q->items[i].gen) {
                deliver(r, s, e, true);
                continue;
            }
            /* it changed since: these are pending on us (XACKed at commit) and will be
             * re-read from `next` */
            for (size_t k = 0; k < e->elements; k++) {
                const redisReply *en = e->element[k];
                if (en->type == REDIS_REPLY_ARRAY && en->elements == 2 &&
                    en->element[0]->type == REDIS_REPLY_STRING)
                    rill__redis_pel_add(s, rill__redis_id_parse(en->element[0]->str,
                                                                en->element[0]->len));
            }
        }
    }
    free(q);
    rill__redis_kick(r);
}

static rreq_t *req_new(rctx_t *r, rconn_t *c, size_t n) {
    rreq_t *q = calloc(1, sizeof *q + n * sizeof q->items[0]);
    if (q) {
        q->r = r;
        q->c = c;
    }
    return q;
}

static bool group_readable(rctx_t *r, const rstream_t *s, uint64_t now, int64_t *block) {
    if (s->mode != RS_GROUP || s->paused || s->poisoned) return false;
    int64_t left = lease_left_ms(r, s, now);
    if (left < *block) *block = left;
    return left > 0;
}

static void issue_group(rctx_t *r) {
    size_t n = 0;
    uint64_t now = rill_mono_ns();
    int64_t blockms = r->block_ms;
    for (rstream_t *s = r->parts; s; s = s->next_s)
        n += group_readable(r, s, now, &blockms);
    if (!n || !r->group) return;
    rreq_t *q = req_new(r, &r->grp, n);
    const char **argv = calloc(10 + 2 * n, sizeof *argv);
    if (!q || !argv) {
        free(q);
        free(argv);
        return;
    }
    char count[24], block[24];
    snprintf(count, sizeof count, "%lld", (long long)r->batch);
    snprintf(block, sizeof block, "%lld", (long long)blockms);
    int a = 0;
    argv[a++] = "XREADGROUP";
    argv[a++] = "GROUP";
    argv[a++] = r->xgroup;
    argv[a++] = r->t->client_id;
    argv[a++] = "COUNT";
    argv[a++] = count;
    argv[a++] = "BLOCK";
    argv[a++] = block;
    argv[a++] = "STREAMS";
    int64_t unused = blockms;
    for (rstream_t *s = r->parts; s; s = s->next_s)
        if (group_readable(r, s, now, &unused)) {
            q->items[q->n++] = (ritem_t){s, s->gen};
            argv[a++] = s->key;
        }
    for (size_t i = 0; i < n; i++)
        argv[a++] = ">";
    if (rill__redis_send(&r->grp, on_group_read, q, a, argv, NULL))
        r->grp.busy = r->grp.blocking = true;
    else
        free(q);
    free(argv);
}

/* ---- tail connection: XREAD ------------------------------------------------------- */

static void on_setid(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    rreq_t *q = priv;
    rctx_t *r = q->r;
    redisReply *rep = reply;
    rstream_t *s = r->closing ? NULL : live(r, &q->items[0]);
    free(q);
    if (!s) return;
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        if (rep)
            rill_log(r->t->log, RILL_LOG_WARN, r->t->name, "XGROUP SETID %s: %s", s->key,
                     rep->str);
        to_range(r, s);
    } else {
        s->mode = RS_GROUP;
        bump(r, s);
    }
    rill__redis_kick(r);
}

/* Caught up: hand the partition to the group at exactly this position (only while
 * it is surely still ours: SETID moves the group for whoever owns it). */
static void start_group(rctx_t *r, rstream_t *s) {
    if (!lease_left_ms(r, s, rill_mono_ns())) return; /* read again once renewed */
    char id[48];
    rill__redis_id_format(s->next - 1, id, sizeof id);
    s->mode = RS_SETID;
    bump(r, s);
    rreq_t *q = req_new(r, &r->cmd, 1);
    if (!q) return;
    q->items[0] = (ritem_t){s, s->gen};
    q->n = 1;
    const char *create[] = {"XGROUP", "CREATE", s->key, r->xgroup, id, "MKSTREAM"};
    const char *setid[] = {"XGROUP", "SETID", s->key, r->xgroup, id};
    rill__redis_send(&r->cmd, NULL, NULL, 6, create, NULL); /* BUSYGROUP is fine */
    if (!rill__redis_send(&r->cmd, on_setid, q, 5, setid, NULL)) {
        free(q);
        to_range(r, s);
    }
}

static void on_tail_read(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    rreq_t *q = priv;
    rctx_t *r = q->r;
    redisReply *rep = reply;
    if (r->closing || !rep) {
        free(q);
        return;
    }
    bool blocking = r->tail.blocking;
    r->tail.busy = r->tail.blocking = false;
    if (wrong_type(r, rep, q, "XREAD")) {
        /* poisoned: nothing more is read */
    } else if (rep->type == REDIS_REPLY_ERROR) {
        rill__redis_fail(r, RILL_ETRANSPORT, false, "XREAD: %s", rep->str);
    } else {
        for (size_t i = 0; i < q->n && !r->closing; i++) {
            rstream_t *s = live(r, &q->items[i]);
            if (!s) continue;
            const redisReply *e = entries_of(rep, s->key);
            size_t got = e ? deliver(r, s, e, false) : 0;
            if ((s = live(r, &q->items[i])) == NULL) continue; /* changed in a handler */
            if (s->poisoned) continue;
            if (blocking) {
                if (got) s->at_eof = false; /* new data: read on, then report the end */
                continue;
            }
            if (got >= (size_t)r->batch) continue;
            if (!s->reader) {
                start_group(r, s);
            } else if (!s->at_eof) {
                s->at_eof = true;
                s->handle->h->eof(s->handle, s->next, s->handle->opaque);
            }
        }
    }
    free(q);
    rill__redis_kick(r);
}

/* An owned partition still catching up with XREAD.  Without a lease it waits: once
 * caught up it could not switch to the group, and would read again at once. */
static bool range_readable(rctx_t *r, const rstream_t *s, uint64_t now) {
    return s->mode == RS_RANGE && !s->paused && !s->poisoned && lease_left_ms(r, s, now);
}

static void issue_tail(rctx_t *r) {
    size_t n = 0, nfollow = 0;
    uint64_t now = rill_mono_ns();
    for (rstream_t *s = r->parts; s; s = s->next_s)
        n += range_readable(r, s, now);
    for (rstream_t *s = r->readers; s; s = s->next_s) {
        n += !s->at_eof && !s->poisoned;
        nfollow += s->at_eof && !s->poisoned;
    }
    bool follow = n == 0;
    if (follow) n = nfollow;
    if (!n) return;
    rreq_t *q = req_new(r, &r->tail, n);
    const char **argv = calloc(8 + 2 * n, sizeof *argv);
    char(*ids)[48] = calloc(n, sizeof *ids);
    if (!q || !argv || !ids) {
        free(q);
        free(argv);
        free(ids);
        return;
    }
    char count[24], block[24];
    snprintf(count, sizeof count, "%lld", (long long)r->batch);
    snprintf(block, sizeof block, "%lld", (long long)r->block_ms);
    int a = 0;
    argv[a++] = "XREAD";
    argv[a++] = "COUNT";
    argv[a++] = count;
    if (follow) {
        argv[a++] = "BLOCK";
        argv[a++] = block;
    }
    argv[a++] = "STREAMS";
    /* A stream two readers follow is named once, from the lower position: both
     * take their entries from the reply (each skips what it had). */
    int64_t *from = calloc(n, sizeof *from);
    size_t nk = 0, k0 = (size_t)a;
    if (!from) {
        free(q);
        free(argv);
        free(ids);
        return;
    }
    for (int pass = 0; pass < 2; pass++)
        for (rstream_t *s = pass ? r->readers : r->parts; s; s = s->next_s) {
            bool want = follow      ? (s->reader && s->at_eof)
                        : s->reader ? !s->at_eof
                                    : range_readable(r, s, now);
            if (!want || s->poisoned) continue;
            q->items[q->n++] = (ritem_t){s, s->gen};
            size_t k = 0;
            while (k < nk && strcmp(argv[k0 + k], s->key))
                k++;
            if (k == nk) {
                argv[a++] = s->key;
                from[nk++] = s->next;
            } else if (s->next < from[k]) {
                from[k] = s->next;
            }
        }
    for (size_t i = 0; i < nk; i++) {
        rill__redis_id_format(from[i] - 1, ids[i], sizeof ids[0]);
        argv[a++] = ids[i];
    }
    free(from);
    if (rill__redis_send(&r->tail, on_tail_read, q, a, argv, NULL)) {
        r->tail.busy = true;
        r->tail.blocking = follow;
    } else {
        free(q);
    }
    free(argv);
    free(ids);
}

/* State changed (or a read finished): wake blocked reads so they pick it up, and
 * start reads that are not running. */
void rill__redis_kick(rctx_t *r) {
    if (r->closing) return;
    /* one read per connection: a busy one is woken (once), never joined by another */
    if (r->grp.busy) {
        if (r->grp.blocking) rill__redis_unblock(r, &r->grp);
    } else if (r->grp.ready) {
        issue_group(r);
    }
    if (r->tail.busy) {
        if (r->tail.blocking) rill__redis_unblock(r, &r->tail);
    } else if (r->tail.ready) {
        issue_tail(r);
    }
}

/* ---- pause, resume, seek, readers ------------------------------------------------- */

rill_err_t rill__redis_pause(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    rctx_t *r = t->impl;
    for (size_t i = 0; i < n; i++) {
        rstream_t *s = rill__redis_find(r->parts, tps[i].topic, tps[i].partition);
        if (!s || s->paused) continue;
        s->paused = true;
        to_range(r, s); /* whatever a read in flight returns is dropped and re-read */
    }
    rill__redis_kick(r);
    return RILL_OK;
}

/* A renewed lease: what was held back for it goes now. */
void rill__redis_lease_renewed(rctx_t *r) {
    if (!r->lease_wait) return;
    r->lease_wait = false;
    rill__redis_kick(r);
}

void rill__redis_restart_at(rctx_t *r, rstream_t *s, int64_t next) {
    s->next = next < 0 ? 0 : next;
    s->paused = false;
    to_range(r, s);
}

void rill__redis_park(rctx_t *r, rstream_t *s) {
    s->paused = true;
    to_range(r, s);
}

rill_err_t rill__redis_resume(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    rctx_t *r = t->impl;
    for (size_t i = 0; i < n; i++) {
        rstream_t *s = rill__redis_find(r->parts, tps[i].topic, tps[i].partition);
        if (!s || !s->paused) continue;
        s->paused = false;
        bump(r, s);
    }
    rill__redis_kick(r);
    return RILL_OK;
}

rill_err_t rill__redis_seek(rill_transport_t *t, const char *topic, int32_t partition,
                            int64_t offset) {
    rctx_t *r = t->impl;
    rstream_t *s = rill__redis_find(r->parts, topic, partition);
    if (!s) return RILL_ENOTOWNER;
    s->next = offset < 0 ? 0 : offset;
    to_range(r, s);
    rill__redis_kick(r);
    return RILL_OK;
}

rill_err_t rill__redis_reader_start(rill_transport_t *t, rill_reader_t *rr,
                                    int64_t offset) {
    rctx_t *r = t->impl;
    rstream_t *s = rill__redis_stream_new(r, rr->topic, rr->partition, offset, true);
    if (!s) return RILL_ENOMEM;
    s->handle = rr;
    rr->impl = s;
    s->next_s = r->readers;
    r->readers = s;
    rill__redis_kick(r);
    return RILL_OK;
}

void rill__redis_reader_stop(rill_transport_t *t, rill_reader_t *rr) {
    rctx_t *r = t->impl;
    for (rstream_t **pp = &r->readers; *pp; pp = &(*pp)->next_s)
        if (*pp == rr->impl) {
            rstream_t *s = *pp;
            *pp = s->next_s;
            rill__redis_stream_free(s);
            rr->impl = NULL;
            rill__redis_kick(r);
            return;
        }
}
