/* Table views of the web server: GET /table/<name>?partition=P&after=K&limit=N
 * answers one page of the keys of the partitions this worker owns, in (partition,
 * key) order, with the URL of the next page; GET /tables/<name> writes every key
 * as one JSON object, a page per loop turn, the next page only once the client
 * has read the last one (a big table neither stalls the loop nor piles up in
 * memory). */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record_int.h"
#include "backend_int.h"
#include "table_int.h"
#include "web_int.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define DUMP_PAGE 1000
#define WKEY 8 /* window start prefix of a windowed store key (table.c) */

static uint64_t be64(const void *p) {
    const uint8_t *b = p;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | b[i];
    return u;
}

static rill_table_t *table_named(rill_app_t *app, const char *name) {
    for (rill_table_t *t = app->tables; t; t = t->next)
        if (!strcmp(t->name, name)) return t->parts ? t : NULL;
    return NULL;
}

rill_table_t *rill__web_table_named(rill_app_t *app, const char *name) {
    return table_named(app, name);
}

typedef struct page {
    rill_table_t *t;
    rill_serializer_t *json;
    struct evbuffer *b;
    bool dump; /* "key": value (the /tables form) instead of {"key":...} items */
    void *tmp; /* a decoded value */
    size_t limit, n;
    const void *skip; /* the cursor key: the scan starts at it, the page after it */
    size_t skiplen;
    int32_t p;
    bool more;
    bool started;    /* dump: an item was written by an earlier page */
    rill_buf_t last; /* store key of the last item written */
} page_t;

/* A stored value as JSON (table.c's value_decode, then the json serializer). */
static void value_json(page_t *g, const void *v, size_t vlen) {
    rill_table_t *t = g->t;
    const rill_type_t *vt = t->opts.value_type;
    if (t->raw_int64 && vlen == 8) {
        evbuffer_add_printf(g->b, "%lld", (long long)(int64_t)be64(v));
        return;
    }
    size_t sz = rill__value_csize(vt);
    memset(g->tmp, 0, sz ? sz : 1);
    if (vt->kind == RILL_T_RECORD) rill_record_init(vt->record, g->tmp);
    char why[128];
    rill_buf_t out = RILL_BUF_INIT;
    if (rill_serializer_decode(t->vser, vt, v, vlen, g->tmp, why, sizeof why) ==
            RILL_OK &&
        g->json &&
        rill_serializer_encode(g->json, vt, g->tmp, &out, why, sizeof why) == RILL_OK)
        evbuffer_add(g->b, out.data, out.len);
    else
        evbuffer_add(g->b, "null", 4);
    rill_buf_free(&out);
    rill_value_clear(vt, g->tmp);
}

static int page_one(const void *key, size_t klen, const void *v, size_t vlen,
                    void *opaque) {
    page_t *g = opaque;
    if (g->skip) {
        bool same = klen == g->skiplen && !memcmp(key, g->skip, klen);
        g->skip = NULL;
        if (same) return 0;
    }
    if (g->n == g->limit) {
        g->more = true;
        return 1;
    }
    const uint8_t *k = key;
    size_t kl = klen;
    int64_t ws = -1, we = -1;
    if (g->t->opts.window_size_ms > 0) {
        if (klen < WKEY) return 0;
        ws = (int64_t)(be64(key) ^ 0x8000000000000000ull); /* sign flipped */
        k += WKEY;
        kl -= WKEY;
        if (g->t->session || g->t->sliding) { /* start, key, end (or mark) */
            if (kl < WKEY) return 0;
            kl -= WKEY;
            we = g->t->session ? (int64_t)(be64(k + kl) ^ 0x8000000000000000ull)
                               : ws + g->t->opts.window_size_ms;
        }
    }
    if (g->dump) {
        evbuffer_add_printf(g->b, "%s\n  ", g->n || g->started ? "," : "");
        if (ws >= 0) {
            struct evbuffer *kb = evbuffer_new();
            if (!kb) return 1;
            evbuffer_add(kb, k, kl);
            evbuffer_add_printf(kb, "@%lld", (long long)ws);
            size_t n = evbuffer_get_length(kb);
            rill__web_json_str(g->b, evbuffer_pullup(kb, -1), n);
            evbuffer_free(kb);
        } else {
            rill__web_json_str(g->b, k, kl);
        }
        evbuffer_add(g->b, ": ", 2);
    } else {
        evbuffer_add_printf(g->b, "%s{\"key\":", g->n ? "," : "");
        rill__web_json_str(g->b, k, kl);
        if (ws >= 0) evbuffer_add_printf(g->b, ",\"window_start\":%lld", (long long)ws);
        if (we >= 0) evbuffer_add_printf(g->b, ",\"window_end\":%lld", (long long)we);
        evbuffer_add_printf(g->b, ",\"partition\":%d,\"value\":", (int)g->p);
    }
    value_json(g, v, vlen);
    if (!g->dump) evbuffer_add(g->b, "}", 1);
    g->n++;
    rill_buf_reset(&g->last);
    rill_buf_append(&g->last, key, klen);
    return 0;
}

