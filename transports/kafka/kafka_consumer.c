/* The Kafka transport's consuming side: the group member (subscribe, rebalance,
 * commits, pause/resume/seek) and readers outside the group (changelogs).
 *
 * Rebalancing: librdkafka's range assignor with the eager protocol, so topics of
 * equal partition counts land partition-for-partition on the same member
 * (co-partitioning for tables).  On revoke the partitions stay assigned until the
 * core answers the revoke (revoke_answer); commits made meanwhile are synchronous, so
 * they land before the partitions move (the mock answers REBALANCE_IN_PROGRESS
 * otherwise). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_int.h"

#define BATCH 1024
#define BUDGET 16 /* batches per loop turn: others get the loop too */

static rill_tp_t *to_tps(const rd_kafka_topic_partition_list_t *l) {
    rill_tp_t *tps = calloc(l->cnt > 0 ? (size_t)l->cnt : 1, sizeof *tps);
    for (int i = 0; tps && i < l->cnt; i++) {
        tps[i].topic = l->elems[i].topic;
        tps[i].partition = l->elems[i].partition;
    }
    return tps;
}

static rd_kafka_topic_partition_list_t *to_list(const rill_tp_t *tps, size_t n) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, tps[i].topic, tps[i].partition);
    return l;
}

/* A message's headers, read at the first ask: rd_kafka_message_headers() parses
 * the record's header section on every call when it holds none (librdkafka 2.0.2
 * allocates and frees a parse buffer each time), which was 36 % of the consume
 * path in perf when every message was asked; most events never are. */
static size_t lazy_load(const rill_lazy_headers_t *lh, const rill_header_t **out) {
    klazy_t *z = (klazy_t *)(uintptr_t)lh; /* lh is the first member of its klazy_t */
    if (!z->read) {
        kctx_t *k = z->k;
        z->read = true;
        z->next_read = k->lazy_read;
        k->lazy_read = z;
        rd_kafka_headers_t *h;
        size_t cnt = rd_kafka_message_headers(z->m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR
                         ? rd_kafka_header_cnt(h)
                         : 0;
        if (cnt && !(z->hs = malloc(cnt * sizeof *z->hs))) {
            rill_log(k->t->log, RILL_LOG_ERROR, "kafka",
                     "out of memory reading the headers of %s[%d]@%lld",
                     rd_kafka_topic_name(z->m->rkt), (int)z->m->partition,
                     (long long)z->m->offset);
            cnt = 0;
        }
        const char *name;
        const void *val;
        size_t vl;
        for (size_t j = 0; j < cnt && !rd_kafka_header_get_all(h, j, &name, &val, &vl);
             j++)
            z->hs[z->n++] = (rill_header_t){name, val ? val : "", vl};
    }
    *out = z->n ? z->hs : NULL;
    return z->n;
}

/* Views of a batch of librdkafka messages, their headers read when asked
 * (lazy_load); msgs_done() after the views are handed over. */
static size_t to_msgs(kctx_t *k, rd_kafka_message_t **ms, size_t n) {
    rd_kafka_topic_t *rkt = NULL;
    const char *topic = NULL;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = ms[i];
        if (m->rkt != rkt) /* a batch is mostly one topic */
            topic = rd_kafka_topic_name(rkt = m->rkt);
        klazy_t *z = &k->lazy[i];
        z->m = m;
        z->read = false;
        rd_kafka_timestamp_type_t tt;
        k->batch[i] = (rill_msg_t){.topic = topic,
                                   .partition = m->partition,
                                   .offset = m->offset,
                                   .timestamp_ms = rd_kafka_message_timestamp(m, &tt),
                                   .key = m->key,
                                   .key_len = m->key_len,
                                   .value = m->payload,
                                   .value_len = m->len,
                                   .headers = (const rill_header_t *)(void *)&z->lh,
                                   .nheaders = RILL_MSG_HEADERS_LAZY};
    }
    return n;
}

/* The headers read from the batch just delivered: their views are gone. */
static void msgs_done(kctx_t *k) {
    while (k->lazy_read) {
        klazy_t *z = k->lazy_read;
        k->lazy_read = z->next_read;
        free(z->hs);
        z->hs = NULL;
        z->n = 0;
    }
}

