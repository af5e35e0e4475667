/* memory:// delivery: waking instances, handing batches of messages to group
 * members and readers round-robin, the control event (delivery reports, rebalance
 * steps, writable), pause/resume, seek and readers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_int.h"

int rill__mem_dispatching;

void rill__mem_wake(mem_ctx_t *c) {
    if (c->dispatch_ev && !c->closing && !c->wake_pending) {
        c->wake_pending = true;
        event_active(c->dispatch_ev, EV_TIMEOUT, 0);
    }
}

void rill__mem_wake_control(mem_ctx_t *c) {
    if (c->control_ev && !c->closing) event_active(c->control_ev, EV_TIMEOUT, 0);
}

static void fill_msg(rill_msg_t *m, const mem_topic_t *t, int32_t partition,
                     const mem_entry_t *e) {
    m->topic = t->name;
    m->partition = partition;
    m->offset = e->offset;
    m->timestamp_ms = e->timestamp_ms;
    m->key = e->has_key ? E_KEY(e) : NULL;
    m->key_len = e->klen;
    m->value = e->tombstone ? NULL : E_VALUE(e);
    m->value_len = e->vlen;
    m->headers = e->nheaders ? E_HEADERS(e) : NULL;
    m->nheaders = e->nheaders;
}

/* Deliver up to @p budget messages from cursor @p cur; returns how many. */
static size_t deliver_cursor(mem_ctx_t *c, size_t idx, bool reader, size_t budget) {
    mem_cursor_t *cur = reader ? &c->readers[idx] : &c->assigned[idx];
    mem_part_t *p = &cur->topic->parts[cur->partition];
    size_t i = rill__mem_part_seek(p, cur->position), n = 0;
    while (i < p->n && n < budget && n < BATCH_MAX)
        fill_msg(&c->batch[n++], cur->topic, cur->partition, p->entries[i++]);
    if (n) {
        cur->position = c->batch[n - 1].offset + 1;
        cur->eof_sent = false;
        c->dispatching++;
        rill__mem_dispatching++;
        if (reader)
            cur->r->h->messages(cur->r, c->batch, n, cur->r->opaque);
        else
            c->t->h->messages(c->t, c->batch, n, c->t->h->opaque);
        rill__mem_dispatching--;
        c->dispatching--;
    } else if (reader && !cur->eof_sent) {
        cur->eof_sent = true;
        if (cur->position < p->next_offset) cur->position = p->next_offset;
        cur->r->h->eof(cur->r, p->next_offset, cur->r->opaque);
    }
    return n;
}

static bool cursor_has_more(const mem_cursor_t *cur, bool reader) {
    const mem_part_t *p = &cur->topic->parts[cur->partition];
    if (cur->paused || (!reader && !cur->announced)) return false;
    return cur->position < p->next_offset || (reader && !cur->eof_sent);
}

void rill__mem_on_dispatch(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    mem_ctx_t *c = arg;
    c->wake_pending = false;
    size_t budget = DISPATCH_BUDGET;
    bool more = true;
    while (budget > 0 && more && !c->closing) {
        more = false;
        /* Round-robin over partitions so one busy partition cannot starve others.
         * Indices, not pointers: handlers may pause, seek or close cursors. */
        for (size_t i = 0; i < c->nassigned && budget > 0 && !c->closing; i++) {
            if (!cursor_has_more(&c->assigned[i], false)) continue;
            size_t n = deliver_cursor(c, i, false, budget > 256 ? 256 : budget);
            budget -= n;
            more = true;
        }
        for (size_t i = 0; i < c->nreaders && budget > 0 && !c->closing; i++) {
            if (!cursor_has_more(&c->readers[i], true)) continue;
            size_t n = deliver_cursor(c, i, true, budget > 256 ? 256 : budget);
            budget -= n;
            more = true;
        }
    }
    /* The rest after the loop has polled: an event made active from here would run
     * in this same turn, and a long catch-up (a changelog's recovery) would keep
     * the loop from its sockets and timers until all of it was delivered. */
    if (more && !c->closing && c->dispatch_ev) {
        static const struct timeval after_poll = {0, 0};
        c->wake_pending = true;
        event_add(c->dispatch_ev, &after_poll);
    }
}

int rill__mem_cursor_index(mem_cursor_t *arr, size_t n, const mem_topic_t *t,
                           int32_t part) {
    for (size_t i = 0; i < n; i++)
        if (arr[i].topic == t && arr[i].partition == part) return (int)i;
    return -1;
}

/* The delivery reports, in produce order: a run of one cb in one call where the
 * handlers take them (handlers->delivered).  Callbacks may produce, appending
 * reports: those go to the other buffer (this one is read meanwhile) and are run
 * after these, in this same call. */
static void run_reports(mem_ctx_t *c) {
    const rill_transport_handlers_t *h = c->t->h;
    if (c->reporting) return; /* a callback flushed: the loop below runs the rest */
    c->reporting = true;
    while (c->reports.n && !c->closing) {
        mem_reports_t r = c->reports;
        c->reports = c->spare;
        c->reports.n = 0;
        c->spare = (mem_reports_t){0};
        for (size_t i = 0, j; i < r.n && !c->closing; i = j) {
            j = i + 1;
            if (h->delivered) {
                while (j < r.n && r.cb[j] == r.cb[i])
                    j++;
                h->delivered(c->t, r.cb[i], r.d + i, j - i, h->opaque);
            } else {
                r.cb[i](RILL_OK, NULL, r.d[i].partition, r.d[i].offset, r.d[i].opaque);
            }
        }
        if (!c->closing && !c->spare.d && !c->spare.cb) {
            c->spare = r; /* kept for the next turn */
        } else {
            free(r.d);
            free(r.cb);
        }
    }
    c->reporting = false;
}

