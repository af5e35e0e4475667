/* Property tables: one descriptor type (rill_prop_t) for the app's own config keys
 * (conf.c) and the typed fields plugins declare, and one validator for both, so a
 * key is rejected the same way, in the same words, wherever it is declared.  The
 * core fills a plugin's impl from defaults, "<prefix>.<name>" conf keys and URL
 * query params. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf_int.h"
#include "registry_int.h"

/* ---- layouts ------------------------------------------------------------------------
 * The struct of layout 1 (rill_prop_t before min/max/choices were appended).  A table
 * built against that header has this stride; its entries' type words are 1-4. */
struct rill_prop_v1 {
    const char *name;
    rill_prop_type_t type;
    const char *def;
    size_t offset;
    const char *desc;
};
_Static_assert(sizeof(struct rill_prop_v1) == offsetof(rill_prop_t, min),
               "layout 2 appends to layout 1");

#define KIND(type) ((unsigned)(type)&0xffu)
#define LAYOUT(type) ((unsigned)(type) >> 8 ? (unsigned)(type) >> 8 : 1u)

/* The stride of @p props, from its first entry's layout; 0 for a layout this rill
 * does not know (a table built against a newer header). */
static size_t stride_of(const rill_prop_t *props) {
    switch (LAYOUT(props->type)) {
    case 1:
        return sizeof(struct rill_prop_v1);
    case RILL_PROP_LAYOUT:
        return sizeof(rill_prop_t);
    }
    return 0;
}

bool rill__prop_at(const rill_prop_t *props, size_t i, rill_prop_t *out) {
    if (!props || !props->name) return false;
    size_t stride = stride_of(props);
    if (!stride) return false;
    const rill_prop_t *e = (const rill_prop_t *)((const char *)props + i * stride);
    if (!e->name) return false;
    memset(out, 0, sizeof *out);
    memcpy(out, e, stride);
    if (LAYOUT(out->type) != LAYOUT(props->type)) return false; /* mixed layouts */
    out->type = (rill_prop_type_t)((RILL_PROP_LAYOUT << 8) | KIND(out->type));
    return true;
}

bool rill__prop_find(const rill_prop_t *props, const char *name, rill_prop_t *out) {
    for (size_t i = 0; rill__prop_at(props, i, out); i++)
        if (strcmp(out->name, name) == 0) return true;
    return false;
}

/* A table this rill cannot read to its end: of a newer layout, or mixing layouts. */
static bool unreadable(const rill_prop_t *props) {
    if (!props || !props->name) return false;
    size_t stride = stride_of(props), i = 0;
    if (!stride) return true;
    rill_prop_t e;
    while (rill__prop_at(props, i, &e))
        i++;
    return ((const rill_prop_t *)((const char *)props + i * stride))->name != NULL;
}

/* ---- the validator ------------------------------------------------------------------
 */

/* The choice of "a|b|c" that @p v is (any case), into @p out as the table spells it. */
static bool choice_of(const char *choices, const char *v, char *out, size_t outlen) {
    size_t n = strlen(v);
    for (const char *p = choices ? choices : ""; *p;) {
        size_t m = strcspn(p, "|");
        if (m == n && strncasecmp(p, v, n) == 0 && m < outlen) {
            memcpy(out, p, m);
            out[m] = '\0';
            return true;
        }
        p += m;
        if (*p == '|') p++;
    }
    return false;
}

rill_err_t rill__prop_parse(const rill_prop_t *p, const char *where, const char *value,
                            rill__prop_value_t *out, char *errstr, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->text = value;
    if (!value) return RILL_OK; /* a NULL default: zero */
    char *end;
    switch (p->type) {
    case RILL_PROP_STR:
        return RILL_OK;
    case RILL_PROP_URL: {
        rill_url_t *u;
        char why[256];
        if (rill_url_parse(value, &u, why, sizeof why) != RILL_OK) {
            snprintf(errstr, errlen, "%s: %s", where, why);
            return RILL_ECONF;
        }
        rill_url_destroy(u);
        return RILL_OK;
    }
    case RILL_PROP_INT: {
        bool ranged = p->min || p->max;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || errno || (ranged && (v < p->min || v > p->max))) {
            if (ranged)
                snprintf(errstr, errlen,
                         "%s: expected an integer from %lld to %lld, got '%s'", where,
                         (long long)p->min, (long long)p->max, value);
            else
                snprintf(errstr, errlen, "%s: expected an integer, got '%s'", where,
                         value);
            return RILL_ECONF;
        }
        out->i = v;
        return RILL_OK;
    }
    case RILL_PROP_DOUBLE:
        errno = 0;
        out->d = strtod(value, &end);
        if (!*value || *end || errno) {
            snprintf(errstr, errlen, "%s: expected a number, got '%s'", where, value);
            return RILL_ECONF;
        }
        return RILL_OK;
    case RILL_PROP_BOOL:
        if (!strcasecmp(value, "false") || !strcmp(value, "0") ||
            !strcasecmp(value, "no") || !strcasecmp(value, "off")) {
            out->text = "false";
        } else if (!strcasecmp(value, "true") || !strcmp(value, "1") ||
                   !strcasecmp(value, "yes") || !strcasecmp(value, "on")) {
            out->text = "true";
            out->b = true;
        } else {
            snprintf(errstr, errlen, "%s: expected true or false, got '%s'", where,
                     value);
            return RILL_ECONF;
        }
        return RILL_OK;
    case RILL_PROP_ENUM:
        if (!choice_of(p->choices, value, out->choice, sizeof out->choice)) {
            snprintf(errstr, errlen, "%s: expected one of %s, got '%s'", where,
                     p->choices ? p->choices : "(none)", value);
            return RILL_ECONF;
        }
        out->text = out->choice;
        return RILL_OK;
    }
    snprintf(errstr, errlen, "%s: the property has an unknown type (%u)", where,
             (unsigned)p->type);
    return RILL_EINVAL;
}

