/* The app's own web views (include/rill/web.h): rill_app_page() endpoints with
 * "{name}" path parameters, answered by their handler on the loop, and the
 * Server-Sent Events streams of rill_app_event_stream() / rill_app_push().  Pages
 * and streams are kept per app here (they may be declared before the server
 * starts) and forgotten when the app is destroyed. */
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rill/web.h"
#include "table_int.h"
#include "web_int.h"
#include "workers_int.h"

#define MAX_PARAMS 8

typedef struct page {
    rill_app_t *app;
    char *pattern;
    rill_page_fn fn; /* NULL: an event stream */
    void *opaque;
    struct page *next;
} page_t;

static pthread_mutex_t pages_lock = PTHREAD_MUTEX_INITIALIZER;
static page_t *pages;

struct rill_web_request {
    rill_web_t *w;
    struct evhttp_request *req;
    const char *path;
    char *segs; /* the path, its segments NUL-terminated */
    const char *names[MAX_PARAMS];
    size_t namelens[MAX_PARAMS];
    const char *values[MAX_PARAMS];
    size_t nparams;
    struct evkeyvalq query;
    bool parsed, answered;
};

static const char *const builtin[] = {"/",       "/health", "/ready",       "/metrics",
                                      "/status", "/events", "/dashboard.js"};
static const char *const builtin_prefix[] = {"/table/", "/tables/", "/router/"};

static bool pattern_ok(const char *p) {
    if (!p || p[0] != '/') return false;
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
        if (!strcmp(p, builtin[i])) return false;
    for (size_t i = 0; i < sizeof builtin_prefix / sizeof *builtin_prefix; i++)
        if (!strncmp(p, builtin_prefix[i], strlen(builtin_prefix[i]) - 1) &&
            (p[strlen(builtin_prefix[i]) - 1] == '/' ||
             !p[strlen(builtin_prefix[i]) - 1]))
            return false;
    size_t params = 0;
    for (const char *s = p; *s; s++) {
        if (*s == '{') { /* a whole segment: /{name} followed by / or the end */
            const char *e = strchr(s, '}');
            if (s[-1] != '/' || !e || e == s + 1 || (e[1] && e[1] != '/') ||
                memchr(s + 1, '/', (size_t)(e - s - 1)) ||
                memchr(s + 1, '{', (size_t)(e - s - 1)) || ++params > MAX_PARAMS)
                return false;
            s = e;
        } else if (*s == '}' || *s == '?' || *s == '#') {
            return false;
        }
    }
    return true;
}

static rill_err_t add(rill_app_t *app, const char *pattern, rill_page_fn fn,
                      void *opaque) {
    if (!app || !pattern_ok(pattern)) return RILL_EINVAL;
    pthread_mutex_lock(&pages_lock);
    for (page_t *g = pages; g; g = g->next)
        if (g->app == app && !strcmp(g->pattern, pattern)) {
            pthread_mutex_unlock(&pages_lock);
            return RILL_EEXIST;
        }
    page_t *g = calloc(1, sizeof *g);
    if (!g || !(g->pattern = strdup(pattern))) {
        pthread_mutex_unlock(&pages_lock);
        free(g);
        return RILL_ENOMEM;
    }
    g->app = app;
    g->fn = fn;
    g->opaque = opaque;
    g->next = pages;
    pages = g;
    pthread_mutex_unlock(&pages_lock);
    return RILL_OK;
}

rill_err_t rill_app_page(rill_app_t *app, const char *pattern, rill_page_fn fn,
                         void *opaque) {
    if (!fn) return RILL_EINVAL;
    return add(app, pattern, fn, opaque);
}

rill_err_t rill_app_event_stream(rill_app_t *app, const char *path) {
    if (path && strchr(path, '{')) return RILL_EINVAL;
    rill_err_t rc = add(app, path, NULL, NULL);
    if (rc == RILL_OK && app->web_state && !rill__web_stream(app->web_state, path, true))
        return RILL_ENOMEM;
    return rc;
}

static bool is_stream(rill_app_t *app, const char *path) {
    bool yes = false;
    pthread_mutex_lock(&pages_lock);
    for (page_t *g = pages; g && !yes; g = g->next)
        yes = g->app == app && !g->fn && !strcmp(g->pattern, path);
    pthread_mutex_unlock(&pages_lock);
    return yes;
}

rill_err_t rill_app_push(rill_app_t *app, const char *path, const char *event,
                         const char *data, size_t len) {
    if (!app || !path || (!data && len)) return RILL_EINVAL;
    if (!is_stream(app, path)) return RILL_EINVAL;
    rill_web_t *w = app->web_state;
    if (!w) return RILL_OK;
    rill_web_stream_t *s = rill__web_stream(w, path, true);
    if (!s) return RILL_ENOMEM;
    rill__web_stream_send(s, event, data ? data : "", len);
    return RILL_OK;
}

