/* URL parsing for backend selection: scheme://[user[:pass]@]hosts[/path][?k=v&...] */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rill/plugin.h"
#include "url_int.h"

/* The end of a "scheme://" starting at @p p, or NULL: letters first, then letters,
 * digits, '+', '-' or '.'. */
static const char *scheme_end(const char *start, const char *p) {
    if (strncmp(p, "://", 3) != 0) return NULL;
    const char *s = p;
    while (s > start && (isalnum((unsigned char)s[-1]) || strchr("+-.", s[-1])))
        s--;
    while (s < p && !isalpha((unsigned char)*s))
        s++;
    return s < p ? p + 3 : NULL;
}

char *rill__url_redact(const char *text, char *out, size_t outlen) {
    if (!out || !outlen) return out;
    size_t w = 0;
#define PUT(c)                                                                           \
    do {                                                                                 \
        char c_ = (c); /* evaluated once, room or not */                                 \
        if (w + 1 < outlen) out[w++] = c_;                                               \
    } while (0)
    const char *p = text ? text : "";
    while (*p) {
        const char *auth = scheme_end(text, p);
        if (!auth) {
            PUT(*p++);
            continue;
        }
        for (; p < auth; p++)
            PUT(*p);
        /* userinfo ends at the last '@' before the path, query or whitespace */
        size_t alen = strcspn(auth, "/?# \t\r\n'\"");
        const char *at = NULL, *colon = NULL;
        for (const char *q = auth; q < auth + alen; q++)
            if (*q == '@') at = q;
        if (at) colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon) {
            for (; p <= colon; p++)
                PUT(*p);
            PUT('*');
            PUT('*');
            PUT('*');
            p = at;
        }
    }
#undef PUT
    out[w] = '\0';
    return out;
}

static bool has_word(const char *s, const char *word) {
    size_t n = strlen(word);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && tolower((unsigned char)s[i]) == word[i])
            i++;
        if (i == n) return true;
    }
    return false;
}

bool rill__key_is_secret(const char *key) {
    return key && (has_word(key, "password") || has_word(key, "secret"));
}

const char *rill__conf_value_shown(const char *key, const char *value, char *buf,
                                   size_t buflen) {
    if (rill__key_is_secret(key)) return "***";
    return rill__url_redact(value, buf, buflen);
}

static char *dupn(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode in place; returns -1 on a bad escape. */
static int pct_decode(char *s) {
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '%') {
            int hi = hexval((unsigned char)r[1]),
                lo = hi < 0 ? -1 : hexval((unsigned char)r[2]);
            if (hi < 0 || lo < 0) return -1;
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return 0;
}

void rill_url_destroy(rill_url_t *u) {
    if (!u) return;
    free(u->raw);
    free(u->scheme);
    free(u->user);
    free(u->password);
    free(u->authority);
    free(u->host);
    free(u->path);
    for (size_t i = 0; i < u->nparams; i++) {
        free(u->params[i].key);
        free(u->params[i].value);
    }
    free(u->params);
    free(u);
}

const char *rill_url_param(const rill_url_t *u, const char *key) {
    for (size_t i = 0; i < u->nparams; i++)
        if (strcmp(u->params[i].key, key) == 0) return u->params[i].value;
    return NULL;
}

/* Error messages show the URL with its password masked. */
#define FAIL(...)                                                                        \
    do {                                                                                 \
        if (errstr && errlen) {                                                          \
            char msg_[1024];                                                             \
            snprintf(msg_, sizeof msg_, __VA_ARGS__);                                    \
            rill__url_redact(msg_, errstr, errlen);                                      \
        }                                                                                \
        rill_url_destroy(u);                                                             \
        return RILL_EURL;                                                                \
    } while (0)

/* Validate one "host[:port]" (or "[v6]:port") of the authority list. */
static int check_host(const char *h, size_t n, char *why, size_t whylen) {
    if (n == 0) {
        snprintf(why, whylen, "empty host in host list");
        return -1;
    }
    const char *end = h + n, *colon = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', n);
        if (!rb) {
            snprintf(why, whylen, "unterminated '[' in host");
            return -1;
        }
        if (rb + 1 < end && rb[1] != ':') {
            snprintf(why, whylen, "expected ':' after ']'");
            return -1;
        }
        colon = rb + 1 < end ? rb + 1 : NULL;
    } else {
        for (const char *p = h; p < end; p++) {
            if (*p == ':') {
                if (colon) {
                    snprintf(why, whylen, "more than one ':' in host '%.*s'", (int)n, h);
                    return -1;
                }
                colon = p;
            } else if (!isalnum((unsigned char)*p) && !strchr("-._~%", *p)) {
                snprintf(why, whylen, "invalid character '%c' in host '%.*s'", *p, (int)n,
                         h);
                return -1;
            }
        }
    }
    if (colon) {
        const char *p = colon + 1;
        if (p == end) {
            snprintf(why, whylen, "missing port after ':' in '%.*s'", (int)n, h);
            return -1;
        }
        long port = 0;
        for (; p < end; p++) {
            if (!isdigit((unsigned char)*p) || (port = port * 10 + (*p - '0')) > 65535) {
                snprintf(why, whylen, "invalid port in '%.*s' (expected 1-65535)", (int)n,
                         h);
                return -1;
            }
        }
        if (port == 0) {
            snprintf(why, whylen, "invalid port 0 in '%.*s'", (int)n, h);
            return -1;
        }
    }
    return 0;
}

