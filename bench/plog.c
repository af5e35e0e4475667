/* See plog.h. */
#include "plog.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BATCH 1024
#define BUDGET 8192
#define ARENA (256 * 1024)
/* as the memory transport: past HUGE_AFTER bytes, 2 MiB arenas on huge pages */
#define HUGE_ARENA (2 * 1024 * 1024)
#define HUGE_AFTER (4 * 1024 * 1024)
#define MAXPARTS 64

typedef struct entry {
    int64_t offset, timestamp_ms;
    uint32_t vlen;
    /* then the value */
} entry_t;

typedef struct arena {
    struct arena *next;
    size_t used, cap;
    uint8_t data[];
} arena_t;

typedef struct part {
    entry_t **entries;
    size_t n, cap;
    int64_t position, committed; /* the consumer's next offset, and the commit */
} part_t;

struct bench_plog {
    part_t parts[MAXPARTS];
    int nparts;
    arena_t *arena;
    size_t allocated;
    uint32_t rr;
    struct event *wake;
    bool woken;
    bench_handler_fn handler;
    void *opaque;
    bench_msg_t batch[BATCH];
};

static void dispatch(evutil_socket_t fd, short what, void *arg);

bench_plog_t *bench_plog_new(struct event_base *base, int partitions,
                             bench_handler_fn handler, void *opaque) {
    if (partitions < 1 || partitions > MAXPARTS) return NULL;
    bench_plog_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->nparts = partitions;
    l->handler = handler;
    l->opaque = opaque;
    l->wake = event_new(base, -1, 0, dispatch, l);
    if (!l->wake) {
        free(l);
        return NULL;
    }
    return l;
}

int bench_plog_produce(bench_plog_t *l, const void *v, size_t len) {
    part_t *p = &l->parts[l->rr++ % (uint32_t)l->nparts];
    size_t need = (sizeof(entry_t) + len + 7) & ~(size_t)7;
    if (need > ARENA) return -1;
    if (!l->arena || l->arena->used + need > l->arena->cap) {
        size_t total = sizeof(arena_t) + ARENA;
        void *m = NULL;
        if (l->allocated >= HUGE_AFTER &&
            posix_memalign(&m, HUGE_ARENA, HUGE_ARENA) == 0) {
            madvise(m, HUGE_ARENA, MADV_HUGEPAGE);
            total = HUGE_ARENA;
        } else {
            m = malloc(total);
        }
        arena_t *a = m;
        if (!a) return -1;
        l->allocated += total;
        a->next = l->arena;
        a->used = 0;
        a->cap = total - sizeof *a;
        l->arena = a;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        entry_t **e = realloc(p->entries, cap * sizeof *e);
        if (!e) return -1;
        p->entries = e;
        p->cap = cap;
    }
    entry_t *e = (entry_t *)(l->arena->data + l->arena->used);
    l->arena->used += need;
    e->offset = (int64_t)p->n;
    e->timestamp_ms = 0;
    e->vlen = (uint32_t)len;
    memcpy(e + 1, v, len);
    p->entries[p->n++] = e;
    if (!l->woken) {
        l->woken = true;
        event_active(l->wake, EV_TIMEOUT, 0);
    }
    return 0;
}

static void dispatch(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    bench_plog_t *l = arg;
    l->woken = false;
    size_t budget = BUDGET;
    bool more = false;
    for (int pi = 0; pi < l->nparts; pi++) {
        part_t *p = &l->parts[pi];
        size_t i = (size_t)p->position, k = 0;
        while (i < p->n && k < BATCH && k < budget) {
            const entry_t *e = p->entries[i++];
            l->batch[k++] = (bench_msg_t){pi, e->offset, e + 1, e->vlen};
        }
        for (size_t j = 0; j < k; j++)
            l->handler(&l->batch[j], l->opaque);
        if (k) {
            p->position = l->batch[k - 1].offset + 1;
            p->committed = p->position; /* handled: commit */
        }
        budget -= k;
        more |= (size_t)p->position < p->n;
    }
    if (more && !l->woken) {
        l->woken = true;
        event_active(l->wake, EV_TIMEOUT, 0);
    }
}

int64_t bench_plog_committed(const bench_plog_t *l) {
    int64_t c = 0;
    for (int pi = 0; pi < l->nparts; pi++)
        c += l->parts[pi].committed;
    return c;
}

void bench_plog_free(bench_plog_t *l) {
    if (!l) return;
    for (int pi = 0; pi < l->nparts; pi++)
        free(l->parts[pi].entries);
    while (l->arena) {
        arena_t *a = l->arena;
        l->arena = a->next;
        free(a);
    }
    event_free(l->wake);
    free(l);
}