/* Fill one page from partition @p p at store key @p after (exclusive; NULL: from
 * the start).  *more is false when the table is exhausted, else the cursor of the
 * next page is g->p and g->last. */
static rill_err_t page_fill(page_t *g, int32_t p, const void *after, size_t alen,
                            bool *more) {
    rill_table_t *t = g->t;
    *more = false;
    for (; p < t->partitions; p++, after = NULL, alen = 0) {
        rill_tpart_t *tp = &t->parts[p];
        if (tp->state != RILL_TP_ACTIVE) continue;
        rill__tpart_flush(tp);
        g->p = p;
        g->skip = after;
        g->skiplen = alen;
        g->more = false;
        rill_err_t rc =
            rill__st_scan(t->app->store, tp->sp, after, alen, NULL, 0, page_one, g);
        if (rc != RILL_OK) return rc;
        if (g->more) {
            *more = true;
            return RILL_OK;
        }
        if (g->n == g->limit) { /* full: the next page starts after this key */
            *more = true;
            return RILL_OK;
        }
    }
    return RILL_OK;
}

static bool page_init(page_t *g, rill_table_t *t, struct evbuffer *b, size_t limit) {
    memset(g, 0, sizeof *g);
    g->t = t;
    g->b = b;
    g->limit = limit;
    char why[128];
    g->json = rill__app_serializer(t->app, "json", why, sizeof why);
    const rill_type_t *vt = t->opts.value_type;
    size_t sz = rill__value_csize(vt);
    g->tmp = calloc(1, sz ? sz : 1);
    return g->tmp != NULL;
}

static void page_free(page_t *g) {
    free(g->tmp);
    rill_buf_free(&g->last);
}

/* ---- GET /table/<name>
 * ---------------------------------------------------------------- */

/* The value of @p key in query string @p q, percent-decoded (binary safe; free
 * it), or NULL. */
static char *query_get(const char *q, const char *key, size_t *len) {
    size_t kl = strlen(key);
    for (const char *s = q; s && *s;) {
        const char *end = strchr(s, '&');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (n > kl && s[kl] == '=' && !strncmp(s, key, kl)) {
            char *raw = strndup(s + kl + 1, n - kl - 1);
            if (!raw) return NULL;
            char *v = evhttp_uridecode(raw, 0, len);
            free(raw);
            return v;
        }
        s = end ? end + 1 : NULL;
    }
    return NULL;
}

