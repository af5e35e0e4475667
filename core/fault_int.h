/* Internal: fault injection (faulty+<scheme>:// transports and stores).
 *
 * A faulty backend wraps another one, named by the rest of its URL:
 *   faulty+memory://name?fail.commit=0.1&seed=7
 *   faulty+kafka://127.0.0.1:9092?delay.produce.ms=5-50&fail.after=1000
 *   faulty+rocksdb:///var/lib/app?fail.put=0.01
 * The fault keys (docs/testing.md, "Fault injection") are taken off the query; the
 * other keys and the rest of the URL open the inner backend.  The wrapper is a
 * backend of its own (its ops table copies the inner one's features), so the core
 * and the conformance suites call it as any other; it reaches the inner backend
 * through core/backend.c, which stays the only caller of a vtable slot.
 *
 * Every decision comes from one seeded generator per instance, in call order, so a
 * run that failed replays from the seed it printed at open. */
#ifndef RILL_FAULT_INT_H
#define RILL_FAULT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "rill/err.h"

#define RILL__FAULTY_PREFIX "faulty+"

typedef enum { RILL__FAULT_TRANSPORT, RILL__FAULT_STORE } rill__fault_kind_t;

/* The slots a rule can name: a transport's, then a store's. */
typedef enum {
    RILL__FS_DECLARE,
    RILL__FS_PRODUCE,
    RILL__FS_FLUSH,
    RILL__FS_SUBSCRIBE,
    RILL__FS_UNSUBSCRIBE,
    RILL__FS_REVOKE_DONE,
    RILL__FS_PAUSE,
    RILL__FS_RESUME,
    RILL__FS_SEEK,
    RILL__FS_COMMIT,
    RILL__FS_COMMITTED,
    RILL__FS_READER_OPEN,
    RILL__FS_READER_CLOSE,
    RILL__FS_WATERMARKS,
    RILL__FS_TXN_BEGIN,
    RILL__FS_TXN_OFFSETS,
    RILL__FS_TXN_COMMIT,
    RILL__FS_TXN_ABORT,
    RILL__FS_CONFIRM,
    RILL__FS_NTRANSPORT, /* store slots follow */
    RILL__FS_PART_OPEN = RILL__FS_NTRANSPORT,
    RILL__FS_GET,
    RILL__FS_PUT,
    RILL__FS_DEL,
    RILL__FS_WRITE,
    RILL__FS_SCAN,
    RILL__FS_OFFSET,
    RILL__FS_STATS,
    RILL__FS_DROP,
    RILL__FS_STORE_FLUSH,
    RILL__FS_NSLOTS
} rill__fault_slot_t;

typedef enum {
    RILL__FR_NONE,
    RILL__FR_FRACTION, /* "0.1": each call with this probability */
    RILL__FR_NTH,      /* "nth:N": the Nth call only */
    RILL__FR_EVERY,    /* "every:N": every Nth call */
    RILL__FR_AFTER,    /* "after:N": every call after the Nth (an outage) */
} rill__fault_mode_t;

typedef struct rill__fault_rule {
    rill__fault_mode_t mode;
    double p;
    uint64_t n;
    rill_err_t err;         /* RILL_ERETRY unless fail.<slot>.err says otherwise */
    bool fatal;             /* also report a fatal transport error */
    int delay_lo, delay_hi; /* ms, blocking, before the call */
    uint64_t calls;         /* calls seen so far */
} rill__fault_rule_t;

typedef struct rill__fault_spec {
    rill__fault_kind_t kind;
    uint64_t seed;
    bool seeded;       /* seed= given; else chosen at open and printed */
    uint64_t warmup;   /* fail.after: nothing injected before this many calls */
    uint64_t calls;    /* calls of any slot so far */
    uint64_t rng;      /* generator state */
    uint64_t injected; /* faults injected so far (every kind) */
    rill__fault_rule_t rule[RILL__FS_NSLOTS];
    /* transports only */
    int delivery_lo, delivery_hi; /* delay.delivery.ms: reports held this long */
    double drop_delivery;         /* written, but reported as failed (RILL_ETIMEDOUT) */
    double dup_produce;           /* written twice, reported once */
    double reorder_delivery;      /* a report held back until after the next one */
    double revoke_lost;           /* a revoke reported as lost */
    double late_pause;            /* a batch's last message delivered on a later turn */
    int stall_ms, stall_at_ms, stall_every_ms; /* block the loop */
    int commit_ahead; /* commits go this far past what the core asked: a broken core */
} rill__fault_spec_t;

/* True when @p key belongs to the fault namespace (so the inner URL never sees it). */
bool rill__fault_is_key(const char *key);

/* Apply one fault key.  RILL_ECONF, naming the key, for an unknown key or a value
 * that does not parse. */
rill_err_t rill__fault_spec_set(rill__fault_spec_t *fs, const char *key,
                                const char *value, char *errstr, size_t errlen);

/* Split "faulty+<inner>://...?..." into the spec (zeroed first) and a malloc'd
 * inner URL without the fault keys.  The seed is chosen now when not given. */
rill_err_t rill__fault_spec_from_url(const char *url, rill__fault_kind_t kind,
                                     rill__fault_spec_t *fs, char **inner, char *errstr,
                                     size_t errlen);

/* The next draw of the generator, uniform in [0, 1). */
double rill__fault_uniform(rill__fault_spec_t *fs);
/* True with probability @p p (draws only when 0 < p < 1, so a spec without that
 * fault consumes nothing and others replay the same). */
bool rill__fault_chance(rill__fault_spec_t *fs, double p);
/* A delay in [lo, hi] ms. */
int rill__fault_pick_ms(rill__fault_spec_t *fs, int lo, int hi);

/* Count a call of @p slot and decide it: RILL_OK, or the code to fail it with. */
rill_err_t rill__fault_decide(rill__fault_spec_t *fs, rill__fault_slot_t slot);
/* Sleep the slot's delay, if any (blocking: the call is slow). */
void rill__fault_delay(rill__fault_spec_t *fs, rill__fault_slot_t slot);
const char *rill__fault_slot_name(rill__fault_slot_t slot);

#endif