static rill_err_t batch_alloc(kctx_t *k) {
    if (!k->batch && !(k->batch = calloc(BATCH, sizeof *k->batch))) return RILL_ENOMEM;
    if (!k->lazy) {
        if (!(k->lazy = calloc(BATCH, sizeof *k->lazy))) return RILL_ENOMEM;
        for (size_t i = 0; i < BATCH; i++)
            k->lazy[i] = (klazy_t){.lh = {lazy_load}, .k = k};
    }
    return RILL_OK;
}

/* ---- the group member
 * ------------------------------------------------------------------ */

static kpaused_t *paused_find(kctx_t *k, const char *topic, int32_t p) {
    for (size_t i = 0; i < k->npaused; i++)
        if (k->paused[i].partition == p && !strcmp(k->paused[i].topic, topic))
            return &k->paused[i];
    return NULL;
}

static void paused_del(kctx_t *k, kpaused_t *x) {
    free(x->topic);
    *x = k->paused[--k->npaused];
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    kctx_t *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (k->coop)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        if (!k->subscribed || !parts->cnt) return;
        for (int i = 0; i < parts->cnt; i++) { /* a new assignment starts unpaused */
            kpaused_t *x =
                paused_find(k, parts->elems[i].topic, parts->elems[i].partition);
            if (x) paused_del(k, x);
        }
        rill_tp_t *tps = to_tps(parts);
        if (tps) k->t->h->assigned(k->t, tps, (size_t)parts->cnt, k->t->h->opaque);
        free(tps);
        return;
    }
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        rill__kafka_error(k, err, "rebalance failed");
        rd_kafka_assign(rk, NULL);
        return;
    }
    if (k->pending_revoke) rd_kafka_topic_partition_list_destroy(k->pending_revoke);
    k->pending_revoke = rd_kafka_topic_partition_list_copy(parts);
    k->revoking = true;
    k->revoke_id = ++k->revoke_seq;
    if (!k->subscribed || !parts->cnt) { /* closing: nobody to ask */
        rill__kafka_revoke_answer(k->t, k->revoke_id);
        return;
    }
    rill_tp_t *tps = to_tps(parts);
    if (tps)
        k->t->h->revoke_request(k->t, tps, (size_t)parts->cnt,
                                rd_kafka_assignment_lost(rk), k->revoke_id,
                                k->t->h->opaque);
    free(tps);
}

/* Only the answer to the open revoke releases it (a late one to an earlier revoke
 * would give back partitions the core still works on). */
void rill__kafka_revoke_answer(rill_transport_t *t, rill_revoke_t rv) {
    kctx_t *k = t->impl;
    if (!k->revoking || !k->consumer || rv != k->revoke_id) return;
    k->revoking = false;
    if (k->coop) {
        /* only what is still assigned: leaving after unsubscribe() already gave
         * everything back, and unassigning it twice stalls librdkafka's rebalance
         * (and consumer_close with it) */
        rd_kafka_topic_partition_list_t *a = NULL, *l = rd_kafka_topic_partition_list_new(
                                                       k->pending_revoke->cnt);
        rd_kafka_assignment(k->consumer, &a);
        for (int i = 0; a && i < k->pending_revoke->cnt; i++) {
            const rd_kafka_topic_partition_t *e = &k->pending_revoke->elems[i];
            if (rd_kafka_topic_partition_list_find(a, e->topic, e->partition))
                rd_kafka_topic_partition_list_add(l, e->topic, e->partition);
        }
        rd_kafka_error_destroy(rd_kafka_incremental_unassign(k->consumer, l));
        rd_kafka_topic_partition_list_destroy(l);
        if (a) rd_kafka_topic_partition_list_destroy(a);
    } else
        rd_kafka_assign(k->consumer, NULL);
    rd_kafka_topic_partition_list_destroy(k->pending_revoke);
    k->pending_revoke = NULL;
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque) {
    (void)rk;
    (void)offsets;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        rill__kafka_error(opaque, err, rd_kafka_err2str(err));
}