size_t rill_app_push_subscribers(rill_app_t *app, const char *path) {
    rill_web_t *w = app ? app->web_state : NULL;
    rill_web_stream_t *s = w && path ? rill__web_stream(w, path, false) : NULL;
    return s ? rill__web_stream_subs(s) : 0;
}

void rill__web_pages_forget(rill_app_t *app) {
    pthread_mutex_lock(&pages_lock);
    for (page_t **pp = &pages; *pp;) {
        page_t *g = *pp;
        if (g->app == app) {
            *pp = g->next;
            free(g->pattern);
            free(g);
        } else {
            pp = &g->next;
        }
    }
    pthread_mutex_unlock(&pages_lock);
}

/* Match @p path against @p pattern, filling r's parameters. */
static bool match(rill_web_request_t *r, const char *pattern, const char *path) {
    free(r->segs);
    r->segs = strdup(path);
    r->nparams = 0;
    if (!r->segs) return false;
    const char *p = pattern;
    char *s = r->segs;
    while (*p && *s) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            char *end = strchr(s, '/');
            if (end == s) return false; /* an empty segment */
            r->names[r->nparams] = p + 1;
            r->namelens[r->nparams] = (size_t)(e - p - 1);
            r->values[r->nparams++] = s;
            p = e + 1;
            if (!end) {
                s += strlen(s);
                break;
            }
            *end = 0;
            s = end + 1;
            if (*p != '/') return false;
            p++;
            continue;
        }
        if (*p != *s) return false;
        p++;
        s++;
    }
    return !*p && !*s;
}

const char *rill_web_param(const rill_web_request_t *r, const char *name) {
    for (size_t i = 0; r && name && i < r->nparams; i++)
        if (strlen(name) == r->namelens[i] && !strncmp(r->names[i], name, r->namelens[i]))
            return r->values[i];
    return NULL;
}

const char *rill_web_query(const rill_web_request_t *req, const char *name) {
    rill_web_request_t *r = (rill_web_request_t *)req;
    if (!r || !name) return NULL;
    if (!r->parsed) {
        const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
        const char *q = u ? evhttp_uri_get_query(u) : NULL;
        TAILQ_INIT(&r->query);
        if (q) evhttp_parse_query_str(q, &r->query);
        r->parsed = true;
    }
    return evhttp_find_header(&r->query, name);
}

const char *rill_web_path(const rill_web_request_t *r) {
    return r ? r->path : NULL;
}

rill_app_t *rill_web_app(const rill_web_request_t *r) {
    return r ? r->w->app : NULL;
}

static const char *reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 421:
        return "Misdirected Request";
    case 503:
        return "Service Unavailable";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

rill_err_t rill_web_reply(rill_web_request_t *r, int status, const char *content_type,
                          const void *body, size_t len) {
    if (!r || r->answered || status < 100 || status > 599 || (!body && len))
        return RILL_EINVAL;
    struct evbuffer *b = evbuffer_new();
    if (!b || evbuffer_add(b, body ? body : "", len)) {
        if (b) evbuffer_free(b);
        return RILL_ENOMEM;
    }
    if (content_type)
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type",
                          content_type);
    r->answered = true;
    rill__web_reply(r->w, r->req, status, reason(status), b);
    evbuffer_free(b);
    return RILL_OK;
}

rill_err_t rill_web_reply_json(rill_web_request_t *r, int status, const char *json) {
    if (!json) return RILL_EINVAL;
    return rill_web_reply(r, status, "application/json", json, strlen(json));
}

static rill_err_t reply_buf(rill_web_request_t *r, int status, struct evbuffer *b) {
    size_t n = evbuffer_get_length(b);
    return rill_web_reply(r, status, "application/json", evbuffer_pullup(b, -1), n);
}

rill_err_t rill_web_reply_error(rill_web_request_t *r, int status, const char *message) {
    struct evbuffer *b = evbuffer_new();
    if (!b) return RILL_ENOMEM;
    evbuffer_add_printf(b, "{\"error\":");
    rill__web_json_str(b, message ? message : "", message ? strlen(message) : 0);
    evbuffer_add_printf(b, "}\n");
    rill_err_t rc = reply_buf(r, status, b);
    evbuffer_free(b);
    return rc;
}

