/* Table lookups routed to the owner (docs/web.md, "Routing"):
 *   GET /table/<name>/<key>[?redirect=1][&standby=1]   one key's value
 *   GET /router/<name>/<key>                           who owns it
 * A key belongs to its murmur2 partition (the rule for lookups from outside a
 * handler).  This worker answers when it owns the partition; otherwise it asks
 * the owner the workers topic names (workers.c) with an evhttp client on the
 * app's loop (bounded by half of web.timeout.ms; the loop never waits) and passes
 * its answer on, or redirects there with ?redirect=1.  Layer 6. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record_int.h"
#include "backend_int.h"
#include "be64_int.h"
#include "table_int.h"
#include "web_int.h"
#include "web_route_int.h"
#include "workers_int.h"

#define FORWARDED "X-Rill-Forwarded" /* a routed request: answered here or 503 */

/* ---- answers
 * ---------------------------------------------------------------- */

static void reply_json(rill_web_t *w, struct evhttp_request *req, int code,
                       const char *reason, struct evbuffer *b) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    rill__web_reply(w, req, code, reason, b);
}

/* {"error": msg, "table", "key", "partition"} with @p code. */
static void fail(rill_web_t *w, struct evhttp_request *req, int code, const char *reason,
                 const rill_table_t *t, const void *key, size_t klen, int32_t p,
                 const char *msg) {
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"error\":");
    rill__web_json_str(b, msg, strlen(msg));
    evbuffer_add_printf(b, ",\"table\":");
    rill__web_json_str(b, t->name, strlen(t->name));
    evbuffer_add_printf(b, ",\"key\":");
    rill__web_json_str(b, key, klen);
    evbuffer_add_printf(b, ",\"partition\":%d}\n", (int)p);
    reply_json(w, req, code, reason, b);
    evbuffer_free(b);
}

/* The stored bytes of a value as JSON (the json serializer), "null" when they do
 * not decode. */
static rill_err_t value_json(rill_table_t *t, const void *v, size_t vlen, bool decoded,
                             void *tmp, struct evbuffer *out) {
    const rill_type_t *vt = t->opts.value_type;
    char why[128];
    rill_serializer_t *json = rill__app_serializer(t->app, "json", why, sizeof why);
    if (!json) return RILL_ENOTSUP;
    if (!decoded) {
        if (t->raw_int64 && vlen == 8) {
            *(int64_t *)tmp = (int64_t)rill__be64_get((const uint8_t *)v);
        } else if (rill_serializer_decode(t->vser, vt, v, vlen, tmp, why, sizeof why) !=
                   RILL_OK) {
            evbuffer_add(out, "null", 4);
            return RILL_OK;
        }
    }
    rill_buf_t b = RILL_BUF_INIT;
    rill_err_t rc = rill_serializer_encode(json, vt, tmp, &b, why, sizeof why);
    if (rc == RILL_OK) evbuffer_add(out, b.data, b.len);
    rill_buf_free(&b);
    return rc;
}

/* Read @p key from partition @p p here: the owner's view (overlay and store) when
 * it is active, the store alone for a standby or recovering copy. */
static rill_err_t local_read(rill_table_t *t, int32_t p, const void *key, size_t klen,
                             struct evbuffer *out, bool *found) {
    rill_tpart_t *tp = &t->parts[p];
    const rill_type_t *vt = t->opts.value_type;
    size_t sz = rill__value_csize(vt);
    void *tmp = calloc(1, sz ? sz : 1);
    if (!tmp) return RILL_ENOMEM;
    if (vt->kind == RILL_T_RECORD) rill_record_init(vt->record, tmp);
    rill_err_t rc;
    *found = false;
    if (tp->state == RILL_TP_ACTIVE) {
        rc = rill__table_find(t, NULL, key, klen, tmp, found);
        if (rc == RILL_OK && *found) rc = value_json(t, NULL, 0, true, tmp, out);
    } else if (!tp->sp || t->opts.window_size_ms > 0) {
        rc = RILL_ENOTSUP;
    } else {
        rill_buf_t got = RILL_BUF_INIT;
        rc = rill__st_get(t->app->store, tp->sp, key, klen, &got);
        if (rc == RILL_ENOENT) {
            rc = RILL_OK;
        } else if (rc == RILL_OK) {
            *found = true;
            rc = value_json(t, got.data ? (const void *)got.data : "", got.len, false,
                            tmp, out);
        }
        rill_buf_free(&got);
    }
    rill_value_clear(vt, tmp);
    free(tmp);
    return rc;
}

