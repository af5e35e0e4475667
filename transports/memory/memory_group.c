/* memory:// consumer groups: membership, Kafka's range assignor, cooperative
 * rebalances (revoke first, assign once every revoke is answered), committed
 * offsets and confirm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory_int.h"

static mem_group_t *group_get(mem_broker_t *b, const char *id) {
    for (mem_group_t *g = b->groups; g; g = g->next)
        if (strcmp(g->id, id) == 0) return g;
    mem_group_t *g = calloc(1, sizeof *g);
    if (!g || !(g->id = strdup(id))) {
        free(g);
        return NULL;
    }
    g->next = b->groups;
    b->groups = g;
    return g;
}

mem_commit_t *rill__mem_commit_find(mem_group_t *g, const char *topic,
                                    int32_t partition) {
    for (mem_commit_t *c = g->commits; c; c = c->next)
        if (c->partition == partition && strcmp(c->topic, topic) == 0) return c;
    return NULL;
}

bool rill__mem_group_reads(mem_group_t *g, const char *topic) {
    for (size_t i = 0; i < g->nmembers; i++)
        for (size_t j = 0; j < g->members[i]->ntopics; j++)
            if (strcmp(g->members[i]->topics[j], topic) == 0) return true;
    for (mem_commit_t *c = g->commits; c; c = c->next)
        if (strcmp(c->topic, topic) == 0) return true;
    return false;
}

static int cmp_member(const void *a, const void *b) {
    const mem_member_t *x = *(mem_member_t *const *)a, *y = *(mem_member_t *const *)b;
    return strcmp(x->ctx->t->client_id, y->ctx->t->client_id);
}

bool rill__mem_member_reads(const mem_member_t *m, const char *topic) {
    for (size_t i = 0; i < m->ntopics; i++)
        if (strcmp(m->topics[i], topic) == 0) return true;
    return false;
}

/* Kafka's range assignor: per topic, the sorted members that read it get
 * contiguous ranges, the first ones one extra when it does not divide. */
static bool target_owner(mem_group_t *g, const mem_topic_t *t, int32_t partition,
                         const mem_member_t *m) {
    size_t readers = 0, rank = 0;
    for (size_t i = 0; i < g->nmembers; i++) {
        if (!rill__mem_member_reads(g->members[i], t->name)) continue;
        if (g->members[i] == m) rank = readers;
        readers++;
    }
    if (!rill__mem_member_reads(m, t->name) || readers == 0) return false;
    int32_t per = t->nparts / (int32_t)readers, extra = t->nparts % (int32_t)readers;
    int32_t start = (int32_t)rank * per + ((int32_t)rank < extra ? (int32_t)rank : extra);
    int32_t count = per + ((int32_t)rank < extra ? 1 : 0);
    return partition >= start && partition < start + count;
}

static void queue_assign(mem_ctx_t *c, bool revoke, rill_tp_t *tps, size_t n) {
    pending_assign_t *pa = calloc(1, sizeof *pa);
    if (!pa) {
        free(tps);
        return;
    }
    pa->revoke = revoke;
    pa->tps = tps;
    pa->n = n;
    pending_assign_t **pp = &c->assigns;
    while (*pp)
        pp = &(*pp)->next;
    *pp = pa;
    rill__mem_wake_control(c);
    /* Owners change: a refused producer may now wait on itself (rill__mem_must_grow).
     * Its writable makes it try again. */
    for (size_t i = 0; i < c->broker->ninstances; i++)
        if (c->broker->instances[i]->want_writable)
            rill__mem_wake_control(c->broker->instances[i]);
}

/* One step of a rebalance.  Ownership is decided here, synchronously, so no
 * partition ever has two owners; handlers hear about it later from the loop.
 * Revoke pass: every member gives up what no longer targets it.  Once every
 * revoke is done, assign pass: unowned partitions go to their target owner. */
