/* Transport conformance suite (see transport_suite.h).  Each test drives transport
 * instances directly through the plugin API on its own event_base. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "transport_suite.h"

static const char *g_url;
static const rill_conf_t *g_conf;
static int g_wait_ms;
static unsigned g_seq;

#define MAXREC 20000

typedef struct rec {
    char topic[128];
    int32_t partition;
    int64_t offset;
    int64_t ts;
    char key[64];
    bool has_key;
    char value[256];
    size_t value_len;
    bool tombstone;
    char hname[32];
    char hvalue[64];
    size_t nheaders;
} rec_t;

typedef struct member {
    rill_transport_t *t;
    rill_transport_handlers_t h;
    char client_id[64];
    rec_t *msgs;
    size_t nmsgs;
    rill_tp_t owned[256];
    char owned_names[256][128];
    size_t nowned;
    int assigns, revokes;
    bool defer_revoke; /* test holds the answer */
    bool revoke_pending;
    rill_revoke_t first_rv, last_rv; /* identifiers revoke_request() handed */
    int delivered, delivery_errors;
    int64_t last_offset;
    int64_t first_offset;
    int64_t offsets[64]; /* of the first deliveries, in order */
    int writable;
} member_t;

static void record(rec_t *r, const rill_msg_t *m) {
    memset(r, 0, sizeof *r);
    snprintf(r->topic, sizeof r->topic, "%s", m->topic);
    r->partition = m->partition;
    r->offset = m->offset;
    r->ts = m->timestamp_ms;
    r->has_key = m->key != NULL;
    if (m->key)
        snprintf(r->key, sizeof r->key, "%.*s", (int)m->key_len, (const char *)m->key);
    r->tombstone = m->value == NULL;
    if (m->value) {
        r->value_len =
            m->value_len < sizeof r->value ? m->value_len : sizeof r->value - 1;
        memcpy(r->value, m->value, r->value_len);
    }
    const rill_header_t *hs = rill_msg_headers(m, &r->nheaders);
    if (r->nheaders) {
        snprintf(r->hname, sizeof r->hname, "%s", hs[0].name);
        snprintf(r->hvalue, sizeof r->hvalue, "%.*s", (int)hs[0].value_len,
                 (const char *)hs[0].value);
    }
}

static void on_messages(rill_transport_t *t, const rill_msg_t *msgs, size_t n, void *op) {
    (void)t;
    member_t *m = op;
    for (size_t i = 0; i < n && m->nmsgs < MAXREC; i++)
        record(&m->msgs[m->nmsgs++], &msgs[i]);
}

/* One reader and what it got. */
typedef struct rd {
    rill_reader_t *r;
    rec_t *msgs;
    size_t n;
    int eofs;
    int64_t last_eof_end;
    int foreign; /* messages of another topic or partition than the reader's */
    int poke_fd; /* poke: after its first batch, a byte is written here */
    bool poke;
} rd_t;

static void on_reader(rill_reader_t *r, const rill_msg_t *msgs, size_t n, void *op) {
    rd_t *rd = op;
    assert_ptr_equal(rd->r ? rd->r : r, r);
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].partition != r->partition || strcmp(msgs[i].topic, r->topic))
            rd->foreign++;
        if (rd->n < MAXREC) record(&rd->msgs[rd->n++], &msgs[i]);
    }
    if (rd->poke && n) {
        rd->poke = false;
        assert_int_equal(write(rd->poke_fd, "x", 1), 1);
    }
}

static void on_eof(rill_reader_t *r, int64_t end, void *op) {
    (void)r;
    rd_t *rd = op;
    rd->eofs++;
    rd->last_eof_end = end;
}

static const rill_reader_handlers_t reader_h = {on_reader, on_eof};

static void on_assigned(rill_transport_t *t, const rill_tp_t *tps, size_t n, void *op) {
    (void)t;
    member_t *m = op;
    m->assigns++;
    for (size_t i = 0; i < n && m->nowned < 256; i++) {
        snprintf(m->owned_names[m->nowned], 128, "%s", tps[i].topic);
        m->owned[m->nowned].topic = m->owned_names[m->nowned];
        m->owned[m->nowned].partition = tps[i].partition;
        m->nowned++;
    }
}

static void drop_owned(member_t *m, const char *topic, int32_t p) {
    for (size_t i = 0; i < m->nowned; i++) {
        if (m->owned[i].partition == p && strcmp(m->owned_names[i], topic) == 0) {
            m->nowned--;
            if (i != m->nowned) {
                memcpy(m->owned_names[i], m->owned_names[m->nowned], 128);
                m->owned[i].partition = m->owned[m->nowned].partition;
            }
            m->owned[i].topic = m->owned_names[i];
            return;
        }
    }
}

static void on_revoked(rill_transport_t *t, const rill_tp_t *tps, size_t n, bool lost,
                       rill_revoke_t rv, void *op) {
    (void)lost;
    member_t *m = op;
    m->revokes++;
    assert_true(rv != 0);
    assert_true(rv != m->last_rv); /* a new identifier each time */
    if (!m->first_rv) m->first_rv = rv;
    m->last_rv = rv;
    for (size_t i = 0; i < n; i++)
        drop_owned(m, tps[i].topic, tps[i].partition);
    if (m->defer_revoke)
        m->revoke_pending = true;
    else
        rill_transport_revoke_answer(t, rv);
}