static void answer_local(rill_web_t *w, struct evhttp_request *req, rill_table_t *t,
                         const void *key, size_t klen, int32_t p) {
    bool standby = t->parts[p].state != RILL_TP_ACTIVE;
    struct evbuffer *v = evbuffer_new();
    bool found = false;
    rill_err_t rc = v ? local_read(t, p, key, klen, v, &found) : RILL_ENOMEM;
    if (rc == RILL_ENOTSUP) {
        fail(w, req, 503, "Service Unavailable", t, key, klen, p,
             "no readable copy of the partition here (standby reads of windowed "
             "tables are not supported)");
    } else if (rc != RILL_OK) {
        fail(w, req, 500, "Internal Server Error", t, key, klen, p, rill_err2str(rc));
    } else if (!found) {
        fail(w, req, 404, "Not Found", t, key, klen, p, "no such key");
    } else {
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            evhttp_send_error(req, 500, NULL);
        } else {
            rill_app_t *app = w->app;
            evbuffer_add_printf(b, "{\"table\":");
            rill__web_json_str(b, t->name, strlen(t->name));
            evbuffer_add_printf(b, ",\"key\":");
            rill__web_json_str(b, key, klen);
            evbuffer_add_printf(b, ",\"partition\":%d,\"value\":", (int)p);
            evbuffer_add_buffer(b, v);
            evbuffer_add_printf(b, ",\"worker\":");
            rill__web_json_str(b, app->client_id, strlen(app->client_id));
            evbuffer_add_printf(b, ",\"source\":\"%s\"}\n",
                                standby ? "standby" : "owner");
            reply_json(w, req, 200, "OK", b);
            evbuffer_free(b);
        }
    }
    if (v) evbuffer_free(v);
}

/* ---- proxying
 * ---------------------------------------------------------------- */

typedef struct proxy {
    rill_web_t *w;
    struct evhttp_request *req;    /* the client's */
    struct evhttp_connection *in;  /* the client's connection */
    struct evhttp_connection *out; /* to the owner */
    bool orphan;                   /* the client left: nothing to answer */
    char owner[256];
} proxy_t;

/* The client went away while the owner was asked (evhttp detached its request,
 * which is ours to free, as in web_table.c's dumps). */
static void proxy_client_closed(struct evhttp_connection *evcon, void *opaque) {
    (void)evcon;
    proxy_t *x = opaque;
    if (!evhttp_request_get_connection(x->req)) evhttp_request_free(x->req);
    x->orphan = true;
}

static void proxy_done(struct evhttp_request *resp, void *opaque) {
    proxy_t *x = opaque;
    if (x->orphan) {
        free(x);
        return;
    }
    rill__web_set_closecb(x->w, x->in, NULL, NULL);
    rill_web_t *w = x->w;
    int code = resp ? evhttp_request_get_response_code(resp) : 0;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(x->req, 500, NULL);
        free(x);
        return;
    }
    struct evkeyvalq *oh = evhttp_request_get_output_headers(x->req);
    if (code <= 0) {
        evbuffer_add_printf(b, "{\"error\":");
        char msg[400];
        snprintf(msg, sizeof msg, "the owner %s did not answer", x->owner);
        rill__web_json_str(b, msg, strlen(msg));
        evbuffer_add_printf(b, "}\n");
        evhttp_add_header(oh, "Content-Type", "application/json");
        rill__web_reply(w, x->req, 503, "Service Unavailable", b);
    } else {
        const char *ct =
            evhttp_find_header(evhttp_request_get_input_headers(resp), "Content-Type");
        evhttp_add_header(oh, "Content-Type", ct ? ct : "application/json");
        evhttp_add_header(oh, "X-Rill-Routed-To", x->owner);
        evbuffer_add_buffer(b, evhttp_request_get_input_buffer(resp));
        const char *reason = evhttp_request_get_response_code_line(resp);
        rill__web_reply(w, x->req, code, reason ? reason : "", b);
    }
    evbuffer_free(b);
    free(x);
}