static void drain_consumer(kq_t *kq) {
    kctx_t *k = kq->k;
    rd_kafka_message_t *ms[BATCH];
    for (int b = 0; b < BUDGET && k->consumer; b++) {
        /* Batches for speed; when the head of the queue is not a message (a
         * rebalance, an error), consumer_poll serves it: batch reads do not. */
        ssize_t n = rd_kafka_consume_batch_queue(k->cq.q, 0, ms, BATCH);
        if (n <= 0) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(k->consumer, 0);
            if (!m) {
                if (!k->consumer || rd_kafka_queue_length(k->cq.q) == 0) return;
                continue; /* it served an op; more are queued */
            }
            ms[0] = m;
            n = 1;
        }
        size_t good = 0;
        for (ssize_t i = 0; i < n; i++) {
            kpaused_t *x =
                k->npaused && !ms[i]->err
                    ? paused_find(k, rd_kafka_topic_name(ms[i]->rkt), ms[i]->partition)
                    : NULL;
            if (x) { /* fetched before the pause took effect: re-read at resume */
                if (x->dropped_from < 0 || ms[i]->offset < x->dropped_from)
                    x->dropped_from = ms[i]->offset;
                rd_kafka_message_destroy(ms[i]);
                continue;
            }
            if (!ms[i]->err) {
                ms[good++] = ms[i];
                continue;
            }
            if (ms[i]->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                rill__kafka_error(k, ms[i]->err, rd_kafka_message_errstr(ms[i]));
            rd_kafka_message_destroy(ms[i]);
        }
        size_t nm = good ? to_msgs(k, ms, good) : 0;
        if (nm && k->subscribed) k->t->h->messages(k->t, k->batch, nm, k->t->h->opaque);
        msgs_done(k);
        for (size_t i = 0; i < good; i++)
            rd_kafka_message_destroy(ms[i]);
    }
    rill__kafka_queue_more(&k->cq); /* more: after others had a turn */
}

static void setdef(rd_kafka_conf_t *c, const char *key, const char *val) {
    char err[256];
    rd_kafka_conf_set(c, key, val, err, sizeof err);
}

rill_err_t rill__kafka_subscribe(rill_transport_t *t, const char *group,
                                 const char *const *topics, size_t n, char *errstr,
                                 size_t errlen) {
    kctx_t *k = t->impl;
    if (k->consumer) {
        snprintf(errstr, errlen, "already subscribed");
        return RILL_ESTATE;
    }
    if (batch_alloc(k)) return RILL_ENOMEM;
    rd_kafka_conf_t *c = rd_kafka_conf_dup(k->base_conf);
    char err[256];
    if (rd_kafka_conf_set(c, "group.id", group, err, sizeof err) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errlen, "group.id: %s", err);
        rd_kafka_conf_destroy(c);
        return RILL_ECONF;
    }
    setdef(c, "enable.auto.commit", "false");
    setdef(c, "enable.auto.offset.store", "false");
    /* librdkafka defaults rill changes unless the user set them (kafka.*) */
    if (!k->user_qmin)
        setdef(c, "queued.min.messages", "1000000"); /* 100000 stalls: ~5x slower */
    if (!k->user_reset) setdef(c, "auto.offset.reset", "earliest"); /* like Faust */
    if (!k->user_strategy)
        setdef(c, "partition.assignment.strategy", "range"); /* co-partitioning */
    /* The protocol follows from the assignors (librdkafka refuses a mix of eager
     * and cooperative ones), so it is known here, once.  rd_kafka_rebalance_protocol()
     * asks the group handle on librdkafka's main thread: from a rebalance that
     * consumer_close() serves once the handle has terminated it answers NULL, or
     * never returns (the request lost in the handle's purged queue); both seen
     * when a worker is destroyed with its group's next rebalance queued. */
    char strategy[256] = "";
    size_t ssz = sizeof strategy;
    rd_kafka_conf_get(c, "partition.assignment.strategy", strategy, &ssz);
    k->coop = strstr(strategy, "cooperative") != NULL;
    rd_kafka_conf_set_rebalance_cb(c, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(c, commit_cb);
    rill_err_t rc =
        rill__kafka_client(k, RD_KAFKA_CONSUMER, c, &k->consumer, errstr, errlen);
    if (rc) return rc;
    if (!(k->group = strdup(group))) return RILL_ENOMEM;
    rd_kafka_poll_set_consumer(k->consumer);
    k->subscribed = true;
    if ((rc = rill__kafka_queue_wire(k, &k->cq, rd_kafka_queue_get_consumer(k->consumer),
                                     drain_consumer)))
        return rc;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(k->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        snprintf(errstr, errlen, "subscribe: %s", rd_kafka_err2str(e));
        return rill__kafka_err(e);
    }
    return RILL_OK;
}