static void on_writable(rill_transport_t *t, void *op) {
    (void)t;
    ((member_t *)op)->writable++;
}

static void on_error(rill_transport_t *t, rill_err_t err, bool fatal, const char *msg,
                     void *op) {
    (void)t;
    (void)op;
    if (fatal) fail_msg("fatal transport error %s: %s", rill_err_name(err), msg);
}

static void on_delivery(rill_err_t err, const char *errmsg, int32_t partition,
                        int64_t offset, void *op) {
    (void)errmsg;
    (void)partition;
    member_t *m = op;
    if (err) {
        m->delivery_errors++;
        return;
    }
    if (m->delivered < 64) m->offsets[m->delivered] = offset;
    if (m->delivered++ == 0) m->first_offset = offset;
    m->last_offset = offset;
}

typedef struct fixture {
    struct event_base *base;
    member_t members[3];
    rd_t readers[4];
    char topic[96];
    char group[96];
} fixture_t;

static member_t *member_open(fixture_t *f, int i) {
    member_t *m = &f->members[i];
    memset(m, 0, sizeof *m);
    m->msgs = calloc(MAXREC, sizeof *m->msgs);
    m->h = (rill_transport_handlers_t){
        .messages = on_messages,
        .assigned = on_assigned,
        .revoke_request = on_revoked,
        .writable = on_writable,
        .error = on_error,
        .opaque = m,
    };
    snprintf(m->client_id, sizeof m->client_id, "conf-%d-%u-m%d", (int)getpid(), g_seq,
             i);
    char err[512] = "";
    m->t =
        rill_transport_new(g_url, g_conf, f->base, &m->h, m->client_id, err, sizeof err);
    if (!m->t) fail_msg("cannot open %s: %s", g_url, err);
    return m;
}

static void member_close(member_t *m) {
    if (m->t) rill_transport_destroy(m->t);
    m->t = NULL;
    free(m->msgs);
    m->msgs = NULL;
}

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    g_seq++;
    snprintf(f->topic, sizeof f->topic, "conf-%d-%u", (int)getpid(), g_seq);
    snprintf(f->group, sizeof f->group, "group-%d-%u", (int)getpid(), g_seq);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    for (int i = 0; i < 3; i++)
        member_close(&f->members[i]); /* closes its readers */
    for (int i = 0; i < 4; i++)
        free(f->readers[i].msgs);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Run the loop until @p cond holds or @p ms pass. */
#define RUN_UNTIL(f, cond, ms)                                                           \
    do {                                                                                 \
        uint64_t end_ = rill_mono_ns() + (uint64_t)(ms)*1000000u;                        \
        struct event *t_ = event_new((f)->base, -1, EV_PERSIST, tick, (f)->base);        \
        struct timeval tv_ = {0, 5000};                                                  \
        event_add(t_, &tv_);                                                             \
        while (!(cond) && rill_mono_ns() < end_)                                         \
            event_base_dispatch((f)->base);                                              \
        event_free(t_);                                                                  \
    } while (0)

static void declare(member_t *m, const char *topic, int32_t parts, bool compacted) {
    rill_topic_spec_t spec = {.name = topic, .partitions = parts, .compacted = compacted};
    int32_t got = 0;
    char err[512] = "";
    rill_err_t rc = m->t->ops->declare(m->t, &spec, &got, err, sizeof err);
    if (rc != RILL_OK) fail_msg("declare %s: %s: %s", topic, rill_err_name(rc), err);
    assert_int_equal(got, parts);
}

static void produce(fixture_t *f, member_t *m, const char *topic, int32_t p,
                    const char *key, const char *value) {
    rill_produce_t msg = {.topic = topic,
                          .partition = p,
                          .key = key,
                          .key_len = key ? strlen(key) : 0,
                          .value = value,
                          .value_len = value ? strlen(value) : 0};
    rill_err_t rc;
    for (int tries = 0;
         (rc = m->t->ops->produce(m->t, &msg, on_delivery, m)) == RILL_EFULL &&
         tries < 1000;
         tries++)
        RUN_UNTIL(f, false, 1);
    assert_int_equal(rc, RILL_OK);
}

/* Reader @p i of the fixture, on @p m's transport. */
static rd_t *reader(fixture_t *f, int i, member_t *m, const char *topic, int32_t p,
                    int64_t offset) {
    rd_t *rd = &f->readers[i];
    memset(rd, 0, sizeof *rd);
    rd->msgs = calloc(MAXREC, sizeof *rd->msgs);
    rill_err_t rc = rill_reader_open(m->t, topic, p, offset, &reader_h, rd, &rd->r);
    if (rc != RILL_OK) fail_msg("reader of %s[%d]: %s", topic, p, rill_err_name(rc));
    assert_non_null(rd->r);
    assert_string_equal(rd->r->topic, topic);
    assert_int_equal(rd->r->partition, p);
    return rd;
}