/* "/table/<name>/<key>" (percent-encoded) at @p url, plus @p q. */
static char *target_path(const rill_table_t *t, const void *key, size_t klen,
                         const char *q) {
    char *en = evhttp_uriencode(t->name, -1, 0);
    char *ek = evhttp_uriencode(key, (ev_ssize_t)klen, 0);
    char *out = NULL;
    if (en && ek) {
        size_t n = strlen(en) + strlen(ek) + (q ? strlen(q) : 0) + 16;
        if ((out = malloc(n))) snprintf(out, n, "/table/%s/%s%s", en, ek, q ? q : "");
    }
    free(en);
    free(ek);
    return out;
}

static void redirect(rill_web_t *w, struct evhttp_request *req, const rill_table_t *t,
                     const void *key, size_t klen, const rill_worker_info_t *who,
                     bool standby) {
    char *path = target_path(t, key, klen, standby ? "?standby=1" : NULL);
    struct evbuffer *b = evbuffer_new();
    if (!path || !b) {
        free(path);
        if (b) evbuffer_free(b);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    size_t n = strlen(who->url) + strlen(path) + 1;
    char *loc = malloc(n);
    if (loc) {
        snprintf(loc, n, "%s%s", who->url, path);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
    }
    evbuffer_add_printf(b, "{\"location\":");
    rill__web_json_str(b, loc ? loc : "", loc ? strlen(loc) : 0);
    evbuffer_add_printf(b, "}\n");
    reply_json(w, req, 307, "Temporary Redirect", b);
    evbuffer_free(b);
    free(loc);
    free(path);
}

static void proxy(rill_web_t *w, struct evhttp_request *req, rill_table_t *t,
                  const void *key, size_t klen, int32_t p, const rill_worker_info_t *who,
                  bool standby) {
    rill_app_t *app = w->app;
    struct evhttp_uri *u = evhttp_uri_parse(who->url);
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    int port = u ? evhttp_uri_get_port(u) : -1;
    proxy_t *x = calloc(1, sizeof *x);
    char *path = target_path(t, key, klen, standby ? "?standby=1" : NULL);
    struct evhttp_request *out = x ? evhttp_request_new(proxy_done, x) : NULL;
    if (!host || port <= 0 || !x || !path || !out ||
        !(x->out = evhttp_connection_base_new(app->base, NULL, host, (uint16_t)port))) {
        if (out) evhttp_request_free(out);
        free(x);
        free(path);
        if (u) evhttp_uri_free(u);
        fail(w, req, 503, "Service Unavailable", t, key, klen, p,
             "the owner's web URL cannot be used");
        return;
    }
    x->w = w;
    x->req = req;
    x->in = evhttp_request_get_connection(req);
    snprintf(x->owner, sizeof x->owner, "%s (%s)", who->client_id, who->url);
    int64_t ms = rill_conf_get_int(app->conf, "web.timeout.ms", 10000) / 2;
    if (ms < 100) ms = 100;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(x->out, &tv);
    evhttp_connection_set_retries(x->out, 0);
    evhttp_connection_free_on_completion(x->out);
    struct evkeyvalq *h = evhttp_request_get_output_headers(out);
    char hostport[300];
    snprintf(hostport, sizeof hostport, "%s:%d", host, port);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, FORWARDED, app->client_id);
    evhttp_add_header(h, "Connection", "close");
    const char *auth =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (auth) evhttp_add_header(h, "Authorization", auth);
    if (x->in) rill__web_set_closecb(x->w, x->in, proxy_client_closed, x);
    if (evhttp_make_request(x->out, out, EVHTTP_REQ_GET, path) != 0) {
        /* evhttp freed @p out and calls nothing */
        if (x->in) rill__web_set_closecb(x->w, x->in, NULL, NULL);
        evhttp_connection_free(x->out);
        free(x);
        fail(w, req, 503, "Service Unavailable", t, key, klen, p, "cannot ask the owner");
    }
    free(path);
    evhttp_uri_free(u);
}

