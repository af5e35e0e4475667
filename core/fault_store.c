/* faulty+<scheme>:// stores: a store that wraps another and fails or delays calls as
 * its spec says (fault_int.h).  A failed call changes nothing in the inner store:
 * a write batch fails whole, before it is applied, as the contract's atomic write
 * would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "fault_int.h"
#include "url_int.h"

typedef struct fault_st {
    struct rill_store_ops ops;
    char scheme[40];
    rill_store_t *outer, *inner;
    rill__fault_spec_t spec;
} fault_st_t;

struct rill_store_part {
    fault_st_t *f;
    rill_store_part_t *inner;
};

static rill_err_t inject(fault_st_t *f, rill__fault_slot_t slot, char *errstr,
                         size_t errlen) {
    rill__fault_delay(&f->spec, slot);
    rill_err_t rc = rill__fault_decide(&f->spec, slot);
    if (rc == RILL_OK) return RILL_OK;
    char msg[200];
    snprintf(msg, sizeof msg, "faulty: injected %s into %s call %llu (seed %llu)",
             rill_err_name(rc), rill__fault_slot_name(slot),
             (unsigned long long)f->spec.rule[slot].calls,
             (unsigned long long)f->spec.seed);
    rill_log(f->outer->log, RILL_LOG_DEBUG, f->outer->name, "%s", msg);
    if (errstr && errlen) snprintf(errstr, errlen, "%s", msg);
    return rc;
}

#define INJECT(f, slot, errstr, errlen)                                                  \
    do {                                                                                 \
        rill_err_t rc_ = inject((f), (slot), (errstr), (errlen));                        \
        if (rc_ != RILL_OK) return rc_;                                                  \
    } while (0)

static rill_err_t f_part_open(rill_store_t *s, const char *table, int32_t partition,
                              rill_store_part_t **out, char *errstr, size_t errlen) {
    fault_st_t *f = s->impl;
    *out = NULL;
    INJECT(f, RILL__FS_PART_OPEN, errstr, errlen);
    rill_store_part_t *p = calloc(1, sizeof *p);
    if (!p) return RILL_ENOMEM;
    p->f = f;
    rill_err_t rc =
        rill__st_part_open(f->inner, table, partition, &p->inner, errstr, errlen);
    if (rc != RILL_OK) {
        free(p);
        return rc;
    }
    *out = p;
    return RILL_OK;
}

static rill_err_t f_get(rill_store_part_t *p, const void *key, size_t klen,
                        rill_buf_t *out) {
    INJECT(p->f, RILL__FS_GET, NULL, 0);
    return rill__st_get(p->f->inner, p->inner, key, klen, out);
}

static rill_err_t f_put(rill_store_part_t *p, const void *key, size_t klen,
                        const void *val, size_t vlen) {
    INJECT(p->f, RILL__FS_PUT, NULL, 0);
    return rill__st_put(p->f->inner, p->inner, key, klen, val, vlen);
}

static rill_err_t f_del(rill_store_part_t *p, const void *key, size_t klen) {
    INJECT(p->f, RILL__FS_DEL, NULL, 0);
    return rill__st_del(p->f->inner, p->inner, key, klen);
}

/* The core writes tables only through write(): fail.put and fail.del count each
 * batch holding a put (a delete) as one call of theirs too. */
static rill_err_t f_write(rill_store_part_t *p, const rill_store_op_t *ops, size_t n,
                          int64_t changelog_offset) {
    bool puts = false, dels = false;
    for (size_t i = 0; i < n; i++) {
        puts |= ops[i].kind == RILL_STORE_PUT;
        dels |= ops[i].kind == RILL_STORE_DEL;
    }
    INJECT(p->f, RILL__FS_WRITE, NULL, 0);
    if (puts) INJECT(p->f, RILL__FS_PUT, NULL, 0);
    if (dels) INJECT(p->f, RILL__FS_DEL, NULL, 0);
    return rill__st_write(p->f->inner, p->inner, ops, n, changelog_offset);
}