static void reader_close(rd_t *rd) {
    rill_reader_close(rd->r);
    rd->r = NULL;
}

static void subscribe(member_t *m, const char *group, const char *topic) {
    const char *topics[] = {topic};
    char err[256] = "";
    rill_err_t rc = m->t->ops->subscribe(m->t, group, topics, 1, err, sizeof err);
    if (rc) fail_msg("subscribe: %s", err);
}

/* ---- tests ---------------------------------------------------------------------------
 */

static void declare_reports_partition_count(void **state) {
    fixture_t *f = *state;
    member_t *m = member_open(f, 0);
    declare(m, f->topic, 3, false);
    declare(m, f->topic, 3, false); /* idempotent */
}

static void declare_mismatch_is_epartitions(void **state) {
    fixture_t *f = *state;
    member_t *m = member_open(f, 0);
    declare(m, f->topic, 3, false);
    rill_topic_spec_t spec = {.name = f->topic, .partitions = 5};
    int32_t got = 0;
    char err[512] = "";
    assert_int_equal(m->t->ops->declare(m->t, &spec, &got, err, sizeof err),
                     RILL_EPARTITIONS);
    assert_non_null(strstr(err, "3"));
    assert_non_null(strstr(err, "5"));
}

static void produce_reports_increasing_offsets(void **state) {
    fixture_t *f = *state;
    member_t *m = member_open(f, 0);
    declare(m, f->topic, 1, false);
    for (int i = 0; i < 10; i++)
        produce(f, m, f->topic, 0, "k", "v");
    RUN_UNTIL(f, m->delivered == 10, 10000);
    assert_int_equal(m->delivered, 10);
    assert_int_equal(m->delivery_errors, 0);
    int64_t low, high;
    if (m->t->ops->watermarks) {
        assert_int_equal(m->t->ops->watermarks(m->t, f->topic, 0, &low, &high, 5000),
                         RILL_OK);
        /* offsets ascend but need not be dense (Redis stream IDs are not) */
        assert_true(low <= m->first_offset);
        assert_int_equal(m->last_offset, high - 1);
        for (int i = 1; i < 10; i++)
            assert_true(m->offsets[i] > m->offsets[i - 1]);
    }
}

/* handlers->delivered, for the test below: counts its calls and runs each report. */
static int g_batch_calls, g_batch_reports;

static void on_delivered(rill_transport_t *t, rill_delivery_cb cb,
                         const rill_delivery_t *d, size_t n, void *op) {
    (void)t;
    (void)op;
    g_batch_calls++;
    for (size_t i = 0; i < n; i++) {
        g_batch_reports++;
        cb(RILL_OK, NULL, d[i].partition, d[i].offset, d[i].opaque);
    }
}

/* One report per produce with handlers->delivered set (a transport may use it, or
 * call each produce's cb), across produces with two different cbs: each report
 * reaches the cb its produce was given, with its opaque and partition, once.
 * (Their order is not checked: the contract lets reports come out of order.) */
typedef struct report_slot {
    int which; /* the cb its produce was given: 1 on_report_a, 2 on_report_b */
    int32_t partition;
    int reports;   /* how many reached it */
    bool wrong_cb; /* one came through the other cb */
    bool wrong_partition;
    int *total;
} report_slot_t;

static void log_report(report_slot_t *s, int which, rill_err_t err, int32_t p) {
    assert_int_equal(err, RILL_OK);
    s->reports++;
    (*s->total)++;
    if (which != s->which) s->wrong_cb = true;
    if (p != s->partition) s->wrong_partition = true;
}
static void on_report_a(rill_err_t err, const char *errmsg, int32_t p, int64_t off,
                        void *op) {
    (void)errmsg;
    (void)off;
    log_report(op, 1, err, p);
}
static void on_report_b(rill_err_t err, const char *errmsg, int32_t p, int64_t off,
                        void *op) {
    (void)errmsg;
    (void)off;
    log_report(op, 2, err, p);
}