void rill__web_table_page(rill_web_t *w, struct evhttp_request *req, const char *name,
                          const char *query) {
    rill_table_t *t = table_named(w->app, name);
    if (!t) {
        rill__web_error(w, req, 404, "Not Found", "no such table");
        return;
    }
    size_t limit = PAGE_DEFAULT, alen = 0, n;
    int32_t p = 0;
    char *v = query_get(query, "limit", &n);
    if (v) {
        char *e;
        long l = strtol(v, &e, 10);
        bool bad = *e || l <= 0;
        free(v);
        if (bad) {
            rill__web_error(w, req, 400, "Bad Request",
                            "limit must be a positive integer");
            return;
        }
        limit = l > PAGE_MAX ? PAGE_MAX : (size_t)l;
    }
    char *after = query_get(query, "after", &alen);
    if ((v = query_get(query, "partition", &n))) {
        char *e;
        long l = strtol(v, &e, 10);
        bool bad = *e || l < 0 || l >= t->partitions;
        free(v);
        if (bad) {
            free(after);
            {
                rill__web_error(w, req, 400, "Bad Request", "partition out of range");
                return;
            }
        }
        p = (int32_t)l;
    } else if (after) { /* a plain key: its own partition */
        p = rill_partition_for_key(after, alen, t->partitions);
    }
    struct evbuffer *b = evbuffer_new();
    page_t g;
    if (!b || !page_init(&g, t, b, limit)) {
        if (b) evbuffer_free(b);
        free(after);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"table\":");
    rill__web_json_str(b, t->name, strlen(t->name));
    evbuffer_add_printf(b, ",\"partitions\":%d,\"limit\":%zu,\"items\":[",
                        (int)t->partitions, limit);
    bool more;
    rill_err_t rc = page_fill(&g, p, after, alen, &more);
    free(after);
    if (rc != RILL_OK) {
        page_free(&g);
        evbuffer_free(b);
        {
            rill__web_error(w, req, 500, "Internal Server Error", rill_err2str(rc));
            return;
        }
    }
    evbuffer_add_printf(b, "],\"next\":");
    if (more) {
        char *ename = evhttp_uriencode(t->name, -1, 0);
        char *ekey =
            evhttp_uriencode((const char *)g.last.data, (ev_ssize_t)g.last.len, 0);
        char url[64];
        snprintf(url, sizeof url, "?partition=%d&limit=%zu&after=", (int)g.p, limit);
        evbuffer_add_printf(b, "\"/table/%s%s%s\"", ename ? ename : "", url,
                            ekey ? ekey : "");
        free(ename);
        free(ekey);
    } else {
        evbuffer_add_printf(b, "null");
    }
    evbuffer_add_printf(b, "}\n");
    page_free(&g);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    rill__web_reply(w, req, 200, "OK", b);
    evbuffer_free(b);
}

/* ---- GET /tables/<name>
 * ---------------------------------------------------------------- */

typedef struct rill_web_dump {
    rill_web_t *w;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    char *table;
    int32_t p;
    rill_buf_t after; /* store key of the last item sent */
    bool started;     /* an item was sent (a comma before the next) */
    struct event *ev; /* the next page, on a later loop turn */
    struct rill_web_dump *next;
} rill_web_dump_t;