rill_err_t rill__kafka_unsubscribe(rill_transport_t *t) {
    kctx_t *k = t->impl;
    if (!k->consumer) return RILL_OK;
    /* Revoke what we have through the core first, then leave the group. */
    rd_kafka_topic_partition_list_t *a = NULL;
    if (!rd_kafka_assignment(k->consumer, &a) && a && a->cnt && !k->revoking) {
        k->pending_revoke = rd_kafka_topic_partition_list_copy(a);
        k->revoking = true;
        k->revoke_id = ++k->revoke_seq;
        rill_tp_t *tps = to_tps(a);
        if (tps)
            t->h->revoke_request(t, tps, (size_t)a->cnt, false, k->revoke_id,
                                 t->h->opaque);
        free(tps);
    }
    if (a) rd_kafka_topic_partition_list_destroy(a);
    k->subscribed = false;
    rd_kafka_unsubscribe(k->consumer);
    return RILL_OK;
}

static rill_err_t pause_resume(rill_transport_t *t, const rill_tp_t *tps, size_t n,
                               bool pause) {
    kctx_t *k = t->impl;
    if (!k->consumer) return RILL_ESTATE;
    rd_kafka_topic_partition_list_t *l = to_list(tps, n);
    rd_kafka_resp_err_t e = pause ? rd_kafka_pause_partitions(k->consumer, l)
                                  : rd_kafka_resume_partitions(k->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    for (size_t i = 0; i < n && !e; i++) {
        kpaused_t *x = paused_find(k, tps[i].topic, tps[i].partition);
        if (pause && !x) {
            if (k->npaused == k->cappaused) {
                size_t cap = k->cappaused ? k->cappaused * 2 : 16;
                kpaused_t *np = realloc(k->paused, cap * sizeof *np);
                if (!np) return RILL_ENOMEM;
                k->paused = np;
                k->cappaused = cap;
            }
            char *name = strdup(tps[i].topic);
            if (!name) return RILL_ENOMEM;
            k->paused[k->npaused++] = (kpaused_t){name, tps[i].partition, -1};
        } else if (!pause && x) {
            int64_t from = x->dropped_from;
            paused_del(k, x);
            if (from >= 0) rill__kafka_seek(t, tps[i].topic, tps[i].partition, from);
        }
    }
    return rill__kafka_err(e);
}

rill_err_t rill__kafka_pause(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    return pause_resume(t, tps, n, true);
}

rill_err_t rill__kafka_resume(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    return pause_resume(t, tps, n, false);
}

static int64_t kafka_offset(int64_t off) {
    return off == RILL_OFFSET_BEGINNING ? RD_KAFKA_OFFSET_BEGINNING
           : off == RILL_OFFSET_END     ? RD_KAFKA_OFFSET_END
                                        : off;
}

rill_err_t rill__kafka_seek(rill_transport_t *t, const char *topic, int32_t partition,
                            int64_t offset) {
    kctx_t *k = t->impl;
    if (!k->consumer) return RILL_ESTATE;
    kpaused_t *x = paused_find(k, topic, partition);
    if (x) x->dropped_from = -1; /* an explicit position replaces the re-read */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = kafka_offset(offset);
    rd_kafka_error_t *e = rd_kafka_seek_partitions(k->consumer, l, (int)k->timeout_ms);
    rill_err_t rc = RILL_OK;
    if (e) {
        rc = rill__kafka_err(rd_kafka_error_code(e));
        rd_kafka_error_destroy(e);
    } else if (l->elems[0].err) {
        rc = rill__kafka_err(l->elems[0].err);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

rill_err_t rill__kafka_commit(rill_transport_t *t, const rill_tp_offset_t *offs,
                              size_t n) {
    kctx_t *k = t->impl;
    if (!k->consumer) return RILL_ESTATE;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, offs[i].topic, offs[i].partition)->offset =
            offs[i].offset;
    /* During a revoke: synchronous, so it lands before the partitions move. */
    rd_kafka_resp_err_t e = rd_kafka_commit(k->consumer, l, k->revoking ? 0 : 1);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) rill__kafka_error(k, e, "commit failed");
    return rill__kafka_err(e);
}

rill_err_t rill__kafka_committed(rill_transport_t *t, const char *group,
                                 const char *topic, int32_t partition, int64_t *out) {
    kctx_t *k = t->impl;
    rd_kafka_t *rk =
        k->consumer && k->group && !strcmp(k->group, group) ? k->consumer : NULL;
    rd_kafka_t *tmp = NULL;
    if (!rk) { /* another group (tools, tests): a short-lived client */
        rd_kafka_conf_t *c = rd_kafka_conf_dup(k->base_conf);
        char err[256];
        rd_kafka_conf_set(c, "group.id", group, err, sizeof err);
        char e2[256];
        if (rill__kafka_client(k, RD_KAFKA_CONSUMER, c, &tmp, e2, sizeof e2))
            return RILL_ETRANSPORT;
        rk = tmp;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, l, (int)k->timeout_ms);
    *out = !e && l->elems[0].offset >= 0 ? l->elems[0].offset : RILL_OFFSET_INVALID;
    rd_kafka_topic_partition_list_destroy(l);
    if (tmp) {
        rd_kafka_consumer_close(tmp);
        rd_kafka_destroy(tmp);
    }
    return rill__kafka_err(e);
}

/* ---- readers (outside the group)
 * ------------------------------------------------------------ */

static void drain_reader_main(kq_t *kq) {
    krclient_t *c = kq->owner;
    for (int i = 0; i < 64 && rd_kafka_poll(c->rk, 0) > 0; i++) {
    }
}

/* The reader of partition @p partition of @p rkt on client @p c, or NULL (closed
 * meanwhile, by a handler: what is left of the batch for it is dropped). */
static kreader_t *reader_of(kctx_t *k, krclient_t *c, rd_kafka_topic_t *rkt,
                            int32_t partition) {
    const char *topic = rd_kafka_topic_name(rkt);
    for (kreader_t *r = k->readers; r; r = r->next)
        if (r->client == c && r->r->partition == partition && !strcmp(r->r->topic, topic))
            return r;
    return NULL;
}

/* One client's messages, in runs of one partition: each run to its reader only. */
static void drain_readers(kq_t *kq) {
    kctx_t *k = kq->k;
    krclient_t *c = kq->owner;
    rd_kafka_message_t *ms[BATCH];
    for (int b = 0; b < BUDGET; b++) {
        ssize_t n = rd_kafka_consume_batch_queue(c->rq.q, 0, ms, BATCH);
        if (n <= 0) return;
        for (ssize_t i = 0, j; i < n; i = j) {
            rd_kafka_message_t *m = ms[i];
            j = i + 1;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                kreader_t *kr = reader_of(k, c, m->rkt, m->partition);
                if (kr) kr->r->h->eof(kr->r, m->offset, kr->r->opaque);
                continue;
            }
            if (m->err) {
                rill__kafka_error(k, m->err, rd_kafka_message_errstr(m));
                continue;
            }
            while (j < n && !ms[j]->err && ms[j]->rkt == m->rkt &&
                   ms[j]->partition == m->partition)
                j++;
            kreader_t *kr = reader_of(k, c, m->rkt, m->partition);
            size_t nm = kr ? to_msgs(k, &ms[i], (size_t)(j - i)) : 0;
            if (nm) kr->r->h->messages(kr->r, k->batch, nm, kr->r->opaque);
            msgs_done(k);
        }
        for (ssize_t i = 0; i < n; i++)
            rd_kafka_message_destroy(ms[i]);
        if (n < BATCH) return;
    }
    rill__kafka_queue_more(&c->rq);
}