static void delivered_handler_reports_each_produce_once_to_its_cb(void **state) {
    fixture_t *f = *state;
    member_t *m = &f->members[0];
    memset(m, 0, sizeof *m);
    m->msgs = calloc(MAXREC, sizeof *m->msgs);
    m->h = (rill_transport_handlers_t){
        .messages = on_messages,
        .assigned = on_assigned,
        .revoke_request = on_revoked,
        .writable = on_writable,
        .error = on_error,
        .opaque = m,
        .delivered = on_delivered,
    };
    snprintf(m->client_id, sizeof m->client_id, "conf-%d-%u-d", (int)getpid(), g_seq);
    char err[512] = "";
    m->t =
        rill_transport_new(g_url, g_conf, f->base, &m->h, m->client_id, err, sizeof err);
    if (!m->t) fail_msg("cannot open %s: %s", g_url, err);
    declare(m, f->topic, 3, false);
    g_batch_calls = g_batch_reports = 0;
    int total = 0;
    report_slot_t slots[30];
    for (int i = 0; i < 30; i++) { /* runs of a, then b, then a; partitions interleaved */
        slots[i] = (report_slot_t){
            .which = i >= 10 && i < 20 ? 2 : 1, .partition = i % 3, .total = &total};
        rill_produce_t msg = {
            .topic = f->topic, .partition = i % 3, .value = "v", .value_len = 1};
        rill_err_t rc;
        for (int tries = 0;
             (rc = m->t->ops->produce(m->t, &msg,
                                      slots[i].which == 1 ? on_report_a : on_report_b,
                                      &slots[i])) == RILL_EFULL &&
             tries < 1000;
             tries++)
            RUN_UNTIL(f, false, 1);
        assert_int_equal(rc, RILL_OK);
    }
    RUN_UNTIL(f, total == 30, 10000);
    RUN_UNTIL(f, false, 20); /* nothing more may come */
    for (int i = 0; i < 30; i++) {
        if (slots[i].reports != 1)
            fail_msg("produce %d: %d reports", i, slots[i].reports);
        assert_false(slots[i].wrong_cb);
        assert_false(slots[i].wrong_partition);
    }
    assert_int_equal(total, 30);
    /* what went through the handler went to the cbs, one call per run at most */
    assert_true(g_batch_reports <= 30);
    assert_true(g_batch_calls <= g_batch_reports);
}

/* A transport may cache what it looks up per topic-name pointer (rill_produce_t):
 * sends to many topics, in turns, each land in their own topic. */
static void sends_to_many_topics_land_each_in_its_topic(void **state) {
    fixture_t *f = *state;
    member_t *m = member_open(f, 0);
    enum { NT = 10 };           /* more than 8: a table of 16 grows once */
    static char names[NT][128]; /* the core's names live until close */
    char value[16];
    for (int i = 0; i < NT; i++) {
        snprintf(names[i], sizeof names[i], "%s-t%d", f->topic, i);
        declare(m, names[i], 1, false);
    }
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < NT; i++) {
            snprintf(value, sizeof value, "v%d", i);
            produce(f, m, names[i], 0, NULL, value);
        }
    RUN_UNTIL(f, m->delivered == 2 * NT, 10000);
    assert_int_equal(m->delivered, 2 * NT);
    assert_int_equal(m->delivery_errors, 0);
    for (int i = 0; i < NT; i++) {
        rd_t *r = reader(f, 0, m, names[i], 0, RILL_OFFSET_BEGINNING);
        RUN_UNTIL(f, r->eofs > 0 && r->n >= 2, 10000);
        snprintf(value, sizeof value, "v%d", i);
        assert_int_equal(r->n, 2);
        assert_string_equal(r->msgs[0].value, value);
        assert_string_equal(r->msgs[1].value, value);
        reader_close(r);
        free(r->msgs);
        r->msgs = NULL;
    }
}

static void group_member_receives_all_in_partition_order(void **state) {
    fixture_t *f = *state;
    member_t *m = member_open(f, 0);
    declare(m, f->topic, 4, false);
    char v[32];
    for (int i = 0; i < 400; i++) {
        snprintf(v, sizeof v, "%d", i);
        produce(f, m, f->topic, i % 4, "k", v);
    }
    subscribe(m, f->group, f->topic);
    RUN_UNTIL(f, m->nmsgs >= 400, g_wait_ms + 10000);
    assert_int_equal(m->nmsgs, 400);
    int last[4] = {-1, -1, -1, -1};
    int64_t lastoff[4] = {-1, -1, -1, -1};
    for (size_t i = 0; i < m->nmsgs; i++) {
        int p = m->msgs[i].partition, val = atoi(m->msgs[i].value);
        assert_true(val > last[p]);
        assert_true(m->msgs[i].offset > lastoff[p]);
        assert_int_equal(val % 4, p);
        last[p] = val;
        lastoff[p] = m->msgs[i].offset;
    }
    assert_int_equal(m->nowned, 4);
}

static void key_value_headers_and_timestamp_roundtrip(void **state) {
    fixture_t *f = *state;
    member_t *m = member_open(f, 0);
    declare(m, f->topic, 1, false);
    rill_header_t h = {"trace", "abc", 3};
    rill_produce_t msg = {.topic = f->topic,
                          .partition = 0,
                          .key = "key\0bin",
                          .key_len = 7,
                          .value = "value",
                          .value_len = 5,
                          .headers = &h,
                          .nheaders = 1,
                          .timestamp_ms = 1700000000123};
    assert_int_equal(m->t->ops->produce(m->t, &msg, on_delivery, m), RILL_OK);
    rill_produce_t nokey = {
        .topic = f->topic, .partition = 0, .value = "", .value_len = 0};
    assert_int_equal(m->t->ops->produce(m->t, &nokey, on_delivery, m), RILL_OK);
    subscribe(m, f->group, f->topic);
    RUN_UNTIL(f, m->nmsgs >= 2, g_wait_ms + 10000);
    assert_int_equal(m->nmsgs, 2);
    assert_true(m->msgs[0].has_key);
    assert_memory_equal(m->msgs[0].key, "key", 4); /* up to the NUL */
    assert_int_equal(m->msgs[0].value_len, 5);
    assert_memory_equal(m->msgs[0].value, "value", 5);
    assert_int_equal(m->msgs[0].nheaders, 1);
    assert_string_equal(m->msgs[0].hname, "trace");
    assert_string_equal(m->msgs[0].hvalue, "abc");
    assert_int_equal(m->msgs[0].ts, 1700000000123);
    assert_false(m->msgs[1].has_key);
    assert_false(m->msgs[1].tombstone);
    assert_int_equal(m->msgs[1].value_len, 0);
}