/* ---- GET /table/<name>/<key>, GET /router/<name>/<key>
 * ---------------------------------------------------------------- */

static bool query_flag(const char *q, const char *name) {
    struct evkeyvalq kv;
    if (!q || evhttp_parse_query_str(q, &kv)) return false;
    const char *v = evhttp_find_header(&kv, name);
    bool on = v && strcmp(v, "0") && strcmp(v, "false");
    evhttp_clear_headers(&kv);
    return on;
}

static const char *local_state(const rill_tpart_t *tp) {
    switch (tp->state) {
    case RILL_TP_ACTIVE:
        return "active";
    case RILL_TP_RECOVERING:
        return "recovering";
    case RILL_TP_STANDBY:
        return "standby";
    default:
        return "none";
    }
}

/* Why nobody can answer for partition @p p: the JSON reason of a 503. */
static void why_unknown(rill_app_t *app, const rill_table_t *t, int32_t p,
                        rill_owner_state_t st, const rill_worker_info_t *who,
                        const char *forwarded, char *out, size_t n) {
    if (forwarded)
        snprintf(out, n,
                 "%s routed this here, but this worker does not own partition %d "
                 "(rebalancing)",
                 forwarded, (int)p);
    else if (t->parts[p].state == RILL_TP_RECOVERING)
        snprintf(out, n,
                 "partition %d is recovering on this worker (?standby=1 reads "
                 "a standby copy)",
                 (int)p);
    else if (st == RILL_OWNER_RECOVERING)
        snprintf(out, n,
                 "partition %d is recovering on its owner %s (?standby=1 reads a standby "
                 "copy)",
                 (int)p, who->client_id);
    else if (!app->web || !rill__workers_caught_up(app))
        snprintf(out, n, "this worker has not read the workers topic yet");
    else
        snprintf(out, n,
                 "no worker owns partition %d now (rebalancing, or its owner has no web "
                 "server)",
                 (int)p);
}

static void lookup(rill_web_t *w, struct evhttp_request *req, rill_table_t *t,
                   const void *key, size_t klen, const char *query) {
    rill_app_t *app = w->app;
    int32_t p = rill_partition_for_key(key, klen, t->partitions);
    rill_tpart_t *tp = &t->parts[p];
    const char *fwd =
        evhttp_find_header(evhttp_request_get_input_headers(req), FORWARDED);
    bool standby = query_flag(query, "standby"), redir = query_flag(query, "redirect");
    if (tp->state == RILL_TP_ACTIVE) {
        answer_local(w, req, t, key, klen, p);
        return;
    }
    rill_worker_info_t who = {0};
    rill_owner_state_t st = rill__workers_owner(app, t->name, p, false, true, &who);
    if (st == RILL_OWNER_ACTIVE && !fwd) {
        if (redir)
            redirect(w, req, t, key, klen, &who, false);
        else
            proxy(w, req, t, key, klen, p, &who, false);
        return;
    }
    if (standby) {
        if (tp->state == RILL_TP_STANDBY || tp->state == RILL_TP_RECOVERING) {
            answer_local(w, req, t, key, klen, p);
            return;
        }
        rill_worker_info_t sb = {0};
        if (!fwd &&
            rill__workers_owner(app, t->name, p, true, true, &sb) == RILL_OWNER_ACTIVE) {
            if (redir)
                redirect(w, req, t, key, klen, &sb, true);
            else
                proxy(w, req, t, key, klen, p, &sb, true);
            return;
        }
    }
    char why[512];
    why_unknown(app, t, p, st, &who, fwd, why, sizeof why);
    fail(w, req, 503, "Service Unavailable", t, key, klen, p, why);
}