rill_err_t rill_url_parse(const char *s, rill_url_t **out, char *errstr, size_t errlen) {
    rill_url_t *u = NULL;
    *out = NULL;
    if (!s || !*s) FAIL("empty URL");
    u = calloc(1, sizeof *u);
    if (!u || !(u->raw = strdup(s))) {
        rill_url_destroy(u);
        return RILL_ENOMEM;
    }
    const char *p = s;
    if (!isalpha((unsigned char)*p))
        FAIL("URL '%s' must start with a scheme such as memory://", s);
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (strncmp(p, "://", 3) != 0) FAIL("URL '%s': missing '://' after scheme", s);
    if (!(u->scheme = dupn(s, (size_t)(p - s)))) goto nomem;
    for (char *c = u->scheme; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    p += 3;

    /* authority: up to '/' or '?' */
    size_t alen = strcspn(p, "/?#");
    if (p[alen] == '#') FAIL("URL '%s': fragments ('#') are not supported", s);
    const char *auth = p, *at = NULL;
    for (const char *q = auth; q < auth + alen; q++)
        if (*q == '@') at = q;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        size_t ulen = colon ? (size_t)(colon - auth) : (size_t)(at - auth);
        if (!(u->user = dupn(auth, ulen))) goto nomem;
        if (colon && !(u->password = dupn(colon + 1, (size_t)(at - colon - 1))))
            goto nomem;
        if (pct_decode(u->user) || (u->password && pct_decode(u->password)))
            FAIL("URL '%s': bad %%-escape in credentials", s);
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    if (!(u->authority = dupn(auth, alen))) goto nomem;
    if (alen) {
        char why[160];
        const char *h = auth, *end = auth + alen;
        while (h <= end) {
            const char *comma = memchr(h, ',', (size_t)(end - h));
            size_t n = comma ? (size_t)(comma - h) : (size_t)(end - h);
            if (check_host(h, n, why, sizeof why)) FAIL("URL '%s': %s", s, why);
            if (!u->host) {
                const char *colon = NULL;
                if (*h == '[') {
                    const char *rb = memchr(h, ']', n);
                    if (!(u->host = dupn(h + 1, (size_t)(rb - h - 1)))) goto nomem;
                    colon = rb + 1 < h + n ? rb + 1 : NULL;
                } else {
                    colon = memchr(h, ':', n);
                    if (!(u->host = dupn(h, colon ? (size_t)(colon - h) : n))) goto nomem;
                }
                if (colon) u->port = atoi(colon + 1);
            }
            if (!comma) break;
            h = comma + 1;
        }
    } else if (!(u->host = strdup(""))) {
        goto nomem;
    }
    p = auth + alen;

    size_t plen = strcspn(p, "?");
    if (!(u->path = dupn(p, plen))) goto nomem;
    if (pct_decode(u->path)) FAIL("URL '%s': bad %%-escape in path", s);
    p += plen;
    if (*p == '?') {
        p++;
        while (*p) {
            size_t n = strcspn(p, "&");
            if (n) {
                const char *eq = memchr(p, '=', n);
                if (!eq || eq == p)
                    FAIL("URL '%s': query parameter '%.*s' is not key=value", s, (int)n,
                         p);
                rill_url_param_t *np = realloc(u->params, (u->nparams + 1) * sizeof *np);
                if (!np) goto nomem;
                u->params = np;
                rill_url_param_t *kv = &u->params[u->nparams];
                kv->key = dupn(p, (size_t)(eq - p));
                kv->value = dupn(eq + 1, n - (size_t)(eq + 1 - p));
                u->nparams++;
                if (!kv->key || !kv->value) goto nomem;
                if (pct_decode(kv->key) || pct_decode(kv->value))
                    FAIL("URL '%s': bad %%-escape in query", s);
            }
            p += n;
            if (*p == '&') p++;
        }
    }
    *out = u;
    return RILL_OK;
nomem:
    rill_url_destroy(u);
    return RILL_ENOMEM;
}