static void tombstone_roundtrip(void **state) {
    fixture_t *f = *state;
    member_t *m = member_open(f, 0);
    declare(m, f->topic, 1, true);
    produce(f, m, f->topic, 0, "k", NULL);
    subscribe(m, f->group, f->topic);
    RUN_UNTIL(f, m->nmsgs >= 1, g_wait_ms + 10000);
    assert_int_equal(m->nmsgs, 1);
    assert_true(m->msgs[0].tombstone);
}

static bool disjoint_cover(fixture_t *f, int nmembers, int32_t parts) {
    int seen[64] = {0};
    for (int i = 0; i < nmembers; i++)
        for (size_t j = 0; j < f->members[i].nowned; j++)
            seen[f->members[i].owned[j].partition]++;
    for (int32_t p = 0; p < parts; p++)
        if (seen[p] != 1) return false;
    return true;
}

static void two_members_split_partitions(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0), *b = member_open(f, 1);
    declare(a, f->topic, 4, false);
    subscribe(a, f->group, f->topic);
    subscribe(b, f->group, f->topic);
    RUN_UNTIL(f, a->nowned == 2 && b->nowned == 2 && disjoint_cover(f, 2, 4),
              g_wait_ms + 10000);
    assert_int_equal(a->nowned, 2);
    assert_int_equal(b->nowned, 2);
    assert_true(disjoint_cover(f, 2, 4));
    for (int i = 0; i < 100; i++)
        produce(f, a, f->topic, i % 4, "k", "v");
    RUN_UNTIL(f, a->nmsgs + b->nmsgs >= 100, 10000);
    assert_int_equal(a->nmsgs + b->nmsgs, 100);
    assert_int_equal(a->nmsgs, 50);
}

static void member_leaving_hands_partitions_to_survivor(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0), *b = member_open(f, 1);
    declare(a, f->topic, 4, false);
    subscribe(a, f->group, f->topic);
    subscribe(b, f->group, f->topic);
    RUN_UNTIL(f, a->nowned == 2 && b->nowned == 2, g_wait_ms + 10000);
    assert_int_equal(b->nowned, 2);
    assert_int_equal(b->t->ops->unsubscribe(b->t), RILL_OK);
    RUN_UNTIL(f, a->nowned == 4, g_wait_ms + 10000);
    assert_int_equal(a->nowned, 4);
    for (int i = 0; i < 40; i++)
        produce(f, a, f->topic, i % 4, "k", "v");
    RUN_UNTIL(f, a->nmsgs >= 40, 10000);
    assert_int_equal(a->nmsgs, 40);
    assert_int_equal(b->nmsgs, 0);
}

static void revoked_partitions_are_not_reassigned_before_revoke_done(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0), *b = member_open(f, 1);
    declare(a, f->topic, 2, false);
    a->defer_revoke = true;
    subscribe(a, f->group, f->topic);
    RUN_UNTIL(f, a->nowned == 2, g_wait_ms + 10000);
    assert_int_equal(a->nowned, 2);
    subscribe(b, f->group, f->topic);
    RUN_UNTIL(f, a->revoke_pending, g_wait_ms + 10000);
    assert_true(a->revoke_pending);
    RUN_UNTIL(f, b->nowned > 0, 500);
    assert_int_equal(b->nowned, 0); /* a still holds them */
    a->revoke_pending = false;
    /* Later rebalances (the group may take more than one round to settle) are not
     * held: a revoke held for longer than the group's timeouts is, rightly, given up
     * on by the broker, which then hands everything to b. */
    a->defer_revoke = false;
    rill_transport_revoke_answer(a->t, a->last_rv);
    RUN_UNTIL(f, b->nowned == 1 && a->nowned == 1, g_wait_ms + 10000);
    if (b->nowned != 1 || a->nowned != 1)
        fail_msg("after revoke_done: a owns %zu (assigned %d times, revoked %d, revoke "
                 "pending %d), b owns %zu (assigned %d, revoked %d)",
                 a->nowned, a->assigns, a->revokes, a->revoke_pending, b->nowned,
                 b->assigns, b->revokes);
    assert_true(disjoint_cover(f, 2, 2));
}