static void dump_free(rill_web_dump_t *d) {
    for (rill_web_dump_t **pp = &d->w->dumps; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    if (d->ev) event_free(d->ev);
    rill_buf_free(&d->after);
    free(d->table);
    free(d);
}

/* The client went away (or timed out) half way.  evhttp has detached the request
 * it handed us (userdone unset), so it is ours to free; one still attached is
 * freed with its connection. */
static void dump_closed(struct evhttp_connection *evcon, void *opaque) {
    (void)evcon;
    rill_web_dump_t *d = opaque;
    if (!evhttp_request_get_connection(d->req)) evhttp_request_free(d->req);
    dump_free(d);
}

static void dump_end(rill_web_dump_t *d, const char *tail) {
    struct evbuffer *b = evbuffer_new();
    if (b) {
        evbuffer_add(b, tail, strlen(tail));
        evhttp_send_reply_chunk(d->req, b);
        evbuffer_free(b);
    }
    rill__web_set_closecb(d->w, d->evcon, NULL, NULL);
    evhttp_send_reply_end(d->req);
    dump_free(d);
}

static void dump_sent(struct evhttp_connection *evcon, void *opaque) {
    (void)evcon;
    rill_web_dump_t *d = opaque;
    event_active(d->ev, EV_TIMEOUT, 0);
}

static void dump_page(evutil_socket_t fd, short what, void *opaque) {
    (void)fd;
    (void)what;
    rill_web_dump_t *d = opaque;
    rill_table_t *t = table_named(d->w->app, d->table);
    if (!t) {
        dump_end(d, "\n}\n");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    page_t g;
    if (!b || !page_init(&g, t, b, DUMP_PAGE)) {
        if (b) evbuffer_free(b);
        {
            dump_end(d, "\n}\n");
            return;
        }
    }
    g.dump = true;
    g.started = d->started;
    bool more;
    rill_err_t rc =
        page_fill(&g, d->p, d->after.len ? d->after.data : NULL, d->after.len, &more);
    if (g.n) d->started = true;
    if (rc == RILL_OK && more) {
        d->p = g.p;
        rill_buf_reset(&d->after);
        rill_buf_append(&d->after, g.last.data, g.last.len);
        evhttp_send_reply_chunk_with_cb(d->req, b, dump_sent, d);
        evbuffer_free(b);
        page_free(&g);
        return;
    }
    evhttp_send_reply_chunk(d->req, b);
    evbuffer_free(b);
    page_free(&g);
    dump_end(d, "\n}\n");
}

void rill__web_table_dump(rill_web_t *w, struct evhttp_request *req, const char *name) {
    rill_table_t *t = table_named(w->app, name);
    if (!t) {
        rill__web_error(w, req, 404, "Not Found", "no such table");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            evhttp_send_error(req, 500, NULL);
            return;
        }
        rill__web_reply(w, req, 200, "OK", b);
        evbuffer_free(b);
        return;
    }
    rill_web_dump_t *d = calloc(1, sizeof *d);
    if (d) {
        d->w = w;
        d->req = req;
        d->evcon = evhttp_request_get_connection(req);
        d->table = strdup(name);
        d->ev = event_new(w->app->base, -1, 0, dump_page, d);
    }
    if (!d || !d->table || !d->ev || !d->evcon) {
        if (d) {
            free(d->table);
            if (d->ev) event_free(d->ev);
            free(d);
        }
        evhttp_send_error(req, 500, NULL);
        return;
    }
    d->next = w->dumps;
    w->dumps = d;
    rill__web_count(w, 200);
    rill__web_set_closecb(w, d->evcon, dump_closed, d);
    evhttp_send_reply_start(req, 200, "OK");
    struct evbuffer *b = evbuffer_new();
    if (b) {
        evbuffer_add(b, "{", 1);
        evhttp_send_reply_chunk_with_cb(req, b, dump_sent, d);
        evbuffer_free(b);
    }
}

void rill__web_dumps_free(rill_web_t *w) {
    while (w->dumps) {
        rill_web_dump_t *d = w->dumps;
        rill__web_set_closecb(w, d->evcon, NULL, NULL);
        dump_free(d);
    }
}

rill_err_t rill__web_table_get_json(rill_table_t *t, const void *key, size_t klen,
                                    struct evbuffer *out, bool *found) {
    *found = false;
    if (!t->parts) return RILL_ENOTOWNER;
    char why[128];
    rill_serializer_t *json = rill__app_serializer(t->app, "json", why, sizeof why);
    if (!json) return RILL_ENOTSUP;
    const rill_type_t *vt = t->opts.value_type;
    size_t sz = rill__value_csize(vt);
    void *tmp = calloc(1, sz ? sz : 1);
    if (!tmp) return RILL_ENOMEM;
    if (vt->kind == RILL_T_RECORD) rill_record_init(vt->record, tmp);
    rill_err_t rc = rill__table_find(t, NULL, key, klen, tmp, found);
    if (rc == RILL_OK && *found) {
        rill_buf_t b = RILL_BUF_INIT;
        rc = rill_serializer_encode(json, vt, tmp, &b, why, sizeof why);
        if (rc == RILL_OK) evbuffer_add(out, b.data, b.len);
        rill_buf_free(&b);
    }
    rill_value_clear(vt, tmp);
    free(tmp);
    return rc;
}