static void router(rill_web_t *w, struct evhttp_request *req, rill_table_t *t,
                   const void *key, size_t klen) {
    rill_app_t *app = w->app;
    int32_t p = rill_partition_for_key(key, klen, t->partitions);
    rill_tpart_t *tp = &t->parts[p];
    rill_worker_info_t who = {0};
    rill_owner_state_t st;
    if (tp->state == RILL_TP_ACTIVE) {
        st = RILL_OWNER_ACTIVE;
        who.client_id = app->client_id;
        who.url = rill__workers_self_url(app);
    } else {
        st = rill__workers_owner(app, t->name, p, false, true, &who);
    }
    if (st == RILL_OWNER_UNKNOWN) {
        char why[512];
        why_unknown(app, t, p, st, &who, NULL, why, sizeof why);
        fail(w, req, 503, "Service Unavailable", t, key, klen, p, why);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"table\":");
    rill__web_json_str(b, t->name, strlen(t->name));
    evbuffer_add_printf(b, ",\"key\":");
    rill__web_json_str(b, key, klen);
    evbuffer_add_printf(
        b, ",\"partition\":%d,\"partitions\":%d,\"owner\":{\"client_id\":", (int)p,
        (int)t->partitions);
    rill__web_json_str(b, who.client_id, strlen(who.client_id));
    evbuffer_add_printf(b, ",\"url\":");
    rill__web_json_str(b, who.url, strlen(who.url));
    evbuffer_add_printf(b, ",\"state\":\"%s\",\"self\":%s},\"here\":\"%s\"",
                        st == RILL_OWNER_ACTIVE ? "active" : "recovering",
                        tp->state == RILL_TP_ACTIVE ? "true" : "false", local_state(tp));
    rill_worker_info_t sb = {0};
    if (rill__workers_owner(app, t->name, p, true, true, &sb) == RILL_OWNER_ACTIVE) {
        evbuffer_add_printf(b, ",\"standby\":{\"client_id\":");
        rill__web_json_str(b, sb.client_id, strlen(sb.client_id));
        evbuffer_add_printf(b, ",\"url\":");
        rill__web_json_str(b, sb.url, strlen(sb.url));
        evbuffer_add_printf(b, "}");
    }
    evbuffer_add_printf(b, ",\"workers\":%zu}\n", rill__workers_count(app));
    reply_json(w, req, 200, "OK", b);
    evbuffer_free(b);
}

bool rill__web_route(rill_web_t *w, struct evhttp_request *req, const char *path,
                     const char *query) {
    size_t pre;
    bool is_router = !strncmp(path, "/router/", 8);
    if (is_router)
        pre = 8;
    else if (!strncmp(path, "/table/", 7) && strchr(path + 7, '/'))
        pre = 7;
    else
        return false;
    /* The raw path: a key may hold any byte, "/" and NUL included, encoded. */
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *raw = u ? evhttp_uri_get_path(u) : NULL;
    const char *slash = raw && strlen(raw) > pre ? strchr(raw + pre, '/') : NULL;
    if (!slash) {
        rill__web_error(w, req, 400, "Bad Request", "use /table/<name>/<key>");
        return true;
    }
    char *rname = strndup(raw + pre, (size_t)(slash - raw - (ptrdiff_t)pre));
    char *name = rname ? evhttp_uridecode(rname, 0, NULL) : NULL;
    size_t klen = 0;
    char *key = evhttp_uridecode(slash + 1, 0, &klen);
    free(rname);
    rill_table_t *t = NULL;
    if (name)
        for (t = w->app->tables; t && strcmp(t->name, name); t = t->next) {
        }
    if (!name || !key)
        evhttp_send_error(req, 500, NULL);
    else if (!t || !t->parts)
        rill__web_error(w, req, 404, "Not Found", "no such table");
    else if (!klen)
        rill__web_error(w, req, 400, "Bad Request", "the key is empty");
    else if (is_router)
        router(w, req, t, key, klen);
    else
        lookup(w, req, t, key, klen, query);
    free(name);
    free(key);
    return true;
}