void rill__mem_on_control(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    mem_ctx_t *c = arg;
    /* Delivery reports first: they complete sends issued before any rebalance. */
    run_reports(c);
    if (c->shrink_pending && !c->closing) rill__mem_shrink_all(c);
    while (c->assigns && !c->closing) {
        pending_assign_t *pa = c->assigns;
        c->assigns = pa->next;
        if (pa->revoke) {
            if (c->member) {
                free(c->member->pending_revoke);
                c->member->pending_revoke = pa->tps;
                c->member->npending_revoke = pa->n;
                pa->tps = NULL;
                /* The handler may answer (freeing the list) at once. */
                rill_tp_t *copy = malloc(pa->n * sizeof *copy);
                if (copy) {
                    memcpy(copy, c->member->pending_revoke, pa->n * sizeof *copy);
                    rill_revoke_t rv = c->member->revoke_id = ++c->revoke_seq;
                    c->t->h->revoke_request(c->t, copy, pa->n, c->revoke_lost, rv,
                                            c->t->h->opaque);
                    free(copy);
                }
            }
        } else if (c->member) {
            /* Announce what is still ours (a later step may have taken some back). */
            size_t added = 0;
            for (size_t i = 0; i < pa->n; i++) {
                mem_topic_t *t = rill__mem_topic_find(c->broker, pa->tps[i].topic);
                int idx = t ? rill__mem_cursor_index(c->assigned, c->nassigned, t,
                                                     pa->tps[i].partition)
                            : -1;
                if (idx < 0 || c->assigned[idx].announced) continue;
                c->assigned[idx].announced = true;
                pa->tps[added++] = pa->tps[i];
            }
            if (added) c->t->h->assigned(c->t, pa->tps, added, c->t->h->opaque);
            rill__mem_wake(c);
        }
        free(pa->tps);
        free(pa);
    }
    if (c->want_writable && !c->closing) {
        c->want_writable = false;
        if (c->t->h->writable) c->t->h->writable(c->t, c->t->h->opaque);
    }
}

static rill_err_t set_paused(rill_transport_t *t, const rill_tp_t *tps, size_t n,
                             bool paused) {
    mem_ctx_t *c = t->impl;
    for (size_t i = 0; i < n; i++) {
        mem_topic_t *tp = rill__mem_topic_find(c->broker, tps[i].topic);
        int idx =
            tp ? rill__mem_cursor_index(c->assigned, c->nassigned, tp, tps[i].partition)
               : -1;
        if (idx >= 0) c->assigned[idx].paused = paused;
    }
    if (!paused) rill__mem_wake(c);
    return RILL_OK;
}

rill_err_t rill__mem_pause(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    return set_paused(t, tps, n, true);
}

rill_err_t rill__mem_resume(rill_transport_t *t, const rill_tp_t *tps, size_t n) {
    return set_paused(t, tps, n, false);
}

rill_err_t rill__mem_seek(rill_transport_t *t, const char *topic, int32_t partition,
                          int64_t offset) {
    mem_ctx_t *c = t->impl;
    mem_topic_t *tp = rill__mem_topic_find(c->broker, topic);
    int idx = tp ? rill__mem_cursor_index(c->assigned, c->nassigned, tp, partition) : -1;
    if (idx < 0) return RILL_ENOENT;
    mem_part_t *p = &tp->parts[partition];
    if (offset == RILL_OFFSET_BEGINNING || offset < rill__mem_part_low(p))
        offset = rill__mem_part_low(p);
    if (offset == RILL_OFFSET_END || offset > p->next_offset) offset = p->next_offset;
    c->assigned[idx].position = offset;
    rill__mem_wake(c);
    return RILL_OK;
}

rill_err_t rill__mem_reader_start(rill_transport_t *t, rill_reader_t *r, int64_t offset) {
    mem_ctx_t *c = t->impl;
    mem_topic_t *tp = rill__mem_topic_find(c->broker, r->topic);
    int32_t partition = r->partition;
    if (!tp) return RILL_ENOENT;
    if (partition < 0 || partition >= tp->nparts) return RILL_EINVAL;
    if (c->nreaders == c->capreaders) {
        size_t cap = c->capreaders ? c->capreaders * 2 : 8;
        mem_cursor_t *nr = realloc(c->readers, cap * sizeof *nr);
        if (!nr) return RILL_ENOMEM;
        c->readers = nr;
        c->capreaders = cap;
    }
    mem_part_t *p = &tp->parts[partition];
    if (offset == RILL_OFFSET_BEGINNING || offset < rill__mem_part_low(p))
        offset = rill__mem_part_low(p);
    if (offset == RILL_OFFSET_END || offset > p->next_offset) offset = p->next_offset;
    c->readers[c->nreaders++] =
        (mem_cursor_t){tp, partition, offset, false, false, true, r};
    rill__mem_wake(c);
    return RILL_OK;
}

void rill__mem_reader_stop(rill_transport_t *t, rill_reader_t *r) {
    mem_ctx_t *c = t->impl;
    for (size_t i = 0; i < c->nreaders; i++)
        if (c->readers[i].r == r) {
            c->readers[i] = c->readers[--c->nreaders];
            return;
        }
}
