/* Fault specs: the keys of a faulty+<scheme>:// URL, and the seeded decisions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fault_int.h"

static const char *const slot_names[RILL__FS_NSLOTS] = {
    [RILL__FS_DECLARE] = "declare",
    [RILL__FS_PRODUCE] = "produce",
    [RILL__FS_FLUSH] = "flush",
    [RILL__FS_SUBSCRIBE] = "subscribe",
    [RILL__FS_UNSUBSCRIBE] = "unsubscribe",
    [RILL__FS_REVOKE_DONE] = "revoke_done",
    [RILL__FS_PAUSE] = "pause",
    [RILL__FS_RESUME] = "resume",
    [RILL__FS_SEEK] = "seek",
    [RILL__FS_COMMIT] = "commit",
    [RILL__FS_COMMITTED] = "committed",
    [RILL__FS_READER_OPEN] = "reader_open",
    [RILL__FS_READER_CLOSE] = "reader_close",
    [RILL__FS_WATERMARKS] = "watermarks",
    [RILL__FS_TXN_BEGIN] = "txn_begin",
    [RILL__FS_TXN_OFFSETS] = "txn_offsets",
    [RILL__FS_TXN_COMMIT] = "txn_commit",
    [RILL__FS_TXN_ABORT] = "txn_abort",
    [RILL__FS_CONFIRM] = "confirm",
    [RILL__FS_PART_OPEN] = "part_open",
    [RILL__FS_GET] = "get",
    [RILL__FS_PUT] = "put",
    [RILL__FS_DEL] = "del",
    [RILL__FS_WRITE] = "write",
    [RILL__FS_SCAN] = "scan",
    [RILL__FS_OFFSET] = "offset",
    [RILL__FS_STATS] = "stats",
    [RILL__FS_DROP] = "drop",
    [RILL__FS_STORE_FLUSH] = "flush",
};

const char *rill__fault_slot_name(rill__fault_slot_t slot) {
    return slot < RILL__FS_NSLOTS ? slot_names[slot] : "?";
}

/* Calls with nothing to fail (revoke_done, reader_close: ABI 3's revoke_answer and
 * reader_stop return nothing) may still be delayed. */
static bool slot_can_fail(rill__fault_slot_t s) {
    return s != RILL__FS_REVOKE_DONE && s != RILL__FS_READER_CLOSE;
}

static int slot_by_name(rill__fault_kind_t kind, const char *name, size_t len) {
    int lo = kind == RILL__FAULT_TRANSPORT ? 0 : RILL__FS_NTRANSPORT;
    int hi = kind == RILL__FAULT_TRANSPORT ? RILL__FS_NTRANSPORT : RILL__FS_NSLOTS;
    for (int i = lo; i < hi; i++)
        if (strlen(slot_names[i]) == len && !strncmp(slot_names[i], name, len)) return i;
    return -1;
}

static const char *const prefixes[] = {"fail.",    "delay.",  "drop.", "dup.",
                                       "reorder.", "revoke.", "late.", "stall.",
                                       "commit.",  NULL};

bool rill__fault_is_key(const char *key) {
    if (!strcmp(key, "seed")) return true;
    for (size_t i = 0; prefixes[i]; i++)
        if (!strncmp(key, prefixes[i], strlen(prefixes[i]))) return true;
    return false;
}

#define BAD(...)                                                                         \
    do {                                                                                 \
        snprintf(errstr, errlen, __VA_ARGS__);                                           \
        return RILL_ECONF;                                                               \
    } while (0)

static bool parse_u64(const char *s, uint64_t *out) {
    char *end;
    if (!*s || *s == '-') return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool parse_ms(const char *s, int *out) {
    uint64_t v;
    if (!parse_u64(s, &v) || v > 3600000) return false;
    *out = (int)v;
    return true;
}

/* "0.25", or "true"/"false" for 1 and 0. */
static bool parse_fraction(const char *s, double *out) {
    if (!strcmp(s, "true")) return *out = 1.0, true;
    if (!strcmp(s, "false")) return *out = 0.0, true;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0)) return false;
    *out = v;
    return true;
}