static void committed_offset_roundtrip_and_resume(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0);
    declare(a, f->topic, 1, false);
    for (int i = 0; i < 10; i++)
        produce(f, a, f->topic, 0, "k", "v");
    subscribe(a, f->group, f->topic);
    RUN_UNTIL(f, a->nmsgs >= 10, g_wait_ms + 10000);
    assert_int_equal(a->nmsgs, 10);
    int64_t next = a->msgs[5].offset + 1; /* processed six */
    rill_tp_offset_t off = {f->topic, 0, next};
    assert_int_equal(a->t->ops->commit(a->t, &off, 1), RILL_OK);
    int64_t got = RILL_OFFSET_INVALID;
    for (int i = 0; i < 200 && got != next; i++) {
        RUN_UNTIL(f, false, 10);
        assert_int_equal(a->t->ops->committed(a->t, f->group, f->topic, 0, &got),
                         RILL_OK);
    }
    assert_int_equal(got, next);
    int64_t seventh = a->msgs[6].offset;
    member_close(a);
    member_t *b = member_open(f, 1);
    subscribe(b, f->group, f->topic);
    RUN_UNTIL(f, b->nmsgs >= 4, g_wait_ms + 10000);
    assert_int_equal(b->nmsgs, 4);
    assert_int_equal(b->msgs[0].offset, seventh); /* the first one at or after next */
}

static void pause_stops_delivery_and_resume_restarts(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0);
    declare(a, f->topic, 1, false);
    subscribe(a, f->group, f->topic);
    RUN_UNTIL(f, a->nowned == 1, g_wait_ms + 10000);
    assert_int_equal(a->nowned, 1);
    rill_tp_t tp = {f->topic, 0};
    assert_int_equal(a->t->ops->pause(a->t, &tp, 1), RILL_OK);
    for (int i = 0; i < 10; i++)
        produce(f, a, f->topic, 0, "k", "v");
    RUN_UNTIL(f, a->nmsgs > 0, 1000);
    assert_int_equal(a->nmsgs, 0);
    assert_int_equal(a->t->ops->resume(a->t, &tp, 1), RILL_OK);
    RUN_UNTIL(f, a->nmsgs >= 10, 10000);
    assert_int_equal(a->nmsgs, 10);
}

static void seek_redelivers_from_offset(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0);
    declare(a, f->topic, 1, false);
    for (int i = 0; i < 5; i++)
        produce(f, a, f->topic, 0, "k", "v");
    subscribe(a, f->group, f->topic);
    RUN_UNTIL(f, a->nmsgs >= 5, g_wait_ms + 10000);
    assert_int_equal(a->nmsgs, 5);
    int64_t third = a->msgs[2].offset;
    assert_int_equal(a->t->ops->seek(a->t, f->topic, 0, third), RILL_OK);
    RUN_UNTIL(f, a->nmsgs >= 8, 10000);
    assert_int_equal(a->nmsgs, 8);
    assert_int_equal(a->msgs[5].offset, third);
}

static void reader_reads_partition_and_reports_eof(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0);
    declare(a, f->topic, 2, true);
    for (int i = 0; i < 20; i++)
        produce(f, a, f->topic, 1, "k", "v");
    RUN_UNTIL(f, a->delivered == 20, 10000);
    rd_t *r = reader(f, 0, a, f->topic, 1, RILL_OFFSET_BEGINNING);
    RUN_UNTIL(f, r->eofs > 0, 10000);
    assert_int_equal(r->n, 20);
    assert_int_equal(r->last_eof_end, r->msgs[19].offset + 1);
    assert_int_equal(a->nmsgs, 0); /* not a group member */
    /* a reader keeps following (standby replicas) */
    for (int i = 0; i < 5; i++)
        produce(f, a, f->topic, 1, "k", "w");
    RUN_UNTIL(f, r->n >= 25, 10000);
    assert_int_equal(r->n, 25);
    reader_close(r);
}

static void reader_on_empty_partition_reports_eof(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0);
    declare(a, f->topic, 1, true);
    rd_t *r = reader(f, 0, a, f->topic, 0, RILL_OFFSET_BEGINNING);
    RUN_UNTIL(f, r->eofs > 0, 10000);
    assert_int_equal(r->eofs, 1);
    assert_int_equal(r->n, 0);
}

static void reader_from_offset_skips_earlier(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0);
    declare(a, f->topic, 1, false);
    for (int i = 0; i < 10; i++)
        produce(f, a, f->topic, 0, "k", "v");
    RUN_UNTIL(f, a->delivered == 10, 10000);
    int64_t from = a->offsets[6]; /* the last four */
    rd_t *r = reader(f, 0, a, f->topic, 0, from);
    RUN_UNTIL(f, r->eofs > 0, 10000);
    assert_int_equal(r->n, 4);
    assert_int_equal(r->msgs[0].offset, from);
}

static void reader_gets_only_its_partition(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0);
    declare(a, f->topic, 3, false);
    for (int i = 0; i < 6; i++)
        produce(f, a, f->topic, i % 3, "k", i % 3 == 1 ? "one" : "other");
    RUN_UNTIL(f, a->delivered == 6, 10000);
    rd_t *r1 = reader(f, 0, a, f->topic, 1, RILL_OFFSET_BEGINNING);
    rd_t *r2 = reader(f, 1, a, f->topic, 2, RILL_OFFSET_BEGINNING);
    RUN_UNTIL(f, r1->eofs > 0 && r2->eofs > 0, 10000);
    assert_int_equal(r1->n, 2);
    assert_int_equal(r2->n, 2);
    assert_int_equal(r1->foreign, 0);
    assert_int_equal(r2->foreign, 0);
    assert_memory_equal(r1->msgs[0].value, "one", 3);
    assert_memory_equal(r2->msgs[1].value, "other", 5);
}