static void client_free(krclient_t *c) {
    rill__kafka_queue_unwire(&c->rq);
    rill__kafka_queue_unwire(&c->rmq);
    if (c->rk) rd_kafka_destroy(c->rk);
    free(c);
}

/* A client that does not read @p topic/@p partition yet (a new one if all do). */
static rill_err_t reader_client(kctx_t *k, const char *topic, int32_t partition,
                                krclient_t **out) {
    for (krclient_t *c = k->rclients; c; c = c->next) {
        bool busy = false;
        for (kreader_t *r = k->readers; r && !busy; r = r->next)
            busy = r->client == c && r->r->partition == partition &&
                   !strcmp(r->r->topic, topic);
        if (!busy) {
            *out = c;
            return RILL_OK;
        }
    }
    if (batch_alloc(k)) return RILL_ENOMEM;
    krclient_t *c = calloc(1, sizeof *c);
    if (!c) return RILL_ENOMEM;
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(k->base_conf);
    setdef(conf, "enable.partition.eof", "true");
    setdef(conf, "enable.auto.commit", "false");
    if (!k->user_qmin) setdef(conf, "queued.min.messages", "1000000");
    char err[256];
    rill_err_t rc =
        rill__kafka_client(k, RD_KAFKA_CONSUMER, conf, &c->rk, err, sizeof err);
    c->rq.owner = c->rmq.owner = c; /* before wiring: it drains at once */
    if (rc == RILL_OK)
        rc = rill__kafka_queue_wire(k, &c->rmq, rd_kafka_queue_get_main(c->rk),
                                    drain_reader_main);
    if (rc == RILL_OK)
        rc = rill__kafka_queue_wire(k, &c->rq, rd_kafka_queue_new(c->rk), drain_readers);
    if (rc != RILL_OK) {
        client_free(c);
        return rc;
    }
    c->next = k->rclients;
    k->rclients = c;
    *out = c;
    return RILL_OK;
}