void rill__prop_row(const rill_prop_t *p, const char *prefix, char *buf, size_t n) {
    char range[96] = "";
    if (p->type == RILL_PROP_INT && (p->min || p->max))
        snprintf(range, sizeof range, " (%lld to %lld)", (long long)p->min,
                 (long long)p->max);
    else if (p->type == RILL_PROP_ENUM && p->choices) {
        snprintf(range, sizeof range, ": ");
        size_t at = strlen(range);
        for (const char *c = p->choices; *c && at + 3 < sizeof range; c++) {
            if (*c == '|') range[at++] = '\\';
            range[at++] = *c;
        }
        range[at] = '\0';
    } else if (p->type == RILL_PROP_BOOL)
        snprintf(range, sizeof range, ": true\\|false");
    snprintf(buf, n, "| `%s%s%s` | `%s` | %s%s |", prefix ? prefix : "",
             prefix ? "." : "", p->name, p->def ? p->def : "", p->desc ? p->desc : "",
             range);
}

/* ---- filling a plugin's impl --------------------------------------------------------
 */

static rill_err_t set_prop(const rill_prop_t *p, void *impl, const char *value,
                           const char *where, char *errstr, size_t errlen) {
    rill__prop_value_t v;
    rill_err_t rc = rill__prop_parse(p, where, value, &v, errstr, errlen);
    if (rc) return rc;
    char *field = (char *)impl + p->offset;
    switch (p->type) {
    case RILL_PROP_STR:
    case RILL_PROP_URL:
    case RILL_PROP_ENUM: {
        char *dup = v.text ? strdup(v.text) : NULL;
        if (v.text && !dup) return RILL_ENOMEM;
        free(*(char **)field);
        *(char **)field = dup;
        return RILL_OK;
    }
    case RILL_PROP_INT:
        *(int64_t *)field = v.i;
        return RILL_OK;
    case RILL_PROP_DOUBLE:
        *(double *)field = v.d;
        return RILL_OK;
    case RILL_PROP_BOOL:
        *(bool *)field = v.b;
        return RILL_OK;
    }
    return RILL_EINVAL; /* rill__prop_parse refused it */
}

struct conf_walk {
    const rill_prop_t *props;
    void *impl;
    const char *prefix; /* the backend's name, without the dot */
    size_t prefix_len;
    bool strict;
    rill_err_t rc;
    char *errstr;
    size_t errlen;
};

static void conf_one(const char *key, const char *value, void *opaque) {
    struct conf_walk *w = opaque;
    if (w->rc) return;
    rill_prop_t p;
    if (rill__prop_find(w->props, key + w->prefix_len, &p)) {
        char where[192];
        snprintf(where, sizeof where, "config key '%s'", key);
        w->rc = set_prop(&p, w->impl, value, where, w->errstr, w->errlen);
    } else if (w->strict && !rill__registry_prop_known(w->prefix, key + w->prefix_len)) {
        snprintf(w->errstr, w->errlen, "unknown config key '%s'", key);
        w->rc = RILL_ECONF;
    }
}

rill_err_t rill_props_apply(const rill_prop_t *props, void *impl, const char *prefix,
                            const rill_conf_t *conf, const rill_url_t *url, bool strict,
                            char *errstr, size_t errlen) {
    char dummy[1];
    if (!errstr || !errlen) {
        errstr = dummy;
        errlen = sizeof dummy;
    }
    if (unreadable(props)) {
        snprintf(errstr, errlen,
                 "%s: its property table is of a layout this rill cannot read (%u; "
                 "this rill reads 1 to %d)",
                 prefix ? prefix : "plugin", LAYOUT(props->type), RILL_PROP_LAYOUT);
        return RILL_EINVAL;
    }
    rill_err_t rc;
    rill_prop_t p;
    char where[192];
    for (size_t i = 0; rill__prop_at(props, i, &p); i++) {
        snprintf(where, sizeof where, "default of property '%s'", p.name);
        if ((rc = set_prop(&p, impl, p.def, where, errstr, errlen))) return rc;
    }
    if (conf && prefix) {
        char pfx[64];
        snprintf(pfx, sizeof pfx, "%s.", prefix);
        struct conf_walk w = {props,  impl,    prefix, strlen(pfx),
                              strict, RILL_OK, errstr, errlen};
        rill_conf_foreach(conf, pfx, conf_one, &w);
        if (w.rc) return w.rc;
    }
    for (size_t i = 0; url && i < url->nparams; i++) {
        if (rill__prop_find(props, url->params[i].key, &p)) {
            snprintf(where, sizeof where, "URL parameter '%s'", p.name);
            if ((rc = set_prop(&p, impl, url->params[i].value, where, errstr, errlen)))
                return rc;
        } else if (strict) {
            snprintf(errstr, errlen, "URL '%s': unknown parameter '%s'", url->raw,
                     url->params[i].key);
            return RILL_EURL;
        }
    }
    return RILL_OK;
}

void rill_props_free(const rill_prop_t *props, void *impl) {
    rill_prop_t p;
    for (size_t i = 0; rill__prop_at(props, i, &p); i++) {
        if (p.type == RILL_PROP_STR || p.type == RILL_PROP_URL ||
            p.type == RILL_PROP_ENUM) {
            char **field = (char **)((char *)impl + p.offset);
            free(*field);
            *field = NULL;
        }
    }
}