/* "N" or "LO-HI" milliseconds. */
static bool parse_range(const char *s, int *lo, int *hi) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    char *dash = strchr(buf, '-');
    if (dash) *dash = '\0';
    if (!parse_ms(buf, lo)) return false;
    if (!dash) return *hi = *lo, true;
    return parse_ms(dash + 1, hi) && *hi >= *lo;
}

static bool parse_err(const char *s, rill_err_t *out) {
    static const rill_err_t all[] = {
#define RILL__ERR_ALL(name, val, str) RILL_##name,
        RILL_ERRNO_MAP(RILL__ERR_ALL)
#undef RILL__ERR_ALL
    };
    for (size_t i = 1; i < sizeof all / sizeof *all; i++) {
        const char *n = rill_err_name(all[i]); /* "RILL_ERETRY" */
        if (!strcasecmp(s, n) || !strcasecmp(s, n + 5)) return *out = all[i], true;
    }
    return false;
}

static rill_err_t set_rule(rill__fault_rule_t *r, const char *key, const char *v,
                           char *errstr, size_t errlen) {
    const char *colon = strchr(v, ':');
    uint64_t n = 0;
    if (colon) {
        size_t mlen = (size_t)(colon - v);
        bool after = mlen == 5 && !strncmp(v, "after", 5);
        if (!parse_u64(colon + 1, &n) || (n == 0 && !after))
            BAD("fault key '%s': '%s' needs a count of 1 or more after ':'", key, v);
        if (mlen == 3 && !strncmp(v, "nth", 3))
            r->mode = RILL__FR_NTH;
        else if (mlen == 5 && !strncmp(v, "every", 5))
            r->mode = RILL__FR_EVERY;
        else if (mlen == 5 && !strncmp(v, "after", 5))
            r->mode = RILL__FR_AFTER;
        else
            BAD("fault key '%s': unknown mode '%.*s' (nth:N, every:N, after:N or a "
                "fraction 0-1)",
                key, (int)mlen, v);
        r->n = n;
        return RILL_OK;
    }
    double p;
    if (!parse_fraction(v, &p))
        BAD("fault key '%s': '%s' is not a fraction 0-1, nth:N, every:N or after:N", key,
            v);
    r->mode = p > 0 ? RILL__FR_FRACTION : RILL__FR_NONE;
    r->p = p;
    return RILL_OK;
}

static rill_err_t set_fraction(double *out, const char *key, const char *v, char *errstr,
                               size_t errlen) {
    if (!parse_fraction(v, out))
        BAD("fault key '%s': '%s' is not a fraction between 0 and 1", key, v);
    return RILL_OK;
}

static rill_err_t set_ms(int *out, const char *key, const char *v, char *errstr,
                         size_t errlen) {
    if (!parse_ms(v, out)) BAD("fault key '%s': '%s' is not milliseconds", key, v);
    return RILL_OK;
}

static rill_err_t transport_only(const rill__fault_spec_t *fs, const char *key,
                                 char *errstr, size_t errlen) {
    if (fs->kind != RILL__FAULT_TRANSPORT)
        BAD("fault key '%s' applies to transports, not stores", key);
    return RILL_OK;
}