static void group_step(mem_broker_t *b, mem_group_t *g) {
    if (g->revokes_pending > 0) return;
    for (size_t i = 0; i < g->nmembers; i++) {
        mem_member_t *m = g->members[i];
        mem_ctx_t *c = m->ctx;
        rill_tp_t *tps = NULL;
        size_t n = 0;
        for (size_t j = 0; j < c->nassigned;) {
            mem_cursor_t *cur = &c->assigned[j];
            if (target_owner(g, cur->topic, cur->partition, m)) {
                j++;
                continue;
            }
            if (!cur->announced) { /* never handed out: take it back silently */
                c->assigned[j] = c->assigned[--c->nassigned];
                continue;
            }
            rill_tp_t *nt = realloc(tps, (n + 1) * sizeof *nt);
            if (!nt) break;
            tps = nt;
            tps[n].topic = cur->topic->name;
            tps[n++].partition = cur->partition;
            j++;
        }
        if (n) {
            g->revokes_pending++;
            m->revoke_outstanding = true;
            queue_assign(c, true, tps, n);
        } else {
            free(tps);
        }
    }
    if (g->revokes_pending > 0) return;
    for (size_t i = 0; i < g->nmembers; i++) {
        mem_member_t *m = g->members[i];
        mem_ctx_t *c = m->ctx;
        rill_tp_t *tps = NULL;
        size_t n = 0;
        for (mem_topic_t *t = b->topics; t; t = t->next) {
            for (int32_t p = 0; p < t->nparts; p++) {
                if (!target_owner(g, t, p, m) ||
                    rill__mem_cursor_index(c->assigned, c->nassigned, t, p) >= 0)
                    continue;
                if (c->nassigned == c->capassigned) {
                    size_t cap = c->capassigned ? c->capassigned * 2 : 16;
                    mem_cursor_t *na = realloc(c->assigned, cap * sizeof *na);
                    if (!na) continue;
                    c->assigned = na;
                    c->capassigned = cap;
                }
                rill_tp_t *nt = realloc(tps, (n + 1) * sizeof *nt);
                if (!nt) continue;
                tps = nt;
                mem_commit_t *cm = rill__mem_commit_find(g, t->name, p);
                mem_part_t *pp = &t->parts[p];
                int64_t pos = cm ? cm->offset : rill__mem_part_low(pp);
                if (pos < rill__mem_part_low(pp)) pos = rill__mem_part_low(pp);
                c->assigned[c->nassigned++] =
                    (mem_cursor_t){t, p, pos, false, false, false};
                tps[n].topic = t->name;
                tps[n++].partition = p;
            }
        }
        if (n)
            queue_assign(c, false, tps, n);
        else
            free(tps);
    }
}

void rill__mem_group_rebalance(mem_broker_t *b, mem_group_t *g) {
    g->generation++;
    qsort(g->members, g->nmembers, sizeof *g->members, cmp_member);
    group_step(b, g);
}

static void remove_assigned(mem_ctx_t *c, const rill_tp_t *tps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        mem_topic_t *t = rill__mem_topic_find(c->broker, tps[i].topic);
        int idx =
            t ? rill__mem_cursor_index(c->assigned, c->nassigned, t, tps[i].partition)
              : -1;
        if (idx < 0) continue;
        c->assigned[idx] = c->assigned[--c->nassigned];
    }
}

rill_err_t rill__mem_subscribe(rill_transport_t *t, const char *group,
                               const char *const *topics, size_t n, char *errstr,
                               size_t errlen) {
    mem_ctx_t *c = t->impl;
    if (c->member) {
        snprintf(errstr, errlen, "already subscribed");
        return RILL_ESTATE;
    }
    if (!t->client_id || !*t->client_id) {
        snprintf(errstr, errlen,
                 "memory transport: a client id is required to join a group");
        return RILL_EINVAL;
    }
    mem_group_t *g = group_get(c->broker, group);
    mem_member_t *m = calloc(1, sizeof *m);
    mem_member_t **nm = g ? realloc(g->members, (g->nmembers + 1) * sizeof *nm) : NULL;
    if (!m || !nm || !(m->topics = calloc(n ? n : 1, sizeof *m->topics))) {
        free(m);
        if (nm) g->members = nm;
        return RILL_ENOMEM;
    }
    g->members = nm;
    for (size_t i = 0; i < n; i++) {
        if (!(m->topics[i] = strdup(topics[i]))) {
            for (size_t j = 0; j < i; j++)
                free(m->topics[j]);
            free(m->topics);
            free(m);
            return RILL_ENOMEM;
        }
    }
    m->ntopics = n;
    m->ctx = c;
    m->group = g;
    c->member = m;
    g->members[g->nmembers++] = m;
    rill__mem_group_rebalance(c->broker, g);
    return RILL_OK;
}

static void member_free(mem_member_t *m) {
    for (size_t i = 0; i < m->ntopics; i++)
        free(m->topics[i]);
    free(m->topics);
    free(m->pending_revoke);
    free(m);
}

/* Leave the group at once (close or unsubscribe): the partitions go to others. */
void rill__mem_member_leave(mem_ctx_t *c) {
    mem_member_t *m = c->member;
    if (!m) return;
    mem_group_t *g = m->group;
    for (size_t i = 0; i < g->nmembers; i++) {
        if (g->members[i] == m) {
            g->members[i] = g->members[--g->nmembers];
            break;
        }
    }
    bool was_pending = m->revoke_outstanding;
    c->member = NULL;
    c->nassigned = 0;
    member_free(m);
    /* Drop queued rebalance steps for this member. */
    while (c->assigns) {
        pending_assign_t *pa = c->assigns;
        c->assigns = pa->next;
        free(pa->tps);
        free(pa);
    }
    if (was_pending && g->revokes_pending > 0) g->revokes_pending--;
    if (g->nmembers) rill__mem_group_rebalance(c->broker, g);
}