static void two_readers_of_one_partition_both_get_it(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0);
    declare(a, f->topic, 2, true);
    for (int i = 0; i < 10; i++)
        produce(f, a, f->topic, 0, "k", "v");
    RUN_UNTIL(f, a->delivered == 10, 10000);
    /* a standby and a global copy of one changelog partition, say */
    rd_t *r1 = reader(f, 0, a, f->topic, 0, RILL_OFFSET_BEGINNING);
    RUN_UNTIL(f, r1->eofs > 0, 10000);
    rd_t *r2 = reader(f, 1, a, f->topic, 0, a->offsets[4]);
    RUN_UNTIL(f, r2->eofs > 0, 10000);
    assert_int_equal(r1->n, 10);
    assert_int_equal(r2->n, 6);
    assert_int_equal(r2->msgs[0].offset, a->offsets[4]);
    assert_int_equal(r2->last_eof_end, r1->last_eof_end);
    for (int i = 0; i < 3; i++)
        produce(f, a, f->topic, 0, "k", "w");
    RUN_UNTIL(f, r1->n >= 13 && r2->n >= 9, 10000);
    assert_int_equal(r1->n, 13);
    assert_int_equal(r2->n, 9);
    for (size_t i = 0; i < 9; i++) /* the same messages, in order, once each */
        assert_int_equal(r2->msgs[i].offset, r1->msgs[i + 4].offset);
    assert_int_equal(r1->foreign + r2->foreign, 0);
}

static void closing_one_reader_leaves_the_other_running(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0);
    declare(a, f->topic, 1, true);
    for (int i = 0; i < 4; i++)
        produce(f, a, f->topic, 0, "k", "v");
    RUN_UNTIL(f, a->delivered == 4, 10000);
    rd_t *r1 = reader(f, 0, a, f->topic, 0, RILL_OFFSET_BEGINNING);
    rd_t *r2 = reader(f, 1, a, f->topic, 0, RILL_OFFSET_BEGINNING);
    RUN_UNTIL(f, r1->eofs > 0 && r2->eofs > 0, 10000);
    assert_int_equal(r1->n, 4);
    assert_int_equal(r2->n, 4);
    reader_close(r1);
    for (int i = 0; i < 5; i++)
        produce(f, a, f->topic, 0, "k", "w");
    RUN_UNTIL(f, r2->n >= 9 && r2->last_eof_end == r2->msgs[8].offset + 1, 10000);
    assert_int_equal(r2->n, 9);
    assert_int_equal(r2->last_eof_end, r2->msgs[8].offset + 1); /* at the new end */
    assert_int_equal(r1->n, 4);                                 /* closed: nothing more */
    assert_int_equal(r1->eofs, 1);
}

static void eof_is_reported_per_reader(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0);
    declare(a, f->topic, 2, true);
    for (int i = 0; i < 3; i++)
        produce(f, a, f->topic, 0, "k", "v");
    RUN_UNTIL(f, a->delivered == 3, 10000);
    rd_t *full = reader(f, 0, a, f->topic, 0, RILL_OFFSET_BEGINNING);
    rd_t *empty = reader(f, 1, a, f->topic, 1, RILL_OFFSET_BEGINNING);
    RUN_UNTIL(f, full->eofs > 0 && empty->eofs > 0, 10000);
    assert_int_equal(full->eofs, 1);
    assert_int_equal(empty->eofs, 1);
    assert_int_equal(full->last_eof_end, a->last_offset + 1);
    assert_int_equal(empty->n, 0);
    /* more in partition 0: its reader reports a new end; the other's says nothing */
    produce(f, a, f->topic, 0, "k", "w");
    RUN_UNTIL(f, full->eofs > 1, 10000);
    assert_int_equal(full->eofs, 2);
    assert_int_equal(full->last_eof_end, a->last_offset + 1);
    RUN_UNTIL(f, false, 100);
    assert_int_equal(empty->eofs, 1);
}

/* A revoke answered late, after the next one came, releases nothing. */
/* A reader catching up on a long partition leaves the loop free to poll its
 * other sockets between batches: a transport that delivered all of it in one
 * loop turn would starve the web server, timers and heartbeats for as long
 * (recovering a 1M-key changelog on memory:// took one 250-650 ms turn).  Run on
 * in-process transports only: one delivering from sockets needs a poll for each
 * batch anyway, and its batch can hold all N (a Kafka fetch of 20,000 small
 * records is one), which says nothing about the loop. */
typedef struct probe {
    rd_t *rd;
    size_t seen_at; /* messages the reader had when the socket was read */
    bool fired;
} probe_t;