rill_err_t rill__kafka_reader_start(rill_transport_t *t, rill_reader_t *rr,
                                    int64_t offset) {
    kctx_t *k = t->impl;
    krclient_t *c = NULL;
    rill_err_t rc = reader_client(k, rr->topic, rr->partition, &c);
    if (rc) return rc;
    kreader_t *r = calloc(1, sizeof *r);
    if (!r) return RILL_ENOMEM;
    r->r = rr;
    r->client = c;
    r->rkt = rd_kafka_topic_new(c->rk, rr->topic, NULL);
    if (!r->rkt || rd_kafka_consume_start_queue(r->rkt, rr->partition,
                                                kafka_offset(offset), c->rq.q)) {
        rc = rill__kafka_err(rd_kafka_last_error());
        if (r->rkt) rd_kafka_topic_destroy(r->rkt);
        free(r);
        return rc ? rc : RILL_ETRANSPORT;
    }
    r->next = k->readers;
    k->readers = r;
    rr->impl = r;
    return RILL_OK;
}

static void reader_free(kreader_t *r) {
    rd_kafka_consume_stop(r->rkt, r->r->partition);
    rd_kafka_topic_destroy(r->rkt);
    free(r);
}

void rill__kafka_reader_stop(rill_transport_t *t, rill_reader_t *rr) {
    kctx_t *k = t->impl;
    for (kreader_t **pp = &k->readers; *pp; pp = &(*pp)->next) {
        kreader_t *r = *pp;
        if (r->r != rr) continue;
        *pp = r->next;
        reader_free(r);
        rr->impl = NULL;
        return;
    }
}

void rill__kafka_consumer_close(kctx_t *k) {
    while (k->npaused)
        paused_del(k, &k->paused[0]);
    free(k->paused);
    k->paused = NULL;
    while (k->readers) {
        kreader_t *r = k->readers;
        k->readers = r->next;
        reader_free(r);
    }
    while (k->rclients) {
        krclient_t *c = k->rclients;
        k->rclients = c->next;
        client_free(c);
    }
    if (k->consumer) {
        k->subscribed = false; /* no handler runs from here on */
        rill__kafka_queue_unwire(&k->cq);
        rd_kafka_consumer_close(k->consumer);
        if (k->pending_revoke) rd_kafka_topic_partition_list_destroy(k->pending_revoke);
        k->pending_revoke = NULL;
        rd_kafka_destroy(k->consumer);
        k->consumer = NULL;
    }
    free(k->group);
    k->group = NULL;
}

/* ---- membership after a stall
 * ---------------------------------------------------------- */

static int64_t conf_ms(kctx_t *k, const char *name, int64_t def) {
    char buf[64];
    size_t sz = sizeof buf;
    if (!k->base_conf ||
        rd_kafka_conf_get(k->base_conf, name, buf, &sz) != RD_KAFKA_CONF_OK)
        return def;
    long long v = strtoll(buf, NULL, 10);
    return v > 0 ? v : def;
}