rill_err_t rill__mem_unsubscribe(rill_transport_t *t) {
    mem_ctx_t *c = t->impl;
    mem_member_t *m = c->member;
    if (!m) return RILL_OK;
    /* Stop targeting anything; the group revokes through the normal path and
     * the member leaves once its revoke is done. */
    for (size_t i = 0; i < m->ntopics; i++)
        free(m->topics[i]);
    m->ntopics = 0;
    m->leaving = true;
    if (m->revoke_outstanding) return RILL_OK;
    group_step(c->broker, m->group);
    if (!m->revoke_outstanding) rill__mem_member_leave(c);
    return RILL_OK;
}

/* Only the answer to the revoke the member waits on releases it: a late answer to
 * an earlier one (answered already, or replaced) does nothing. */
void rill__mem_revoke_answer(rill_transport_t *t, rill_revoke_t rv) {
    mem_ctx_t *c = t->impl;
    mem_member_t *m = c->member;
    if (!m || !m->revoke_outstanding || !m->pending_revoke || rv != m->revoke_id) return;
    remove_assigned(c, m->pending_revoke, m->npending_revoke);
    free(m->pending_revoke);
    m->pending_revoke = NULL;
    m->npending_revoke = 0;
    m->revoke_outstanding = false;
    mem_group_t *g = m->group;
    if (g->revokes_pending > 0) g->revokes_pending--;
    if (m->leaving) {
        rill__mem_member_leave(c);
        return;
    }
    group_step(c->broker, g);
}

rill_err_t rill__mem_commit(rill_transport_t *t, const rill_tp_offset_t *offs, size_t n) {
    mem_ctx_t *c = t->impl;
    if (!c->member) return RILL_ESTATE;
    mem_group_t *g = c->member->group;
    for (size_t i = 0; i < n; i++) {
        mem_commit_t *cm = rill__mem_commit_find(g, offs[i].topic, offs[i].partition);
        if (!cm) {
            if (!(cm = calloc(1, sizeof *cm)) || !(cm->topic = strdup(offs[i].topic))) {
                free(cm);
                return RILL_ENOMEM;
            }
            cm->partition = offs[i].partition;
            cm->next = g->commits;
            g->commits = cm;
        }
        cm->offset = offs[i].offset;
    }
    /* Committing may free room in a full partition, and shrinks one that grew
     * (its produces ran inside deliveries, when nothing can be trimmed). */
    for (size_t i = 0; i < n; i++) {
        mem_topic_t *tp = rill__mem_topic_find(c->broker, offs[i].topic);
        if (tp && offs[i].partition >= 0 && offs[i].partition < tp->nparts)
            rill__mem_part_shrink(c, tp, &tp->parts[offs[i].partition],
                                  offs[i].partition);
    }
    for (size_t i = 0; i < c->broker->ninstances; i++)
        if (c->broker->instances[i]->want_writable)
            rill__mem_wake_control(c->broker->instances[i]);
    return RILL_OK;
}

rill_err_t rill__mem_committed(rill_transport_t *t, const char *group, const char *topic,
                               int32_t partition, int64_t *out) {
    mem_ctx_t *c = t->impl;
    *out = RILL_OFFSET_INVALID;
    for (mem_group_t *g = c->broker->groups; g; g = g->next) {
        if (strcmp(g->id, group) != 0) continue;
        mem_commit_t *cm = rill__mem_commit_find(g, topic, partition);
        if (cm) *out = cm->offset;
    }
    return RILL_OK;
}

/* In-process membership cannot expire: still the owner of everything announced.
 * Hand it out again at the group's committed offsets, as a new assignment. */
rill_err_t rill__mem_confirm(rill_transport_t *t, char *errstr, size_t errlen) {
    mem_ctx_t *c = t->impl;
    (void)errstr;
    (void)errlen;
    if (!c->member) return RILL_OK;
    rill_tp_t *tps = c->nassigned ? malloc(c->nassigned * sizeof *tps) : NULL;
    if (c->nassigned && !tps) return RILL_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < c->nassigned; i++) {
        mem_cursor_t *cur = &c->assigned[i];
        if (!cur->announced) continue;
        mem_commit_t *cm =
            rill__mem_commit_find(c->member->group, cur->topic->name, cur->partition);
        mem_part_t *p = &cur->topic->parts[cur->partition];
        cur->position =
            cm && cm->offset > rill__mem_part_low(p) ? cm->offset : rill__mem_part_low(p);
        cur->paused = false;
        tps[n].topic = cur->topic->name;
        tps[n++].partition = cur->partition;
    }
    if (n) t->h->assigned(t, tps, n, t->h->opaque);
    free(tps);
    rill__mem_wake(c);
    return RILL_OK;
}