rill_err_t rill__fault_spec_set(rill__fault_spec_t *fs, const char *key,
                                const char *value, char *errstr, size_t errlen) {
    const char *v = value ? value : "";
    if (!strcmp(key, "seed")) {
        if (!parse_u64(v, &fs->seed)) BAD("fault key 'seed': '%s' is not a number", v);
        fs->seeded = true;
        return RILL_OK;
    }
    if (!strcmp(key, "fail.after")) {
        if (!parse_u64(v, &fs->warmup))
            BAD("fault key 'fail.after': '%s' is not a count of calls", v);
        return RILL_OK;
    }
    if (!strncmp(key, "fail.", 5) || !strncmp(key, "delay.", 6)) {
        bool fail = key[0] == 'f';
        const char *name = key + (fail ? 5 : 6);
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        const char *attr = dot ? dot + 1 : "";
        if (!fail && fs->kind == RILL__FAULT_TRANSPORT && len == 8 &&
            !strncmp(name, "delivery", 8) && !strcmp(attr, "ms")) {
            if (!parse_range(v, &fs->delivery_lo, &fs->delivery_hi))
                BAD("fault key '%s': '%s' is not milliseconds N or LO-HI", key, v);
            return RILL_OK;
        }
        int s = slot_by_name(fs->kind, name, len);
        if (s < 0 || (fail && !slot_can_fail(s))) goto unknown;
        rill__fault_rule_t *r = &fs->rule[s];
        if (!fail) {
            if (strcmp(attr, "ms")) goto unknown;
            if (!parse_range(v, &r->delay_lo, &r->delay_hi))
                BAD("fault key '%s': '%s' is not milliseconds N or LO-HI", key, v);
            return RILL_OK;
        }
        if (!*attr) return set_rule(r, key, v, errstr, errlen);
        if (!strcmp(attr, "err")) {
            if (!parse_err(v, &r->err))
                BAD("fault key '%s': '%s' is not an error code name such as ERETRY or "
                    "RILL_ETIMEDOUT",
                    key, v);
            return RILL_OK;
        }
        if (!strcmp(attr, "fatal")) {
            double f;
            if (!parse_fraction(v, &f) || (f != 0.0 && f != 1.0))
                BAD("fault key '%s': '%s' is not true or false", key, v);
            r->fatal = f == 1.0;
            return RILL_OK;
        }
        goto unknown;
    }
    struct {
        const char *key;
        double *field;
    } fractions[] = {
        {"drop.delivery", &fs->drop_delivery},
        {"dup.produce", &fs->dup_produce},
        {"reorder.delivery", &fs->reorder_delivery},
        {"revoke.lost", &fs->revoke_lost},
        {"late.pause", &fs->late_pause},
    };
    for (size_t i = 0; i < sizeof fractions / sizeof *fractions; i++)
        if (!strcmp(key, fractions[i].key)) {
            if (transport_only(fs, key, errstr, errlen)) return RILL_ECONF;
            return set_fraction(fractions[i].field, key, v, errstr, errlen);
        }
    struct {
        const char *key;
        int *field;
    } times[] = {
        {"stall.ms", &fs->stall_ms},
        {"stall.at.ms", &fs->stall_at_ms},
        {"stall.every.ms", &fs->stall_every_ms},
        {"commit.ahead", &fs->commit_ahead},
    };
    for (size_t i = 0; i < sizeof times / sizeof *times; i++)
        if (!strcmp(key, times[i].key)) {
            if (transport_only(fs, key, errstr, errlen)) return RILL_ECONF;
            return set_ms(times[i].field, key, v, errstr, errlen);
        }
unknown:
    BAD("unknown fault key '%s' (fail.<slot>[.err|.fatal], fail.after, "
        "delay.<slot>.ms, %sseed; slots: %s)",
        key,
        fs->kind == RILL__FAULT_TRANSPORT
            ? "delay.delivery.ms, drop.delivery, dup.produce, reorder.delivery, "
              "revoke.lost, late.pause, stall.ms, stall.at.ms, stall.every.ms, "
              "commit.ahead, "
            : "",
        fs->kind == RILL__FAULT_TRANSPORT
            ? "declare produce flush subscribe unsubscribe revoke_done pause resume "
              "seek commit committed reader_open reader_close watermarks txn_begin "
              "txn_offsets txn_commit txn_abort confirm"
            : "part_open get put del write scan offset stats drop flush");
}

static uint64_t fresh_seed(void) {
    static unsigned n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                 ((uint64_t)getpid() << 40) ^ ++n;
    return s % 1000000000u; /* short enough to read off a log and type again */
}

static void spec_init(rill__fault_spec_t *fs, rill__fault_kind_t kind) {
    memset(fs, 0, sizeof *fs);
    fs->kind = kind;
    for (int i = 0; i < RILL__FS_NSLOTS; i++)
        fs->rule[i].err = RILL_ERETRY;
}