static rill_err_t f_scan(rill_store_part_t *p, const void *start, size_t slen,
                         const void *end, size_t elen, rill_store_scan_cb cb,
                         void *opaque) {
    INJECT(p->f, RILL__FS_SCAN, NULL, 0);
    return rill__st_scan(p->f->inner, p->inner, start, slen, end, elen, cb, opaque);
}

static rill_err_t f_offset(rill_store_part_t *p, int64_t *out) {
    *out = RILL_OFFSET_INVALID;
    INJECT(p->f, RILL__FS_OFFSET, NULL, 0);
    return rill__st_offset(p->f->inner, p->inner, out);
}

static rill_err_t f_stats(rill_store_part_t *p, rill_store_stats_t *out) {
    memset(out, 0, sizeof *out);
    INJECT(p->f, RILL__FS_STATS, NULL, 0);
    return rill__st_stats(p->f->inner, p->inner, out);
}

static void f_part_close(rill_store_part_t *p) {
    if (!p) return;
    rill__st_part_close(p->f->inner, p->inner);
    free(p);
}

static rill_err_t f_drop(rill_store_t *s, const char *table, int32_t partition,
                         char *errstr, size_t errlen) {
    fault_st_t *f = s->impl;
    INJECT(f, RILL__FS_DROP, errstr, errlen);
    return rill__st_drop(f->inner, table, partition, errstr, errlen);
}

static rill_err_t f_flush(rill_store_t *s) {
    fault_st_t *f = s->impl;
    INJECT(f, RILL__FS_STORE_FLUSH, NULL, 0);
    return rill__st_flush(f->inner);
}

static void f_close(rill_store_t *s) {
    fault_st_t *f = s->impl;
    if (!f || !f->inner) return;
    rill_log(s->log, RILL_LOG_INFO, s->name, "faulty: %llu faults injected (seed %llu)",
             (unsigned long long)f->spec.injected, (unsigned long long)f->spec.seed);
    rill_store_destroy(f->inner);
    f->inner = NULL;
}

static const struct rill_store_ops faulty_template = {
    .abi = RILL_STORE_ABI,
    .description = "fault injection around another store (tests, chaos runs)",
    .part_open = f_part_open,
    .get = f_get,
    .put = f_put,
    .del = f_del,
    .write = f_write,
    .scan = f_scan,
    .offset = f_offset,
    .stats = f_stats,
    .part_close = f_part_close,
    .drop = f_drop,
    .flush = f_flush,
    .close = f_close,
};

rill_store_t *rill__fault_store_open(const char *url, const rill_conf_t *conf,
                                     const rill_logger_t *lg, char *errstr,
                                     size_t errlen) {
    rill_store_t *s = calloc(1, sizeof *s);
    fault_st_t *f = calloc(1, sizeof *f);
    char *inner_url = NULL;
    if (!s || !f) {
        free(s);
        free(f);
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    s->impl = f;
    s->log = lg ? lg : rill__logger_default();
    f->outer = s;
    if (rill__fault_spec_from_url(url, RILL__FAULT_STORE, &f->spec, &inner_url, errstr,
                                  errlen) != RILL_OK ||
        !(f->inner = rill__store_open(inner_url, conf, lg, errstr, errlen))) {
        free(inner_url);
        free(f);
        free(s);
        return NULL;
    }
    free(inner_url);
    f->ops = faulty_template;
    snprintf(f->scheme, sizeof f->scheme, "%s%s", RILL__FAULTY_PREFIX,
             f->inner->ops->scheme);
    f->ops.scheme = f->scheme;
    f->ops.features = f->inner->ops->features;
    f->ops.impl_size = sizeof *f;
    s->ops = &f->ops;
    snprintf(s->name, sizeof s->name, "%.31s", f->scheme);
    char shown[512];
    rill_log(s->log, RILL_LOG_WARN, s->name,
             "fault injection on, seed %llu (replay with seed=%llu): %s",
             (unsigned long long)f->spec.seed, (unsigned long long)f->spec.seed,
             rill__url_redact(url, shown, sizeof shown));
    return s;
}
