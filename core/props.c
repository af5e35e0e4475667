/* Property tables: plugins declare typed fields of their impl struct; the core
 * fills them from defaults, "<prefix>.<name>" conf keys and URL query params. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry_int.h"
#include "rill/plugin.h"

static const rill_prop_t *find_prop(const rill_prop_t *props, const char *name) {
    for (const rill_prop_t *p = props; p && p->name; p++)
        if (strcmp(p->name, name) == 0) return p;
    return NULL;
}

static rill_err_t set_prop(const rill_prop_t *p, void *impl, const char *value,
                           const char *where, char *errstr, size_t errlen) {
    char *field = (char *)impl + p->offset;
    char *end;
    switch (p->type) {
    case RILL_PROP_STR: {
        char *dup = value ? strdup(value) : NULL;
        if (value && !dup) return RILL_ENOMEM;
        free(*(char **)field);
        *(char **)field = dup;
        return RILL_OK;
    }
    case RILL_PROP_INT: {
        errno = 0;
        long long v = value && *value ? strtoll(value, &end, 10) : 0;
        if (value && *value && (errno || *end)) {
            snprintf(errstr, errlen, "%s '%s': expected an integer, got '%s'", where,
                     p->name, value);
            return RILL_ECONF;
        }
        *(int64_t *)field = v;
        return RILL_OK;
    }
    case RILL_PROP_DOUBLE: {
        errno = 0;
        double v = value && *value ? strtod(value, &end) : 0;
        if (value && *value && (errno || *end)) {
            snprintf(errstr, errlen, "%s '%s': expected a number, got '%s'", where,
                     p->name, value);
            return RILL_ECONF;
        }
        *(double *)field = v;
        return RILL_OK;
    }
    case RILL_PROP_BOOL: {
        bool v;
        if (!value || !*value || !strcasecmp(value, "false") || !strcmp(value, "0") ||
            !strcasecmp(value, "no") || !strcasecmp(value, "off"))
            v = false;
        else if (!strcasecmp(value, "true") || !strcmp(value, "1") ||
                 !strcasecmp(value, "yes") || !strcasecmp(value, "on"))
            v = true;
        else {
            snprintf(errstr, errlen, "%s '%s': expected true or false, got '%s'", where,
                     p->name, value);
            return RILL_ECONF;
        }
        *(bool *)field = v;
        return RILL_OK;
    }
    }
    snprintf(errstr, errlen, "property '%s' has an unknown type", p->name);
    return RILL_EINVAL;
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
    const rill_prop_t *p = find_prop(w->props, key + w->prefix_len);
    if (p) {
        char where[160];
        snprintf(where, sizeof where, "config key '%s': property", key);
        w->rc = set_prop(p, w->impl, value, where, w->errstr, w->errlen);
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
    rill_err_t rc;
    for (const rill_prop_t *p = props; p && p->name; p++)
        if ((rc = set_prop(p, impl, p->def, "default of", errstr, errlen))) return rc;
    if (conf && prefix) {
        char pfx[64];
        snprintf(pfx, sizeof pfx, "%s.", prefix);
        struct conf_walk w = {props,  impl,    prefix, strlen(pfx),
                              strict, RILL_OK, errstr, errlen};
        rill_conf_foreach(conf, pfx, conf_one, &w);
        if (w.rc) return w.rc;
    }
    for (size_t i = 0; url && i < url->nparams; i++) {
        const rill_prop_t *p = find_prop(props, url->params[i].key);
        if (p) {
            char where[160];
            snprintf(where, sizeof where, "URL parameter");
            if ((rc = set_prop(p, impl, url->params[i].value, where, errstr, errlen)))
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
    for (const rill_prop_t *p = props; p && p->name; p++) {
        if (p->type == RILL_PROP_STR) {
            char **field = (char **)((char *)impl + p->offset);
            free(*field);
            *field = NULL;
        }
    }
}