rill_err_t rill__fault_spec_from_url(const char *url, rill__fault_kind_t kind,
                                     rill__fault_spec_t *fs, char **inner, char *errstr,
                                     size_t errlen) {
    spec_init(fs, kind);
    *inner = NULL;
    size_t plen = strlen(RILL__FAULTY_PREFIX);
    if (!url || strncasecmp(url, RILL__FAULTY_PREFIX, plen))
        BAD("'%s' is not a faulty+<scheme>:// URL", url ? url : "(null)");
    const char *rest = url + plen;
    char *out = malloc(strlen(rest) + 1);
    if (!out) return RILL_ENOMEM;
    const char *q = strchr(rest, '?');
    size_t head = q ? (size_t)(q - rest) : strlen(rest);
    memcpy(out, rest, head);
    size_t w = head;
    rill_err_t rc = RILL_OK;
    for (const char *p = q ? q + 1 : NULL; p && *p && rc == RILL_OK;) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        char key[128], val[256];
        size_t klen = eq ? (size_t)(eq - p) : n;
        snprintf(key, sizeof key, "%.*s", (int)klen, p);
        snprintf(val, sizeof val, "%.*s", eq ? (int)(n - klen - 1) : 0, eq ? eq + 1 : "");
        if (n && rill__fault_is_key(key)) {
            rc = rill__fault_spec_set(fs, key, val, errstr, errlen);
        } else if (n) { /* the inner backend's: it checks them itself */
            char sep = w == head ? '?' : '&';
            out[w++] = sep;
            memcpy(out + w, p, n);
            w += n;
        }
        p += n;
        if (*p == '&') p++;
    }
    out[w] = '\0';
    if (rc != RILL_OK) {
        free(out);
        return rc;
    }
    if (!fs->seeded) fs->seed = fresh_seed();
    fs->rng = fs->seed;
    *inner = out;
    return RILL_OK;
}

/* splitmix64: small, fast, and the same sequence on every platform. */
static uint64_t next_u64(rill__fault_spec_t *fs) {
    uint64_t z = (fs->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double rill__fault_uniform(rill__fault_spec_t *fs) {
    return (double)(next_u64(fs) >> 11) * (1.0 / 9007199254740992.0);
}

bool rill__fault_chance(rill__fault_spec_t *fs, double p) {
    if (p <= 0.0) return false;
    if (fs->calls < fs->warmup) return false;
    bool hit = p >= 1.0 || rill__fault_uniform(fs) < p;
    if (hit) fs->injected++;
    return hit;
}

int rill__fault_pick_ms(rill__fault_spec_t *fs, int lo, int hi) {
    if (hi <= lo) return lo;
    return lo + (int)(next_u64(fs) % (uint64_t)(hi - lo + 1));
}

rill_err_t rill__fault_decide(rill__fault_spec_t *fs, rill__fault_slot_t slot) {
    rill__fault_rule_t *r = &fs->rule[slot];
    uint64_t n = ++r->calls;
    fs->calls++;
    if (r->mode == RILL__FR_NONE) return RILL_OK;
    bool hit = false;
    switch (r->mode) {
    case RILL__FR_FRACTION:
        hit = rill__fault_uniform(fs) < r->p;
        break;
    case RILL__FR_NTH:
        hit = n == r->n;
        break;
    case RILL__FR_EVERY:
        hit = n % r->n == 0;
        break;
    case RILL__FR_AFTER:
        hit = n > r->n;
        break;
    case RILL__FR_NONE:
        break;
    }
    if (!hit || fs->calls <= fs->warmup) return RILL_OK;
    fs->injected++;
    return r->err;
}

void rill__fault_delay(rill__fault_spec_t *fs, rill__fault_slot_t slot) {
    const rill__fault_rule_t *r = &fs->rule[slot];
    if (r->delay_hi <= 0) return;
    int ms = rill__fault_pick_ms(fs, r->delay_lo, r->delay_hi);
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