rill_err_t rill_web_reply_table(rill_web_request_t *r, rill_table_t *t, const void *key,
                                size_t klen) {
    if (!r || !t || (!key && klen)) return RILL_EINVAL;
    struct evbuffer *v = evbuffer_new(), *b = evbuffer_new();
    if (!v || !b) {
        if (v) evbuffer_free(v);
        if (b) evbuffer_free(b);
        return RILL_ENOMEM;
    }
    bool found = false;
    int32_t p = rill_partition_for_key(key, klen, t->partitions);
    rill_err_t rc = rill__web_table_get_json(t, key, klen, v, &found);
    int status;
    if (rc == RILL_ENOTOWNER) {
        status = 421;
        evbuffer_add_printf(b, "{\"error\":\"this worker does not own the key's "
                               "partition\",\"table\":");
        rill__web_json_str(b, t->name, strlen(t->name));
        evbuffer_add_printf(b, ",\"partition\":%d", (int)p);
        rill_worker_info_t who;
        if (rill__workers_owner(t->app, t->name, p, false, true, &who) !=
                RILL_OWNER_UNKNOWN &&
            who.url && *who.url) { /* where to ask: the owner's routed lookup */
            char *en = evhttp_uriencode(t->name, -1, 0);
            char *ek = evhttp_uriencode(key, (ev_ssize_t)klen, 0);
            if (en && ek) {
                struct evbuffer *u = evbuffer_new();
                if (u) {
                    evbuffer_add_printf(u, "%s/table/%s/%s", who.url, en, ek);
                    size_t n = evbuffer_get_length(u);
                    char *url = (char *)evbuffer_pullup(u, -1);
                    evbuffer_add_printf(b, ",\"owner\":");
                    rill__web_json_str(b, who.client_id, strlen(who.client_id));
                    evbuffer_add_printf(b, ",\"location\":");
                    rill__web_json_str(b, url, n);
                    evbuffer_add(u, "", 1);
                    evhttp_add_header(evhttp_request_get_output_headers(r->req),
                                      "Location", (char *)evbuffer_pullup(u, -1));
                    evbuffer_free(u);
                }
            }
            free(en);
            free(ek);
        }
        evbuffer_add_printf(b, "}\n");
    } else if (rc != RILL_OK) {
        status = 500;
        evbuffer_add_printf(b, "{\"error\":");
        const char *m = rill_err2str(rc);
        rill__web_json_str(b, m, strlen(m));
        evbuffer_add_printf(b, "}\n");
    } else if (!found) {
        status = 404;
        evbuffer_add_printf(b, "{\"error\":\"no such key\",\"table\":");
        rill__web_json_str(b, t->name, strlen(t->name));
        evbuffer_add_printf(b, ",\"key\":");
        rill__web_json_str(b, key, klen);
        evbuffer_add_printf(b, "}\n");
    } else {
        status = 200;
        evbuffer_add_printf(b, "{\"table\":");
        rill__web_json_str(b, t->name, strlen(t->name));
        evbuffer_add_printf(b, ",\"key\":");
        rill__web_json_str(b, key, klen);
        evbuffer_add_printf(b, ",\"partition\":%d,\"value\":", (int)p);
        evbuffer_add_buffer(b, v);
        evbuffer_add_printf(b, "}\n");
    }
    rill_err_t rr = reply_buf(r, status, b);
    evbuffer_free(v);
    evbuffer_free(b);
    return rr;
}

bool rill__web_pages_route(rill_web_t *w, struct evhttp_request *req, const char *path) {
    rill_app_t *app = w->app;
    rill_web_request_t r = {.w = w, .req = req, .path = path};
    page_t found = {0};
    pthread_mutex_lock(&pages_lock);
    for (page_t *g = pages; g; g = g->next)
        if (g->app == app && match(&r, g->pattern, path)) {
            found = *g;
            break;
        }
    pthread_mutex_unlock(&pages_lock);
    if (!found.app) {
        free(r.segs);
        return false;
    }
    if (!found.fn) {
        rill_web_stream_t *s = rill__web_stream(w, path, true);
        if (s)
            rill__web_subscribe(w, s, req);
        else
            evhttp_send_error(req, 500, NULL);
        free(r.segs);
        return true;
    }
    rill_err_t rc = found.fn(&r, found.opaque);
    if (!r.answered) {
        char msg[160];
        snprintf(msg, sizeof msg, "the page %s did not answer%s%s", found.pattern,
                 rc != RILL_OK ? ": " : "", rc != RILL_OK ? rill_err2str(rc) : "");
        rill__web_error(w, req, 500, "Internal Server Error", msg);
    }
    if (r.parsed) evhttp_clear_headers(&r.query);
    free(r.segs);
    return true;
}