static void on_probe(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    probe_t *p = arg;
    char c;
    if (read(fd, &c, 1) != 1) return;
    p->seen_at = p->rd->n;
    p->fired = true;
}

static void a_reader_catching_up_lets_the_loop_poll_other_sockets(void **state) {
    fixture_t *f = *state;
    enum { N = 20000 };
    member_t *a = member_open(f, 0);
    declare(a, f->topic, 1, true);
    char key[16];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        produce(f, a, f->topic, 0, key, "v");
    }
    RUN_UNTIL(f, a->delivered == N, 60000);
    assert_int_equal(a->delivered, N);
    int sv[2];
    assert_int_equal(evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    rd_t *r = reader(f, 0, a, f->topic, 0, RILL_OFFSET_BEGINNING);
    probe_t p = {.rd = r};
    struct event *ev = event_new(f->base, sv[1], EV_READ | EV_PERSIST, on_probe, &p);
    event_add(ev, NULL);
    r->poke_fd = sv[0];
    r->poke = true;
    RUN_UNTIL(f, r->eofs > 0 && p.fired, 60000);
    event_free(ev);
    evutil_closesocket(sv[0]);
    evutil_closesocket(sv[1]);
    assert_int_equal(r->n, N);
    assert_true(p.fired);
    printf("the socket was read when the reader had %zu of %d messages\n", p.seen_at, N);
    assert_true(p.seen_at < N);
    reader_close(r);
}

static void stale_revoke_answer_does_not_release_the_current_revoke(void **state) {
    fixture_t *f = *state;
    member_t *a = member_open(f, 0), *b = member_open(f, 1);
    declare(a, f->topic, 2, false);
    subscribe(a, f->group, f->topic);
    RUN_UNTIL(f, a->nowned == 2, g_wait_ms + 10000);
    subscribe(b, f->group, f->topic); /* a revoke, answered at once */
    RUN_UNTIL(f, a->revokes > 0 && b->nowned == 1 && a->nowned == 1, g_wait_ms + 10000);
    assert_int_equal(b->nowned, 1);
    rill_revoke_t early = a->first_rv;
    member_close(b); /* a gets everything back */
    RUN_UNTIL(f, a->nowned == 2, g_wait_ms + 10000);
    assert_int_equal(a->nowned, 2);
    a->defer_revoke = true;
    member_t *c = member_open(f, 2);
    subscribe(c, f->group, f->topic);
    RUN_UNTIL(f, a->revoke_pending, g_wait_ms + 10000);
    assert_true(a->revoke_pending);
    assert_true(a->last_rv != early);
    rill_transport_revoke_answer(a->t, early); /* stale */
    RUN_UNTIL(f, c->nowned > 0, 500);
    assert_int_equal(c->nowned, 0); /* a still holds them */
    a->revoke_pending = false;
    a->defer_revoke = false;
    rill_transport_revoke_answer(a->t, a->last_rv);
    RUN_UNTIL(f, c->nowned == 1 && a->nowned == 1, g_wait_ms + 10000);
    assert_int_equal(c->nowned, 1);
    assert_int_equal(a->nowned, 1);
}

int rill_transport_conformance(const char *url, const rill_conf_t *conf,
                               int group_wait_ms) {
    g_url = url;
    g_conf = conf;
    g_wait_ms = group_wait_ms;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(declare_reports_partition_count, setup, teardown),
        cmocka_unit_test_setup_teardown(declare_mismatch_is_epartitions, setup, teardown),
        cmocka_unit_test_setup_teardown(produce_reports_increasing_offsets, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            delivered_handler_reports_each_produce_once_to_its_cb, setup, teardown),
        cmocka_unit_test_setup_teardown(sends_to_many_topics_land_each_in_its_topic,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(group_member_receives_all_in_partition_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(key_value_headers_and_timestamp_roundtrip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(tombstone_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(two_members_split_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(member_leaving_hands_partitions_to_survivor,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            revoked_partitions_are_not_reassigned_before_revoke_done, setup, teardown),
        cmocka_unit_test_setup_teardown(committed_offset_roundtrip_and_resume, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(pause_stops_delivery_and_resume_restarts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(seek_redelivers_from_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(reader_reads_partition_and_reports_eof, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reader_on_empty_partition_reports_eof, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reader_from_offset_skips_earlier, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reader_gets_only_its_partition, setup, teardown),
        cmocka_unit_test_setup_teardown(two_readers_of_one_partition_both_get_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(closing_one_reader_leaves_the_other_running,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(eof_is_reported_per_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(
            stale_revoke_answer_does_not_release_the_current_revoke, setup, teardown),
        /* last: in-process transports only (see the test) */
        cmocka_unit_test_setup_teardown(
            a_reader_catching_up_lets_the_loop_poll_other_sockets, setup, teardown),
    };
    size_t n = sizeof tests / sizeof tests[0];
    if (strncmp(url, "memory://", 9) != 0) n--;
    if (getenv("RILL_TEST_FILTER")) cmocka_set_test_filter(getenv("RILL_TEST_FILTER"));
    return _cmocka_run_group_tests(url, tests, n, NULL, NULL);
}