int64_t rill__kafka_session_ms(rill_transport_t *t) {
    return conf_ms(t->impl, "session.timeout.ms", 45000);
}

int64_t rill__kafka_poll_ms(rill_transport_t *t) {
    return conf_ms(t->impl, "max.poll.interval.ms", 300000);
}

/* Where a partition with no committed offset starts: auto.offset.reset. */
static int64_t reset_offset(kctx_t *k, const char *topic, int32_t p) {
    char buf[32] = "earliest";
    size_t sz = sizeof buf;
    if (k->user_reset) rd_kafka_conf_get(k->base_conf, "auto.offset.reset", buf, &sz);
    bool latest =
        !strcmp(buf, "latest") || !strcmp(buf, "largest") || !strcmp(buf, "end");
    int64_t lo = -1, hi = -1;
    if (rd_kafka_query_watermark_offsets(k->consumer, topic, p, &lo, &hi,
                                         (int)k->timeout_ms) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    return latest ? hi : lo;
}

/* The group validates an OffsetCommit against the member id and generation, so a
 * synchronous commit of the offsets the group already has is a probe that changes
 * nothing: accepted, this member still holds its assignment; UNKNOWN_MEMBER_ID or
 * ILLEGAL_GENERATION, it was replaced.  Accepted: every assigned partition goes
 * back to its committed offset and is announced again. */
rill_err_t rill__kafka_confirm(rill_transport_t *t, char *errstr, size_t errlen) {
    kctx_t *k = t->impl;
    if (!k->consumer || !k->subscribed) return RILL_ERETRY;
    /* Mid-rebalance under the eager protocol (range, rill's default) the next
     * assignment is the whole of it and is announced when it comes; a confirm
     * after it would announce it twice.  Cooperative rebalances keep what is not
     * revoked, unannounced: those ask again. */
    bool eager = !k->coop;
    if (k->revoking) {
        if (!eager) return RILL_ERETRY;
        snprintf(errstr, errlen, "the group is rebalancing");
        return RILL_ENOTOWNER;
    }
    if (rd_kafka_assignment_lost(k->consumer)) {
        snprintf(errstr, errlen, "the group expired this member's session");
        return RILL_ENOTOWNER;
    }
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(k->consumer, &a) || !a) return RILL_ERETRY;
    if (!a->cnt) { /* nothing to write for: its next assignment comes as usual */
        snprintf(errstr, errlen, "(it holds no partitions)");
        rd_kafka_topic_partition_list_destroy(a);
        return RILL_OK;
    }
    rill_err_t rc = RILL_OK;
    rd_kafka_resp_err_t e = rd_kafka_committed(k->consumer, a, (int)k->timeout_ms);
    for (int i = 0; !e && i < a->cnt; i++) {
        rd_kafka_topic_partition_t *p = &a->elems[i];
        if (p->offset < 0) p->offset = reset_offset(k, p->topic, p->partition);
        if (p->offset < 0) e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    }
    if (!e) e = rd_kafka_commit(k->consumer, a, 0);
    if (e) {
        snprintf(errstr, errlen, "probe commit: %s", rd_kafka_err2str(e));
        rc = e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
                     e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
                     e == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID ||
                     (eager && e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
                 ? RILL_ENOTOWNER
                 : RILL_ERETRY;
        rd_kafka_topic_partition_list_destroy(a);
        return rc;
    }
    rill_tp_t *tps = to_tps(a);
    for (int i = 0; tps && i < a->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &a->elems[i];
        rill__kafka_seek(t, p->topic, p->partition, p->offset);
        kpaused_t *x = paused_find(k, p->topic, p->partition);
        if (x) { /* a new assignment starts unpaused */
            paused_del(k, x);
            rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(one, p->topic, p->partition);
            rd_kafka_resume_partitions(k->consumer, one);
            rd_kafka_topic_partition_list_destroy(one);
        }
    }
    if (tps) t->h->assigned(t, tps, (size_t)a->cnt, t->h->opaque);
    free(tps);
    rd_kafka_topic_partition_list_destroy(a);
    return tps ? RILL_OK : RILL_ENOMEM;
}
